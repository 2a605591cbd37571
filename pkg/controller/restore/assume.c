/* assume.c - per-request AssumeRole sessions, cached until near expiry. */
#include "controller/restore/assume.h"

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "aws/credentials.h"
#include "aws/sts.h"
#include "util/alloc.h"
#include "util/error.h"

typedef struct entry {
    char *key;  /* "<ns>/<name>" */
    char *role; /* the role it signs as */
    aws_client *client;
    long long expiration; /* Unix seconds */
} entry;

static entry *entries;
static size_t n_entries;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

void assume_session_name(char *buf, size_t size, const char *ns, const char *name)
{
    size_t n = 0;
    char raw[600];
    snprintf(raw, sizeof(raw), "lb-%s-%s", ns ? ns : "", name ? name : "");
    for (size_t i = 0; raw[i] != '\0' && n + 1 < size && n < 64; i++) {
        unsigned char c = (unsigned char)raw[i];
        buf[n++] = (isalnum(c) || strchr("+=,.@-", c) != NULL) ? (char)c : '-';
    }
    buf[n] = '\0';
}

static void entry_dispose(entry *e)
{
    free(e->key);
    free(e->role);
    aws_client_free(e->client);
    memset(e, 0, sizeof(*e));
}

/* Drops expired entries (lock held). */
static void sweep(long long now)
{
    size_t j = 0;
    for (size_t i = 0; i < n_entries; i++) {
        if (entries[i].expiration <= now)
            entry_dispose(&entries[i]);
        else
            entries[j++] = entries[i];
    }
    n_entries = j;
}

int assume_client(aws_client **out, aws_client *base, const char *role_arn, const char *ns,
                  const char *name)
{
    char key[600], session[65];
    long long now = (long long)time(NULL);
    aws_credentials cr;
    aws_client *fresh = NULL;
    const char *tags[4] = {"lifeboat.dev/namespace", ns, "lifeboat.dev/request", name};
    entry *e = NULL;
    int rc = 0;

    *out = NULL;
    snprintf(key, sizeof(key), "%s/%s", ns, name);
    pthread_mutex_lock(&lock);
    for (size_t i = 0; i < n_entries; i++) {
        if (strcmp(entries[i].key, key) == 0) {
            e = &entries[i];
            break;
        }
    }
    if (e != NULL && strcmp(e->role, role_arn) == 0 &&
        e->expiration - ASSUME_REFRESH_AHEAD_S > now) {
        *out = e->client;
        pthread_mutex_unlock(&lock);
        return 0;
    }
    pthread_mutex_unlock(&lock);

    /* outside the lock: an STS call takes a round trip */
    assume_session_name(session, sizeof(session), ns, name);
    rc = sts_assume_role(&cr, base, role_arn, session, tags, 2, ASSUME_DURATION_S);
    if (rc != 0)
        return rc;
    rc = aws_client_new_with_keys(&fresh, base, cr.access_key_id, cr.secret_access_key,
                                  cr.session_token);
    if (rc != 0) {
        aws_credentials_dispose(&cr);
        return rc;
    }

    pthread_mutex_lock(&lock);
    e = NULL;
    for (size_t i = 0; i < n_entries; i++) {
        if (strcmp(entries[i].key, key) == 0) {
            e = &entries[i];
            entry_dispose(e); /* only this request's worker used it */
            break;
        }
    }
    if (e == NULL) {
        if (n_entries >= ASSUME_MAX_ENTRIES)
            sweep(now);
        if (n_entries >= ASSUME_MAX_ENTRIES) {
            pthread_mutex_unlock(&lock);
            aws_client_free(fresh);
            aws_credentials_dispose(&cr);
            return lb_error_setc(LB_ETOOBIG, "assume-role cache full (%d sessions)",
                                 ASSUME_MAX_ENTRIES);
        }
        entries = lb_realloc(entries, (n_entries + 1) * sizeof(*entries));
        e = &entries[n_entries++];
    }
    e->key = lb_strdup(key);
    e->role = lb_strdup(role_arn);
    e->client = fresh;
    e->expiration = cr.expiration > 0 ? cr.expiration : now + ASSUME_DURATION_S;
    *out = fresh;
    pthread_mutex_unlock(&lock);
    aws_credentials_dispose(&cr);
    return 0;
}

void assume_cache_clear(void)
{
    pthread_mutex_lock(&lock);
    for (size_t i = 0; i < n_entries; i++)
        entry_dispose(&entries[i]);
    free(entries);
    entries = NULL;
    n_entries = 0;
    pthread_mutex_unlock(&lock);
}
