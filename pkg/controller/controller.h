/* controller.h - what the three reconcilers share (DESIGN.md section 2).
 *
 * A reconcile is level-triggered: it decides from the informer's kept view of
 * the object (ctrl_kind.keep) whether there is work, reads what it acts on
 * from the API server, works out the status the object should have, writes it through the
 * /status subresource when it differs (kube/statuswriter.h) and records an
 * Event when the phase (or, for kinds without one, the Valid condition)
 * changes. Each kind supplies one pure function, `desired`, that turns an
 * object into its status; everything with I/O lives in ctrl_reconcile(), so
 * the kinds' behaviour is unit-tested without a server.
 *
 * Validation costs ~200 us, so a spec is re-validated only when
 * metadata.generation moves: an object whose status.observedGeneration and
 * Valid condition already match its generation is left alone without
 * parsing anything (ctrl_status_current()).
 */
#ifndef LB_CONTROLLER_CONTROLLER_H
#define LB_CONTROLLER_CONTROLLER_H

#include <jansson.h>
#include <stdint.h>

#include "aws/request.h"
#include "kube/client.h"
#include "kube/recorder.h"
#include "util/timeutil.h"

#define CTRL_MAX_EVENT_MESSAGE 1024 /* an Event's message (the server's limit) */

/* Fills `status` (the object's current status, copied; change it in place)
 * with what the object should show at time `now`. Pure: no I/O, the same
 * input gives the same output. Returns 0 or a negative code. */
typedef int (*ctrl_desired_fn)(json_t *status, const json_t *obj, lb_time now);

struct ctrl_env;
struct ctrl_result;

/* A kind's own reconcile, for kinds that do work beyond a pure status (the
 * restore step engine): same contract as ctrl_reconcile(). */
typedef int (*ctrl_run_fn)(struct ctrl_result *out, const struct ctrl_env *env, const json_t *obj);

typedef struct ctrl_kind {
    const char *controller; /* "restore": logs and metrics */
    const char *kind;       /* "RestoreRequest" */
    const char *resource;   /* "restorerequests" (group lifeboat.dev, v1alpha1) */
    int has_phase;          /* status.phase exists for this kind */
    ctrl_desired_fn desired;
    ctrl_run_fn run; /* optional: replaces the desired-status reconcile */
    /* What the informer caches of each object (kube/keep.h paths, NULL-
     * terminated; NULL: whole objects). `run` gets that kept view and must
     * read from the API server anything else it acts on. It must name every
     * field whose change by someone else needs a reconcile: an update that
     * leaves the view as it was but for metadata.resourceVersion queues
     * nothing (the resync every MGR_RESYNC_SECONDS still does). */
    const char *const *keep;
} ctrl_kind;

/* The kept-view paths every kind starts with: identity, the Valid condition's
 * generation (ctrl_status_current()), what an Event names. */
#define CTRL_KEEP_IDENTITY                                                                         \
    "/apiVersion", "/kind", "/metadata/namespace", "/metadata/name", "/metadata/uid",              \
        "/metadata/resourceVersion", "/metadata/generation", "/metadata/deletionTimestamp",        \
        "/metadata/finalizers", "/status/phase", "/status/observedGeneration",                     \
        "/status/conditions/*/type", "/status/conditions/*/status",                                \
        "/status/conditions/*/observedGeneration"

/* The three kinds (restore/, verify/, backup/). */
extern const ctrl_kind ctrl_kind_restore;
extern const ctrl_kind ctrl_kind_verify;
extern const ctrl_kind ctrl_kind_backup;

struct engine_metrics;
struct verify_metrics;
struct backup_metrics;

typedef struct ctrl_env {
    kube_client *client;                    /* status writes */
    kube_recorder *recorder;                /* Events; NULL records none */
    aws_client *aws;                        /* restore steps; NULL without AWS configuration */
    struct engine_metrics *restore_metrics; /* NULL: none */
    struct verify_metrics *verify_metrics;  /* NULL: none */
    struct backup_metrics *backup_metrics;  /* NULL: none */
} ctrl_env;

typedef enum ctrl_outcome {
    CTRL_SKIPPED = 0, /* status already current for this generation: nothing parsed */
    CTRL_UNCHANGED,   /* recomputed, nothing to write */
    CTRL_WRITTEN,     /* status written */
} ctrl_outcome;

typedef struct ctrl_result {
    ctrl_outcome outcome;
    int64_t requeue_ms;        /* >= 0: reconcile again after this long (polling); < 0: no */
    char resource_version[64]; /* CTRL_WRITTEN: the resourceVersion the server gave our write */
} ctrl_result;

/* Non-zero when obj's status was computed for its current generation
 * (status.observedGeneration and the Valid condition's observedGeneration
 * both equal metadata.generation). */
int ctrl_status_current(const json_t *obj);

/* metadata.generation (0 when absent). */
int64_t ctrl_generation(const json_t *obj);

/* Sets the conditions GitOps tools read (Reconciling, Stalled: api/health.h)
 * in `status`, the status about to be written for obj. Every kind's status
 * write calls it last. 0, or LB_ERROR when a condition could not be set. */
int ctrl_health_set(json_t *status, const json_t *obj);

/* Reconciles one object of kind k (obj borrowed: the cache's kept view when
 * k->keep is set; then a kind without `run` reads the whole object with a GET
 * once the kept view says its status is not current). On 0,
 * *out says what happened and whether to come back later. Errors are the
 * status writer's or a step's (the caller requeues with backoff); a failed
 * Event is logged, not returned. Kinds with a `run` function are handed to
 * it. */
int ctrl_reconcile(ctrl_result *out, const ctrl_kind *k, const ctrl_env *env, const json_t *obj);

/* Helpers for the kinds' desired functions. */

/* Sets Valid=False/InvalidSpec with the joined errors (or `fallback` when the
 * list is empty) and returns the message used (borrowed from status). */
const char *ctrl_set_invalid(json_t *status, const char *joined, int64_t gen, lb_time now);

/* Sets Valid=True/SpecValid. */
void ctrl_set_valid(json_t *status, int64_t gen, lb_time now);

/* status[key] = s, or removes key when s is NULL. */
void ctrl_set_str(json_t *status, const char *key, const char *s);

#endif
