/**
 * @file midden.h
 * @brief The runtime API: heaps, mutators, allocation, safepoints, collection,
 * options and statistics (docs/design/overview.md .overview.api, .overview.threads, .overview.stats).
 *
 * Link exactly one plan library (`midden_<plan>`, or `midden` for the default
 * plan). Its include directory provides a generated `<midden/plan.h>` that
 * selects the inline allocation fast path of that plan; a compilation that
 * cannot find it fails, unless it defines `MDN_NO_PLAN_HEADER` to take the
 * out-of-line path on purpose.
 */
#ifndef MIDDEN_MIDDEN_H
#define MIDDEN_MIDDEN_H

#include <midden/types.h>
#include <midden/version.h>
#include <midden/vm.h>
#include <midden/weak.h>

#include <stdio.h>

/* The plan's generated header selects the inline fast paths. Without it
 * every allocation would silently take the out-of-line path, so leaving it
 * off the include path is an error; code that wants the out-of-line path
 * on purpose (the library's own plan-independent sources) defines
 * MDN_NO_PLAN_HEADER. */
#ifndef MDN_NO_PLAN_HEADER
#if defined(__has_include)
#if __has_include(<midden/plan.h>)
#include <midden/plan.h>
#else
#error "<midden/plan.h> is not on the include path: add the plan's include directory (pkg-config --cflags midden-<plan>, or link the CMake target Midden::<plan>), or define MDN_NO_PLAN_HEADER to use the out-of-line allocation path"
#endif
#else
#include <midden/plan.h>
#endif
#endif

#ifdef __cplusplus
extern "C" {
#endif

/** @brief Allocations are aligned to at least this many bytes; sizes are rounded up to it. */
#define MDN_MIN_ALIGN 8u

/**
 * @brief The smallest heap budget (mdn_options::heap_size, option `heap`)
 * mdn_heap_create() accepts: 1 MiB. A smaller value is an option error.
 */
#define MDN_HEAP_MIN_BYTES ((size_t)1 << 20)

/** @brief Fast-path kinds a plan's `<midden/plan.h>` may select. */
#define MDN_FASTPATH_NONE 0     /**< every allocation calls mdn_alloc_slow() */
#define MDN_FASTPATH_BUMP 1     /**< bump the cursor of the thread's current block */
#define MDN_FASTPATH_FREELIST 2 /**< pop the thread's free list of the size class */

#ifndef MDN_PLAN_FASTPATH
/** @brief The fast path of the linked plan (set by `<midden/plan.h>`). */
#define MDN_PLAN_FASTPATH MDN_FASTPATH_NONE
#endif

/** @brief Write-barrier kinds a plan's `<midden/plan.h>` may select (mdn_write_barrier()). */
#define MDN_BARRIER_UNKNOWN 0 /**< no `<midden/plan.h>`: test at run time whether the plan has a barrier */
#define MDN_BARRIER_NONE 1    /**< no barrier: mdn_write_barrier() is a plain store */
#define MDN_BARRIER_OBJECT 2  /**< object remembering: log an old object the first time it is written */

#ifndef MDN_PLAN_BARRIER
/** @brief The write barrier of the linked plan (set by `<midden/plan.h>`). */
#define MDN_PLAN_BARRIER MDN_BARRIER_UNKNOWN
#endif

#ifndef MDN_PLAN_MAX_FAST_SIZE
/** @brief Largest request served by the inline fast path (set by `<midden/plan.h>`). */
#define MDN_PLAN_MAX_FAST_SIZE 0u
#endif

/** @brief Largest size served by the free-list fast path: one class per word multiple up to it. */
#define MDN_FREELIST_FAST_MAX 256u
/** @brief Number of free-list heads in a mutator (index = rounded size / 8). */
#define MDN_FREELIST_FAST_CLASSES (MDN_FREELIST_FAST_MAX / MDN_MIN_ALIGN + 1u)

/** @brief What an allocation is for; the plan routes each kind to a space. */
typedef enum mdn_alloc_kind {
    MDN_ALLOC_DEFAULT = 0,   /**< ordinary object; the plan may move it */
    MDN_ALLOC_NONMOVING = 1, /**< never moved, still reclaimed when dead */
    MDN_ALLOC_IMMORTAL = 2,  /**< never moved, never reclaimed */
    MDN_ALLOC_LARGE = 3,     /**< page-granular large-object space */
} mdn_alloc_kind;

/** @brief What mdn_collect() asks for. */
typedef enum mdn_gc_kind {
    MDN_GC_DEFAULT = 0, /**< whatever the plan would do when its budget is used */
    MDN_GC_FULL = 1,    /**< a full-heap collection (and defragmentation where the plan has it) */
} mdn_gc_kind;

/** @brief Error codes reported through mdn_error. */
typedef enum mdn_error_code {
    MDN_OK = 0,          /**< no error */
    MDN_ERR_OPTION = 1,  /**< a bad option name or value */
    MDN_ERR_MEMORY = 2,  /**< the operating system refused memory */
    MDN_ERR_THREAD = 3,  /**< a thread could not be started */
} mdn_error_code;

/** @brief Size of mdn_error::message. */
#define MDN_ERROR_MESSAGE_SIZE 256

/** @brief An error report: a code and a message naming the cause. */
typedef struct mdn_error {
    mdn_error_code code;                  /**< what went wrong, MDN_OK if nothing */
    char message[MDN_ERROR_MESSAGE_SIZE]; /**< a sentence naming the cause */
} mdn_error;

/** @brief Size of a string option's field in mdn_options, with its terminating NUL. */
#define MDN_OPTION_STRING_SIZE 256

/**
 * @brief Heap options. Fill with mdn_options_init(), then
 * mdn_options_parse() and/or mdn_options_from_env(); the table of options
 * (names, types, ranges, defaults) is printed by mdn_options_print_help().
 */
typedef struct mdn_options {
    size_t heap_size;       /**< `heap`: a fixed heap of this many bytes (suffix K, M, G, T); 0 lets `heap-policy` size the heap */
    unsigned gc_threads;    /**< `gc-threads`: GC worker threads, 0 = number of cores */
    unsigned verbose;       /**< `verbose`: 0 quiet, 1 a line per collection, 2 per phase */
    bool verify;            /**< `verify`: check the heap after every collection */
    size_t stress;          /**< `stress`: collect every N bytes allocated, 0 = off */
    bool poison;            /**< `poison`: fill reclaimed memory with a pattern */
    unsigned defrag_headroom; /**< `defrag-headroom`: percent of blocks kept free for evacuation */
    bool conservative;      /**< `conservative`: ambiguous roots, valid-object bitmap, signal stop (docs/design/conservative.md) */
    bool conservative_past_end; /**< `conservative-past-end`: an ambiguous word at an object's first byte refers to the object before it, whose end it is */
    unsigned gen_full_threshold; /**< `gen-full-threshold`: generational plans collect the whole heap next when a minor collection leaves more than this percent of the heap limit in use */
    unsigned gen_full_alloc;  /**< `gen-full-alloc`: generational plans collect the whole heap next once the bytes allocated since the last full collection exceed this percent of the bytes in use after it, a share that doubles (up to 16 times) after each such full collection that finds few old objects dead */
    unsigned gen_min_yield;   /**< `gen-min-yield`: generational plans collect the whole heap next when a minor collection reclaims less than this percent of what was allocated since the last collection */
    size_t nursery;           /**< `nursery`: the nursery bound in bytes (suffix K, M, G, T) of genimmix and stickyimmix; 0 = `nursery-percent` of the heap limit */
    unsigned nursery_percent; /**< `nursery-percent`: the nursery bound of genimmix and stickyimmix as a percent of the heap limit, when `nursery` is 0 */
    unsigned heap_policy;   /**< `heap-policy`: an ::mdn_heap_policy */
    size_t heap_max;        /**< `heap-max`: the most a growing heap may take; 0 = a quarter of physical memory */
    size_t heap_initial;    /**< `heap-initial`: a growing heap's limit before its first collection */
    unsigned heap_factor;   /**< `heap-factor`: growable heap limit as a percentage of the live size */
    unsigned heap_factor_min; /**< `heap-factor-min`: the least growable factor the `heap-gc-share` rule may choose */
    unsigned heap_gc_share; /**< `heap-gc-share`: a growable heap's factor is chosen between `heap-factor-min` and `heap-factor` for about this percent of time in collections; 0 = always `heap-factor` */
    unsigned heap_growth;   /**< `heap-growth`: a collection raises a growable limit to at most this percentage of the limit before it; 0 = no bound */
    bool heap_shrink;       /**< `heap-shrink`: a growing heap's limit may fall after a collection (default); false keeps it at least at the highest it reached */
    unsigned heap_shrink_ratio; /**< `heap-shrink-ratio`: a growable heap stays sized for the most bytes in use a full collection left until they fall below 100/this of it; 100 follows them down at once */
    unsigned heap_adaptive_c; /**< `heap-adaptive-c`: the adaptive policy's constant c */
    unsigned return_idle_gcs; /**< `return-idle-gcs`: return memory unused for this many collections; 0 = never */
    unsigned return_idle_ms;  /**< `return-idle-ms`: return memory unused for this many milliseconds; 0 = never */
    bool stats;             /**< `stats`: print a summary table when the heap is destroyed */
    bool heap_histogram;    /**< `heap-histogram`: print live objects by size class and space after the last collection */
    char trace[MDN_OPTION_STRING_SIZE]; /**< `trace`: write a Chrome trace-event timeline to this file; "" = off */
    bool env;               /**< `env`: mdn_heap_create() applies the `MDN_*` environment over these options (default); false ignores it */
} mdn_options;

/** @brief Heap sizing policies (the `heap-policy` option). */
typedef enum mdn_heap_policy {
    MDN_HEAP_POLICY_AUTO = 0,     /**< fixed when `heap` is set, else the default growing policy */
    MDN_HEAP_POLICY_FIXED = 1,    /**< the limit is always `heap` */
    MDN_HEAP_POLICY_GROWABLE = 2, /**< the limit is live size × a factor of at most `heap-factor` percent, chosen by `heap-gc-share` */
    MDN_HEAP_POLICY_ADAPTIVE = 3, /**< the limit is live + c·sqrt(live × allocation rate / collection rate) */
} mdn_heap_policy;

/** @brief Per-heap statistics (docs/design/overview.md .overview.stats); times in nanoseconds. */
typedef struct mdn_stats {
    uint64_t collections;          /**< collections run */
    uint64_t full_collections;     /**< of which were full-heap */
    uint64_t total_pause_ns;       /**< sum of pause times */
    uint64_t max_pause_ns;         /**< longest pause */
    uint64_t p50_pause_ns;         /**< median pause */
    uint64_t p99_pause_ns;         /**< 99th percentile pause */
    uint64_t bytes_allocated;      /**< bytes handed to the VM (counted per block/refill) */
    uint64_t live_bytes_after;     /**< bytes live after the last collection */
    uint64_t bytes_copied;         /**< bytes copied by moving collections */
    uint64_t heap_size;            /**< the heap budget in bytes */
    uint64_t committed_bytes;      /**< memory committed now */
    uint64_t peak_committed_bytes; /**< most memory committed at once */
    uint64_t last_pause_ns;        /**< the last collection's pause */
    uint64_t phase_ns[5];          /**< total time per phase: prepare, roots, closure, weak, release */
    uint64_t minor_faults;         /**< minor page faults of the process so far (getrusage) */
    uint64_t peak_rss_bytes;       /**< the process's peak resident set size so far (getrusage) */
    uint64_t heap_limit_bytes;     /**< the heap policy's current limit (the collection trigger) */
    uint64_t heap_max_bytes;       /**< the most the heap may grow to */
    uint64_t returned_bytes;       /**< heap memory given back to the operating system so far */
    uint64_t external_bytes;       /**< bytes counted by mdn_external_alloc() and not yet freed */
} mdn_stats;

/**
 * @brief The part of a mutator the inline fast paths use.
 *
 * Every mutator starts with this struct. Its layout is part of the ABI
 * between the header and the library; a VM must not touch it.
 */
typedef struct mdn_mutator_fast {
    uintptr_t bump_cursor; /**< next free byte of the current bump region */
    uintptr_t bump_limit;  /**< end of the current bump region */
    uint32_t gc_pending;   /**< nonzero while a collection waits for this thread */
    uint32_t conservative; /**< nonzero: mdn_alloc_conservative() may use the held buffers */
    /** Write barrier: the heap's unlogged-bit table, biased so that the
     * byte holding the bit of reference `r` is at `barrier_bias + (r >> 6)`;
     * 0 on a plan without a barrier (docs/design/generational.md .gen.barrier). */
    uintptr_t barrier_bias;
    void *free_lists[MDN_FREELIST_FAST_CLASSES]; /**< per size class free cells */
    /* While the buffers are hidden from mdn_alloc() (a conservative heap,
     * stress, verify, native state), the real ones are held here. */
    uintptr_t held_limit;  /**< the real end of the bump region while hidden */
    void *held_free_lists[MDN_FREELIST_FAST_CLASSES]; /**< the real free lists while hidden */
    uintptr_t valid_bias;  /**< conservative heaps: the valid-object bitmap byte of address a is valid_bias + (a >> 6) */
    volatile int in_critical;   /**< conservative heaps: not to be stopped by the signal now */
    volatile int stop_deferred; /**< conservative heaps: the stop signal came inside a critical section */
} mdn_mutator_fast;

/* ---- options ---------------------------------------------------------- */

/** @brief Set every option to its default. @param opts the options to fill */
void mdn_options_init(mdn_options *opts);

/**
 * @brief Apply a comma-separated list of `name=value` settings.
 *
 * Example: `"heap=64M,gc-threads=2,verbose=1"`. Items are `name=value`
 * separated by single commas; empty items and whitespace anywhere are
 * rejected (nothing is trimmed); a name given twice takes its last value.
 * Sizes are decimal digits with an optional suffix K, M, G or T (powers of
 * 1024), which may be followed by `iB`, in either case (`64M`, `64MiB`);
 * unsigned values are decimal digits; booleans take 1/0, true/false, yes/no
 * or on/off in either case. On error nothing is changed and @p err names
 * the option and the accepted form with its range.
 *
 * @param opts options to update
 * @param text the settings; an empty string changes nothing
 * @param err  filled on failure (may be NULL)
 * @return true on success
 */
bool mdn_options_parse(mdn_options *opts, const char *text, mdn_error *err);

/**
 * @brief Apply one setting.
 * @param opts  options to update
 * @param name  an option name such as `heap`
 * @param value its value as text
 * @param err   filled on failure (may be NULL)
 * @return true on success
 */
bool mdn_options_set(mdn_options *opts, const char *name, const char *value, mdn_error *err);

/**
 * @brief Apply the `MDN_*` environment variables.
 *
 * `MDN_OPTIONS`, when set, holds a list in the form of mdn_options_parse()
 * and is applied first. Then each option may be set by its own variable
 * (`MDN_HEAP`, `MDN_GC_THREADS`, ...: the option name upper-cased with `-`
 * as `_`) holding one value. Unset variables are ignored; a variable set to
 * the empty string is an error naming it. On error nothing is changed.
 * @param opts options to update
 * @param err  filled on failure (may be NULL)
 * @return true on success
 */
bool mdn_options_from_env(mdn_options *opts, mdn_error *err);

/**
 * @brief Check that every field of @p opts is within its range.
 * @param opts the options
 * @param err  filled on failure (may be NULL)
 * @return true when valid
 */
bool mdn_options_validate(const mdn_options *opts, mdn_error *err);

/**
 * @brief Print the table of options with types, ranges, defaults and docs.
 * @param out where to print
 */
void mdn_options_print_help(FILE *out);

/* ---- heaps and mutators ----------------------------------------------- */

/**
 * @brief Create a heap with the linked plan.
 *
 * Unless @p opts has `env` false, the `MDN_*` environment variables are
 * applied over @p opts first, as by mdn_options_from_env(): the program's
 * settings come first and the environment last, so `MDN_VERIFY=1` works
 * on any program. A bad variable fails the creation with an error naming
 * it. A program that must not be configured from outside sets `env=0`.
 *
 * @param opts options, or NULL for the defaults
 * @param err  filled on failure (may be NULL)
 * @return the heap, or NULL on failure
 */
mdn_heap *mdn_heap_create(const mdn_options *opts, mdn_error *err);

/**
 * @brief Destroy a heap and return all its memory. No mutator may be bound.
 * @param heap the heap
 */
void mdn_heap_destroy(mdn_heap *heap);

/** @brief The name of the linked plan, such as "immix". @return a static string */
const char *mdn_plan_name(void);

/**
 * @brief The options the heap runs with (gc-threads resolved to a number).
 * @param heap the heap
 * @return the heap's options
 */
const mdn_options *mdn_heap_options(const mdn_heap *heap);

/**
 * @brief Bind the calling thread to @p heap. The mutator starts RUNNING.
 * @param heap      the heap
 * @param vm_thread the VM's thread, handed back to mdn_vm_scan_mutator_roots()
 * @return the mutator; aborts with a message if memory is exhausted
 */
mdn_mutator *mdn_mutator_bind(mdn_heap *heap, void *vm_thread);

/**
 * @brief Unbind a mutator; its allocation buffers are retired. The mutator
 * must be RUNNING and must not be used again.
 * @param m the mutator
 */
void mdn_mutator_unbind(mdn_mutator *m);

/** @brief The heap of a mutator. @param m the mutator @return its heap */
mdn_heap *mdn_mutator_heap(mdn_mutator *m);

/** @brief The vm_thread given to mdn_mutator_bind(). @param m the mutator @return the pointer */
void *mdn_mutator_vm_thread(mdn_mutator *m);

/* ---- allocation --------------------------------------------------------- */

/**
 * @brief Out-of-line allocation: refill, collect, or report out of memory.
 * Called by mdn_alloc() when the fast path cannot serve a request; a VM
 * may call it directly with the same contract as mdn_alloc().
 * @param m     the calling thread's mutator
 * @param bytes object size in bytes, at least 1
 * @param align alignment, a power of two
 * @param kind  what the object is for
 * @return zeroed memory, or NULL when mdn_vm_out_of_memory() returned
 */
void *mdn_alloc_slow(mdn_mutator *m, size_t bytes, size_t align, mdn_alloc_kind kind);

/**
 * @brief Allocate @p bytes of zeroed memory for an object.
 *
 * The size is rounded up to #MDN_MIN_ALIGN; @p align must be a power of two
 * (values below #MDN_MIN_ALIGN are raised to it). The VM must initialise the
 * object's header before its next call that can collect. May collect.
 *
 * @param m     the calling thread's mutator (RUNNING)
 * @param bytes object size in bytes, at least 1
 * @param align alignment, a power of two
 * @param kind  what the object is for
 * @return zeroed memory, or NULL when mdn_vm_out_of_memory() returned
 */
static inline void *mdn_alloc(mdn_mutator *m, size_t bytes, size_t align, mdn_alloc_kind kind) {
#if MDN_PLAN_FASTPATH == MDN_FASTPATH_BUMP
    if (kind == MDN_ALLOC_DEFAULT && bytes - 1 < (size_t)MDN_PLAN_MAX_FAST_SIZE &&
        align - 1 < MDN_MIN_ALIGN && (align & (align - 1)) == 0) {
        mdn_mutator_fast *f = (mdn_mutator_fast *)m;
        uintptr_t start = f->bump_cursor;
        uintptr_t end = start + ((bytes + (MDN_MIN_ALIGN - 1)) & ~(uintptr_t)(MDN_MIN_ALIGN - 1));
        if (__builtin_expect(end <= f->bump_limit, 1)) {
            f->bump_cursor = end;
            return (void *)start;
        }
    }
#elif MDN_PLAN_FASTPATH == MDN_FASTPATH_FREELIST
    if (kind == MDN_ALLOC_DEFAULT && bytes - 1 < (size_t)MDN_PLAN_MAX_FAST_SIZE &&
        bytes - 1 < (size_t)MDN_FREELIST_FAST_MAX &&
        align - 1 < MDN_MIN_ALIGN && (align & (align - 1)) == 0) {
        mdn_mutator_fast *f = (mdn_mutator_fast *)m;
        void **head = &f->free_lists[(bytes + (MDN_MIN_ALIGN - 1)) / MDN_MIN_ALIGN];
        void **cell = (void **)*head;
        if (__builtin_expect(cell != NULL, 1)) {
            *head = *cell;
            *cell = NULL;
            return cell;
        }
    }
#endif
    return mdn_alloc_slow(m, bytes, align, kind);
}

/**
 * @brief Out-of-line part of mdn_alloc_conservative(), with any size,
 * alignment and kind: allocate, store @p first_word in the object's first
 * word and record the object as valid, without being stopped in between.
 * @param m          the calling thread's mutator (a conservative heap's, RUNNING)
 * @param bytes      object size in bytes, at least one word
 * @param align      alignment, a power of two
 * @param kind       what the object is for
 * @param first_word the object's first word (its header)
 * @return the object, or NULL when mdn_vm_out_of_memory() returned
 */
void *mdn_alloc_conservative_slow(mdn_mutator *m, size_t bytes, size_t align, mdn_alloc_kind kind,
                                  uintptr_t first_word);

/** @brief Out-of-line part of leaving a critical section. @param m the mutator */
void mdn_critical_deferred_stop(mdn_mutator *m);

/**
 * @brief Enter a critical section of a conservative heap's mutator
 * (docs/design/conservative.md .cons.critical).
 *
 * Until the matching mdn_critical_leave(), the stop signal does not stop
 * the calling thread: it only notes the stop, and the thread stops when it
 * leaves the outermost section. A thread inside one is never stopped
 * holding a lock the collection needs or with an object half made.
 * Sections nest. The section must not wait for a collection (it would wait
 * for itself).
 * @param m the calling thread's mutator (a conservative heap's)
 */
static inline void mdn_critical_enter(mdn_mutator *m) {
    mdn_mutator_fast *f = (mdn_mutator_fast *)m;
    f->in_critical = f->in_critical + 1;
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
}

/** @cond MDN_INTERNAL */
/* Leave one level of critical section; true when the stop signal came
 * inside it and this was the outermost level, so the caller must stop. */
static inline int mdn_critical_exit_(mdn_mutator *m) {
    mdn_mutator_fast *f = (mdn_mutator_fast *)m;
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    /* The signal handler never changes the depth, so the value stored is
     * the value to test. */
    int depth = f->in_critical - 1;
    f->in_critical = depth;
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    return __builtin_expect(f->stop_deferred != 0, 0) && depth == 0;
}
/** @endcond */

/**
 * @brief Leave a critical section entered with mdn_critical_enter(); on
 * leaving the outermost one, stop now if the stop signal came inside it.
 * @param m the calling thread's mutator (a conservative heap's)
 */
static inline void mdn_critical_leave(mdn_mutator *m) {
    if (mdn_critical_exit_(m))
        mdn_critical_deferred_stop(m);
}

/** @cond MDN_INTERNAL */
/* mdn_critical_deferred_stop(), then return `p`: callers reach it by a
 * tail call, so no value of theirs stays live across it. */
void *mdn_critical_deferred_stop_then(mdn_mutator *m, void *p);
/** @endcond */

/**
 * @brief The inline part of mdn_alloc_conservative(): allocate a small
 * object from the buffers the heap holds for the thread, or return NULL
 * when they cannot serve the request (nothing else is done then; the
 * caller goes to mdn_alloc_conservative_slow()). A binding that runs work
 * of its own when allocation leaves the fast path calls this and its own
 * out-of-line function.
 * @param m          the calling thread's mutator (a conservative heap's, RUNNING)
 * @param bytes      object size in bytes, at least one word
 * @param first_word the object's first word (its header)
 * @return the object, with @p first_word stored and recorded as valid, or NULL
 */
static inline void *mdn_alloc_conservative_fast(mdn_mutator *m, size_t bytes, uintptr_t first_word) {
#if MDN_PLAN_FASTPATH == MDN_FASTPATH_BUMP || MDN_PLAN_FASTPATH == MDN_FASTPATH_FREELIST
    mdn_mutator_fast *f = (mdn_mutator_fast *)m;
    if (__builtin_expect(f->conservative != 0, 1) && bytes - 1 < (size_t)MDN_PLAN_MAX_FAST_SIZE &&
        bytes - 1 < (size_t)MDN_FREELIST_FAST_MAX) {
        mdn_critical_enter(m);
        uintptr_t start = 0;
#if MDN_PLAN_FASTPATH == MDN_FASTPATH_BUMP
        /* MDN_VM_INLINE_START_PHASE: start at 8 mod 16 if the binding asks (<midden/vm.h>). */
        uintptr_t cursor = f->bump_cursor | MDN_VM_INLINE_START_PHASE;
        uintptr_t end = cursor + ((bytes + (MDN_MIN_ALIGN - 1)) & ~(uintptr_t)(MDN_MIN_ALIGN - 1));
        if (__builtin_expect(end <= f->held_limit, 1)) {
            f->bump_cursor = end;
            start = cursor;
        }
#else
        void **head = &f->held_free_lists[(bytes + (MDN_MIN_ALIGN - 1)) / MDN_MIN_ALIGN];
        void **cell = (void **)*head;
        if (__builtin_expect(cell != NULL, 1)) {
            *head = *cell;
            start = (uintptr_t)cell;
        }
#endif
        if (__builtin_expect(start != 0, 1)) {
            *(uintptr_t *)start = first_word;
            /* Only this thread sets bits in its buffers' bytes; a relaxed
             * load and store, not a read-modify-write (.cons.fast). */
            unsigned char *bits = (unsigned char *)(f->valid_bias + (start >> 6));
            unsigned char old = __atomic_load_n(bits, __ATOMIC_RELAXED);
            __atomic_store_n(bits, (unsigned char)(old | (1u << ((start >> 3) & 7u))), __ATOMIC_RELAXED);
        }
        /* mdn_critical_leave(), with the rare stop as a tail call: no value
         * stays live across a call, so the fast path saves fewer registers. */
        if (mdn_critical_exit_(m))
            return mdn_critical_deferred_stop_then(m, (void *)start);
        return (void *)start;
    }
#else
    (void)m, (void)bytes, (void)first_word;
#endif
    return NULL;
}

/**
 * @brief Allocate a small object on a conservative heap, store its header
 * and record it in the valid-object bitmap (docs/design/conservative.md
 * .cons.fast).
 *
 * The inline fast path of a conservative heap, whose mutators never poll:
 * a bump or free-list pop on the buffers the heap holds for the thread,
 * the header store and the bitmap bit, inside a critical section so that
 * the stop signal never finds them half done (mdn_alloc_conservative_fast()).
 * Requests the fast path cannot serve go to mdn_alloc_conservative_slow().
 * The memory past the first word is zeroed.
 * @param m          the calling thread's mutator (a conservative heap's, RUNNING)
 * @param bytes      object size in bytes, at least one word
 * @param first_word the object's first word (its header)
 * @return the object, or NULL when mdn_vm_out_of_memory() returned
 */
static inline void *mdn_alloc_conservative(mdn_mutator *m, size_t bytes, uintptr_t first_word) {
    void *p = mdn_alloc_conservative_fast(m, bytes, first_word);
    if (__builtin_expect(p != NULL, 1))
        return p;
    return mdn_alloc_conservative_slow(m, bytes, MDN_MIN_ALIGN, MDN_ALLOC_DEFAULT, first_word);
}

/* ---- the write barrier -------------------------------------------------- */

/**
 * @brief Out-of-line part of the write barrier: log @p obj in the calling
 * thread's modified-object buffer, unless another store logged it first.
 * Called by mdn_write_barrier(), mdn_write_barrier_range() and
 * mdn_object_modified() when the object's unlogged bit is set; a VM need
 * not call it itself.
 * @param m   the calling thread's mutator (RUNNING)
 * @param obj the object written
 */
void mdn_write_barrier_slow(mdn_mutator *m, mdn_objref obj);

/** @cond MDN_INTERNAL */
/* .gen.barrier (docs/design/generational.md): the unlogged bit of `obj` in
 * the table whose bias is `bias`. One load, a shift and a test. */
static inline int mdn_barrier_unlogged_(uintptr_t bias, mdn_objref obj) {
    uint8_t byte = __atomic_load_n((const uint8_t *)(bias + (obj.value >> 6)), __ATOMIC_RELAXED);
    return (byte >> ((obj.value >> 3) & 7u)) & 1u;
}

/* Log `obj` if the plan has a barrier and the object is unlogged. */
static inline void mdn_barrier_note_(mdn_mutator *m, mdn_objref obj) {
#if MDN_PLAN_BARRIER == MDN_BARRIER_NONE
    (void)m;
    (void)obj;
#else
    uintptr_t bias = ((const mdn_mutator_fast *)m)->barrier_bias;
#if MDN_PLAN_BARRIER == MDN_BARRIER_UNKNOWN
    if (bias == 0)
        return;
#endif
    if (__builtin_expect(mdn_barrier_unlogged_(bias, obj), 0))
        mdn_write_barrier_slow(m, obj);
#endif
}
/** @endcond */

/**
 * @brief Store the reference @p value into the field @p slot of the heap
 * object @p obj, with the plan's write barrier.
 *
 * The VM calls it for every store of a reference into a field of an object
 * in the heap (docs/porting.md, "The write barrier"), except initialising
 * stores: a store into an object the thread allocated after its last call
 * that may collect (mdn_alloc(), mdn_alloc_slow(), mdn_safepoint(),
 * mdn_collect(), mdn_leave_native()) needs no barrier and may be a plain
 * mdn_slot_store(). On a plan without a barrier this is exactly a plain
 * store (the generated `<midden/plan.h>` says so at compile time); on a
 * generational plan the fast path is one load, a test and a branch, and
 * the first store into an old object since the last collection logs it.
 * Never collects; takes no lock on the fast path.
 *
 * @param m     the calling thread's mutator (RUNNING)
 * @param obj   the object that holds @p slot
 * @param slot  the field, inside @p obj
 * @param value the new reference (may be null)
 */
static inline void mdn_write_barrier(mdn_mutator *m, mdn_objref obj, mdn_slot slot, mdn_objref value) {
    mdn_slot_store(slot, value);
    mdn_barrier_note_(m, obj);
}

/**
 * @brief The bulk form of mdn_write_barrier(): the VM has just stored
 * references into the @p count consecutive slots from @p first of @p obj
 * (an array copy or fill, by memmove(), memcpy() or a loop of plain
 * stores).
 *
 * Call it after the stores and before the thread's next call that may
 * collect. @p count may be 0 (nothing happens). Never collects.
 *
 * @param m     the calling thread's mutator (RUNNING)
 * @param obj   the object that holds the slots
 * @param first the first slot written, inside @p obj
 * @param count how many consecutive slots were written
 */
static inline void mdn_write_barrier_range(mdn_mutator *m, mdn_objref obj, mdn_slot first, size_t count) {
    (void)first;
    if (count != 0)
        mdn_barrier_note_(m, obj);
}

/**
 * @brief Say that any reference field of @p obj may have been written
 * without the barrier (by native code, a bulk copy of the whole object, or
 * a deserialiser).
 *
 * Call it after the stores and before the thread's next call that may
 * collect. Never collects.
 *
 * @param m   the calling thread's mutator (RUNNING)
 * @param obj the modified object
 */
static inline void mdn_object_modified(mdn_mutator *m, mdn_objref obj) { mdn_barrier_note_(m, obj); }

/* ---- the thread protocol ------------------------------------------------ */

/** @brief Out-of-line part of mdn_safepoint(). @param m the mutator */
void mdn_safepoint_slow(mdn_mutator *m);

/**
 * @brief Poll for a pending collection; parks the thread while one runs.
 * Call it at loop back-edges and calls. One load and a branch when no
 * collection is pending.
 * @param m the calling thread's mutator (RUNNING)
 */
static inline void mdn_safepoint(mdn_mutator *m) {
    if (__builtin_expect(__atomic_load_n(&((mdn_mutator_fast *)m)->gc_pending, __ATOMIC_RELAXED) != 0, 0))
        mdn_safepoint_slow(m);
}

/**
 * @brief Stop touching the heap (before a blocking call). The collector
 * treats the thread's roots as stable and does not wait for it.
 * @param m the calling thread's mutator (RUNNING)
 */
void mdn_enter_native(mdn_mutator *m);

/**
 * @brief Touch the heap again; waits while a collection runs.
 * @param m the calling thread's mutator (NATIVE)
 */
void mdn_leave_native(mdn_mutator *m);

/**
 * @brief Run a collection now, stopping every running mutator.
 * @param m    the calling thread's mutator (RUNNING)
 * @param kind what kind of collection
 */
void mdn_collect(mdn_mutator *m, mdn_gc_kind kind);

/* ---- roots and pinning -------------------------------------------------- */

/**
 * @brief Register @p count reference slots starting at @p start as roots.
 * Null entries are allowed; moving plans update the entries.
 * @param heap  the heap
 * @param start first slot of the range
 * @param count number of slots
 */
void mdn_add_roots(mdn_heap *heap, mdn_objref *start, size_t count);

/**
 * @brief Unregister the range that starts at @p start.
 * @param heap  the heap
 * @param start the start given to mdn_add_roots()
 */
void mdn_remove_roots(mdn_heap *heap, mdn_objref *start);

/**
 * @brief Keep @p obj from moving for the rest of its life.
 * @param m   the calling thread's mutator
 * @param obj a live object of this heap
 * @return true if the object will not move; false if the plan cannot pin it
 * (for example an object in a semispace copy space)
 */
bool mdn_pin_object(mdn_mutator *m, mdn_objref obj);

/* ---- conservative heaps (docs/design/conservative.md) -------------------- */

/**
 * @brief The object whose bytes include @p address, or the null reference.
 *
 * Any address inside an object (interior pointers included) finds it; an
 * address in free memory, outside the heap or in an object that has been
 * forgotten or reclaimed finds nothing. Needs a heap created with the
 * `conservative` option. A bounded backward scan of the valid-object bitmap
 * for small objects, one load of the page map for large ones.
 * @param heap    the heap
 * @param address any address
 * @return the object, or mdn_objref_null()
 */
mdn_objref mdn_find_object(mdn_heap *heap, mdn_address address);

/**
 * @brief Is @p address inside memory the heap has taken for one of its spaces?
 * @param heap    the heap
 * @param address any address
 * @return true when the address lies in a chunk owned by a space of the heap
 */
bool mdn_heap_contains(mdn_heap *heap, mdn_address address);

/**
 * @brief The address range the heap reserved when it was created: every
 * object it will ever hold lies in [@p *start, @p *end), whatever the heap
 * grows to later.
 * @param heap  the heap
 * @param start receives the first byte of the reservation
 * @param end   receives one past its last byte
 */
void mdn_heap_reserved_range(mdn_heap *heap, mdn_address *start, mdn_address *end);

/**
 * @brief Drop an object now (explicit free): mdn_find_object() no longer
 * finds it, ambiguous references no longer keep it, and the next collection
 * reclaims its memory unless an exact reference still reaches it.
 * @param heap the heap (conservative)
 * @param obj  a live object of the heap
 */
void mdn_forget_object(mdn_heap *heap, mdn_objref obj);

/**
 * @brief Register [start, start+bytes) as ambiguous roots: every aligned word
 * in it that points into an object keeps that object alive (and pinned).
 * @param heap  the heap (conservative)
 * @param start first byte of the range
 * @param bytes length of the range
 */
void mdn_add_ambiguous_roots(mdn_heap *heap, mdn_address start, size_t bytes);

/**
 * @brief Unregister every ambiguous root range lying inside [lo, hi).
 * @param heap the heap (conservative)
 * @param lo   lowest address
 * @param hi   one past the highest address
 * @return the number of ranges removed
 */
size_t mdn_remove_ambiguous_roots(mdn_heap *heap, mdn_address lo, mdn_address hi);

/**
 * @brief Leave [start, start+bytes) out of the scan of the static data of
 * loaded images (program and shared libraries).
 * @param heap  the heap (conservative)
 * @param start first byte of the range
 * @param bytes length of the range
 */
void mdn_exclude_static_roots(mdn_heap *heap, mdn_address start, size_t bytes);

/**
 * @brief Scan (the default) or do not scan the writable segments of every
 * loaded image as ambiguous roots.
 * @param heap the heap (conservative)
 * @param scan true to scan them
 */
void mdn_set_static_roots(mdn_heap *heap, bool scan);

/**
 * @brief Scan (the default) or do not scan the writable segments of the
 * shared libraries, keeping those of the main program, when static roots
 * are scanned (mdn_set_static_roots()). For a program that registers every
 * root its libraries hold (Boehm GC's `GC_no_dls`). Safe to call from any
 * thread at any time: it takes effect at the next collection.
 * @param heap the heap (conservative)
 * @param scan false to scan the main program's segments only
 */
void mdn_set_library_roots(mdn_heap *heap, bool scan);

/**
 * @brief Set the highest address (exclusive) of the calling thread's stack
 * that holds ambiguous roots; by default the top of the thread's stack mapping.
 * @param m    the calling thread's mutator (conservative heap)
 * @param base one past the highest stack address to scan
 */
void mdn_mutator_set_stack_base(mdn_mutator *m, void *base);

/** @brief The signal that stops threads of conservative heaps. @return the signal number */
int mdn_suspend_signal(void);

/** @brief The signal that resumes them. @return the signal number */
int mdn_restart_signal(void);
/* ---- external memory ------------------------------------------------------ */

/**
 * @brief Count @p bytes of memory the VM holds outside the heap (buffers
 * owned by heap objects) toward the collection trigger.
 *
 * The bytes are added to the heap's use as if allocated in it: the next
 * allocation that needs fresh heap memory collects once the heap policy's
 * limit is reached, and the policies size the heap with them counted as
 * live. Call mdn_external_free() with the same amount when the memory goes.
 * Thread safe; needs no mutator.
 * @param heap  the heap
 * @param bytes bytes allocated outside the heap
 */
void mdn_external_alloc(mdn_heap *heap, size_t bytes);

/**
 * @brief Stop counting @p bytes of external memory (see mdn_external_alloc()).
 *
 * Freeing more than is counted is a misuse error naming both figures.
 * @param heap  the heap
 * @param bytes bytes freed outside the heap
 */
void mdn_external_free(mdn_heap *heap, size_t bytes);

/* ---- resizing a growing heap while it runs (docs/design/sizing.md .sizing.runtime) */

/**
 * @brief Change the most a growing heap may take.
 *
 * The heap reserved address space for twice the maximum it was created
 * with; a larger @p bytes is cut to that, and the maximum in force is
 * returned. A smaller maximum also lowers the current limit to it (the heap
 * collects sooner, and requests beyond it fail after a full collection). A
 * fixed heap is a misuse error. Thread safe; needs no mutator.
 * @param heap  the heap (growable or adaptive policy)
 * @param bytes the new maximum in bytes, at least 4 MiB
 * @return the maximum now in force
 */
size_t mdn_heap_set_max(mdn_heap *heap, size_t bytes);

/**
 * @brief Grow a growing heap's limit by @p bytes now, and keep it at least
 * that large after later collections (the policy's floor, `heap-initial`,
 * rises with it).
 * @param heap  the heap (growable or adaptive policy; a fixed heap is a misuse error)
 * @param bytes bytes to add to the current limit
 * @return true when the limit grew by all of @p bytes, false when the maximum cut it short
 */
bool mdn_heap_expand(mdn_heap *heap, size_t bytes);

/**
 * @brief Change the growable policy's factor (`heap-factor`): the limit set
 * after each later collection is at most @p percent of the bytes in use,
 * the factor the `heap-gc-share` rule chooses (exactly @p percent with
 * `heap-gc-share=0`).
 * @param heap    the heap (growable policy; any other is a misuse error)
 * @param percent 110 to 10000, as the option allows (else a misuse error)
 */
void mdn_heap_set_factor(mdn_heap *heap, unsigned percent);

/**
 * @brief Let allocation grow a growing heap instead of collecting
 * (@p disabled true), or collect again as the policy says (false).
 *
 * While disabled, a request the current limit refuses raises the limit,
 * up to the maximum; only at the maximum does the heap collect (and report
 * out of memory if that does not help). mdn_collect() still collects.
 * Thread safe. On a fixed heap the limit cannot grow, so it only collects.
 * @param heap     the heap
 * @param disabled true to grow instead of collecting
 */
void mdn_heap_set_collections_disabled(mdn_heap *heap, bool disabled);

/* ---- statistics ---------------------------------------------------------- */

/**
 * @brief Read the heap's statistics.
 * @param heap the heap
 * @param out  filled with the current figures
 */
void mdn_stats_get(mdn_heap *heap, mdn_stats *out);

/**
 * @brief Start the measured part of a benchmark: resets the statistics that
 * mdn_harness_end() reports.
 * @param heap the heap
 */
void mdn_harness_begin(mdn_heap *heap);

/**
 * @brief End the measured part: print one machine-readable line to stderr,
 * `midden-stats: plan=... time_ms=... collections=... ...` (key=value pairs).
 * @param heap the heap
 */
void mdn_harness_end(mdn_heap *heap);

/* ---- events, heap walking, fork ---------------------------------------- */

/** @brief What an event listener is told about (see mdn_event_listener_add()). */
typedef enum mdn_event_kind {
    MDN_EVENT_GC_START = 0,      /**< the world is stopped; the collection begins */
    MDN_EVENT_PHASE = 1,         /**< a phase of the collection begins (mdn_event::phase) */
    MDN_EVENT_GC_END = 2,        /**< the collection is done; the world is still stopped */
    MDN_EVENT_HEAP_RESIZE = 3,   /**< the committed memory or the budget changed since the last report */
    MDN_EVENT_OUT_OF_MEMORY = 4, /**< a request failed after a full collection */
} mdn_event_kind;

/** @brief The phases of a collection, in the order they run. */
typedef enum mdn_gc_phase {
    MDN_GC_PHASE_PREPARE = 0, /**< retire allocation buffers, plan preparation */
    MDN_GC_PHASE_ROOTS = 1,   /**< trace the roots */
    MDN_GC_PHASE_CLOSURE = 2, /**< trace the transitive closure on the GC workers */
    MDN_GC_PHASE_WEAK = 3,    /**< weak references, ephemerons, finalizers */
    MDN_GC_PHASE_RELEASE = 4, /**< reclaim (sweep, flip) */
    MDN_GC_PHASE_RESUME = 5,  /**< verify if asked, rebuild allocation buffers, restart the world */
} mdn_gc_phase;

/** @brief Number of mdn_gc_phase values. */
#define MDN_GC_PHASE_COUNT 6

/** @brief One event; fields not listed for its kind are zero. */
typedef struct mdn_event {
    mdn_event_kind kind;     /**< what happened */
    uint64_t time_ns;        /**< monotonic time of the event */
    uint64_t collection;     /**< GC_START, PHASE, GC_END: number of the collection, from 1 */
    bool full;               /**< GC_START, PHASE, GC_END: a full-heap collection */
    const char *trigger;     /**< GC_START, PHASE, GC_END: "explicit", "allocation", "allocation-retry" or "stress" */
    mdn_gc_phase phase;      /**< PHASE: the phase that begins */
    uint64_t pause_ns;       /**< GC_END: the pause so far (the resume phase follows) */
    uint64_t live_bytes;     /**< GC_END: bytes live after the collection (the plan's estimate) */
    uint64_t objects_traced; /**< GC_END: objects scanned by all GC workers */
    uint64_t old_committed;  /**< HEAP_RESIZE: committed bytes at the previous report */
    uint64_t new_committed;  /**< HEAP_RESIZE: committed bytes now */
    uint64_t old_budget;     /**< HEAP_RESIZE: the budget at the previous report */
    uint64_t new_budget;     /**< HEAP_RESIZE: the budget now */
    size_t request_bytes;    /**< OUT_OF_MEMORY: the size of the failed request */
} mdn_event;

/**
 * @brief An event listener.
 *
 * Threads: GC_START, PHASE, GC_END and HEAP_RESIZE run on the thread that
 * runs the collection (one of the mutators), with every other mutator
 * parked or native, and never concurrently with each other. OUT_OF_MEMORY
 * runs on the thread whose request failed, just before
 * mdn_vm_out_of_memory(), with the world running.
 *
 * What a listener may call: during a collection (all kinds but
 * OUT_OF_MEMORY) only mdn_stats_get(), mdn_heap_options(), mdn_plan_name()
 * and, in GC_END, mdn_heap_walk(); it must not allocate from, collect,
 * poll, bind or unbind mutators of the heap, change roots or listeners,
 * or block on a thread that is parked. An OUT_OF_MEMORY listener may
 * call anything a mutator may call except allocating from the heap.
 *
 * @param heap  the heap
 * @param event what happened; valid only during the call
 * @param data  the pointer given to mdn_event_listener_add()
 */
typedef void (*mdn_event_fn)(mdn_heap *heap, const mdn_event *event, void *data);

/** @brief Most listeners one heap holds at once. */
#define MDN_EVENT_LISTENERS_MAX 8

/**
 * @brief Register a listener; listeners run in the order they were added.
 *
 * Call from any thread but a listener's: a running or native mutator's
 * thread, or one with no mutator of @p heap. It never waits for a
 * collection, only for the listeners of one event to return; a listener
 * added while a collection runs may hear only the rest of its events.
 * Aborts with a message when #MDN_EVENT_LISTENERS_MAX
 * listeners are registered or the pair is already registered.
 * @param heap the heap
 * @param fn   the listener
 * @param data handed back to @p fn
 */
void mdn_event_listener_add(mdn_heap *heap, mdn_event_fn fn, void *data);

/**
 * @brief Unregister a listener added with the same @p fn and @p data;
 * aborts with a message if there is none. Same threads as mdn_event_listener_add().
 * Once it returns, no collection event reaches the listener; an
 * OUT_OF_MEMORY event that another thread is delivering at that moment
 * may still reach it.
 * @param heap the heap
 * @param fn   the listener
 * @param data the pointer it was added with
 */
void mdn_event_listener_remove(mdn_heap *heap, mdn_event_fn fn, void *data);

/**
 * @brief Called by mdn_heap_walk() for one live object.
 * @param obj   the object
 * @param bytes its size, mdn_vm_object_size()
 * @param space the number of the space holding it (plan-specific, stable for a plan)
 * @param data  the pointer given to mdn_heap_walk()
 */
typedef void (*mdn_heap_walk_fn)(mdn_objref obj, size_t bytes, unsigned space, void *data);

/**
 * @brief Visit every live object once, in address order.
 *
 * Live means reachable from the roots (the VM's, the registered ranges and
 * every bound mutator's) after the collection that just ended. Call it only
 * from an #MDN_EVENT_GC_END listener (the world is stopped, after a
 * collection); anywhere else it aborts naming the misuse. To walk on
 * demand, register a listener that walks and call mdn_collect(). The
 * callback must not call into the heap. Each reference is checked as the
 * heap verifier checks it; a corrupt heap aborts with the verifier's report.
 * @param heap the heap
 * @param fn   called once per live object
 * @param data handed back to @p fn
 * @return the number of objects visited
 */
size_t mdn_heap_walk(mdn_heap *heap, mdn_heap_walk_fn fn, void *data);

/**
 * @brief Get the heap ready for fork(): stop the world (every other
 * mutator of the heap parks at its next safepoint, or stays native) and the
 * GC worker threads, and flush the timeline.
 *
 * Call from a thread with a RUNNING mutator of @p heap (the forking
 * thread), or from an unbound thread when every mutator is native or none
 * is bound; then fork(), then call mdn_after_fork_parent() in the parent
 * and mdn_after_fork_child() in the child before touching the heap again.
 * Native threads must not call into the heap between the two calls.
 * @param heap the heap
 */
void mdn_prepare_fork(mdn_heap *heap);

/**
 * @brief In the parent after fork(): restart the GC workers and the world.
 * @param heap the heap given to mdn_prepare_fork()
 */
void mdn_after_fork_parent(mdn_heap *heap);

/**
 * @brief In the child after fork(): only the forking thread's mutator stays
 * bound (the others' threads do not exist in the child; their buffers are
 * retired and their roots are gone), the heap's locks are made anew, the GC
 * workers are restarted and the timeline is closed (the child writes no
 * trace: the file belongs to the parent).
 * @param heap the heap given to mdn_prepare_fork()
 */
void mdn_after_fork_child(mdn_heap *heap);

#ifdef __cplusplus
}
#endif

#endif /* MIDDEN_MIDDEN_H */
