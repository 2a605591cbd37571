#include "util/tz.h"

#include "util/alloc.h"
#include "util/error.h"
#include "util/timeutil.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* RFC 8536 asks for offsets within -25:59:59..+25:59:59; the local-to-UTC
 * search window below relies on it. */
#define TZ_MAX_OFFSET   (26 * 3600)
#define TZ_WINDOW       (27 * 3600)
#define TZ_MAX_WINDOWED 16 /* transitions examined around one local time */
#define TZ_LOCAL_LIMIT  (1LL << 40)
#define TZIF_HEADER     44

typedef struct rule_date {
    char kind; /* 'J' Julian 1-365 without Feb 29, 'N' zero-based 0-365, 'M' month.week.day */
    int a, b, c;
} rule_date;

typedef struct tz_rule {
    int32_t std_off; /* seconds east of UTC */
    int32_t dst_off;
    bool has_dst;
    rule_date start, end;
    int32_t start_time, end_time; /* seconds after local midnight, may be < 0 or > 24 h */
} tz_rule;

struct lb_tz {
    char *name;
    size_t ntrans;
    int64_t *trans;     /* ascending Unix times */
    int32_t *trans_off; /* offset in effect from trans[i] on */
    int32_t off0;       /* offset before the first transition (time type 0) */
    bool has_rule;      /* rule applies from the last transition on */
    tz_rule rule;
};

static char utc_name[] = "UTC";
static lb_tz utc_zone = {.name = utc_name};

const lb_tz *lb_tz_utc(void)
{
    return &utc_zone;
}

void lb_tz_free(lb_tz *z)
{
    if (z == NULL || z == &utc_zone)
        return;
    free(z->name);
    free(z->trans);
    free(z->trans_off);
    free(z);
}

const char *lb_tz_name(const lb_tz *z)
{
    return z->name;
}

/* ---- POSIX TZ rules ---------------------------------------------------- */

typedef struct cursor {
    const char *p;
    const char *end;
} cursor;

static bool at(const cursor *c, char ch)
{
    return c->p < c->end && *c->p == ch;
}

static bool is_digit(char ch)
{
    return ch >= '0' && ch <= '9';
}

static bool is_alpha(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
}

static bool read_uint(int *out, cursor *c, int max_digits)
{
    int v = 0, n = 0;
    while (c->p < c->end && is_digit(*c->p) && n < max_digits) {
        v = v * 10 + (*c->p - '0');
        c->p++;
        n++;
    }
    if (n == 0 || (c->p < c->end && is_digit(*c->p)))
        return false;
    *out = v;
    return true;
}

static int posix_name(cursor *c)
{
    if (at(c, '<')) {
        c->p++;
        const char *start = c->p;
        while (c->p < c->end && *c->p != '>') {
            char ch = *c->p;
            if (!is_alpha(ch) && !is_digit(ch) && ch != '+' && ch != '-')
                return lb_error_setc(LB_EINVALID, "TZ rule: invalid character in <name>");
            c->p++;
        }
        if (c->p >= c->end || c->p - start < 3)
            return lb_error_setc(LB_EINVALID, "TZ rule: <name> must be 3 or more characters");
        c->p++;
        return 0;
    }
    const char *start = c->p;
    while (c->p < c->end && is_alpha(*c->p))
        c->p++;
    if (c->p - start < 3)
        return lb_error_setc(LB_EINVALID, "TZ rule: zone name must be 3 or more letters");
    return 0;
}

/* [+-]hh[:mm[:ss]] with hh <= max_hours, in seconds. */
static int posix_hms(int32_t *out, cursor *c, int max_hours, const char *what)
{
    int sign = 1, h, m = 0, s = 0;
    if (at(c, '+') || at(c, '-')) {
        sign = *c->p == '-' ? -1 : 1;
        c->p++;
    }
    if (!read_uint(&h, c, 3) || h > max_hours)
        return lb_error_setc(LB_EINVALID, "TZ rule: %s hours must be 0-%d", what, max_hours);
    if (at(c, ':')) {
        c->p++;
        if (!read_uint(&m, c, 2) || m > 59)
            return lb_error_setc(LB_EINVALID, "TZ rule: %s minutes must be 00-59", what);
        if (at(c, ':')) {
            c->p++;
            if (!read_uint(&s, c, 2) || s > 59)
                return lb_error_setc(LB_EINVALID, "TZ rule: %s seconds must be 00-59", what);
        }
    }
    *out = sign * (h * 3600 + m * 60 + s);
    return 0;
}

static int posix_date(rule_date *out, cursor *c)
{
    if (at(c, 'J')) {
        c->p++;
        out->kind = 'J';
        if (!read_uint(&out->a, c, 3) || out->a < 1 || out->a > 365)
            return lb_error_setc(LB_EINVALID, "TZ rule: Jn day must be 1-365");
        return 0;
    }
    if (at(c, 'M')) {
        c->p++;
        out->kind = 'M';
        if (!read_uint(&out->a, c, 2) || out->a < 1 || out->a > 12)
            return lb_error_setc(LB_EINVALID, "TZ rule: Mm.w.d month must be 1-12");
        if (!at(c, '.'))
            return lb_error_setc(LB_EINVALID, "TZ rule: expected '.' in Mm.w.d");
        c->p++;
        if (!read_uint(&out->b, c, 1) || out->b < 1 || out->b > 5)
            return lb_error_setc(LB_EINVALID, "TZ rule: Mm.w.d week must be 1-5");
        if (!at(c, '.'))
            return lb_error_setc(LB_EINVALID, "TZ rule: expected '.' in Mm.w.d");
        c->p++;
        if (!read_uint(&out->c, c, 1) || out->c > 6)
            return lb_error_setc(LB_EINVALID, "TZ rule: Mm.w.d weekday must be 0-6");
        return 0;
    }
    out->kind = 'N';
    if (!read_uint(&out->a, c, 3) || out->a > 365)
        return lb_error_setc(LB_EINVALID, "TZ rule: n day must be 0-365");
    return 0;
}

static int posix_transition(rule_date *date, int32_t *time, cursor *c)
{
    int rc = posix_date(date, c);
    *time = 2 * 3600;
    if (rc == 0 && at(c, '/')) {
        c->p++;
        rc = posix_hms(time, c, 167, "transition time");
    }
    return rc;
}

static int posix_parse(tz_rule *out, const char *s, size_t len)
{
    cursor c = {s, s + len};
    tz_rule r;
    int32_t off = 0;
    int rc;

    memset(&r, 0, sizeof(r));
    rc = posix_name(&c);
    if (rc == 0)
        rc = posix_hms(&off, &c, 24, "offset");
    if (rc != 0)
        goto done;
    r.std_off = -off; /* POSIX counts west of Greenwich as positive */
    if (c.p < c.end) {
        rc = posix_name(&c);
        if (rc != 0)
            goto done;
        r.has_dst = true;
        r.dst_off = r.std_off + 3600;
        if (c.p < c.end && !at(&c, ',')) {
            rc = posix_hms(&off, &c, 24, "DST offset");
            if (rc != 0)
                goto done;
            r.dst_off = -off;
        }
        if (c.p == c.end) {
            /* No rule given: the US rules, as glibc and POSIX.1-2024 assume. */
            r.start = (rule_date){'M', 3, 2, 0};
            r.end = (rule_date){'M', 11, 1, 0};
            r.start_time = r.end_time = 2 * 3600;
        } else {
            c.p++; /* ',' */
            rc = posix_transition(&r.start, &r.start_time, &c);
            if (rc != 0)
                goto done;
            if (!at(&c, ',')) {
                rc = lb_error_setc(LB_EINVALID, "TZ rule: expected ',' before the DST end");
                goto done;
            }
            c.p++;
            rc = posix_transition(&r.end, &r.end_time, &c);
            if (rc != 0)
                goto done;
        }
    }
    if (c.p != c.end) {
        rc = lb_error_setc(LB_EINVALID, "TZ rule: unexpected text at the end");
        goto done;
    }
    *out = r;
done:
    return rc;
}

static int64_t rule_date_days(const rule_date *d, int64_t year)
{
    int64_t jan1 = lb_time_days_from_civil(year, 1, 1);
    switch (d->kind) {
    case 'J':
        return jan1 + d->a - 1 + (lb_time_is_leap_year(year) && d->a >= 60 ? 1 : 0);
    case 'N':
        return jan1 + d->a;
    default: {
        int64_t first = lb_time_days_from_civil(year, d->a, 1);
        int dim = lb_time_days_in_month(year, d->a);
        int day = (d->c - lb_time_weekday(first) + 7) % 7 + (d->b - 1) * 7;
        while (day >= dim)
            day -= 7;
        return first + day;
    }
    }
}

typedef struct rule_event {
    int64_t t;
    int32_t off; /* offset from t on */
} rule_event;

/* The DST start/end instants of years first..first+nyears-1, sorted by time;
 * equal times keep generation order, so a permanent-DST rule (`0/0,J365/25`),
 * whose end in one year coincides with the next year's start, stays in DST. */
static size_t rule_events(rule_event *out, const tz_rule *r, int64_t first, int nyears)
{
    size_t n = 0;
    for (int64_t y = first; y < first + nyears; y++) {
        out[n].t = rule_date_days(&r->start, y) * 86400 + r->start_time - r->std_off;
        out[n++].off = r->dst_off;
        out[n].t = rule_date_days(&r->end, y) * 86400 + r->end_time - r->dst_off;
        out[n++].off = r->std_off;
    }
    for (size_t i = 1; i < n; i++) {
        rule_event e = out[i];
        size_t j = i;
        while (j > 0 && out[j - 1].t > e.t) {
            out[j] = out[j - 1];
            j--;
        }
        out[j] = e;
    }
    return n;
}

static int64_t rule_year(const tz_rule *r, int64_t t)
{
    int64_t y;
    int m, d;
    lb_time_civil_from_days(&y, &m, &d, lb_time_floor_div(t + r->std_off, 86400));
    return y;
}

/* Keeps year arithmetic far from int64 overflow; rules repeat yearly anyway. */
static int64_t clamp_time(int64_t t)
{
    if (t > TZ_LOCAL_LIMIT)
        return TZ_LOCAL_LIMIT;
    if (t < -TZ_LOCAL_LIMIT)
        return -TZ_LOCAL_LIMIT;
    return t;
}

static int32_t rule_offset(const tz_rule *r, int64_t t)
{
    rule_event ev[6];
    size_t n;
    int32_t off;

    if (!r->has_dst)
        return r->std_off;
    t = clamp_time(t);
    n = rule_events(ev, r, rule_year(r, t) - 1, 3);
    if (n == 0)
        return r->std_off;
    off = ev[0].off == r->dst_off ? r->std_off : r->dst_off;
    for (size_t i = 0; i < n && ev[i].t <= t; i++)
        off = ev[i].off;
    return off;
}

static bool rule_next(int64_t *out, const tz_rule *r, int64_t t)
{
    rule_event ev[8];
    size_t n;

    if (!r->has_dst || t >= TZ_LOCAL_LIMIT)
        return false;
    t = clamp_time(t);
    n = rule_events(ev, r, rule_year(r, t) - 1, 4);
    for (size_t i = 0; i < n; i++) {
        if (ev[i].t > t) {
            *out = ev[i].t;
            return true;
        }
    }
    return false;
}

/* ---- zone queries ------------------------------------------------------ */

int32_t lb_tz_offset_at(const lb_tz *z, int64_t t)
{
    size_t lo, hi;

    if (z->ntrans == 0)
        return z->has_rule ? rule_offset(&z->rule, t) : z->off0;
    if (t < z->trans[0])
        return z->off0;
    if (t >= z->trans[z->ntrans - 1] && z->has_rule)
        return rule_offset(&z->rule, t);
    /* The last i with trans[i] <= t. */
    lo = 0;
    hi = z->ntrans;
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (z->trans[mid] <= t)
            lo = mid;
        else
            hi = mid;
    }
    return z->trans_off[lo];
}

/* The first instant after t at which the offset changes. */
static bool next_transition(int64_t *out, const lb_tz *z, int64_t t)
{
    int64_t cur = t;

    for (int guard = 0; guard < 64; guard++) {
        int64_t cand;
        if (z->ntrans > 0 && cur < z->trans[z->ntrans - 1]) {
            size_t lo = 0, hi = z->ntrans - 1;
            while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                if (z->trans[mid] > cur)
                    hi = mid;
                else
                    lo = mid + 1;
            }
            cand = z->trans[lo];
        } else if (z->has_rule) {
            if (!rule_next(&cand, &z->rule, cur))
                return false;
        } else {
            return false;
        }
        if (lb_tz_offset_at(z, cand - 1) != lb_tz_offset_at(z, cand)) {
            *out = cand;
            return true;
        }
        cur = cand;
    }
    return false;
}

int lb_tz_local_to_utc(lb_tz_mapping *out, const lb_tz *z, int64_t local)
{
    int32_t offs[TZ_MAX_WINDOWED + 1];
    int64_t trans[TZ_MAX_WINDOWED];
    size_t noffs = 0, ntrans = 0;
    int64_t cur, t;
    int count = 0;
    int64_t earliest = 0, latest = 0;

    if (local >= TZ_LOCAL_LIMIT || local <= -TZ_LOCAL_LIMIT)
        return lb_error_setc(LB_EINVALID, "local time %lld is out of range", (long long)local);
    /* Any instant u with u + offset(u) == local lies within the window. */
    offs[noffs++] = lb_tz_offset_at(z, local - TZ_WINDOW);
    cur = local - TZ_WINDOW;
    while (ntrans < TZ_MAX_WINDOWED && next_transition(&t, z, cur) && t <= local + TZ_WINDOW) {
        trans[ntrans++] = t;
        offs[noffs++] = lb_tz_offset_at(z, t);
        cur = t;
    }
    for (size_t i = 0; i < noffs; i++) {
        int64_t u = local - offs[i];
        if (lb_tz_offset_at(z, u) != offs[i])
            continue;
        if (count == 0) {
            earliest = latest = u;
            count = 1;
        } else if (u != earliest && u != latest) {
            if (u < earliest)
                earliest = u;
            if (u > latest)
                latest = u;
            count = 2;
        }
    }
    if (count == 0) {
        /* In a gap: the transition that jumped over this local time. */
        earliest = local - offs[0];
        for (size_t i = 0; i < ntrans; i++) {
            t = trans[i];
            if (t - 1 + lb_tz_offset_at(z, t - 1) < local && t + lb_tz_offset_at(z, t) > local) {
                earliest = t;
                break;
            }
        }
        latest = earliest;
    }
    out->count = count;
    out->earliest = earliest;
    out->latest = latest;
    return 0;
}

/* ---- TZif -------------------------------------------------------------- */

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t be64(const uint8_t *p)
{
    return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

typedef struct tzif_counts {
    uint32_t isut, isstd, leap, time, type, chars;
} tzif_counts;

static void read_counts(tzif_counts *out, const uint8_t *h)
{
    out->isut = be32(h + 20);
    out->isstd = be32(h + 24);
    out->leap = be32(h + 28);
    out->time = be32(h + 32);
    out->type = be32(h + 36);
    out->chars = be32(h + 40);
}

static uint64_t data_size(const tzif_counts *c, int tsize)
{
    return (uint64_t)c->time * (tsize + 1) + (uint64_t)c->type * 6 + c->chars +
           (uint64_t)c->leap * (tsize + 4) + c->isstd + c->isut;
}

#define TZIF_FAIL(...) lb_error_setc(LB_EINVALID, "TZif: " __VA_ARGS__)

int lb_tz_parse(lb_tz **out, const char *name, const void *data, size_t len)
{
    const uint8_t *d = data;
    const uint8_t *block;
    tzif_counts c;
    int tsize = 4;
    uint64_t size;
    lb_tz *z = NULL;
    const uint8_t *types;
    int rc = 0;

    if (len > LB_TZ_MAX_FILE_BYTES)
        return TZIF_FAIL("file is larger than %d bytes", LB_TZ_MAX_FILE_BYTES);
    if (len < TZIF_HEADER || memcmp(d, "TZif", 4) != 0)
        return TZIF_FAIL("not a TZif file (bad magic)");
    read_counts(&c, d);
    size = data_size(&c, 4);
    block = d + TZIF_HEADER;
    if (d[4] >= '2') {
        /* Skip the 32-bit block; the 64-bit one follows with its own header. */
        if (size > len - TZIF_HEADER || len - TZIF_HEADER - size < TZIF_HEADER)
            return TZIF_FAIL("truncated before the version 2 header");
        block = d + TZIF_HEADER + size;
        if (memcmp(block, "TZif", 4) != 0)
            return TZIF_FAIL("bad magic in the version 2 header");
        read_counts(&c, block);
        block += TZIF_HEADER;
        tsize = 8;
        size = data_size(&c, 8);
    }
    if (size > len - (size_t)(block - d))
        return TZIF_FAIL("truncated data block");
    if (c.type == 0 || c.type > 256)
        return TZIF_FAIL("type count %u must be 1-256", c.type);
    if ((c.isut != 0 && c.isut != c.type) || (c.isstd != 0 && c.isstd != c.type))
        return TZIF_FAIL("UT/standard indicator counts must be 0 or the type count");
    if (c.leap != 0)
        return TZIF_FAIL("leap-second zone files are not supported");

    z = lb_calloc(1, sizeof(*z));
    z->name = lb_strdup(name);
    z->ntrans = c.time;
    z->trans = lb_calloc(c.time ? c.time : 1, sizeof(int64_t));
    z->trans_off = lb_calloc(c.time ? c.time : 1, sizeof(int32_t));
    types = block + (size_t)c.time * (tsize + 1);
    for (uint32_t i = 0; i < c.type; i++) {
        int32_t off = (int32_t)be32(types + 6 * i);
        if (off < -TZ_MAX_OFFSET || off > TZ_MAX_OFFSET || types[6 * i + 5] >= c.chars) {
            rc = TZIF_FAIL("time type %u has an out-of-range offset or abbreviation", i);
            goto done;
        }
    }
    z->off0 = (int32_t)be32(types);
    for (uint32_t i = 0; i < c.time; i++) {
        const uint8_t *tp = block + (size_t)i * tsize;
        uint8_t idx = block[(size_t)c.time * tsize + i];
        z->trans[i] = tsize == 8 ? be64(tp) : (int64_t)(int32_t)be32(tp);
        if (idx >= c.type) {
            rc = TZIF_FAIL("transition %u names type %u of %u", i, idx, c.type);
            goto done;
        }
        if (i > 0 && z->trans[i] <= z->trans[i - 1]) {
            rc = TZIF_FAIL("transition times must be strictly ascending");
            goto done;
        }
        if (z->trans[i] <= -TZ_LOCAL_LIMIT || z->trans[i] >= TZ_LOCAL_LIMIT) {
            /* zic writes -2^59 as "the big bang"; such entries change nothing we can use. */
            if (z->trans[i] > 0) {
                rc = TZIF_FAIL("transition %u is out of range", i);
                goto done;
            }
        }
        z->trans_off[i] = (int32_t)be32(types + 6 * idx);
    }
    if (tsize == 8) {
        const uint8_t *f = block + size;
        const uint8_t *end = d + len;
        const uint8_t *nl;
        if (f >= end || *f != '\n') {
            rc = TZIF_FAIL("missing footer");
            goto done;
        }
        f++;
        nl = memchr(f, '\n', (size_t)(end - f));
        if (nl == NULL) {
            rc = TZIF_FAIL("unterminated footer");
            goto done;
        }
        if (nl > f) {
            rc = posix_parse(&z->rule, (const char *)f, (size_t)(nl - f));
            if (rc != 0) {
                rc = lb_error_wrap(rc, "TZif footer");
                goto done;
            }
            z->has_rule = true;
        }
    }
    *out = z;
    z = NULL;
done:
    lb_tz_free(z);
    return rc;
}

int lb_tz_from_posix(lb_tz **out, const char *rule)
{
    lb_tz *z;
    tz_rule r;
    int rc;

    memset(&r, 0, sizeof(r));
    rc = posix_parse(&r, rule, strlen(rule));
    if (rc != 0)
        return rc;
    z = lb_calloc(1, sizeof(*z));
    z->name = lb_strdup(rule);
    z->has_rule = true;
    z->rule = r;
    z->off0 = r.std_off;
    *out = z;
    return 0;
}

static int check_name(const char *name)
{
    size_t len = strlen(name);
    const char *comp = name;

    if (len == 0 || len > LB_TZ_MAX_NAME)
        return lb_error_setc(LB_EINVALID, "time zone name must be 1-%d characters", LB_TZ_MAX_NAME);
    for (const char *p = name;; p++) {
        char ch = *p;
        if (ch == '/' || ch == '\0') {
            if (p == comp || *comp == '.')
                return lb_error_setc(LB_EINVALID,
                                     "time zone \"%s\": path components must be non-empty "
                                     "and not start with '.'",
                                     name);
            if (ch == '\0')
                break;
            comp = p + 1;
            continue;
        }
        if (!is_alpha(ch) && !is_digit(ch) && ch != '_' && ch != '+' && ch != '-' && ch != '.')
            return lb_error_setc(LB_EINVALID,
                                 "time zone name may contain only letters, digits and / _ + - .");
    }
    return 0;
}

int lb_tz_load_dir(lb_tz **out, const char *dir, const char *name)
{
    char *path = NULL;
    uint8_t *data = NULL;
    struct stat st;
    size_t got = 0;
    int fd = -1;
    int rc = check_name(name);

    if (rc != 0)
        goto done;
    path = lb_sprintf("%s/%s", dir, name);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 && (errno == ENOENT || errno == ENOTDIR)) {
        rc = lb_error_setc(LB_ENOTFOUND, "unknown time zone \"%s\" (no file in %s)", name, dir);
        goto done;
    }
    if (fd < 0 || fstat(fd, &st) != 0) {
        rc = lb_error_set("time zone \"%s\": cannot open %s: %s", name, path, strerror(errno));
        goto done;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = lb_error_setc(LB_ENOTFOUND, "unknown time zone \"%s\" (not a zone file)", name);
        goto done;
    }
    if (st.st_size > LB_TZ_MAX_FILE_BYTES) {
        rc = lb_error_setc(LB_EINVALID, "time zone \"%s\": file is larger than %d bytes", name,
                           LB_TZ_MAX_FILE_BYTES);
        goto done;
    }
    data = lb_malloc((size_t)st.st_size);
    while (got < (size_t)st.st_size) {
        ssize_t n = read(fd, data + got, (size_t)st.st_size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            rc = lb_error_set("time zone \"%s\": cannot read %s", name, path);
            goto done;
        }
        got += (size_t)n;
    }
    rc = lb_tz_parse(out, name, data, got);
    if (rc != 0)
        rc = lb_error_wrap(rc, "time zone \"%s\"", name);
done:
    if (fd >= 0)
        close(fd);
    free(data);
    free(path);
    return rc;
}

int lb_tz_load(lb_tz **out, const char *name)
{
    return lb_tz_load_dir(out, LB_TZ_DIR, name);
}
