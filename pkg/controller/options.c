/* options.c - flag and environment parsing for lifeboat-operator. */
#include "controller/options.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "aws/s3sync.h"
#include "controller/restore/jobcreds.h"
#include "controller/restore/step.h"
#include "util/alloc.h"
#include "util/error.h"
#include "util/netguard.h"

const char *op_options_usage(void)
{
    return "Usage: lifeboat-operator [flags]\n"
           "\n"
           "Runs the Lifeboat controllers (RestoreRequest, VerificationRun, BackupPolicy).\n"
           "\n"
           "Flags (environment variable in brackets; a flag wins over its variable):\n"
           "  --kubeconfig PATH        kubeconfig file(s), ':'-separated [KUBECONFIG];\n"
           "                           default: in-cluster, else ~/.kube/config\n"
           "  --namespaces a,b         namespaces to watch [LIFEBOAT_NAMESPACES]; default all\n"
           "  --workers N              worker threads per controller, 1..64 [LIFEBOAT_WORKERS];\n"
           "                           default 4\n"
           "  --leader-elect[=BOOL]    run only while holding the leader Lease\n"
           "                           [LIFEBOAT_LEADER_ELECT]; default false\n"
           "  --lease-name NAME        the Lease's name [LIFEBOAT_LEASE_NAME];\n"
           "                           default lifeboat-operator\n"
           "  --lease-namespace NS     the Lease's namespace [LIFEBOAT_LEASE_NAMESPACE];\n"
           "                           default $POD_NAMESPACE, else the kubeconfig's\n"
           "  --metrics-addr ADDR      /metrics listen address [LIFEBOAT_METRICS_ADDR];\n"
           "                           default :8080\n"
           "  --health-addr ADDR       /healthz and /readyz listen address\n"
           "                           [LIFEBOAT_HEALTH_ADDR]; default :8081\n"
           "  --log-format json|text   [LIFEBOAT_LOG_FORMAT]; default json\n"
           "  --log-level LEVEL        debug|info|warn|error [LIFEBOAT_LOG_LEVEL]; default info\n"
           "  --http-check-hosts a,*.b HTTP check hosts allowed (names, IPs, *.suffix)\n"
           "                           [LIFEBOAT_HTTP_CHECK_HOSTS]; default any host the\n"
           "                           fixed rules allow (no metadata, API server, loopback)\n"
           "  --http-check-allow-loopback[=BOOL]  allow HTTP checks to 127.0.0.0/8 and ::1\n"
           "                           (local environments only)\n"
           "                           [LIFEBOAT_HTTP_CHECK_ALLOW_LOOPBACK]; default false\n"
           "  --sql-sslmode MODE       minimum libpq sslmode of SQL checks: disable|allow|\n"
           "                           prefer|require|verify-ca|verify-full\n"
           "                           [LIFEBOAT_SQL_SSLMODE]; default verify-full\n"
           "  --sql-sslrootcert PATH   CA bundle for verify-ca/verify-full (e.g. the RDS\n"
           "                           bundle) [LIFEBOAT_SQL_SSLROOTCERT]; default libpq's\n"
           "  --s3sync-operator-max-objects N  keys per side an s3Sync item syncs inside\n"
           "                           the operator; above it the item runs as an Indexed\n"
           "                           Job of lifeboat-agent s3-sync shards, 1..1000000\n"
           "                           [LIFEBOAT_S3SYNC_OPERATOR_MAX_OBJECTS]; default 100000\n"
           "  --job-session-duration S  seconds of the AWS session minted for an agent Job\n"
           "                           when the request's scope names a role, 900..43200\n"
           "                           [LIFEBOAT_JOB_SESSION_DURATION]; default 3600\n"
           "  --job-session-renew-margin S  a running Job's session is renewed once it\n"
           "                           expires within S seconds, 1..duration-1\n"
           "                           [LIFEBOAT_JOB_SESSION_RENEW_MARGIN]; default 1200\n"
           "  --help                   show this help and exit\n"
           "  --version                print the version and exit\n";
}

typedef enum opt_id {
    OPT_KUBECONFIG,
    OPT_NAMESPACES,
    OPT_WORKERS,
    OPT_LEADER_ELECT,
    OPT_LEASE_NAME,
    OPT_LEASE_NAMESPACE,
    OPT_METRICS_ADDR,
    OPT_HEALTH_ADDR,
    OPT_LOG_FORMAT,
    OPT_LOG_LEVEL,
    OPT_HTTP_CHECK_HOSTS,
    OPT_HTTP_CHECK_ALLOW_LOOPBACK,
    OPT_SQL_SSLMODE,
    OPT_SQL_SSLROOTCERT,
    OPT_S3SYNC_OPERATOR_MAX_OBJECTS,
    OPT_JOB_SESSION_DURATION,
    OPT_JOB_SESSION_RENEW_MARGIN,
    OPT_HELP,
    OPT_VERSION,
} opt_id;

typedef struct opt_def {
    const char *flag;
    const char *env;
    opt_id id;
    int takes_value; /* 2: optional (--leader-elect[=bool]) */
} opt_def;

static const opt_def defs[] = {
    {"--kubeconfig", "KUBECONFIG", OPT_KUBECONFIG, 1},
    {"--namespaces", "LIFEBOAT_NAMESPACES", OPT_NAMESPACES, 1},
    {"--workers", "LIFEBOAT_WORKERS", OPT_WORKERS, 1},
    {"--leader-elect", "LIFEBOAT_LEADER_ELECT", OPT_LEADER_ELECT, 2},
    {"--lease-name", "LIFEBOAT_LEASE_NAME", OPT_LEASE_NAME, 1},
    {"--lease-namespace", "LIFEBOAT_LEASE_NAMESPACE", OPT_LEASE_NAMESPACE, 1},
    {"--metrics-addr", "LIFEBOAT_METRICS_ADDR", OPT_METRICS_ADDR, 1},
    {"--health-addr", "LIFEBOAT_HEALTH_ADDR", OPT_HEALTH_ADDR, 1},
    {"--log-format", "LIFEBOAT_LOG_FORMAT", OPT_LOG_FORMAT, 1},
    {"--log-level", "LIFEBOAT_LOG_LEVEL", OPT_LOG_LEVEL, 1},
    {"--http-check-hosts", "LIFEBOAT_HTTP_CHECK_HOSTS", OPT_HTTP_CHECK_HOSTS, 1},
    {"--http-check-allow-loopback", "LIFEBOAT_HTTP_CHECK_ALLOW_LOOPBACK",
     OPT_HTTP_CHECK_ALLOW_LOOPBACK, 2},
    {"--sql-sslmode", "LIFEBOAT_SQL_SSLMODE", OPT_SQL_SSLMODE, 1},
    {"--sql-sslrootcert", "LIFEBOAT_SQL_SSLROOTCERT", OPT_SQL_SSLROOTCERT, 1},
    {"--s3sync-operator-max-objects", "LIFEBOAT_S3SYNC_OPERATOR_MAX_OBJECTS",
     OPT_S3SYNC_OPERATOR_MAX_OBJECTS, 1},
    {"--job-session-duration", "LIFEBOAT_JOB_SESSION_DURATION", OPT_JOB_SESSION_DURATION, 1},
    {"--job-session-renew-margin", "LIFEBOAT_JOB_SESSION_RENEW_MARGIN",
     OPT_JOB_SESSION_RENEW_MARGIN, 1},
    {"--help", NULL, OPT_HELP, 0},
    {"--version", NULL, OPT_VERSION, 0},
};
#define N_DEFS (sizeof(defs) / sizeof(defs[0]))

static void set_str(char **slot, const char *v)
{
    free(*slot);
    *slot = lb_strdup(v);
}

static int parse_bool(int *out, const char *v, const char *name)
{
    if (strcmp(v, "true") == 0 || strcmp(v, "1") == 0 || strcmp(v, "yes") == 0) {
        *out = 1;
        return 0;
    }
    if (strcmp(v, "false") == 0 || strcmp(v, "0") == 0 || strcmp(v, "no") == 0) {
        *out = 0;
        return 0;
    }
    return lb_error_setc(LB_EINVALID, "%s: must be true or false, got '%s'", name, v);
}

static int parse_namespaces(op_options *o, const char *v, const char *name)
{
    char *copy = lb_strdup(v), *save = NULL, *tok;
    int result = 0;
    for (size_t i = 0; i < o->n_namespaces; i++)
        free(o->namespaces[i]);
    free(o->namespaces);
    o->namespaces = NULL;
    o->n_namespaces = 0;
    for (tok = strtok_r(copy, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
        size_t len = strlen(tok);
        int ok = len > 0 && len <= 63;
        for (size_t i = 0; ok && i < len; i++) {
            char ch = tok[i];
            ok = (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
                 (ch == '-' && i > 0 && i + 1 < len);
        }
        if (!ok) {
            result = lb_error_setc(LB_EINVALID,
                                   "%s: '%s' is not a namespace name (a DNS label: 1-63 "
                                   "lower-case letters, digits and inner '-')",
                                   name, tok);
            goto done;
        }
        if (o->n_namespaces >= MGR_MAX_NAMESPACES) {
            result =
                lb_error_setc(LB_EINVALID, "%s: at most %d namespaces", name, MGR_MAX_NAMESPACES);
            goto done;
        }
        o->namespaces = lb_realloc(o->namespaces, (o->n_namespaces + 1) * sizeof(char *));
        o->namespaces[o->n_namespaces++] = lb_strdup(tok);
    }
done:
    free(copy);
    return result;
}

static int parse_hosts(op_options *o, const char *v, const char *name)
{
    char *copy = lb_strdup(v), *save = NULL, *tok;
    int result = 0;
    for (size_t i = 0; i < o->n_http_check_hosts; i++)
        free(o->http_check_hosts[i]);
    free(o->http_check_hosts);
    o->http_check_hosts = NULL;
    o->n_http_check_hosts = 0;
    for (tok = strtok_r(copy, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
        if (netguard_pattern_valid(tok, name) != 0) {
            result = LB_EINVALID;
            break;
        }
        if (o->n_http_check_hosts >= NETGUARD_MAX_PATTERNS) {
            result =
                lb_error_setc(LB_EINVALID, "%s: at most %d hosts", name, NETGUARD_MAX_PATTERNS);
            break;
        }
        o->http_check_hosts =
            lb_realloc(o->http_check_hosts, (o->n_http_check_hosts + 1) * sizeof(char *));
        o->http_check_hosts[o->n_http_check_hosts++] = lb_strdup(tok);
    }
    free(copy);
    return result;
}

static int parse_sslmode(op_options *o, const char *v, const char *name)
{
    static const char *const modes[] = {"disable", "allow",     "prefer",
                                        "require", "verify-ca", "verify-full"};
    for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
        if (strcmp(v, modes[i]) == 0) {
            set_str(&o->sql_sslmode, v);
            return 0;
        }
    }
    return lb_error_setc(LB_EINVALID,
                         "%s: must be one of disable, allow, prefer, require, verify-ca, "
                         "verify-full, got '%.40s'",
                         name, v);
}

static int apply(op_options *o, const opt_def *d, const char *v, const char *name)
{
    char *end = NULL;
    long n;

    if (v != NULL && strlen(v) > OPT_MAX_VALUE)
        return lb_error_setc(LB_EINVALID, "%s: value longer than %d bytes", name, OPT_MAX_VALUE);
    if (d->takes_value == 1 && v[0] == '\0' && d->id != OPT_NAMESPACES)
        return lb_error_setc(LB_EINVALID, "%s: must not be empty", name);
    switch (d->id) {
    case OPT_KUBECONFIG:
        set_str(&o->kubeconfig, v);
        return 0;
    case OPT_NAMESPACES:
        return parse_namespaces(o, v, name);
    case OPT_WORKERS:
        errno = 0;
        n = strtol(v, &end, 10);
        if (errno != 0 || end == v || *end != '\0' || n < 1 || n > MGR_MAX_WORKERS)
            return lb_error_setc(LB_EINVALID, "%s: must be an integer from 1 to %d, got '%s'", name,
                                 MGR_MAX_WORKERS, v);
        o->workers = (int)n;
        return 0;
    case OPT_LEADER_ELECT:
        return parse_bool(&o->leader_elect, v != NULL ? v : "true", name);
    case OPT_LEASE_NAME:
        set_str(&o->lease_name, v);
        return 0;
    case OPT_LEASE_NAMESPACE:
        set_str(&o->lease_namespace, v);
        return 0;
    case OPT_METRICS_ADDR:
        set_str(&o->metrics_addr, v);
        return 0;
    case OPT_HEALTH_ADDR:
        set_str(&o->health_addr, v);
        return 0;
    case OPT_LOG_FORMAT:
        if (lb_log_format_parse(&o->log_format, v) != 0)
            return lb_error_setc(LB_EINVALID, "%s: must be json or text, got '%s'", name, v);
        return 0;
    case OPT_LOG_LEVEL:
        if (lb_log_level_parse(&o->log_level, v) != 0)
            return lb_error_setc(LB_EINVALID,
                                 "%s: must be one of debug, info, warn, error, got '%s'", name, v);
        return 0;
    case OPT_HTTP_CHECK_HOSTS:
        return parse_hosts(o, v, name);
    case OPT_HTTP_CHECK_ALLOW_LOOPBACK:
        return parse_bool(&o->http_check_allow_loopback, v != NULL ? v : "true", name);
    case OPT_SQL_SSLMODE:
        return parse_sslmode(o, v, name);
    case OPT_SQL_SSLROOTCERT:
        set_str(&o->sql_sslrootcert, v);
        return 0;
    case OPT_S3SYNC_OPERATOR_MAX_OBJECTS:
        errno = 0;
        n = strtol(v, &end, 10);
        if (errno != 0 || end == v || *end != '\0' || n < 1 || n > S3SYNC_MAX_OBJECTS)
            return lb_error_setc(LB_EINVALID, "%s: must be an integer from 1 to %d, got '%s'", name,
                                 S3SYNC_MAX_OBJECTS, v);
        o->s3sync_operator_max_objects = n;
        return 0;
    case OPT_JOB_SESSION_DURATION:
    case OPT_JOB_SESSION_RENEW_MARGIN: {
        int dur = d->id == OPT_JOB_SESSION_DURATION;
        long lo = dur ? JOBCREDS_DURATION_MIN_S : 1, hi = JOBCREDS_DURATION_MAX_S;
        errno = 0;
        n = strtol(v, &end, 10);
        if (errno != 0 || end == v || *end != '\0' || n < lo || n > hi)
            return lb_error_setc(LB_EINVALID,
                                 "%s: must be an integer from %ld to %ld seconds, "
                                 "got '%s'",
                                 name, lo, hi, v);
        *(dur ? &o->job_session_duration : &o->job_session_renew_margin) = (int)n;
        return 0;
    }
    case OPT_HELP:
        o->help = 1;
        return 0;
    case OPT_VERSION:
        o->version = 1;
        return 0;
    }
    return lb_error_setc(LB_EINVALID, "%s: unknown option", name);
}

int op_options_parse(op_options *out, int argc, char **argv)
{
    const char *pod_ns;
    int result = 0;

    memset(out, 0, sizeof(*out));
    out->workers = 4;
    out->lease_name = lb_strdup("lifeboat-operator");
    out->metrics_addr = lb_strdup(":8080");
    out->health_addr = lb_strdup(":8081");
    out->log_format = LB_LOG_FORMAT_JSON;
    out->log_level = LB_LOG_LEVEL_INFO;
    out->sql_sslmode = lb_strdup("verify-full");
    out->s3sync_operator_max_objects = S3SYNC_OPERATOR_MAX_OBJECTS_DEFAULT;
    out->job_session_duration = JOBCREDS_DURATION_DEFAULT_S;
    out->job_session_renew_margin = JOBCREDS_MARGIN_DEFAULT_S;
    pod_ns = getenv("POD_NAMESPACE");
    if (pod_ns != NULL && pod_ns[0] != '\0')
        out->lease_namespace = lb_strdup(pod_ns);

    /* the environment first, so that flags override it */
    for (size_t k = 0; k < N_DEFS; k++) {
        const char *v = defs[k].env != NULL ? getenv(defs[k].env) : NULL;
        if (v == NULL || v[0] == '\0')
            continue;
        result = apply(out, &defs[k], v, defs[k].env);
        if (result != 0)
            return result;
    }

    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i], *eq = strchr(arg, '='), *value = NULL;
        size_t name_len = eq != NULL ? (size_t)(eq - arg) : strlen(arg);
        const opt_def *d = NULL;
        char name[64];

        if (strcmp(arg, "-h") == 0) {
            out->help = 1;
            continue;
        }
        for (size_t k = 0; k < N_DEFS; k++)
            if (strlen(defs[k].flag) == name_len && strncmp(arg, defs[k].flag, name_len) == 0)
                d = &defs[k];
        if (d == NULL)
            return lb_error_setc(LB_EINVALID, "unknown flag '%.100s' (see --help)", arg);
        snprintf(name, sizeof(name), "%s", d->flag);
        if (eq != NULL) {
            if (d->takes_value == 0)
                return lb_error_setc(LB_EINVALID, "%s: takes no value", name);
            value = eq + 1;
        } else if (d->takes_value == 1) {
            if (i + 1 >= argc)
                return lb_error_setc(LB_EINVALID, "%s: needs a value", name);
            value = argv[++i];
        }
        result = apply(out, d, value, name);
        if (result != 0)
            return result;
    }
    if (out->job_session_renew_margin >= out->job_session_duration)
        return lb_error_setc(LB_EINVALID,
                             "--job-session-renew-margin: must be less than "
                             "--job-session-duration (%d), got %d",
                             out->job_session_duration, out->job_session_renew_margin);
    return 0;
}

void op_options_dispose(op_options *o)
{
    if (o == NULL)
        return;
    free(o->kubeconfig);
    for (size_t i = 0; i < o->n_namespaces; i++)
        free(o->namespaces[i]);
    free(o->namespaces);
    free(o->lease_name);
    free(o->lease_namespace);
    free(o->metrics_addr);
    free(o->health_addr);
    for (size_t i = 0; i < o->n_http_check_hosts; i++)
        free(o->http_check_hosts[i]);
    free(o->http_check_hosts);
    free(o->sql_sslmode);
    free(o->sql_sslrootcert);
    memset(o, 0, sizeof(*o));
}
