/* xml.h - small read-only views over libxml2 trees for AWS responses.
 *
 * Documents are parsed with XML_PARSE_NONET, without entity substitution
 * (no XML_PARSE_NOENT) and without loading DTDs; elements are matched by
 * local name so that S3's default namespace does not matter.
 */
#ifndef LB_AWS_XML_H
#define LB_AWS_XML_H

#include <stddef.h>
#include <libxml/tree.h>

/* Parses `len` bytes. The caller frees *out with xmlFreeDoc. Returns 0 or
 * LB_ERROR ("<what>: malformed XML ..."). */
int aws_xml_parse(xmlDocPtr *out, const char *data, size_t len, const char *what);

/* Callbacks of aws_xml_scan. Depth 0 is the root element; names are local
 * names (the namespace is ignored, as by aws_xml_child). A callback returns 0
 * to go on; any other value stops the parse and aws_xml_scan returns it. */
typedef struct aws_xml_scan_fns {
    /* An element starts. May be NULL. */
    int (*start)(void *payload, int depth, const char *name);
    /* An element ends. `text` (NUL-terminated, `len` bytes, borrowed until the
     * callback returns) is the character data since the last tag, so for an
     * element without child elements it is its whole text, entities and
     * character references decoded, as aws_xml_text gives it. May be NULL. */
    int (*end)(void *payload, int depth, const char *name, const char *text, size_t len);
} aws_xml_scan_fns;

/* Reads `len` bytes in one streaming (SAX) pass, without building a tree,
 * under the same rules as aws_xml_parse (DOCTYPE refused, no network, no
 * entity expansion). The callbacks see elements as they are read: when the
 * document turns out malformed further on, they have already been called for
 * what came before it. Returns 0, a callback's nonzero value, LB_EINVALID
 * (DOCTYPE) or LB_ERROR ("<what>: malformed XML ..."). */
int aws_xml_scan(const char *data, size_t len, const char *what, const aws_xml_scan_fns *fns,
                 void *payload);

/* For small answers, in one aws_xml_scan pass: *out_root (may be NULL)
 * receives the root element's local name, and out[i] the text of the root's
 * first child element named names[i] (i < n), as aws_xml_text would give it,
 * or NULL when there is none; the caller frees them. On failure every output
 * is NULL. Returns as aws_xml_scan. */
int aws_xml_root_texts(const char *data, size_t len, const char *what, char **out_root,
                       const char *const *names, char **out, size_t n);

/* First child element of `node` with local name `name`; borrowed; NULL if none. */
xmlNodePtr aws_xml_child(xmlNodePtr node, const char *name);

/* Next sibling element after `node` with local name `name`; NULL if none. */
xmlNodePtr aws_xml_next(xmlNodePtr node, const char *name);

/* Follows a path of child names ("DescribeDBInstancesResult/Marker"). */
xmlNodePtr aws_xml_path(xmlNodePtr node, const char *path);

/* Text of the child `name` as a new string (caller frees), or NULL. */
char *aws_xml_text(xmlNodePtr node, const char *name);

/* Text of the child `name` as a number; `def` if absent or not a number. */
long long aws_xml_int(xmlNodePtr node, const char *name, long long def);

/* True when the child `name` has text "true". */
int aws_xml_bool(xmlNodePtr node, const char *name);

#endif
