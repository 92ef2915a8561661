/*
 * bdw.c: a Boehm-compatible libgc.so.1 on a conservative Midden heap
 * (docs/design/conservative.md .cons.bdw).
 *
 * Objects: one header word before the user's bytes holds the object's size,
 * the offset of the user's bytes and its kind (.cons.bdw-header): normal
 * objects are scanned conservatively, atomic ones never, uncollectable ones
 * are roots until freed. Every thread that allocates is a mutator of the one
 * heap; it is stopped by signals for collections (.cons.signals), and its
 * stack and registers are ambiguous roots, as are the data and bss of every
 * loaded image and the ranges given to GC_add_roots.
 */
#define _GNU_SOURCE 1
#define GC_BUILD 1
#define GC_THREADS 1
#include "gc.h"

#include <midden/midden.h>
#include <midden/weak.h>

#include "bdw_inline.h"

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define BDW_EXPORT __attribute__((visibility("default")))

/* The largest request served (the header's size field). */
#define BDW_MAX_REQUEST ((size_t)1 << 38)

/* ---- state ----------------------------------------------------------------- */

static mdn_heap *bdw_heap;
static pthread_mutex_t bdw_init_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_key_t bdw_thread_key;
static __thread mdn_mutator *bdw_self __attribute__((tls_model("initial-exec")));
static __thread int bdw_native __attribute__((tls_model("initial-exec")));
static size_t bdw_max_heap;          /* GC_set_max_heap_size before GC_init */
static uint64_t bdw_allocated_at_gc; /* mdn_stats.bytes_allocated when the last collection ended */
/* .cons.bdw-warn: Boehm GC's default warning procedure: "GC Warning: " and
 * the message, formatted with its one argument, on standard error. */
static void bdw_default_warn(char *msg, GC_word arg) {
    fputs("GC Warning: ", stderr);
    fprintf(stderr, msg, (unsigned long)arg);
}
static GC_warn_proc bdw_warn_proc = bdw_default_warn;
static GC_start_callback_proc bdw_start_callback;
static GC_on_collection_event_proc bdw_event_proc;
static unsigned bdw_markers;         /* GC_set_markers_count before GC_init */
static int bdw_disabled;             /* GC_disable nesting (atomic) */
static int bdw_disabled_pushed;      /* what the heap was last told (atomic) */

BDW_EXPORT GC_word GC_gc_no;
BDW_EXPORT int GC_dont_gc;
BDW_EXPORT int GC_all_interior_pointers = 1;
BDW_EXPORT int GC_java_finalization = 1;
BDW_EXPORT int GC_finalize_on_demand;
BDW_EXPORT GC_word GC_free_space_divisor = 3;
BDW_EXPORT GC_oom_func GC_oom_fn;
BDW_EXPORT int GC_no_dls; /* .cons.static: read at the start of every collection */

/* The smallest heap maximum the core accepts (option heap-max). */
#define BDW_MIN_HEAP ((size_t)4 << 20)

static void bdw_fatal(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
static void bdw_fatal(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("libgc (Midden): ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    abort();
}

/* An entry point Midden cannot serve yet: stop, naming it. */
#define BDW_UNSUPPORTED(name)                                                                                          \
    bdw_fatal("%s is not supported yet by Midden's libgc; the program cannot run on it", name)

/* ---- the binding (include/midden/vm.h) --------------------------------------- */

/* The object model and the object scanner are bdw_inline.h's, compiled into
 * the plan library (.binding.forms in docs/design/collector.md); the roots
 * and the out-of-memory hook are here. */

#define TABLE_TOMBSTONE ((uintptr_t)1)

static size_t table_slot(uintptr_t key, size_t cap) { return (size_t)((key >> 3) * 0x9e3779b97f4a7c15ULL) & (cap - 1); }

/* An open-addressing table of entries whose first word is a key (0 empty,
 * TABLE_TOMBSTONE removed): the uncollectable objects, the finalizers and
 * the disappearing links. */
typedef struct bdw_table {
    unsigned char *entries;
    size_t size, cap, used; /* entry size, capacity (a power of two), slots not empty */
} bdw_table;

static inline uintptr_t *table_key(const bdw_table *t, size_t i) { return (uintptr_t *)(t->entries + i * t->size); }

/* The library's tables and link cells are pages from the OS, not malloc
 * memory: they change inside critical sections, and a thread there must
 * never wait for a malloc lock held by a thread the signal stopped
 * (docs/design/overview.md .overview.tables). */
static void *os_pages(size_t bytes) {
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

/* The entry of `key`, or with `insert` a new zeroed one holding the key;
 * NULL when absent. */
static void *table_find(bdw_table *t, uintptr_t key, bool insert) {
    if (insert && (t->used + 1) * 4 > t->cap * 3) {
        bdw_table old = *t;
        t->cap = old.cap ? old.cap * 2 : 64;
        t->entries = os_pages(t->cap * t->size);
        if (!t->entries)
            bdw_fatal("out of memory recording an uncollectable object, a finalizer or a disappearing link");
        t->used = 0;
        for (size_t i = 0; i < old.cap; i++)
            if (*table_key(&old, i) > TABLE_TOMBSTONE)
                memcpy(table_find(t, *table_key(&old, i), true), table_key(&old, i), t->size);
        if (old.entries)
            munmap(old.entries, old.cap * old.size);
    }
    if (!t->cap)
        return NULL;
    uintptr_t *grave = NULL;
    for (size_t i = table_slot(key, t->cap);; i = (i + 1) & (t->cap - 1)) {
        uintptr_t *e = table_key(t, i);
        if (*e == key)
            return e;
        if (*e == TABLE_TOMBSTONE && !grave)
            grave = e;
        if (*e == 0) {
            if (!insert)
                return NULL;
            if (!grave) {
                grave = e;
                t->used++;
            }
            memset(grave, 0, t->size);
            *grave = key;
            return grave;
        }
    }
}

/* Uncollectable objects: a table of object starts, changed under
 * bdw_roots_lock inside a critical section (so a collection never finds it
 * half grown); read by the collector with the world stopped. */
static pthread_mutex_t bdw_roots_lock = PTHREAD_MUTEX_INITIALIZER;
static bdw_table bdw_uncollectable = {.size = sizeof(uintptr_t)};

static void uncollectable_add(mdn_mutator *m, uintptr_t start) {
    mdn_critical_enter(m);
    pthread_mutex_lock(&bdw_roots_lock);
    table_find(&bdw_uncollectable, start, true);
    pthread_mutex_unlock(&bdw_roots_lock);
    mdn_critical_leave(m);
}

static void uncollectable_remove(mdn_mutator *m, uintptr_t start) {
    mdn_critical_enter(m);
    pthread_mutex_lock(&bdw_roots_lock);
    uintptr_t *e = table_find(&bdw_uncollectable, start, false);
    if (e)
        *e = TABLE_TOMBSTONE;
    pthread_mutex_unlock(&bdw_roots_lock);
    mdn_critical_leave(m);
}

/* Is the object at `start` in the table? Custom kinds keep their
 * uncollectable objects there alone (.cons.kinds). */
static bool uncollectable_has(mdn_mutator *m, uintptr_t start) {
    mdn_critical_enter(m);
    pthread_mutex_lock(&bdw_roots_lock);
    bool has = table_find(&bdw_uncollectable, start, false) != NULL;
    pthread_mutex_unlock(&bdw_roots_lock);
    mdn_critical_leave(m);
    return has;
}

/* Was the object at `start`, of `kind`, made uncollectable? */
static bool is_uncollectable(mdn_mutator *m, uintptr_t start, unsigned kind) {
    return kind_is_uncollectable(kind) || (kind >= KIND_FIRST_CUSTOM && uncollectable_has(m, start));
}

static void push_other_roots(mdn_tracer *tracer); /* custom kinds and mark procedures, below */
static void final_scan_data(mdn_tracer *tracer);  /* finalization, below */

void mdn_vm_scan_roots(mdn_heap *heap, mdn_tracer *tracer) {
    (void)heap;
    if (bdw_start_callback)
        bdw_start_callback();
    push_other_roots(tracer);
    final_scan_data(tracer);
    for (size_t i = 0; i < bdw_uncollectable.cap; i++) {
        uintptr_t slot = *table_key(&bdw_uncollectable, i);
        if (slot > TABLE_TOMBSTONE)
            mdn_trace_slot(tracer, mdn_slot_from_ptr(&slot));
    }
}

void mdn_vm_scan_mutator_roots(mdn_mutator *mutator, void *vm_thread, mdn_tracer *tracer) {
    (void)mutator, (void)vm_thread, (void)tracer; /* the core scans stacks and registers */
}

void mdn_vm_out_of_memory(mdn_heap *heap, size_t bytes) { (void)heap, (void)bytes; }

/* ---- initialisation and threads -------------------------------------------- */

static void final_ready(mdn_heap *heap, size_t pending, void *data); /* finalization, below */
static void set_plausible_bounds(mdn_heap *heap);                           /* custom kinds, below */
static void links_settle(void);                                      /* disappearing links, below */

static void thread_exit(void *arg) {
    (void)arg;
    if (bdw_self) {
        if (bdw_native)
            mdn_leave_native(bdw_self);
        mdn_mutator_unbind(bdw_self);
        bdw_self = NULL;
    }
}

static size_t env_size(const char *name) {
    const char *v = getenv(name);
    if (!v || !*v)
        return 0;
    char *end;
    unsigned long long n = strtoull(v, &end, 10);
    if (*end == 'k' || *end == 'K')
        n <<= 10, end++;
    else if (*end == 'm' || *end == 'M')
        n <<= 20, end++;
    else if (*end == 'g' || *end == 'G')
        n <<= 30, end++;
    if (*end)
        bdw_fatal("%s=%s is not a size in bytes (a number with an optional K, M or G)", name, v);
    return (size_t)n;
}

/* .cons.bdw-budget: the growable heap-factor for Boehm GC's free-space
 * divisor d: 100 + 150/d percent (150% for the default d = 3), the live
 * size plus half of it per unit of 1/d. */
static unsigned factor_for_divisor(GC_word d) {
    if (d == 0)
        d = 3;
    GC_word percent = 100 + 150 / d;
    return percent < 110 ? 110 : percent > 10000 ? 10000 : (unsigned)percent;
}

static bool heap_is_fixed(void) {
    const mdn_options *o = mdn_heap_options(bdw_heap);
    return o->heap_size != 0 || o->heap_policy == MDN_HEAP_POLICY_FIXED;
}

/* .cons.bdw-budget: Boehm GC's heap grows on demand: a growable heap, at
 * most GC_MAXIMUM_HEAP_SIZE (or GC_set_max_heap_size before GC_init, else
 * the physical memory), starting at GC_INITIAL_HEAP_SIZE (else
 * BDW_INITIAL_HEAP), growing by the free-space divisor (GC_FREE_SPACE_DIVISOR
 * or GC_free_space_divisor) and by at most BDW_HEAP_GROWTH percent per
 * collection. MDN_OPTIONS and MDN_* override all. */
#define BDW_INITIAL_HEAP ((size_t)8 << 20)
#define BDW_HEAP_GROWTH 120
static void sizing_options(mdn_options *o) {
    size_t max = bdw_max_heap ? bdw_max_heap : env_size("GC_MAXIMUM_HEAP_SIZE");
    if (!max) {
        long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
        max = pages > 0 && page > 0 ? (size_t)pages * (size_t)page : (size_t)4 << 30;
    }
    o->heap_max = max < BDW_MIN_HEAP ? BDW_MIN_HEAP : max;
    size_t initial = env_size("GC_INITIAL_HEAP_SIZE");
    if (!initial)
        initial = BDW_INITIAL_HEAP;
    o->heap_initial = initial < BDW_MIN_HEAP ? BDW_MIN_HEAP : initial;
    if (o->heap_initial > o->heap_max)
        o->heap_initial = o->heap_max;
    size_t divisor = env_size("GC_FREE_SPACE_DIVISOR");
    if (divisor)
        GC_free_space_divisor = divisor;
    o->heap_factor = factor_for_divisor(GC_free_space_divisor);
    o->heap_gc_share = 0; /* the divisor alone sets the factor, as in Boehm GC */
    o->heap_growth = BDW_HEAP_GROWTH;
    /* As Boehm GC's, the heap grows and never shrinks (.sizing.keep). */
    o->heap_shrink = false;
    /* A conservative heap never evacuates (.cons.fast): no headroom. */
    o->defrag_headroom = 0;
}

/* .cons.bdw-markers: the GC workers: GC_set_markers_count before GC_init,
 * else GC_MARKERS, else one per processor, at most BDW_DEFAULT_MARKERS.
 * MDN_GC_THREADS overrides all. */
#define BDW_DEFAULT_MARKERS 8
static unsigned marker_count(void) {
    if (bdw_markers)
        return bdw_markers;
    const char *v = getenv("GC_MARKERS");
    if (!v || !*v) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        return n < 1 ? 1 : n > BDW_DEFAULT_MARKERS ? BDW_DEFAULT_MARKERS : (unsigned)n;
    }
    char *end;
    unsigned long n = strtoul(v, &end, 10);
    if (*end || n < 1 || n > 256)
        bdw_fatal("GC_MARKERS=%s is not a number of GC threads from 1 to 256", v);
    return (unsigned)n;
}

/* GC_disable nesting and GC_dont_gc, told to the heap (.sizing.disabled
 * in sizing.md) when they change through this library. */
static void push_disabled(void) {
    int want = __atomic_load_n(&bdw_disabled, __ATOMIC_RELAXED) != 0 || GC_dont_gc;
    if (__atomic_exchange_n(&bdw_disabled_pushed, want, __ATOMIC_RELAXED) != want)
        mdn_heap_set_collections_disabled(bdw_heap, want);
}

/* Boehm GC's collection events, for every collection of the heap. */
static void on_event(mdn_heap *heap, const mdn_event *e, void *data) {
    (void)heap, (void)data;
    GC_on_collection_event_proc ev = __atomic_load_n(&bdw_event_proc, __ATOMIC_ACQUIRE);
    if (e->kind == MDN_EVENT_GC_START) {
        /* Before the roots are scanned; the program may write GC_no_dls at any time. */
        mdn_set_library_roots(bdw_heap, __atomic_load_n(&GC_no_dls, __ATOMIC_RELAXED) == 0);
        if (ev)
            ev(GC_EVENT_START);
    } else if (e->kind == MDN_EVENT_GC_END) {
        mdn_stats st;
        mdn_stats_get(bdw_heap, &st);
        links_settle();
        __atomic_store_n(&GC_gc_no, (GC_word)e->collection, __ATOMIC_RELAXED);
        __atomic_store_n(&bdw_allocated_at_gc, st.bytes_allocated, __ATOMIC_RELAXED);
        if (ev)
            ev(GC_EVENT_END);
    }
}

/* ---- fork (.cons.fork in conservative.md) -------------------------------------- */

static int bdw_handle_fork = 1;  /* GC_set_handle_fork before GC_init */
static int bdw_fork_was_native;  /* the forking thread was in GC_do_blocking */

static void fork_prepare(void) {
    if (!GC_is_init_called())
        return;
    /* mdn_prepare_fork wants the forking thread running, not native. */
    if (bdw_self && bdw_native) {
        bdw_native = 0;
        mdn_leave_native(bdw_self);
        bdw_fork_was_native = 1;
    }
    mdn_prepare_fork(bdw_heap);
}
static void fork_done(void (*after)(mdn_heap *)) {
    if (!GC_is_init_called())
        return;
    after(bdw_heap);
    if (bdw_fork_was_native) {
        bdw_fork_was_native = 0;
        mdn_enter_native(bdw_self);
        bdw_native = 1;
    }
}
static void fork_parent(void) { fork_done(mdn_after_fork_parent); }
static void fork_child(void) { fork_done(mdn_after_fork_child); }

static void install_fork_handlers(void) {
    if (bdw_handle_fork > 0 && pthread_atfork(fork_prepare, fork_parent, fork_child) != 0)
        bdw_fatal("cannot install the fork handlers (pthread_atfork)");
}

BDW_EXPORT void GC_set_handle_fork(int value) {
    if (GC_is_init_called())
        bdw_fatal("GC_set_handle_fork must be called before GC_init");
    bdw_handle_fork = value;
}
/* Called by the program itself only after GC_set_handle_fork(-1). */
BDW_EXPORT void GC_atfork_prepare(void) {
    if (bdw_handle_fork < 0)
        fork_prepare();
}
BDW_EXPORT void GC_atfork_parent(void) {
    if (bdw_handle_fork < 0)
        fork_parent();
}
BDW_EXPORT void GC_atfork_child(void) {
    if (bdw_handle_fork < 0)
        fork_child();
}

static void register_self(void *stack_base) {
    mdn_mutator *m = mdn_mutator_bind(bdw_heap, NULL);
    if (stack_base)
        mdn_mutator_set_stack_base(m, stack_base);
    bdw_self = m;
    pthread_setspecific(bdw_thread_key, m);
}

BDW_EXPORT void GC_init(void) {
    pthread_mutex_lock(&bdw_init_lock);
    if (!bdw_heap) {
        mdn_options o;
        mdn_error err;
        mdn_options_init(&o);
        sizing_options(&o);
        o.gc_threads = marker_count();
        o.conservative = true;
        if (!mdn_options_from_env(&o, &err))
            bdw_fatal("%s", err.message);
        o.conservative = true;
        o.conservative_past_end = true; /* .cons.bdw-header: objects have no extra byte */
        o.env = false; /* applied above, before the options this library must have */
        mdn_heap *heap = mdn_heap_create(&o, &err);
        if (!heap)
            bdw_fatal("cannot create the heap: %s", err.message);
        if (pthread_key_create(&bdw_thread_key, thread_exit) != 0)
            bdw_fatal("cannot create the thread key");
        mdn_event_listener_add(heap, on_event, NULL);
        mdn_set_finalizer_notifier(heap, final_ready, NULL);
        set_plausible_bounds(heap);
        __atomic_store_n(&bdw_heap, heap, __ATOMIC_RELEASE);
        push_disabled();
        install_fork_handlers();
    }
    pthread_mutex_unlock(&bdw_init_lock);
    if (!bdw_self)
        register_self(NULL);
}

BDW_EXPORT int GC_is_init_called(void) { return __atomic_load_n(&bdw_heap, __ATOMIC_ACQUIRE) != NULL; }

/* The calling thread's mutator; a thread that was never registered is
 * registered now (with its whole stack), as GC_init registers its caller. */
static inline mdn_mutator *self(void) {
    mdn_mutator *m = bdw_self;
    if (__builtin_expect(m == NULL, 0)) {
        GC_init();
        m = bdw_self;
    }
    return m;
}

BDW_EXPORT void GC_allow_register_threads(void) {
    if (!GC_is_init_called())
        GC_init();
}

BDW_EXPORT int GC_register_my_thread(const struct GC_stack_base *sb) {
    if (!GC_is_init_called())
        GC_init();
    if (bdw_self)
        return GC_DUPLICATE;
    register_self(sb ? sb->mem_base : NULL);
    return GC_SUCCESS;
}

BDW_EXPORT int GC_unregister_my_thread(void) {
    if (!bdw_self)
        return GC_NOT_FOUND;
    thread_exit(NULL);
    pthread_setspecific(bdw_thread_key, NULL);
    return GC_SUCCESS;
}

BDW_EXPORT int GC_thread_is_registered(void) { return bdw_self != NULL; }

BDW_EXPORT int GC_get_stack_base(struct GC_stack_base *sb) {
    pthread_attr_t attr;
    void *addr;
    size_t size;
    if (pthread_getattr_np(pthread_self(), &attr) != 0)
        return GC_UNIMPLEMENTED;
    int rc = pthread_attr_getstack(&attr, &addr, &size);
    pthread_attr_destroy(&attr);
    if (rc != 0)
        return GC_UNIMPLEMENTED;
    sb->mem_base = (char *)addr + size;
    return GC_SUCCESS;
}

BDW_EXPORT void *GC_call_with_stack_base(GC_stack_base_func fn, void *arg) {
    struct GC_stack_base sb;
    if (GC_get_stack_base(&sb) != GC_SUCCESS)
        bdw_fatal("GC_call_with_stack_base: cannot find the stack of the calling thread");
    return fn(&sb, arg);
}

BDW_EXPORT void *GC_do_blocking(GC_fn_type fn, void *client_data) {
    mdn_mutator *m = self();
    if (bdw_native)
        return fn(client_data);
    mdn_enter_native(m);
    bdw_native = 1;
    void *r = fn(client_data);
    bdw_native = 0;
    mdn_leave_native(m);
    return r;
}

BDW_EXPORT void *GC_call_with_gc_active(GC_fn_type fn, void *client_data) {
    mdn_mutator *m = self();
    if (!bdw_native)
        return fn(client_data);
    bdw_native = 0;
    mdn_leave_native(m);
    void *r = fn(client_data);
    mdn_enter_native(m);
    bdw_native = 1;
    return r;
}

static pthread_mutex_t bdw_alloc_lock = PTHREAD_MUTEX_INITIALIZER;
BDW_EXPORT void *GC_call_with_alloc_lock(GC_fn_type fn, void *client_data) {
    pthread_mutex_lock(&bdw_alloc_lock);
    void *r = fn(client_data);
    pthread_mutex_unlock(&bdw_alloc_lock);
    return r;
}

BDW_EXPORT int GC_get_suspend_signal(void) { return mdn_suspend_signal(); }
BDW_EXPORT int GC_get_thr_restart_signal(void) { return mdn_restart_signal(); }

typedef struct start_info {
    void *(*start)(void *);
    void *arg;
} start_info;

static void *thread_trampoline(void *p) {
    start_info si = *(start_info *)p;
    free(p);
    register_self(NULL);
    void *r = si.start(si.arg);
    GC_unregister_my_thread();
    return r;
}

BDW_EXPORT int GC_pthread_create(pthread_t *thread, const pthread_attr_t *attr, void *(*start)(void *), void *arg) {
    if (!GC_is_init_called())
        GC_init();
    start_info *si = malloc(sizeof *si);
    if (!si)
        return EAGAIN;
    si->start = start;
    si->arg = arg;
    int rc = pthread_create(thread, attr, thread_trampoline, si);
    if (rc != 0)
        free(si);
    return rc;
}

BDW_EXPORT int GC_pthread_join(pthread_t thread, void **retval) {
    if (!bdw_self)
        return pthread_join(thread, retval);
    /* Joining blocks: the collector must not wait for this thread. */
    mdn_mutator *m = bdw_self;
    int native = bdw_native;
    if (!native)
        mdn_enter_native(m), bdw_native = 1;
    int rc = pthread_join(thread, retval);
    if (!native)
        bdw_native = 0, mdn_leave_native(m);
    return rc;
}

BDW_EXPORT int GC_pthread_detach(pthread_t thread) { return pthread_detach(thread); }

BDW_EXPORT void GC_pthread_exit(void *retval) {
    GC_unregister_my_thread();
    pthread_exit(retval);
}

BDW_EXPORT int GC_pthread_sigmask(int how, const sigset_t *set, sigset_t *oset) {
    if (set && (how == SIG_BLOCK || how == SIG_SETMASK)) {
        sigset_t copy = *set;
        sigdelset(&copy, mdn_suspend_signal()); /* the collector must be able to stop this thread */
        return pthread_sigmask(how, &copy, oset);
    }
    return pthread_sigmask(how, set, oset);
}

BDW_EXPORT void *GC_dlopen(const char *path, int mode) { return dlopen(path, mode); }

/* ---- allocation ------------------------------------------------------------ */

static void maybe_finalize(void); /* finalization, below */

/* With no out-of-memory function set, Boehm GC's default: warn through the
 * warning procedure (.cons.bdw-warn) and return NULL. */
static void *out_of_memory(size_t bytes) {
    GC_oom_func fn = __atomic_load_n(&GC_oom_fn, __ATOMIC_ACQUIRE);
    if (fn)
        return fn(bytes);
    GC_warn_proc warn = __atomic_load_n(&bdw_warn_proc, __ATOMIC_ACQUIRE);
    if (warn)
        warn("Out of Memory! Heap size: %lu MiB. Returning NULL!\n", (GC_word)(GC_get_heap_size() >> 20));
    return NULL;
}

/* .cons.bdw-align: the user's bytes are aligned to 16, as Boehm GC's and
 * malloc's on x86-64. */
#define BDW_ALIGN ((size_t)16)

/* Objects above this size are large (core/layout.h MDN_LARGE_OBJECT_THRESHOLD):
 * the large-object space places them on a page. */
#define BDW_LARGE_OBJECT ((size_t)8192)

static inline size_t align_16(size_t n) { return (n + (BDW_ALIGN - 1)) & ~(BDW_ALIGN - 1); }

/* The bytes an object of `n` user bytes takes, its header word included,
 * when it starts at 8 mod 16: a multiple of 16, with no extra byte for
 * pointers just past the end (.cons.past-end), at least two words. */
static inline size_t object_bytes(size_t n) { return align_16(sizeof(uintptr_t) + n); }

/* The out-of-line allocation: any size, alignment and kind. Objects start
 * at 8 mod 16 (the plans are built so), the user's bytes one word in;
 * large objects start on a page, the user's bytes two words in; a
 * GC_memalign object's bytes start at the first boundary of its alignment
 * past the header, known once the object is placed. The header is stored
 * before the object is recorded (.cons.fast), and a GC_memalign object's
 * offset after (only GC_base, GC_size and GC_free read it; the collector
 * reads the size). Finalizers a collection queued run here, once the
 * object is made (it is on this thread's stack meanwhile). */
static __attribute__((noinline)) void *bdw_alloc(size_t n, size_t align, unsigned kind) {
    if (n > BDW_MAX_REQUEST)
        return out_of_memory(n);
    mdn_mutator *m = self();
    push_disabled();
    size_t total, offset = sizeof(uintptr_t);
    if (align <= BDW_ALIGN) {
        total = object_bytes(n);
        if (total > BDW_LARGE_OBJECT) {
            offset = 2 * sizeof(uintptr_t);
            total = align_16(offset + n);
        }
    } else {
        total = align_16(align + n); /* the offset is at most `align` */
        offset = 0;
    }
    void *p = mdn_alloc_conservative_slow(m, total, MDN_MIN_ALIGN,
                                          total > BDW_LARGE_OBJECT ? MDN_ALLOC_LARGE : MDN_ALLOC_DEFAULT,
                                          hdr_make(total, offset ? offset : sizeof(uintptr_t), kind));
    if (!p)
        return out_of_memory(n);
    size_t want = align > BDW_ALIGN ? align : BDW_ALIGN;
    if (!offset) {
        offset = (((uintptr_t)p + sizeof(uintptr_t) + want - 1) & ~(uintptr_t)(want - 1)) - (uintptr_t)p;
        *(uintptr_t *)p = hdr_make(total, offset, kind);
    }
    if ((((uintptr_t)p + offset) & (want - 1)) != 0 || offset + n > total)
        bdw_fatal("an object at %p does not start at 8 mod 16: the plan library was built without "
                  "MDN_VM_INLINE_START_PHASE=8",
                  p);
    if (kind_is_uncollectable(kind))
        uncollectable_add(m, (uintptr_t)p);
    maybe_finalize();
    return (char *)p + offset;
}

/* Requests up to this size take the inline fast path. */
#define BDW_FAST_MAX (MDN_FREELIST_FAST_MAX - sizeof(uintptr_t))

/* .cons.fast: the whole fast path of GC_malloc and GC_malloc_atomic is a
 * bump or free-list pop inlined here (mdn_alloc_conservative_fast); the
 * rest, finalizers included, is bdw_alloc's. */
static inline __attribute__((always_inline)) void *alloc_small(size_t n, unsigned kind) {
    mdn_mutator *m = bdw_self;
    if (__builtin_expect(m != NULL && n <= BDW_FAST_MAX, 1)) {
        size_t total = object_bytes(n);
        void *p = mdn_alloc_conservative_fast(m, total, hdr_make(total, sizeof(uintptr_t), kind));
        if (__builtin_expect(p != NULL, 1))
            return (char *)p + sizeof(uintptr_t);
    }
    return bdw_alloc(n, 0, kind);
}

BDW_EXPORT void *GC_malloc(size_t bytes) { return alloc_small(bytes, KIND_NORMAL); }
BDW_EXPORT void *GC_malloc_atomic(size_t bytes) { return alloc_small(bytes, KIND_PTRFREE); }
BDW_EXPORT void *GC_malloc_uncollectable(size_t bytes) { return bdw_alloc(bytes, 0, KIND_UNCOLLECTABLE); }
BDW_EXPORT void *GC_malloc_atomic_uncollectable(size_t bytes) {
    return bdw_alloc(bytes, 0, KIND_ATOMIC_UNCOLLECTABLE);
}
/* Every interior pointer is recognised, so the off-page hint changes nothing. */
BDW_EXPORT void *GC_malloc_ignore_off_page(size_t bytes) { return alloc_small(bytes, KIND_NORMAL); }
BDW_EXPORT void *GC_malloc_atomic_ignore_off_page(size_t bytes) { return alloc_small(bytes, KIND_PTRFREE); }

BDW_EXPORT void *GC_memalign(size_t align, size_t bytes) {
    if (align == 0 || (align & (align - 1)) != 0)
        return NULL;
    if (align > ((size_t)1 << 24))
        bdw_fatal("GC_memalign: alignment %zu is above the 16 MiB this library supports", align);
    return bdw_alloc(bytes, align, KIND_NORMAL);
}

BDW_EXPORT int GC_posix_memalign(void **memptr, size_t align, size_t bytes) {
    if (align < sizeof(void *) || (align & (align - 1)) != 0)
        return EINVAL;
    void *p = GC_memalign(align, bytes);
    if (!p)
        return ENOMEM;
    *memptr = p;
    return 0;
}

/* The object start of a user pointer from this library, or 0. */
static uintptr_t object_of(const void *p) {
    if (!p || !GC_is_init_called())
        return 0;
    mdn_objref obj = mdn_find_object(bdw_heap, mdn_address_from_ptr(p));
    return mdn_objref_is_null(obj) ? 0 : obj.value;
}

BDW_EXPORT void *GC_base(void *p) {
    uintptr_t start = object_of(p);
    return start ? (char *)start + hdr_offset(*(uintptr_t *)start) : NULL;
}

BDW_EXPORT size_t GC_size(const void *p) {
    uintptr_t start = object_of(p);
    if (!start)
        return 0;
    uintptr_t h = *(uintptr_t *)start;
    return hdr_size(h) - hdr_offset(h);
}

BDW_EXPORT int GC_is_heap_ptr(const void *p) {
    return GC_is_init_called() && mdn_heap_contains(bdw_heap, mdn_address_from_ptr(p));
}

BDW_EXPORT void GC_free(void *p) {
    if (!p)
        return;
    uintptr_t start = object_of(p);
    if (!start || (char *)start + hdr_offset(*(uintptr_t *)start) != (char *)p)
        bdw_fatal("GC_free: %p is not the start of an object of this heap", p);
    mdn_mutator *m = self();
    if (is_uncollectable(m, start, hdr_kind(*(uintptr_t *)start)))
        uncollectable_remove(m, start);
    mdn_forget_object(bdw_heap, mdn_objref_from_address(mdn_address_from_word(start)));
}

BDW_EXPORT void *GC_realloc(void *old, size_t bytes) {
    if (!old)
        return GC_malloc(bytes);
    if (bytes == 0) {
        GC_free(old);
        return NULL;
    }
    uintptr_t start = object_of(old);
    if (!start)
        bdw_fatal("GC_realloc: %p is not an object of this heap", old);
    uintptr_t h = *(uintptr_t *)start;
    size_t have = hdr_size(h) - hdr_offset(h);
    if (bytes < have && bytes >= have / 2 && hdr_offset(h) == sizeof(uintptr_t)) {
        /* Shrink in place; clear the tail so it keeps nothing alive. */
        memset((char *)old + bytes, 0, have - bytes);
        return old;
    }
    unsigned kind = hdr_kind(h);
    void *p = bdw_alloc(bytes, 0, kind);
    if (!p)
        return NULL;
    if (kind >= KIND_FIRST_CUSTOM && uncollectable_has(self(), start))
        uncollectable_add(self(), object_of(p));
    memcpy(p, old, bytes < have ? bytes : have);
    GC_free(old);
    return p;
}

/* Boehm GC's batch allocation: objects of `bytes` each and of `kind`,
 * linked through their first word (GC_NEXT), the last link NULL, all else
 * zero; about a page of them, or one large object. */
static void *malloc_many(size_t bytes, unsigned kind) {
    size_t each = bytes < sizeof(void *) ? sizeof(void *) : bytes;
    size_t n = each >= 2048 ? 1 : 4096 / (each + sizeof(uintptr_t));
    void *head = NULL;
    for (size_t i = 0; i < n; i++) {
        void **p = kind_is_uncollectable(kind) ? bdw_alloc(each, 0, kind) : alloc_small(each, kind);
        if (!p)
            break;
        *p = head;
        head = p;
    }
    return head;
}
BDW_EXPORT void *GC_malloc_many(size_t bytes) { return malloc_many(bytes, KIND_NORMAL); }

BDW_EXPORT char *GC_strdup(const char *s) {
    if (!s)
        return NULL;
    size_t n = strlen(s);
    char *p = GC_malloc_atomic(n + 1);
    if (p)
        memcpy(p, s, n + 1);
    return p;
}

BDW_EXPORT char *GC_strndup(const char *s, size_t n) {
    size_t len = strnlen(s, n);
    char *p = GC_malloc_atomic(len + 1);
    if (p) {
        memcpy(p, s, len);
        p[len] = '\0';
    }
    return p;
}

/* ---- collection and heap size ------------------------------------------------ */

BDW_EXPORT void GC_gcollect(void) {
    mdn_mutator *m = self();
    /* As in Boehm GC, an explicit collection does nothing while disabled. */
    if (GC_is_disabled())
        return;
    mdn_collect(m, MDN_GC_FULL);
    maybe_finalize();
}
BDW_EXPORT void GC_gcollect_and_unmap(void) { GC_gcollect(); }
/* Collections are not incremental: there is never work left to do. As
 * Boehm GC does where it cannot collect incrementally, GC_enable_incremental
 * leaves the mode off (GC_is_incremental_mode says so), and the time limit
 * of an incremental step is kept but bounds nothing. */
BDW_EXPORT int GC_collect_a_little(void) { return 0; }
BDW_EXPORT void GC_enable_incremental(void) {
    if (!GC_is_init_called())
        GC_init();
}
BDW_EXPORT int GC_is_incremental_mode(void) { return 0; }
BDW_EXPORT unsigned long GC_time_limit = GC_TIME_UNLIMITED;
BDW_EXPORT void GC_set_time_limit(unsigned long ms) { __atomic_store_n(&GC_time_limit, ms, __ATOMIC_RELAXED); }
BDW_EXPORT unsigned long GC_get_time_limit(void) { return __atomic_load_n(&GC_time_limit, __ATOMIC_RELAXED); }
BDW_EXPORT void GC_enable(void) {
    if (__atomic_sub_fetch(&bdw_disabled, 1, __ATOMIC_RELAXED) < 0)
        bdw_fatal("GC_enable called more often than GC_disable");
    if (GC_is_init_called())
        push_disabled();
}
BDW_EXPORT void GC_disable(void) {
    __atomic_add_fetch(&bdw_disabled, 1, __ATOMIC_RELAXED);
    if (GC_is_init_called())
        push_disabled();
}
BDW_EXPORT int GC_is_disabled(void) { return __atomic_load_n(&bdw_disabled, __ATOMIC_RELAXED) != 0 || GC_dont_gc; }
/* .cons.bdw-budget: grow the limit now and keep it at least that large. */
BDW_EXPORT int GC_expand_hp(size_t bytes) {
    if (!GC_is_init_called())
        GC_init();
    if (heap_is_fixed())
        return 0;
    return mdn_heap_expand(bdw_heap, bytes);
}
BDW_EXPORT void GC_set_max_heap_size(GC_word bytes) {
    size_t max = bytes < BDW_MIN_HEAP ? BDW_MIN_HEAP : (size_t)bytes;
    if (!GC_is_init_called()) {
        bdw_max_heap = max;
        return;
    }
    if (heap_is_fixed())
        bdw_fatal("GC_set_max_heap_size: the heap was given a fixed size (MDN_HEAP or heap=), which is its maximum");
    mdn_heap_set_max(bdw_heap, max);
}

/* The heap's statistics; mdn_stats_get holds the heap's lock inside the
 * thread's critical section itself (docs/design/conservative.md .cons.locks). */
static mdn_stats stats_now(void) {
    mdn_stats st;
    memset(&st, 0, sizeof st);
    if (GC_is_init_called())
        mdn_stats_get(bdw_heap, &st);
    return st;
}

BDW_EXPORT size_t GC_get_heap_size(void) { return (size_t)stats_now().committed_bytes; }
BDW_EXPORT size_t GC_get_free_bytes(void) {
    mdn_stats st = stats_now();
    return st.committed_bytes > st.live_bytes_after ? (size_t)(st.committed_bytes - st.live_bytes_after) : 0;
}
BDW_EXPORT size_t GC_get_unmapped_bytes(void) { return 0; }
BDW_EXPORT size_t GC_get_bytes_since_gc(void) {
    uint64_t total = stats_now().bytes_allocated, at = __atomic_load_n(&bdw_allocated_at_gc, __ATOMIC_RELAXED);
    return total > at ? (size_t)(total - at) : 0;
}
BDW_EXPORT size_t GC_get_total_bytes(void) { return (size_t)stats_now().bytes_allocated; }
/* GC_gc_no, which the end of every collection sets: polled often (Guile's
 * finalizer thread), it reads one word. */
BDW_EXPORT GC_word GC_get_gc_no(void) { return __atomic_load_n(&GC_gc_no, __ATOMIC_RELAXED); }
BDW_EXPORT void GC_get_heap_usage_safe(GC_word *heap_size, GC_word *free_bytes, GC_word *unmapped_bytes,
                                       GC_word *bytes_since_gc, GC_word *total_bytes) {
    if (heap_size)
        *heap_size = GC_get_heap_size();
    if (free_bytes)
        *free_bytes = GC_get_free_bytes();
    if (unmapped_bytes)
        *unmapped_bytes = 0;
    if (bytes_since_gc)
        *bytes_since_gc = GC_get_bytes_since_gc();
    if (total_bytes)
        *total_bytes = GC_get_total_bytes();
}
BDW_EXPORT void GC_set_markers_count(unsigned markers) {
    if (GC_is_init_called())
        bdw_fatal("GC_set_markers_count after GC_init is not supported yet (the GC workers start with the heap)");
    bdw_markers = markers;
}
BDW_EXPORT int GC_get_parallel(void) {
    return GC_is_init_called() ? (int)mdn_heap_options(bdw_heap)->gc_threads - 1 : 0;
}
/* The GC workers start with the heap, in GC_init. */
BDW_EXPORT void GC_start_mark_threads(void) {
    if (!GC_is_init_called())
        GC_init();
}
BDW_EXPORT void GC_set_free_space_divisor(GC_word divisor) {
    GC_free_space_divisor = divisor ? divisor : 1;
    /* A heap whose policy MDN_HEAP_POLICY / MDN_HEAP chose otherwise has no factor to change. */
    if (GC_is_init_called() && !heap_is_fixed() && mdn_heap_options(bdw_heap)->heap_policy != MDN_HEAP_POLICY_ADAPTIVE)
        mdn_heap_set_factor(bdw_heap, factor_for_divisor(GC_free_space_divisor));
}
BDW_EXPORT GC_word GC_get_free_space_divisor(void) { return GC_free_space_divisor; }

/* ---- roots ------------------------------------------------------------------- */

BDW_EXPORT void GC_add_roots(void *low, void *high_plus_1) {
    if (!GC_is_init_called())
        GC_init();
    if ((uintptr_t)high_plus_1 <= (uintptr_t)low)
        return;
    mdn_add_ambiguous_roots(bdw_heap, mdn_address_from_ptr(low), (size_t)((char *)high_plus_1 - (char *)low));
}
BDW_EXPORT void GC_remove_roots(void *low, void *high_plus_1) {
    if (GC_is_init_called())
        mdn_remove_ambiguous_roots(bdw_heap, mdn_address_from_ptr(low), mdn_address_from_ptr(high_plus_1));
}
/* .cons.static: the main program's data and bss are always roots; the
 * shared libraries' only while GC_no_dls is 0. */
BDW_EXPORT void GC_set_no_dls(int value) { __atomic_store_n(&GC_no_dls, value, __ATOMIC_RELAXED); }
BDW_EXPORT int GC_get_no_dls(void) { return __atomic_load_n(&GC_no_dls, __ATOMIC_RELAXED); }
BDW_EXPORT void GC_clear_roots(void) {
    if (GC_is_init_called())
        mdn_remove_ambiguous_roots(bdw_heap, mdn_address_zero(), mdn_address_from_word(UINTPTR_MAX));
}
BDW_EXPORT void GC_exclude_static_roots(void *low, void *high_plus_1) {
    if (!GC_is_init_called())
        GC_init();
    if ((uintptr_t)high_plus_1 > (uintptr_t)low)
        mdn_exclude_static_roots(bdw_heap, mdn_address_from_ptr(low), (size_t)((char *)high_plus_1 - (char *)low));
}
/* Every interior pointer is recognised: displacements are always valid. */
BDW_EXPORT void GC_register_displacement(size_t offset) { (void)offset; }
BDW_EXPORT void GC_set_all_interior_pointers(int value) {
    (void)value; /* recognising all interior pointers is a superset of either setting */
}
BDW_EXPORT int GC_get_all_interior_pointers(void) { return 1; }

/* ---- finalization (.cons.final in conservative.md) ------------------------------ */

/* Boehm GC's finalizers on the heap's (mdn_finalizer_register): one entry
 * per object with a finalizer, keyed by the object's base address (nothing
 * moves on a conservative heap), holding the Boehm function and data. The
 * heap's registration is made once per entry ("armed") and calls
 * final_run, which takes the entry out and calls what it holds then, so a
 * later GC_register_finalizer replaces the function and a null one cancels
 * it, as in Boehm GC. Changed under bdw_final_lock; never read by the
 * collector. */
typedef struct bdw_final {
    uintptr_t obj; /* 0 empty, 1 removed */
    GC_finalization_proc fn;
    void *cd;
    int armed;
} bdw_final;
static pthread_mutex_t bdw_final_lock = PTHREAD_MUTEX_INITIALIZER;
static int bdw_finalizers_ready;                 /* a collection queued finalizers (atomic) */
/* GC_set_finalizer_notifier; the variable is exported, as in Boehm GC,
 * whose older API sets it directly. */
BDW_EXPORT GC_finalizer_notifier_proc GC_finalizer_notifier;
static __thread int bdw_in_finalizers __attribute__((tls_model("initial-exec")));

static bdw_table bdw_finals = {.size = sizeof(bdw_final)};
static bdw_final *final_find(uintptr_t obj, bool insert) { return table_find(&bdw_finals, obj, insert); }

/* A finalizer's client data is reachable, as in Boehm GC, where the
 * finalization table lies in the collected heap: Guile's guardians keep
 * their only reference to a list there. The table changes only inside
 * critical sections, so a collection reads it whole. */
static void final_scan_data(mdn_tracer *tracer) {
    for (size_t i = 0; i < bdw_finals.cap; i++) {
        bdw_final *e = (bdw_final *)table_key(&bdw_finals, i);
        if (e->obj > TABLE_TOMBSTONE && e->cd)
            mdn_trace_ambiguous(tracer, mdn_address_from_ptr(&e->cd), sizeof e->cd);
    }
}

/* The heap's finalizer for an object with a Boehm finalizer. */
static void final_run(mdn_mutator *m, mdn_objref ref, void *data) {
    (void)ref;
    uintptr_t obj = (uintptr_t)data;
    mdn_critical_enter(m); /* the table changes only inside critical sections */
    pthread_mutex_lock(&bdw_final_lock);
    bdw_final *e = final_find(obj, false);
    GC_finalization_proc fn = e ? e->fn : NULL;
    void *cd = e ? e->cd : NULL;
    if (e)
        e->obj = TABLE_TOMBSTONE;
    pthread_mutex_unlock(&bdw_final_lock);
    mdn_critical_leave(m);
    if (fn)
        fn((void *)obj, cd);
}

/* Called with the world stopped: only note it (docs/design/conservative.md .cons.final). */
static void final_ready(mdn_heap *heap, size_t pending, void *data) {
    (void)heap, (void)pending, (void)data;
    __atomic_store_n(&bdw_finalizers_ready, 1, __ATOMIC_RELAXED);
}

static void register_finalizer(void *obj, GC_finalization_proc fn, void *cd, GC_finalization_proc *ofn, void **ocd,
                               mdn_finalizer_order order) {
    mdn_mutator *m = self();
    /* As in Boehm GC, anything but an object's base address is ignored. */
    if (!obj || GC_base(obj) != obj) {
        if (ofn)
            *ofn = NULL;
        if (ocd)
            *ocd = NULL;
        return;
    }
    mdn_critical_enter(m);
    pthread_mutex_lock(&bdw_final_lock);
    bdw_final *e = final_find((uintptr_t)obj, fn != NULL);
    if (ofn)
        *ofn = e ? e->fn : NULL;
    if (ocd)
        *ocd = e ? e->cd : NULL;
    bool arm = false;
    if (e) {
        e->fn = fn;
        e->cd = fn ? cd : NULL;
        arm = fn && !e->armed;
        e->armed |= arm;
    }
    pthread_mutex_unlock(&bdw_final_lock);
    if (arm) {
        uintptr_t start = object_of(obj);
        mdn_finalizer_register(m, mdn_objref_from_ptr((void *)start), final_run, obj, order);
    }
    mdn_critical_leave(m);
}

BDW_EXPORT void GC_register_finalizer(void *obj, GC_finalization_proc fn, void *cd, GC_finalization_proc *ofn,
                                      void **ocd) {
    register_finalizer(obj, fn, cd, ofn, ocd, MDN_FINALIZE_ORDERED);
}
BDW_EXPORT void GC_register_finalizer_no_order(void *obj, GC_finalization_proc fn, void *cd,
                                               GC_finalization_proc *ofn, void **ocd) {
    register_finalizer(obj, fn, cd, ofn, ocd, MDN_FINALIZE_UNORDERED);
}
/* Ordered but for pointers from the object to itself: the heap's ordered
 * finalization treats those as a cycle and never finalizes the object, so
 * this form is unordered (the difference is documented in the porting guide). */
BDW_EXPORT void GC_register_finalizer_ignore_self(void *obj, GC_finalization_proc fn, void *cd,
                                                  GC_finalization_proc *ofn, void **ocd) {
    register_finalizer(obj, fn, cd, ofn, ocd, MDN_FINALIZE_UNORDERED);
}
BDW_EXPORT void GC_register_finalizer_unreachable(void *obj, GC_finalization_proc fn, void *cd,
                                                  GC_finalization_proc *ofn, void **ocd) {
    register_finalizer(obj, fn, cd, ofn, ocd, MDN_FINALIZE_UNORDERED);
}

BDW_EXPORT int GC_invoke_finalizers(void) {
    if (!GC_is_init_called())
        return 0;
    __atomic_store_n(&bdw_finalizers_ready, 0, __ATOMIC_RELAXED);
    bdw_in_finalizers++;
    size_t n = mdn_run_finalizers(self());
    bdw_in_finalizers--;
    return n > INT_MAX ? INT_MAX : (int)n;
}
BDW_EXPORT int GC_should_invoke_finalizers(void) {
    return GC_is_init_called() && mdn_finalizers_pending(bdw_heap) > 0;
}

/* After a collection queued finalizers, the next allocation or explicit
 * collection runs them (or, with GC_finalize_on_demand, calls the
 * notifier), as Boehm GC does; never from inside a finalizer. */
static __attribute__((noinline)) void notify_or_invoke_finalizers(void) {
    if (bdw_in_finalizers || !__atomic_exchange_n(&bdw_finalizers_ready, 0, __ATOMIC_RELAXED))
        return;
    if (!GC_finalize_on_demand) {
        GC_invoke_finalizers();
    } else {
        GC_finalizer_notifier_proc fn = __atomic_load_n(&GC_finalizer_notifier, __ATOMIC_ACQUIRE);
        if (fn)
            fn();
    }
}
/* Out of line only: the allocation slow path and GC_gcollect. */
static void maybe_finalize(void) {
    if (__builtin_expect(__atomic_load_n(&bdw_finalizers_ready, __ATOMIC_RELAXED) != 0, 0))
        notify_or_invoke_finalizers();
}

BDW_EXPORT void GC_set_finalize_on_demand(int value) { GC_finalize_on_demand = value; }
BDW_EXPORT int GC_get_finalize_on_demand(void) { return GC_finalize_on_demand; }
BDW_EXPORT void GC_set_finalizer_notifier(GC_finalizer_notifier_proc fn) {
    __atomic_store_n(&GC_finalizer_notifier, fn, __ATOMIC_RELEASE);
}
BDW_EXPORT GC_finalizer_notifier_proc GC_get_finalizer_notifier(void) {
    return __atomic_load_n(&GC_finalizer_notifier, __ATOMIC_ACQUIRE);
}

/* ---- disappearing links (.cons.links in conservative.md) --------------------------- */

/* A link is a word the program owns (often holding a hidden pointer, so it
 * keeps nothing alive) that must read null once its object is gone. Each
 * registration has a cell of its own outside the heap, registered as a
 * heap weak slot (short, or long for GC_register_long_link) holding the
 * object; at the end of each collection, the world still stopped, a link
 * whose cell was cleared is set to null, and a link inside an object that
 * was reclaimed is dropped, as in Boehm GC. Keys are the link's address,
 * with bit 0 set for long links. The table changes only inside critical
 * sections, so the end of a collection reads it whole; entries it retires
 * are unregistered by the next thread that registers or unregisters. */
typedef struct bdw_link {
    uintptr_t key;
    mdn_objref *cell;
    int in_heap; /* the link lies inside a heap object */
    int retired; /* cleared or dangling: to unregister and free */
} bdw_link;
static pthread_mutex_t bdw_link_lock = PTHREAD_MUTEX_INITIALIZER;
static bdw_table bdw_links = {.size = sizeof(bdw_link)};
static size_t bdw_links_retired;

static inline uintptr_t link_key(void **link, int is_long) { return (uintptr_t)link | (uintptr_t)(is_long != 0); }

/* Link cells, from pages of the OS (os_pages), with a free list threaded
 * through the free ones; bdw_link_lock held, in a critical section. */
#define LINK_CELL_PAGE 4096
static mdn_objref *bdw_free_cells;
static mdn_objref *cell_new(void) {
    if (!bdw_free_cells) {
        mdn_objref *page = os_pages(LINK_CELL_PAGE);
        if (!page)
            return NULL;
        size_t n = LINK_CELL_PAGE / sizeof *page;
        for (size_t i = 0; i < n; i++)
            page[i].value = i + 1 < n ? (uintptr_t)&page[i + 1] : 0;
        bdw_free_cells = page;
    }
    mdn_objref *c = bdw_free_cells;
    bdw_free_cells = (mdn_objref *)c->value;
    return c;
}
static void cell_free(mdn_objref *c) {
    c->value = (uintptr_t)bdw_free_cells;
    bdw_free_cells = c;
}

/* With bdw_link_lock held, in a critical section: unregister retired entries. */
static void links_reap(mdn_mutator *m) {
    if (!bdw_links_retired)
        return;
    for (size_t i = 0; i < bdw_links.cap; i++) {
        bdw_link *e = (bdw_link *)table_key(&bdw_links, i);
        if (e->key > TABLE_TOMBSTONE && e->retired) {
            mdn_weak_unregister(m, mdn_slot_from_ptr(e->cell));
            cell_free(e->cell);
            e->key = TABLE_TOMBSTONE;
        }
    }
    bdw_links_retired = 0;
}

/* End of a collection, world stopped (the collection-end event). */
static void links_settle(void) {
    for (size_t i = 0; i < bdw_links.cap; i++) {
        bdw_link *e = (bdw_link *)table_key(&bdw_links, i);
        if (e->key <= TABLE_TOMBSTONE || e->retired)
            continue;
        void **link = (void **)(e->key & ~(uintptr_t)1);
        if (e->in_heap && !object_of(link)) {
            e->retired = 1; /* in a reclaimed object: dropped, not written */
        } else if (mdn_objref_is_null(*e->cell)) {
            *link = NULL;
            e->retired = 1;
        } else {
            continue;
        }
        bdw_links_retired++;
    }
}

static int register_link(void **link, const void *obj, int is_long, const char *name) {
    if (!link || ((uintptr_t)link & (sizeof(void *) - 1)) != 0)
        bdw_fatal("%s: the link %p is not an aligned address", name, (void *)link);
    mdn_mutator *m = self();
    uintptr_t start = obj ? object_of(obj) : 0;
    if (!start || (char *)start + hdr_offset(*(uintptr_t *)start) != (const char *)obj)
        bdw_fatal("%s: %p is not the base of an object of this heap", name, obj);
    int rc = GC_SUCCESS;
    mdn_critical_enter(m);
    pthread_mutex_lock(&bdw_link_lock);
    links_reap(m);
    bdw_link *e = table_find(&bdw_links, link_key(link, is_long), false);
    mdn_objref *cell = NULL;
    if (e && !e->retired) {
        rc = GC_DUPLICATE;
    } else if (!(cell = cell_new())) {
        rc = GC_NO_MEMORY;
    } else {
        *cell = mdn_objref_from_ptr((void *)start);
        if (e) { /* a retired registration of the same link: replace it */
            mdn_weak_unregister(m, mdn_slot_from_ptr(e->cell));
            cell_free(e->cell);
        } else {
            e = table_find(&bdw_links, link_key(link, is_long), true);
        }
        e->cell = cell;
        e->in_heap = object_of(link) != 0;
        e->retired = 0;
        mdn_weak_register(m, mdn_objref_null(), mdn_slot_from_ptr(cell), is_long ? MDN_WEAK_LONG : MDN_WEAK_SHORT);
    }
    pthread_mutex_unlock(&bdw_link_lock);
    mdn_critical_leave(m);
    return rc;
}

static int unregister_link(void **link, int is_long) {
    if (!GC_is_init_called())
        return 0;
    mdn_mutator *m = self();
    mdn_critical_enter(m);
    pthread_mutex_lock(&bdw_link_lock);
    bdw_link *e = table_find(&bdw_links, link_key(link, is_long), false);
    int found = e && !e->retired;
    if (found)
        e->retired = 1, bdw_links_retired++;
    links_reap(m);
    pthread_mutex_unlock(&bdw_link_lock);
    mdn_critical_leave(m);
    return found;
}

static int move_link(void **link, void **new_link, int is_long) {
    if (!GC_is_init_called())
        return GC_NOT_FOUND;
    if (!new_link || ((uintptr_t)new_link & (sizeof(void *) - 1)) != 0)
        bdw_fatal("GC_move_%s: the new link %p is not an aligned address", is_long ? "long_link" : "disappearing_link",
                  (void *)new_link);
    mdn_mutator *m = self();
    int rc;
    mdn_critical_enter(m);
    pthread_mutex_lock(&bdw_link_lock);
    links_reap(m);
    bdw_link *e = table_find(&bdw_links, link_key(link, is_long), false);
    if (!e || e->retired) {
        rc = GC_NOT_FOUND;
    } else if (new_link == link) {
        rc = GC_SUCCESS;
    } else if (table_find(&bdw_links, link_key(new_link, is_long), false)) {
        rc = GC_DUPLICATE;
    } else {
        bdw_link moved = *e;
        e->key = TABLE_TOMBSTONE;
        bdw_link *n = table_find(&bdw_links, link_key(new_link, is_long), true);
        moved.key = n->key;
        moved.in_heap = object_of(new_link) != 0;
        *n = moved;
        rc = GC_SUCCESS;
    }
    pthread_mutex_unlock(&bdw_link_lock);
    mdn_critical_leave(m);
    return rc;
}

/* .cons.final: the heap keeps what a ready object reaches until its
 * finalizer has run, Boehm GC's rule with GC_java_finalization set (its
 * default); 0 would only let Boehm GC reclaim those objects sooner, so the
 * value is kept for GC_get_java_finalization and the rule stays. */
BDW_EXPORT void GC_set_java_finalization(int value) { GC_java_finalization = value; }
BDW_EXPORT int GC_get_java_finalization(void) { return GC_java_finalization; }
BDW_EXPORT int GC_general_register_disappearing_link(void **link, const void *obj) {
    return register_link(link, obj, 0, "GC_general_register_disappearing_link");
}
BDW_EXPORT int GC_register_disappearing_link(void **link) {
    return register_link(link, link ? GC_base(*link) : NULL, 0, "GC_register_disappearing_link");
}
BDW_EXPORT int GC_register_long_link(void **link, const void *obj) {
    return register_link(link, obj, 1, "GC_register_long_link");
}
BDW_EXPORT int GC_unregister_disappearing_link(void **link) { return unregister_link(link, 0); }
BDW_EXPORT int GC_unregister_long_link(void **link) { return unregister_link(link, 1); }
BDW_EXPORT int GC_move_disappearing_link(void **link, void **new_link) { return move_link(link, new_link, 0); }
BDW_EXPORT int GC_move_long_link(void **link, void **new_link) { return move_link(link, new_link, 1); }

/* ---- callbacks and settings ------------------------------------------------------ */

BDW_EXPORT void GC_ignore_warn_proc(char *msg, GC_word arg) { (void)msg, (void)arg; }
BDW_EXPORT void GC_set_warn_proc(GC_warn_proc fn) { __atomic_store_n(&bdw_warn_proc, fn, __ATOMIC_RELEASE); }
BDW_EXPORT GC_warn_proc GC_get_warn_proc(void) { return __atomic_load_n(&bdw_warn_proc, __ATOMIC_ACQUIRE); }
BDW_EXPORT void GC_set_oom_fn(GC_oom_func fn) { __atomic_store_n(&GC_oom_fn, fn, __ATOMIC_RELEASE); }
BDW_EXPORT GC_oom_func GC_get_oom_fn(void) { return __atomic_load_n(&GC_oom_fn, __ATOMIC_ACQUIRE); }
BDW_EXPORT void GC_set_start_callback(GC_start_callback_proc fn) { bdw_start_callback = fn; }
BDW_EXPORT GC_start_callback_proc GC_get_start_callback(void) { return bdw_start_callback; }
BDW_EXPORT void GC_set_on_collection_event(GC_on_collection_event_proc fn) {
    __atomic_store_n(&bdw_event_proc, fn, __ATOMIC_RELEASE);
}
BDW_EXPORT GC_on_collection_event_proc GC_get_on_collection_event(void) {
    return __atomic_load_n(&bdw_event_proc, __ATOMIC_ACQUIRE);
}
BDW_EXPORT unsigned GC_get_version(void) {
    return (GC_VERSION_MAJOR << 16) | (GC_VERSION_MINOR << 8) | GC_VERSION_MICRO;
}
BDW_EXPORT void GC_dump(void) {
    mdn_stats st = stats_now();
    printf("Midden libgc (%s plan): %llu collections, %llu bytes committed, %llu live after the last, %llu "
           "allocated\n",
           mdn_plan_name(), (unsigned long long)st.collections, (unsigned long long)st.committed_bytes,
           (unsigned long long)st.live_bytes_after, (unsigned long long)st.bytes_allocated);
}

/* ---- typed allocation: the descriptor's pointer words are a subset of all
 * words, so scanning the whole object conservatively is safe -------------------- */

BDW_EXPORT GC_descr GC_make_descriptor(const GC_word *bitmap, size_t len) {
    (void)bitmap;
    return (GC_descr)len;
}
BDW_EXPORT void *GC_malloc_explicitly_typed(size_t bytes, GC_descr d) {
    (void)d;
    return GC_malloc(bytes);
}
BDW_EXPORT void *GC_malloc_explicitly_typed_ignore_off_page(size_t bytes, GC_descr d) {
    (void)d;
    return GC_malloc(bytes);
}
BDW_EXPORT void *GC_calloc_explicitly_typed(size_t n, size_t size, GC_descr d) {
    (void)d;
    if (size && n > SIZE_MAX / size)
        return out_of_memory(SIZE_MAX);
    return GC_malloc(n * size);
}

/* ---- debug allocation: the same objects (no debugging header yet) ------------------ */

/* GC_debug_<name>(bytes, file, line): the object `plain` makes. */
#define BDW_DEBUG_ALLOC(name, plain)                                                                                   \
    BDW_EXPORT void *GC_debug_##name(size_t bytes, const char *file, int line) {                                       \
        (void)file, (void)line;                                                                                        \
        return plain(bytes);                                                                                           \
    }
/* GC_debug_<name>: the plain GC_<name> registration. */
#define BDW_DEBUG_FINALIZER(name)                                                                                      \
    BDW_EXPORT void GC_debug_##name(void *obj, GC_finalization_proc fn, void *cd, GC_finalization_proc *ofn,           \
                                    void **ocd) {                                                                      \
        GC_##name(obj, fn, cd, ofn, ocd);                                                                              \
    }

BDW_DEBUG_ALLOC(malloc, GC_malloc)
BDW_DEBUG_ALLOC(malloc_atomic, GC_malloc_atomic)
BDW_DEBUG_ALLOC(malloc_uncollectable, GC_malloc_uncollectable)
BDW_DEBUG_ALLOC(malloc_ignore_off_page, GC_malloc)
BDW_DEBUG_ALLOC(malloc_atomic_ignore_off_page, GC_malloc_atomic)
BDW_DEBUG_ALLOC(malloc_atomic_uncollectable, GC_malloc_atomic_uncollectable)
BDW_DEBUG_ALLOC(malloc_stubborn, GC_malloc)
BDW_EXPORT void *GC_debug_realloc(void *old, size_t bytes, const char *file, int line) {
    (void)file, (void)line;
    return GC_realloc(old, bytes);
}
BDW_EXPORT void GC_debug_free(void *obj) { GC_free(obj); }
BDW_EXPORT char *GC_debug_strdup(const char *s, const char *file, int line) {
    (void)file, (void)line;
    return GC_strdup(s);
}
BDW_EXPORT char *GC_debug_strndup(const char *s, size_t n, const char *file, int line) {
    (void)file, (void)line;
    return GC_strndup(s, n);
}
BDW_DEBUG_FINALIZER(register_finalizer)
BDW_DEBUG_FINALIZER(register_finalizer_no_order)
BDW_DEBUG_FINALIZER(register_finalizer_ignore_self)
BDW_EXPORT void *GC_debug_malloc_replacement(size_t bytes) { return GC_malloc(bytes); }
BDW_EXPORT void *GC_debug_realloc_replacement(void *old, size_t bytes) { return GC_realloc(old, bytes); }
BDW_DEBUG_FINALIZER(register_finalizer_unreachable)
BDW_EXPORT void GC_debug_register_displacement(size_t offset) { GC_register_displacement(offset); }

/* .cons.bdw-dirty: Boehm GC's write notes serve its incremental and
 * generational modes, which the library never enters (every collection
 * traces the whole heap), so a change needs no note and a store is a
 * store. */
BDW_EXPORT void GC_end_stubborn_change(const void *obj) { (void)obj; }
BDW_EXPORT void GC_change_stubborn(const void *obj) { (void)obj; }
BDW_EXPORT void *GC_malloc_stubborn(size_t bytes) { return GC_malloc(bytes); }
BDW_EXPORT void GC_ptr_store_and_dirty(void *slot, const void *value) { *(const void **)slot = value; }
BDW_EXPORT void GC_debug_end_stubborn_change(const void *obj) { GC_end_stubborn_change(obj); }
BDW_EXPORT void GC_debug_change_stubborn(const void *obj) { GC_change_stubborn(obj); }
BDW_EXPORT void GC_debug_ptr_store_and_dirty(void *slot, const void *value) { GC_ptr_store_and_dirty(slot, value); }

/* ---- custom kinds and mark procedures (.cons.kinds in conservative.md) ------------ */

/* A kind: its descriptor template (gc.h), whether the object's size is
 * added to it, and the free list the program gave GC_new_kind. Kinds and
 * procedures are added under bdw_kind_lock and never change after; a
 * collection reads them with the world stopped, after the program made an
 * object of the kind. */
typedef struct bdw_kind {
    GC_word descr;
    int add_size;
    void **free_list;
} bdw_kind;
static pthread_mutex_t bdw_kind_lock = PTHREAD_MUTEX_INITIALIZER;
static bdw_kind bdw_kinds[KIND_MAX] = {
    [KIND_PTRFREE] = {0, 0, NULL},
    [KIND_NORMAL] = {0, 1, NULL},
    [KIND_UNCOLLECTABLE] = {0, 1, NULL},
    [KIND_ATOMIC_UNCOLLECTABLE] = {0, 0, NULL},
};
static unsigned bdw_nkinds = KIND_FIRST_CUSTOM;        /* (atomic) */
static GC_mark_proc bdw_procs[GC_MAX_MARK_PROCS];
static unsigned bdw_nprocs = GC_RESERVED_MARK_PROCS;   /* (atomic) */

/* The collector's tracer while this thread runs a mark procedure or the
 * push-other-roots procedure: what GC_mark_and_push and GC_push_all report to. */
static __thread mdn_tracer *bdw_marking __attribute__((tls_model("initial-exec")));

/* Entries a mark procedure may push itself (with the entry layout of
 * gc.h), beside the references it reports with GC_mark_and_push, which go
 * straight to the collector's own work list. */
#define BDW_MARK_STACK 64

static void trace_range(mdn_tracer *t, const void *p, size_t bytes) {
    if (bytes >= sizeof(GC_word))
        mdn_trace_ambiguous(t, mdn_address_from_ptr(p), bytes & ~(sizeof(GC_word) - 1));
}

/* The words of a GC_DS_BITMAP descriptor's bitmap (the most significant
 * bit for the first word) among the first `words` of `base`, a run of
 * consecutive pointer words at a time. */
static void trace_bitmap(mdn_tracer *t, GC_word *base, size_t words, GC_word d) {
    GC_word bits = d & ~(GC_word)GC_DS_TAGS;
    size_t i = 0;
    while (bits && i < words) {
        unsigned skip = (unsigned)__builtin_clzl(bits);
        i += skip;
        bits <<= skip;
        unsigned run = (unsigned)__builtin_clzl(~bits);
        if (i >= words)
            break;
        if (run > words - i)
            run = (unsigned)(words - i);
        trace_range(t, base + i, run * sizeof(GC_word));
        i += run;
        bits = run < 64 ? bits << run : 0;
    }
}

typedef struct bdw_mark_stack {
    struct GC_ms_entry *bottom, *limit; /* bottom is an entry never used: the empty stack's top */
} bdw_mark_stack;

/* Scan `bytes` of `addr` (SIZE_MAX: as far as the descriptor says) by the
 * descriptor `d`; a mark procedure may push entries on `ms` above `top`.
 * Returns the new top. */
static struct GC_ms_entry *scan_by_descriptor(mdn_tracer *t, GC_word *addr, size_t bytes, GC_word d,
                                              const bdw_mark_stack *ms, struct GC_ms_entry *top, int nested) {
    switch (d & GC_DS_TAGS) {
    case GC_DS_LENGTH:
        trace_range(t, addr, d < bytes ? d : bytes);
        return top;
    case GC_DS_BITMAP:
        trace_bitmap(t, addr, bytes / sizeof(GC_word), d);
        return top;
    case GC_DS_PROC: {
        unsigned index = (unsigned)(d >> GC_DS_TAG_BITS) & (GC_MAX_MARK_PROCS - 1);
        GC_mark_proc proc = index < __atomic_load_n(&bdw_nprocs, __ATOMIC_ACQUIRE) ? bdw_procs[index] : NULL;
        if (!proc)
            bdw_fatal("an object at %p has the descriptor %#lx, whose mark procedure %u was never made by GC_new_proc",
                      (void *)addr, d, index);
        struct GC_ms_entry *r = proc(addr, top, ms->limit, d >> (GC_DS_TAG_BITS + GC_LOG_MAX_MARK_PROCS));
        if (r < ms->bottom || r >= ms->limit)
            bdw_fatal("mark procedure %u returned a mark stack pointer outside the stack it was given", index);
        return r;
    }
    default: { /* GC_DS_PER_OBJECT */
        GC_signed_word off = (GC_signed_word)(d & ~(GC_word)GC_DS_TAGS);
        GC_word real;
        if (off >= 0) {
            if (bytes != SIZE_MAX && (size_t)off + sizeof(GC_word) > bytes)
                return top; /* an object too small to hold its descriptor yet */
            real = *(GC_word *)((char *)addr + off);
        } else {
            const char *type = *(const char **)addr;
            if (!type)
                return top; /* no type record yet: a new object holds nothing */
            real = *(const GC_word *)(type - off - GC_INDIR_PER_OBJ_BIAS);
        }
        if (nested || (real & GC_DS_TAGS) == GC_DS_PER_OBJECT)
            bdw_fatal("the per-object descriptor of the object at %p is itself a per-object descriptor (%#lx)",
                      (void *)addr, real);
        return scan_by_descriptor(t, addr, bytes, real, ms, top, 1);
    }
    }
}

/* Scan by a descriptor, then whatever its mark procedures pushed. */
static void mark_by_descriptor(mdn_tracer *t, GC_word *addr, size_t bytes, GC_word d) {
    struct GC_ms_entry entries[BDW_MARK_STACK + 1];
    bdw_mark_stack ms = {entries, entries + BDW_MARK_STACK + 1};
    mdn_tracer *outer = bdw_marking;
    bdw_marking = t;
    struct GC_ms_entry *top = scan_by_descriptor(t, addr, bytes, d, &ms, ms.bottom, 0);
    while (top > ms.bottom) {
        struct GC_ms_entry e = *top--;
        top = scan_by_descriptor(t, e.mse_start, SIZE_MAX, e.mse_descr, &ms, top, 0);
    }
    bdw_marking = outer;
}

void bdw_scan_custom(mdn_objref obj, uintptr_t header, mdn_tracer *tracer) {
    unsigned kind = hdr_kind(header);
    if (kind >= __atomic_load_n(&bdw_nkinds, __ATOMIC_ACQUIRE))
        bdw_fatal("the object at %p has kind %u, which GC_new_kind never made", mdn_objref_to_ptr(obj), kind);
    const bdw_kind *k = &bdw_kinds[kind];
    size_t offset = hdr_offset(header), bytes = hdr_size(header) - offset;
    mark_by_descriptor(tracer, (GC_word *)((char *)mdn_objref_to_ptr(obj) + offset), bytes,
                       k->descr + (k->add_size ? bytes : 0));
}

BDW_EXPORT void *GC_least_plausible_heap_addr;
BDW_EXPORT void *GC_greatest_plausible_heap_addr;

/* The bounds lie one byte outside the reservation: the variables are in
 * data that is scanned as roots, and a bound at the reservation's first
 * byte, or at its end, would keep the object that starts or ends there. */
static void set_plausible_bounds(mdn_heap *heap) {
    mdn_address start, end;
    mdn_heap_reserved_range(heap, &start, &end);
    GC_least_plausible_heap_addr = (char *)mdn_address_to_ptr(start) - 1;
    GC_greatest_plausible_heap_addr = (char *)mdn_address_to_ptr(end) + 1;
}

/* In a collection (a mark procedure, the push-other-roots procedure, a
 * start callback) the object is kept with everything it reaches, which
 * its mark bit alone would not ensure here; at other times mark bits
 * mean nothing: the last collection has already swept. */
BDW_EXPORT void GC_set_mark_bit(const void *p) {
    mdn_tracer *t = bdw_marking;
    if (t && p)
        trace_range(t, &p, sizeof p);
}

BDW_EXPORT struct GC_ms_entry *GC_mark_and_push(void *obj, struct GC_ms_entry *mark_stack_ptr,
                                                struct GC_ms_entry *mark_stack_limit, void **src) {
    (void)mark_stack_limit, (void)src;
    mdn_tracer *t = bdw_marking;
    if (!t)
        bdw_fatal("GC_mark_and_push called outside a mark procedure");
    trace_range(t, &obj, sizeof obj);
    return mark_stack_ptr;
}

static void push_range(void *bottom, void *top, const char *name) {
    mdn_tracer *t = bdw_marking;
    if (!t)
        bdw_fatal("%s called outside a mark procedure and the push-other-roots procedure", name);
    uintptr_t lo = ((uintptr_t)bottom + sizeof(GC_word) - 1) & ~(uintptr_t)(sizeof(GC_word) - 1);
    if ((uintptr_t)top > lo)
        trace_range(t, (void *)lo, (uintptr_t)top - lo);
}
BDW_EXPORT void GC_push_all(void *bottom, void *top) { push_range(bottom, top, "GC_push_all"); }
BDW_EXPORT void GC_push_all_eager(void *bottom, void *top) { push_range(bottom, top, "GC_push_all_eager"); }
/* Every page counts as dirty: the whole range is scanned. */
BDW_EXPORT void GC_push_conditional(void *bottom, void *top, int all) {
    (void)all;
    push_range(bottom, top, "GC_push_conditional");
}

/* Threads' stacks and registers are the core's: the default has nothing to add. */
static void push_other_roots_default(void) {}
/* Exported as the variable too, as in Boehm GC: programs built against its
 * older headers (ECL) read and chain it directly. */
BDW_EXPORT GC_push_other_roots_proc GC_push_other_roots = push_other_roots_default;

BDW_EXPORT void GC_set_push_other_roots(GC_push_other_roots_proc fn) {
    __atomic_store_n(&GC_push_other_roots, fn ? fn : push_other_roots_default, __ATOMIC_RELEASE);
}
BDW_EXPORT GC_push_other_roots_proc GC_get_push_other_roots(void) {
    return __atomic_load_n(&GC_push_other_roots, __ATOMIC_ACQUIRE);
}

static void push_other_roots(mdn_tracer *tracer) {
    GC_push_other_roots_proc fn = __atomic_load_n(&GC_push_other_roots, __ATOMIC_ACQUIRE);
    bdw_marking = tracer;
    if (fn)
        fn();
    bdw_marking = NULL;
}

/* The library allocates every kind from the heap's own buffers: a free
 * list stays empty, so a program that looks into it finds nothing there
 * and calls GC_generic_malloc. */
#define BDW_FREE_LIST_ENTRIES 257
BDW_EXPORT void **GC_new_free_list_inner(void) {
    void **fl = calloc(BDW_FREE_LIST_ENTRIES, sizeof(void *));
    if (!fl)
        bdw_fatal("GC_new_free_list: out of memory");
    return fl;
}
BDW_EXPORT void **GC_new_free_list(void) { return GC_new_free_list_inner(); }

static unsigned new_kind(void **free_list, GC_word descr, int add_size, int clear, const char *name) {
    (void)clear; /* new objects are always cleared */
    if (!free_list)
        bdw_fatal("%s: the free list is NULL", name);
    pthread_mutex_lock(&bdw_kind_lock);
    unsigned kind = bdw_nkinds;
    if (kind >= KIND_MAX)
        bdw_fatal("%s: all %d kinds are taken", name, KIND_MAX);
    if ((descr & GC_DS_TAGS) == GC_DS_PROC) {
        unsigned index = (unsigned)(descr >> GC_DS_TAG_BITS) & (GC_MAX_MARK_PROCS - 1);
        if (index >= bdw_nprocs || !bdw_procs[index])
            bdw_fatal("%s: the descriptor %#lx names mark procedure %u, which GC_new_proc never made", name, descr,
                      index);
    }
    bdw_kinds[kind] = (bdw_kind){descr, add_size != 0, free_list};
    __atomic_store_n(&bdw_nkinds, kind + 1, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&bdw_kind_lock);
    return kind;
}
BDW_EXPORT unsigned GC_new_kind(void **free_list, GC_word mark_descriptor, int add_size_to_descriptor,
                                int clear_new_objects) {
    return new_kind(free_list, mark_descriptor, add_size_to_descriptor, clear_new_objects, "GC_new_kind");
}
BDW_EXPORT unsigned GC_new_kind_inner(void **free_list, GC_word mark_descriptor, int add_size_to_descriptor,
                                      int clear_new_objects) {
    return new_kind(free_list, mark_descriptor, add_size_to_descriptor, clear_new_objects, "GC_new_kind_inner");
}

static unsigned new_proc(GC_mark_proc proc, const char *name) {
    if (!proc)
        bdw_fatal("%s: the mark procedure is NULL", name);
    pthread_mutex_lock(&bdw_kind_lock);
    unsigned index = bdw_nprocs;
    if (index >= GC_MAX_MARK_PROCS)
        bdw_fatal("%s: all %d mark procedures are taken", name, GC_MAX_MARK_PROCS);
    bdw_procs[index] = proc;
    __atomic_store_n(&bdw_nprocs, index + 1, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&bdw_kind_lock);
    return index;
}
BDW_EXPORT unsigned GC_new_proc(GC_mark_proc proc) { return new_proc(proc, "GC_new_proc"); }
BDW_EXPORT unsigned GC_new_proc_inner(GC_mark_proc proc) { return new_proc(proc, "GC_new_proc_inner"); }

static unsigned kind_of(int kind, const char *name) {
    if (kind < 0 || (unsigned)kind >= __atomic_load_n(&bdw_nkinds, __ATOMIC_ACQUIRE))
        bdw_fatal("%s: %d is not a kind (there are %u)", name, kind, __atomic_load_n(&bdw_nkinds, __ATOMIC_ACQUIRE));
    return (unsigned)kind;
}

static void *generic_malloc(size_t bytes, int kind, const char *name) {
    unsigned k = kind_of(kind, name);
    return kind_is_uncollectable(k) ? bdw_alloc(bytes, 0, k) : alloc_small(bytes, k);
}
BDW_EXPORT void *GC_generic_malloc(size_t bytes, int kind) { return generic_malloc(bytes, kind, "GC_generic_malloc"); }
/* Every interior pointer is recognised, so the off-page hint changes nothing. */
BDW_EXPORT void *GC_generic_malloc_ignore_off_page(size_t bytes, int kind) {
    return generic_malloc(bytes, kind, "GC_generic_malloc_ignore_off_page");
}
BDW_EXPORT void *GC_generic_or_special_malloc(size_t bytes, int kind) {
    return generic_malloc(bytes, kind, "GC_generic_or_special_malloc");
}
BDW_EXPORT void *GC_malloc_kind(size_t bytes, int kind) { return generic_malloc(bytes, kind, "GC_malloc_kind"); }
BDW_EXPORT void *GC_malloc_kind_global(size_t bytes, int kind) {
    return generic_malloc(bytes, kind, "GC_malloc_kind_global");
}
BDW_EXPORT void *GC_generic_malloc_uncollectable(size_t bytes, int kind) {
    unsigned k = kind_of(kind, "GC_generic_malloc_uncollectable");
    if (k >= KIND_FIRST_CUSTOM) {
        /* Scanned by the kind's descriptor; a root until GC_free. The new
         * object is on this thread's stack until it is in the table. */
        void *p = bdw_alloc(bytes, 0, k);
        if (p)
            uncollectable_add(self(), object_of(p));
        return p;
    }
    return bdw_alloc(bytes, 0, k == KIND_PTRFREE || k == KIND_ATOMIC_UNCOLLECTABLE ? KIND_ATOMIC_UNCOLLECTABLE
                                                                                : KIND_UNCOLLECTABLE);
}
BDW_EXPORT void GC_generic_malloc_many(size_t bytes, int kind, void **result) {
    *result = malloc_many(bytes, kind_of(kind, "GC_generic_malloc_many"));
}

BDW_EXPORT int GC_get_kind_and_size(const void *obj, size_t *psize) {
    uintptr_t start = object_of(obj);
    if (!start)
        bdw_fatal("GC_get_kind_and_size: %p is not in an object of this heap", obj);
    uintptr_t h = *(uintptr_t *)start;
    if (psize)
        *psize = hdr_size(h) - hdr_offset(h);
    return (int)hdr_kind(h);
}

BDW_EXPORT void *GC_is_visible(void *p) { return p; }
