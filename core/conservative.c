/*
 * conservative.c: ambiguous roots, the valid-object bitmap, mdn_find_object
 * and the signal-based stop (docs/design/conservative.md).
 */
#define _GNU_SOURCE 1
#include "core/conservative.h"

#include "core/os.h"
#include "core/plan.h"

#include <errno.h>
#include <link.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The mutator bound on this thread to a conservative heap (at most one),
 * for the signal handler. Initial-exec: reading it in a handler never
 * allocates. */
static __thread mdn_mutator *cons_self __attribute__((tls_model("initial-exec")));

/* The signals, shared by every conservative heap of the process
 * (.cons.signals): Boehm GC's choices on Linux, so programs that reserve
 * them for the collector keep working. */
#define CONS_SUSPEND_SIGNAL SIGPWR
#define CONS_RESTART_SIGNAL SIGXCPU
static pthread_once_t cons_signals_once = PTHREAD_ONCE_INIT;
static sigset_t cons_wait_mask; /* everything blocked but the restart signal */


void mdn_conservative_note_alloc(mdn_heap *heap, void *start, size_t bytes) {
    mdn_conservative *c = heap->cons;
    mdn_address a = mdn_address_from_ptr(start);
    mdn_side_bit_set_atomic(&c->valid, a);
    if (bytes > MDN_LARGE_OBJECT_THRESHOLD) {
        size_t first = (a.value - heap->vm.start) >> MDN_LOG_PAGE;
        size_t last = (a.value + bytes - 1 - heap->vm.start) >> MDN_LOG_PAGE;
        for (size_t p = first; p <= last; p++)
            __atomic_store_n(&c->large_map[p], a.value, __ATOMIC_RELAXED);
    }
}

mdn_objref mdn_find_object(mdn_heap *heap, mdn_address address) {
    mdn_heap_check_api(heap, "find_object");
    if (!heap->cons)
        mdn_misuse("find_object", "the heap was not created with the conservative option");
    return mdn_conservative_find(heap, address.value);
}

bool mdn_heap_contains(mdn_heap *heap, mdn_address address) {
    mdn_heap_check_api(heap, "heap_contains");
    return mdn_vmspace_space_of(&heap->vm, address) != MDN_SPACE_NONE;
}

void mdn_heap_reserved_range(mdn_heap *heap, mdn_address *start, mdn_address *end) {
    mdn_heap_check_api(heap, "heap_reserved_range");
    *start = mdn_address_from_word(heap->vm.start);
    *end = mdn_address_from_word(heap->vm.end);
}

void mdn_forget_object(mdn_heap *heap, mdn_objref obj) {
    mdn_heap_check_api(heap, "forget_object");
    if (!heap->cons)
        mdn_misuse("forget_object", "the heap was not created with the conservative option");
    mdn_address start = mdn_vm_object_start(obj);
    if (!mdn_vmspace_contains(&heap->vm, start) || !mdn_conservative_valid(heap->cons, start.value))
        mdn_misuse("forget_object", "%p is not the start of a live object of this heap", mdn_address_to_ptr(start));
    mdn_side_bit_clear_atomic(&heap->cons->valid, start);
}

void mdn_conservative_sweep(mdn_heap *heap) {
    mdn_conservative *c = heap->cons;
    const mdn_vmspace *vs = &heap->vm;
    uint64_t *bits = (uint64_t *)(void *)c->valid.base;
    const size_t words_per_chunk = MDN_CHUNK_SIZE >> MDN_LOG_GRANULE >> 6;
    for (size_t ci = 0; ci < vs->nchunks; ci++) {
        unsigned space = vs->chunk_space[ci];
        if (space == MDN_SPACE_NONE)
            continue;
        uint64_t *w = bits + ci * words_per_chunk;
        const mdn_side_metadata *marks = plan_space_marks(heap, space);
        if (marks && marks->log_region == MDN_LOG_GRANULE && marks->log_bits == 0 &&
            marks->heap_start == c->valid.heap_start) {
            /* .cons.sweep: the space's mark bits are its live object
             * starts: one AND per 64 granules. */
            const uint64_t *m = (const uint64_t *)(const void *)marks->base + ci * words_per_chunk;
            for (size_t i = 0; i < words_per_chunk; i++)
                if (w[i])
                    w[i] &= __atomic_load_n(&m[i], __ATOMIC_RELAXED);
            continue;
        }
        for (size_t i = 0; i < words_per_chunk; i++) {
            uint64_t word = w[i], keep = word;
            while (word) {
                unsigned b = (unsigned)__builtin_ctzll(word);
                word &= word - 1;
                uintptr_t start = vs->start + ((((ci * words_per_chunk + i) << 6) + b) << MDN_LOG_GRANULE);
                mdn_objref obj = mdn_vm_objref_from_start(mdn_address_from_word(start));
                if (!plan_object_is_reachable(heap, obj))
                    keep &= ~((uint64_t)1 << b);
            }
            if (keep != w[i])
                w[i] = keep;
        }
    }
}

/* ---- ambiguous roots (.cons.stacks, .cons.static) -------------------------- */

/* Scan [lo, hi) minus the excluded ranges (kept sorted by start). */
static void scan_excluding(mdn_heap *heap, mdn_tracer *t, uintptr_t lo, uintptr_t hi) {
    const mdn_conservative *c = heap->cons;
    for (size_t i = 0; i < c->nexcluded && lo < hi; i++) {
        const mdn_ambiguous_range *x = &c->excluded[i];
        if (x->end <= lo || x->start >= hi)
            continue;
        if (x->start > lo)
            mdn_trace_ambiguous(t, mdn_address_from_word(lo), x->start - lo);
        lo = x->end;
    }
    if (lo < hi)
        mdn_trace_ambiguous(t, mdn_address_from_word(lo), hi - lo);
}

typedef struct static_scan {
    mdn_heap *heap;
    mdn_tracer *t;
    bool libraries; /* scan the shared libraries, not just the main program */
    unsigned images;
} static_scan;

/* .cons.sanitizers: a sanitizer's runtime is no part of the program; its
 * data (50 MB of it for ThreadSanitizer) holds no reference the program
 * keeps, and scanning it would only slow every collection. */
static bool sanitizer_runtime(const char *path) {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    const char *base = path ? strrchr(path, '/') : NULL;
    base = base ? base + 1 : path;
    return base && (strncmp(base, "libasan.so", 10) == 0 || strncmp(base, "libtsan.so", 10) == 0 ||
                    strncmp(base, "libubsan.so", 11) == 0);
#else
    (void)path;
    return false;
#endif
}

static int scan_image(struct dl_phdr_info *info, size_t size, void *arg) {
    (void)size;
    static_scan *s = arg;
    /* .cons.static: the main program is the first image dl_iterate_phdr reports. */
    if (s->images++ > 0 && !s->libraries)
        return 1;
    if (sanitizer_runtime(info->dlpi_name))
        return 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_W))
            continue;
        uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
        scan_excluding(s->heap, s->t, lo, lo + ph->p_memsz);
    }
    return 0;
}

static void scan_mutator(mdn_heap *heap, mdn_tracer *t, mdn_mutator *m) {
    if (m->saved_regs)
        mdn_trace_ambiguous(t, mdn_address_from_ptr(m->saved_regs), m->saved_regs_bytes);
    if (!m->stack_sp || m->stack_sp > m->stack_base)
        mdn_fatal("conservative roots: mutator %p has no saved stack pointer within its stack", (void *)m);
    mdn_trace_ambiguous(t, mdn_address_from_word(m->stack_sp), m->stack_base - m->stack_sp);
}

void mdn_conservative_scan_roots(mdn_heap *heap, mdn_tracer *t) {
    mdn_conservative *c = heap->cons;
    pthread_mutex_lock(&c->ranges_lock);
    for (size_t i = 0; i < c->nranges; i++)
        mdn_trace_ambiguous(t, mdn_address_from_word(c->ranges[i].start), c->ranges[i].end - c->ranges[i].start);
    if (c->static_roots) {
        static_scan s = {heap, t, __atomic_load_n(&c->library_roots, __ATOMIC_RELAXED), 0};
        dl_iterate_phdr(scan_image, &s);
    }
    pthread_mutex_unlock(&c->ranges_lock);
    MDN_FOR_EACH_MUTATOR(heap, m) { scan_mutator(heap, t, m); }
}

static void ranges_add(mdn_ambiguous_range **a, size_t *n, size_t *cap, uintptr_t lo, uintptr_t hi, bool sorted) {
    *a = mdn_array_reserve(*a, *n, cap, sizeof **a, 8, "registering ambiguous roots");
    size_t at = *n;
    if (sorted)
        while (at > 0 && (*a)[at - 1].start > lo)
            at--;
    memmove(&(*a)[at + 1], &(*a)[at], (*n - at) * sizeof **a);
    (*a)[at].start = lo;
    (*a)[at].end = hi;
    (*n)++;
}

void mdn_lock_for_mutator(pthread_mutex_t *lock) {
    if (cons_self)
        mdn_critical_enter(cons_self);
    pthread_mutex_lock(lock);
}

void mdn_unlock_for_mutator(pthread_mutex_t *lock) {
    pthread_mutex_unlock(lock);
    if (cons_self)
        mdn_critical_leave(cons_self);
}

static mdn_conservative *require_conservative(mdn_heap *heap, const char *check) {
    mdn_heap_check_api(heap, check);
    if (!heap->cons)
        mdn_misuse(check, "the heap was not created with the conservative option");
    return heap->cons;
}

void mdn_add_ambiguous_roots(mdn_heap *heap, mdn_address start, size_t bytes) {
    mdn_conservative *c = require_conservative(heap, "add_ambiguous_roots");
    if (mdn_address_is_zero(start) || start.value + bytes < start.value)
        mdn_misuse("add_ambiguous_roots", "bad range [%p, +%zu)", mdn_address_to_ptr(start), bytes);
    mdn_lock_for_mutator(&c->ranges_lock); /* .cons.locks */
    ranges_add(&c->ranges, &c->nranges, &c->ranges_capacity, start.value, start.value + bytes, false);
    mdn_unlock_for_mutator(&c->ranges_lock);
}

size_t mdn_remove_ambiguous_roots(mdn_heap *heap, mdn_address lo, mdn_address hi) {
    mdn_conservative *c = require_conservative(heap, "remove_ambiguous_roots");
    mdn_lock_for_mutator(&c->ranges_lock);
    size_t kept = 0, n = c->nranges;
    for (size_t i = 0; i < n; i++) {
        if (c->ranges[i].start >= lo.value && c->ranges[i].end <= hi.value)
            continue;
        c->ranges[kept++] = c->ranges[i];
    }
    c->nranges = kept;
    mdn_unlock_for_mutator(&c->ranges_lock);
    return n - kept;
}

void mdn_exclude_static_roots(mdn_heap *heap, mdn_address start, size_t bytes) {
    mdn_conservative *c = require_conservative(heap, "exclude_static_roots");
    mdn_lock_for_mutator(&c->ranges_lock);
    ranges_add(&c->excluded, &c->nexcluded, &c->excluded_capacity, start.value, start.value + bytes, true);
    mdn_unlock_for_mutator(&c->ranges_lock);
}

void mdn_set_static_roots(mdn_heap *heap, bool scan) {
    mdn_conservative *c = require_conservative(heap, "set_static_roots");
    mdn_lock_for_mutator(&c->ranges_lock);
    c->static_roots = scan;
    mdn_unlock_for_mutator(&c->ranges_lock);
}

void mdn_set_library_roots(mdn_heap *heap, bool scan) {
    mdn_conservative *c = require_conservative(heap, "set_library_roots");
    /* Read by the collector with the world stopped; no lock, so a
     * collection's own callbacks may call it too. */
    __atomic_store_n(&c->library_roots, scan, __ATOMIC_RELAXED);
}

/* ---- stopping threads by signals (.cons.signals) --------------------------- */

/* Wait in the handler until the collection that stopped this thread ends.
 * The interrupted registers are in the signal frame, above `marker` on
 * this stack, so the stack scan covers them. */
static void stop_here(mdn_mutator *m) {
    mdn_conservative *c = m->heap->cons;
    uint64_t epoch = __atomic_load_n(&c->stop_epoch, __ATOMIC_ACQUIRE);
    volatile uintptr_t marker = 0;
    m->saved_regs = NULL;
    m->stack_sp = (uintptr_t)&marker;
    __atomic_store_n(&m->sig_stopped, 1, __ATOMIC_RELEASE);
    while (__atomic_load_n(&c->stop_epoch, __ATOMIC_ACQUIRE) == epoch)
        sigsuspend(&cons_wait_mask);
    __atomic_store_n(&m->sig_stopped, 0, __ATOMIC_RELEASE);
    (void)marker;
}

static void suspend_handler(int sig, siginfo_t *info, void *uc) {
    (void)sig, (void)info, (void)uc;
    int saved = errno;
    mdn_mutator *m = cons_self;
    if (m && __atomic_load_n(&m->signalled, __ATOMIC_ACQUIRE)) {
        if (m->fast.in_critical) {
            m->deferred_epoch = __atomic_load_n(&m->heap->cons->stop_epoch, __ATOMIC_ACQUIRE);
            m->fast.stop_deferred = 1;
        } else
            stop_here(m);
    }
    errno = saved;
}

static void restart_handler(int sig) { (void)sig; }

static void install_signals(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = suspend_handler;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaddset(&sa.sa_mask, CONS_RESTART_SIGNAL); /* pending until sigsuspend */
    if (sigaction(CONS_SUSPEND_SIGNAL, &sa, NULL) != 0)
        mdn_fatal("conservative: cannot install the stop signal handler");
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = restart_handler;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    if (sigaction(CONS_RESTART_SIGNAL, &sa, NULL) != 0)
        mdn_fatal("conservative: cannot install the restart signal handler");
    sigfillset(&cons_wait_mask);
    sigdelset(&cons_wait_mask, CONS_RESTART_SIGNAL);
    /* Let the usual ways of ending a program through while stopped. */
    sigdelset(&cons_wait_mask, SIGINT);
    sigdelset(&cons_wait_mask, SIGQUIT);
    sigdelset(&cons_wait_mask, SIGTERM);
    sigdelset(&cons_wait_mask, SIGABRT);
}

/* .cons.critical: a deferred stop is served only if the collection that
 * sent it is still stopping the world. The thread may have parked at a
 * safepoint for that collection meanwhile, and the world resumed: stopping
 * then would wait for a restart that never comes. */
void mdn_critical_deferred_stop(mdn_mutator *m) {
    m->fast.stop_deferred = 0;
    if (__atomic_load_n(&m->signalled, __ATOMIC_ACQUIRE) &&
        __atomic_load_n(&m->heap->cons->stop_epoch, __ATOMIC_ACQUIRE) == m->deferred_epoch)
        pthread_kill(pthread_self(), CONS_SUSPEND_SIGNAL);
}

void *mdn_critical_deferred_stop_then(mdn_mutator *m, void *p) {
    mdn_critical_deferred_stop(m);
    return p;
}

static bool is_stopped(const mdn_mutator *m) {
    int state = __atomic_load_n(&m->state, __ATOMIC_ACQUIRE);
    return state == MDN_MUTATOR_PARKED || state == MDN_MUTATOR_NATIVE ||
           __atomic_load_n(&m->sig_stopped, __ATOMIC_ACQUIRE);
}

static void pause_briefly(unsigned round) {
    if (round < 64) {
        sched_yield();
        return;
    }
    struct timespec ts = {0, 20000};
    nanosleep(&ts, NULL);
}

void mdn_conservative_stop_world(mdn_heap *heap, mdn_mutator *self) {
    MDN_FOR_EACH_MUTATOR(heap, m) {
        if (m == self)
            continue;
        __atomic_store_n(&m->signalled, 1, __ATOMIC_RELEASE);
        if (__atomic_load_n(&m->state, __ATOMIC_ACQUIRE) != MDN_MUTATOR_RUNNING)
            continue;
        int rc = pthread_kill(m->thread, CONS_SUSPEND_SIGNAL);
        if (rc != 0)
            mdn_fatal("conservative: cannot signal the thread of mutator %p (%s); did it exit without unbinding?",
                      (void *)m, strerror(rc));
    }
    for (unsigned round = 0;; round++) {
        bool all = true;
        MDN_FOR_EACH_MUTATOR(heap, m) {
            if (m != self && !is_stopped(m)) {
                all = false;
                break;
            }
        }
        if (all)
            return;
        pause_briefly(round);
    }
}

void mdn_conservative_resume_world(mdn_heap *heap, mdn_mutator *self) {
    mdn_conservative *c = heap->cons;
    __atomic_fetch_add(&c->stop_epoch, 1, __ATOMIC_RELEASE);
    MDN_FOR_EACH_MUTATOR(heap, m) {
        if (m != self && __atomic_load_n(&m->sig_stopped, __ATOMIC_ACQUIRE))
            pthread_kill(m->thread, CONS_RESTART_SIGNAL);
    }
    /* Each stopped thread has left its handler before the next collection
     * may look at sig_stopped again. */
    for (unsigned round = 0;; round++) {
        bool all = true;
        MDN_FOR_EACH_MUTATOR(heap, m) {
            if (m != self && __atomic_load_n(&m->sig_stopped, __ATOMIC_ACQUIRE)) {
                all = false;
                pthread_kill(m->thread, CONS_RESTART_SIGNAL);
                break;
            }
        }
        if (all)
            break;
        pause_briefly(round);
    }
    MDN_FOR_EACH_MUTATOR(heap, m) { __atomic_store_n(&m->signalled, 0, __ATOMIC_RELEASE); }
}

void mdn_conservative_after_fork_child(mdn_heap *heap, mdn_mutator *self) {
    mdn_conservative *c = heap->cons;
    pthread_mutex_init(&c->ranges_lock, NULL);
    c->stop_epoch++;
    if (self) {
        self->signalled = 0;
        self->sig_stopped = 0;
        self->fast.stop_deferred = 0;
    }
}

/* ---- heaps and mutators --------------------------------------------------- */

bool mdn_conservative_create(mdn_heap *heap, mdn_error *err) {
    if (&plan_conservative_refusal != NULL && plan_conservative_refusal) {
        mdn_error_set(err, MDN_ERR_OPTION, "option conservative: the %s plan cannot pin objects: %s",
                      mdn_plan_name_string, plan_conservative_refusal);
        return false;
    }
    mdn_conservative *c = calloc(1, sizeof *c);
    if (!c) {
        mdn_error_set(err, MDN_ERR_MEMORY, "cannot allocate the conservative-root state");
        return false;
    }
    c->large_map_bytes = mdn_align_up(((heap->vm.end - heap->vm.start) >> MDN_LOG_PAGE) * sizeof(uintptr_t),
                                      MDN_PAGE_SIZE);
    mdn_address map = mdn_os_reserve_zeroed(c->large_map_bytes);
    if (mdn_address_is_zero(map) || !mdn_side_metadata_init(&c->valid, &heap->vm, MDN_LOG_GRANULE, 0, "valid-object")) {
        if (!mdn_address_is_zero(map))
            mdn_os_release(map, c->large_map_bytes);
        free(c);
        mdn_error_set(err, MDN_ERR_MEMORY, "cannot reserve the valid-object bitmap");
        return false;
    }
    c->large_map = mdn_address_to_ptr(map);
    c->past_end = heap->options.conservative_past_end ? 1 : 0;
    pthread_mutex_init(&c->ranges_lock, NULL);
    c->static_roots = true;
    c->library_roots = true;
    c->suspend_signal = CONS_SUSPEND_SIGNAL;
    c->restart_signal = CONS_RESTART_SIGNAL;
    pthread_once(&cons_signals_once, install_signals);
    heap->cons = c;
    return true;
}

void mdn_conservative_destroy(mdn_heap *heap) {
    mdn_conservative *c = heap->cons;
    if (!c)
        return;
    mdn_side_metadata_destroy(&c->valid);
    mdn_os_release(mdn_address_from_ptr(c->large_map), c->large_map_bytes);
    mdn_array_free(c->ranges, c->ranges_capacity, sizeof *c->ranges);
    mdn_array_free(c->excluded, c->excluded_capacity, sizeof *c->excluded);
    pthread_mutex_destroy(&c->ranges_lock);
    free(c);
    heap->cons = NULL;
}

void mdn_conservative_bind(mdn_mutator *m) {
    if (cons_self)
        mdn_misuse("mutator_bind", "this thread is already bound to a conservative heap (mutator %p)",
                   (void *)cons_self);
    pthread_attr_t attr;
    void *addr;
    size_t size;
    if (pthread_getattr_np(pthread_self(), &attr) != 0 || pthread_attr_getstack(&attr, &addr, &size) != 0)
        mdn_fatal("conservative: cannot find the stack of the thread binding mutator %p", (void *)m);
    pthread_attr_destroy(&attr);
    m->thread = pthread_self();
    if (!m->stack_base)
        m->stack_base = (uintptr_t)addr + size;
    cons_self = m;
    mdn_conservative_open_fast_path(m);
}

void mdn_conservative_open_fast_path(mdn_mutator *m) {
    const mdn_heap *heap = m->heap;
    /* .cons.fast: the bitmap byte of address a is valid_bias + (a >> 6);
     * the reservation starts on a chunk boundary, so granule bits line up. */
    m->fast.valid_bias = (uintptr_t)heap->cons->valid.base - (heap->cons->valid.heap_start >> 6);
    m->fast.conservative = heap->options.stress == 0 && !heap->options.verify;
}

void mdn_conservative_unbind(mdn_mutator *m) {
    if (cons_self == m)
        cons_self = NULL;
}

void mdn_mutator_set_stack_base(mdn_mutator *m, void *base) {
    mdn_mutator_check_api(m, "mutator_set_stack_base");
    if (!m->heap->cons)
        mdn_misuse("mutator_set_stack_base", "the heap was not created with the conservative option");
    uintptr_t here = (uintptr_t)&here;
    if ((uintptr_t)base < here)
        mdn_misuse("mutator_set_stack_base", "stack base %p is below the current stack pointer %p", base, (void *)here);
    m->stack_base = (uintptr_t)base;
}

int mdn_suspend_signal(void) { return CONS_SUSPEND_SIGNAL; }
int mdn_restart_signal(void) { return CONS_RESTART_SIGNAL; }
