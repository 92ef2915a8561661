/*
 * workers.c: the worker pool and the work queue of a parallel phase.
 *
 * The pool: threads 1..count-1 wait on a condition variable for the job
 * generation to change, run the job, and count themselves out; the caller
 * runs the job as worker 0 and then waits for the count to reach zero. Jobs
 * are rare (a few per collection), so a mutex and two condition variables
 * cost nothing that matters.
 *
 * The work queue: per-item operations (push, pop, steal) touch only the
 * Chase–Lev deques and take no lock. The injector is a mutex-protected FIFO
 * array; it holds roots and other work produced outside the workers, and a
 * worker moves a batch of it onto its own deque at a time.
 *
 * Termination. `active` counts the workers of the phase that may still hold
 * or produce work; it starts at `workers`. A worker decrements it only when
 * its own deque is empty and it found the injector empty and nothing to
 * steal. While idle it pushes nothing, so its deque stays empty; it watches
 * the other deques and the injector, and re-activates (increments `active`)
 * only while `active` is non-zero, before stealing again. Hence `active`
 * reaching zero means every deque is empty and no worker can produce more:
 * every worker that sees zero returns. An item in the injector is always
 * taken by the worker that put it there, or by another, before that worker
 * goes idle, because a worker looks at the injector (under its lock) just
 * before going idle.
 *
 * Reuse. The workers count themselves out in `exited`; the last one resets
 * `exited` and `active` for the next phase. Every other worker has finished
 * reading `active` by then, and the next phase begins only after every
 * worker has returned (the contract of mdn_workqueue_drain), so the reset
 * races with nothing.
 */
#include "core/workers.h"

#include "core/util.h"

#include <midden/midden.h>

#include <sched.h>
#include <stdlib.h>
#include <string.h>

/* ---- the pool ------------------------------------------------------------ */

typedef struct workers_thread {
    mdn_workers *pool;
    unsigned index;
    pthread_t thread;
} workers_thread;

struct mdn_workers {
    unsigned count;
    workers_thread *threads; /* count - 1 entries, for workers 1..count-1 */
    pthread_mutex_t lock;
    pthread_cond_t start;    /* signalled when a job is posted or on stop */
    pthread_cond_t finished; /* signalled when the last thread finishes a job */
    /* Protected by lock. */
    uint64_t generation; /* bumped for every job */
    mdn_worker_fn fn;
    void *arg;
    unsigned remaining; /* threads still running the current job */
    bool stop;
    bool running; /* a job is in progress (reentrancy check) */
};

static void *workers_thread_main(void *p) {
    workers_thread *self = p;
    mdn_workers *w = self->pool;
    uint64_t seen = 0;
    pthread_mutex_lock(&w->lock);
    for (;;) {
        while (w->generation == seen && !w->stop)
            pthread_cond_wait(&w->start, &w->lock);
        if (w->stop)
            break;
        seen = w->generation;
        mdn_worker_fn fn = w->fn;
        void *arg = w->arg;
        pthread_mutex_unlock(&w->lock);
        fn(self->index, arg);
        pthread_mutex_lock(&w->lock);
        if (--w->remaining == 0)
            pthread_cond_signal(&w->finished);
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

static void workers_stop(mdn_workers *w, unsigned started) {
    pthread_mutex_lock(&w->lock);
    w->stop = true;
    pthread_cond_broadcast(&w->start);
    pthread_mutex_unlock(&w->lock);
    for (unsigned i = 0; i < started; i++)
        pthread_join(w->threads[i].thread, NULL);
}

static void workers_free(mdn_workers *w) {
    pthread_cond_destroy(&w->finished);
    pthread_cond_destroy(&w->start);
    pthread_mutex_destroy(&w->lock);
    free(w->threads);
    free(w);
}

mdn_workers *mdn_workers_create(unsigned count, struct mdn_error *err) {
    MDN_CHECK(count >= 1);
    mdn_workers *w = calloc(1, sizeof *w);
    if (w == NULL) {
        mdn_error_set(err, MDN_ERR_MEMORY, "out of memory creating a pool of %u GC workers", count);
        return NULL;
    }
    w->count = count;
    if (count > 1) {
        w->threads = calloc(count - 1, sizeof w->threads[0]);
        if (w->threads == NULL) {
            free(w);
            mdn_error_set(err, MDN_ERR_MEMORY, "out of memory creating a pool of %u GC workers", count);
            return NULL;
        }
    }
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->start, NULL);
    pthread_cond_init(&w->finished, NULL);
    for (unsigned i = 0; i + 1 < count; i++) {
        w->threads[i].pool = w;
        w->threads[i].index = i + 1;
        int rc = pthread_create(&w->threads[i].thread, NULL, workers_thread_main, &w->threads[i]);
        if (rc != 0) {
            workers_stop(w, i);
            workers_free(w);
            mdn_error_set(err, MDN_ERR_THREAD, "could not start GC worker thread %u of %u: %s", i + 1,
                          count - 1, strerror(rc));
            return NULL;
        }
    }
    return w;
}

unsigned mdn_workers_count(const mdn_workers *w) { return w->count; }

void mdn_workers_run(mdn_workers *w, mdn_worker_fn fn, void *arg) {
    if (w->count == 1) {
        MDN_CHECK(!w->running);
        w->running = true;
        fn(0, arg);
        w->running = false;
        return;
    }
    pthread_mutex_lock(&w->lock);
    MDN_CHECK(!w->running);
    w->running = true;
    w->fn = fn;
    w->arg = arg;
    w->remaining = w->count - 1;
    w->generation++;
    pthread_cond_broadcast(&w->start);
    pthread_mutex_unlock(&w->lock);

    fn(0, arg);

    pthread_mutex_lock(&w->lock);
    while (w->remaining != 0)
        pthread_cond_wait(&w->finished, &w->lock);
    w->running = false;
    w->fn = NULL;
    w->arg = NULL;
    pthread_mutex_unlock(&w->lock);
}

void mdn_workers_destroy(mdn_workers *w) {
    if (w == NULL)
        return;
    MDN_CHECK(!w->running);
    workers_stop(w, w->count - 1);
    workers_free(w);
}

/* ---- the work queue ---------------------------------------------------- */

/* Items a worker moves from the injector to its deque at a time (with more
 * than one worker; a lone worker takes everything, to keep FIFO order). */
#define WORKQUEUE_INJECTOR_BATCH 32
/* Steal attempts on one victim that keeps losing races before moving on. */
#define WORKQUEUE_STEAL_RETRIES 4
/* Idle rounds spent spinning (with 2^round pauses) before yielding. */
#define WORKQUEUE_SPIN_ROUNDS 8
#define WORKQUEUE_INITIAL_LOG_CAPACITY 12
#define WORKQUEUE_INJECTOR_INITIAL 256

/* One worker's part, alone on its cache lines (the deque aligns itself). */
typedef struct workqueue_worker {
    mdn_deque deque;
    uint64_t rng; /* xorshift64 state, for picking victims */
} workqueue_worker;
_Static_assert(sizeof(workqueue_worker) % MDN_CACHE_LINE == 0, "workers' slots share a cache line");

struct mdn_workqueue {
    unsigned workers;
    workqueue_worker *slots;
    _Alignas(MDN_CACHE_LINE) _Atomic unsigned active;
    _Alignas(MDN_CACHE_LINE) _Atomic unsigned exited;
    /* Items in the injector, readable without the lock (a hint for idle
     * workers; the lock decides). */
    _Alignas(MDN_CACHE_LINE) _Atomic size_t injector_size;
    pthread_mutex_t injector_lock;
    uintptr_t *injector; /* FIFO: items [injector_head, injector_count) */
    size_t injector_head;
    size_t injector_count;
    size_t injector_capacity;
};

static inline void workqueue_cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ volatile("yield");
#endif
}

static inline uint64_t workqueue_rand(workqueue_worker *slot) {
    uint64_t x = slot->rng;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    slot->rng = x;
    return x;
}

mdn_workqueue *mdn_workqueue_create(unsigned workers) {
    MDN_CHECK(workers >= 1);
    size_t size = mdn_align_up(sizeof(mdn_workqueue), MDN_CACHE_LINE);
    mdn_workqueue *q = aligned_alloc(MDN_CACHE_LINE, size);
    if (q == NULL)
        return NULL;
    memset(q, 0, size);
    q->workers = workers;
    atomic_init(&q->active, workers);
    atomic_init(&q->exited, 0);
    atomic_init(&q->injector_size, 0);
    /* A table: it grows during collections (.overview.tables). */
    q->injector = mdn_table_alloc(WORKQUEUE_INJECTOR_INITIAL * sizeof q->injector[0]);
    q->injector_capacity = WORKQUEUE_INJECTOR_INITIAL;
    size_t slots_size = mdn_align_up(workers * sizeof(workqueue_worker), MDN_CACHE_LINE);
    q->slots = aligned_alloc(MDN_CACHE_LINE, slots_size);
    if (q->injector == NULL || q->slots == NULL) {
        mdn_table_free(q->injector, q->injector_capacity * sizeof q->injector[0]);
        free(q->slots);
        free(q);
        return NULL;
    }
    pthread_mutex_init(&q->injector_lock, NULL);
    memset(q->slots, 0, slots_size);
    for (unsigned i = 0; i < workers; i++) {
        if (!mdn_deque_init(&q->slots[i].deque, WORKQUEUE_INITIAL_LOG_CAPACITY)) {
            while (i-- > 0)
                mdn_deque_destroy(&q->slots[i].deque);
            pthread_mutex_destroy(&q->injector_lock);
            mdn_table_free(q->injector, q->injector_capacity * sizeof q->injector[0]);
            free(q->slots);
            free(q);
            return NULL;
        }
        /* Any fixed non-zero odd seed per worker: victims need only differ. */
        q->slots[i].rng = 0x9E3779B97F4A7C15ULL * (i + 1) | 1;
    }
    return q;
}

void mdn_workqueue_destroy(mdn_workqueue *q) {
    if (q == NULL)
        return;
    for (unsigned i = 0; i < q->workers; i++)
        mdn_deque_destroy(&q->slots[i].deque);
    pthread_mutex_destroy(&q->injector_lock);
    mdn_table_free(q->injector, q->injector_capacity * sizeof q->injector[0]);
    free(q->slots);
    free(q);
}

void mdn_workqueue_push(mdn_workqueue *q, unsigned worker, uintptr_t item) {
    MDN_ASSERT(worker < q->workers);
    mdn_deque_push(&q->slots[worker].deque, item);
}

mdn_deque *mdn_workqueue_deque(mdn_workqueue *q, unsigned worker) {
    MDN_ASSERT(worker < q->workers);
    return &q->slots[worker].deque;
}

void mdn_workqueue_inject(mdn_workqueue *q, uintptr_t item) {
    pthread_mutex_lock(&q->injector_lock);
    if (q->injector_count == q->injector_capacity) {
        if (q->injector_head > 0) {
            /* Slide the live items down before growing. */
            size_t live = q->injector_count - q->injector_head;
            memmove(q->injector, q->injector + q->injector_head, live * sizeof q->injector[0]);
            q->injector_head = 0;
            q->injector_count = live;
        }
        if (q->injector_count * 2 > q->injector_capacity) {
            size_t capacity = q->injector_capacity * 2;
            uintptr_t *grown = mdn_table_resize(q->injector, q->injector_capacity * sizeof grown[0],
                                                capacity * sizeof grown[0]);
            if (grown == NULL)
                mdn_fatal("work queue: out of memory growing the injector to %zu items", capacity);
            q->injector = grown;
            q->injector_capacity = capacity;
        }
    }
    q->injector[q->injector_count++] = item;
    atomic_store_explicit(&q->injector_size, q->injector_count - q->injector_head, memory_order_relaxed);
    pthread_mutex_unlock(&q->injector_lock);
}

/* Move up to `limit` items, oldest first, from the injector onto the
 * worker's deque. false if the injector was empty. */
static bool workqueue_take_injected(mdn_workqueue *q, workqueue_worker *slot, size_t limit) {
    if (atomic_load_explicit(&q->injector_size, memory_order_relaxed) == 0)
        return false;
    pthread_mutex_lock(&q->injector_lock);
    size_t live = q->injector_count - q->injector_head;
    size_t take = live < limit ? live : limit;
    for (size_t i = 0; i < take; i++)
        mdn_deque_push(&slot->deque, q->injector[q->injector_head + i]);
    q->injector_head += take;
    if (q->injector_head == q->injector_count)
        q->injector_head = q->injector_count = 0;
    atomic_store_explicit(&q->injector_size, q->injector_count - q->injector_head, memory_order_relaxed);
    pthread_mutex_unlock(&q->injector_lock);
    return take > 0;
}

/* Try every other worker once, starting at a random one. */
static bool workqueue_steal(mdn_workqueue *q, unsigned worker, uintptr_t *out) {
    unsigned n = q->workers;
    unsigned start = (unsigned)(workqueue_rand(&q->slots[worker]) % (n - 1));
    for (unsigned i = 0; i < n - 1; i++) {
        unsigned victim = (start + i) % (n - 1);
        if (victim >= worker)
            victim++;
        mdn_deque *d = &q->slots[victim].deque;
        for (unsigned tries = 0; tries < WORKQUEUE_STEAL_RETRIES; tries++) {
            mdn_steal_result r = mdn_deque_steal(d, out);
            if (r == MDN_STEAL_SUCCESS)
                return true;
            if (r == MDN_STEAL_EMPTY)
                break;
        }
    }
    return false;
}

static bool workqueue_work_visible(mdn_workqueue *q, unsigned worker) {
    if (atomic_load_explicit(&q->injector_size, memory_order_relaxed) != 0)
        return true;
    for (unsigned i = 0; i < q->workers; i++)
        if (i != worker && mdn_deque_size(&q->slots[i].deque) != 0)
            return true;
    return false;
}

/*
 * Go idle, and wait until there may be work to take (true: active again) or
 * the phase is over (false). See the termination note at the top.
 */
static bool workqueue_idle(mdn_workqueue *q, unsigned worker) {
    atomic_fetch_sub_explicit(&q->active, 1, memory_order_acq_rel);
    for (unsigned round = 0;; round++) {
        unsigned active = atomic_load_explicit(&q->active, memory_order_acquire);
        if (active == 0)
            return false;
        if (workqueue_work_visible(q, worker)) {
            while (active != 0) {
                if (atomic_compare_exchange_weak_explicit(&q->active, &active, active + 1,
                                                          memory_order_acq_rel, memory_order_acquire))
                    return true;
            }
            return false;
        }
        if (round < WORKQUEUE_SPIN_ROUNDS) {
            for (unsigned i = 0; i < 1u << round; i++)
                workqueue_cpu_relax();
        } else {
            sched_yield();
        }
    }
}

/* The last worker out resets the termination state for the next phase. */
static void workqueue_leave(mdn_workqueue *q) {
    unsigned exited = atomic_fetch_add_explicit(&q->exited, 1, memory_order_acq_rel) + 1;
    if (exited == q->workers) {
        MDN_ASSERT(atomic_load_explicit(&q->active, memory_order_relaxed) == 0 || q->workers == 1);
        atomic_store_explicit(&q->exited, 0, memory_order_relaxed);
        atomic_store_explicit(&q->active, q->workers, memory_order_release);
    }
}

/* A lone worker: FIFO from its own deque, so the closure is breadth-first. */
static void workqueue_drain_alone(mdn_workqueue *q, mdn_work_fn fn, void *arg) {
    workqueue_worker *slot = &q->slots[0];
    for (;;) {
        uintptr_t item;
        while (mdn_deque_take_oldest_unshared(&slot->deque, &item))
            fn(q, 0, item, arg);
        if (!workqueue_take_injected(q, slot, SIZE_MAX))
            return;
    }
}

void mdn_workqueue_drain(mdn_workqueue *q, unsigned worker, mdn_work_fn fn, void *arg) {
    MDN_CHECK(worker < q->workers);
    /* This worker is still counted active, so zero means the previous
     * phase has not been left by every worker yet. */
    MDN_ASSERT(atomic_load_explicit(&q->active, memory_order_relaxed) != 0);
    MDN_ASSERT(atomic_load_explicit(&q->exited, memory_order_relaxed) < q->workers);
    if (q->workers == 1) {
        workqueue_drain_alone(q, fn, arg);
        workqueue_leave(q);
        return;
    }
    workqueue_worker *slot = &q->slots[worker];
    for (;;) {
        uintptr_t item;
        while (mdn_deque_pop(&slot->deque, &item))
            fn(q, worker, item, arg);
        if (workqueue_take_injected(q, slot, WORKQUEUE_INJECTOR_BATCH))
            continue;
        if (workqueue_steal(q, worker, &item)) {
            fn(q, worker, item, arg);
            continue;
        }
        if (!workqueue_idle(q, worker))
            break;
    }
    workqueue_leave(q);
}

void mdn_workqueue_reclaim(mdn_workqueue *q) {
#ifdef MDN_DEBUG
    mdn_workqueue_check(q);
#endif
    for (unsigned i = 0; i < q->workers; i++)
        mdn_deque_reclaim(&q->slots[i].deque);
}

unsigned mdn_workqueue_workers(const mdn_workqueue *q) { return q->workers; }

bool mdn_workqueue_has_idle(const mdn_workqueue *q) {
    return atomic_load_explicit(&((mdn_workqueue *)q)->active, memory_order_relaxed) < q->workers;
}

void mdn_workqueue_check(mdn_workqueue *q) {
    MDN_CHECK(q->workers >= 1);
    MDN_CHECK(atomic_load_explicit(&q->active, memory_order_acquire) == q->workers);
    MDN_CHECK(atomic_load_explicit(&q->exited, memory_order_relaxed) == 0);
    for (unsigned i = 0; i < q->workers; i++)
        mdn_deque_check(&q->slots[i].deque);
    pthread_mutex_lock(&q->injector_lock);
    MDN_CHECK(q->injector_head <= q->injector_count);
    MDN_CHECK(q->injector_count <= q->injector_capacity);
    MDN_CHECK(atomic_load_explicit(&q->injector_size, memory_order_relaxed) ==
              q->injector_count - q->injector_head);
    pthread_mutex_unlock(&q->injector_lock);
}
