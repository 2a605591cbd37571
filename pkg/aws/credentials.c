#include "aws/credentials.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "aws/private.h"
#include "aws/sts.h"
#include "util/alloc.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/log.h"

#define DEFAULT_IMDS_ENDPOINT  "http://169.254.169.254"
#define ECS_CREDENTIALS_HOST   "http://169.254.170.2"
#define DEFAULT_SESSION_PREFIX "lifeboat"
#define MAX_ROLE_NAME_BYTES    256

struct aws_credentials_provider {
    pthread_mutex_t lock;
    pthread_cond_t done; /* signalled when a refresh ends */
    int is_static;
    int have;
    int refreshing;        /* one thread fetches; the others wait or use the cache */
    long long retry_after; /* no new refresh attempt before this (after a failure) */
    aws_credentials cached;
    char *region;
    char *imds_endpoint; /* NULL: from the environment at resolve time */
    char stamp[320];     /* session-dir: the folder's version when cached was read */
};

static const char *env(const char *name)
{
    const char *v = getenv(name);
    return (v != NULL && v[0] != '\0') ? v : NULL;
}

static void creds_copy(aws_credentials *dst, const aws_credentials *src)
{
    dst->access_key_id = lb_strdup(src->access_key_id);
    dst->secret_access_key = lb_strdup(src->secret_access_key);
    dst->session_token = src->session_token ? lb_strdup(src->session_token) : NULL;
    dst->expiration = src->expiration;
    dst->source = src->source;
}

void aws_credentials_dispose(aws_credentials *c)
{
    if (c == NULL)
        return;
    free(c->access_key_id);
    aws__free_secret(c->secret_access_key);
    aws__free_secret(c->session_token);
    memset(c, 0, sizeof(*c));
}

int aws_credentials_provider_new(aws_credentials_provider **out,
                                 const aws_credentials_options *opts)
{
    aws_credentials_provider *p = lb_calloc(1, sizeof(*p));

    aws__global_init();
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->done, NULL);
    if (opts != NULL && opts->region != NULL)
        p->region = lb_strdup(opts->region);
    if (opts != NULL && opts->imds_endpoint != NULL)
        p->imds_endpoint = lb_strdup(opts->imds_endpoint);
    *out = p;
    return 0;
}

int aws_credentials_provider_new_static(aws_credentials_provider **out, const char *access_key_id,
                                        const char *secret_access_key, const char *session_token)
{
    aws_credentials_provider *p;

    *out = NULL;
    if (access_key_id == NULL || access_key_id[0] == '\0' || secret_access_key == NULL ||
        secret_access_key[0] == '\0')
        return lb_error_setc(LB_EINVALID,
                             "aws credentials: access key id and secret key must be non-empty");
    aws_credentials_provider_new(&p, NULL);
    p->is_static = 1;
    p->have = 1;
    p->cached.access_key_id = lb_strdup(access_key_id);
    p->cached.secret_access_key = lb_strdup(secret_access_key);
    p->cached.session_token = (session_token && session_token[0]) ? lb_strdup(session_token) : NULL;
    p->cached.source = "static";
    *out = p;
    return 0;
}

void aws_credentials_provider_free(aws_credentials_provider *p)
{
    if (p == NULL)
        return;
    aws_credentials_dispose(&p->cached);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->done);
    free(p->region);
    free(p->imds_endpoint);
    free(p);
}

/* ---- small helpers ---- */

/* Reads a whole small file, trimming trailing whitespace. */
static int read_small_file(char **out, const char *path, size_t cap, const char *what)
{
    FILE *f = fopen(path, "rb");
    lb_buf b;
    char chunk[4096];
    size_t n;
    int rc = 0;

    *out = NULL;
    if (f == NULL)
        return lb_error_setc(errno == ENOENT ? LB_ENOTFOUND : LB_ERROR, "%s %s: %s", what, path,
                             strerror(errno));
    buf_init(&b, cap);
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        if (buf_append(&b, chunk, n) != 0) {
            rc = lb_error_setc(LB_ETOOBIG, "%s %s: larger than %zu bytes", what, path, cap);
            break;
        }
    }
    explicit_bzero(chunk, sizeof(chunk));
    fclose(f);
    if (rc != 0) {
        if (b.data)
            explicit_bzero(b.data, b.len);
        buf_dispose(&b);
        return rc;
    }
    /* Trim in place: lb_buf's fields are read-only outside buf.c, so detach first. */
    {
        size_t len = 0;
        char *text = buf_detach(&b, &len);
        while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r' || text[len - 1] == ' ' ||
                           text[len - 1] == '\t'))
            text[--len] = '\0';
        *out = text;
    }
    return 0;
}

static size_t http_body(char *data, size_t size, size_t nmemb, void *payload)
{
    lb_buf *b = payload;
    return buf_append(b, data, size * nmemb) == 0 ? size * nmemb : 0;
}

/* A plain HTTP call to a credentials endpoint (not SigV4). */
static int http_call(char **out, long *status, const char *method, const char *url,
                     struct curl_slist *headers, long timeout_ms, const char *what)
{
    CURL *h = curl_easy_init();
    lb_buf b;
    CURLcode cc;
    int rc = 0;

    *out = NULL;
    *status = 0;
    buf_init(&b, AWS_MAX_CREDENTIALS_BYTES);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, http_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    if (strcmp(method, "PUT") == 0) {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "PUT");
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, "");
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, 0L);
    }
    cc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
    curl_easy_cleanup(h);
    if (cc != CURLE_OK) {
        rc = lb_error_set("%s: %s %s: %s", what, method, url,
                          cc == CURLE_WRITE_ERROR ? "response too large" : curl_easy_strerror(cc));
        if (b.data)
            explicit_bzero(b.data, b.len);
        buf_dispose(&b);
        return rc;
    }
    *out = buf_detach(&b, NULL);
    return 0;
}

/* {"AccessKeyId","SecretAccessKey","Token","Expiration"} (IMDS, pod identity). */
static int parse_json_credentials(aws_credentials *out, const char *body, const char *source,
                                  const char *what)
{
    json_error_t jerr;
    json_t *root = json_loads(body, 0, &jerr);
    const char *akid, *secret, *token, *exp;
    int rc = 0;

    memset(out, 0, sizeof(*out));
    if (root == NULL || !json_is_object(root)) {
        rc = lb_error_set("%s: response is not a JSON object", what);
        goto done;
    }
    akid = json_string_value(json_object_get(root, "AccessKeyId"));
    secret = json_string_value(json_object_get(root, "SecretAccessKey"));
    token = json_string_value(json_object_get(root, "Token"));
    exp = json_string_value(json_object_get(root, "Expiration"));
    if (akid == NULL || secret == NULL) {
        rc = lb_error_set("%s: response lacks AccessKeyId or SecretAccessKey", what);
        goto done;
    }
    out->access_key_id = lb_strdup(akid);
    out->secret_access_key = lb_strdup(secret);
    out->session_token = token ? lb_strdup(token) : NULL;
    out->expiration = exp ? aws__parse_time(exp) : 0;
    out->source = source;
    if (out->expiration < 0) {
        aws_credentials_dispose(out);
        rc = lb_error_set("%s: Expiration is not an RFC 3339 time", what);
    }
done:
    if (root != NULL) {
        /* Wipe the secret inside jansson's copy before freeing. */
        json_t *s = json_object_get(root, "SecretAccessKey");
        if (json_is_string(s))
            explicit_bzero((char *)json_string_value(s), json_string_length(s));
        s = json_object_get(root, "Token");
        if (json_is_string(s))
            explicit_bzero((char *)json_string_value(s), json_string_length(s));
    }
    json_decref(root);
    return rc;
}

/* ---- sources ---- */

static int from_environment(aws_credentials *out)
{
    out->access_key_id = lb_strdup(env("AWS_ACCESS_KEY_ID"));
    out->secret_access_key = lb_strdup(env("AWS_SECRET_ACCESS_KEY"));
    out->session_token = env("AWS_SESSION_TOKEN") ? lb_strdup(env("AWS_SESSION_TOKEN")) : NULL;
    out->expiration = 0;
    out->source = "environment";
    return 0;
}

/* The session folder's version: the target of its `..data` link (a kubelet
 * Secret volume swaps it atomically), else the key file's inode, size and
 * mtime; "" when neither can be read. */
static void session_dir_stamp(char *out, size_t size, const char *dir)
{
    char path[4096], target[256];
    struct stat st;
    ssize_t n;

    out[0] = '\0';
    snprintf(path, sizeof(path), "%s/..data", dir);
    n = readlink(path, target, sizeof(target) - 1);
    if (n > 0) {
        target[n] = '\0';
        snprintf(out, size, "link:%s", target);
        return;
    }
    snprintf(path, sizeof(path), "%s/AWS_ACCESS_KEY_ID", dir);
    if (stat(path, &st) == 0)
        snprintf(out, size, "file:%llu:%lld:%lld.%09ld", (unsigned long long)st.st_ino,
                 (long long)st.st_size, (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
}

static int from_session_dir(aws_credentials *out, const char *dir)
{
    static const char *const names[] = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                                        "AWS_SESSION_TOKEN", "AWS_CREDENTIAL_EXPIRATION"};
    char *val[4] = {NULL, NULL, NULL, NULL};
    int rc = 0;

    for (size_t i = 0; i < 4 && rc == 0; i++) {
        char *path = lb_sprintf("%s/%s", dir, names[i]);
        rc = read_small_file(&val[i], path, AWS_MAX_CREDENTIALS_BYTES,
                             "session folder (" AWS_SESSION_DIR_ENV ") file");
        free(path);
        if (rc == LB_ENOTFOUND && i >= 2) { /* token and expiry are optional */
            lb_error_clear();
            rc = 0;
        }
    }
    if (rc == 0 && (val[0] == NULL || val[0][0] == '\0' || val[1] == NULL || val[1][0] == '\0'))
        rc = lb_error_setc(LB_EINVALID,
                           "session folder %s: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must "
                           "be non-empty",
                           dir);
    long long exp = 0;
    if (rc == 0 && val[3] != NULL && val[3][0] != '\0' && (exp = aws__parse_time(val[3])) < 0)
        rc = lb_error_setc(LB_EINVALID,
                           "session folder %s: AWS_CREDENTIAL_EXPIRATION is not an RFC 3339 time",
                           dir);
    if (rc == 0) {
        out->access_key_id = val[0];
        out->secret_access_key = val[1];
        out->session_token = val[2] != NULL && val[2][0] != '\0' ? val[2] : NULL;
        if (out->session_token == NULL)
            aws__free_secret(val[2]);
        out->expiration = exp;
        out->source = "session-dir";
        val[0] = val[1] = val[2] = NULL;
    }
    free(val[0]);
    aws__free_secret(val[1]);
    aws__free_secret(val[2]);
    free(val[3]);
    return rc;
}

static const char *provider_region(const aws_credentials_provider *p)
{
    if (p->region != NULL)
        return p->region;
    if (env("AWS_REGION"))
        return env("AWS_REGION");
    if (env("AWS_DEFAULT_REGION"))
        return env("AWS_DEFAULT_REGION");
    return "us-east-1";
}

static int from_web_identity(aws_credentials *out, aws_credentials_provider *p)
{
    char *token = NULL;
    char *session = NULL;
    aws_client *sts = NULL;
    aws_client_options o;
    int rc;

    rc = read_small_file(&token, env("AWS_WEB_IDENTITY_TOKEN_FILE"), AWS_MAX_TOKEN_FILE_BYTES,
                         "web identity token file (AWS_WEB_IDENTITY_TOKEN_FILE)");
    if (rc != 0)
        goto done;
    if (env("AWS_ROLE_SESSION_NAME"))
        session = lb_strdup(env("AWS_ROLE_SESSION_NAME"));
    else
        session = lb_sprintf("%s-%lld", DEFAULT_SESSION_PREFIX, (long long)time(NULL));
    aws_client_options_from_env(&o);
    o.region = provider_region(p);
    o.credentials = NULL; /* AssumeRoleWithWebIdentity is unsigned */
    rc = aws_client_new(&sts, &o);
    if (rc != 0)
        goto done;
    rc = sts_assume_role_with_web_identity(out, sts, env("AWS_ROLE_ARN"), session, token);
done:
    aws__free_secret(token);
    free(session);
    aws_client_free(sts);
    return rc;
}

static int from_container(aws_credentials *out)
{
    char *url = NULL;
    char *token = NULL;
    char *auth = NULL;
    char *body = NULL;
    struct curl_slist *hdrs = NULL;
    long status = 0;
    int rc = 0;

    if (env("AWS_CONTAINER_CREDENTIALS_FULL_URI"))
        url = lb_strdup(env("AWS_CONTAINER_CREDENTIALS_FULL_URI"));
    else
        url =
            lb_sprintf("%s%s", ECS_CREDENTIALS_HOST, env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"));
    if (env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE")) {
        rc = read_small_file(&token, env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"),
                             AWS_MAX_TOKEN_FILE_BYTES,
                             "pod identity token file (AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE)");
        if (rc != 0)
            goto done;
    } else if (env("AWS_CONTAINER_AUTHORIZATION_TOKEN")) {
        token = lb_strdup(env("AWS_CONTAINER_AUTHORIZATION_TOKEN"));
    }
    if (token != NULL) {
        auth = lb_sprintf("Authorization: %s", token);
        hdrs = curl_slist_append(hdrs, auth);
    }
    hdrs = curl_slist_append(hdrs, "Accept: application/json");
    rc = http_call(&body, &status, "GET", url, hdrs, 5000L, "pod identity credentials");
    if (rc != 0)
        goto done;
    if (status != 200) {
        rc = lb_error_set("pod identity credentials: GET %s answered HTTP %ld", url, status);
        goto done;
    }
    rc = parse_json_credentials(out, body, "pod-identity", "pod identity credentials");
done:
    curl_slist_free_all(hdrs);
    aws__free_secret(auth);
    aws__free_secret(token);
    aws__free_secret(body);
    free(url);
    return rc;
}

static int from_imds(aws_credentials *out, aws_credentials_provider *p)
{
    const char *base = p->imds_endpoint ? p->imds_endpoint
                       : env("AWS_EC2_METADATA_SERVICE_ENDPOINT")
                           ? env("AWS_EC2_METADATA_SERVICE_ENDPOINT")
                           : DEFAULT_IMDS_ENDPOINT;
    size_t blen = strlen(base);
    char *root = NULL, *url = NULL, *token = NULL, *tokhdr = NULL, *role = NULL, *body = NULL;
    struct curl_slist *hdrs = NULL;
    char ttl[64];
    long status = 0;
    int rc;

    while (blen > 0 && base[blen - 1] == '/')
        blen--;
    root = lb_strndup(base, blen);
    url = lb_sprintf("%s/latest/api/token", root);
    snprintf(ttl, sizeof(ttl), "X-aws-ec2-metadata-token-ttl-seconds: %d", AWS_IMDS_TOKEN_TTL_S);
    hdrs = curl_slist_append(NULL, ttl);
    rc = http_call(&token, &status, "PUT", url, hdrs, AWS_IMDS_TIMEOUT_MS, "IMDSv2 token");
    curl_slist_free_all(hdrs);
    hdrs = NULL;
    if (rc != 0)
        goto done;
    if (token == NULL || status != 200 || token[0] == '\0') {
        rc = lb_error_set("IMDSv2 token: PUT %s answered HTTP %ld", url, status);
        goto done;
    }
    tokhdr = lb_sprintf("X-aws-ec2-metadata-token: %s", token);
    hdrs = curl_slist_append(NULL, tokhdr);
    free(url);
    url = lb_sprintf("%s/latest/meta-data/iam/security-credentials/", root);
    rc = http_call(&role, &status, "GET", url, hdrs, AWS_IMDS_TIMEOUT_MS, "IMDSv2 role");
    if (rc != 0)
        goto done;
    if (role != NULL)
        role[strcspn(role, "\r\n")] = '\0';
    if (role == NULL || status != 200 || role[0] == '\0' || strlen(role) > MAX_ROLE_NAME_BYTES ||
        strchr(role, '/') != NULL) {
        rc = lb_error_set("IMDSv2 role: GET %s answered HTTP %ld without a usable role name", url,
                          status);
        goto done;
    }
    free(url);
    url = lb_sprintf("%s/latest/meta-data/iam/security-credentials/%s", root, role);
    rc = http_call(&body, &status, "GET", url, hdrs, AWS_IMDS_TIMEOUT_MS, "IMDSv2 credentials");
    if (rc != 0)
        goto done;
    if (status != 200) {
        rc = lb_error_set("IMDSv2 credentials: GET %s answered HTTP %ld", url, status);
        goto done;
    }
    rc = parse_json_credentials(out, body, "imds", "IMDSv2 credentials");
done:
    curl_slist_free_all(hdrs);
    aws__free_secret(token);
    aws__free_secret(tokhdr);
    aws__free_secret(body);
    free(role);
    free(url);
    free(root);
    return rc;
}

int aws_credentials_from_file(aws_credentials *out, const char *path, const char *profile)
{
    char *text = NULL;
    char *line, *save = NULL;
    int in_profile = 0, found = 0;
    char *akid = NULL, *secret = NULL, *token = NULL;
    int rc;

    memset(out, 0, sizeof(*out));
    rc = read_small_file(&text, path, AWS_MAX_CREDENTIALS_BYTES, "shared credentials file");
    if (rc != 0)
        return rc;
    for (line = strtok_r(text, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
        char *s = line, *e, *eq, *k, *v;
        while (*s == ' ' || *s == '\t')
            s++;
        e = s + strlen(s);
        while (e > s && (e[-1] == '\r' || e[-1] == ' ' || e[-1] == '\t'))
            *--e = '\0';
        if (*s == '\0' || *s == '#' || *s == ';')
            continue;
        if (*s == '[') {
            char *close = strchr(s, ']');
            char *name = s + 1;
            if (close == NULL)
                continue;
            *close = '\0';
            while (*name == ' ' || *name == '\t')
                name++;
            for (char *t = close; t > name && (t[-1] == ' ' || t[-1] == '\t');)
                *--t = '\0';
            if (strncmp(name, "profile ", 8) == 0)
                name += 8;
            in_profile = strcmp(name, profile) == 0;
            found |= in_profile;
            continue;
        }
        if (!in_profile || (eq = strchr(s, '=')) == NULL)
            continue;
        k = s;
        v = eq + 1;
        *eq = '\0';
        for (char *t = eq; t > k && (t[-1] == ' ' || t[-1] == '\t');)
            *--t = '\0';
        while (*v == ' ' || *v == '\t')
            v++;
        if (strcmp(k, "aws_access_key_id") == 0) {
            free(akid);
            akid = lb_strdup(v);
        } else if (strcmp(k, "aws_secret_access_key") == 0) {
            aws__free_secret(secret);
            secret = lb_strdup(v);
        } else if (strcmp(k, "aws_session_token") == 0) {
            aws__free_secret(token);
            token = lb_strdup(v);
        }
    }
    if (!found) {
        rc = lb_error_setc(LB_ENOTFOUND, "shared credentials file %s: no profile [%s]", path,
                           profile);
    } else if (akid == NULL || akid[0] == '\0') {
        rc = lb_error_setc(LB_EINVALID,
                           "shared credentials file %s: profile [%s] has no aws_access_key_id",
                           path, profile);
    } else if (secret == NULL || secret[0] == '\0') {
        rc = lb_error_setc(LB_EINVALID,
                           "shared credentials file %s: profile [%s] has no "
                           "aws_secret_access_key",
                           path, profile);
    } else {
        out->access_key_id = akid;
        out->secret_access_key = secret;
        out->session_token = token;
        out->source = "shared-file";
        akid = secret = token = NULL;
    }
    free(akid);
    aws__free_secret(secret);
    aws__free_secret(token);
    aws__free_secret(text);
    return rc;
}

static int from_shared_file(aws_credentials *out, int *configured)
{
    const char *path = env("AWS_SHARED_CREDENTIALS_FILE");
    const char *profile = env("AWS_PROFILE") ? env("AWS_PROFILE") : "default";
    char *def = NULL;
    int explicit_cfg = path != NULL || env("AWS_PROFILE") != NULL;
    int rc;

    *configured = 0;
    if (path == NULL) {
        if (env("HOME") == NULL)
            return 0;
        def = lb_sprintf("%s/.aws/credentials", env("HOME"));
        path = def;
    }
    rc = aws_credentials_from_file(out, path, profile);
    if (rc == LB_ENOTFOUND && !explicit_cfg) {
        lb_error_clear();
        rc = 0; /* no default file or profile: not configured, go on */
    } else {
        *configured = 1;
    }
    free(def);
    return rc;
}

static int resolve(aws_credentials *out, aws_credentials_provider *p)
{
    int rc;
    int configured = 0;

    memset(out, 0, sizeof(*out));
    if (env(AWS_SESSION_DIR_ENV)) {
        rc = from_session_dir(out, env(AWS_SESSION_DIR_ENV));
        return rc == 0 ? 0 : lb_error_wrap(rc, "aws credentials (session folder)");
    }
    if (env("AWS_ACCESS_KEY_ID") && env("AWS_SECRET_ACCESS_KEY"))
        return from_environment(out);
    if (env("AWS_ROLE_ARN") && env("AWS_WEB_IDENTITY_TOKEN_FILE")) {
        rc = from_web_identity(out, p);
        return rc == 0 ? 0 : lb_error_wrap(rc, "aws credentials (web identity)");
    }
    if (env("AWS_CONTAINER_CREDENTIALS_FULL_URI") ||
        env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")) {
        rc = from_container(out);
        return rc == 0 ? 0 : lb_error_wrap(rc, "aws credentials (pod identity)");
    }
    rc = from_shared_file(out, &configured);
    if (configured)
        return rc == 0 ? 0 : lb_error_wrap(rc, "aws credentials (shared file)");
    if (env("AWS_EC2_METADATA_DISABLED") &&
        strcasecmp(env("AWS_EC2_METADATA_DISABLED"), "true") == 0)
        return lb_error_set("no AWS credentials found: tried environment, web identity, pod "
                            "identity, shared credentials file; IMDS is disabled");
    rc = from_imds(out, p);
    if (rc != 0)
        return lb_error_wrap(rc, "no AWS credentials found: tried environment, web identity, "
                                 "pod identity, shared credentials file, then IMDS");
    return 0;
}

/* Whether the session folder changed since the cached credentials were read
 * from it (0 for every other source). */
static int dir_changed(const aws_credentials_provider *p)
{
    char now[sizeof(p->stamp)];
    if (!p->have || p->cached.source == NULL || strcmp(p->cached.source, "session-dir") != 0 ||
        env(AWS_SESSION_DIR_ENV) == NULL)
        return 0;
    session_dir_stamp(now, sizeof(now), env(AWS_SESSION_DIR_ENV));
    return strcmp(now, p->stamp) != 0;
}

static int fresh(const aws_credentials_provider *p, long long now)
{
    return p->have && !dir_changed(p) &&
           (p->cached.expiration == 0 ||
            now < p->cached.expiration - AWS_CREDENTIALS_REFRESH_AHEAD_S);
}

/* True while the cached credentials can still sign (past the refresh-ahead
 * mark, but not expired). */
static int usable(const aws_credentials_provider *p, long long now)
{
    return p->have && (p->cached.expiration == 0 || now < p->cached.expiration);
}

int aws_credentials_get(aws_credentials *out, aws_credentials_provider *p)
{
    aws_credentials next;
    int rc = 0;

    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&p->lock);
    for (;;) {
        long long now = (long long)time(NULL);
        if (p->is_static || fresh(p, now))
            goto copy;
        /* Inside the refresh-ahead window: one thread refreshes, the others
         * keep signing with the cached credentials instead of waiting. */
        if (usable(p, now) && (p->refreshing || now < p->retry_after))
            goto copy;
        if (!p->refreshing)
            break;
        pthread_cond_wait(&p->done, &p->lock);
    }
    p->refreshing = 1;
    char stamp[sizeof(p->stamp)] = "";
    if (env(AWS_SESSION_DIR_ENV) != NULL) /* before the read: a swap during it is seen next time */
        session_dir_stamp(stamp, sizeof(stamp), env(AWS_SESSION_DIR_ENV));
    pthread_mutex_unlock(&p->lock);
    rc = resolve(&next, p); /* network I/O without the lock */
    pthread_mutex_lock(&p->lock);
    p->refreshing = 0;
    pthread_cond_broadcast(&p->done);
    if (rc != 0) {
        if (usable(p, (long long)time(NULL))) {
            /* Refresh ahead failed but the cached ones still work. */
            LB_LOG_WARN("aws credentials refresh failed; keeping the cached ones until they "
                        "expire",
                        "source", p->cached.source, "error", lb_error_last());
            p->retry_after = (long long)time(NULL) + AWS_CREDENTIALS_RETRY_S;
            rc = 0;
            goto copy;
        }
        goto done;
    }
    aws_credentials_dispose(&p->cached);
    p->cached = next;
    p->have = 1;
    snprintf(p->stamp, sizeof(p->stamp), "%s", stamp);
    p->retry_after = 0;
    LB_LOG_DEBUG("aws credentials resolved", "source", p->cached.source, "expiration",
                 LB_LOG_INT(p->cached.expiration));
copy:
    creds_copy(out, &p->cached);
done:
    pthread_mutex_unlock(&p->lock);
    return rc;
}
