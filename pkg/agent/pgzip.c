/* pgzip.c - gzip members compressed on worker threads, forwarded in order. */
#include "agent/pgzip.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pthread.h>
#include <zlib.h>

#include "util/alloc.h"
#include "util/error.h"

/* A slot's life: FREE -> (filled by the writer) READY -> BUSY (a worker
 * compresses it) -> DONE -> (forwarded by the writer) FREE. Slot of sequence
 * number s: slots[s % nslots]. */
enum { SLOT_FREE, SLOT_READY, SLOT_BUSY, SLOT_DONE };

typedef struct slot {
    unsigned char *in;
    size_t nin;
    unsigned char *out;
    size_t nout;
    int state;
    int rc;
    char error[128];
} slot;

typedef struct worker {
    pgz_stage *z;
    z_stream zs;
    pthread_t thread;
    bool started;
} worker;

struct pgz_stage {
    pthread_mutex_t mu;
    pthread_cond_t work; /* a slot became READY, or stop */
    pthread_cond_t done; /* a slot became DONE */
    slot *slots;
    int nslots;
    size_t out_cap;
    worker workers[PGZ_MAX_WORKERS];
    int nworkers;
    bool stop;
    uint64_t next_fill; /* the slot the writer fills */
    uint64_t next_take; /* the next READY slot a worker takes */
    uint64_t next_emit; /* the oldest slot not yet forwarded */
    const agent_sink *next;
    int64_t bytes_in;
};

static slot *slot_of(pgz_stage *z, uint64_t seq)
{
    return &z->slots[seq % (uint64_t)z->nslots];
}

static void compress_slot(worker *w, slot *s, size_t out_cap)
{
    z_stream *zs = &w->zs;
    if (deflateReset(zs) != Z_OK) {
        s->rc = -1;
        snprintf(s->error, sizeof(s->error), "gzip: resetting the compressor failed");
        return;
    }
    zs->next_in = s->in;
    zs->avail_in = (uInt)s->nin;
    zs->next_out = s->out;
    zs->avail_out = (uInt)out_cap;
    int zrc = deflate(zs, Z_FINISH);
    if (zrc != Z_STREAM_END) {
        s->rc = -1;
        snprintf(s->error, sizeof(s->error), "gzip: compression failed (%d)", zrc);
        return;
    }
    s->nout = out_cap - zs->avail_out;
    s->rc = 0;
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    pgz_stage *z = w->z;
    pthread_mutex_lock(&z->mu);
    for (;;) {
        while (!z->stop && !(z->next_take < z->next_fill &&
                             slot_of(z, z->next_take)->state == SLOT_READY))
            pthread_cond_wait(&z->work, &z->mu);
        if (z->stop)
            break;
        slot *s = slot_of(z, z->next_take++);
        s->state = SLOT_BUSY;
        pthread_mutex_unlock(&z->mu);
        compress_slot(w, s, z->out_cap);
        pthread_mutex_lock(&z->mu);
        s->state = SLOT_DONE;
        pthread_cond_broadcast(&z->done);
    }
    pthread_mutex_unlock(&z->mu);
    return NULL;
}

int pgz_new(pgz_stage **out, int level, int workers, const agent_sink *next)
{
    if (level < 1 || level > 9)
        return lb_error_setc(LB_EINVALID, "gzip: level must be 1..9, not %d", level);
    if (workers < 1 || workers > PGZ_MAX_WORKERS)
        return lb_error_setc(LB_EINVALID, "gzip: workers must be 1..%d, not %d",
                             PGZ_MAX_WORKERS, workers);
    pgz_stage *z = lb_calloc(1, sizeof(*z));
    pthread_mutex_init(&z->mu, NULL);
    pthread_cond_init(&z->work, NULL);
    pthread_cond_init(&z->done, NULL);
    z->next = next;
    z->nslots = 2 * workers;
    z->slots = lb_calloc((size_t)z->nslots, sizeof(slot));
    int rc = 0;
    for (int i = 0; i < workers; i++) {
        worker *w = &z->workers[i];
        w->z = z;
        /* 15 + 16: each member with a gzip header and trailer. */
        if (deflateInit2(&w->zs, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
            rc = lb_error_set("gzip: initialising the compressor failed");
            break;
        }
        z->nworkers++;
        if (i == 0)
            z->out_cap = deflateBound(&w->zs, PGZ_CHUNK_BYTES);
    }
    for (int i = 0; rc == 0 && i < z->nslots; i++) {
        z->slots[i].in = lb_malloc(PGZ_CHUNK_BYTES);
        z->slots[i].out = lb_malloc(z->out_cap);
    }
    for (int i = 0; rc == 0 && i < z->nworkers; i++) {
        if (pthread_create(&z->workers[i].thread, NULL, worker_main, &z->workers[i]) != 0)
            rc = lb_error_set("gzip: starting a compression thread failed");
        else
            z->workers[i].started = true;
    }
    if (rc != 0) {
        pgz_free(z);
        return rc;
    }
    *out = z;
    return 0;
}

/* Forwards finished members in order; with `until_free`, waits until the slot
 * to fill next is free (the ring is full while it is not), with `all`, until
 * every submitted slot is forwarded. */
static int drain(pgz_stage *z, bool until_free, bool all)
{
    int rc = 0;
    pthread_mutex_lock(&z->mu);
    for (;;) {
        if (z->next_emit < z->next_fill && slot_of(z, z->next_emit)->state == SLOT_DONE) {
            slot *s = slot_of(z, z->next_emit);
            pthread_mutex_unlock(&z->mu);
            /* Only this thread touches a DONE slot. */
            if (s->rc != 0)
                rc = lb_error_set("%s", s->error);
            else
                rc = sink_write(z->next, s->out, s->nout);
            pthread_mutex_lock(&z->mu);
            if (rc != 0)
                break;
            s->nin = 0;
            s->state = SLOT_FREE;
            z->next_emit++;
            continue;
        }
        bool need = (all && z->next_emit < z->next_fill) ||
                    (until_free && slot_of(z, z->next_fill)->state != SLOT_FREE);
        if (!need)
            break;
        pthread_cond_wait(&z->done, &z->mu);
    }
    pthread_mutex_unlock(&z->mu);
    return rc;
}

static void submit(pgz_stage *z)
{
    pthread_mutex_lock(&z->mu);
    slot_of(z, z->next_fill)->state = SLOT_READY;
    z->next_fill++;
    pthread_cond_signal(&z->work);
    pthread_mutex_unlock(&z->mu);
}

static int pgz_write(void *self, const void *data, size_t len)
{
    pgz_stage *z = self;
    while (len > 0) {
        /* The filling slot is FREE: drain() left it so, and workers never
         * take a slot before it is submitted. */
        slot *s = slot_of(z, z->next_fill);
        z->bytes_in += (int64_t)sink_fill(s->in, &s->nin, PGZ_CHUNK_BYTES, &data, &len);
        if (s->nin == PGZ_CHUNK_BYTES) {
            submit(z);
            if (drain(z, true, false) != 0)
                return LB_ERROR;
        }
    }
    return 0;
}

static int pgz_close(void *self)
{
    pgz_stage *z = self;
    /* An empty stream still becomes one (empty) member, as gzip writes it. */
    if (slot_of(z, z->next_fill)->nin > 0 || z->next_fill == 0)
        submit(z);
    if (drain(z, false, true) != 0)
        return LB_ERROR;
    return sink_close(z->next);
}

agent_sink pgz_sink(pgz_stage *z)
{
    return (agent_sink){.write = pgz_write, .close = pgz_close, .self = z};
}

int64_t pgz_bytes_in(const pgz_stage *z)
{
    return z->bytes_in;
}

void pgz_free(pgz_stage *z)
{
    if (z == NULL)
        return;
    pthread_mutex_lock(&z->mu);
    z->stop = true;
    pthread_cond_broadcast(&z->work);
    pthread_mutex_unlock(&z->mu);
    for (int i = 0; i < z->nworkers; i++) {
        if (z->workers[i].started)
            pthread_join(z->workers[i].thread, NULL);
        deflateEnd(&z->workers[i].zs);
    }
    for (int i = 0; i < z->nslots; i++) {
        free(z->slots[i].in);
        free(z->slots[i].out);
    }
    free(z->slots);
    pthread_cond_destroy(&z->work);
    pthread_cond_destroy(&z->done);
    pthread_mutex_destroy(&z->mu);
    free(z);
}
