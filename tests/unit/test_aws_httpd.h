/* test_aws_httpd.h - a scripted one-thread HTTP/1.1 server for pkg/aws unit
 * tests: it records each request it receives (head and body) and answers
 * with the next scripted response ("Connection: close" each time; status 0
 * closes the connection without any answer). Included
 * by tests/unit/test_aws*.c only. */
#ifndef TEST_AWS_HTTPD_H
#define TEST_AWS_HTTPD_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define HTTPD_MAX_SCRIPT    16
#define HTTPD_MAX_REQUESTS  16
#define HTTPD_MAX_REQ_BYTES (256 * 1024)

typedef struct httpd_reply {
    int status;
    const char *headers; /* extra header lines, each ending "\r\n", or NULL */
    const char *body;
} httpd_reply;

typedef struct httpd {
    int fd;
    int port;
    pthread_t thread;
    pthread_mutex_t lock;
    httpd_reply script[HTTPD_MAX_SCRIPT];
    int nscript;
    int next;
    char *requests[HTTPD_MAX_REQUESTS]; /* head + body as received */
    int nrequests;
    int served;      /* every request answered, also past HTTPD_MAX_REQUESTS */
    int repeat_last; /* when the script runs out, answer with its last entry */
    int stop;
} httpd;

static inline const char *httpd_reason(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 204:
        return "No Content";
    case 301:
        return "Moved Permanently";
    case 400:
        return "Bad Request";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 409:
        return "Conflict";
    case 500:
        return "Internal Server Error";
    case 503:
        return "Service Unavailable";
    default:
        return "Status";
    }
}

static inline void httpd_serve_one(httpd *s, int cfd)
{
    char *req = calloc(1, HTTPD_MAX_REQ_BYTES + 1);
    size_t len = 0;
    char *end = NULL;
    long clen = 0;
    httpd_reply r = {500, NULL, "script exhausted"};
    char head[1024];
    int is_head;

    while (len < HTTPD_MAX_REQ_BYTES) {
        ssize_t n = recv(cfd, req + len, HTTPD_MAX_REQ_BYTES - len, 0);
        if (n <= 0)
            break;
        len += (size_t)n;
        req[len] = '\0';
        end = strstr(req, "\r\n\r\n");
        if (end != NULL) {
            char *cl = strcasestr(req, "\r\ncontent-length:");
            clen = (cl != NULL && cl < end) ? strtol(cl + 17, NULL, 10) : 0;
            if (len >= (size_t)(end - req) + 4 + (size_t)clen)
                break;
        }
    }
    /* Drain a body larger than what is kept, so the client can finish sending. */
    if (end != NULL) {
        size_t need = (size_t)(end - req) + 4 + (size_t)clen;
        size_t got = len;
        char scratch[65536];
        while (got < need) {
            ssize_t n = recv(cfd, scratch, sizeof(scratch), 0);
            if (n <= 0)
                break;
            got += (size_t)n;
        }
    }
    if (len == 0) { /* connected, then closed without a byte (e.g. a fenced send): no request */
        free(req);
        close(cfd);
        return;
    }
    pthread_mutex_lock(&s->lock);
    if (s->nrequests < HTTPD_MAX_REQUESTS)
        s->requests[s->nrequests++] = req;
    else
        free(req);
    if (s->next < s->nscript)
        r = s->script[s->next++];
    else if (s->repeat_last && s->nscript > 0)
        r = s->script[s->nscript - 1];
    s->served++;
    pthread_mutex_unlock(&s->lock);
    if (r.status == 0) { /* a connection dropped after the request arrived */
        shutdown(cfd, SHUT_RDWR);
        close(cfd);
        return;
    }
    is_head = s->nrequests > 0 && strncmp(s->requests[s->nrequests - 1], "HEAD ", 5) == 0;
    snprintf(head, sizeof(head),
             "HTTP/1.1 %d %s\r\nContent-Length: %zu\r\nConnection: close\r\n%s\r\n", r.status,
             httpd_reason(r.status), strlen(r.body ? r.body : ""), r.headers ? r.headers : "");
    send(cfd, head, strlen(head), MSG_NOSIGNAL);
    if (!is_head && r.body != NULL)
        send(cfd, r.body, strlen(r.body), MSG_NOSIGNAL);
    shutdown(cfd, SHUT_WR);
    close(cfd);
}

static inline void *httpd_main(void *arg)
{
    httpd *s = arg;
    for (;;) {
        int cfd = accept(s->fd, NULL, NULL);
        if (cfd < 0 || s->stop) {
            if (cfd >= 0)
                close(cfd);
            break;
        }
        httpd_serve_one(s, cfd);
    }
    return NULL;
}

static inline void httpd_start(httpd *s)
{
    struct sockaddr_in a;
    socklen_t alen = sizeof(a);
    int one = 1;

    memset(s, 0, sizeof(*s));
    pthread_mutex_init(&s->lock, NULL);
    s->fd = socket(AF_INET, SOCK_STREAM, 0);
    setsockopt(s->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(s->fd, (struct sockaddr *)&a, sizeof(a));
    listen(s->fd, 16);
    getsockname(s->fd, (struct sockaddr *)&a, &alen);
    s->port = ntohs(a.sin_port);
    pthread_create(&s->thread, NULL, httpd_main, s);
}

static inline void httpd_script(httpd *s, int status, const char *headers, const char *body)
{
    pthread_mutex_lock(&s->lock);
    s->script[s->nscript].status = status;
    s->script[s->nscript].headers = headers;
    s->script[s->nscript].body = body;
    s->nscript++;
    pthread_mutex_unlock(&s->lock);
}

static inline void httpd_stop(httpd *s)
{
    struct sockaddr_in a;
    int fd;

    s->stop = 1;
    /* Wake accept() with one last connection. */
    fd = socket(AF_INET, SOCK_STREAM, 0);
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons((unsigned short)s->port);
    connect(fd, (struct sockaddr *)&a, sizeof(a));
    close(fd);
    pthread_join(s->thread, NULL);
    close(s->fd);
    for (int i = 0; i < s->nrequests; i++)
        free(s->requests[i]);
    pthread_mutex_destroy(&s->lock);
}

/* The value of header `name` in request i, copied into out (empty if absent). */
static inline void httpd_req_header(const httpd *s, int i, const char *name, char *out, size_t size)
{
    const char *req = s->requests[i];
    const char *end = strstr(req, "\r\n\r\n");
    size_t nlen = strlen(name);
    const char *p = strstr(req, "\r\n");

    out[0] = '\0';
    while (p != NULL && p < end) {
        p += 2;
        if (strncasecmp(p, name, nlen) == 0 && p[nlen] == ':') {
            const char *v = p + nlen + 1;
            const char *e = strstr(v, "\r\n");
            while (*v == ' ')
                v++;
            snprintf(out, size, "%.*s", (int)(e - v), v);
            return;
        }
        p = strstr(p, "\r\n");
    }
}

/* The request line of request i ("GET /x?y HTTP/1.1") copied into out. */
static inline void httpd_req_line(const httpd *s, int i, char *out, size_t size)
{
    const char *e = strstr(s->requests[i], "\r\n");
    snprintf(out, size, "%.*s", (int)(e - s->requests[i]), s->requests[i]);
}

/* The body of request i (borrowed). */
static inline const char *httpd_req_body(const httpd *s, int i)
{
    const char *e = strstr(s->requests[i], "\r\n\r\n");
    return e ? e + 4 : "";
}

#ifdef LB_AWS_REQUEST_H
#include "aws/credentials.h"

/* A client whose every endpoint is the scripted server; one attempt, short
 * backoff, static keys. */
static inline void httpd_client(aws_client **out, aws_credentials_provider **creds, const httpd *s,
                                int max_attempts)
{
    aws_client_options o;
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", s->port);
    if (aws_credentials_provider_new_static(creds, "AKIDTEST", "SECRETTEST", NULL) != 0)
        abort();
    memset(&o, 0, sizeof(o));
    o.region = "us-east-1";
    o.endpoint_url = url;
    o.credentials = *creds;
    o.max_attempts = max_attempts;
    o.backoff_base_ms = 1;
    o.backoff_cap_ms = 2;
    if (aws_client_new(out, &o) != 0)
        abort();
}
#endif

#endif
