/*
 * workers.h: the GC worker pool and parallel work distribution (docs/design/overview.md .overview.threads).
 *
 * mdn_workers: `count` workers, of which worker 0 is the thread that calls
 * mdn_workers_run() and the others are threads started once and parked on a
 * condition variable between jobs.
 *
 * mdn_workqueue: the work of one parallel phase: one Chase–Lev deque per
 * worker, a shared injector for work produced outside the workers (roots),
 * and a termination protocol. mdn_workqueue_drain() runs on every worker:
 * it processes items from its own deque, then the injector, then steals
 * from random other workers, and returns only when every worker is idle
 * and every queue is empty.
 */
#ifndef MDN_CORE_WORKERS_H
#define MDN_CORE_WORKERS_H

#include "core/deque.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct mdn_error;

typedef struct mdn_workers mdn_workers;

/* The body of a parallel job: called once on every worker. */
typedef void (*mdn_worker_fn)(unsigned worker, void *arg);

/* Start count-1 threads (count >= 1). NULL and err filled on failure. */
mdn_workers *mdn_workers_create(unsigned count, struct mdn_error *err);
unsigned mdn_workers_count(const mdn_workers *w);
/* Run fn(i, arg) on worker i for every i in [0, count), in parallel; the
 * caller is worker 0. Returns when every call has returned. Not reentrant. */
void mdn_workers_run(mdn_workers *w, mdn_worker_fn fn, void *arg);
/* Stop and join the threads. */
void mdn_workers_destroy(mdn_workers *w);

typedef struct mdn_workqueue mdn_workqueue;

/* Process one item. May push more work with mdn_workqueue_push(). */
typedef void (*mdn_work_fn)(mdn_workqueue *q, unsigned worker, uintptr_t item, void *arg);

/* A queue for `workers` workers. NULL on out of memory. */
mdn_workqueue *mdn_workqueue_create(unsigned workers);
void mdn_workqueue_destroy(mdn_workqueue *q);

/* Worker `worker` pushes an item on its own deque (only from that worker). */
void mdn_workqueue_push(mdn_workqueue *q, unsigned worker, uintptr_t item);

/* Add an item to the shared injector: from any thread before a phase (the
 * phase must begin after this returns), or during a phase from a worker
 * inside the work function. */
void mdn_workqueue_inject(mdn_workqueue *q, uintptr_t item);

/* Direct access to worker `worker`'s deque, for inlined pushes. */
mdn_deque *mdn_workqueue_deque(mdn_workqueue *q, unsigned worker);

/*
 * Called by every one of the `workers` workers of a phase: process items
 * until all deques and the injector are empty and every worker is idle.
 * With one worker, items are taken in FIFO order (breadth-first), so a
 * single-threaded closure is deterministic and Cheney-ordered.
 * After every worker has returned, the queue is ready for the next phase.
 */
void mdn_workqueue_drain(mdn_workqueue *q, unsigned worker, mdn_work_fn fn, void *arg);

/* Free outgrown deque arrays; call between phases (no worker running). */
void mdn_workqueue_reclaim(mdn_workqueue *q);

/* The number of workers the queue was created for. */
unsigned mdn_workqueue_workers(const mdn_workqueue *q);

/* Is some worker of the running phase idle (looking for work)? A hint for
 * workers that keep items privately: time to share some. */
bool mdn_workqueue_has_idle(const mdn_workqueue *q);

/* Check the invariants (aborts naming the broken one); between phases only:
 * termination state reset, every deque consistent, injector consistent. */
void mdn_workqueue_check(mdn_workqueue *q);

#endif
