/* tz.h - IANA time zones read from the system's TZif files.
 *
 * A zone is loaded once from /usr/share/zoneinfo (Debian package tzdata) and
 * is immutable afterwards, so one lb_tz can be shared by any number of
 * threads. The process-wide TZ variable and localtime() are never used: the
 * TZif v2+ 64-bit transition table is searched directly, and times after the
 * last transition follow the file's footer POSIX TZ rule (for example
 * `CET-1CEST,M3.5.0,M10.5.0/3`). Leap-second ("right/") zone files are
 * rejected. "Local time" below means the wall clock read as if it were UTC:
 * seconds since 1970-01-01T00:00:00 local.
 */
#ifndef LB_UTIL_TZ_H
#define LB_UTIL_TZ_H

#include <stddef.h>
#include <stdint.h>

#define LB_TZ_DIR            "/usr/share/zoneinfo"
#define LB_TZ_MAX_FILE_BYTES (256 * 1024) /* the largest TZif file read */
#define LB_TZ_MAX_NAME       255          /* the longest zone name accepted */

typedef struct lb_tz lb_tz;

/* How a local time maps to UTC. */
typedef struct lb_tz_mapping {
    int count;        /* 1: unique; 2: repeated (clocks went back); 0: skipped (in a gap) */
    int64_t earliest; /* count >= 1: the earlier instant; count 0: the instant the gap ends */
    int64_t latest;   /* count 2: the later instant; otherwise equal to earliest */
} lb_tz_mapping;

/* Loads the IANA zone `name` (`Europe/Berlin`, `Etc/UTC`) from LB_TZ_DIR into
 * *out; free it with lb_tz_free(). Names are checked before any file is
 * opened: letters, digits, `/ _ + - .`, no empty or `.`-leading component,
 * at most LB_TZ_MAX_NAME bytes. Returns 0; LB_EINVALID for a malformed name
 * or a malformed file; LB_ENOTFOUND when no such zone is installed. */
int lb_tz_load(lb_tz **out, const char *name);

/* Like lb_tz_load() with the zone files under `dir`. */
int lb_tz_load_dir(lb_tz **out, const char *dir, const char *name);

/* Parses TZif data (len bytes at data, at most LB_TZ_MAX_FILE_BYTES) into
 * *out, named `name` (copied). Returns 0 or LB_EINVALID naming what is wrong;
 * never reads outside data. */
int lb_tz_parse(lb_tz **out, const char *name, const void *data, size_t len);

/* Builds a zone from a POSIX TZ rule alone (`EST5EDT,M3.2.0,M11.1.0`), as
 * found in a TZif footer. Returns 0 or LB_EINVALID naming the rule part. */
int lb_tz_from_posix(lb_tz **out, const char *rule);

/* The UTC zone; static, needs no file, and lb_tz_free() ignores it. */
const lb_tz *lb_tz_utc(void);

/* Frees z; NULL and lb_tz_utc() are no-ops. */
void lb_tz_free(lb_tz *z);

/* The zone's name as given when it was loaded; borrowed. */
const char *lb_tz_name(const lb_tz *z);

/* The offset from UTC (seconds east, -26 h..+26 h) in effect at Unix time t. */
int32_t lb_tz_offset_at(const lb_tz *z, int64_t t);

/* Maps the local time `local` (see above) to UTC in *out: one instant, two
 * when clocks went back over it, none when clocks jumped over it (then
 * out->earliest is the instant the jump happened, the first valid instant
 * after the gap). Returns 0, or LB_EINVALID when |local| >= 2^40 s. */
int lb_tz_local_to_utc(lb_tz_mapping *out, const lb_tz *z, int64_t local);

#endif
