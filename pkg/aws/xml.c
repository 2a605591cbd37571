#include "aws/xml.h"

#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>

#include "aws/private.h"
#include "util/alloc.h"
#include "util/error.h"

int aws_xml_parse(xmlDocPtr *out, const char *data, size_t len, const char *what)
{
    xmlDocPtr doc;

    *out = NULL;
    aws__global_init();
    if (len > (size_t)0x7fffffff)
        return lb_error_setc(LB_ETOOBIG, "%s: XML body too large", what);
    /* NONET: no network; no NOENT (entities stay unexpanded); no DTDLOAD. */
    doc = xmlReadMemory(data, (int)len, NULL, NULL,
                        XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    if (doc == NULL || xmlDocGetRootElement(doc) == NULL) {
        xmlFreeDoc(doc);
        return lb_error_set("%s: malformed XML response (%zu bytes)", what, len);
    }
    *out = doc;
    return 0;
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
