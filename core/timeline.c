/*
 * timeline.c: the Chrome trace-event timeline (option `trace`,
 * docs/design/observability.md .obs.timeline).
 *
 * The file is one JSON object whose "traceEvents" array holds complete
 * events ("ph":"X", a start and a duration in microseconds since the heap
 * was created), counters ("C"), instants ("i") and thread names ("M").
 * Events go to a fixed buffer that is written out when it cannot take the
 * next collection's events and when the heap is destroyed
 * (.obs.timeline.buffer), so memory stays bounded however long the run.
 */
#include "core/heap.h"
#include "core/obs.h"
#include "core/plan.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TIMELINE_BUFFER (256 * 1024)
/* Room one event needs at most. */
#define TIMELINE_EVENT_MAX 512

struct mdn_timeline {
    pthread_mutex_t lock; /* writers: the collecting thread, and out-of-memory reports */
    FILE *file;
    char *path;
    char *buf;
    size_t used;
    bool first;  /* no event written yet (no comma before the next) */
    bool failed; /* a write failed; reported once at close */
    int pid;
    int *named;  /* thread ids given a name event */
    size_t nnamed, named_capacity;
};

typedef struct mdn_timeline mdn_timeline;

/* Write the buffer to the file (lock held). */
static void timeline_write_out(mdn_timeline *tl) {
    if (tl->used && fwrite(tl->buf, 1, tl->used, tl->file) != tl->used)
        tl->failed = true;
    tl->used = 0;
}

/* Append one event (lock held); `fmt` is the event's object, without braces' separator. */
static MDN_PRINTF(2, 3) void timeline_event(mdn_timeline *tl, const char *fmt, ...) {
    if (TIMELINE_BUFFER - tl->used < TIMELINE_EVENT_MAX)
        timeline_write_out(tl);
    char *out = tl->buf + tl->used;
    size_t room = TIMELINE_BUFFER - tl->used;
    size_t n = 0;
    if (!tl->first)
        out[n++] = ',';
    out[n++] = '\n';
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(out + n, room - n, fmt, ap);
    va_end(ap);
    MDN_CHECK(k > 0 && (size_t)k < room - n);
    tl->used += n + (size_t)k;
    tl->first = false;
}

/* Microseconds since heap creation, exact to the nanosecond: "12.345". */
typedef struct timeline_us {
    char text[32];
} timeline_us;

static timeline_us us(uint64_t ns) {
    timeline_us u;
    snprintf(u.text, sizeof u.text, "%" PRIu64 ".%03u", ns / 1000, (unsigned)(ns % 1000));
    return u;
}

static void timeline_span(mdn_timeline *tl, uint64_t base, int tid, const char *name, uint64_t begin, uint64_t end,
                          const char *args) {
    if (end < begin)
        end = begin;
    timeline_event(tl, "{\"name\":\"%s\",\"cat\":\"gc\",\"ph\":\"X\",\"pid\":%d,\"tid\":%d,\"ts\":%s,\"dur\":%s%s%s%s}",
                   name, tl->pid, tid, us(begin - base).text, us(end - begin).text, args ? ",\"args\":{" : "",
                   args ? args : "", args ? "}" : "");
}

static void timeline_name_thread(mdn_timeline *tl, int tid, const char *fmt, unsigned n) {
    for (size_t i = 0; i < tl->nnamed; i++)
        if (tl->named[i] == tid)
            return;
    tl->named = mdn_array_reserve(tl->named, tl->nnamed, &tl->named_capacity, sizeof *tl->named, 16,
                                  "naming timeline threads");
    tl->named[tl->nnamed++] = tid;
    char name[64];
    snprintf(name, sizeof name, fmt, n);
    timeline_event(tl, "{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":%d,\"tid\":%d,\"args\":{\"name\":\"%s\"}}",
                   tl->pid, tid, name);
}

mdn_timeline *mdn_timeline_open(const char *path, mdn_error *err) {
    mdn_timeline *tl = calloc(1, sizeof *tl);
    char *buf = malloc(TIMELINE_BUFFER);
    char *copy = strdup(path);
    if (!tl || !buf || !copy) {
        free(tl);
        free(buf);
        free(copy);
        mdn_error_set(err, MDN_ERR_MEMORY, "cannot allocate the timeline buffer for '%s'", path);
        return NULL;
    }
    tl->file = fopen(path, "w");
    if (!tl->file) {
        mdn_error_set(err, MDN_ERR_OPTION, "option 'trace': cannot open '%s' for writing: %s", path, strerror(errno));
        free(tl);
        free(buf);
        free(copy);
        return NULL;
    }
    pthread_mutex_init(&tl->lock, NULL);
    tl->buf = buf;
    tl->path = copy;
    tl->first = true;
    tl->pid = (int)getpid();
    int n = snprintf(tl->buf, TIMELINE_BUFFER, "{\"displayTimeUnit\":\"ms\",\"otherData\":{\"plan\":\"%s\"},\n"
                                               "\"traceEvents\":[", mdn_plan_name_string);
    tl->used = (size_t)n;
    timeline_event(tl, "{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":%d,\"tid\":0,\"args\":{\"name\":\"midden "
                       "(%s)\"}}",
                   tl->pid, mdn_plan_name_string);
    return tl;
}

static const char *const phase_names[MDN_GC_PHASE_COUNT] = {"prepare", "roots", "closure", "weak", "release",
                                                            "resume"};

void mdn_timeline_collection(mdn_heap *heap) {
    mdn_obs_state *o = &heap->obs;
    mdn_timeline *tl = o->timeline;
    uint64_t base = o->create_ns;
    char args[256];
    pthread_mutex_lock(&tl->lock);
    /* One collection's events at most: the collection, stop, phases, a
     * counter, workers and parked mutators, each with its thread name. */
    size_t need = (size_t)(4 + MDN_GC_PHASE_COUNT + 2 * heap->nworkers + 2 * o->nparked) * TIMELINE_EVENT_MAX;
    if (TIMELINE_BUFFER - tl->used < need)
        timeline_write_out(tl);
    timeline_name_thread(tl, o->tid, "mutator %u", (unsigned)o->tid);
    snprintf(args, sizeof args,
             "\"number\":%" PRIu64 ",\"kind\":\"%s\",\"trigger\":\"%s\",\"live_bytes\":%" PRIu64
             ",\"objects_traced\":%" PRIu64,
             o->number, o->full ? "full" : plan_partial_collection_name(), mdn_gc_trigger_name(o->trigger), o->live_bytes,
             o->objects_traced);
    timeline_span(tl, base, o->tid, "collection", o->request_ns, o->resumed_ns, args);
    timeline_span(tl, base, o->tid, "stop the world", o->request_ns, o->stopped_ns, NULL);
    for (int p = 0; p < MDN_GC_PHASE_COUNT; p++) {
        uint64_t end = p + 1 < MDN_GC_PHASE_COUNT ? o->phase_ns[p + 1] : o->resumed_ns;
        timeline_span(tl, base, o->tid, phase_names[p], o->phase_ns[p], end, NULL);
    }
    for (unsigned w = 0; w < heap->nworkers; w++) {
        const mdn_obs_worker_span *s = &o->workers[w];
        if (s->begin_ns == 0)
            continue;
        if (w != 0)
            timeline_name_thread(tl, s->tid, "GC worker %u", w);
        snprintf(args, sizeof args, "\"worker\":%u,\"items\":%" PRIu64, w, s->items);
        timeline_span(tl, base, s->tid, "GC work", s->begin_ns, s->end_ns, args);
    }
    for (size_t i = 0; i < o->nparked; i++) {
        timeline_name_thread(tl, o->parked[i].tid, "mutator %u", (unsigned)o->parked[i].tid);
        snprintf(args, sizeof args, "\"collection\":%" PRIu64, o->number);
        timeline_span(tl, base, o->parked[i].tid, "time to safepoint", o->request_ns, o->parked[i].parked_ns, args);
    }
    timeline_event(tl,
                   "{\"name\":\"heap\",\"ph\":\"C\",\"pid\":%d,\"tid\":%d,\"ts\":%s,\"args\":{\"committed\":%" PRIu64
                   ",\"budget\":%" PRIu64 ",\"live\":%" PRIu64 "}}",
                   tl->pid, o->tid, us(o->end_ns - base).text, o->last_committed, o->last_budget, o->live_bytes);
    pthread_mutex_unlock(&tl->lock);
}

void mdn_timeline_instant(mdn_timeline *tl, uint64_t create_ns, const char *name, uint64_t bytes) {
    pthread_mutex_lock(&tl->lock);
    timeline_event(tl,
                   "{\"name\":\"%s\",\"cat\":\"gc\",\"ph\":\"i\",\"s\":\"t\",\"pid\":%d,\"tid\":%d,\"ts\":%s,"
                   "\"args\":{\"bytes\":%" PRIu64 "}}",
                   name, tl->pid, mdn_obs_tid(), us(mdn_now_ns() - create_ns).text, bytes);
    pthread_mutex_unlock(&tl->lock);
}

void mdn_timeline_flush(mdn_timeline *tl) {
    pthread_mutex_lock(&tl->lock);
    timeline_write_out(tl);
    if (fflush(tl->file) != 0)
        tl->failed = true;
    pthread_mutex_unlock(&tl->lock);
}

void mdn_timeline_close(mdn_timeline *tl, bool complete) {
    if (complete) {
        pthread_mutex_lock(&tl->lock);
        int n = snprintf(tl->buf + tl->used, TIMELINE_BUFFER - tl->used, "\n]}\n");
        if (n < 0 || (size_t)n >= TIMELINE_BUFFER - tl->used) {
            timeline_write_out(tl);
            n = snprintf(tl->buf, TIMELINE_BUFFER, "\n]}\n");
        }
        tl->used += (size_t)n;
        timeline_write_out(tl);
        pthread_mutex_unlock(&tl->lock);
        if (fclose(tl->file) != 0 || tl->failed)
            fprintf(stderr, "midden: writing the timeline '%s' failed; the file is incomplete\n", tl->path);
    } else {
        /* A forked child: the buffer was written out before the fork, and
         * closing an empty stream writes nothing to the parent's file. */
        fclose(tl->file);
    }
    pthread_mutex_destroy(&tl->lock);
    mdn_array_free(tl->named, tl->named_capacity, sizeof *tl->named);
    free(tl->buf);
    free(tl->path);
    free(tl);
}
