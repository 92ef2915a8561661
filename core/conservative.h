/*
 * conservative.h: conservative (ambiguous) roots, the valid-object bitmap
 * and the signal-based stop of threads that never poll
 * (docs/design/conservative.md).
 *
 * With the `conservative` option a heap keeps one bit per granule that is
 * set exactly for the starts of the objects that may be live
 * (.cons.valid), a page map for objects above the small-object bound
 * (.cons.find), a list of ambiguous root ranges, and for each mutator the
 * stack and register state saved when it stops (.cons.stacks). Nothing
 * here runs for heaps without the option.
 */
#ifndef MDN_CORE_CONSERVATIVE_H
#define MDN_CORE_CONSERVATIVE_H

#include "core/heap.h"
#include "core/side_metadata.h"

#include <midden/midden.h>

#include <string.h>

typedef struct mdn_ambiguous_range {
    uintptr_t start;
    uintptr_t end;
} mdn_ambiguous_range;

typedef struct mdn_conservative {
    mdn_side_metadata valid;      /* one bit per granule: an object starts here (.cons.valid) */
    uintptr_t *large_map;         /* per page: start of the large object covering it (.cons.find) */
    size_t large_map_bytes;
    pthread_mutex_t ranges_lock;
    mdn_ambiguous_range *ranges;  /* registered ambiguous roots */
    size_t nranges, ranges_capacity;
    mdn_ambiguous_range *excluded; /* static data excluded from scanning */
    size_t nexcluded, excluded_capacity;
    uintptr_t past_end;           /* 1: a word is looked up one byte lower (.cons.past-end), else 0 */
    bool static_roots;            /* scan the writable segments of every loaded image */
    bool library_roots;           /* ... of the shared libraries too, not just the main program (atomic) */
    uint64_t stop_epoch;          /* increments when signal-stopped threads may resume */
    int suspend_signal, restart_signal;
} mdn_conservative;

/* Small objects are at most this many granules (.cons.find). */
#define MDN_CONS_SMALL_GRANULES (MDN_LARGE_OBJECT_THRESHOLD >> MDN_LOG_GRANULE)

/* Is the valid bit of the granule at `a` set (.cons.valid)? */
static inline bool mdn_conservative_valid(const mdn_conservative *c, uintptr_t a) {
    return mdn_side_bit_test(&c->valid, mdn_address_from_word(a));
}

/* .cons.find-view: what the lookup reads of the heap, none of which
 * changes during a collection, copied into locals once per scanned range
 * (mdn_conservative_view), so the trace loop keeps it in registers instead
 * of reloading it for each word around the plan's mark, which stores. */
typedef struct mdn_cons_view {
    uintptr_t base;               /* the reservation's start */
    uintptr_t span;               /* its size */
    const uint8_t *chunk_space;   /* space id per chunk */
    const uint64_t *bits;         /* the valid bitmap, 64 granules a word */
    const uintptr_t *large_map;   /* per page: the large object covering it */
    uintptr_t past_end;           /* 1 with .cons.past-end, else 0 */
} mdn_cons_view;

static inline __attribute__((always_inline)) mdn_cons_view mdn_conservative_view(const mdn_heap *heap) {
    const mdn_conservative *c = heap->cons;
    return (mdn_cons_view){
        .base = heap->vm.start,
        .span = heap->vm.end - heap->vm.start,
        .chunk_space = heap->vm.chunk_space,
        .bits = (const uint64_t *)(const void *)c->valid.base,
        .large_map = c->large_map,
        .past_end = c->past_end,
    };
}

/* The valid bit of granule `g` of the reservation. */
static inline bool mdn_cons_view_valid(const mdn_cons_view *v, size_t g) {
    return (__atomic_load_n(&v->bits[g >> 6], __ATOMIC_RELAXED) >> (g & 63)) & 1u;
}

/* The id of the space holding `w`'s chunk; MDN_SPACE_NONE outside the
 * reservation or in a chunk no space holds. */
static inline unsigned mdn_cons_view_space(const mdn_cons_view *v, uintptr_t w) {
    if (w - v->base >= v->span)
        return MDN_SPACE_NONE;
    return __atomic_load_n(&v->chunk_space[(w - v->base) >> MDN_LOG_CHUNK], __ATOMIC_RELAXED);
}

/* Is `w` in a chunk some space holds? */
static inline bool mdn_cons_view_in_space(const mdn_cons_view *v, uintptr_t w) {
    return mdn_cons_view_space(v, w) != MDN_SPACE_NONE;
}

/* .cons.past-end: with the option, a word at an object's first byte, which
 * mdn_conservative_find() gives to the object before it, keeps the object
 * starting there as well: the core and the binding hold an object's start
 * while they make it. Null without the option. */
static inline mdn_objref mdn_cons_view_start_at(const mdn_cons_view *v, uintptr_t w) {
    if (!v->past_end || (w & (MDN_GRANULE_SIZE - 1)) != 0 || !mdn_cons_view_in_space(v, w) ||
        !mdn_cons_view_valid(v, (w - v->base) >> MDN_LOG_GRANULE))
        return mdn_objref_null();
    return mdn_vm_objref_from_start(mdn_address_from_word(w));
}

/* .cons.past-end: with the option and `at`, the object starting at `raw`,
 * one byte above the word looked up, whose granule is g + 1: from
 * `word`, the bitmap word of granule g as loaded, unless g is its last
 * granule. */
static inline __attribute__((always_inline)) void mdn_cons_view_at_(const mdn_cons_view *v, uintptr_t raw,
                                                                   uint64_t word, unsigned top, mdn_objref *at) {
    if (!at || !v->past_end || (raw & (MDN_GRANULE_SIZE - 1)) != 0)
        return;
    if (top != 63) {
        if ((word >> (top + 1)) & 1)
            *at = mdn_vm_objref_from_start(mdn_address_from_word(raw));
    } else {
        *at = mdn_cons_view_start_at(v, raw);
    }
}

/* .cons.find: the object covering word `w`, or null; `w` is any value.
 * With `at` (a constant at each call), also the object starting at `w`
 * (.cons.past-end, mdn_cons_view_start_at), mostly from the bitmap word
 * already loaded. With `space`, the id of the space holding the object
 * when the lookup read it on the way (.cons.find-space), else
 * MDN_SPACE_NONE. Inline, so that the ambiguous scan of the trace loop
 * (core/trace.h) runs it without a call. */
static inline __attribute__((always_inline)) mdn_objref mdn_cons_view_find(const mdn_cons_view *v, uintptr_t w,
                                                                          mdn_objref *at, unsigned *space) {
    uintptr_t raw = w;
    if (at)
        *at = mdn_objref_null();
    if (space)
        *space = MDN_SPACE_NONE;
    w -= v->past_end; /* .cons.past-end */
    unsigned id = mdn_cons_view_space(v, w);
    if (id == MDN_SPACE_NONE) {
        if (at && v->past_end)
            *at = mdn_cons_view_start_at(v, raw);
        return mdn_objref_null();
    }
    size_t g = (w - v->base) >> MDN_LOG_GRANULE;
    size_t wi = g >> 6;
    unsigned top = (unsigned)(g & 63);
    uint64_t first = __atomic_load_n(&v->bits[wi], __ATOMIC_RELAXED);
    if ((first >> top) & 1) {
        /* An object starts in `w`'s granule, the common case, and covers it
         * (every object covers its first granule): no need to read its
         * size. With objects at 8 mod 16, every object is at least 16
         * bytes (<midden/vm.h>), so `raw`, one byte above `w`, is inside it
         * too and starts no object (.cons.find-space). */
        if (MDN_VM_INLINE_START_PHASE == 0)
            mdn_cons_view_at_(v, raw, first, top, at);
        if (space)
            *space = id; /* the object starts in `w`'s granule, so in its chunk */
        return mdn_vm_objref_from_start(mdn_address_from_word(v->base + (g << MDN_LOG_GRANULE)));
    }
    /* Else the nearest start below, within a small object's reach. */
    size_t lo = g > MDN_CONS_SMALL_GRANULES ? g - MDN_CONS_SMALL_GRANULES : 0;
    uint64_t word = first & (((uint64_t)1 << top) - 1);
    uintptr_t start = 0;
    for (;;) {
        if (word) {
            size_t s = (wi << 6) + 63 - (size_t)__builtin_clzll(word);
            if (s >= lo)
                start = v->base + (s << MDN_LOG_GRANULE);
            break;
        }
        if (wi == lo >> 6)
            break;
        word = __atomic_load_n(&v->bits[--wi], __ATOMIC_RELAXED);
    }
    mdn_cons_view_at_(v, raw, first, top, at);
    if (!start) {
        /* Nothing starts within a small object's reach: a large object? */
        uintptr_t l = __atomic_load_n(&v->large_map[(w - v->base) >> MDN_LOG_PAGE], __ATOMIC_RELAXED);
        if (!l || l > w || !mdn_cons_view_valid(v, (l - v->base) >> MDN_LOG_GRANULE))
            return mdn_objref_null();
        start = l;
    }
    mdn_objref obj = mdn_vm_objref_from_start(mdn_address_from_word(start));
    return w < start + mdn_vm_object_size(obj) ? obj : mdn_objref_null();
}

static inline __attribute__((always_inline)) mdn_objref mdn_conservative_find(const mdn_heap *heap, uintptr_t w) {
    mdn_cons_view v = mdn_conservative_view(heap);
    return mdn_cons_view_find(&v, w, NULL, NULL);
}

/* .cons.sanitizers: an ambiguous root range is memory the program owns
 * and the sanitizers guard: other threads' stacks (with AddressSanitizer's
 * redzones in them) and the static data of every image, which other
 * threads wrote without any synchronisation the collector takes part in.
 * Reading a word of it is the one access exempted from both sanitizers. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define MDN_CONS_FOREIGN __attribute__((noinline, unused, no_sanitize_address, no_sanitize_thread))
#else
#define MDN_CONS_FOREIGN inline __attribute__((always_inline))
#endif
static MDN_CONS_FOREIGN uintptr_t mdn_conservative_foreign_word(uintptr_t p) { return *(const volatile uintptr_t *)p; }

/* Set up the conservative state of a heap created with the option; false
 * (err filled) when the plan cannot pin or memory runs out. */
bool mdn_conservative_create(mdn_heap *heap, mdn_error *err);
void mdn_conservative_destroy(mdn_heap *heap);

/* .cons.locks: take and release a lock that a collection also takes, from
 * an entry point a mutator calls. On a thread bound to a conservative heap
 * the hold is a critical section (.cons.critical), so the stop signal never
 * stops the thread holding the lock; elsewhere these are the plain mutex
 * calls. The section must not wait for a collection while it holds. */
void mdn_lock_for_mutator(pthread_mutex_t *lock);
void mdn_unlock_for_mutator(pthread_mutex_t *lock);

/* A mutator was bound on the calling thread: record the thread and its stack. */
void mdn_conservative_bind(mdn_mutator *m);
void mdn_conservative_unbind(mdn_mutator *m);

/* .cons.fast: let mdn_alloc_conservative use the held buffers (unless
 * stress or verify sends everything to the slow path). */
void mdn_conservative_open_fast_path(mdn_mutator *m);

/* Record a new object (valid bit, page map); `bytes` is its size. */
void mdn_conservative_note_alloc(mdn_heap *heap, void *start, size_t bytes);

/* World stopped, after the closure and before the plan's release: clear
 * the valid bits of objects the collection did not reach (.cons.valid). */
void mdn_conservative_sweep(mdn_heap *heap);

/* Trace every ambiguous root: registered ranges, static data, and each
 * mutator's saved registers and stack (.cons.stacks). World stopped. */
void mdn_conservative_scan_roots(mdn_heap *heap, mdn_tracer *t);

/* Stop every other RUNNING mutator with signals and wait until each is
 * stopped or parked (.cons.signals); then resume them. `self` is the
 * collecting thread's mutator. */
void mdn_conservative_stop_world(mdn_heap *heap, mdn_mutator *self);
void mdn_conservative_resume_world(mdn_heap *heap, mdn_mutator *self);

/* .cons.fork: in the child of a fork, after the other mutators were
 * removed: the ranges lock anew, nothing signalled. `self` may be NULL. */
void mdn_conservative_after_fork_child(mdn_heap *heap, mdn_mutator *self);

/* .cons.critical: the core's entry points run inside mdn_critical_enter()
 * and mdn_critical_leave() (<midden/midden.h>), shared with the inline
 * fast path and the bindings. */

/* .cons.context: take the calling thread's registers into `ctx` (a
 * ucontext_t lvalue) and record them and the stack pointer `sp` in `m`.
 * getcontext fills only part of a context: the context is cleared first, so
 * the fields it leaves alone hold no stale words for the stack scan (the
 * context usually lies on the scanned stack), and only the machine context
 * is scanned as registers. */
#define MDN_TAKE_CONTEXT(m, ctx, sp)                                                                                   \
    do {                                                                                                               \
        memset(&(ctx), 0, sizeof(ctx));                                                                                \
        getcontext(&(ctx));                                                                                            \
        (m)->saved_regs = &(ctx).uc_mcontext;                                                                          \
        (m)->saved_regs_bytes = sizeof (ctx).uc_mcontext;                                                              \
        (m)->stack_sp = (sp);                                                                                          \
    } while (0)

/* Save the calling thread's registers and stack pointer into `m` before it
 * blocks in the core (park, coordinating a collection). A macro so the
 * context is taken in the caller's frame: `ctx` must stay alive while the
 * thread is stopped. */
#define MDN_SAVE_CONTEXT(m, ctx)                                                                                       \
    do {                                                                                                               \
        if ((m)->heap->cons)                                                                                           \
            MDN_TAKE_CONTEXT(m, ctx, (uintptr_t)&(ctx));                                                               \
    } while (0)

#endif
