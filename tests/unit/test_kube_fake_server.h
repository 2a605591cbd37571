/* test_kube_fake_server.h - a scripted HTTP/1.1 server on loopback and a
 * client pointed at it, shared by the pkg/kube unit tests (static: each test
 * file gets its own copy). Include after cmocka.h. */
#ifndef TEST_KUBE_FAKE_SERVER_H
#define TEST_KUBE_FAKE_SERVER_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "kube/client.h"
#include "util/alloc.h"

/* ---- a scripted HTTP/1.1 server ------------------------------------------------------ */

#define MAX_SCRIPT 8
#define MAX_CHUNKS 8

typedef struct scripted {
    const char *raw;                /* a whole response, or the head when chunks are given */
    const char *chunks[MAX_CHUNKS]; /* each sent as one HTTP chunk, 20 ms apart */
    int hold;        /* no final chunk: keep the stream open until the client leaves */
    size_t big_body; /* >0: raw is a head; send this many 'x' bytes after it */
} scripted;

typedef struct fake_server {
    int fd;
    int port;
    pthread_t thread;
    scripted script[MAX_SCRIPT];
    size_t n_script;
    char *requests[MAX_SCRIPT];
    atomic_size_t n_requests;
    atomic_int stop;
} fake_server;

static inline void write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0)
            return;
        p += w;
        n -= (size_t)w;
    }
}

static inline char *read_request(int fd)
{
    size_t cap = 1 << 16, len = 0;
    char *buf = lb_malloc(cap + 1);
    size_t body_len = 0;
    char *head_end = NULL;
    for (;;) {
        ssize_t r = recv(fd, buf + len, cap - len, 0);
        if (r <= 0)
            break;
        len += (size_t)r;
        buf[len] = '\0';
        if (head_end == NULL && (head_end = strstr(buf, "\r\n\r\n")) != NULL) {
            char *cl = strcasestr(buf, "\r\nContent-Length:");
            if (cl != NULL && cl < head_end)
                body_len = strtoul(cl + 17, NULL, 10);
        }
        if (head_end != NULL && len >= (size_t)(head_end + 4 - buf) + body_len)
            break;
    }
    buf[len] = '\0';
    return buf;
}

static inline void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static inline void *server_main(void *arg)
{
    fake_server *s = arg;
    for (size_t i = 0; i < s->n_script && !atomic_load(&s->stop); i++) {
        const scripted *sc = &s->script[i];
        struct pollfd pfd = {s->fd, POLLIN, 0};
        int cfd;
        while (!atomic_load(&s->stop) && poll(&pfd, 1, 50) == 0)
            ;
        if (atomic_load(&s->stop))
            break;
        cfd = accept(s->fd, NULL, NULL);
        if (cfd < 0)
            break;
        s->requests[i] = read_request(cfd);
        atomic_store(&s->n_requests, i + 1);
        write_all(cfd, sc->raw, strlen(sc->raw));
        if (sc->big_body > 0) {
            char *body = lb_malloc(sc->big_body);
            memset(body, 'x', sc->big_body);
            write_all(cfd, body, sc->big_body);
            free(body);
        }
        for (size_t k = 0; k < MAX_CHUNKS && sc->chunks[k] != NULL; k++) {
            char size[32];
            snprintf(size, sizeof(size), "%zx\r\n", strlen(sc->chunks[k]));
            write_all(cfd, size, strlen(size));
            write_all(cfd, sc->chunks[k], strlen(sc->chunks[k]));
            write_all(cfd, "\r\n", 2);
            sleep_ms(20);
        }
        if (sc->chunks[0] != NULL && !sc->hold)
            write_all(cfd, "0\r\n\r\n", 5);
        if (sc->hold) {
            char tmp[256];
            struct pollfd cp = {cfd, POLLIN, 0};
            while (!atomic_load(&s->stop)) {
                if (poll(&cp, 1, 50) > 0 && recv(cfd, tmp, sizeof(tmp), 0) <= 0)
                    break;
            }
        }
        shutdown(cfd, SHUT_RDWR);
        close(cfd);
    }
    return NULL;
}

static inline void server_start(fake_server *s)
{
    struct sockaddr_in a = {0};
    socklen_t alen = sizeof(a);
    int one = 1;
    s->fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(s->fd >= 0);
    setsockopt(s->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(s->fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(s->fd, 8), 0);
    assert_int_equal(getsockname(s->fd, (struct sockaddr *)&a, &alen), 0);
    s->port = ntohs(a.sin_port);
    assert_int_equal(pthread_create(&s->thread, NULL, server_main, s), 0);
}

static inline void server_stop(fake_server *s)
{
    atomic_store(&s->stop, 1);
    pthread_join(s->thread, NULL);
    close(s->fd);
    for (size_t i = 0; i < MAX_SCRIPT; i++)
        free(s->requests[i]);
}

/* A config (tokenFile in a temp folder) and client pointing at the server. */
typedef struct env {
    fake_server srv;
    char dir[64];
    kube_config *cfg;
    kube_client *c;
    int metric_calls;
    long last_status;
} env;

static inline void on_metric(const char *verb, long status, double seconds, void *payload)
{
    env *e = payload;
    (void)verb;
    assert_true(seconds >= 0);
    e->metric_calls++;
    e->last_status = status;
}

static inline void env_start(env *e, const scripted *script, size_t n)
{
    char *path, *tok, *text;
    FILE *f;
    kube_client_options o = {0};

    memset(e, 0, sizeof(*e));
    memcpy(e->srv.script, script, n * sizeof(*script));
    e->srv.n_script = n;
    server_start(&e->srv);
    snprintf(e->dir, sizeof(e->dir), "/tmp/test_kube_client.XXXXXX");
    assert_non_null(mkdtemp(e->dir));
    tok = lb_sprintf("%s/token", e->dir);
    f = fopen(tok, "w");
    fputs("tok-abc\n", f);
    fclose(f);
    path = lb_sprintf("%s/config", e->dir);
    text = lb_sprintf("current-context: t\nclusters:\n- name: c\n  cluster: {server: "
                      "'http://127.0.0.1:%d'}\nusers:\n- name: u\n  user: {tokenFile: token}\n"
                      "contexts:\n- name: t\n  context: {cluster: c, user: u}\n",
                      e->srv.port);
    f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    assert_int_equal(kube_config_load_files(&e->cfg, (const char *const *)&path, 1, NULL), 0);
    o.max_retry_wait_ms = 2000;
    o.timeout_ms = 10000;
    o.metrics = on_metric;
    o.metrics_payload = e;
    assert_int_equal(kube_client_new(&e->c, e->cfg, &o), 0);
    free(path);
    free(tok);
    free(text);
}

static inline void env_stop(env *e)
{
    char *cmd = lb_sprintf("rm -rf '%s'", e->dir);
    kube_client_free(e->c);
    kube_config_free(e->cfg);
    server_stop(&e->srv);
    assert_int_equal(system(cmd), 0);
    free(cmd);
}

static inline double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static inline char *resp(const char *status, const char *extra_headers, const char *body)
{
    return lb_sprintf("HTTP/1.1 %s\r\nContent-Type: application/json\r\nConnection: close\r\n%s"
                      "Content-Length: %zu\r\n\r\n%s",
                      status, extra_headers, strlen(body), body);
}

#endif
