/* expect.c - the pure parts of pkg/pg: expectations, exact decimal
 * comparison, connection strings, redaction and timestamp parsing. */
#include "pg/check.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libpq-fe.h>

#include "pg/private.h"
#include "util/alloc.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/log.h"

#define PG_REDACTED "[REDACTED]"
/* An exponent beyond this is refused rather than compared: no PostgreSQL
 * type prints one (float8 stops near 1e308, numeric near 1e131072). */
#define PG_DECIMAL_MAX_EXPONENT 1000000000LL

/* ---- exact decimal comparison ------------------------------------------------ */

typedef struct decimal {
    int sign;     /* -1, 0 (zero) or 1 */
    bool inf;     /* +-Infinity (sign says which) */
    char *digits; /* significant digits, no leading or trailing zeros */
    size_t ndigits;
    int64_t point; /* value = 0.digits * 10^point */
} decimal;

static void decimal_dispose(decimal *d)
{
    free(d->digits);
    d->digits = NULL;
}

/* Parses [+-](digits[.digits]|.digits)[(e|E)[+-]digits] or [+-]Infinity. */
static int decimal_parse(decimal *out, const char *s)
{
    const char *p = s;
    int sign = 1;
    memset(out, 0, sizeof(*out));
    if (*p == '+' || *p == '-') {
        sign = *p == '-' ? -1 : 1;
        p++;
    }
    if (strcasecmp(p, "infinity") == 0 || strcasecmp(p, "inf") == 0) {
        out->sign = sign;
        out->inf = true;
        return 0;
    }
    size_t len = strlen(p);
    char *digits = lb_malloc(len + 1);
    size_t n = 0, nint = 0;
    while (isdigit((unsigned char)*p)) {
        digits[n++] = *p++;
    }
    nint = n;
    if (*p == '.') {
        p++;
        while (isdigit((unsigned char)*p)) {
            digits[n++] = *p++;
        }
    }
    int64_t exp = 0;
    if (n == 0) {
        goto invalid;
    }
    if (*p == 'e' || *p == 'E') {
        int esign = 1;
        p++;
        if (*p == '+' || *p == '-') {
            esign = *p == '-' ? -1 : 1;
            p++;
        }
        if (!isdigit((unsigned char)*p)) {
            goto invalid;
        }
        while (isdigit((unsigned char)*p)) {
            exp = exp * 10 + (*p++ - '0');
            if (exp > PG_DECIMAL_MAX_EXPONENT) {
                goto invalid;
            }
        }
        exp *= esign;
    }
    if (*p != '\0') {
        goto invalid;
    }
    int64_t point = (int64_t)nint + exp;
    size_t start = 0;
    while (start < n && digits[start] == '0') {
        start++;
        point--;
    }
    while (n > start && digits[n - 1] == '0') {
        n--;
    }
    if (start == n) {
        free(digits);
        return 0; /* zero: sign 0 */
    }
    memmove(digits, digits + start, n - start);
    out->ndigits = n - start;
    digits[out->ndigits] = '\0';
    out->digits = digits;
    out->sign = sign;
    out->point = point;
    return 0;
invalid:
    free(digits);
    return LB_EINVALID;
}

static int decimal_rank(const decimal *d)
{
    return d->inf ? 2 * d->sign : d->sign;
}

int pg_decimal_cmp(int *out, const char *a, const char *b)
{
    decimal x, y;
    int rc = LB_OK;
    if (decimal_parse(&x, a) != 0) {
        return lb_error_setc(LB_EINVALID, "\"%.64s\" is not a number", a);
    }
    if (decimal_parse(&y, b) != 0) {
        decimal_dispose(&x);
        return lb_error_setc(LB_EINVALID, "\"%.64s\" is not a number", b);
    }
    int rx = decimal_rank(&x), ry = decimal_rank(&y);
    int c = 0;
    if (rx != ry) {
        c = rx < ry ? -1 : 1;
    } else if (x.inf || x.sign == 0) {
        c = 0;
    } else {
        int mag;
        if (x.point != y.point) {
            mag = x.point < y.point ? -1 : 1;
        } else {
            size_t m = x.ndigits < y.ndigits ? x.ndigits : y.ndigits;
            mag = memcmp(x.digits, y.digits, m);
            if (mag == 0 && x.ndigits != y.ndigits) {
                mag = x.ndigits < y.ndigits ? -1 : 1;
            }
            mag = mag < 0 ? -1 : (mag > 0 ? 1 : 0);
        }
        c = x.sign * mag;
    }
    *out = c;
    decimal_dispose(&x);
    decimal_dispose(&y);
    return rc;
}

/* ---- expectations ------------------------------------------------------------ */

static const char *expect_kind_name(pg_expect_kind kind)
{
    switch (kind) {
    case PG_EXPECT_EQUALS:
        return "equals";
    case PG_EXPECT_MIN:
        return "min";
    case PG_EXPECT_MAX:
        return "max";
    case PG_EXPECT_NOT_EMPTY:
        return "notEmpty";
    }
    return "?";
}

static bool is_number(const char *s)
{
    decimal d;
    if (decimal_parse(&d, s) != 0) {
        return false;
    }
    decimal_dispose(&d);
    return true;
}

int pg_expect_set(pg_expect *out, pg_expect_kind kind, const char *value, bool numeric)
{
    pg_expect e;
    memset(&e, 0, sizeof(e));
    if (kind < PG_EXPECT_EQUALS || kind > PG_EXPECT_NOT_EMPTY) {
        return lb_error_setc(LB_EINVALID, "expect: unknown kind %d", (int)kind);
    }
    e.kind = kind;
    if (kind != PG_EXPECT_NOT_EMPTY) {
        const char *name = expect_kind_name(kind);
        if (value == NULL) {
            return lb_error_setc(LB_EINVALID, "expect.%s: a value is required", name);
        }
        if (strlen(value) >= sizeof(e.value)) {
            return lb_error_setc(LB_EINVALID, "expect.%s: longer than %zu bytes", name,
                                 sizeof(e.value) - 1);
        }
        e.numeric = numeric || kind != PG_EXPECT_EQUALS;
        if (e.numeric && !is_number(value)) {
            return lb_error_setc(LB_EINVALID, "expect.%s: \"%s\" is not a number", name, value);
        }
        memcpy(e.value, value, strlen(value) + 1);
    }
    *out = e;
    return LB_OK;
}

/* The shortest %g form of v that reads back as v, so 0.1 stays "0.1". */
static void format_real(char *out, size_t size, double v)
{
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(out, size, "%.*g", prec, v);
        if (strtod(out, NULL) == v) {
            return;
        }
    }
}

int pg_expect_from_json(pg_expect *out, const json_t *expect, const char *field)
{
    static const char *const kinds[] = {"equals", "min", "max", "notEmpty"};
    const char *key;
    json_t *val;
    const char *found = NULL;
    json_t *found_val = NULL;
    pg_expect_kind kind = PG_EXPECT_EQUALS;
    char text[PG_EXPECT_MAX_VALUE];
    bool numeric = false;

    if (!json_is_object(expect)) {
        return lb_error_setc(LB_EINVALID, "%s: must be an object", field);
    }
    json_object_foreach((json_t *)expect, key, val)
    {
        size_t i;
        for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
            if (strcmp(key, kinds[i]) == 0) {
                break;
            }
        }
        if (i == sizeof(kinds) / sizeof(kinds[0])) {
            return lb_error_setc(LB_EINVALID,
                                 "%s.%s: unknown field (allowed: equals, min, max, notEmpty)",
                                 field, key);
        }
        if (found != NULL) {
            return lb_error_setc(LB_EINVALID,
                                 "%s: exactly one of equals, min, max, notEmpty is allowed "
                                 "(found %s and %s)",
                                 field, found, key);
        }
        found = kinds[i];
        found_val = val;
        kind = (pg_expect_kind)(i + 1);
    }
    if (found == NULL) {
        return lb_error_setc(LB_EINVALID,
                             "%s: exactly one of equals, min, max, notEmpty is required", field);
    }
    text[0] = '\0';
    if (kind == PG_EXPECT_NOT_EMPTY) {
        if (!json_is_true(found_val)) {
            return lb_error_setc(LB_EINVALID, "%s.notEmpty: must be true", field);
        }
    } else if (json_is_integer(found_val)) {
        snprintf(text, sizeof(text), "%" JSON_INTEGER_FORMAT, json_integer_value(found_val));
        numeric = true;
    } else if (json_is_real(found_val)) {
        format_real(text, sizeof(text), json_real_value(found_val));
        numeric = true;
    } else if (kind != PG_EXPECT_EQUALS) {
        return lb_error_setc(LB_EINVALID, "%s.%s: must be a number", field, found);
    } else if (json_is_boolean(found_val)) {
        snprintf(text, sizeof(text), "%s", json_is_true(found_val) ? "t" : "f");
    } else if (json_is_string(found_val)) {
        if (json_string_length(found_val) >= sizeof(text) ||
            strlen(json_string_value(found_val)) != json_string_length(found_val)) {
            return lb_error_setc(LB_EINVALID,
                                 "%s.equals: must be a string of at most %zu bytes without NUL",
                                 field, sizeof(text) - 1);
        }
        snprintf(text, sizeof(text), "%s", json_string_value(found_val));
    } else {
        return lb_error_setc(LB_EINVALID, "%s.equals: must be a number, string or boolean", field);
    }
    int rc = pg_expect_set(out, kind, text, numeric);
    if (rc != 0) {
        return lb_error_wrap(rc, "%s", field);
    }
    return LB_OK;
}

void pg_expect_describe(char *out, size_t size, const pg_expect *e)
{
    switch (e->kind) {
    case PG_EXPECT_EQUALS:
        if (e->numeric) {
            snprintf(out, size, "= %s", e->value);
        } else {
            snprintf(out, size, "= \"%s\"", e->value);
        }
        return;
    case PG_EXPECT_MIN:
        snprintf(out, size, ">= %s", e->value);
        return;
    case PG_EXPECT_MAX:
        snprintf(out, size, "<= %s", e->value);
        return;
    case PG_EXPECT_NOT_EMPTY:
        snprintf(out, size, "not empty");
        return;
    }
    snprintf(out, size, "?");
}

char *pg__copy_capped(const char *s, size_t max, bool *truncated)
{
    size_t len = strlen(s);
    if (len <= max) {
        if (truncated != NULL) {
            *truncated = false;
        }
        return lb_strndup(s, len);
    }
    size_t cut = max;
    /* s[cut] is the first byte left out; if it continues a character, that
     * character started earlier and is left out whole. */
    while (cut > 0 && ((unsigned char)s[cut] & 0xC0) == 0x80) {
        cut--;
    }
    if (truncated != NULL) {
        *truncated = true;
    }
    return lb_strndup(s, cut);
}

static void set_outcome(pg_check_result *out, bool passed, const char *expected, char *message)
{
    free(out->expected);
    free(out->message);
    out->passed = passed;
    out->expected = lb_strdup(expected);
    out->message = pg__copy_capped(message, PG_CHECK_MAX_MESSAGE - 1, NULL);
    free(message);
}

void pg_expect_eval(pg_check_result *out, const char *name, const pg_expect *e,
                    const char *observed, bool truncated, int64_t rows)
{
    char expected[PG_EXPECT_MAX_VALUE + 16];
    pg_expect_describe(expected, sizeof(expected), e);
    if (name == NULL) {
        name = "check";
    }
    if (rows <= 0) {
        set_outcome(out, false, expected, lb_sprintf("%s: no rows, expected %s", name, expected));
        return;
    }
    if (observed == NULL) {
        set_outcome(out, false, expected,
                    lb_sprintf("%s: observed NULL, expected %s", name, expected));
        return;
    }
    if (e->kind == PG_EXPECT_NOT_EMPTY) {
        set_outcome(out, true, expected,
                    lb_sprintf("%s: observed %s%s, expected %s", name, observed,
                               truncated ? "..." : "", expected));
        return;
    }
    if (!e->numeric) {
        bool passed = !truncated && strcmp(observed, e->value) == 0;
        set_outcome(out, passed, expected,
                    lb_sprintf("%s: observed \"%s%s\", expected %s", name, observed,
                               truncated ? "..." : "", expected));
        return;
    }
    if (truncated) {
        set_outcome(out, false, expected,
                    lb_sprintf("%s: observed value is longer than %d bytes, not a number, "
                               "expected %s",
                               name, PG_CHECK_MAX_OBSERVED, expected));
        return;
    }
    int c = 0;
    if (pg_decimal_cmp(&c, observed, e->value) != 0) {
        lb_error_clear();
        set_outcome(out, false, expected,
                    lb_sprintf("%s: observed \"%s\" is not a number, expected %s", name, observed,
                               expected));
        return;
    }
    bool passed = false;
    switch (e->kind) {
    case PG_EXPECT_EQUALS:
        passed = c == 0;
        break;
    case PG_EXPECT_MIN:
        passed = c >= 0;
        break;
    case PG_EXPECT_MAX:
        passed = c <= 0;
        break;
    case PG_EXPECT_NOT_EMPTY:
        break;
    }
    set_outcome(out, passed, expected,
                lb_sprintf("%s: observed %s, expected %s", name, observed, expected));
}

/* ---- connection strings ------------------------------------------------------- */

static int append_param(lb_buf *b, const char *key, const char *value)
{
    if (value == NULL || value[0] == '\0') {
        return LB_OK;
    }
    for (const char *p = value; *p != '\0'; p++) {
        if ((unsigned char)*p < 0x20 || *p == 0x7f) {
            return lb_error_setc(LB_EINVALID, "%s: contains a control character", key);
        }
    }
    int rc = buf_printf(b, "%s%s='", buf_len(b) > 0 ? " " : "", key);
    for (const char *p = value; rc == 0 && *p != '\0'; p++) {
        if (*p == '\\' || *p == '\'') {
            rc = buf_append(b, "\\", 1);
        }
        if (rc == 0) {
            rc = buf_append(b, p, 1);
        }
    }
    if (rc == 0) {
        rc = buf_append(b, "'", 1);
    }
    if (rc != 0) {
        return lb_error_setc(LB_ETOOBIG, "conninfo: longer than %d bytes", PG_CONNINFO_MAX);
    }
    return LB_OK;
}

int pg_conninfo_build(char **out, const pg_conn_params *p)
{
    static const char *const sslmodes[] = {"disable", "allow",     "prefer",
                                           "require", "verify-ca", "verify-full"};
    lb_buf b;
    int rc = LB_OK;
    buf_init(&b, PG_CONNINFO_MAX);

    if (p->port != NULL && p->port[0] != '\0') {
        char *end = NULL;
        errno = 0;
        long port = strtol(p->port, &end, 10);
        if (!isdigit((unsigned char)p->port[0]) || *end != '\0' || errno != 0 || port < 1 ||
            port > 65535) {
            rc = lb_error_setc(LB_EINVALID, "port: must be a number from 1 to 65535, got \"%.16s\"",
                               p->port);
            goto done;
        }
    }
    if (p->sslmode != NULL && p->sslmode[0] != '\0') {
        size_t i;
        for (i = 0; i < sizeof(sslmodes) / sizeof(sslmodes[0]); i++) {
            if (strcmp(p->sslmode, sslmodes[i]) == 0) {
                break;
            }
        }
        if (i == sizeof(sslmodes) / sizeof(sslmodes[0])) {
            rc = lb_error_setc(LB_EINVALID,
                               "sslmode: must be one of disable, allow, prefer, require, "
                               "verify-ca, verify-full, got \"%.32s\"",
                               p->sslmode);
            goto done;
        }
    }
    if ((rc = append_param(&b, "host", p->host)) != 0 ||
        (rc = append_param(&b, "port", p->port)) != 0 ||
        (rc = append_param(&b, "user", p->user)) != 0 ||
        (rc = append_param(&b, "password", p->password)) != 0 ||
        (rc = append_param(&b, "dbname", p->dbname)) != 0 ||
        (rc = append_param(&b, "sslmode", p->sslmode)) != 0) {
        goto done;
    }
    *out = buf_detach(&b, NULL);
done:
    buf_dispose(&b);
    return rc;
}

char *pg_conninfo_redact(const char *conninfo)
{
    char *err = NULL;
    PQconninfoOption *opts = PQconninfoParse(conninfo, &err);
    if (opts == NULL) {
        PQfreemem(err); /* its text may quote the secret */
        return lb_strdup("[invalid connection string]");
    }
    lb_buf b;
    buf_init(&b, PG_CONNINFO_MAX);
    for (PQconninfoOption *o = opts; o->keyword != NULL; o++) {
        if (o->val == NULL || o->val[0] == '\0') {
            continue;
        }
        bool secret = strchr(o->dispchar, '*') != NULL || lb_log_key_is_sensitive(o->keyword);
        int rc;
        if (secret) {
            rc = buf_printf(&b, "%s%s=%s", buf_len(&b) > 0 ? " " : "", o->keyword, PG_REDACTED);
        } else {
            rc = append_param(&b, o->keyword, o->val);
        }
        if (rc != 0) {
            lb_error_clear();
            break; /* cut at the cap: what is there is still safe to print */
        }
    }
    PQconninfoFree(opts);
    char *s = buf_detach(&b, NULL);
    buf_dispose(&b);
    return s;
}

char *pg__scrub(const char *msg, const char *password)
{
    char *r = lb_log_redact_url(msg != NULL ? msg : "");
    if (password != NULL && password[0] != '\0') {
        size_t plen = strlen(password);
        lb_buf b;
        buf_init(&b, strlen(r) * (sizeof(PG_REDACTED) + 1) + 1);
        const char *p = r;
        const char *hit;
        while ((hit = strstr(p, password)) != NULL) {
            buf_append(&b, p, (size_t)(hit - p));
            buf_append_str(&b, PG_REDACTED);
            p = hit + plen;
        }
        buf_append_str(&b, p);
        free(r);
        r = buf_detach(&b, NULL);
        buf_dispose(&b);
    }
    /* libpq ends lines with "\n" and indents hints with "\t": one space each run. */
    size_t n = 0;
    for (const char *p = r; *p != '\0'; p++) {
        bool space = *p == ' ' || *p == '\n' || *p == '\r' || *p == '\t';
        if (space && (n == 0 || r[n - 1] == ' ')) {
            continue;
        }
        r[n++] = space ? ' ' : *p;
    }
    while (n > 0 && r[n - 1] == ' ') {
        n--;
    }
    r[n] = '\0';
    return r;
}

/* ---- timestamps --------------------------------------------------------------- */

static bool digits_at(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!isdigit((unsigned char)p[i])) {
            return false;
        }
    }
    return true;
}

int pg_timestamp_parse(lb_time *out, const char *text)
{
    char rfc[80];
    size_t n = 0;
    const char *p = text;
    int offset_sec_extra = 0;

    if (strlen(text) < 10 || !digits_at(p, 4) || p[4] != '-' || !digits_at(p + 5, 2) ||
        p[7] != '-' || !digits_at(p + 8, 2)) {
        goto invalid;
    }
    memcpy(rfc, p, 10);
    n = 10;
    p += 10;
    if (*p == ' ' || *p == 'T') {
        p++;
        if (!digits_at(p, 2) || p[2] != ':' || !digits_at(p + 3, 2) || p[5] != ':' ||
            !digits_at(p + 6, 2)) {
            goto invalid;
        }
        rfc[n++] = 'T';
        memcpy(rfc + n, p, 8);
        n += 8;
        p += 8;
        if (*p == '.') {
            size_t k = 1;
            while (isdigit((unsigned char)p[k])) {
                k++;
            }
            if (k == 1 || k > 31) {
                goto invalid;
            }
            memcpy(rfc + n, p, k);
            n += k;
            p += k;
        }
    } else {
        memcpy(rfc + n, "T00:00:00", 9);
        n += 9;
    }
    if (*p == '+' || *p == '-') {
        char sign = *p;
        const char *mm = "00";
        if (!digits_at(p + 1, 2)) {
            goto invalid;
        }
        const char *hh = p + 1;
        p += 3;
        if (*p == ':' && digits_at(p + 1, 2)) {
            mm = p + 1;
            p += 3;
            if (*p == ':' && digits_at(p + 1, 2)) {
                offset_sec_extra = (p[1] - '0') * 10 + (p[2] - '0');
                if (sign == '-') {
                    offset_sec_extra = -offset_sec_extra;
                }
                p += 3;
            }
        }
        n += (size_t)snprintf(rfc + n, sizeof(rfc) - n, "%c%.2s:%.2s", sign, hh, mm);
    } else {
        if (*p == 'Z' || *p == 'z') {
            p++;
        }
        rfc[n++] = 'Z';
    }
    rfc[n] = '\0';
    if (*p != '\0') {
        goto invalid;
    }
    lb_time t;
    if (lb_time_parse_rfc3339(&t, rfc) != 0) {
        return lb_error_setc(LB_EINVALID, "timestamp \"%.64s\": %s", text, lb_error_last());
    }
    /* The seconds of an offset such as +00:01:15 (local mean time) are not
     * representable in RFC 3339; apply them here. */
    t.sec -= offset_sec_extra;
    *out = t;
    return LB_OK;
invalid:
    return lb_error_setc(LB_EINVALID,
                         "timestamp \"%.64s\": not an ISO timestamp "
                         "(YYYY-MM-DD[ hh:mm:ss[.frac]][+hh[:mm[:ss]]], years 0000-9999)",
                         text);
}
