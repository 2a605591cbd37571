/* archive.h - safe extraction of tar archives (libarchive) into a directory.
 *
 * runbook 004 Procedure 3 runs `tar -xzf restore.tar.gz -C /app/`; the agent
 * extracts the same archives, but first reads the whole archive and refuses
 * it, extracting nothing, when any entry
 *   - has an absolute path or a ".." component,
 *   - is a symbolic link that is absolute or resolves (lexically, from its
 *     own directory) outside the target,
 *   - is a hard link whose target breaks the rules above,
 *   - is a device, FIFO or socket.
 * The second pass extracts with libarchive's ARCHIVE_EXTRACT_SECURE_NODOTDOT,
 * _SECURE_SYMLINKS and _SECURE_NOABSOLUTEPATHS as a second line of defence,
 * keeping modes and times but not owners.
 */
#ifndef LB_AGENT_ARCHIVE_H
#define LB_AGENT_ARCHIVE_H

#include <stdint.h>

#define ARCHIVE_MAX_ENTRIES 10000000 /* entries in one archive */

typedef struct archive_stats {
    int64_t entries;
    int64_t files;
    int64_t bytes; /* regular files' content */
} archive_stats;

/* Checks every entry of the tar (optionally gzip-compressed) at path against
 * the rules above. LB_EINVALID naming the first offending entry. */
int archive_check(archive_stats *out, const char *path);

/* archive_check, then extracts into target (an existing directory). */
int archive_extract_safe(archive_stats *out, const char *path, const char *target);

#endif
