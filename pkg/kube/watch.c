/* watch.c - the line framer and watch streams. */
#include "kube/watch.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "kube/internal.h"
#include "kube/keep.h"
#include "util/alloc.h"
#include "util/error.h"

/* ---- framer ------------------------------------------------------------------------- */

void kube_framer_init(kube_framer *f, size_t max_line)
{
    memset(f, 0, sizeof(*f));
    f->max_line = max_line;
}

static int emit(const char *line, size_t len, kube_line_fn fn, void *payload)
{
    if (len > 0 && line[len - 1] == '\r')
        len--;
    if (len == 0)
        return 0;
    return fn(line, len, payload);
}

static void pending_append(kube_framer *f, const char *p, size_t n)
{
    if (f->len + n > f->alloc) {
        size_t want = f->alloc ? f->alloc : 4096;
        while (want < f->len + n)
            want *= 2;
        f->pending = lb_realloc(f->pending, want);
        f->alloc = want;
    }
    memcpy(f->pending + f->len, p, n);
    f->len += n;
}

int kube_framer_feed(kube_framer *f, const char *data, size_t len, kube_line_fn fn, void *payload)
{
    const char *p = data, *end = data + len;
    int rc;

    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t seg = nl ? (size_t)(nl - p) : (size_t)(end - p);

        if (f->len + seg > f->max_line) {
            return lb_error_setc(LB_ETOOBIG, "watch: a line is longer than %zu bytes", f->max_line);
        }
        if (nl == NULL) {
            pending_append(f, p, seg); /* the tail waits for its end */
            return 0;
        }
        if (f->len == 0) {
            rc = emit(p, seg, fn, payload); /* whole line inside this chunk: no copy */
        } else {
            size_t total;
            pending_append(f, p, seg);
            total = f->len;
            f->len = 0; /* reset first: the callback may stop us */
            rc = emit(f->pending, total, fn, payload);
        }
        if (rc != 0)
            return rc;
        p = nl + 1;
    }
    return 0;
}

size_t kube_framer_pending(const kube_framer *f)
{
    return f->len;
}

void kube_framer_reset(kube_framer *f)
{
    f->len = 0;
}

void kube_framer_dispose(kube_framer *f)
{
    free(f->pending);
    f->pending = NULL;
    f->len = f->alloc = 0;
}

/* ---- watch -------------------------------------------------------------------------- */

struct kube_watch {
    kube_client *c;
    char *group, *version, *resource, *namespace;
    char *label_selector, *field_selector;
    int timeout_seconds;
    int no_bookmarks;
    char rv[KUBE_MAX_RV_BYTES + 1];
    atomic_int cancel;
    kube_keep_spec *keep; /* NULL: events decoded whole */
};

const char *const kube_watch_event_fields[] = {"/type",
                                               "/object/metadata/name",
                                               "/object/metadata/namespace",
                                               "/object/metadata/resourceVersion",
                                               "/object/code",
                                               "/object/reason",
                                               "/object/message",
                                               "/object/details",
                                               NULL};

typedef struct run_state {
    kube_watch *w;
    CURL *h;
    kube_framer framer;
    lb_buf error_body; /* a non-2xx answer, kept to read its Status */
    long http;
    int result; /* what stopped the stream early, if anything */
    kube_watch_fn fn;
    void *payload;
    char *what;
} run_state;

static char *dup_or_null(const char *s)
{
    return s != NULL ? lb_strdup(s) : NULL;
}

int kube_watch_new(kube_watch **out, kube_client *c, const kube_ref *ref,
                   const kube_watch_options *opts)
{
    kube_watch *w;

    *out = NULL;
    if (ref->name != NULL || ref->subresource != NULL)
        return lb_error_setc(LB_EINVALID, "kube_watch: ref must name a collection");
    if (opts != NULL && opts->resource_version != NULL &&
        strlen(opts->resource_version) > KUBE_MAX_RV_BYTES)
        return lb_error_setc(LB_EINVALID, "kube_watch: resourceVersion longer than %d bytes",
                             KUBE_MAX_RV_BYTES);
    w = lb_calloc(1, sizeof(*w));
    w->c = c;
    w->group = dup_or_null(ref->group);
    w->version = dup_or_null(ref->version);
    w->resource = dup_or_null(ref->resource);
    w->namespace = dup_or_null(ref->namespace);
    w->timeout_seconds = KUBE_WATCH_DEFAULT_TIMEOUT_S;
    if (opts != NULL) {
        w->label_selector = dup_or_null(opts->label_selector);
        w->field_selector = dup_or_null(opts->field_selector);
        if (opts->timeout_seconds > 0)
            w->timeout_seconds = opts->timeout_seconds;
        w->no_bookmarks = opts->no_bookmarks;
        if (opts->resource_version != NULL)
            snprintf(w->rv, sizeof(w->rv), "%s", opts->resource_version);
        if (opts->keep != NULL) {
            int rc = kube_keep_compile(&w->keep, "/object", opts->keep, kube_watch_event_fields);
            if (rc != 0) {
                kube_watch_free(w);
                return rc;
            }
        }
    }
    atomic_init(&w->cancel, 0);
    *out = w;
    return 0;
}

void kube_watch_free(kube_watch *w)
{
    if (w == NULL)
        return;
    free(w->group);
    free(w->version);
    free(w->resource);
    free(w->namespace);
    free(w->label_selector);
    free(w->field_selector);
    kube_keep_spec_free(w->keep);
    free(w);
}

void kube_watch_cancel(kube_watch *w)
{
    atomic_store(&w->cancel, 1);
}

int kube_watch_cancelled(const kube_watch *w)
{
    return atomic_load(&((kube_watch *)w)->cancel);
}

const char *kube_watch_resource_version(const kube_watch *w)
{
    return w->rv;
}

void kube_watch_set_resource_version(kube_watch *w, const char *rv)
{
    snprintf(w->rv, sizeof(w->rv), "%s", rv ? rv : "");
}

static void remember_rv(kube_watch *w, const json_t *obj)
{
    const char *rv =
        json_string_value(json_object_get(json_object_get(obj, "metadata"), "resourceVersion"));
    if (rv != NULL && rv[0] != '\0' && strlen(rv) <= KUBE_MAX_RV_BYTES)
        snprintf(w->rv, sizeof(w->rv), "%s", rv);
}

static int on_line(const char *line, size_t len, void *payload)
{
    run_state *st = payload;
    json_error_t jerr;
    json_t *ev = NULL;
    const char *type;
    json_t *obj;
    int rc = 0;

    if (st->w->keep != NULL) {
        if (kube_keep_decode(&ev, st->w->keep, line, len) != 0)
            return lb_error_wrap(LB_EINVALID, "%s: event is not a JSON object", st->what);
    } else if ((ev = json_loadb(line, len, 0, &jerr)) == NULL) {
        return lb_error_setc(LB_EINVALID, "%s: event is not JSON: %s", st->what, jerr.text);
    }
    type = json_string_value(json_object_get(ev, "type"));
    obj = json_object_get(ev, "object");
    if (type == NULL || !json_is_object(obj)) {
        rc = lb_error_setc(LB_EINVALID, "%s: event needs a string type and an object", st->what);
        goto done;
    }
    if (strcmp(type, "ERROR") == 0) {
        rc = kube_status_error_json(obj, st->what);
        goto done;
    }
    if (strcmp(type, "ADDED") != 0 && strcmp(type, "MODIFIED") != 0 &&
        strcmp(type, "DELETED") != 0 && strcmp(type, "BOOKMARK") != 0) {
        rc = lb_error_setc(LB_EINVALID, "%s: unknown event type \"%.32s\"", st->what, type);
        goto done;
    }
    remember_rv(st->w, obj);
    rc = st->fn(type, obj, st->payload);
done:
    json_decref(ev);
    return rc;
}

static size_t on_write(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    run_state *st = userdata;
    size_t n = size * nmemb;
    int rc;

    if (st->http == 0)
        curl_easy_getinfo(st->h, CURLINFO_RESPONSE_CODE, &st->http);
    if (st->http < 200 || st->http >= 300) {
        /* Keep what fits of an error body; the rest is not needed. */
        size_t room = KUBE_MAX_ERROR_BYTES - buf_len(&st->error_body);
        buf_append(&st->error_body, ptr, n < room ? n : room);
        return n;
    }
    rc = kube_framer_feed(&st->framer, ptr, n, on_line, st);
    if (rc != 0) {
        st->result = rc;
        return 0; /* stops the transfer: CURLE_WRITE_ERROR */
    }
    return n;
}

static int on_progress(void *clientp, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    run_state *st = clientp;
    (void)dltotal;
    (void)dlnow;
    (void)ultotal;
    (void)ulnow;
    return atomic_load(&st->w->cancel) ? 1 : 0;
}

int kube_watch_run(kube_watch *w, kube_watch_fn fn, void *payload)
{
    kube_ref ref = {w->group, w->version, w->resource, w->namespace, NULL, NULL};
    kube_credentials creds = {0};
    struct curl_slist *headers = NULL;
    run_state st;
    lb_buf q;
    char *url = NULL;
    char tmo[32];
    CURLcode cc;
    double t0;
    int result, qrc = 0;

    memset(&st, 0, sizeof(st));
    st.w = w;
    st.fn = fn;
    st.payload = payload;
    kube_framer_init(&st.framer, KUBE_MAX_WATCH_LINE);
    buf_init(&st.error_body, KUBE_MAX_ERROR_BYTES);
    buf_init(&q, KUBE_MAX_URL_BYTES);
    st.what = lb_sprintf("WATCH %s%s%s", w->namespace ? w->namespace : "", w->namespace ? "/" : "",
                         w->resource);

    if (atomic_load(&w->cancel)) {
        result = 0;
        goto done;
    }
    qrc |= kube__query_add(&q, "watch", "1");
    if (w->rv[0] != '\0')
        qrc |= kube__query_add(&q, "resourceVersion", w->rv);
    if (!w->no_bookmarks)
        qrc |= kube__query_add(&q, "allowWatchBookmarks", "true");
    snprintf(tmo, sizeof(tmo), "%d", w->timeout_seconds);
    qrc |= kube__query_add(&q, "timeoutSeconds", tmo);
    if (w->label_selector != NULL && w->label_selector[0])
        qrc |= kube__query_add(&q, "labelSelector", w->label_selector);
    if (w->field_selector != NULL && w->field_selector[0])
        qrc |= kube__query_add(&q, "fieldSelector", w->field_selector);
    if (qrc != 0) {
        result = lb_error_setc(LB_ETOOBIG, "%s: query longer than KUBE_MAX_URL_BYTES", st.what);
        goto done;
    }
    result = kube__url(&url, w->c, &ref, buf_cstr(&q));
    if (result != 0)
        goto done;
    result = kube_config_credentials(&creds, kube_client_config(w->c));
    if (result != 0)
        goto done;
    st.h = kube__easy_new(w->c, url, &creds, &headers);
    kube_credentials_dispose(&creds);
    if (st.h == NULL) {
        result = LB_ERROR;
        goto done;
    }
    /* The server ends the stream after timeoutSeconds; allow it a margin. */
    curl_easy_setopt(st.h, CURLOPT_TIMEOUT_MS, (long)(w->timeout_seconds + 30) * 1000L);
    curl_easy_setopt(st.h, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(st.h, CURLOPT_WRITEDATA, &st);
    curl_easy_setopt(st.h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(st.h, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(st.h, CURLOPT_XFERINFODATA, &st);
    t0 = kube__now();
    cc = curl_easy_perform(st.h);
    if (st.http == 0)
        curl_easy_getinfo(st.h, CURLINFO_RESPONSE_CODE, &st.http);
    kube__count(w->c, st.h);
    kube__metrics(w->c, "WATCH", st.http, kube__now() - t0);

    if (st.result != 0) {
        result = st.result; /* an ERROR event, a bad line, or the callback's value */
        goto done;
    }
    if (cc == CURLE_ABORTED_BY_CALLBACK && atomic_load(&w->cancel)) {
        result = 0;
        goto done;
    }
    if (cc != CURLE_OK) {
        result = lb_error_setc(cc == CURLE_OPERATION_TIMEDOUT ? LB_ETIMEOUT : LB_ERROR, "%s: %s",
                               st.what, curl_easy_strerror(cc));
        goto done;
    }
    if (st.http < 200 || st.http >= 300) {
        result =
            kube_status_error(st.http, buf_cstr(&st.error_body), buf_len(&st.error_body), st.what);
        goto done;
    }
    if (kube_framer_pending(&st.framer) > 0) {
        result = lb_error_setc(LB_ERROR, "%s: stream ended inside an event (%zu bytes)", st.what,
                               kube_framer_pending(&st.framer));
        goto done;
    }
    result = 0;
done:
    if (st.h != NULL)
        curl_easy_cleanup(st.h);
    curl_slist_free_all(headers);
    kube_framer_dispose(&st.framer);
    buf_dispose(&st.error_body);
    buf_dispose(&q);
    free(url);
    free(st.what);
    return result;
}
