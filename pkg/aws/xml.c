#include "aws/xml.h"

#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>

#include "aws/private.h"
#include "util/alloc.h"
#include "util/buf.h"
#include "util/error.h"

/* SAX internalSubset: a DOCTYPE was seen; stop before any declaration in it
 * (an entity) is read. */
static void refuse_doctype(void *ctx, const xmlChar *name, const xmlChar *external_id,
                           const xmlChar *system_id)
{
    xmlParserCtxtPtr c = ctx;
    (void)name;
    (void)external_id;
    (void)system_id;
    *(int *)c->_private = 1;
    xmlStopParser(c);
}

int aws_xml_parse(xmlDocPtr *out, const char *data, size_t len, const char *what)
{
    xmlParserCtxtPtr ctxt = NULL;
    xmlDocPtr doc = NULL;
    int doctype = 0, rc = 0;

    *out = NULL;
    aws__global_init();
    if (len > (size_t)0x7fffffff)
        return lb_error_setc(LB_ETOOBIG, "%s: XML body too large", what);
    ctxt = xmlNewParserCtxt();
    if (ctxt == NULL)
        return lb_error_set("%s: cannot create an XML parser", what);
    /* AWS never sends a DOCTYPE: any is refused, so no entity (internal or
     * external) is ever declared, let alone expanded. NONET: no network;
     * no NOENT, no DTDLOAD. */
    ctxt->sax->internalSubset = refuse_doctype;
    ctxt->_private = &doctype;
    doc = xmlCtxtReadMemory(ctxt, data, (int)len, NULL, NULL,
                            XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    if (doctype || (doc != NULL && (doc->intSubset != NULL || doc->extSubset != NULL))) {
        rc = lb_error_setc(LB_EINVALID, "%s: XML response with a DOCTYPE refused", what);
        goto done;
    }
    if (doc == NULL || xmlDocGetRootElement(doc) == NULL) {
        rc = lb_error_set("%s: malformed XML response (%zu bytes)", what, len);
        goto done;
    }
    *out = doc;
    doc = NULL;
done:
    xmlFreeDoc(doc);
    xmlFreeParserCtxt(ctxt);
    return rc;
}

/* ---- streaming scan ---- */

typedef struct scan_state {
    xmlParserCtxtPtr ctxt;
    const aws_xml_scan_fns *fns;
    void *payload;
    int depth;   /* of the element being read; -1 before the root */
    int doctype; /* a DOCTYPE was seen */
    int rc;      /* a callback's value that stopped the parse */
    lb_buf text; /* character data since the last tag */
} scan_state;

static void scan_stop(scan_state *st, int rc)
{
    if (rc != 0 && st->rc == 0) {
        st->rc = rc;
        xmlStopParser(st->ctxt);
    }
}

static void scan_start(void *ctx, const xmlChar *localname, const xmlChar *prefix,
                       const xmlChar *uri, int nb_namespaces, const xmlChar **namespaces,
                       int nb_attributes, int nb_defaulted, const xmlChar **attributes)
{
    scan_state *st = ctx;
    (void)prefix;
    (void)uri;
    (void)nb_namespaces;
    (void)namespaces;
    (void)nb_attributes;
    (void)nb_defaulted;
    (void)attributes;
    if (st->rc != 0)
        return;
    st->depth++;
    buf_reset(&st->text);
    if (st->fns->start != NULL)
        scan_stop(st, st->fns->start(st->payload, st->depth, (const char *)localname));
}

static void scan_end(void *ctx, const xmlChar *localname, const xmlChar *prefix,
                     const xmlChar *uri)
{
    scan_state *st = ctx;
    (void)prefix;
    (void)uri;
    if (st->rc != 0)
        return;
    if (st->fns->end != NULL)
        scan_stop(st, st->fns->end(st->payload, st->depth, (const char *)localname,
                                   buf_cstr(&st->text), buf_len(&st->text)));
    buf_reset(&st->text);
    st->depth--;
}

static void scan_text(void *ctx, const xmlChar *ch, int len)
{
    scan_state *st = ctx;
    if (st->rc == 0 && len > 0 && buf_append(&st->text, ch, (size_t)len) != 0)
        scan_stop(st, LB_ETOOBIG);
}

static void scan_refuse_doctype(void *ctx, const xmlChar *name, const xmlChar *external_id,
                                const xmlChar *system_id)
{
    scan_state *st = ctx;
    (void)name;
    (void)external_id;
    (void)system_id;
    st->doctype = 1;
    xmlStopParser(st->ctxt);
}

int aws_xml_scan(const char *data, size_t len, const char *what, const aws_xml_scan_fns *fns,
                 void *payload)
{
    scan_state st;
    int rc = 0;

    aws__global_init();
    if (len > (size_t)0x7fffffff)
        return lb_error_setc(LB_ETOOBIG, "%s: XML body too large", what);
    memset(&st, 0, sizeof(st));
    st.fns = fns;
    st.payload = payload;
    st.depth = -1;
    if (len == 0)
        return lb_error_set("%s: malformed XML response (0 bytes)", what);
    buf_init(&st.text, len); /* no text is longer than the body */
    {
        /* Only these callbacks: no tree, no entity declarations or lookups (an
         * entity other than the five predefined ones is then an error), no DTD,
         * and errors are not printed (no error or warning channel). */
        xmlSAXHandler sax;
        memset(&sax, 0, sizeof(sax));
        sax.initialized = XML_SAX2_MAGIC;
        sax.startElementNs = scan_start;
        sax.endElementNs = scan_end;
        sax.characters = scan_text;
        sax.cdataBlock = scan_text;
        sax.internalSubset = scan_refuse_doctype;
        /* The push parser, given the whole body as one chunk: a third less work
         * than a memory parser context (xmlCreateMemoryParserCtxt) for a small
         * answer, which tries to read more input each time fewer than 250
         * bytes are left. (libxml2 2.9.14's static input buffer, which would
         * not copy the body, cuts a 50 KB listing short.) */
        st.ctxt = xmlCreatePushParserCtxt(&sax, &st, NULL, 0, NULL);
        if (st.ctxt == NULL)
            return lb_error_set("%s: cannot create an XML parser", what);
        xmlCtxtUseOptions(st.ctxt, XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
        xmlParseChunk(st.ctxt, data, (int)len, 1);
    }
    if (st.doctype)
        rc = lb_error_setc(LB_EINVALID, "%s: XML response with a DOCTYPE refused", what);
    else if (st.rc == LB_ETOOBIG)
        rc = lb_error_setc(LB_ETOOBIG, "%s: XML text too large", what);
    else if (st.rc != 0)
        rc = st.rc;
    else if (!st.ctxt->wellFormed || st.depth != -1)
        rc = lb_error_set("%s: malformed XML response (%zu bytes)", what, len);
    xmlFreeParserCtxt(st.ctxt);
    buf_dispose(&st.text);
    return rc;
}

typedef struct root_texts {
    char **root;
    const char *const *names;
    char **out;
    size_t n;
} root_texts;

static int root_texts_start(void *payload, int depth, const char *name)
{
    root_texts *r = payload;
    if (depth == 0 && r->root != NULL)
        *r->root = lb_strdup(name);
    return 0;
}

static int root_texts_end(void *payload, int depth, const char *name, const char *text,
                          size_t len)
{
    root_texts *r = payload;
    if (depth != 1)
        return 0;
    for (size_t i = 0; i < r->n; i++)
        if (r->out[i] == NULL && strcmp(name, r->names[i]) == 0) {
            r->out[i] = lb_strndup(text, len);
            break;
        }
    return 0;
}

int aws_xml_root_texts(const char *data, size_t len, const char *what, char **out_root,
                       const char *const *names, char **out, size_t n)
{
    static const aws_xml_scan_fns fns = {root_texts_start, root_texts_end};
    root_texts r = {out_root, names, out, n};
    int rc;

    if (out_root != NULL)
        *out_root = NULL;
    for (size_t i = 0; i < n; i++)
        out[i] = NULL;
    rc = aws_xml_scan(data, len, what, &fns, &r);
    if (rc != 0) {
        if (out_root != NULL) {
            free(*out_root);
            *out_root = NULL;
        }
        for (size_t i = 0; i < n; i++) {
            free(out[i]);
            out[i] = NULL;
        }
    }
    return rc;
}

/* ---- tree views ---- */

static int name_is(xmlNodePtr n, const char *name)
{
    return n->type == XML_ELEMENT_NODE && strcmp((const char *)n->name, name) == 0;
}

xmlNodePtr aws_xml_child(xmlNodePtr node, const char *name)
{
    if (node == NULL)
        return NULL;
    for (xmlNodePtr n = node->children; n != NULL; n = n->next)
        if (name_is(n, name))
            return n;
    return NULL;
}

xmlNodePtr aws_xml_next(xmlNodePtr node, const char *name)
{
    if (node == NULL)
        return NULL;
    for (xmlNodePtr n = node->next; n != NULL; n = n->next)
        if (name_is(n, name))
            return n;
    return NULL;
}

xmlNodePtr aws_xml_path(xmlNodePtr node, const char *path)
{
    char part[128];
    const char *p = path;

    while (node != NULL && *p != '\0') {
        const char *slash = strchr(p, '/');
        size_t n = slash ? (size_t)(slash - p) : strlen(p);
        if (n >= sizeof(part))
            return NULL;
        memcpy(part, p, n);
        part[n] = '\0';
        node = aws_xml_child(node, part);
        p += n;
        if (*p == '/')
            p++;
    }
    return node;
}

char *aws_xml_text(xmlNodePtr node, const char *name)
{
    xmlNodePtr n = aws_xml_child(node, name);
    xmlChar *content;
    char *s;

    if (n == NULL)
        return NULL;
    content = xmlNodeGetContent(n);
    s = lb_strdup(content ? (const char *)content : "");
    xmlFree(content);
    return s;
}

long long aws_xml_int(xmlNodePtr node, const char *name, long long def)
{
    char *s = aws_xml_text(node, name);
    char *end = NULL;
    long long v;

    if (s == NULL)
        return def;
    v = strtoll(s, &end, 10);
    if (end == s || *end != '\0')
        v = def;
    free(s);
    return v;
}

int aws_xml_bool(xmlNodePtr node, const char *name)
{
    char *s = aws_xml_text(node, name);
    int v = s != NULL && strcmp(s, "true") == 0;
    free(s);
    return v;
}
