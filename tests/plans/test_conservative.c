/* Conservative heaps on every plan (docs/design/conservative.md): plans that
 * cannot pin refuse the option; on the others mdn_find_object maps every
 * address inside an object (interior included) to it and nothing else to
 * anything, forgets reclaimed and freed objects, and ambiguous roots (the
 * C stack, registered ranges) keep objects alive. */
#include "core/conservative.h"
#include "testutil.h"
#include "toyvm.h"

#include "clear_stack.h"
#include "mdn_check.h"
#include <malloc.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static mdn_heap *heap;
static toyvm_thread *t;
static bool past_end; /* the fixture's heap has conservative-past-end */

static mdn_heap *create(mdn_error *err) {
    mdn_options o;
    mdn_options_init(&o);
    o.heap_size = (size_t)128 << 20;
    o.gc_threads = 1;
    o.conservative = true;
    o.conservative_past_end = past_end;
    return mdn_heap_create(&o, err);
}

static bool refuses(void) { return strcmp(MDN_TEST_PLAN, "semispace") == 0; }

static void setup(void) {
    if (refuses())
        return;
    mdn_error err;
    heap = create(&err);
    ck_assert_msg(heap != NULL, "%s", err.message);
    mdn_set_static_roots(heap, false); /* only the roots each test sets up */
    t = toyvm_thread_attach(heap);
}

static void setup_past_end(void) {
    past_end = true;
    setup();
}

static void teardown(void) {
    if (refuses())
        return;
    toyvm_thread_detach(t);
    mdn_heap_destroy(heap);
}

static mdn_objref find(uintptr_t a) { return mdn_find_object(heap, mdn_address_from_word(a)); }

START_TEST(plans_that_cannot_pin_refuse) {
    if (!refuses())
        return;
    mdn_error err;
    mdn_heap *h = create(&err);
    ck_assert_ptr_null(h);
    ck_assert_int_eq(err.code, MDN_ERR_OPTION);
    ck_assert_msg(strstr(err.message, "conservative") && strstr(err.message, "pin"), "message: %s", err.message);
}
END_TEST

enum { NOBJ = 600 };

START_TEST(find_object_maps_interior_addresses) {
    if (refuses())
        return;
    uint64_t seed = mdn_test_seed("find_object_maps_interior_addresses");
    mdn_objref objs[NOBJ];
    size_t base = t->root_count;
    for (int i = 0; i < NOBJ; i++) {
        size_t payload = i % 50 == 0 ? 20000 + mdn_test_rand_below(&seed, 3u << 20) : mdn_test_rand_below(&seed, 700);
        objs[i] = toyvm_alloc(t, 2, 0, payload, MDN_ALLOC_DEFAULT);
        ck_assert(!mdn_objref_is_null(objs[i]));
        toyvm_push_root(t, objs[i]);
    }
    for (int i = 0; i < NOBJ; i++) {
        uintptr_t s = objs[i].value, size = toyvm_size(objs[i]);
        ck_assert(mdn_objref_eq(find(s), objs[i]));
        ck_assert(mdn_objref_eq(find(s + size - 1), objs[i]));
        ck_assert(mdn_objref_eq(find(s + mdn_test_rand_below(&seed, size)), objs[i]));
        mdn_objref after = find(s + size);
        ck_assert(mdn_objref_is_null(after) || after.value == s + size);
    }
    /* Any address: nothing, or an object that covers it. */
    for (int k = 0; k < 20000; k++) {
        mdn_objref o = objs[mdn_test_rand_below(&seed, NOBJ)];
        uintptr_t a = o.value + mdn_test_rand_below(&seed, 64 << 10) - (32 << 10);
        mdn_objref f = find(a);
        if (!mdn_objref_is_null(f))
            ck_assert(a >= f.value && a < f.value + toyvm_size(f));
    }
    ck_assert(mdn_objref_is_null(find(0)));
    ck_assert(mdn_objref_is_null(find((uintptr_t)&seed)));
    ck_assert(!mdn_heap_contains(heap, mdn_address_from_ptr(&seed)));
    ck_assert(mdn_heap_contains(heap, mdn_objref_to_address(objs[0])));
    /* Forgotten objects are found no more. */
    mdn_forget_object(heap, objs[1]);
    ck_assert(mdn_objref_is_null(find(objs[1].value)));
    toyvm_pop_roots(t, t->root_count - base);
}
END_TEST

static uintptr_t hidden[NOBJ];

static void __attribute__((noinline)) make_garbage(uint64_t *seed) {
    for (int i = 0; i < NOBJ; i++) {
        mdn_objref o = toyvm_alloc(t, 2, 0, i % 50 == 0 ? 30000 : mdn_test_rand_below(seed, 500), MDN_ALLOC_DEFAULT);
        hidden[i] = ~o.value;
    }
}

/* Three rounds of garbage and a full collection, the stack cleared. */
static void collect_amid_garbage(const char *test) {
    uint64_t seed = mdn_test_seed(test);
    for (int round = 0; round < 3; round++) {
        make_garbage(&seed);
        mdn_test_clear_stack();
        mdn_collect(t->mutator, MDN_GC_FULL);
    }
}

START_TEST(reclaimed_objects_are_not_found) {
    if (refuses())
        return;
    uint64_t seed = mdn_test_seed("reclaimed_objects_are_not_found");
    make_garbage(&seed);
    mdn_test_clear_stack();
    mdn_collect(t->mutator, MDN_GC_FULL);
    int found = 0;
    for (int i = 0; i < NOBJ; i++)
        found += !mdn_objref_is_null(find(~hidden[i]));
    if (strcmp(MDN_TEST_PLAN, "nogc") == 0)
        ck_assert_int_eq(found, NOBJ); /* nothing is reclaimed */
    else
        ck_assert_msg(found <= NOBJ / 10, "%d of %d unreachable objects are still found", found, NOBJ);
}
END_TEST

static void __attribute__((noinline)) make_held(volatile uintptr_t *on_stack, uintptr_t *range) {
    mdn_objref a = toyvm_alloc(t, 2, 0, 100, MDN_ALLOC_DEFAULT);
    memset(toyvm_payload(a), 0x5a, 100);
    *on_stack = a.value + 40; /* interior, on the C stack only */
    mdn_objref b = toyvm_alloc(t, 2, 0, 50000, MDN_ALLOC_DEFAULT);
    memset(toyvm_payload(b), 0x6b, 50000);
    range[2] = b.value + 30000; /* interior, in malloc memory only */
}

static bool __attribute__((noinline)) holds(uintptr_t interior, size_t bytes, int byte) {
    mdn_objref f = find(interior);
    if (mdn_objref_is_null(f))
        return false;
    for (size_t i = 0; i < bytes; i++)
        if (((unsigned char *)toyvm_payload(f))[i] != byte)
            return false;
    return true;
}

START_TEST(stack_and_ranges_are_ambiguous_roots) {
    if (refuses())
        return;
    volatile uintptr_t on_stack[2];
    uintptr_t *range = calloc(4, sizeof *range);
    make_held(&on_stack[1], range);
    mdn_add_ambiguous_roots(heap, mdn_address_from_ptr(range), 4 * sizeof *range);
    collect_amid_garbage("stack_and_ranges_are_ambiguous_roots");
    ck_assert_msg(holds(on_stack[1], 100, 0x5a), "the object on the C stack was reclaimed or changed");
    ck_assert_msg(holds(range[2], 50000, 0x6b), "the object in the registered range was reclaimed or changed");
    ck_assert_uint_eq(mdn_remove_ambiguous_roots(heap, mdn_address_from_ptr(range),
                                                 mdn_address_from_ptr(range + 4)), 1);
    /* Only hidden copies remain (volatile: no register keeps the address). */
    static volatile uintptr_t hb;
    hb = ~((volatile uintptr_t *)range)[2];
    ((volatile uintptr_t *)range)[2] = 0;
    mdn_test_clear_stack();
    mdn_collect(t->mutator, MDN_GC_FULL);
    if (strcmp(MDN_TEST_PLAN, "nogc") != 0)
        ck_assert_msg(mdn_objref_is_null(find(~hb)), "the object stayed after its range was removed");
    free(range);
}
END_TEST

/* docs/design/reliability.md .verify.ambiguous: the verifier's walk (and
 * mdn_heap_walk, which shares it) starts from the ambiguous roots too, so
 * an object that only a registered range holds is walked and checked. */
typedef struct walk_find {
    uintptr_t target;
    unsigned walks, seen;
} walk_find;

static void note_target(mdn_objref obj, size_t bytes, unsigned space, void *data) {
    walk_find *w = data;
    (void)bytes, (void)space;
    if (obj.value == w->target)
        w->seen++;
}

static void walk_after_collection(mdn_heap *h, const mdn_event *e, void *data) {
    if (e->kind != MDN_EVENT_GC_END)
        return;
    walk_find *w = data;
    w->walks++;
    mdn_heap_walk(h, note_target, w);
}

START_TEST(walks_start_from_ambiguous_roots) {
    if (refuses() || strcmp(MDN_TEST_PLAN, "nogc") == 0) /* NoGC never ends a collection */
        return;
    uintptr_t *range = calloc(4, sizeof *range);
    mdn_objref obj = toyvm_alloc(t, 2, 0, 200, MDN_ALLOC_DEFAULT);
    range[1] = obj.value + 64; /* interior, and only in malloc memory */
    walk_find w = {obj.value, 0, 0};
    obj = mdn_objref_null();
    mdn_add_ambiguous_roots(heap, mdn_address_from_ptr(range), 4 * sizeof *range);
    mdn_event_listener_add(heap, walk_after_collection, &w);
    mdn_test_clear_stack();
    mdn_collect(t->mutator, MDN_GC_FULL);
    mdn_event_listener_remove(heap, walk_after_collection, &w);
    ck_assert_uint_eq(w.walks, 1);
    ck_assert_msg(w.seen == 1, "the walk saw the object the registered range holds %u times, not once", w.seen);
    mdn_remove_ambiguous_roots(heap, mdn_address_from_ptr(range), mdn_address_from_ptr(range + 4));
    free(range);
}
END_TEST

/* .cons.context: the context the core saves when a thread stops holds only
 * what the save wrote. getcontext leaves most of a ucontext_t alone (on
 * x86-64 the vector registers, the shadow-stack words and several general
 * registers' slots), and the context lies on the stack the collector scans:
 * whatever an earlier call left in those bytes would be an ambiguous root.
 * The context is filled first with a word that is in no register (read from
 * memory before the fill and after the save). */
static volatile uintptr_t dirt;

static size_t __attribute__((noinline)) stale_words_after_save(mdn_mutator *m) {
    ucontext_t ctx;
    uintptr_t *w = (uintptr_t *)(void *)&ctx;
    const size_t n = sizeof ctx / sizeof *w;
    for (size_t i = 0; i < n; i++)
        w[i] = dirt;
    __asm__ volatile("" : : "r"(w) : "memory");
    const void *regs = m->saved_regs;
    size_t regs_bytes = m->saved_regs_bytes;
    uintptr_t sp = m->stack_sp;
    MDN_SAVE_CONTEXT(m, ctx);
    const char *saved = m->saved_regs;
    size_t saved_bytes = m->saved_regs_bytes;
    m->saved_regs = regs, m->saved_regs_bytes = regs_bytes, m->stack_sp = sp;
    ck_assert_msg(saved >= (const char *)&ctx && saved + saved_bytes <= (const char *)(&ctx + 1) && saved_bytes > 0,
                  "the saved registers are not inside the context");
    size_t stale = 0;
    for (size_t i = 0; i < n; i++)
        stale += w[i] == dirt;
    return stale;
}

START_TEST(saved_contexts_hold_no_stale_words) {
    if (refuses())
        return;
    mdn_objref a = toyvm_alloc(t, 2, 0, 64, MDN_ALLOC_DEFAULT);
    dirt = a.value + 8; /* what a dead slot typically holds: an object's address */
    size_t stale = stale_words_after_save(t->mutator);
    ck_assert_msg(stale == 0, "%zu of %zu words of the saved context still hold what was there before the save", stale,
                  sizeof(ucontext_t) / sizeof(uintptr_t));
}
END_TEST

/* .cons.past-end: a word one past an object's end keeps that object, and a
 * word at an object's start keeps the object starting there too. */
static void __attribute__((noinline)) make_adjacent(uintptr_t *range, mdn_objref *first) {
    mdn_objref a = toyvm_alloc(t, 2, 0, 64, MDN_ALLOC_DEFAULT);
    memset(toyvm_payload(a), 0x3c, 64);
    mdn_objref b = toyvm_alloc(t, 2, 0, 64, MDN_ALLOC_DEFAULT);
    memset(toyvm_payload(b), 0x4d, 64);
    *first = a;
    range[0] = a.value + toyvm_size(a); /* one past a's end only */
    range[1] = b.value;                 /* b's start only */
}

START_TEST(past_end_words_keep_the_object_they_end) {
    if (refuses())
        return;
    uintptr_t *range = calloc(2, sizeof *range);
    mdn_objref a;
    make_adjacent(range, &a);
    size_t size = toyvm_size(a);
    ck_assert(mdn_objref_eq(find(a.value + size), a));
    ck_assert(mdn_objref_eq(find(a.value + 1), a));
    mdn_objref before = find(a.value);
    ck_assert(mdn_objref_is_null(before) || before.value + toyvm_size(before) == a.value);
    /* Only the two words in the range reach a and b. */
    static volatile uintptr_t hidden_a;
    hidden_a = ~a.value;
    a = mdn_objref_null();
    mdn_add_ambiguous_roots(heap, mdn_address_from_ptr(range), 2 * sizeof *range);
    collect_amid_garbage("past_end_words_keep_the_object_they_end");
    ck_assert_msg(holds(~hidden_a + 8, 64, 0x3c), "the object a word past its end refers to was reclaimed");
    ck_assert_msg(holds(range[1] + 8, 64, 0x4d), "the object a word at its start refers to was reclaimed");
    mdn_remove_ambiguous_roots(heap, mdn_address_from_ptr(range), mdn_address_from_ptr(range + 2));
    free(range);
}
END_TEST

/* .cons.locks: a thread that never polls, stopped by the signal anywhere,
 * must not be stopped holding a lock the collection takes. This thread
 * spends its time in the core calls that take the weak-reference lock
 * (running finalizers, asking how many wait, registering and unregistering
 * a weak slot) and the event listeners' lock (adding and removing one,
 * .obs.listeners) while the main thread collects; a stop inside one of them,
 * holding the lock, used to hang the next collection (the timeout fails it). */
static volatile int lock_loop_stop;
static int lock_loop_finalized;
static size_t lock_loop_rounds; /* atomic */

static void count_final(mdn_mutator *m, mdn_objref obj, void *data) {
    (void)m, (void)obj, (void)data;
    __atomic_fetch_add(&lock_loop_finalized, 1, __ATOMIC_RELAXED);
}

static void ignore_event(mdn_heap *h, const mdn_event *e, void *data) { (void)h, (void)e, (void)data; }

static void *lock_loop(void *arg) {
    (void)arg;
    toyvm_thread *me = toyvm_thread_attach(heap);
    mdn_objref *cell = malloc(sizeof *cell);
    ck_assert_ptr_nonnull(cell);
    *cell = mdn_objref_null();
    while (!__atomic_load_n(&lock_loop_stop, __ATOMIC_ACQUIRE)) {
        mdn_run_finalizers(me->mutator);
        (void)mdn_finalizers_pending(heap);
        mdn_weak_register(me->mutator, mdn_objref_null(), mdn_slot_from_ptr(cell), MDN_WEAK_SHORT);
        mdn_weak_unregister(me->mutator, mdn_slot_from_ptr(cell));
        mdn_event_listener_add(heap, ignore_event, NULL);
        mdn_event_listener_remove(heap, ignore_event, NULL);
        __atomic_fetch_add(&lock_loop_rounds, 1, __ATOMIC_RELEASE);
    }
    mdn_run_finalizers(me->mutator);
    toyvm_thread_detach(me);
    free(cell);
    return NULL;
}

START_TEST(threads_stopped_by_signal_hold_no_collector_lock) {
    if (refuses())
        return;
    lock_loop_stop = 0;
    lock_loop_finalized = 0;
    lock_loop_rounds = 0;
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, lock_loop, NULL), 0);
    while (__atomic_load_n(&lock_loop_rounds, __ATOMIC_ACQUIRE) == 0)
        mdn_safepoint(t->mutator); /* the thread binds once no collection runs */
    int registered = 0;
    for (int round = 0; round < 400; round++) {
        for (int i = 0; i < 8; i++, registered++)
            mdn_finalizer_register(t->mutator, toyvm_alloc(t, 1, 0, 16, MDN_ALLOC_DEFAULT), count_final, NULL,
                                   MDN_FINALIZE_UNORDERED);
        mdn_collect(t->mutator, MDN_GC_FULL);
    }
    __atomic_store_n(&lock_loop_stop, 1, __ATOMIC_RELEASE);
    ck_assert_int_eq(pthread_join(th, NULL), 0);
    mdn_test_clear_stack();
    mdn_collect(t->mutator, MDN_GC_FULL);
    mdn_run_finalizers(t->mutator);
    if (strcmp(MDN_TEST_PLAN, "nogc") == 0)
        return; /* no collections, no finalization */
    /* Conservative roots may keep a few of the last objects (stale stack words). */
    ck_assert_msg(lock_loop_finalized > registered / 2, "only %d of %d finalizers ran", lock_loop_finalized,
                  registered);
}
END_TEST

/* .overview.tables: nor is it stopped holding a malloc lock the collection
 * would wait for. With one malloc arena for the process (M_ARENA_MAX=1,
 * as MALLOC_ARENA_MAX=1 sets it), this thread spends its time inside
 * malloc and free, holding the arena's lock, while the main thread
 * collects; a collection that called malloc or free (to grow its record of
 * pauses, for one) would wait for the lock forever. */
static volatile int malloc_loop_stop;
static size_t malloc_loop_rounds; /* atomic */

static void *malloc_loop(void *arg) {
    (void)arg;
    toyvm_thread *me = toyvm_thread_attach(heap);
    for (size_t i = 0; !__atomic_load_n(&malloc_loop_stop, __ATOMIC_ACQUIRE); i++) {
        /* Above the per-thread caches' sizes, so each call takes the arena's lock. */
        void *p = malloc(4096 + (i % 64) * 512);
        ck_assert_ptr_nonnull(p);
        *(volatile char *)p = 1;
        free(p);
        __atomic_fetch_add(&malloc_loop_rounds, 1, __ATOMIC_RELEASE);
    }
    toyvm_thread_detach(me);
    return NULL;
}

START_TEST(collections_never_wait_for_a_stopped_threads_malloc) {
    if (refuses())
        return;
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    return; /* the sanitizer's allocator replaces glibc's malloc and its arenas */
#endif
    ck_assert_msg(mallopt(M_ARENA_MAX, 1) == 1, "glibc's malloc refused one arena for the process");
    malloc_loop_stop = 0;
    malloc_loop_rounds = 0;
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, malloc_loop, NULL), 0);
    while (__atomic_load_n(&malloc_loop_rounds, __ATOMIC_ACQUIRE) == 0)
        mdn_safepoint(t->mutator);
    mdn_stats before, after;
    mdn_stats_get(heap, &before);
    for (int round = 0; round < 600; round++) {
        for (int i = 0; i < 4; i++)
            mdn_finalizer_register(t->mutator, toyvm_alloc(t, 1, 0, 16, MDN_ALLOC_DEFAULT), count_final, NULL,
                                   MDN_FINALIZE_UNORDERED);
        mdn_collect(t->mutator, MDN_GC_FULL);
        mdn_run_finalizers(t->mutator);
    }
    mdn_stats_get(heap, &after);
    __atomic_store_n(&malloc_loop_stop, 1, __ATOMIC_RELEASE);
    ck_assert_int_eq(pthread_join(th, NULL), 0);
    if (strcmp(MDN_TEST_PLAN, "nogc") != 0)
        ck_assert_uint_ge(after.collections - before.collections, 600);
}
END_TEST

int main(void) {
    Suite *s = suite_create("conservative");
    TCase *tc = tcase_create("conservative");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, plans_that_cannot_pin_refuse);
    tcase_add_test(tc, find_object_maps_interior_addresses);
    tcase_add_test(tc, reclaimed_objects_are_not_found);
    tcase_add_test(tc, stack_and_ranges_are_ambiguous_roots);
    tcase_add_test(tc, walks_start_from_ambiguous_roots);
    tcase_add_test(tc, saved_contexts_hold_no_stale_words);
    suite_add_tcase(s, tc);
    TCase *pe = tcase_create("past-end");
    tcase_add_checked_fixture(pe, setup_past_end, teardown);
    tcase_add_test(pe, past_end_words_keep_the_object_they_end);
    suite_add_tcase(s, pe);
    TCase *th = tcase_create("threads");
    tcase_add_checked_fixture(th, setup, teardown);
    tcase_set_timeout(th, 120);
    tcase_add_test(th, threads_stopped_by_signal_hold_no_collector_lock);
    tcase_add_test(th, collections_never_wait_for_a_stopped_threads_malloc);
    suite_add_tcase(s, th);
    return mdn_run_suite(s);
}
