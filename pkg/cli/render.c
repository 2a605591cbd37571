/* render.c - aligned tables of Lifeboat objects for kubectl-lifeboat. */
#include "cli/render.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/alloc.h"
#include "util/error.h"

#define MAX_COLS 10
#define MAX_CELL 96 /* a longer value is cut with "..." (the whole is in -o json) */

#define BOLD "\033[1m"
#define RED "\033[31m"
#define GREEN "\033[32m"
#define YELLOW "\033[33m"
#define RESET "\033[0m"

typedef struct table {
    size_t ncols, nrows, cap;
    char **cells;              /* nrows * ncols, row-major */
    const char **colors;       /* one per row: an ANSI prefix or NULL */
    size_t width[MAX_COLS];
} table;

static const char *str(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s != NULL ? s : "";
}

/* A copy of s fit for a terminal: control characters (a tenant's message could
 * carry escape sequences) become spaces, and it is cut at MAX_CELL bytes. */
static char *cell_text(const char *s)
{
    size_t n = strlen(s), keep = n > MAX_CELL ? MAX_CELL - 3 : n;
    char *c = lb_malloc(keep + 4);
    for (size_t i = 0; i < keep; i++) {
        unsigned char ch = (unsigned char)s[i];
        c[i] = (ch < 0x20 || ch == 0x7f) ? ' ' : (char)ch;
    }
    if (keep < n)
        memcpy(c + keep, "...", 3), keep += 3;
    c[keep] = '\0';
    return c;
}

static void table_init(table *t, size_t ncols)
{
    memset(t, 0, sizeof(*t));
    t->ncols = ncols;
}

static void table_row(table *t, const char *color, const char *const *vals)
{
    if (t->nrows == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 8;
        t->cells = lb_realloc(t->cells, t->cap * t->ncols * sizeof(char *));
        t->colors = lb_realloc(t->colors, t->cap * sizeof(char *));
    }
    for (size_t i = 0; i < t->ncols; i++) {
        char *c = cell_text(vals[i] != NULL ? vals[i] : "");
        size_t w = strlen(c);
        t->cells[t->nrows * t->ncols + i] = c;
        if (w > t->width[i])
            t->width[i] = w;
    }
    t->colors[t->nrows++] = color;
}

/* Writes the table; the last column is not padded. Frees the cells. */
static int table_flush(table *t, lb_buf *out, cli_style style)
{
    int rc = 0;
    for (size_t r = 0; r < t->nrows; r++) {
        const char *color = style == CLI_COLOR ? t->colors[r] : NULL;
        if (color != NULL && rc == 0)
            rc = buf_append_str(out, color);
        for (size_t i = 0; i < t->ncols; i++) {
            const char *c = t->cells[r * t->ncols + i];
            if (rc == 0)
                rc = i + 1 < t->ncols ? buf_printf(out, "%-*s   ", (int)t->width[i], c)
                                      : buf_printf(out, "%s", c);
            free(t->cells[r * t->ncols + i]);
        }
        if (color != NULL && rc == 0)
            rc = buf_append_str(out, RESET);
        if (rc == 0)
            rc = buf_append_str(out, "\n");
    }
    free(t->cells);
    free(t->colors);
    memset(t, 0, sizeof(*t));
    return rc;
}

void cli_format_age(char *out, size_t size, long long s)
{
    if (s < 0)
        snprintf(out, size, "-");
    else if (s < 60)
        snprintf(out, size, "%llds", s);
    else if (s < 3600)
        snprintf(out, size, "%lldm%02llds", s / 60, s % 60);
    else if (s < 86400)
        snprintf(out, size, "%lldh%02lldm", s / 3600, (s % 3600) / 60);
    else
        snprintf(out, size, "%lldd%02lldh", s / 86400, (s % 86400) / 3600);
}

int cli_phase_is_final(const char *phase)
{
    return phase != NULL && (strcmp(phase, "Succeeded") == 0 || strcmp(phase, "Failed") == 0 ||
                             strcmp(phase, "RolledBack") == 0);
}

/* Seconds from RFC 3339 `from` to `to` (or to now when `to` is empty); -1 if unknown. */
static long long seconds_between(const char *from, const char *to, lb_time now)
{
    lb_time a, b = now;
    int64_t na, nb;
    if (from[0] == '\0' || lb_time_parse_rfc3339(&a, from) != 0)
        return -1;
    if (to[0] != '\0' && lb_time_parse_rfc3339(&b, to) != 0)
        return -1;
    if (lb_time_to_ns(&na, a) != 0 || lb_time_to_ns(&nb, b) != 0)
        return -1;
    return nb >= na ? (long long)((nb - na) / 1000000000LL) : -1;
}

static const char *phase_color(const char *phase)
{
    if (strcmp(phase, "Succeeded") == 0 || strcmp(phase, "Passed") == 0)
        return GREEN;
    if (strcmp(phase, "Failed") == 0 || strcmp(phase, "RolledBack") == 0)
        return RED;
    if (strcmp(phase, "AwaitingApproval") == 0)
        return YELLOW;
    return NULL;
}

int cli_render_plan(lb_buf *out, const json_t *rr, cli_style style)
{
    const json_t *st = json_object_get(rr, "status");
    const json_t *plan = json_object_get(st, "plan");
    const json_t *md = json_object_get(rr, "metadata");
    const char *phase = str(st, "phase");
    table t;
    size_t i, n_destructive = 0;
    json_t *step;
    int rc;

    rc = buf_printf(out, "%s/%s: phase %s\n", str(md, "namespace"), str(md, "name"),
                    phase[0] ? phase : "(none yet)");
    if (rc != 0)
        return rc;
    if (!json_is_array(plan) || json_array_size(plan) == 0)
        return buf_append_str(out, "no plan published yet (the operator has not validated it)\n");
    table_init(&t, 5);
    table_row(&t, NULL, (const char *const[]){"ORDER", "ITEM", "ACTION", "DESTRUCTIVE", "DESCRIPTION"});
    json_array_foreach(plan, i, step) {
        char order[24];
        int destructive = json_is_true(json_object_get(step, "destructive"));
        snprintf(order, sizeof(order), "%zu", i + 1);
        n_destructive += destructive;
        table_row(&t, destructive ? BOLD : NULL,
                  (const char *const[]){order, str(step, "item"), str(step, "action"),
                                        destructive ? "yes" : "no", str(step, "description")});
    }
    rc = table_flush(&t, out, style);
    if (rc == 0 && strcmp(phase, "AwaitingApproval") == 0) {
        const char *hash = str(st, "planHash");
        rc = buf_printf(out, "\nApproval releases %zu destructive step%s.%s%s\n", n_destructive,
                        n_destructive == 1 ? "" : "s", hash[0] ? " Plan hash: " : "", hash);
    }
    return rc;
}

int cli_render_timeline(lb_buf *out, const json_t *rr, lb_time now, cli_style style)
{
    const json_t *st = json_object_get(rr, "status");
    const json_t *steps = json_object_get(st, "steps");
    const json_t *md = json_object_get(rr, "metadata");
    const char *current = str(st, "currentStep"), *phase = str(st, "phase");
    table t;
    size_t i;
    json_t *s;
    int rc;

    {
        char *m = cell_text(str(st, "message"));
        rc = buf_printf(out, "%s/%s: %s%s%s\n", str(md, "namespace"), str(md, "name"),
                        phase[0] ? phase : "Pending", m[0] ? ": " : "", m);
        free(m);
    }
    if (rc != 0)
        return rc;
    if (!json_is_array(steps) || json_array_size(steps) == 0)
        return buf_append_str(out, "no step has started\n");
    table_init(&t, 6);
    table_row(&t, NULL, (const char *const[]){"", "STEP", "PHASE", "STARTED", "DURATION", "MESSAGE"});
    json_array_foreach(steps, i, s) {
        const char *name = str(s, "name"), *sp = str(s, "phase"), *started = str(s, "startedAt");
        const char *finished = str(s, "finishedAt");
        int is_current = current[0] != '\0' && strcmp(name, current) == 0 && !cli_phase_is_final(phase);
        char dur[32];
        long long secs = seconds_between(started, finished, now);
        cli_format_age(dur, sizeof(dur), secs);
        table_row(&t, is_current ? BOLD : phase_color(sp),
                  (const char *const[]){is_current ? ">" : "", name, sp, started, dur,
                                        str(s, "message")});
    }
    return table_flush(&t, out, style);
}

/* NOTE column: what an on-call person must notice. */
static void status_note(char *out, size_t size, const json_t *obj, const char *kind)
{
    const json_t *st = json_object_get(obj, "status");
    const json_t *conds = json_object_get(st, "conditions");
    size_t i;
    json_t *c;
    out[0] = '\0';
    if (strcmp(kind, "RestoreRequest") == 0 && strcmp(str(st, "phase"), "AwaitingApproval") == 0) {
        snprintf(out, size, "waiting for approval");
        return;
    }
    json_array_foreach(conds, i, c) {
        const char *type = str(c, "type");
        if (strcmp(str(c, "status"), "True") == 0 &&
            (strcmp(type, "BackupStale") == 0 || strcmp(type, "BackupFailed") == 0 ||
             strcmp(type, "ConfigDrift") == 0)) {
            snprintf(out, size, "%s: %s", type, str(c, "message"));
            return;
        }
        if (strcmp(type, "Valid") == 0 && strcmp(str(c, "status"), "False") == 0) {
            snprintf(out, size, "invalid: %s", str(c, "message"));
            return;
        }
    }
}

static void seconds_text(char *out, size_t size, const json_t *v)
{
    if (json_is_number(v))
        cli_format_age(out, size, (long long)json_number_value(v));
    else
        snprintf(out, size, "-");
}

int cli_render_status(lb_buf *out, const json_t *const *objs, size_t n, lb_time now,
                      int with_namespace, cli_style style)
{
    table t;
    if (n == 0)
        return buf_append_str(out, "no Lifeboat objects found\n");
    table_init(&t, with_namespace ? 9 : 8);
    {
        const char *h[] = {"NAMESPACE", "KIND", "NAME", "PHASE", "STEP", "AGE", "RTO", "RPO", "NOTE"};
        table_row(&t, NULL, with_namespace ? h : h + 1);
    }
    for (size_t i = 0; i < n; i++) {
        const json_t *o = objs[i], *md = json_object_get(o, "metadata");
        const json_t *st = json_object_get(o, "status");
        const json_t *measured = json_object_get(st, "measured");
        const char *kind = str(o, "kind");
        char age[32], rto[32], rpo[32], note[512];
        const char *row[9];
        size_t k = 0;
        cli_format_age(age, sizeof(age),
                       seconds_between(str(md, "creationTimestamp"), "", now));
        seconds_text(rto, sizeof(rto), json_object_get(measured, "rtoSeconds"));
        seconds_text(rpo, sizeof(rpo), json_object_get(measured, "rpoSeconds"));
        status_note(note, sizeof(note), o, kind);
        if (with_namespace)
            row[k++] = str(md, "namespace");
        row[k++] = kind;
        row[k++] = str(md, "name");
        row[k++] = str(st, "phase")[0] ? str(st, "phase") : "-";
        row[k++] = str(st, "currentStep")[0] ? str(st, "currentStep") : "-";
        row[k++] = age;
        row[k++] = rto;
        row[k++] = rpo;
        row[k++] = note;
        table_row(&t, phase_color(str(st, "phase")), row);
    }
    return table_flush(&t, out, style);
}
