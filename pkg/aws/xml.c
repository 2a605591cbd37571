#include "aws/xml.h"

#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>

#include "aws/private.h"
#include "util/alloc.h"
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
