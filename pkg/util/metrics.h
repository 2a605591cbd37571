/* metrics.h - a small Prometheus registry: counters, gauges, histograms.
 *
 *     metrics_registry *reg;
 *     metrics_metric *reconciles, *durations;
 *     static const char *const labels[] = {"controller", "result"};
 *     metrics_registry_new(&reg, 0);
 *     metrics_counter_new(&reconciles, reg, "lifeboat_reconcile_total",
 *                         "Reconciles by controller and result.", labels, 2);
 *     metrics_histogram_new(&durations, reg, "lifeboat_reconcile_duration_seconds",
 *                           "Reconcile durations.", labels, 1, NULL, 0);
 *     metrics_counter_inc(reconciles, (const char *const[]){"restore", "success"});
 *     metrics_histogram_observe(durations, (const char *const[]){"restore"}, 0.042);
 *     ...
 *     metrics_render(&body, reg);   // text exposition format 0.0.4
 *
 * Each metric has a fixed list of label names; a series is one tuple of label
 * values, created on first use. The number of series per metric is capped
 * (metrics_registry_new's max_series, default METRICS_DEFAULT_MAX_SERIES) so a
 * label fed from user input (a namespace, say) cannot grow memory without
 * bound: past the cap, updates of new series fail with LB_ETOOBIG and are
 * counted in `lifeboat_metrics_series_dropped_total{metric="<name>"}`, which
 * the registry renders last (once some metric has dropped an update); that
 * name is reserved.
 *
 * Rendering: metrics in registration order, series in creation order; a
 * labelled metric with no series yet shows its HELP and TYPE lines only (so a
 * scrape lists every family the operator exports, and a test can check alert
 * rules and dashboards against it before each family has samples); an
 * unlabelled one always shows its sample. Values print as the shortest decimal that reads
 * back to the same double ("1", "0.25", "1e+300", "+Inf", "-Inf", "NaN").
 * HELP text escapes `\` and newline; label values escape `\`, `"` and newline.
 *
 * Thread safety: metric creation and updates may run on any thread at any
 * time, also while another thread renders. Metric handles are borrowed from
 * the registry and valid until metrics_registry_free().
 */
#ifndef LB_UTIL_METRICS_H
#define LB_UTIL_METRICS_H

#include <stddef.h>

#include "util/buf.h"

#define METRICS_DEFAULT_MAX_SERIES    1000 /* per metric */
#define METRICS_MAX_LABELS            8    /* label names per metric */
#define METRICS_MAX_NAME_BYTES        200  /* metric and label names */
#define METRICS_MAX_HELP_BYTES        1024
#define METRICS_MAX_LABEL_VALUE_BYTES 1024
#define METRICS_MAX_BUCKETS           64
#define METRICS_CONTENT_TYPE          "text/plain; version=0.0.4; charset=utf-8"

/* The default histogram buckets, in seconds (the Prometheus client defaults). */
#define METRICS_DEFAULT_BUCKETS                                                                    \
    {                                                                                              \
        0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10                                    \
    }

typedef struct metrics_registry metrics_registry;
typedef struct metrics_metric metrics_metric;

/* The value of a callback gauge, read at render time (work-queue depth). */
typedef double (*metrics_gauge_fn)(void *payload);

/* Creates an empty registry; max_series 0 means METRICS_DEFAULT_MAX_SERIES. */
int metrics_registry_new(metrics_registry **out, size_t max_series);

/* Frees the registry and every metric in it; NULL is accepted. */
void metrics_registry_free(metrics_registry *reg);

/* Registers a metric. `name` must match [a-zA-Z_:][a-zA-Z0-9_:]* and be new in
 * the registry; label names must match [a-zA-Z_][a-zA-Z0-9_]*, not start with
 * "__", be distinct, and (histograms) not be "le". Strings are copied. On 0,
 * *out is a handle borrowed from the registry. Returns LB_EINVALID naming the
 * argument and the rule. */
int metrics_counter_new(metrics_metric **out, metrics_registry *reg, const char *name,
                        const char *help, const char *const *label_names, size_t n_labels);
int metrics_gauge_new(metrics_metric **out, metrics_registry *reg, const char *name,
                      const char *help, const char *const *label_names, size_t n_labels);

/* A histogram with the given upper bounds (strictly increasing, finite; a
 * +Inf bucket is always added). buckets NULL uses METRICS_DEFAULT_BUCKETS. */
int metrics_histogram_new(metrics_metric **out, metrics_registry *reg, const char *name,
                          const char *help, const char *const *label_names, size_t n_labels,
                          const double *buckets, size_t n_buckets);

/* An unlabelled gauge whose value is fn(payload), called (from the rendering
 * thread) each time the registry is rendered. */
int metrics_gauge_func_new(metrics_metric **out, metrics_registry *reg, const char *name,
                           const char *help, metrics_gauge_fn fn, void *payload);

/* Updates the series named by `values` (one per label name, in order; NULL
 * when the metric has no labels). Return 0, LB_EINVALID when a value is NULL
 * or longer than METRICS_MAX_LABEL_VALUE_BYTES, the update does not fit the
 * metric's kind, or (counters) the amount is negative or NaN, and LB_ETOOBIG
 * when the series would pass the cap. */
int metrics_counter_add(metrics_metric *m, const char *const *values, double amount);
int metrics_counter_inc(metrics_metric *m, const char *const *values);
int metrics_gauge_set(metrics_metric *m, const char *const *values, double value);
int metrics_gauge_add(metrics_metric *m, const char *const *values, double amount);
int metrics_histogram_observe(metrics_metric *m, const char *const *values, double value);

/* Appends the whole registry in the text exposition format 0.0.4 to out.
 * Returns 0 or LB_ETOOBIG when out's cap is reached (out then holds a prefix
 * cut at a line end, never a partial line). */
int metrics_render(lb_buf *out, metrics_registry *reg);

/* An httpd_handler_fn (util/httpd.h) serving the registry given as payload
 * with METRICS_CONTENT_TYPE. */
int metrics_serve(lb_buf *out_body, const char **out_type, void *payload);

#endif
