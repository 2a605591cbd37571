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
