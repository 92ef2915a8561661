/*
 * gc.h: the Boehm-compatible allocation API of Midden's libgc.so.1
 * (vmbinding/bdw; docs/design/conservative.md .cons.bdw).
 *
 * Programs written for Boehm GC compile against this header unchanged and
 * run on Midden's collectors; binaries built against Boehm GC's own gc.h
 * run on the same library through LD_LIBRARY_PATH. Every function keeps
 * Boehm GC's signature and meaning; the ones Midden cannot serve yet stop
 * the program with their name on their first call.
 */
#ifndef MIDDEN_BDW_GC_H
#define MIDDEN_BDW_GC_H

#include <stddef.h>
#include <stdint.h>

#if defined(GC_THREADS) || defined(GC_PTHREADS)
#include <pthread.h>
#include <signal.h>
#endif

#ifdef __cplusplus
extern "C" {
#endif

#define GC_API extern
#define GC_CALL
#define GC_CALLBACK
#define GC_ATTR_DEPRECATED

/* The Boehm GC API level this library provides. */
#define GC_VERSION_MAJOR 8
#define GC_VERSION_MINOR 2
#define GC_VERSION_MICRO 0

typedef void *GC_PTR;
typedef unsigned long GC_word;
typedef long GC_signed_word;
typedef GC_word GC_descr;
typedef GC_word GC_hidden_pointer;

typedef void *(*GC_oom_func)(size_t bytes_requested);
typedef void (*GC_finalization_proc)(void *obj, void *client_data);
typedef void (*GC_finalizer_notifier_proc)(void);
typedef void (*GC_warn_proc)(char *msg, GC_word arg);
typedef void (*GC_start_callback_proc)(void);
typedef void *(*GC_fn_type)(void *client_data);

/* Collection events (GC_set_on_collection_event). */
typedef enum {
    GC_EVENT_START,
    GC_EVENT_MARK_START,
    GC_EVENT_MARK_END,
    GC_EVENT_RECLAIM_START,
    GC_EVENT_RECLAIM_END,
    GC_EVENT_END,
    GC_EVENT_PRE_STOP_WORLD,
    GC_EVENT_POST_STOP_WORLD,
    GC_EVENT_PRE_START_WORLD,
    GC_EVENT_POST_START_WORLD,
    GC_EVENT_THREAD_SUSPENDED,
    GC_EVENT_THREAD_UNSUSPENDED
} GC_EventType;
typedef void (*GC_on_collection_event_proc)(GC_EventType event);

struct GC_stack_base {
    void *mem_base; /* the stack's highest address (its base; stacks grow down) */
};
typedef void *(*GC_stack_base_func)(struct GC_stack_base *sb, void *arg);

/* Return codes of the thread and link functions. */
#define GC_SUCCESS 0
#define GC_DUPLICATE 1
#define GC_NO_THREADS 2
#define GC_NO_MEMORY 2 /* (the same value as GC_NO_THREADS, as in Boehm GC) */
#define GC_UNIMPLEMENTED 3
#define GC_NOT_FOUND 4

/* Variables Boehm GC exports (set them before GC_init). */
GC_API GC_word GC_gc_no;
GC_API int GC_dont_gc;
GC_API int GC_all_interior_pointers;
GC_API int GC_java_finalization;
GC_API int GC_finalize_on_demand;
GC_API GC_word GC_free_space_divisor;
GC_API GC_oom_func GC_oom_fn;
GC_API int GC_no_dls; /* nonzero: the shared libraries' data and bss are not roots */

/* ---- initialisation and allocation ---- */
GC_API void GC_init(void);
GC_API int GC_is_init_called(void);
GC_API void *GC_malloc(size_t bytes);
GC_API void *GC_malloc_atomic(size_t bytes);
GC_API void *GC_malloc_uncollectable(size_t bytes);
GC_API void *GC_malloc_atomic_uncollectable(size_t bytes);
GC_API void *GC_malloc_ignore_off_page(size_t bytes);
GC_API void *GC_malloc_atomic_ignore_off_page(size_t bytes);
GC_API void *GC_memalign(size_t align, size_t bytes);
GC_API int GC_posix_memalign(void **memptr, size_t align, size_t bytes);
GC_API void *GC_realloc(void *old, size_t bytes);
/* A list of objects of `bytes` each, linked through their first word. */
GC_API void *GC_malloc_many(size_t bytes);
#define GC_NEXT(p) (*(void **)(p))
GC_API void GC_free(void *obj);
GC_API char *GC_strdup(const char *s);
GC_API char *GC_strndup(const char *s, size_t n);
GC_API void *GC_base(void *p);
GC_API size_t GC_size(const void *obj);
GC_API int GC_is_heap_ptr(const void *p);

/* ---- collection and heap size ---- */
GC_API void GC_gcollect(void);
GC_API void GC_gcollect_and_unmap(void);
GC_API int GC_collect_a_little(void);
GC_API void GC_enable(void);
GC_API void GC_disable(void);
GC_API int GC_is_disabled(void);
GC_API int GC_expand_hp(size_t bytes);
GC_API void GC_set_max_heap_size(GC_word bytes);
GC_API size_t GC_get_heap_size(void);
GC_API size_t GC_get_free_bytes(void);
GC_API size_t GC_get_unmapped_bytes(void);
GC_API size_t GC_get_bytes_since_gc(void);
GC_API size_t GC_get_total_bytes(void);
GC_API GC_word GC_get_gc_no(void);
GC_API void GC_get_heap_usage_safe(GC_word *heap_size, GC_word *free_bytes, GC_word *unmapped_bytes,
                                   GC_word *bytes_since_gc, GC_word *total_bytes);
GC_API void GC_set_markers_count(unsigned markers);
GC_API int GC_get_parallel(void);
GC_API void GC_start_mark_threads(void);
/* fork(): by default GC_init installs pthread_atfork handlers; after
 * GC_set_handle_fork(-1) before GC_init the program calls the three
 * GC_atfork_* functions around fork() itself (they do nothing otherwise). */
GC_API void GC_set_handle_fork(int value);
GC_API void GC_atfork_prepare(void);
GC_API void GC_atfork_parent(void);
GC_API void GC_atfork_child(void);
GC_API void GC_set_free_space_divisor(GC_word divisor);
/* Incremental collection: never on (collections stop the world). */
#define GC_TIME_UNLIMITED 999999
GC_API void GC_enable_incremental(void);
GC_API int GC_is_incremental_mode(void);
GC_API void GC_set_time_limit(unsigned long ms);
GC_API unsigned long GC_get_time_limit(void);
GC_API GC_word GC_get_free_space_divisor(void);

/* ---- roots ---- */
GC_API void GC_add_roots(void *low, void *high_plus_1);
GC_API void GC_remove_roots(void *low, void *high_plus_1);
GC_API void GC_clear_roots(void);
GC_API void GC_set_no_dls(int value);
GC_API int GC_get_no_dls(void);
GC_API void GC_exclude_static_roots(void *low, void *high_plus_1);
GC_API void GC_register_displacement(size_t offset);
GC_API void GC_set_all_interior_pointers(int value);
GC_API int GC_get_all_interior_pointers(void);

/* ---- finalization and disappearing links ---- */
GC_API void GC_register_finalizer(void *obj, GC_finalization_proc fn, void *cd, GC_finalization_proc *ofn,
                                  void **ocd);
GC_API void GC_register_finalizer_no_order(void *obj, GC_finalization_proc fn, void *cd,
                                           GC_finalization_proc *ofn, void **ocd);
GC_API void GC_register_finalizer_ignore_self(void *obj, GC_finalization_proc fn, void *cd,
                                              GC_finalization_proc *ofn, void **ocd);
GC_API void GC_register_finalizer_unreachable(void *obj, GC_finalization_proc fn, void *cd,
                                              GC_finalization_proc *ofn, void **ocd);
GC_API int GC_invoke_finalizers(void);
GC_API int GC_should_invoke_finalizers(void);
GC_API void GC_set_finalize_on_demand(int value);
GC_API int GC_get_finalize_on_demand(void);
GC_API void GC_set_finalizer_notifier(GC_finalizer_notifier_proc fn);
GC_API GC_finalizer_notifier_proc GC_get_finalizer_notifier(void);
GC_API void GC_set_java_finalization(int value);
GC_API int GC_get_java_finalization(void);
GC_API int GC_general_register_disappearing_link(void **link, const void *obj);
GC_API int GC_register_disappearing_link(void **link);
GC_API int GC_register_long_link(void **link, const void *obj);
GC_API int GC_unregister_disappearing_link(void **link);
GC_API int GC_unregister_long_link(void **link);
GC_API int GC_move_disappearing_link(void **link, void **new_link);
GC_API int GC_move_long_link(void **link, void **new_link);

/* ---- callbacks and settings ---- */
GC_API void GC_set_warn_proc(GC_warn_proc fn);
GC_API GC_warn_proc GC_get_warn_proc(void);
GC_API void GC_ignore_warn_proc(char *msg, GC_word arg);
GC_API void GC_set_oom_fn(GC_oom_func fn);
GC_API GC_oom_func GC_get_oom_fn(void);
GC_API void GC_set_start_callback(GC_start_callback_proc fn);
GC_API GC_start_callback_proc GC_get_start_callback(void);
GC_API void GC_set_on_collection_event(GC_on_collection_event_proc fn);
GC_API GC_on_collection_event_proc GC_get_on_collection_event(void);
GC_API unsigned GC_get_version(void);
GC_API void GC_dump(void);

/* ---- typed allocation (gc_typed.h in Boehm GC) ---- */
GC_API GC_descr GC_make_descriptor(const GC_word *bitmap, size_t len);
GC_API void *GC_malloc_explicitly_typed(size_t bytes, GC_descr d);
GC_API void *GC_malloc_explicitly_typed_ignore_off_page(size_t bytes, GC_descr d);
GC_API void *GC_calloc_explicitly_typed(size_t n, size_t size, GC_descr d);

/* ---- debug allocation (what GC_DEBUG builds call) ---- */
#define GC_EXTRAS __FILE__, __LINE__
GC_API void *GC_debug_malloc(size_t bytes, const char *file, int line);
GC_API void *GC_debug_malloc_atomic(size_t bytes, const char *file, int line);
GC_API void *GC_debug_malloc_uncollectable(size_t bytes, const char *file, int line);
GC_API void *GC_debug_malloc_ignore_off_page(size_t bytes, const char *file, int line);
GC_API void *GC_debug_malloc_atomic_ignore_off_page(size_t bytes, const char *file, int line);
GC_API void *GC_debug_realloc(void *old, size_t bytes, const char *file, int line);
GC_API void GC_debug_free(void *obj);
GC_API void *GC_debug_malloc_atomic_uncollectable(size_t bytes, const char *file, int line);
GC_API void *GC_debug_malloc_stubborn(size_t bytes, const char *file, int line);
GC_API void *GC_debug_malloc_replacement(size_t bytes);
GC_API void *GC_debug_realloc_replacement(void *old, size_t bytes);
GC_API void GC_debug_register_finalizer_unreachable(void *obj, GC_finalization_proc fn, void *cd,
                                                    GC_finalization_proc *ofn, void **ocd);
GC_API void GC_debug_register_displacement(size_t offset);
GC_API void GC_debug_end_stubborn_change(const void *obj);
GC_API void GC_debug_change_stubborn(const void *obj);
GC_API void GC_debug_ptr_store_and_dirty(void *slot, const void *value);
GC_API void GC_end_stubborn_change(const void *obj);
GC_API void GC_change_stubborn(const void *obj);
GC_API void *GC_malloc_stubborn(size_t bytes);
GC_API void GC_ptr_store_and_dirty(void *slot, const void *value);
GC_API char *GC_debug_strdup(const char *s, const char *file, int line);
GC_API char *GC_debug_strndup(const char *s, size_t n, const char *file, int line);
GC_API void GC_debug_register_finalizer(void *obj, GC_finalization_proc fn, void *cd, GC_finalization_proc *ofn,
                                        void **ocd);
GC_API void GC_debug_register_finalizer_no_order(void *obj, GC_finalization_proc fn, void *cd,
                                                 GC_finalization_proc *ofn, void **ocd);
GC_API void GC_debug_register_finalizer_ignore_self(void *obj, GC_finalization_proc fn, void *cd,
                                                    GC_finalization_proc *ofn, void **ocd);

/* ---- custom kinds and mark procedures (gc_mark.h and gc_inline.h in Boehm GC) ----
 *
 * A kind is a way of scanning objects: its mark descriptor says which words
 * of an object may be pointers. The low two bits of a descriptor are its
 * tag:
 *   GC_DS_LENGTH      the descriptor is a length in bytes: that many leading
 *                     bytes are scanned (with add_size_to_descriptor the
 *                     object's size is added: 0 then means "the whole object");
 *   GC_DS_BITMAP      the other 62 bits are a bitmap of pointer words, the
 *                     most significant bit for the first word;
 *   GC_DS_PROC        a mark procedure (GC_MAKE_PROC(index, env)) is called
 *                     with the object and reports the object's references
 *                     with GC_mark_and_push (GC_MARK_AND_PUSH);
 *   GC_DS_PER_OBJECT  the real descriptor is in the object, at byte offset
 *                     descr & ~GC_DS_TAGS, or, for a negative descr, in the
 *                     type record the object's first word points to, at
 *                     -(descr & ~GC_DS_TAGS) - GC_INDIR_PER_OBJ_BIAS.
 * Mark procedures run during collections, possibly on several collector
 * threads at once, and only on objects the collection reached. */
#define GC_I_PTRFREE 0
#define GC_I_NORMAL 1
#define GC_LOG_MAX_MARK_PROCS 6
#define GC_MAX_MARK_PROCS (1 << GC_LOG_MAX_MARK_PROCS)
#define GC_RESERVED_MARK_PROCS 8
#define GC_DS_TAG_BITS 2
#define GC_DS_TAGS ((1 << GC_DS_TAG_BITS) - 1)
#define GC_DS_LENGTH 0
#define GC_DS_BITMAP 1
#define GC_DS_PROC 2
#define GC_DS_PER_OBJECT 3
#define GC_INDIR_PER_OBJ_BIAS 0x10
#define GC_MAKE_PROC(proc_index, env) (((((env) << GC_LOG_MAX_MARK_PROCS) | (proc_index)) << GC_DS_TAG_BITS) | GC_DS_PROC)

/* A mark stack entry: a range to scan and its descriptor. */
struct GC_ms_entry {
    void *mse_start;
    GC_word mse_descr;
};
typedef struct GC_ms_entry *(*GC_mark_proc)(GC_word *addr, struct GC_ms_entry *mark_stack_ptr,
                                            struct GC_ms_entry *mark_stack_limit, GC_word env);
typedef void (*GC_push_other_roots_proc)(void);

/* Bounds of every address the heap may ever hold (set by GC_init). */
GC_API void *GC_least_plausible_heap_addr;
GC_API void *GC_greatest_plausible_heap_addr;

GC_API void **GC_new_free_list(void);
GC_API void **GC_new_free_list_inner(void);
GC_API unsigned GC_new_kind(void **free_list, GC_word mark_descriptor, int add_size_to_descriptor,
                            int clear_new_objects);
GC_API unsigned GC_new_kind_inner(void **free_list, GC_word mark_descriptor, int add_size_to_descriptor,
                                  int clear_new_objects);
GC_API unsigned GC_new_proc(GC_mark_proc proc);
GC_API unsigned GC_new_proc_inner(GC_mark_proc proc);
GC_API void *GC_generic_malloc(size_t bytes, int kind);
GC_API void *GC_generic_malloc_ignore_off_page(size_t bytes, int kind);
GC_API void *GC_generic_malloc_uncollectable(size_t bytes, int kind);
GC_API void *GC_generic_or_special_malloc(size_t bytes, int kind);
GC_API void *GC_malloc_kind(size_t bytes, int kind);
GC_API void *GC_malloc_kind_global(size_t bytes, int kind);
/* *result: a list of objects of `bytes` and `kind`, linked through their first word. */
GC_API void GC_generic_malloc_many(size_t bytes, int kind, void **result);
GC_API int GC_get_kind_and_size(const void *obj, size_t *psize);
/* Inside a mark procedure: mark obj if it is in an object of the heap and
 * scan that object later; returns mark_stack_ptr. */
/* Inside a collection, keep the object and what it reaches; elsewhere nothing. */
GC_API void GC_set_mark_bit(const void *p);
GC_API struct GC_ms_entry *GC_mark_and_push(void *obj, struct GC_ms_entry *mark_stack_ptr,
                                            struct GC_ms_entry *mark_stack_limit, void **src);
#define GC_MARK_AND_PUSH(obj, msp, lim, src)                                                                         \
    ((GC_word)(obj) >= (GC_word)GC_least_plausible_heap_addr &&                                                      \
             (GC_word)(obj) <= (GC_word)GC_greatest_plausible_heap_addr                                              \
         ? GC_mark_and_push(obj, msp, lim, src)                                                                      \
         : (msp))
/* Inside a mark procedure or the push-other-roots procedure: every word of
 * [bottom, top) is an ambiguous reference. */
GC_API void GC_push_all(void *bottom, void *top);
GC_API void GC_push_all_eager(void *bottom, void *top);
GC_API void GC_push_conditional(void *bottom, void *top, int all);
/* Called at the start of every collection's root scan; the default does
 * nothing (threads' stacks are always scanned). A procedure set here
 * should call the one it replaces. */
GC_API void GC_set_push_other_roots(GC_push_other_roots_proc fn);
GC_API GC_push_other_roots_proc GC_get_push_other_roots(void);
/* Returns p: every pointer is visible to the collector. */
GC_API void *GC_is_visible(void *p);

/* ---- threads ---- */
GC_API void GC_allow_register_threads(void);
GC_API int GC_register_my_thread(const struct GC_stack_base *sb);
GC_API int GC_unregister_my_thread(void);
GC_API int GC_thread_is_registered(void);
GC_API int GC_get_stack_base(struct GC_stack_base *sb);
GC_API void *GC_call_with_stack_base(GC_stack_base_func fn, void *arg);
GC_API void *GC_do_blocking(GC_fn_type fn, void *client_data);
GC_API void *GC_call_with_gc_active(GC_fn_type fn, void *client_data);
GC_API void *GC_call_with_alloc_lock(GC_fn_type fn, void *client_data);
GC_API int GC_get_suspend_signal(void);
GC_API int GC_get_thr_restart_signal(void);
GC_API void *GC_dlopen(const char *path, int mode);
#if defined(GC_THREADS) || defined(GC_PTHREADS)
GC_API int GC_pthread_create(pthread_t *thread, const pthread_attr_t *attr, void *(*start)(void *), void *arg);
GC_API int GC_pthread_join(pthread_t thread, void **retval);
GC_API int GC_pthread_detach(pthread_t thread);
GC_API void GC_pthread_exit(void *retval) __attribute__((noreturn));
GC_API int GC_pthread_sigmask(int how, const sigset_t *set, sigset_t *oset);
#if !defined(GC_NO_THREAD_REDIRECTS) && !defined(GC_BUILD)
#define pthread_create GC_pthread_create
#define pthread_join GC_pthread_join
#define pthread_detach GC_pthread_detach
#define pthread_exit GC_pthread_exit
#define pthread_sigmask GC_pthread_sigmask
#define dlopen GC_dlopen
#endif
#endif

/* ---- the usual macros ---- */
#define GC_INIT() GC_init()
#ifdef GC_DEBUG
#define GC_MALLOC(sz) GC_debug_malloc(sz, GC_EXTRAS)
#define GC_MALLOC_ATOMIC(sz) GC_debug_malloc_atomic(sz, GC_EXTRAS)
#define GC_MALLOC_UNCOLLECTABLE(sz) GC_debug_malloc_uncollectable(sz, GC_EXTRAS)
#define GC_MALLOC_IGNORE_OFF_PAGE(sz) GC_debug_malloc_ignore_off_page(sz, GC_EXTRAS)
#define GC_MALLOC_ATOMIC_IGNORE_OFF_PAGE(sz) GC_debug_malloc_atomic_ignore_off_page(sz, GC_EXTRAS)
#define GC_REALLOC(old, sz) GC_debug_realloc(old, sz, GC_EXTRAS)
#define GC_FREE(p) GC_debug_free(p)
#define GC_STRDUP(s) GC_debug_strdup(s, GC_EXTRAS)
#define GC_STRNDUP(s, n) GC_debug_strndup(s, n, GC_EXTRAS)
#define GC_REGISTER_FINALIZER(p, f, d, of, od) GC_debug_register_finalizer(p, f, d, of, od)
#define GC_MALLOC_ATOMIC_UNCOLLECTABLE(sz) GC_debug_malloc_atomic_uncollectable(sz, GC_EXTRAS)
#define GC_REGISTER_FINALIZER_IGNORE_SELF(p, f, d, of, od) GC_debug_register_finalizer_ignore_self(p, f, d, of, od)
#define GC_REGISTER_FINALIZER_NO_ORDER(p, f, d, of, od) GC_debug_register_finalizer_no_order(p, f, d, of, od)
#define GC_REGISTER_FINALIZER_UNREACHABLE(p, f, d, of, od) GC_debug_register_finalizer_unreachable(p, f, d, of, od)
#define GC_END_STUBBORN_CHANGE(p) GC_debug_end_stubborn_change(p)
#define GC_PTR_STORE_AND_DIRTY(p, q) GC_debug_ptr_store_and_dirty(p, q)
#define GC_REGISTER_DISPLACEMENT(n) GC_debug_register_displacement(n)
#define GC_GENERAL_REGISTER_DISAPPEARING_LINK(link, obj) GC_general_register_disappearing_link(link, GC_base((void *)(obj)))
#define GC_REGISTER_LONG_LINK(link, obj) GC_register_long_link(link, GC_base((void *)(obj)))
#else
#define GC_MALLOC(sz) GC_malloc(sz)
#define GC_MALLOC_ATOMIC(sz) GC_malloc_atomic(sz)
#define GC_MALLOC_UNCOLLECTABLE(sz) GC_malloc_uncollectable(sz)
#define GC_MALLOC_IGNORE_OFF_PAGE(sz) GC_malloc_ignore_off_page(sz)
#define GC_MALLOC_ATOMIC_IGNORE_OFF_PAGE(sz) GC_malloc_atomic_ignore_off_page(sz)
#define GC_REALLOC(old, sz) GC_realloc(old, sz)
#define GC_FREE(p) GC_free(p)
#define GC_STRDUP(s) GC_strdup(s)
#define GC_STRNDUP(s, n) GC_strndup(s, n)
#define GC_REGISTER_FINALIZER(p, f, d, of, od) GC_register_finalizer(p, f, d, of, od)
#define GC_MALLOC_ATOMIC_UNCOLLECTABLE(sz) GC_malloc_atomic_uncollectable(sz)
#define GC_REGISTER_FINALIZER_IGNORE_SELF(p, f, d, of, od) GC_register_finalizer_ignore_self(p, f, d, of, od)
#define GC_REGISTER_FINALIZER_NO_ORDER(p, f, d, of, od) GC_register_finalizer_no_order(p, f, d, of, od)
#define GC_REGISTER_FINALIZER_UNREACHABLE(p, f, d, of, od) GC_register_finalizer_unreachable(p, f, d, of, od)
#define GC_END_STUBBORN_CHANGE(p) GC_end_stubborn_change(p)
#define GC_PTR_STORE_AND_DIRTY(p, q) GC_ptr_store_and_dirty(p, q)
#define GC_REGISTER_DISPLACEMENT(n) GC_register_displacement(n)
#define GC_GENERAL_REGISTER_DISAPPEARING_LINK(link, obj) GC_general_register_disappearing_link(link, obj)
#define GC_REGISTER_LONG_LINK(link, obj) GC_register_long_link(link, obj)
#endif
#define GC_NEW(t) ((t *)GC_MALLOC(sizeof(t)))
#define GC_NEW_ATOMIC(t) ((t *)GC_MALLOC_ATOMIC(sizeof(t)))
#define GC_NEW_UNCOLLECTABLE(t) ((t *)GC_MALLOC_UNCOLLECTABLE(sizeof(t)))

#ifdef __cplusplus
}
#endif

#endif /* MIDDEN_BDW_GC_H */
