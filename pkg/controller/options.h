/* options.h - lifeboat-operator's flags and their environment equivalents.
 *
 * Each flag has an environment variable; a flag given on the command line
 * wins over the variable, which wins over the default:
 *
 *   --kubeconfig PATH        KUBECONFIG (then in-cluster, then ~/.kube/config)
 *   --namespaces a,b         LIFEBOAT_NAMESPACES      all namespaces
 *   --workers N              LIFEBOAT_WORKERS         4
 *   --leader-elect[=bool]    LIFEBOAT_LEADER_ELECT    false
 *   --lease-name NAME        LIFEBOAT_LEASE_NAME      lifeboat-operator
 *   --lease-namespace NS     LIFEBOAT_LEASE_NAMESPACE POD_NAMESPACE, else the kubeconfig's
 *   --metrics-addr ADDR      LIFEBOAT_METRICS_ADDR    :8080
 *   --health-addr ADDR       LIFEBOAT_HEALTH_ADDR     :8081
 *   --log-format json|text   LIFEBOAT_LOG_FORMAT      json
 *   --log-level LEVEL        LIFEBOAT_LOG_LEVEL       info
 *   --http-check-hosts a,*.b LIFEBOAT_HTTP_CHECK_HOSTS  any host netguard's fixed rules allow
 *   --http-check-allow-loopback[=bool]  LIFEBOAT_HTTP_CHECK_ALLOW_LOOPBACK  false
 *   --sql-sslmode MODE       LIFEBOAT_SQL_SSLMODE     verify-full (the minimum for SQL checks)
 *   --sql-sslrootcert PATH   LIFEBOAT_SQL_SSLROOTCERT libpq's default
 *   --s3sync-operator-max-objects N  LIFEBOAT_S3SYNC_OPERATOR_MAX_OBJECTS  100000
 *                            (1..S3SYNC_MAX_OBJECTS; above it an s3Sync item runs as a Job)
 *   --job-session-duration S       LIFEBOAT_JOB_SESSION_DURATION      3600 (900..43200)
 *   --job-session-renew-margin S   LIFEBOAT_JOB_SESSION_RENEW_MARGIN  1200 (< the duration)
 *                            (the AWS session of an agent Job under a scope role, and
 *                            how long before its expiry a running Job's is renewed:
 *                            restore/jobcreds.h)
 *   --help, --version
 *
 * Both `--flag value` and `--flag=value` are accepted. Errors name the flag
 * (or variable) and the rule.
 */
#ifndef LB_CONTROLLER_OPTIONS_H
#define LB_CONTROLLER_OPTIONS_H

#include <stddef.h>

#include "controller/manager.h"
#include "util/log.h"

#define OPT_MAX_VALUE 1024 /* bytes of one flag value */

typedef struct op_options {
    char *kubeconfig; /* NULL: the default chain */
    char **namespaces;
    size_t n_namespaces;
    int workers;
    int leader_elect;
    char *lease_name;
    char *lease_namespace; /* NULL: decided once the kubeconfig is loaded */
    char *metrics_addr;
    char *health_addr;
    lb_log_format log_format;
    lb_log_level log_level;
    char **http_check_hosts; /* util/netguard.h patterns; none: any allowed host */
    size_t n_http_check_hosts;
    int http_check_allow_loopback;
    char *sql_sslmode;                /* never NULL after parsing */
    char *sql_sslrootcert;            /* NULL: libpq's default */
    long s3sync_operator_max_objects; /* keys per side an s3Sync item syncs in the operator */
    int job_session_duration;         /* seconds of a Job's minted AWS session */
    int job_session_renew_margin;     /* renewed once it expires within this */
    int help;
    int version;
} op_options;

/* Parses argv (argv[0] is the program) over the environment (getenv).
 * Returns 0, or LB_EINVALID with a message naming the flag; *out is
 * released with op_options_dispose() either way. */
int op_options_parse(op_options *out, int argc, char **argv);

void op_options_dispose(op_options *o);

/* The --help text. */
const char *op_options_usage(void);

#endif
