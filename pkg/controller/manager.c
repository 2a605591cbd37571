/* manager.c - informers -> work queues -> workers, under leader election. */
#include "controller/manager.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/common.h"
#include "controller/controller.h"
#include "controller/restore/engine.h"
#include "kube/informer.h"
#include "kube/leader.h"
#include "kube/workqueue.h"
#include "util/alloc.h"
#include "util/error.h"
#include "util/log.h"
#include "util/timeutil.h"

#define MGR_N_KINDS       3
#define MGR_GET_WAIT_MS   200 /* a worker re-checks stop/active at least this often */
#define MGR_IDLE_SLEEP_MS 50

/* The deadline of the reconcile running on this worker thread (monotonic ns;
 * 0: none), enforced by the fence on every side effect. */
static _Thread_local int64_t tl_reconcile_deadline_ns;

typedef struct mgr_ctrl {
    mgr *m;
    const ctrl_kind *kind;
    kube_informer **informers; /* one per namespace (or one for all) */
    wq *queue;
    pthread_t *threads;
    size_t n_threads;
} mgr_ctrl;

struct mgr {
    kube_client *client;
    kube_recorder *recorder;
    mgr_metrics *metrics;
    aws_client *aws;
    struct engine_metrics *restore_metrics;
    struct verify_metrics *verify_metrics;
    struct backup_metrics *backup_metrics;
    atomic_long restore_phases[ENGINE_N_PHASES]; /* cached RestoreRequests per phase */
    char **namespaces;                           /* NULL entries: all namespaces */
    size_t n_informers;
    int workers;
    int leader_elect;
    long drain_ms;
    kube_leader *leader;
    pthread_t leader_thread;
    int leader_started;
    atomic_int leader_running;
    atomic_int leader_stop;
    atomic_int active;
    atomic_int stopping;
    atomic_int started; /* read by /readyz on the HTTP thread */
    int stopped;
    mgr_ctrl ctrls[MGR_N_KINDS];
};

/* ---- metrics ---------------------------------------------------------------------- */

int mgr_metrics_init(mgr_metrics *out, metrics_registry *reg, const char *version)
{
    static const char *const ctrl_res[] = {"controller", "result"};
    static const char *const ctrl[] = {"controller"};
    static const char *const verb_code[] = {"verb", "code"};
    static const char *const verb[] = {"verb"};
    static const char *const ver[] = {"version"};
    int rc = 0;

    memset(out, 0, sizeof(*out));
    out->reg = reg;
    rc = rc
             ?: metrics_counter_new(&out->reconciles, reg, "lifeboat_reconcile_total",
                                    "Reconciles by controller and result.", ctrl_res, 2);
    rc = rc
             ?: metrics_histogram_new(&out->durations, reg, "lifeboat_reconcile_duration_seconds",
                                      "Reconcile durations by controller and result.", ctrl_res, 2,
                                      NULL, 0);
    rc = rc
             ?: metrics_gauge_new(&out->depth, reg, "lifeboat_workqueue_depth",
                                  "Keys ready in each controller's work queue.", ctrl, 1);
    rc = rc
             ?: metrics_counter_new(&out->kube_requests, reg, MGR_METRIC_KUBE_REQUESTS,
                                    "Kubernetes API requests by verb and HTTP code.", verb_code, 2);
    rc = rc
             ?: metrics_histogram_new(
                    &out->kube_durations, reg, "lifeboat_kube_request_duration_seconds",
                    "Kubernetes API request durations by verb.", verb, 1, NULL, 0);
    rc = rc
             ?: metrics_gauge_new(&out->leader, reg, "lifeboat_leader",
                                  "1 while this replica holds the leader Lease (or runs without "
                                  "leader election).",
                                  NULL, 0);
    rc = rc
             ?: metrics_gauge_new(&out->synced, reg, "lifeboat_informer_synced",
                                  "1 once the controller's informers have synced.", ctrl, 1);
    rc = rc
             ?: metrics_counter_new(&out->unchanged, reg, "lifeboat_informer_unchanged_total",
                                    "Watch events whose kept view did not change but for its "
                                    "resourceVersion: nothing queued.",
                                    ctrl, 1);
    rc = rc
             ?: metrics_gauge_new(&out->last_list, reg, "lifeboat_informer_last_list_seconds",
                                  "Wall seconds of the controller's last LIST-and-diff of its "
                                  "cache (the first fill, or a relist after a 410 or a broken "
                                  "watch); the longest of its informers.",
                                  ctrl, 1);
    rc = rc
             ?: metrics_gauge_new(&out->last_list_end, reg,
                                  "lifeboat_informer_last_list_timestamp_seconds",
                                  "When that LIST-and-diff ended (Unix time).", ctrl, 1);
    rc = rc
             ?: metrics_gauge_new(&out->build_info, reg, "lifeboat_build_info",
                                  "Build information (always 1).", ver, 1);
    if (rc == 0)
        rc = metrics_gauge_set(out->build_info, (const char *const[]){version}, 1);
    return rc;
}

void mgr_metrics_kube_request(const char *verb, long http_status, double seconds, void *payload)
{
    mgr_metrics *mm = payload;
    char code[16];
    snprintf(code, sizeof(code), "%ld", http_status);
    metrics_counter_inc(mm->kube_requests, (const char *const[]){verb, code});
    metrics_histogram_observe(mm->kube_durations, (const char *const[]){verb}, seconds);
}

/* ---- informer handlers ------------------------------------------------------------ */

static void enqueue(mgr_ctrl *c, const json_t *obj)
{
    const json_t *md = json_object_get(obj, "metadata");
    const char *ns = api_get_str(md, "namespace"), *name = api_get_str(md, "name");
    char key[WQ_MAX_KEY_BYTES + 1];
    int n;
    if (name == NULL)
        return;
    n = snprintf(key, sizeof(key), "%s/%s", ns != NULL ? ns : "", name);
    if (n < 0 || (size_t)n >= sizeof(key)) {
        LB_LOG_WARN("object key too long; ignored", "controller", c->kind->controller, "name",
                    name);
        return;
    }
    wq_add(c->queue, key);
}

/* Counts a cached RestoreRequest in or out of its phase (lifeboat_restore_phase):
 * the handlers see every change of the cache, relists included, so the
 * counts follow it without walking it. */
static void count_phase(mgr_ctrl *c, const json_t *obj, long delta)
{
    const char *phase = api_get_str(json_object_get(obj, "status"), "phase");
    if (c != &c->m->ctrls[0] || phase == NULL) /* kinds[0] is the restore kind */
        return;
    for (size_t p = 0; p < ENGINE_N_PHASES; p++)
        if (strcmp(phase, engine_phases[p]) == 0)
            atomic_fetch_add(&c->m->restore_phases[p], delta);
}

static void on_add(json_t *obj, void *payload)
{
    count_phase(payload, obj, 1);
    enqueue(payload, obj);
}

static void on_update(json_t *old_obj, json_t *new_obj, void *payload)
{
    mgr_ctrl *c = payload;
    count_phase(c, old_obj, -1);
    count_phase(c, new_obj, 1);
    enqueue(c, new_obj);
}

/* An update whose kept view is what it was but for the resourceVersion (a
 * label, an annotation or a field the kind does not decide on changed: the
 * decision cannot differ) queues nothing; the informer finds these by
 * comparing the views' text (kube/informer.h). Each kind's keep list
 * (ctrl_kind.keep) therefore names every field an event may change that its
 * reconcile acts on; the periodic resync (on_update(obj, obj)) always queues. */
static void on_unchanged(json_t *obj, void *payload)
{
    mgr_ctrl *c = payload;
    (void)obj;
    if (c->m->metrics != NULL)
        metrics_counter_inc(c->m->metrics->unchanged, (const char *const[]){c->kind->controller});
}

static void on_delete(json_t *obj, void *payload)
{
    mgr_ctrl *c = payload;
    count_phase(c, obj, -1);
    const json_t *md = json_object_get(obj, "metadata");
    char key[WQ_MAX_KEY_BYTES + 1];
    snprintf(key, sizeof(key), "%s/%s", api_get_str(md, "namespace") ?: "",
             api_get_str(md, "name") ?: "");
    wq_forget(c->queue, key); /* nothing to reconcile: the object is gone */
}

/* ---- workers ---------------------------------------------------------------------- */

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* The cached object for key "ns/name", or NULL. */
static json_t *cache_get(mgr_ctrl *c, const char *key)
{
    const char *slash = strchr(key, '/');
    char ns[KUBE_INFORMER_MAX_KEY];
    size_t ns_len;
    if (slash == NULL)
        return NULL;
    ns_len = (size_t)(slash - key);
    if (ns_len >= sizeof(ns))
        return NULL;
    memcpy(ns, key, ns_len);
    ns[ns_len] = '\0';
    for (size_t i = 0; i < c->m->n_informers; i++) {
        const char *watched = c->m->namespaces[i];
        if (watched == NULL || strcmp(watched, ns) == 0)
            return kube_informer_get(c->informers[i], ns, slash + 1);
    }
    return NULL;
}

static const char *outcome_name(ctrl_outcome o)
{
    switch (o) {
    case CTRL_SKIPPED:
        return "skipped";
    case CTRL_UNCHANGED:
        return "unchanged";
    case CTRL_WRITTEN:
        return "written";
    }
    return "unknown";
}

static void process(mgr_ctrl *c, const char *key)
{
    mgr *m = c->m;
    json_t *obj = cache_get(c, key);
    ctrl_env env = {.client = m->client,
                    .recorder = m->recorder,
                    .aws = m->aws,
                    .restore_metrics = m->restore_metrics,
                    .verify_metrics = m->verify_metrics,
                    .backup_metrics = m->backup_metrics};
    ctrl_result res = {.outcome = CTRL_SKIPPED, .requeue_ms = -1};
    int64_t t0 = lb_time_monotonic_ns();
    const char *result;
    double seconds;
    int rc = 0;

    if (obj == NULL) {
        /* deleted (or not ours): nothing to do */
        wq_forget(c->queue, key);
        result = "gone";
    } else {
        tl_reconcile_deadline_ns = t0 + (int64_t)MGR_MAX_RECONCILE_MS * 1000000LL;
        rc = ctrl_reconcile(&res, c->kind, &env, obj);
        tl_reconcile_deadline_ns = 0;
        if (rc != 0) {
            LB_LOG_WARN("reconcile failed; will retry", "controller", c->kind->controller, "object",
                        key, "attempt", LB_LOG_INT(wq_num_requeues(c->queue, key) + 1), "error",
                        lb_error_last());
            wq_add_rate_limited(c->queue, key);
            result = "error";
        } else {
            wq_forget(c->queue, key);
            if (res.requeue_ms >= 0) /* polling a long operation: come back later */
                wq_add_after(c->queue, key, res.requeue_ms * 1000000LL);
            result = outcome_name(res.outcome);
            if (res.outcome == CTRL_WRITTEN) /* the version lets a reader order our writes */
                LB_LOG_DEBUG("reconciled", "controller", c->kind->controller, "object", key,
                             "result", result, "resourceVersion", res.resource_version);
            else if (res.outcome != CTRL_SKIPPED)
                LB_LOG_DEBUG("reconciled", "controller", c->kind->controller, "object", key,
                             "result", result);
        }
    }
    seconds = (double)(lb_time_monotonic_ns() - t0) / 1e9;
    if (m->metrics != NULL) {
        const char *const labels[] = {c->kind->controller, result};
        metrics_counter_inc(m->metrics->reconciles, labels);
        metrics_histogram_observe(m->metrics->durations, labels, seconds);
    }
    json_decref(obj);
}

static void *worker_main(void *arg)
{
    mgr_ctrl *c = arg;
    mgr *m = c->m;
    for (;;) {
        char *key = NULL;
        int rc;
        if (atomic_load(&m->stopping))
            break;
        if (!atomic_load(&m->active)) {
            sleep_ms(MGR_IDLE_SLEEP_MS);
            continue;
        }
        rc = wq_get(&key, c->queue, MGR_GET_WAIT_MS);
        if (rc == WQ_SHUTDOWN)
            break;
        if (rc != 0)
            continue;
        if (!atomic_load(&m->active) || atomic_load(&m->stopping) ||
            (m->leader != NULL && !kube_leader_holding(m->leader))) {
            /* leadership lost (or stopping, or the Lease expired by our own clock
             * before the election loop noticed) after the key was taken: put it back */
            wq_add(c->queue, key);
            sleep_ms(MGR_IDLE_SLEEP_MS);
        } else {
            process(c, key);
        }
        wq_done(c->queue, key);
        free(key);
    }
    return NULL;
}

/* ---- leader election -------------------------------------------------------------- */

/* The fence of every side effect (kube writes, AWS calls): this replica holds
 * the Lease by its own clock, and the current reconcile is within its bound. */
static int fence_check(mgr *m)
{
    int64_t deadline = tl_reconcile_deadline_ns;
    if (deadline != 0 && lb_time_monotonic_ns() > deadline)
        return lb_error_setc(LB_ETIMEOUT,
                             "this reconcile has run longer than %d ms; the rest waits for the "
                             "next reconcile",
                             MGR_MAX_RECONCILE_MS);
    if (m->leader != NULL && !kube_leader_holding(m->leader))
        return lb_error_setc(LB_EFENCED,
                             "this replica no longer holds the leader Lease (lost, expired by "
                             "its own clock, or released)");
    return 0;
}

static int fence_kube(void *payload, const char *method, const char *what)
{
    (void)method;
    if (strstr(what, "/apis/coordination.k8s.io/") != NULL)
        return 0; /* the Lease itself: that is how leadership is kept */
    return fence_check(payload);
}

static int fence_aws(void *payload, const char *service)
{
    (void)service;
    return fence_check(payload);
}

static void on_started_leading(void *payload)
{
    mgr *m = payload;
    atomic_store(&m->active, 1);
    LB_LOG_INFO("became leader; workers start", "lease", kube_leader_holder(m->leader));
}

static void on_stopped_leading(void *payload)
{
    mgr *m = payload;
    atomic_store(&m->active, 0);
    if (!atomic_load(&m->leader_stop))
        LB_LOG_WARN("lost the leader lease; all work stopped", "holder",
                    kube_leader_holder(m->leader));
}

static void *leader_main(void *arg)
{
    mgr *m = arg;
    atomic_store(&m->leader_running, 1);
    if (kube_leader_run(m->leader, &m->leader_stop, on_started_leading, on_stopped_leading, m) != 0)
        LB_LOG_WARN("releasing the leader lease failed", "error", lb_error_last());
    else
        LB_LOG_INFO("leader lease released");
    atomic_store(&m->leader_running, 0);
    return NULL;
}

/* ---- lifecycle -------------------------------------------------------------------- */

static const ctrl_kind *const kinds[MGR_N_KINDS] = {&ctrl_kind_restore, &ctrl_kind_verify,
                                                    &ctrl_kind_backup};

int mgr_new(mgr **out, const mgr_options *o)
{
    mgr *m;
    int result = 0;

    *out = NULL;
    if (o->client == NULL)
        return lb_error_setc(LB_EINVALID, "manager: a client is required");
    if (o->workers < 1 || o->workers > MGR_MAX_WORKERS)
        return lb_error_setc(LB_EINVALID, "--workers: must be between 1 and %d, got %d",
                             MGR_MAX_WORKERS, o->workers);
    if (o->n_namespaces > MGR_MAX_NAMESPACES)
        return lb_error_setc(LB_EINVALID, "--namespaces: at most %d namespaces, got %zu",
                             MGR_MAX_NAMESPACES, o->n_namespaces);
    m = lb_calloc(1, sizeof(*m));
    m->client = o->client;
    m->recorder = o->recorder;
    m->metrics = o->metrics;
    m->aws = o->aws;
    m->restore_metrics = o->restore_metrics;
    m->verify_metrics = o->verify_metrics;
    m->backup_metrics = o->backup_metrics;
    m->workers = o->workers;
    m->leader_elect = o->leader_elect;
    m->drain_ms = o->drain_timeout_ms > 0 ? o->drain_timeout_ms : MGR_DEFAULT_DRAIN_MS;
    m->n_informers = o->n_namespaces > 0 ? o->n_namespaces : 1;
    m->namespaces = lb_calloc(m->n_informers, sizeof(char *));
    for (size_t i = 0; i < o->n_namespaces; i++)
        m->namespaces[i] = lb_strdup(o->namespaces[i]);

    if (o->leader_elect) {
        kube_leader_options lo = {.namespace = o->lease_namespace,
                                  .name = o->lease_name,
                                  .identity = o->identity,
                                  .lease_duration_s = o->lease_duration_s,
                                  .renew_deadline_s = o->renew_deadline_s,
                                  .retry_period_s = o->retry_period_s};
        result = kube_leader_new(&m->leader, o->client, &lo);
        if (result != 0)
            goto done;
    }

    kube_client_set_fence(o->client, fence_kube, m);
    if (o->aws != NULL)
        aws_client_set_fence(o->aws, fence_aws, m);

    for (size_t k = 0; k < MGR_N_KINDS; k++) {
        mgr_ctrl *c = &m->ctrls[k];
        kube_informer_handlers h = {.on_add = on_add,
                                    .on_update = on_update,
                                    .on_unchanged = on_unchanged,
                                    .on_delete = on_delete,
                                    .payload = c};
        kube_informer_options io = {.resync_seconds = MGR_RESYNC_SECONDS, .keep = kinds[k]->keep};
        c->m = m;
        c->kind = kinds[k];
        result = wq_new(&c->queue, NULL);
        if (result != 0)
            goto done;
        c->informers = lb_calloc(m->n_informers, sizeof(kube_informer *));
        for (size_t i = 0; i < m->n_informers; i++) {
            kube_ref ref = {.group = API_GROUP,
                            .version = API_VERSION,
                            .resource = c->kind->resource,
                            .namespace = m->namespaces[i]};
            result = kube_informer_new(&c->informers[i], o->client, &ref, &io, &h);
            if (result != 0)
                goto done;
        }
        c->threads = lb_calloc((size_t)m->workers, sizeof(pthread_t));
    }

done:
    if (result != 0) {
        m->stopped = 1;
        mgr_free(m);
        return result;
    }
    *out = m;
    return 0;
}

int mgr_start(mgr *m)
{
    if (atomic_exchange(&m->started, 1))
        return lb_error_setc(LB_EINVALID, "manager: already started");
    for (size_t k = 0; k < MGR_N_KINDS; k++) {
        mgr_ctrl *c = &m->ctrls[k];
        for (size_t i = 0; i < m->n_informers; i++)
            if (kube_informer_start(c->informers[i]) != 0)
                return lb_error_wrap(LB_ERROR, "%s informer", c->kind->resource);
    }
    atomic_store(&m->active, m->leader_elect ? 0 : 1);
    for (size_t k = 0; k < MGR_N_KINDS; k++) {
        mgr_ctrl *c = &m->ctrls[k];
        for (int w = 0; w < m->workers; w++) {
            if (pthread_create(&c->threads[w], NULL, worker_main, c) != 0)
                return lb_error_set("%s: cannot start worker thread", c->kind->controller);
            c->n_threads++;
        }
    }
    if (m->leader_elect) {
        atomic_store(&m->leader_running, 1);
        if (pthread_create(&m->leader_thread, NULL, leader_main, m) != 0) {
            atomic_store(&m->leader_running, 0);
            return lb_error_set("leader election: cannot start its thread");
        }
        m->leader_started = 1;
    }
    return 0;
}

int mgr_active(mgr *m)
{
    return atomic_load(&m->active);
}

static int all_synced(mgr *m, size_t k)
{
    for (size_t i = 0; i < m->n_informers; i++)
        if (!kube_informer_has_synced(m->ctrls[k].informers[i]))
            return 0;
    return 1;
}

int mgr_ready(mgr *m)
{
    if (!atomic_load(&m->started) || atomic_load(&m->stopping))
        return 0;
    for (size_t k = 0; k < MGR_N_KINDS; k++)
        if (!all_synced(m, k))
            return 0;
    return !m->leader_elect || atomic_load(&m->leader_running);
}

/* lifeboat_restore_phase{phase}: RestoreRequests per phase, as the informer
 * handlers counted them (count_phase). */
static void refresh_restore_phases(mgr *m)
{
    if (m->restore_metrics == NULL)
        return;
    for (size_t p = 0; p < ENGINE_N_PHASES; p++)
        metrics_gauge_set(m->restore_metrics->phase, (const char *const[]){engine_phases[p]},
                          (double)atomic_load(&m->restore_phases[p]));
}

/* lifeboat_informer_last_list_{seconds,timestamp_seconds}{controller} from the
 * kind's informers (one per watched namespace): the longest and the latest. */
static void update_last_list(mgr *m, size_t k, const char *const *labels)
{
    double longest = 0, latest = 0;
    for (size_t i = 0; i < m->n_informers && m->ctrls[k].informers != NULL; i++) {
        double seconds, ended;
        kube_informer_last_list(m->ctrls[k].informers[i], &seconds, &ended);
        longest = seconds > longest ? seconds : longest;
        latest = ended > latest ? ended : latest;
    }
    metrics_gauge_set(m->metrics->last_list, labels, longest);
    metrics_gauge_set(m->metrics->last_list_end, labels, latest);
}

void mgr_update_gauges(mgr *m)
{
    if (m->metrics == NULL)
        return;
    for (size_t k = 0; k < MGR_N_KINDS; k++) {
        const char *const labels[] = {m->ctrls[k].kind->controller};
        metrics_gauge_set(m->metrics->depth, labels, (double)wq_len(m->ctrls[k].queue));
        metrics_gauge_set(m->metrics->synced, labels, all_synced(m, k) ? 1 : 0);
        update_last_list(m, k, labels);
    }
    metrics_gauge_set(m->metrics->leader, NULL, atomic_load(&m->active) ? 1 : 0);
    refresh_restore_phases(m);
}

static void *informer_stopper(void *arg)
{
    kube_informer_stop(arg);
    return NULL;
}

static void stop_informers(mgr *m)
{
    size_t n = 0, total = MGR_N_KINDS * m->n_informers;
    pthread_t *threads = lb_calloc(total, sizeof(pthread_t));
    kube_informer **pending = lb_calloc(total, sizeof(kube_informer *));
    int *started = lb_calloc(total, sizeof(int));

    for (size_t k = 0; k < MGR_N_KINDS; k++)
        for (size_t i = 0; i < m->n_informers && m->ctrls[k].informers != NULL; i++)
            pending[n++] = m->ctrls[k].informers[i];
    for (size_t i = 0; i < n; i++)
        started[i] = pthread_create(&threads[i], NULL, informer_stopper, pending[i]) == 0;
    for (size_t i = 0; i < n; i++) {
        if (started[i])
            pthread_join(threads[i], NULL);
        else
            kube_informer_stop(pending[i]);
    }
    free(threads);
    free(pending);
    free(started);
}

void mgr_stop(mgr *m)
{
    if (m == NULL || m->stopped)
        return;
    m->stopped = 1;
    /* 1. stop taking work; running reconciles finish (bounded) */
    atomic_store(&m->stopping, 1);
    for (size_t k = 0; k < MGR_N_KINDS; k++)
        wq_shutdown(m->ctrls[k].queue);
    for (size_t k = 0; k < MGR_N_KINDS; k++)
        if (wq_wait_idle(m->ctrls[k].queue, m->drain_ms) != 0)
            LB_LOG_WARN("reconciles still running after the drain timeout", "controller",
                        m->ctrls[k].kind->controller, "timeout_ms", LB_LOG_INT(m->drain_ms));
    for (size_t k = 0; k < MGR_N_KINDS; k++) {
        mgr_ctrl *c = &m->ctrls[k];
        for (size_t w = 0; w < c->n_threads; w++)
            pthread_join(c->threads[w], NULL);
        c->n_threads = 0;
    }
    atomic_store(&m->active, 0);
    LB_LOG_DEBUG("workers stopped");
    /* 2. release the Lease so a standby takes over at once */
    if (m->leader_started) {
        atomic_store(&m->leader_stop, 1);
        pthread_join(m->leader_thread, NULL);
        m->leader_started = 0;
    }
    LB_LOG_DEBUG("leader election stopped");
    /* 3. stop the caches, all at once: each stop waits for its watch to notice */
    stop_informers(m);
    LB_LOG_DEBUG("informers stopped");
}

void mgr_free(mgr *m)
{
    if (m == NULL)
        return;
    mgr_stop(m);
    kube_client_set_fence(m->client, NULL, NULL);
    if (m->aws != NULL)
        aws_client_set_fence(m->aws, NULL, NULL);
    for (size_t k = 0; k < MGR_N_KINDS; k++) {
        mgr_ctrl *c = &m->ctrls[k];
        for (size_t i = 0; i < m->n_informers && c->informers != NULL; i++)
            kube_informer_free(c->informers[i]);
        free(c->informers);
        free(c->threads);
        wq_free(c->queue);
    }
    for (size_t i = 0; i < m->n_informers; i++)
        free(m->namespaces[i]);
    free(m->namespaces);
    kube_leader_free(m->leader);
    free(m);
}
