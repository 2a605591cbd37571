#include "util/log.h"

#include "util/alloc.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/timeutil.h"

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define LOG_MAX_LINE (1024 * 1024) /* one line, all fields included */
#define REDACTED     "[REDACTED]"
#define TRUNCATED    "...[truncated]"

_Atomic int lb_log__min_level = LB_LOG_LEVEL_INFO;
static FILE *log_out;
static lb_log_format log_format = LB_LOG_FORMAT_JSON;

static const char *const level_names[] = {"debug", "info", "warn", "error"};
static const char *const level_labels[] = {"DEBUG", "INFO", "WARN", "ERROR"};
static const char *const sensitive_words[] = {
    "password",   "passwd",  "pwd",           "token",      "secret", "key",
    "credential", "session", "authorization", "passphrase", "cookie"};

void lb_log_init(FILE *out, lb_log_level level, lb_log_format format)
{
    log_out = out;
    log_format = format;
    lb_log_set_level(level);
}

void lb_log_set_level(lb_log_level level)
{
    atomic_store_explicit(&lb_log__min_level, (int)level, memory_order_relaxed);
}

int lb_log_level_parse(lb_log_level *out, const char *s)
{
    for (int i = 0; i < 4; i++) {
        if (strcmp(s, level_names[i]) == 0) {
            *out = (lb_log_level)i;
            return 0;
        }
    }
    if (strcmp(s, "warning") == 0) {
        *out = LB_LOG_LEVEL_WARN;
        return 0;
    }
    return lb_error_setc(LB_EINVALID,
                         "log level: must be debug, info, warn or error, got \"%.32s\"", s);
}

int lb_log_format_parse(lb_log_format *out, const char *s)
{
    if (strcmp(s, "json") == 0) {
        *out = LB_LOG_FORMAT_JSON;
        return 0;
    }
    if (strcmp(s, "text") == 0) {
        *out = LB_LOG_FORMAT_TEXT;
        return 0;
    }
    return lb_error_setc(LB_EINVALID, "log format: must be json or text, got \"%.32s\"", s);
}

const char *lb_log__int(char *buf, size_t size, long long v)
{
    snprintf(buf, size, "%lld", v);
    return buf;
}

static char lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

static bool has_word_ci(const char *s, size_t n, const char *word)
{
    size_t wl = strlen(word);
    for (size_t i = 0; i + wl <= n; i++) {
        size_t j = 0;
        while (j < wl && lower(s[i + j]) == word[j])
            j++;
        if (j == wl)
            return true;
    }
    return false;
}

static bool name_is_sensitive(const char *s, size_t n)
{
    for (size_t i = 0; i < sizeof(sensitive_words) / sizeof(sensitive_words[0]); i++) {
        if (has_word_ci(s, n, sensitive_words[i]))
            return true;
    }
    return false;
}

bool lb_log_key_is_sensitive(const char *key)
{
    return key != NULL && name_is_sensitive(key, strlen(key));
}

/* ---- redaction --------------------------------------------------------- */

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static bool is_name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-' || c == '.';
}

/* At s[i] == "://": returns the index where the URL's password ends (its '@')
 * and sets *pw to where it starts, or returns 0 when there is none. */
static size_t userinfo_password(size_t *pw, const char *s, size_t i)
{
    size_t start = i + 3, end = start, at = 0, colon = 0, j;

    while (s[end] != '\0' && s[end] != '/' && s[end] != '?' && s[end] != '#' && !is_space(s[end]))
        end++;
    for (j = start; j < end; j++) {
        if (s[j] == '@')
            at = j;
    }
    if (at == 0) {
        /* A password holding an unescaped '/', '?', '#' or a space ends the
         * authority early; if `user:` is followed by an '@' later on the same
         * line, redact up to the last such '@' (unless what follows the colon
         * is a port: digits then '/', '?', '#' or the end). */
        for (j = start; s[j] != '\0' && s[j] != '\n' && s[j] != '\r'; j++) {
            if (s[j] == '@')
                at = j;
        }
    }
    if (at == 0)
        return 0;
    for (j = start; j < at; j++) {
        if (s[j] == ':') {
            colon = j;
            break;
        }
        if (s[j] == '/' || s[j] == '?' || s[j] == '#' || s[j] == '@' || is_space(s[j]))
            return 0;
    }
    if (colon == 0)
        return 0;
    if (at > end) {
        size_t d = colon + 1;
        while (s[d] >= '0' && s[d] <= '9')
            d++;
        if (d > colon + 1 && s[d] != '@' && !is_space(s[d]))
            return 0; /* host:port/..., an '@' further on is not this URL's */
    }
    *pw = colon + 1;
    return at;
}

/* The end of a `name=` value starting at s[i]: a libpq single-quoted value
 * (with backslash escapes), or up to whitespace (and, in a query string, up
 * to '&' or '#'). */
static size_t value_end(const char *s, size_t i, bool query)
{
    if (!query && s[i] == '\'') {
        i++;
        while (s[i] != '\0' && s[i] != '\'') {
            if (s[i] == '\\' && s[i + 1] != '\0')
                i++;
            i++;
        }
        return s[i] == '\'' ? i + 1 : i;
    }
    while (s[i] != '\0' && !is_space(s[i]) && !(query && (s[i] == '&' || s[i] == '#')))
        i++;
    return i;
}

/* The end of a double-quoted JSON string value starting at s[i] == '"': the
 * index of its closing quote (or the end of s). */
static size_t json_string_end(const char *s, size_t i)
{
    i++;
    while (s[i] != '\0' && s[i] != '"') {
        if (s[i] == '\\' && s[i + 1] != '\0')
            i++;
        i++;
    }
    return i;
}

/* At a sensitive name s[i..end): finds `=` or `:` after it, in the forms
 *   name=v  name = v  name: v  "name":"v"  "name": v  'name': 'v'
 * (a bare `name:v` is not taken: `secretsmanager:GetSecretValue` and ARNs are
 * not secrets). Sets *vstart and *vend to the value to replace and returns true. */
static bool sensitive_value(size_t *vstart, size_t *vend, const char *s, size_t i, size_t end)
{
    char q = i > 0 ? s[i - 1] : '\0';
    bool quoted = (q == '"' || q == '\'') && s[end] == q;
    bool query = i > 0 && (s[i - 1] == '?' || s[i - 1] == '&');
    bool auth =
        has_word_ci(s + i, end - i, "authorization") || has_word_ci(s + i, end - i, "cookie");
    size_t j = quoted ? end + 1 : end, k;

    while (s[j] == ' ' || s[j] == '\t')
        j++;
    if (s[j] == '=') {
        /* name=v as before; spaces around '=' too */
    } else if (s[j] == ':' && (quoted || s[j + 1] == ' ' || s[j + 1] == '\t')) {
        /* YAML / JSON / HTTP header */
    } else {
        return false;
    }
    k = j + 1;
    if (s[j] == ':' || k > end + 1 || s[k] == ' ')
        while (s[k] == ' ' || s[k] == '\t')
            k++;
    if (s[k] == '"') {
        *vstart = k + 1;
        *vend = json_string_end(s, k);
        return true;
    }
    *vstart = k;
    if (auth) {
        /* "Authorization: Bearer x", "AWS4-HMAC-SHA256 Credential=.. Signature=..":
         * the rest of the line */
        while (s[k] != '\0' && s[k] != '\n' && s[k] != '\r')
            k++;
        *vend = k;
        return true;
    }
    if (quoted && s[k] == q && q == '\'') {
        size_t e = k + 1;
        while (s[e] != '\0' && s[e] != '\'')
            e++;
        *vstart = k + 1;
        *vend = e;
        return true;
    }
    *vend = value_end(s, k, query);
    /* a JSON/YAML value ends at ',' or '}' too */
    if (s[j] == ':') {
        for (size_t e = k; e < *vend; e++) {
            if (s[e] == ',' || s[e] == '}') {
                *vend = e;
                break;
            }
        }
    }
    return true;
}

/* Copies s into out with secrets replaced; unchanged runs are copied whole. */
static void redact_into(lb_buf *out, const char *s)
{
    size_t i = 0, copied = 0;

    while (s[i] != '\0') {
        if (s[i] == ':' && s[i + 1] == '/' && s[i + 2] == '/') {
            size_t pw = 0;
            size_t at = userinfo_password(&pw, s, i);
            if (at != 0) {
                buf_append(out, s + copied, pw - copied);
                buf_append_str(out, REDACTED);
                i = copied = at;
                continue;
            }
        }
        if (is_name_char(s[i]) && (i == 0 || !is_name_char(s[i - 1]))) {
            size_t end = i, vs, ve;
            while (is_name_char(s[end]))
                end++;
            if (name_is_sensitive(s + i, end - i) && sensitive_value(&vs, &ve, s, i, end)) {
                buf_append(out, s + copied, vs - copied);
                buf_append_str(out, REDACTED);
                i = copied = ve;
                continue;
            }
            i = end;
            continue;
        }
        i++;
    }
    buf_append(out, s + copied, i - copied);
}

char *lb_log_redact_url(const char *s)
{
    lb_buf out;
    size_t len = strlen(s);
    /* Each redaction adds at most strlen(REDACTED) bytes per 2 input bytes. */
    buf_init(&out, len * (sizeof(REDACTED) + 1) + 64);
    redact_into(&out, s);
    return buf_detach(&out, NULL);
}

/* ---- line building ----------------------------------------------------- */

/* Length of the valid UTF-8 sequence at s (n bytes left), or 0. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    size_t len;
    unsigned char lo = 0x80, hi = 0xbf;

    if (s[0] < 0x80)
        return 1;
    if (s[0] >= 0xc2 && s[0] <= 0xdf)
        len = 2;
    else if (s[0] >= 0xe0 && s[0] <= 0xef)
        len = 3;
    else if (s[0] >= 0xf0 && s[0] <= 0xf4)
        len = 4;
    else
        return 0;
    if (s[0] == 0xe0)
        lo = 0xa0;
    else if (s[0] == 0xed)
        hi = 0x9f;
    else if (s[0] == 0xf0)
        lo = 0x90;
    else if (s[0] == 0xf4)
        hi = 0x8f;
    if (n < len || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++) {
        if (s[i] < 0x80 || s[i] > 0xbf)
            return 0;
    }
    return len;
}

/* The value as logged: redacted, cut to LB_LOG_MAX_VALUE bytes, and valid
 * UTF-8 (invalid bytes become U+FFFD). The caller frees it. */
static char *clean_value(const char *v)
{
    char *red = lb_log_redact_url(v);
    size_t n = strlen(red);
    bool cut = n > LB_LOG_MAX_VALUE;
    lb_buf out;

    if (cut)
        n = LB_LOG_MAX_VALUE;
    buf_init(&out, n * 3 + sizeof(TRUNCATED));
    for (size_t i = 0, run = 0; i <= n;) {
        size_t len = i < n ? utf8_seq((const unsigned char *)red + i, n - i) : 0;
        if (len != 0) {
            i += len;
            continue;
        }
        buf_append(&out, red + run, i - run);
        if (i == n)
            break;
        buf_append_str(&out, "\xef\xbf\xbd");
        run = ++i;
    }
    if (cut)
        buf_append_str(&out, TRUNCATED);
    free(red);
    return buf_detach(&out, NULL);
}

static int dump_to_buf(const char *data, size_t size, void *payload)
{
    return buf_append(payload, data, size) == 0 ? 0 : -1;
}

/* Appends s as a JSON string literal, quoted by jansson. */
static int append_quoted(lb_buf *line, const char *s)
{
    json_t *j = json_string(s);
    int rc = j != NULL ? json_dump_callback(j, dump_to_buf, line, JSON_ENCODE_ANY) : -1;
    json_decref(j);
    return rc;
}

static bool is_bare_text(const char *s)
{
    if (*s == '\0')
        return false;
    for (; *s != '\0'; s++) {
        char c = *s;
        if (!is_name_char(c) && c != '/' && c != ':' && c != '@' && c != '+' && c != ',')
            return false;
    }
    return true;
}

static int build_text(lb_buf *line, const char *ts, lb_log_level level, const char *const *args,
                      size_t n)
{
    char *msg = clean_value(args[0] != NULL ? args[0] : "");
    bool plain = true;
    int rc;

    for (const char *p = msg; *p != '\0'; p++) {
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            plain = false;
    }
    rc = buf_printf(line, "%s %-5s ", ts, level_labels[level]);
    if (rc == 0)
        rc = plain ? buf_append_str(line, msg) : append_quoted(line, msg);
    free(msg);
    for (size_t i = 1; rc == 0 && i < n; i += 2) {
        const char *key = args[i];
        const char *val = i + 1 < n ? args[i + 1] : NULL;
        char *clean;
        if (key == NULL)
            continue;
        clean = lb_log_key_is_sensitive(key) ? lb_strdup(REDACTED)
                                             : clean_value(val != NULL ? val : "null");
        rc = buf_printf(line, " %s=", key);
        if (rc == 0)
            rc = is_bare_text(clean) ? buf_append_str(line, clean) : append_quoted(line, clean);
        free(clean);
    }
    return rc;
}

static int build_json(lb_buf *line, const char *ts, lb_log_level level, const char *const *args,
                      size_t n)
{
    json_t *o = json_object();
    char *msg = clean_value(args[0] != NULL ? args[0] : "");
    int rc;

    json_object_set_new(o, "ts", json_string(ts));
    json_object_set_new(o, "level", json_string(level_names[level]));
    json_object_set_new(o, "msg", json_string(msg));
    free(msg);
    for (size_t i = 1; i < n; i += 2) {
        const char *key = args[i];
        const char *val = i + 1 < n ? args[i + 1] : NULL;
        char *k;
        json_t *jv;
        if (key == NULL)
            continue;
        if (strcmp(key, "ts") == 0 || strcmp(key, "level") == 0 || strcmp(key, "msg") == 0)
            k = lb_sprintf("_%s", key);
        else
            k = clean_value(key);
        if (lb_log_key_is_sensitive(key)) {
            jv = json_string(REDACTED);
        } else if (val == NULL) {
            jv = json_null();
        } else {
            char *clean = clean_value(val);
            jv = json_string(clean);
            free(clean);
        }
        json_object_set_new(o, k, jv);
        free(k);
    }
    rc = json_dump_callback(o, dump_to_buf, line, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    return rc;
}

void lb_log_write(lb_log_level level, const char *const *args, size_t n)
{
    char saved_error[LB_ERROR_MAX];
    char ts[LB_TIME_RFC3339_MAX];
    FILE *out = log_out != NULL ? log_out : stderr;
    lb_buf line;
    int rc;

    if ((int)level < LB_LOG_LEVEL_DEBUG || (int)level > LB_LOG_LEVEL_ERROR || n == 0)
        return;
    /* Logging must not disturb the caller's error message, which is often
     * one of the arguments. */
    snprintf(saved_error, sizeof(saved_error), "%s", lb_error_last());
    if (lb_time_format(ts, sizeof(ts), lb_time_now(), 3) != 0)
        snprintf(ts, sizeof(ts), "0000-00-00T00:00:00.000Z");
    buf_init(&line, LOG_MAX_LINE);
    if (log_format == LB_LOG_FORMAT_TEXT)
        rc = build_text(&line, ts, level, args, n);
    else
        rc = build_json(&line, ts, level, args, n);
    if (rc != 0) {
        buf_reset(&line);
        buf_printf(&line,
                   "{\"ts\":\"%s\",\"level\":\"error\",\"msg\":\"log line dropped: "
                   "longer than %d bytes\"}",
                   ts, LOG_MAX_LINE);
    }
    buf_append(&line, "\n", 1);
    flockfile(out);
    fwrite(buf_cstr(&line), 1, buf_len(&line), out);
    fflush(out);
    funlockfile(out);
    buf_dispose(&line);
    if (strcmp(saved_error, lb_error_last()) != 0)
        lb_error_set("%s", saved_error);
}
