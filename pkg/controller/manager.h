/* manager.h - wires informers, work queues, workers and leader election
 * (DESIGN.md section 2).
 *
 * Per kind (RestoreRequest, VerificationRun, BackupPolicy): one informer per
 * watched namespace (one for all namespaces by default) whose handlers add
 * "namespace/name" keys to the kind's work queue, and `workers` threads that
 * take keys, read the object from the informer cache and run
 * ctrl_reconcile(). An error requeues the key with its exponential backoff;
 * success forgets the backoff, and a reconcile that asks to come back later
 * (a restore polling a cloud operation) is requeued with wq_add_after().
 *
 * Informers run on every replica, so a standby's caches are warm. Workers
 * take keys only while this replica is active: always without leader
 * election, and only while holding the Lease with it. Losing the Lease stops
 * all work at once (a key taken after that is put back). A reconcile already
 * running is fenced: the kube client (every write but the Lease's own) and the
 * AWS client (every call) ask kube_leader_holding() before each attempt, so
 * after the Lease is lost - or has expired by this replica's own clock, as
 * after a SIGSTOP - it cannot act or write status any more (LB_EFENCED); and
 * a reconcile that has run MGR_MAX_RECONCILE_MS is refused further side
 * effects (LB_ETIMEOUT) and retried.
 *
 * mgr_stop() is the graceful SIGTERM path: stop taking work, let running
 * reconciles finish (at most drain_timeout_ms), stop the workers, release the
 * Lease (so a standby takes over at once), stop the informers.
 */
#ifndef LB_CONTROLLER_MANAGER_H
#define LB_CONTROLLER_MANAGER_H

#include <stddef.h>

#include "aws/request.h"
#include "kube/client.h"
#include "kube/recorder.h"
#include "util/metrics.h"

#define MGR_MAX_NAMESPACES       64
#define MGR_MAX_WORKERS          64
#define MGR_DEFAULT_DRAIN_MS     10000
#define MGR_RESYNC_SECONDS       300
#define MGR_METRIC_KUBE_REQUESTS "lifeboat_kube_requests_total"

typedef struct mgr mgr;

/* The operator's metrics that exist before the manager (the client reports
 * its requests through mgr_metrics_kube_request()). */
typedef struct mgr_metrics {
    metrics_registry *reg;          /* borrowed */
    metrics_metric *reconciles;     /* lifeboat_reconcile_total{controller,result} */
    metrics_metric *durations;      /* lifeboat_reconcile_duration_seconds{controller,result} */
    metrics_metric *depth;          /* lifeboat_workqueue_depth{controller} */
    metrics_metric *kube_requests;  /* lifeboat_kube_requests_total{verb,code} */
    metrics_metric *kube_durations; /* lifeboat_kube_request_duration_seconds{verb} */
    metrics_metric *leader;         /* lifeboat_leader */
    metrics_metric *synced;         /* lifeboat_informer_synced{controller} */
    metrics_metric *unchanged;      /* lifeboat_informer_unchanged_total{controller} */
    metrics_metric *last_list;      /* lifeboat_informer_last_list_seconds{controller} */
    metrics_metric *last_list_end;  /* lifeboat_informer_last_list_timestamp_seconds{controller} */
    metrics_metric *build_info;     /* lifeboat_build_info{version} */
} mgr_metrics;

/* Registers the metrics above in reg (borrowed; must outlive *out's use) and
 * sets build_info{version} to 1. */
int mgr_metrics_init(mgr_metrics *out, metrics_registry *reg, const char *version);

/* A kube_metrics_fn: counts one request by verb and HTTP code (payload: mgr_metrics). */
void mgr_metrics_kube_request(const char *verb, long http_status, double seconds, void *payload);

struct engine_metrics;
struct backup_metrics;

/* The longest a single reconcile may keep acting: past it, every further
 * side effect of that reconcile is refused (LB_ETIMEOUT) and it is retried. */
#define MGR_MAX_RECONCILE_MS 60000

typedef struct mgr_options {
    kube_client *client;                    /* borrowed */
    aws_client *aws;                        /* borrowed; NULL without AWS configuration */
    struct engine_metrics *restore_metrics; /* borrowed; may be NULL */
    struct verify_metrics *verify_metrics;  /* borrowed; may be NULL */
    struct backup_metrics *backup_metrics;  /* borrowed; may be NULL */
    kube_recorder *recorder;                /* borrowed; may be NULL */
    mgr_metrics *metrics;                   /* borrowed; may be NULL */
    const char *const *namespaces;          /* NULL / 0: all namespaces */
    size_t n_namespaces;
    int workers; /* per kind, 1..MGR_MAX_WORKERS */
    int leader_elect;
    const char *lease_name;      /* required with leader_elect */
    const char *lease_namespace; /* required with leader_elect */
    const char *identity;        /* this replica; required with leader_elect */
    int lease_duration_s;        /* 0: the elector's defaults (15/10/2 s) */
    int renew_deadline_s;
    int retry_period_s;
    long drain_timeout_ms; /* 0: MGR_DEFAULT_DRAIN_MS */
} mgr_options;

/* Creates the informers, queues and (not yet started) threads. Strings are
 * copied. Returns LB_EINVALID naming the option that breaks a rule. */
int mgr_new(mgr **out, const mgr_options *opts);

/* Starts informers, workers and the leader-election loop. */
int mgr_start(mgr *m);

/* Non-zero when every informer has synced and the replica is leader or
 * standby (the election loop runs) - /readyz. Thread-safe. */
int mgr_ready(mgr *m);

/* Non-zero while workers may take keys. Thread-safe. */
int mgr_active(mgr *m);

/* Refreshes the gauges (queue depth, leader, synced; restore phases at most
 * every 5 s). Thread-safe. */
void mgr_update_gauges(mgr *m);

/* The graceful stop described above. Idempotent. */
void mgr_stop(mgr *m);

/* Stops if needed and frees; NULL is accepted. */
void mgr_free(mgr *m);

#endif
