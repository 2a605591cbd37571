/* lifeboat-operator - the controller daemon. main() only wires modules
 * together (STYLE.md: initialise in a straight line, tear down in reverse,
 * signal handlers only set flags); the work lives in pkg/. */
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "aws/request.h"
#include "controller/backup/reconcile.h"
#include "controller/manager.h"
#include "controller/options.h"
#include "controller/restore/checks.h"
#include "controller/restore/engine.h"
#include "controller/restore/jobcreds.h"
#include "controller/restore/step.h"
#include "controller/verify/run.h"
#include "kube/client.h"
#include "kube/config.h"
#include "kube/recorder.h"
#include "util/alloc.h"
#include "util/error.h"
#include "util/harden.h"
#include "util/httpd.h"
#include "util/log.h"
#include "util/metrics.h"
#include "util/netguard.h"
#include "util/version.h"

#define TICK_MS 100 /* how often the main loop checks the stop flag and refreshes gauges */

static volatile sig_atomic_t stop_requested;

static void on_signal(int signo)
{
    (void)signo;
    stop_requested = 1;
}

static void install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

static int healthz(lb_buf *out_body, const char **out_type, void *payload)
{
    (void)out_type;
    (void)payload;
    buf_append_str(out_body, "ok\n");
    return 200;
}

static int readyz(lb_buf *out_body, const char **out_type, void *payload)
{
    (void)out_type;
    if (mgr_ready(payload)) {
        buf_append_str(out_body, "ok\n");
        return 200;
    }
    buf_append_str(out_body, "not ready: informers not synced or leader election not running\n");
    return 503;
}

/* POD_NAME in a cluster, else <hostname>_<pid> (two replicas on one host differ). */
static char *replica_identity(void)
{
    const char *pod = getenv("POD_NAME");
    char host[256] = "lifeboat";
    if (pod != NULL && pod[0] != '\0')
        return lb_strdup(pod);
    gethostname(host, sizeof(host) - 1);
    host[sizeof(host) - 1] = '\0';
    return lb_sprintf("%.100s_%ld", host, (long)getpid());
}

static int load_kubeconfig(kube_config **out, const op_options *o)
{
    if (o->kubeconfig != NULL)
        return kube_config_load_path_list(out, o->kubeconfig, NULL);
    return kube_config_load_default(out, NULL);
}

/* One server when both addresses are the same, else /metrics on one and the
 * probes on the other. */
static int start_http(httpd **out_health, httpd **out_metrics, const op_options *o, mgr *m,
                      metrics_registry *reg)
{
    httpd_route all[] = {
        {"/healthz", healthz, NULL}, {"/readyz", readyz, m}, {"/metrics", metrics_serve, reg}};
    httpd_options ho = {.addr = o->health_addr, .routes = all, .n_routes = 3};
    httpd_options mo = {.addr = o->metrics_addr, .routes = &all[2], .n_routes = 1};
    int rc;

    *out_health = *out_metrics = NULL;
    if (strcmp(o->health_addr, o->metrics_addr) != 0)
        ho.n_routes = 2;
    rc = httpd_start(out_health, &ho);
    if (rc != 0)
        return lb_error_wrap(rc, "--health-addr %s", o->health_addr);
    if (ho.n_routes == 3)
        return 0;
    rc = httpd_start(out_metrics, &mo);
    if (rc != 0)
        return lb_error_wrap(rc, "--metrics-addr %s", o->metrics_addr);
    return 0;
}

static void run_until_signal(mgr *m)
{
    struct timespec tick = {0, TICK_MS * 1000000L};
    while (!stop_requested) {
        mgr_update_gauges(m);
        nanosleep(&tick, NULL);
    }
}

/* An AWS client when the environment configures a region (AWS_REGION or
 * AWS_DEFAULT_REGION), else NULL: RDS restore steps then fail saying so. */
static int aws_from_env(aws_client **out)
{
    const char *region = getenv("AWS_REGION");
    *out = NULL;
    if (region == NULL || region[0] == '\0')
        region = getenv("AWS_DEFAULT_REGION");
    if (region == NULL || region[0] == '\0') {
        LB_LOG_INFO("no AWS region configured (AWS_REGION); AWS restore steps will fail");
        return 0;
    }
    return aws_client_new_from_env(out);
}

static int fail(const char *what)
{
    LB_LOG_ERROR(what, "error", lb_error_last());
    return 1;
}

int main(int argc, char **argv)
{
    op_options opts;
    kube_config *cfg = NULL;
    metrics_registry *reg = NULL;
    mgr_metrics metrics;
    engine_metrics restore_metrics;
    verify_metrics vmetrics;
    backup_metrics bmetrics;
    aws_client *aws = NULL;
    kube_client *client = NULL;
    kube_recorder *recorder = NULL;
    mgr *manager = NULL;
    httpd *health = NULL, *metrics_srv = NULL;
    char *identity = NULL;
    int rc = 1;

    if (lb_process_harden() != 0) {
        fprintf(stderr, "lifeboat-operator: %s\n", lb_error_last());
        return 1;
    }
    /* Secret values arrive as JSON: wipe every jansson block when it is freed */
    json_set_alloc_funcs(malloc, lb_wipe_free);
    if (op_options_parse(&opts, argc, argv) != 0) {
        fprintf(stderr, "lifeboat-operator: %s\n", lb_error_last());
        op_options_dispose(&opts);
        return 2;
    }
    if (opts.help || opts.version) {
        if (opts.help)
            fputs(op_options_usage(), stdout);
        else
            printf("lifeboat-operator %s\n", LIFEBOAT_VERSION);
        op_options_dispose(&opts);
        return 0;
    }
    lb_log_init(NULL, opts.log_level, opts.log_format);
    install_signals();
    identity = replica_identity();

    if (load_kubeconfig(&cfg, &opts) != 0) {
        rc = fail("cannot load the Kubernetes configuration");
        goto free_options;
    }
    if (opts.lease_namespace == NULL)
        opts.lease_namespace = lb_strdup(kube_config_namespace(cfg));
    netguard_options ngo = {.allow_hosts = (const char *const *)opts.http_check_hosts,
                            .n_allow_hosts = opts.n_http_check_hosts,
                            .allow_loopback = opts.http_check_allow_loopback != 0,
                            .apiserver_url = kube_config_server(cfg)};
    if (netguard_configure(&ngo) != 0) {
        rc = fail("cannot set the HTTP check policy");
        goto free_config;
    }
    verify_checks_configure(opts.sql_sslmode, opts.sql_sslrootcert);
    s3sync_steps_configure((size_t)opts.s3sync_operator_max_objects);
    jobcreds_configure(opts.job_session_duration, opts.job_session_renew_margin);
    if (metrics_registry_new(&reg, 0) != 0 ||
        mgr_metrics_init(&metrics, reg, LIFEBOAT_VERSION) != 0 ||
        engine_metrics_init(&restore_metrics, reg) != 0 ||
        verify_metrics_init(&vmetrics, reg) != 0 || backup_metrics_init(&bmetrics, reg) != 0) {
        rc = fail("cannot register the metrics");
        goto free_config;
    }
    kube_client_options co = {.user_agent = "lifeboat-operator/" LIFEBOAT_VERSION,
                              .metrics = mgr_metrics_kube_request,
                              .metrics_payload = &metrics};
    if (kube_client_new(&client, cfg, &co) != 0) {
        rc = fail("cannot create the Kubernetes client");
        goto free_metrics;
    }
    if (aws_from_env(&aws) != 0) {
        rc = fail("cannot create the AWS client");
        goto free_client;
    }
    kube_recorder_options ro = {.component = "lifeboat-operator", .instance = identity};
    if (kube_recorder_new(&recorder, client, &ro) != 0) {
        rc = fail("cannot create the event recorder");
        goto free_aws;
    }
    mgr_options mo = {.client = client,
                      .aws = aws,
                      .restore_metrics = &restore_metrics,
                      .verify_metrics = &vmetrics,
                      .backup_metrics = &bmetrics,
                      .recorder = recorder,
                      .metrics = &metrics,
                      .namespaces = (const char *const *)opts.namespaces,
                      .n_namespaces = opts.n_namespaces,
                      .workers = opts.workers,
                      .leader_elect = opts.leader_elect,
                      .lease_name = opts.lease_name,
                      .lease_namespace = opts.lease_namespace,
                      .identity = identity};
    if (mgr_new(&manager, &mo) != 0) {
        rc = fail("cannot set up the controllers");
        goto free_recorder;
    }
    if (start_http(&health, &metrics_srv, &opts, manager, reg) != 0) {
        rc = fail("cannot start the HTTP endpoints");
        goto free_manager;
    }
    LB_LOG_INFO("lifeboat-operator starting", "version", LIFEBOAT_VERSION, "server",
                kube_config_server(cfg), "identity", identity, "leader_elect",
                opts.leader_elect ? "true" : "false", "workers", LB_LOG_INT(opts.workers));
    if (mgr_start(manager) != 0) {
        rc = fail("cannot start the controllers");
        goto stop_manager;
    }

    run_until_signal(manager);
    LB_LOG_INFO("stop requested; draining work");
    rc = 0;

stop_manager:
    mgr_stop(manager);
    httpd_stop(metrics_srv);
    httpd_stop(health);
free_manager:
    mgr_free(manager);
free_recorder:
    kube_recorder_free(recorder);
free_aws:
    aws_client_free(aws);
free_client:
    kube_client_free(client);
free_metrics:
    metrics_registry_free(reg);
free_config:
    kube_config_free(cfg);
free_options:
    if (rc == 0)
        LB_LOG_INFO("lifeboat-operator stopped");
    free(identity);
    op_options_dispose(&opts);
    return rc;
}
