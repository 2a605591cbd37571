/* metrics.c - metrics in registration order, each with a mutex and an array of series. */
#include "util/metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/alloc.h"
#include "util/error.h"

#define METRICS_MAX_LINE_BYTES                                                                     \
    (4 * METRICS_MAX_NAME_BYTES +                                                                  \
     METRICS_MAX_LABELS * (METRICS_MAX_NAME_BYTES + 2 * METRICS_MAX_LABEL_VALUE_BYTES + 4) +       \
     2 * METRICS_MAX_HELP_BYTES + 128)

#define DROPPED_NAME "lifeboat_metrics_series_dropped_total"
#define DROPPED_HELP "Updates refused because a metric reached its series cap, by metric."

typedef enum kind { KIND_COUNTER, KIND_GAUGE, KIND_HISTOGRAM, KIND_GAUGE_FUNC } kind;

typedef struct series {
    char **values;
    uint64_t hash;
    double value;     /* counter, gauge */
    uint64_t *counts; /* histogram: per bucket, not cumulative; [n_buckets] is +Inf */
    double sum;
    uint64_t count;
} series;

struct metrics_metric {
    metrics_registry *reg;
    kind kind;
    char *name;
    char *help;
    char **labels;
    size_t n_labels;
    double *buckets;
    size_t n_buckets;
    metrics_gauge_fn fn;
    void *payload;
    pthread_mutex_t mu;
    series *series;
    size_t n_series, series_alloc;
    uint64_t n_dropped; /* updates refused at the series cap */
    metrics_metric *next;
};

struct metrics_registry {
    pthread_mutex_t mu; /* the metric list */
    size_t max_series;
    metrics_metric *head, *tail;
};

/* ---- names --------------------------------------------------------------------------- */

static int name_ok(const char *s, int colons)
{
    if (s == NULL || s[0] == '\0' || strnlen(s, METRICS_MAX_NAME_BYTES) >= METRICS_MAX_NAME_BYTES)
        return 0;
    for (size_t i = 0; s[i]; i++) {
        char c = s[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                 (colons && c == ':') || (i > 0 && c >= '0' && c <= '9');
        if (!ok)
            return 0;
    }
    return 1;
}

static int check_definition(metrics_registry *reg, kind k, const char *name, const char *help,
                            const char *const *labels, size_t n_labels)
{
    if (!name_ok(name, 1))
        return lb_error_setc(LB_EINVALID,
                             "metrics: name \"%s\": must match [a-zA-Z_:][a-zA-Z0-9_:]* and be "
                             "shorter than %d bytes",
                             name != NULL ? name : "(null)", METRICS_MAX_NAME_BYTES);
    if (help == NULL || strnlen(help, METRICS_MAX_HELP_BYTES) >= METRICS_MAX_HELP_BYTES)
        return lb_error_setc(LB_EINVALID,
                             "metrics: %s: help: must be set and shorter than %d bytes", name,
                             METRICS_MAX_HELP_BYTES);
    if (n_labels > METRICS_MAX_LABELS)
        return lb_error_setc(LB_EINVALID, "metrics: %s: labels: more than METRICS_MAX_LABELS (%d)",
                             name, METRICS_MAX_LABELS);
    if (n_labels > 0 && labels == NULL)
        return lb_error_setc(LB_EINVALID, "metrics: %s: labels: NULL with %zu names", name,
                             n_labels);
    for (size_t i = 0; i < n_labels; i++) {
        if (!name_ok(labels[i], 0) || strncmp(labels[i], "__", 2) == 0)
            return lb_error_setc(LB_EINVALID,
                                 "metrics: %s: labels[%zu] \"%s\": must match "
                                 "[a-zA-Z_][a-zA-Z0-9_]* and not start with __",
                                 name, i, labels[i] != NULL ? labels[i] : "(null)");
        if (k == KIND_HISTOGRAM && strcmp(labels[i], "le") == 0)
            return lb_error_setc(
                LB_EINVALID, "metrics: %s: labels[%zu]: \"le\" is reserved in histograms", name, i);
        for (size_t j = 0; j < i; j++)
            if (strcmp(labels[i], labels[j]) == 0)
                return lb_error_setc(LB_EINVALID, "metrics: %s: labels[%zu] \"%s\": repeated", name,
                                     i, labels[i]);
    }
    for (metrics_metric *m = reg->head; m != NULL; m = m->next)
        if (strcmp(m->name, name) == 0)
            return lb_error_setc(LB_EINVALID, "metrics: name \"%s\": already registered", name);
    if (strcmp(DROPPED_NAME, name) == 0)
        return lb_error_setc(LB_EINVALID, "metrics: name \"%s\": reserved by the registry", name);
    return 0;
}

/* ---- registry ------------------------------------------------------------------------ */

static void metric_free(metrics_metric *m)
{
    for (size_t i = 0; i < m->n_series; i++) {
        for (size_t j = 0; j < m->n_labels; j++)
            free(m->series[i].values[j]);
        free(m->series[i].values);
        free(m->series[i].counts);
    }
    free(m->series);
    for (size_t j = 0; j < m->n_labels; j++)
        free(m->labels[j]);
    free(m->labels);
    free(m->buckets);
    free(m->name);
    free(m->help);
    pthread_mutex_destroy(&m->mu);
    free(m);
}

static int add_metric(metrics_metric **out, metrics_registry *reg, kind k, const char *name,
                      const char *help, const char *const *labels, size_t n_labels,
                      const double *buckets, size_t n_buckets)
{
    metrics_metric *m;
    int result;

    *out = NULL;
    pthread_mutex_lock(&reg->mu);
    result = check_definition(reg, k, name, help, labels, n_labels);
    if (result != 0)
        goto done;
    m = lb_calloc(1, sizeof(*m));
    m->reg = reg;
    m->kind = k;
    m->name = lb_strdup(name);
    m->help = lb_strdup(help);
    m->n_labels = n_labels;
    m->labels = lb_calloc(n_labels + 1, sizeof(*m->labels));
    for (size_t i = 0; i < n_labels; i++)
        m->labels[i] = lb_strdup(labels[i]);
    if (n_buckets > 0) {
        m->buckets = lb_calloc(n_buckets, sizeof(*m->buckets));
        memcpy(m->buckets, buckets, n_buckets * sizeof(*buckets));
        m->n_buckets = n_buckets;
    }
    pthread_mutex_init(&m->mu, NULL);
    if (reg->tail != NULL)
        reg->tail->next = m;
    else
        reg->head = m;
    reg->tail = m;
    *out = m;
done:
    pthread_mutex_unlock(&reg->mu);
    return result;
}

int metrics_registry_new(metrics_registry **out, size_t max_series)
{
    metrics_registry *reg = lb_calloc(1, sizeof(*reg));
    pthread_mutex_init(&reg->mu, NULL);
    reg->max_series = max_series != 0 ? max_series : METRICS_DEFAULT_MAX_SERIES;
    *out = reg;
    return 0;
}

void metrics_registry_free(metrics_registry *reg)
{
    metrics_metric *m;
    if (reg == NULL)
        return;
    m = reg->head;
    while (m != NULL) {
        metrics_metric *next = m->next;
        metric_free(m);
        m = next;
    }
    pthread_mutex_destroy(&reg->mu);
    free(reg);
}

int metrics_counter_new(metrics_metric **out, metrics_registry *reg, const char *name,
                        const char *help, const char *const *label_names, size_t n_labels)
{
    return add_metric(out, reg, KIND_COUNTER, name, help, label_names, n_labels, NULL, 0);
}

int metrics_gauge_new(metrics_metric **out, metrics_registry *reg, const char *name,
                      const char *help, const char *const *label_names, size_t n_labels)
{
    return add_metric(out, reg, KIND_GAUGE, name, help, label_names, n_labels, NULL, 0);
}

int metrics_histogram_new(metrics_metric **out, metrics_registry *reg, const char *name,
                          const char *help, const char *const *label_names, size_t n_labels,
                          const double *buckets, size_t n_buckets)
{
    static const double defaults[] = METRICS_DEFAULT_BUCKETS;
    if (buckets == NULL) {
        buckets = defaults;
        n_buckets = sizeof(defaults) / sizeof(defaults[0]);
    }
    *out = NULL;
    if (n_buckets == 0 || n_buckets > METRICS_MAX_BUCKETS)
        return lb_error_setc(LB_EINVALID, "metrics: %s: buckets: need 1..%d bounds, got %zu",
                             name != NULL ? name : "(null)", METRICS_MAX_BUCKETS, n_buckets);
    for (size_t i = 0; i < n_buckets; i++) {
        if (!isfinite(buckets[i]))
            return lb_error_setc(LB_EINVALID, "metrics: %s: buckets[%zu]: must be finite",
                                 name != NULL ? name : "(null)", i);
        if (i > 0 && !(buckets[i] > buckets[i - 1]))
            return lb_error_setc(LB_EINVALID,
                                 "metrics: %s: buckets[%zu]: must be greater than "
                                 "buckets[%zu]",
                                 name != NULL ? name : "(null)", i, i - 1);
    }
    return add_metric(out, reg, KIND_HISTOGRAM, name, help, label_names, n_labels, buckets,
                      n_buckets);
}

int metrics_gauge_func_new(metrics_metric **out, metrics_registry *reg, const char *name,
                           const char *help, metrics_gauge_fn fn, void *payload)
{
    int result;
    if (fn == NULL) {
        *out = NULL;
        return lb_error_setc(LB_EINVALID, "metrics: %s: fn: must not be NULL",
                             name != NULL ? name : "(null)");
    }
    result = add_metric(out, reg, KIND_GAUGE_FUNC, name, help, NULL, 0, NULL, 0);
    if (result == 0) {
        (*out)->fn = fn;
        (*out)->payload = payload;
    }
    return result;
}

/* ---- series -------------------------------------------------------------------------- */

static uint64_t hash_values(const char *const *values, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; values != NULL && i < n; i++) {
        for (const char *s = values[i]; *s; s++) {
            h ^= (unsigned char)*s;
            h *= 1099511628211ull;
        }
        h ^= 0xff; /* separator: ("ab","") differs from ("a","b") */
        h *= 1099511628211ull;
    }
    return h;
}

static int check_values(const metrics_metric *m, const char *const *values)
{
    if (m->n_labels > 0 && values == NULL)
        return lb_error_setc(LB_EINVALID, "metrics: %s: values: NULL, want %zu label values",
                             m->name, m->n_labels);
    for (size_t i = 0; i < m->n_labels; i++) {
        if (values[i] == NULL)
            return lb_error_setc(LB_EINVALID, "metrics: %s: label %s: value is NULL", m->name,
                                 m->labels[i]);
        if (strnlen(values[i], METRICS_MAX_LABEL_VALUE_BYTES + 1) > METRICS_MAX_LABEL_VALUE_BYTES)
            return lb_error_setc(LB_EINVALID,
                                 "metrics: %s: label %s: value longer than "
                                 "METRICS_MAX_LABEL_VALUE_BYTES (%d)",
                                 m->name, m->labels[i], METRICS_MAX_LABEL_VALUE_BYTES);
    }
    return 0;
}

/* Finds or creates the series (m->mu held). NULL with LB_ETOOBIG set at the cap. */
static series *find_series(metrics_metric *m, const char *const *values)
{
    uint64_t h = hash_values(values, m->n_labels);
    series *s;
    for (size_t i = 0; i < m->n_series; i++) {
        size_t j;
        s = &m->series[i];
        if (s->hash != h)
            continue;
        for (j = 0; values != NULL && j < m->n_labels && strcmp(s->values[j], values[j]) == 0; j++)
            ;
        if (j == m->n_labels)
            return s;
    }
    if (m->n_series >= m->reg->max_series) {
        lb_error_setc(LB_ETOOBIG, "metrics: %s: series: cap of %zu series reached", m->name,
                      m->reg->max_series);
        return NULL;
    }
    if (m->n_series == m->series_alloc) {
        m->series_alloc = m->series_alloc ? m->series_alloc * 2 : 4;
        if (m->series_alloc > m->reg->max_series)
            m->series_alloc = m->reg->max_series;
        m->series = lb_realloc(m->series, m->series_alloc * sizeof(*m->series));
    }
    s = &m->series[m->n_series++];
    memset(s, 0, sizeof(*s));
    s->hash = h;
    s->values = lb_calloc(m->n_labels + 1, sizeof(*s->values));
    for (size_t j = 0; values != NULL && j < m->n_labels; j++)
        s->values[j] = lb_strdup(values[j]);
    if (m->kind == KIND_HISTOGRAM)
        s->counts = lb_calloc(m->n_buckets + 1, sizeof(*s->counts));
    return s;
}

typedef enum op { OP_ADD, OP_SET, OP_OBSERVE } op;

static const char *kind_name(kind k)
{
    switch (k) {
    case KIND_COUNTER:
        return "counter";
    case KIND_HISTOGRAM:
        return "histogram";
    default:
        return "gauge";
    }
}

/* Applies one validated update to m's series for `values`. */
static int apply(metrics_metric *m, const char *const *values, op o, double v)
{
    series *s;
    int result = 0;

    pthread_mutex_lock(&m->mu);
    s = find_series(m, values);
    if (s == NULL) {
        m->n_dropped++;
        result = LB_ETOOBIG;
    } else if (o == OP_ADD) {
        s->value += v;
    } else if (o == OP_SET) {
        s->value = v;
    } else {
        size_t b = 0;
        while (b < m->n_buckets && !(v <= m->buckets[b]))
            b++;
        s->counts[b]++;
        s->sum += v;
        s->count++;
    }
    pthread_mutex_unlock(&m->mu);
    return result;
}

static int update(metrics_metric *m, const char *const *values, op o, double v, kind want)
{
    int result;

    if (m->kind != want)
        return lb_error_setc(LB_EINVALID, "metrics: %s: is a %s, not a %s", m->name,
                             kind_name(m->kind), kind_name(want));
    result = check_values(m, values);
    if (result != 0)
        return result;
    result = apply(m, values, o, v);
    return result;
}

int metrics_counter_add(metrics_metric *m, const char *const *values, double amount)
{
    if (!(amount >= 0))
        return lb_error_setc(LB_EINVALID, "metrics: %s: amount: a counter only goes up (got %g)",
                             m->name, amount);
    return update(m, values, OP_ADD, amount, KIND_COUNTER);
}

int metrics_counter_inc(metrics_metric *m, const char *const *values)
{
    return update(m, values, OP_ADD, 1, KIND_COUNTER);
}

int metrics_gauge_set(metrics_metric *m, const char *const *values, double value)
{
    return update(m, values, OP_SET, value, KIND_GAUGE);
}

int metrics_gauge_add(metrics_metric *m, const char *const *values, double amount)
{
    return update(m, values, OP_ADD, amount, KIND_GAUGE);
}

int metrics_histogram_observe(metrics_metric *m, const char *const *values, double value)
{
    if (isnan(value))
        return lb_error_setc(LB_EINVALID, "metrics: %s: value: NaN cannot be observed", m->name);
    return update(m, values, OP_OBSERVE, value, KIND_HISTOGRAM);
}

/* ---- rendering ----------------------------------------------------------------------- */

/* The shortest of %.1g .. %.17g that reads back as v (integer digits kept below 1e15). */
static void format_value(char *out, size_t size, double v)
{
    if (isnan(v)) {
        snprintf(out, size, "NaN");
        return;
    }
    if (isinf(v)) {
        snprintf(out, size, v > 0 ? "+Inf" : "-Inf");
        return;
    }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(out, size, "%.*g", prec, v);
        if (strtod(out, NULL) == v) {
            /* Below 1e15 print every integer digit ("10", not "1e+01"): counters read better. */
            double a = fabs(v);
            int int_digits = a >= 1 && a < 1e15 ? (int)floor(log10(a)) + 1 : 0;
            if (int_digits > prec)
                snprintf(out, size, "%.*g", int_digits, v);
            return;
        }
    }
}

static int append_escaped(lb_buf *b, const char *s, int quotes)
{
    for (; *s; s++) {
        int rc;
        if (*s == '\\')
            rc = buf_append(b, "\\\\", 2);
        else if (*s == '\n')
            rc = buf_append(b, "\\n", 2);
        else if (quotes && *s == '"')
            rc = buf_append(b, "\\\"", 2);
        else
            rc = buf_append(b, s, 1);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* One sample line: name{labels[,le="..."]} value */
static int sample_line(lb_buf *line, const metrics_metric *m, const char *suffix, const series *s,
                       const char *le, double value)
{
    char num[40];
    int rc = buf_printf(line, "%s%s", m->name, suffix);
    size_t n = 0;
    for (size_t i = 0; rc == 0 && s->values != NULL && i < m->n_labels; i++, n++) {
        rc = buf_printf(line, "%s%s=\"", n == 0 ? "{" : ",", m->labels[i]);
        if (rc == 0)
            rc = append_escaped(line, s->values[i], 1);
        if (rc == 0)
            rc = buf_append(line, "\"", 1);
    }
    if (rc == 0 && le != NULL) {
        rc = buf_printf(line, "%sle=\"%s\"", n == 0 ? "{" : ",", le);
        n++;
    }
    if (rc == 0 && n > 0)
        rc = buf_append(line, "}", 1);
    format_value(num, sizeof(num), value);
    if (rc == 0)
        rc = buf_printf(line, " %s\n", num);
    return rc;
}

/* Appends a completed line to out, or fails leaving out unchanged. */
static int flush_line(lb_buf *out, lb_buf *line)
{
    int rc = buf_append(out, buf_cstr(line), buf_len(line));
    buf_reset(line);
    if (rc != 0)
        lb_error_setc(LB_ETOOBIG, "metrics: render: output cap of %zu bytes reached", out->max);
    return rc;
}

static int render_metric(lb_buf *out, lb_buf *line, metrics_metric *m)
{
    int rc = 0;
    pthread_mutex_lock(&m->mu);
    if (m->kind == KIND_GAUGE_FUNC) {
        double v = m->fn(m->payload);
        rc = buf_printf(line, "# HELP %s ", m->name);
        if (rc == 0)
            rc = append_escaped(line, m->help, 0);
        if (rc == 0)
            rc = buf_printf(line, "\n# TYPE %s gauge\n", m->name);
        if (rc == 0) {
            series none = {0};
            rc = sample_line(line, m, "", &none, NULL, v);
        }
        if (rc == 0)
            rc = flush_line(out, line);
        goto done;
    }
    if (m->n_labels == 0 && m->n_series == 0 && find_series(m, NULL) == NULL) {
        rc = LB_ETOOBIG;
        goto done;
    }
    rc = buf_printf(line, "# HELP %s ", m->name);
    if (rc == 0)
        rc = append_escaped(line, m->help, 0);
    if (rc == 0)
        rc = buf_printf(line, "\n# TYPE %s %s\n", m->name, kind_name(m->kind));
    if (rc == 0)
        rc = flush_line(out, line);
    for (size_t i = 0; rc == 0 && i < m->n_series; i++) {
        const series *s = &m->series[i];
        if (m->kind != KIND_HISTOGRAM) {
            rc = sample_line(line, m, "", s, NULL, s->value);
        } else {
            uint64_t cumulative = 0;
            char le[40];
            for (size_t b = 0; rc == 0 && b <= m->n_buckets; b++) {
                cumulative += s->counts[b];
                if (b < m->n_buckets)
                    format_value(le, sizeof(le), m->buckets[b]);
                else
                    snprintf(le, sizeof(le), "+Inf");
                rc = sample_line(line, m, "_bucket", s, le, (double)cumulative);
            }
            if (rc == 0)
                rc = sample_line(line, m, "_sum", s, NULL, s->sum);
            if (rc == 0)
                rc = sample_line(line, m, "_count", s, NULL, (double)s->count);
        }
        if (rc == 0)
            rc = flush_line(out, line);
    }
done:
    pthread_mutex_unlock(&m->mu);
    if (rc != 0 && rc != LB_ETOOBIG)
        rc =
            lb_error_setc(LB_ETOOBIG, "metrics: render: output cap of %zu bytes reached", out->max);
    return rc;
}

/* lifeboat_metrics_series_dropped_total{metric="..."}: one series per metric that dropped. */
static int render_dropped(lb_buf *out, lb_buf *line, metrics_registry *reg)
{
    int rc = 0, header = 0;
    metrics_metric *m;
    pthread_mutex_lock(&reg->mu);
    m = reg->head;
    pthread_mutex_unlock(&reg->mu);
    while (m != NULL && rc == 0) {
        uint64_t n;
        pthread_mutex_lock(&m->mu);
        n = m->n_dropped;
        pthread_mutex_unlock(&m->mu);
        if (n > 0 && !header) {
            rc = buf_printf(line, "# HELP %s %s\n# TYPE %s counter\n", DROPPED_NAME, DROPPED_HELP,
                            DROPPED_NAME);
            header = 1;
        }
        if (n > 0 && rc == 0) {
            rc = buf_printf(line, "%s{metric=\"%s\"} %llu\n", DROPPED_NAME, m->name,
                            (unsigned long long)n);
            if (rc == 0)
                rc = flush_line(out, line);
        }
        pthread_mutex_lock(&reg->mu);
        m = m->next;
        pthread_mutex_unlock(&reg->mu);
    }
    return rc;
}

int metrics_render(lb_buf *out, metrics_registry *reg)
{
    lb_buf line;
    int result = 0;
    metrics_metric *m;

    buf_init(&line, METRICS_MAX_LINE_BYTES);
    pthread_mutex_lock(&reg->mu);
    m = reg->head;
    pthread_mutex_unlock(&reg->mu);
    /* Metrics are only ever appended, so walking the list needs the lock only for `next`. */
    while (m != NULL && result == 0) {
        result = render_metric(out, &line, m);
        pthread_mutex_lock(&reg->mu);
        m = m->next;
        pthread_mutex_unlock(&reg->mu);
    }
    if (result == 0)
        result = render_dropped(out, &line, reg);
    buf_dispose(&line);
    return result;
}

int metrics_serve(lb_buf *out_body, const char **out_type, void *payload)
{
    int rc;
    *out_type = METRICS_CONTENT_TYPE;
    rc = metrics_render(out_body, payload);
    return rc == 0 ? 200 : rc;
}
