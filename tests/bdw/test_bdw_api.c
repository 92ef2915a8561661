/* The Boehm GC API on Midden's libgc.so.1 (vmbinding/bdw). This file is
 * compiled twice, against vmbinding/bdw/include/gc.h and against the
 * system's Boehm GC gc.h, and both executables run on Midden's library
 * (the first test checks which library is loaded).
 *
 * "Reclaimed" is observed through GC_base: an address whose object was
 * reclaimed (or freed) is in no object. Objects whose survival is checked
 * have their only references where the test says; objects expected to be
 * reclaimed are counted, and most (not all: a stale copy of an address may
 * remain in a dead stack slot) must be gone, while a broken feature keeps
 * all of them.
 *
 * MDN_TEST_LABELS: bdw threads
 */
#define _GNU_SOURCE 1
#define GC_THREADS 1
#include <gc.h>
#include <gc/gc_inline.h>
#include <gc/gc_mark.h>
#include <gc/gc_typed.h>

#include "test_bdw_dso.h"

#include "clear_stack.h"
#include "mdn_check.h"
#include <dlfcn.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define NOINLINE __attribute__((noinline))

/* Sanitizer builds run several times slower: the same tests with less
 * garbage and fewer rounds (each still collects and checks). */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define GARBAGE 4000
enum { NTHREADS = 4, LIST = 1000, ROUNDS = 4 };
#else
#define GARBAGE 20000
enum { NTHREADS = 8, LIST = 2000, ROUNDS = 12 };
#endif

/* Fixed, printed, overridable seed (MDN_TEST_SEED). */
static uint64_t test_seed(const char *name) {
    const char *env = getenv("MDN_TEST_SEED");
    uint64_t seed = env ? strtoull(env, NULL, 0) : 0x9e3779b97f4a7c15ULL;
    fprintf(stderr, "%s: seed %llu (set MDN_TEST_SEED to change)\n", name, (unsigned long long)seed);
    return seed;
}
static uint64_t rnd(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static NOINLINE void collect(void) {
    mdn_test_clear_stack();
    GC_gcollect();
}

static NOINLINE void garbage_rounds(uint64_t *s, int rounds, int n, size_t max) {
    for (int round = 0; round < rounds; round++) {
        for (int j = 0; j < n; j++)
            GC_malloc(1 + rnd(s) % max);
        collect();
    }
}

/* A hidden address: not a pointer to anything. */
static inline uintptr_t hide(const void *p) { return ~(uintptr_t)p; }
static inline void *unhide(uintptr_t h) { return (void *)~h; }

static void fill(unsigned char *p, size_t n, unsigned char salt) {
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)(i * 31u + salt);
}
static int check_fill(const unsigned char *p, size_t n, unsigned char salt) {
    for (size_t i = 0; i < n; i++)
        if (p[i] != (unsigned char)(i * 31u + salt))
            return 0;
    return 1;
}

START_TEST(library_is_middens) {
    Dl_info info;
    ck_assert(dladdr((void *)GC_malloc, &info) != 0);
    ck_assert_msg(strstr(info.dli_fname, "vmbinding/bdw/") != NULL, "GC_malloc comes from %s", info.dli_fname);
}
END_TEST

/* `rounds` times: `n` objects of 1 to `max` bytes that nothing keeps,
 * then a collection, so reclaimed memory is reused. */
static NOINLINE void garbage_rounds(uint64_t *s, int rounds, int n, size_t max);

/* ---- sizes ---- */

static void *keep_sizes[64];

START_TEST(sizes_1_byte_to_100_mib) {
    static const size_t sizes[] = {1,    2,     7,     8,     9,      15,     16,     17,       24,      31,
                                   32,   100,   255,   256,   257,    1000,   4095,   4096,     4097,    8191,
                                   8192, 8193,  16384, 65536, 100000, 1 << 20, 3 << 20, 10 << 20, 100 << 20};
    size_t n = sizeof sizes / sizeof sizes[0];
    for (int atomic = 0; atomic < 2; atomic++) {
        for (size_t i = 0; i < n; i++) {
            unsigned char *p = atomic ? GC_malloc_atomic(sizes[i]) : GC_malloc(sizes[i]);
            ck_assert_ptr_nonnull(p);
            ck_assert_uint_eq((uintptr_t)p % 16, 0); /* .cons.bdw-align, as Boehm GC's and malloc's */
            ck_assert_uint_ge(GC_size(p), sizes[i]);
            ck_assert_ptr_eq(GC_base(p), p);
            ck_assert_ptr_eq(GC_base(p + sizes[i] - 1), p);
            ck_assert_ptr_eq(GC_base(p + sizes[i]), p); /* one past the end is inside (Boehm's extra byte) */
            if (!atomic)
                for (size_t k = 0; k < sizes[i]; k += 4093)
                    ck_assert_uint_eq(p[k], 0);
            fill(p, sizes[i], (unsigned char)i);
            keep_sizes[i] = p;
        }
        collect();
        collect();
        for (size_t i = 0; i < n; i++) {
            ck_assert_msg(check_fill(keep_sizes[i], sizes[i], (unsigned char)i), "object of %zu bytes changed",
                          sizes[i]);
            ck_assert_ptr_eq(GC_base(keep_sizes[i]), keep_sizes[i]);
            keep_sizes[i] = NULL;
        }
    }
}
END_TEST

/* ---- interior pointers ---- */

static unsigned char *interior[256];
static size_t interior_size[256];

START_TEST(interior_pointers_keep_objects) {
    uint64_t s = test_seed("interior_pointers_keep_objects");
    for (int i = 0; i < 256; i++) {
        size_t n = 1 + rnd(&s) % (i % 8 == 0 ? 40000 : 700);
        unsigned char *p = GC_malloc(n);
        fill(p, n, (unsigned char)i);
        size_t off = rnd(&s) % n;
        interior[i] = p + off; /* the only reference points inside */
        interior_size[i] = n;
        ck_assert_ptr_eq(GC_base(p + off), p);
    }
    garbage_rounds(&s, 3, GARBAGE, 300);
    for (int i = 0; i < 256; i++) {
        unsigned char *base = GC_base(interior[i]);
        ck_assert_ptr_nonnull(base);
        ck_assert_msg(check_fill(base, interior_size[i], (unsigned char)i), "object %d changed", i);
    }
}
END_TEST

START_TEST(displacement_and_interior_settings) {
    GC_register_displacement(8);
    GC_set_all_interior_pointers(0);
    unsigned char *p = GC_malloc(100);
    ck_assert_ptr_eq(GC_base(p + 8), p);
    ck_assert_ptr_eq(GC_base(p + 50), p);
}
END_TEST

/* ---- realloc ---- */

START_TEST(realloc_grows_and_shrinks) {
    unsigned char *p = GC_realloc(NULL, 10);
    ck_assert_ptr_nonnull(p);
    fill(p, 10, 3);
    size_t sizes[] = {100, 5000, 9000, 1 << 20, 50, 7, 30000};
    size_t have = 10;
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t keep = have < sizes[i] ? have : sizes[i];
        p = GC_realloc(p, sizes[i]);
        ck_assert_ptr_nonnull(p);
        ck_assert_uint_ge(GC_size(p), sizes[i]);
        ck_assert_msg(check_fill(p, keep, 3), "realloc to %zu lost the contents", sizes[i]);
        fill(p, sizes[i], 3);
        have = sizes[i];
        collect();
        ck_assert(check_fill(p, have, 3));
    }
    ck_assert_ptr_null(GC_realloc(p, 0));
}
END_TEST

/* ---- atomic objects are never scanned ---- */

enum { NHELD = 100 };
static void **holders[NHELD];
static uintptr_t held[NHELD];

static NOINLINE void make_held(int atomic) {
    for (int i = 0; i < NHELD; i++) {
        void **h = atomic ? GC_malloc_atomic(64) : GC_malloc(64);
        unsigned char *obj = GC_malloc(48);
        fill(obj, 48, (unsigned char)i);
        h[3] = obj;
        holders[i] = h;
        held[i] = hide(obj);
    }
}

/* How many of n hidden addresses are still in an object. */
static int count_alive(const uintptr_t *hidden, int n) {
    int alive = 0;
    for (int i = 0; i < n; i++)
        alive += GC_base(unhide(hidden[i])) != NULL;
    return alive;
}
static int count_held_alive(void) { return count_alive(held, NHELD); }

START_TEST(atomic_objects_are_not_scanned) {
    make_held(1);
    collect();
    collect();
    int alive = count_held_alive();
    ck_assert_msg(alive <= NHELD / 10, "%d of %d objects referenced only from atomic objects survived", alive, NHELD);
}
END_TEST

START_TEST(normal_objects_are_scanned) {
    make_held(0);
    collect();
    collect();
    for (int i = 0; i < NHELD; i++) {
        unsigned char *obj = holders[i][3];
        ck_assert_ptr_eq(GC_base(obj), obj);
        ck_assert(check_fill(obj, 48, (unsigned char)i));
    }
}
END_TEST

/* ---- uncollectable objects ---- */

static uintptr_t hidden_u[NHELD], hidden_b[NHELD];

static NOINLINE void make_uncollectable(void) {
    for (int i = 0; i < NHELD; i++) {
        void **u = GC_malloc_uncollectable(64);
        unsigned char *b = GC_malloc(40);
        fill(b, 40, (unsigned char)i);
        u[1] = b;
        ((uintptr_t *)u)[0] = 0x5eed0000u + (unsigned)i;
        hidden_u[i] = hide(u);
        hidden_b[i] = hide(b);
    }
}

START_TEST(uncollectable_objects_are_never_freed) {
    make_uncollectable();
    uint64_t s = test_seed("uncollectable_objects_are_never_freed");
    garbage_rounds(&s, 3, GARBAGE, 200);
    for (int i = 0; i < NHELD; i++) {
        uintptr_t *u = unhide(hidden_u[i]);
        ck_assert_ptr_eq(GC_base(u), u);
        ck_assert_uint_eq(u[0], 0x5eed0000u + (unsigned)i);
        unsigned char *b = unhide(hidden_b[i]);
        ck_assert_ptr_eq((void *)u[1], b);
        ck_assert_ptr_eq(GC_base(b), b); /* what they reference is kept too */
        ck_assert(check_fill(b, 40, (unsigned char)i));
    }
    /* Freed, they go. */
    for (int i = 0; i < NHELD; i++)
        GC_free(unhide(hidden_u[i]));
    collect();
    int alive = 0;
    for (int i = 0; i < NHELD; i++)
        alive += GC_base(unhide(hidden_b[i])) != NULL;
    ck_assert_msg(alive <= NHELD / 10, "%d of %d objects of freed uncollectable objects survived", alive, NHELD);
}
END_TEST

START_TEST(free_reclaims_at_once) {
    unsigned char *p = GC_malloc(200);
    ck_assert_ptr_eq(GC_base(p), p);
    GC_free(p);
    ck_assert_ptr_null(GC_base(p));
    GC_free(NULL);
}
END_TEST

/* ---- roots: data, bss, registered ranges ---- */

static int data_anchor = 1;
static void *data_root = &data_anchor; /* .data */
static void *bss_root;                 /* .bss */
static uintptr_t hidden_data, hidden_bss;

static NOINLINE void make_static_roots(void) {
    unsigned char *a = GC_malloc(333), *b = GC_malloc(20000);
    fill(a, 333, 1);
    fill(b, 20000, 2);
    data_root = a;
    bss_root = b;
    hidden_data = hide(a);
    hidden_bss = hide(b);
}

START_TEST(data_and_bss_are_roots) {
    make_static_roots();
    collect();
    collect();
    ck_assert_ptr_eq(GC_base(unhide(hidden_data)), unhide(hidden_data));
    ck_assert_ptr_eq(GC_base(unhide(hidden_bss)), unhide(hidden_bss));
    ck_assert(check_fill(data_root, 333, 1));
    ck_assert(check_fill(bss_root, 20000, 2));
}
END_TEST

static void **malloc_block;

static NOINLINE void fill_malloc_block(void) {
    malloc_block = malloc(NHELD * sizeof(void *));
    for (int i = 0; i < NHELD; i++) {
        unsigned char *obj = GC_malloc(56);
        fill(obj, 56, (unsigned char)i);
        malloc_block[i] = obj;
        held[i] = hide(obj);
    }
}

/* The objects malloc_block holds survive two collections, intact, while
 * `keep` has made them reachable, and nearly all die once `drop` undoes it. */
static void malloc_block_kept_until_dropped(void (*keep)(void), void (*drop)(void), const char *dropped) {
    fill_malloc_block();
    keep();
    collect();
    collect();
    ck_assert_int_eq(count_held_alive(), NHELD);
    for (int i = 0; i < NHELD; i++)
        ck_assert(check_fill(malloc_block[i], 56, (unsigned char)i));
    drop();
    collect();
    int alive = count_held_alive();
    ck_assert_msg(alive <= NHELD / 10, "%d of %d objects survived %s", alive, NHELD, dropped);
    free(malloc_block);
}

static void add_malloc_block_roots(void) { GC_add_roots(malloc_block, malloc_block + NHELD); }
static void remove_malloc_block_roots(void) { GC_remove_roots(malloc_block, malloc_block + NHELD); }

START_TEST(registered_ranges_are_roots) {
    malloc_block_kept_until_dropped(add_malloc_block_roots, remove_malloc_block_roots, "after GC_remove_roots");
}
END_TEST

START_TEST(malloc_memory_is_not_a_root) {
    fill_malloc_block();
    collect();
    int alive = count_held_alive();
    ck_assert_msg(alive <= NHELD / 10, "%d of %d objects survived in unregistered malloc memory", alive, NHELD);
    GC_add_roots(malloc_block, malloc_block + NHELD);
    GC_clear_roots();
    free(malloc_block);
}
END_TEST

/* docs/design/sizing.md .sizing.disabled: GC_disable holds off the
 * collections MDN_STRESS starts too, so objects that only unscanned memory
 * holds meanwhile survive; the first allocations after GC_enable collect. */
START_TEST(disable_holds_off_stress_collections) {
    setenv("MDN_STRESS", "64K", 1);
    GC_INIT();
    GC_disable();
    GC_word before = GC_get_gc_no();
    fill_malloc_block();
    for (int j = 0; j < GARBAGE; j++)
        GC_malloc(48);
    ck_assert_uint_eq(GC_get_gc_no(), before);
    ck_assert_int_eq(count_held_alive(), NHELD);
    for (int i = 0; i < NHELD; i++)
        ck_assert(check_fill(malloc_block[i], 56, (unsigned char)i));
    GC_enable();
    GC_malloc(48);
    ck_assert_uint_gt(GC_get_gc_no(), before);
    free(malloc_block);
}
END_TEST

START_TEST(excluded_static_data_is_not_scanned) {
    make_static_roots();
    GC_exclude_static_roots(&bss_root, &bss_root + 1);
    GC_exclude_static_roots(&data_root, &data_root + 1);
    collect();
    collect();
    ck_assert_ptr_null(GC_base(unhide(hidden_bss)));
    ck_assert_ptr_null(GC_base(unhide(hidden_data)));
    bss_root = data_root = NULL;
}
END_TEST

/* GC_no_dls: a shared library's data is a root only while it is 0; the
 * main program's data always is. */
static uintptr_t dso_held[BDW_DSO_ROOTS];

static NOINLINE void make_dso_roots(void) {
    for (int i = 0; i < BDW_DSO_ROOTS; i++) {
        unsigned char *obj = GC_malloc(40);
        fill(obj, 40, (unsigned char)i);
        bdw_dso_roots()[i] = obj;
        dso_held[i] = hide(obj);
    }
}

static int count_dso_alive(void) { return count_alive(dso_held, BDW_DSO_ROOTS); }

START_TEST(no_dls_leaves_library_data_out_of_the_roots) {
    ck_assert_int_eq(GC_get_no_dls(), 0);
    make_dso_roots();
    collect();
    ck_assert_int_eq(count_dso_alive(), BDW_DSO_ROOTS);
    for (int i = 0; i < BDW_DSO_ROOTS; i++)
        ck_assert(check_fill(bdw_dso_roots()[i], 40, (unsigned char)i));
    GC_set_no_dls(1);
    ck_assert_int_eq(GC_get_no_dls(), 1);
    make_static_roots();
    collect();
    int alive = count_dso_alive();
    ck_assert_msg(alive <= BDW_DSO_ROOTS / 10, "%d of %d objects held by a library survived with GC_no_dls",
                  alive, BDW_DSO_ROOTS);
    /* The main program's data and bss are still roots. */
    ck_assert_ptr_eq(GC_base(unhide(hidden_data)), unhide(hidden_data));
    ck_assert_ptr_eq(GC_base(unhide(hidden_bss)), unhide(hidden_bss));
    ck_assert(check_fill(data_root, 333, 1));
    /* The variable itself, as older programs write it (Boehm's gc.h marks
     * the variable deprecated in favour of GC_set_no_dls). */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    GC_no_dls = 0;
#pragma GCC diagnostic pop
    make_dso_roots();
    collect();
    ck_assert_int_eq(count_dso_alive(), BDW_DSO_ROOTS);
    for (int i = 0; i < BDW_DSO_ROOTS; i++)
        bdw_dso_roots()[i] = NULL;
}
END_TEST

/* The exported variables are the library's own: what a program writes to
 * them (through its copy of the variable, where the linker made one) is
 * what the library reads, and the other way round. */
/* Boehm's gc.h marks the variables deprecated in favour of the accessors;
 * programs still use them. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
START_TEST(exported_variables_are_shared_with_the_library) {
    collect();
    ck_assert_uint_eq(GC_gc_no, GC_get_gc_no());
    GC_word before = GC_gc_no;
    GC_dont_gc = 1;
    ck_assert(GC_is_disabled());
    GC_gcollect(); /* does nothing while collections are off */
    ck_assert_uint_eq(GC_get_gc_no(), before);
    GC_dont_gc = 0;
    ck_assert(!GC_is_disabled());
    collect();
    ck_assert_uint_eq(GC_gc_no, before + 1);
    GC_word divisor = GC_free_space_divisor;
    GC_free_space_divisor = 5;
    ck_assert_uint_eq(GC_get_free_space_divisor(), 5);
    GC_free_space_divisor = divisor;
}
END_TEST
#pragma GCC diagnostic pop

/* GC_malloc_many: a list linked through the first word, the rest zeroed;
 * the objects live while the list does. */
static void *many_list;
static uintptr_t many_hidden[64];
static int many_count;

static NOINLINE void make_many(size_t bytes) {
    many_list = GC_malloc_many(bytes);
    many_count = 0;
    for (void *p = many_list; p; p = GC_NEXT(p)) {
        ck_assert_uint_ge(GC_size(p), bytes);
        ck_assert_ptr_eq(GC_base(p), p);
        for (size_t i = sizeof(void *); i < bytes; i++)
            ck_assert_int_eq(((unsigned char *)p)[i], 0);
        if (many_count < 64)
            many_hidden[many_count] = hide(p);
        memset((char *)p + sizeof(void *), 0x5a, bytes - sizeof(void *));
        many_count++;
    }
}

/* Unlink the list and drop it: a stale copy of one address (a dead stack
 * slot) then keeps one object, not the chain behind it. */
static NOINLINE void drop_many(void) {
    while (many_list) {
        void *next = GC_NEXT(many_list);
        GC_NEXT(many_list) = NULL;
        many_list = next;
    }
}

START_TEST(malloc_many_links_zeroed_objects) {
    static const size_t sizes[] = {16, 24, 48, 200, 1000, 5000};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        make_many(sizes[k]);
        ck_assert_int_ge(many_count, 1);
        if (sizes[k] <= 48)
            ck_assert_int_ge(many_count, 8);
        collect();
        int n = 0;
        for (void *p = many_list; p; p = GC_NEXT(p), n++) {
            for (size_t i = sizeof(void *); i < sizes[k]; i++)
                ck_assert_int_eq(((unsigned char *)p)[i], 0x5a);
        }
        ck_assert_int_eq(n, many_count);
        drop_many();
        collect();
        /* Reclamation is judged on lists of eight objects or more: a few
         * stale addresses must not decide it (under ThreadSanitizer on
         * Immix, all four 1000-byte objects of a dropped list have been
         * seen kept by one full collection). */
        int tracked = many_count < 64 ? many_count : 64;
        if (tracked >= 8) {
            int alive = count_alive(many_hidden, tracked);
            ck_assert_msg(alive <= tracked / 4 + 1, "%d of %d objects of a dropped list survived", alive, tracked);
        }
    }
}
END_TEST

/* ---- stacks and registers of stopped threads ---- */

static volatile int spin_ready, spin_stop, spin_ok;

/* ThreadSanitizer delivers an asynchronous signal only when the thread
 * next enters the runtime (a call it intercepts), never in a loop without
 * calls: there the spinning threads yield, which keeps the reference in
 * the callee-saved register all the same. */
#if defined(__SANITIZE_THREAD__)
#define SPIN_PAUSE() usleep(50)
#else
#define SPIN_PAUSE() ((void)0)
#endif

/* Hold the only reference in a callee-saved register while spinning
 * without a call: the collector must take it from the stopped thread's
 * registers. */
static void *register_holder(void *arg) {
    (void)arg;
    unsigned char *p = GC_malloc(72);
    fill(p, 72, 9);
#if defined(__x86_64__)
    register uintptr_t r __asm__("r12") = (uintptr_t)p;
#else
    register uintptr_t r = (uintptr_t)p;
#endif
    p = NULL;
    mdn_test_clear_stack();
    __atomic_store_n(&spin_ready, 1, __ATOMIC_RELEASE);
    while (!__atomic_load_n(&spin_stop, __ATOMIC_ACQUIRE)) {
        __asm__ volatile("" : "+r"(r));
        SPIN_PAUSE();
    }
    spin_ok = GC_base((void *)r) == (void *)r && check_fill((unsigned char *)r, 72, 9);
    return NULL;
}

/* Hold the only reference in a stack slot while spinning. */
static void *stack_holder(void *arg) {
    (void)arg;
    volatile uintptr_t slot[4];
    slot[2] = (uintptr_t)GC_malloc(72);
    fill((unsigned char *)slot[2], 72, 5);
    mdn_test_clear_stack();
    __atomic_store_n(&spin_ready, 1, __ATOMIC_RELEASE);
    while (!__atomic_load_n(&spin_stop, __ATOMIC_ACQUIRE))
        SPIN_PAUSE();
    spin_ok = GC_base((void *)slot[2]) == (void *)slot[2] && check_fill((unsigned char *)slot[2], 72, 5);
    return NULL;
}

static void run_holder(void *(*fn)(void *)) {
    GC_init();
    spin_ready = spin_stop = spin_ok = 0;
    pthread_t th;
    ck_assert_int_eq(GC_pthread_create(&th, NULL, fn, NULL), 0);
    while (!__atomic_load_n(&spin_ready, __ATOMIC_ACQUIRE))
        sched_yield();
    uint64_t s = test_seed("holder");
    garbage_rounds(&s, 4, GARBAGE, 100);
    __atomic_store_n(&spin_stop, 1, __ATOMIC_RELEASE);
    ck_assert_int_eq(GC_pthread_join(th, NULL), 0);
    ck_assert_msg(spin_ok, "the object held by the stopped thread was reclaimed or changed");
}

START_TEST(register_of_a_stopped_thread_is_a_root) { run_holder(register_holder); }
END_TEST

START_TEST(stack_of_a_stopped_thread_is_a_root) { run_holder(stack_holder); }
END_TEST

START_TEST(own_stack_is_a_root) {
    volatile uintptr_t slot[3];
    slot[1] = (uintptr_t)GC_malloc(128);
    fill((unsigned char *)slot[1], 128, 7);
    uint64_t s = test_seed("own_stack_is_a_root");
    for (int j = 0; j < 3 * GARBAGE / 2; j++)
        GC_malloc(1 + rnd(&s) % 100);
    collect();
    ck_assert_ptr_eq(GC_base((void *)slot[1]), (void *)slot[1]);
    ck_assert(check_fill((unsigned char *)slot[1], 128, 7));
}
END_TEST

/* ---- many threads allocating and collecting ---- */

typedef struct node {
    struct node *next;
    unsigned long value;
    char *text;
} node;

static void *worker(void *arg) {
    unsigned long id = (unsigned long)(uintptr_t)arg;
    uint64_t s = 0x1234567ULL + id * 7919u;
    for (int round = 0; round < ROUNDS; round++) {
        node *head = NULL;
        for (unsigned long i = 0; i < LIST; i++) {
            node *n = GC_MALLOC(sizeof *n);
            n->next = head;
            n->value = id * 1000000u + i;
            n->text = GC_malloc_atomic(16);
            snprintf(n->text, 16, "%lu", i);
            head = n;
            if (rnd(&s) % 64 == 0)
                GC_malloc(1 + rnd(&s) % 20000); /* garbage, some large */
        }
        if (round % 4 == (int)(id % 4))
            GC_gcollect();
        unsigned long expect = LIST;
        for (node *n = head; n; n = n->next) {
            expect--;
            char want[16];
            snprintf(want, sizeof want, "%lu", expect);
            if (n->value != id * 1000000u + expect || strcmp(n->text, want) != 0)
                return (void *)1;
        }
        if (expect != 0)
            return (void *)1;
    }
    return NULL;
}

START_TEST(many_threads_allocate_and_collect) {
    GC_allow_register_threads();
    pthread_t th[NTHREADS];
    for (unsigned long i = 0; i < NTHREADS; i++)
        ck_assert_int_eq(GC_pthread_create(&th[i], NULL, worker, (void *)(uintptr_t)i), 0);
    void *r = worker((void *)(uintptr_t)NTHREADS);
    ck_assert_ptr_null(r);
    for (int i = 0; i < NTHREADS; i++) {
        ck_assert_int_eq(GC_pthread_join(th[i], &r), 0);
        ck_assert_msg(r == NULL, "thread %d saw a corrupted list", i);
    }
    ck_assert_uint_gt(GC_get_gc_no(), 0);
}
END_TEST

static void *registered_by_hand(void *arg) {
    struct GC_stack_base sb;
    ck_assert_int_eq(GC_get_stack_base(&sb), GC_SUCCESS);
    ck_assert_int_eq(GC_register_my_thread(&sb), GC_SUCCESS);
    ck_assert_int_eq(GC_register_my_thread(&sb), GC_DUPLICATE);
    ck_assert(GC_thread_is_registered());
    void *r = worker(arg);
    ck_assert_int_eq(GC_unregister_my_thread(), GC_SUCCESS);
    ck_assert(!GC_thread_is_registered());
    return r;
}

START_TEST(threads_registered_by_hand) {
    GC_allow_register_threads();
    pthread_t th;
    /* GC_pthread_create would register the thread itself: start it plain. */
    int (*plain_create)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *) =
        (int (*)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *))dlsym(RTLD_DEFAULT,
                                                                                        "pthread_create");
    ck_assert_ptr_nonnull((void *)plain_create);
    ck_assert_int_eq(plain_create(&th, NULL, registered_by_hand, (void *)(uintptr_t)3), 0);
    void *r = (void *)1;
    ck_assert_int_eq(GC_pthread_join(th, &r), 0);
    ck_assert_ptr_null(r);
}
END_TEST

/* ---- the rest of the API ---- */

static void *with_base(struct GC_stack_base *sb, void *arg) {
    ck_assert_ptr_nonnull(sb->mem_base);
    ck_assert((uintptr_t)sb->mem_base > (uintptr_t)&sb);
    return arg;
}
static void *blocking(void *arg) { return arg; }
static void *active(void *arg) {
    void *p = GC_malloc(10);
    ck_assert_ptr_nonnull(p);
    return arg;
}
static void *in_blocking(void *arg) { return GC_call_with_gc_active(active, arg); }
static int start_calls, event_starts, event_ends;
static void on_start(void) { start_calls++; }
static void on_event(GC_EventType e) {
    event_starts += e == GC_EVENT_START;
    event_ends += e == GC_EVENT_END;
}

/* .cons.bdw-align: every allocation entry point returns 16-byte aligned
 * memory, as Boehm GC and malloc do on x86-64 (programs load such memory
 * with aligned SSE instructions), for every size through the fast path,
 * the slow path and the large-object space, fresh and after collections
 * reused it; and GC_size covers the request. `way` picks the entry point. */
static NOINLINE void *alloc_by(int way, size_t n) {
    static int kind = -1;
    switch (way) {
    case 0:
        return GC_malloc(n);
    case 1:
        return GC_malloc_atomic(n);
    case 2:
        return GC_malloc_ignore_off_page(n);
    case 3:
        return GC_malloc_atomic_ignore_off_page(n);
    case 4:
        return GC_malloc_explicitly_typed(n < sizeof(GC_word) ? sizeof(GC_word) : n,
                                          GC_make_descriptor((GC_word[]){1}, 1));
    case 5:
        return GC_memalign(16, n);
    case 6:
        return GC_realloc(GC_malloc(n / 2 + 1), n ? n : 1); /* a size of 0 frees */
    case 7: {
        if (kind < 0)
            kind = (int)GC_new_kind(GC_new_free_list(), GC_DS_LENGTH, 1, 1);
        return GC_generic_malloc(n, kind);
    }
    default:
        return GC_malloc_uncollectable(n);
    }
}
#define ALLOC_WAYS 9

static void check_alignment_of_every_entry_point(void) {
    static const size_t large[] = {4095, 4096, 8184, 8185, 8192, 8193, 20000, 1 << 20};
    for (int round = 0; round < 3; round++) {
        for (int way = 0; way < ALLOC_WAYS; way++) {
            for (size_t n = 0; n < 600 + sizeof large / sizeof large[0]; n++) {
                size_t bytes = n < 600 ? n : large[n - 600];
                unsigned char *p = alloc_by(way, bytes);
                ck_assert_ptr_nonnull(p);
                ck_assert_msg((uintptr_t)p % 16 == 0, "entry point %d: %zu bytes at %p are not 16-byte aligned", way,
                              bytes, (void *)p);
                ck_assert_uint_ge(GC_size(p), bytes);
                ck_assert_ptr_eq(GC_base(p), p);
                if (way == 8)
                    GC_free(p);
            }
        }
        char *s = GC_strdup("sixteen");
        ck_assert_uint_eq((uintptr_t)s % 16, 0);
        for (void *q = GC_malloc_many(40); q; q = GC_NEXT(q))
            ck_assert_uint_eq((uintptr_t)q % 16, 0);
        collect(); /* the next round takes memory this one freed */
    }
}

START_TEST(every_entry_point_returns_16_byte_aligned_memory) {
    GC_INIT();
    check_alignment_of_every_entry_point();
}
END_TEST

/* The same with every allocation on the slow path and many collections. */
START_TEST(every_entry_point_is_aligned_under_stress) {
    setenv("MDN_STRESS", "64K", 1);
    GC_INIT();
    check_alignment_of_every_entry_point();
}
END_TEST

START_TEST(strings_alignment_and_queries) {
    GC_INIT();
    char *s = GC_strdup("midden");
    ck_assert_str_eq(s, "midden");
    ck_assert_str_eq(GC_strndup("compost heap", 7), "compost");
    ck_assert_str_eq(GC_strndup("ab", 10), "ab");
    for (size_t a = 16; a <= (1 << 16); a <<= 1) {
        char *p = GC_memalign(a, 100);
        ck_assert_uint_eq((uintptr_t)p % a, 0);
        ck_assert_ptr_eq(GC_base(p + 99), p);
        fill((unsigned char *)p, 100, 4);
    }
    void *q = NULL;
    ck_assert_int_eq(GC_posix_memalign(&q, 256, 10), 0);
    ck_assert_uint_eq((uintptr_t)q % 256, 0);
    ck_assert(GC_is_heap_ptr(s));
    int local;
    ck_assert(!GC_is_heap_ptr(&local));
    ck_assert_ptr_null(GC_base(&local));
    GC_word before = GC_get_gc_no();
    GC_set_start_callback(on_start);
    GC_set_on_collection_event(on_event);
    GC_gcollect();
    ck_assert_ptr_eq((void *)GC_get_on_collection_event(), (void *)on_event);
    GC_set_on_collection_event(NULL);
    ck_assert_int_eq(event_starts, 1);
    ck_assert_int_eq(event_ends, 1);
    ck_assert_int_ge(GC_get_parallel(), 0);
    /* .cons.bdw-markers: one marker per processor (at most 8) unless told. */
    if (!getenv("GC_MARKERS") && !getenv("MDN_GC_THREADS") && !getenv("MDN_OPTIONS")) {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        ck_assert_int_eq(GC_get_parallel(), (cpus < 1 ? 1 : cpus > 8 ? 8 : cpus) - 1);
    }
    ck_assert_ptr_eq((void *)GC_get_start_callback(), (void *)on_start);
    GC_set_start_callback(NULL);
    ck_assert_int_gt(start_calls, 0);
    ck_assert_uint_gt(GC_get_gc_no(), before);
    ck_assert_uint_gt(GC_get_heap_size(), 0);
    ck_assert_uint_gt(GC_get_total_bytes(), 0);
    GC_word hs = 0, fb = 0, um = 1, since = 0, total = 0;
    GC_get_heap_usage_safe(&hs, &fb, &um, &since, &total);
    ck_assert_uint_gt(hs, 0);
    ck_assert_uint_gt(total, 0);
    ck_assert_uint_gt(GC_get_version(), 0);
    GC_disable();
    GC_enable();
    ck_assert_int_eq(GC_expand_hp(1 << 20), 1);
    GC_set_free_space_divisor(4);
    ck_assert_int_eq(GC_call_with_stack_base(with_base, (void *)7) == (void *)7, 1);
    ck_assert_ptr_eq(GC_do_blocking(blocking, (void *)8), (void *)8);
    ck_assert_ptr_eq(GC_do_blocking(in_blocking, (void *)9), (void *)9);
    ck_assert_int_eq(GC_get_suspend_signal() > 0, 1);
    ck_assert_int_ne(GC_get_suspend_signal(), GC_get_thr_restart_signal());
    ck_assert_int_eq(GC_collect_a_little(), 0);
    ck_assert_int_eq(GC_invoke_finalizers(), 0);
    ck_assert_ptr_nonnull(GC_malloc_explicitly_typed(64, GC_make_descriptor((GC_word[]){5}, 3)));
    ck_assert_ptr_nonnull(GC_calloc_explicitly_typed(10, 24, GC_make_descriptor((GC_word[]){1}, 1)));
    ck_assert_ptr_nonnull(GC_debug_malloc(20, "f", 1));
    GC_debug_free(GC_debug_malloc_atomic(20, "f", 2));
}
END_TEST

/* ---- the heap grows on demand, within GC_MAXIMUM_HEAP_SIZE ---- */

static int oom_calls;
static void *count_oom(size_t bytes) {
    (void)bytes;
    oom_calls++;
    return NULL;
}

enum { HELD_MAX = 64 };
static void *held_blocks[HELD_MAX];

/* In a fresh child (the variables are read by GC_init): the heap grows past
 * its first limit on demand, GC_expand_hp grows it now, and it stops at the
 * maximum, where the out-of-memory function is called. As Boehm GC's, it
 * never shrinks (docs/design/sizing.md .sizing.keep): once at the maximum
 * it stays there, and GC_expand_hp fails even after the maximum is raised
 * past what the heap reserved, which cuts it. */
static int child_grows_within_maximum(void) {
    setenv("GC_INITIAL_HEAP_SIZE", "8M", 1);
    setenv("GC_MAXIMUM_HEAP_SIZE", "48M", 1);
    GC_init();
    GC_set_oom_fn(count_oom);
    if (GC_expand_hp(4 << 20) != 1)
        return 5;
    size_t before = GC_get_heap_size();
    int held = 0;
    while (held < HELD_MAX) {
        void *p = GC_malloc_atomic(1 << 20);
        if (!p)
            break;
        held_blocks[held++] = p;
    }
    if (held < 20 || held > 48 || oom_calls != 1) {
        fprintf(stderr, "held %d MiB before out of memory (%d calls)\n", held, oom_calls);
        return 1;
    }
    if (GC_get_heap_size() <= before) {
        fprintf(stderr, "the heap did not grow: %zu then %zu\n", before, GC_get_heap_size());
        return 2;
    }
    /* Freed, the memory is there again; at the maximum the heap cannot expand. */
    for (int i = 0; i < held; i++)
        GC_free(held_blocks[i]);
    GC_gcollect();
    if (!GC_malloc_atomic(1 << 20))
        return 3;
    if (GC_expand_hp(4 << 20) != 0)
        return 4;
    GC_set_max_heap_size((GC_word)1 << 40); /* raised: cut to what the heap reserved */
    if (GC_expand_hp(4 << 20) != 0)
        return 6;
    return 0;
}

START_TEST(heap_grows_within_its_maximum) {
    pid_t pid = fork();
    if (pid == 0)
        _exit(child_grows_within_maximum());
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child failed with status %d", status);
}
END_TEST

/* In a fresh child with no sizing variables set (docs/design/conservative.md
 * .cons.bdw-budget): the first limit is 8 MiB, and while everything stays
 * live each collection raises the limit by at most 20%, so a list that
 * grows to 40 MiB is collected about ten times on the way (a factor of
 * 150% alone would collect it five times) and the heap ends close to it. */
static void **grown_chain;
static int child_limit_grows_in_steps(void) {
    unsetenv("GC_INITIAL_HEAP_SIZE");
    unsetenv("GC_MAXIMUM_HEAP_SIZE");
    unsetenv("GC_FREE_SPACE_DIVISOR");
    unsetenv("MDN_OPTIONS");
    GC_init();
    GC_word first = GC_get_gc_no();
    size_t node = 24, step = 32; /* 24 bytes take 32 with the header word */
    int collected_by_9m = 0;
    for (size_t live = 0; live < ((size_t)40 << 20); live += step) {
        void **n = GC_MALLOC(node);
        if (!n)
            return 1;
        n[0] = grown_chain;
        grown_chain = n;
        if (!collected_by_9m && live >= ((size_t)9 << 20))
            collected_by_9m = GC_get_gc_no() > first ? 1 : -1;
    }
    GC_word collections = GC_get_gc_no() - first;
    size_t heap = GC_get_heap_size();
    if (collected_by_9m != 1) {
        fprintf(stderr, "no collection in the first 9 MiB\n");
        return 2;
    }
    if (collections < 8) {
        fprintf(stderr, "%lu collections while the list grew to 40 MiB\n", (unsigned long)collections);
        return 3;
    }
    if (heap > ((size_t)56 << 20)) {
        fprintf(stderr, "heap %zu for a 40 MiB list\n", heap);
        return 4;
    }
    return 0;
}

START_TEST(limit_grows_in_steps) {
    pid_t pid = fork();
    if (pid == 0)
        _exit(child_limit_grows_in_steps());
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child failed with status %d", status);
}
END_TEST

/* ---- fork: the library's atfork handlers stop and restart its threads ---- */

#if !defined(__SANITIZE_THREAD__) /* see main */
static volatile int fork_spin_stop, fork_spin_started;
static void *fork_spinner(void *arg) {
    (void)arg;
    while (!__atomic_load_n(&fork_spin_stop, __ATOMIC_ACQUIRE)) {
        GC_malloc(24);
        __atomic_store_n(&fork_spin_started, 1, __ATOMIC_RELEASE);
        SPIN_PAUSE();
    }
    return NULL;
}

START_TEST(fork_with_threads_keeps_both_heaps_working) {
    GC_init();
    fork_spin_stop = 0;
    pthread_t th;
    fork_spin_started = 0;
    ck_assert_int_eq(GC_pthread_create(&th, NULL, fork_spinner, NULL), 0);
    /* Fork once the other thread is a registered mutator in its allocation
     * loop, not while it is still starting (inside the C library's or a
     * sanitizer's allocator, whose locks a child would inherit held). */
    while (!__atomic_load_n(&fork_spin_started, __ATOMIC_ACQUIRE))
        sched_yield();
    void **keep = GC_malloc(16);
    keep[0] = GC_strdup("before the fork");
    pid_t pid = fork();
    if (pid == 0) {
        /* Only this thread exists: allocating and collecting must work. */
        for (int i = 0; i < 2000; i++)
            GC_malloc(100);
        GC_gcollect();
        _exit(strcmp(keep[0], "before the fork") == 0 && GC_base(keep[0]) == keep[0] ? 0 : 1);
    }
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the child's heap failed (status %d)", status);
    GC_gcollect(); /* the parent's world runs again and collects */
    __atomic_store_n(&fork_spin_stop, 1, __ATOMIC_RELEASE);
    ck_assert_int_eq(GC_pthread_join(th, NULL), 0);
    ck_assert_str_eq(keep[0], "before the fork");
}
END_TEST
#endif

/* ---- finalizers ---- */

enum { NFINAL = 200 };
static int final_runs[NFINAL];   /* per object: how many times its finalizer ran */
static int final_order[NFINAL];  /* per object: the sequence number of its run */
static int final_seq;
static uintptr_t final_hidden[NFINAL];

static void count_final(void *obj, void *cd) {
    int i = (int)(intptr_t)cd;
    ck_assert_ptr_eq(obj, unhide(final_hidden[i]));
    ck_assert(check_fill((unsigned char *)obj + sizeof(void *), 32, (unsigned char)i)); /* intact */
    final_runs[i]++;
    final_order[i] = ++final_seq;
}

static void final_reset(void) {
    memset(final_runs, 0, sizeof final_runs);
    memset(final_order, 0, sizeof final_order);
    final_seq = 0;
}

/* NFINAL objects with a finalizer each; object i + 1 is reached from object
 * i when `chain`. Only hidden addresses remain. */
static NOINLINE void make_finalizable(int chain, int no_order) {
    void **prev = NULL;
    for (int i = NFINAL - 1; i >= 0; i--) {
        void **o = GC_malloc(sizeof(void *) + 32);
        fill((unsigned char *)o + sizeof(void *), 32, (unsigned char)i);
        o[0] = chain ? prev : NULL;
        final_hidden[i] = hide(o);
        if (no_order)
            GC_register_finalizer_no_order(o, count_final, (void *)(intptr_t)i, NULL, NULL);
        else
            GC_register_finalizer(o, count_final, (void *)(intptr_t)i, NULL, NULL);
        prev = o;
    }
}

static int final_total(void) {
    int n = 0;
    for (int i = 0; i < NFINAL; i++) {
        ck_assert_int_le(final_runs[i], 1);
        n += final_runs[i];
    }
    return n;
}

START_TEST(finalizers_run_once_after_the_collection) {
    final_reset();
    make_finalizable(0, 1);
    collect(); /* GC_gcollect runs the finalizers it queued (finalize_on_demand is off) */
    int first = final_total();
    ck_assert_msg(first >= NFINAL * 9 / 10, "%d of %d finalizers ran", first, NFINAL);
    collect();
    collect();
    ck_assert_int_ge(final_total(), first); /* none twice (final_total checks) */
    ck_assert_int_eq(GC_should_invoke_finalizers(), 0);
}
END_TEST

START_TEST(ordered_finalizers_run_from_the_reaching_object) {
    final_reset();
    make_finalizable(1, 0); /* 0 reaches 1 reaches 2 ... */
    for (int round = 0; round < NFINAL + 5 && final_total() < NFINAL * 9 / 10; round++)
        collect();
    int ran = final_total();
    ck_assert_msg(ran >= NFINAL * 9 / 10, "%d of %d ordered finalizers ran", ran, NFINAL);
    /* Whenever both ran, the reaching object's ran first. */
    for (int i = 0; i + 1 < NFINAL; i++)
        if (final_runs[i] && final_runs[i + 1])
            ck_assert_msg(final_order[i] < final_order[i + 1], "object %d finalized before object %d, which reaches it",
                          i + 1, i);
}
END_TEST

static int notified;
static void on_finalizers_ready(void) { notified++; }

START_TEST(finalize_on_demand_notifies_and_waits) {
    final_reset();
    notified = 0;
    GC_set_finalize_on_demand(1);
    GC_set_finalizer_notifier(on_finalizers_ready);
    make_finalizable(0, 1);
    collect();
    GC_malloc(16); /* where Boehm GC notifies */
    ck_assert_int_ge(notified, 1);
    ck_assert_int_eq(final_total(), 0); /* nothing runs until asked */
    ck_assert_int_eq(GC_should_invoke_finalizers(), 1);
    int n = GC_invoke_finalizers();
    ck_assert_int_eq(n, final_total());
    ck_assert_msg(n >= NFINAL * 9 / 10, "%d of %d finalizers ran", n, NFINAL);
    ck_assert_int_eq(GC_should_invoke_finalizers(), 0);
    GC_set_finalize_on_demand(0);
    GC_set_finalizer_notifier(0);
}
END_TEST

static void other_final(void *obj, void *cd) { (void)obj, (void)cd; final_seq += 1000; }

/* Registering again replaces the finalizer and returns the old one; a null
 * function cancels it. */
static NOINLINE void make_replaced(void) {
    for (int i = 0; i < NFINAL; i++) {
        void **o = GC_malloc(sizeof(void *) + 32);
        fill((unsigned char *)o + sizeof(void *), 32, (unsigned char)i);
        final_hidden[i] = hide(o);
        GC_finalization_proc ofn = 0;
        void *ocd = 0;
        GC_register_finalizer(o, other_final, (void *)1, &ofn, &ocd);
        ck_assert(ofn == 0 && ocd == 0);
        GC_register_finalizer(o, count_final, (void *)(intptr_t)i, &ofn, &ocd);
        ck_assert(ofn == other_final && ocd == (void *)1);
        if (i % 2 == 0) {
            GC_register_finalizer(o, 0, 0, &ofn, &ocd);
            ck_assert(ofn == count_final && ocd == (void *)(intptr_t)i);
        }
    }
}

START_TEST(finalizers_are_replaced_and_cancelled) {
    final_reset();
    make_replaced();
    collect();
    collect();
    ck_assert_int_lt(final_seq, 1000); /* the replaced function never ran */
    int odd = 0;
    for (int i = 0; i < NFINAL; i++) {
        if (i % 2 == 0)
            ck_assert_int_eq(final_runs[i], 0);
        else
            odd += final_runs[i];
    }
    ck_assert_msg(odd >= NFINAL / 2 * 9 / 10, "%d of %d finalizers ran", odd, NFINAL / 2);
}
END_TEST

static void **resurrected[NFINAL];
static void resurrect(void *obj, void *cd) {
    resurrected[(intptr_t)cd] = obj;
    count_final(obj, cd);
}
static NOINLINE void make_resurrecting(void) {
    for (int i = 0; i < NFINAL; i++) {
        void **o = GC_malloc(sizeof(void *) + 32);
        fill((unsigned char *)o + sizeof(void *), 32, (unsigned char)i);
        o[0] = GC_malloc(24); /* what it reaches stays too */
        memset(o[0], 0x5a, 24);
        final_hidden[i] = hide(o);
        GC_register_finalizer(o, resurrect, (void *)(intptr_t)i, NULL, NULL);
    }
}

START_TEST(finalizers_may_resurrect) {
    final_reset();
    memset(resurrected, 0, sizeof resurrected);
    make_resurrecting();
    collect();
    garbage_rounds(&(uint64_t){7}, 3, GARBAGE, 200);
    int back = 0;
    for (int i = 0; i < NFINAL; i++) {
        if (!resurrected[i])
            continue;
        back++;
        void **o = resurrected[i];
        ck_assert_ptr_eq(GC_base(o), o);
        ck_assert(check_fill((unsigned char *)o + sizeof(void *), 32, (unsigned char)i));
        ck_assert_ptr_eq(GC_base(o[0]), o[0]);
        ck_assert_int_eq(((unsigned char *)o[0])[23], 0x5a);
    }
    ck_assert_msg(back >= NFINAL * 9 / 10, "%d of %d objects resurrected", back, NFINAL);
    ck_assert_int_eq(final_total(), back); /* each once */
}
END_TEST

/* ---- disappearing links ---- */

enum { NLINK = 200 };
static uintptr_t short_links[NLINK], long_links[NLINK]; /* in bss: roots, but hidden */
static void *link_keep[NLINK];

static NOINLINE void make_linked(void) {
    for (int i = 0; i < NLINK; i++) {
        unsigned char *o = GC_malloc(40);
        fill(o, 40, (unsigned char)i);
        short_links[i] = hide(o);
        long_links[i] = hide(o);
        ck_assert_int_eq(GC_general_register_disappearing_link((void **)&short_links[i], o), GC_SUCCESS);
        ck_assert_int_eq(GC_general_register_disappearing_link((void **)&short_links[i], o), GC_DUPLICATE);
        ck_assert_int_eq(GC_register_long_link((void **)&long_links[i], o), GC_SUCCESS);
        link_keep[i] = i % 2 ? o : NULL;
    }
}

START_TEST(disappearing_links_clear_when_the_object_dies) {
    make_linked();
    collect();
    collect();
    int cleared = 0;
    for (int i = 0; i < NLINK; i++) {
        if (i % 2) {
            ck_assert_msg(short_links[i] == hide(link_keep[i]), "link %d of a live object changed", i);
            ck_assert_msg(long_links[i] == hide(link_keep[i]), "long link %d of a live object changed", i);
            ck_assert(check_fill(link_keep[i], 40, (unsigned char)i));
        } else {
            ck_assert_msg((short_links[i] == 0) == (long_links[i] == 0), "link %d: short and long disagree", i);
            cleared += short_links[i] == 0;
        }
    }
    ck_assert_msg(cleared >= NLINK / 2 * 9 / 10, "%d of %d links of dead objects cleared", cleared, NLINK / 2);
    for (int i = 1; i < NLINK; i += 2) {
        ck_assert_int_eq(GC_unregister_disappearing_link((void **)&short_links[i]), 1);
        ck_assert_int_eq(GC_unregister_disappearing_link((void **)&short_links[i]), 0);
        ck_assert_int_eq(GC_unregister_long_link((void **)&long_links[i]), 1);
        link_keep[i] = NULL;
    }
    collect(); /* the unregistered links are left alone */
    for (int i = 1; i < NLINK; i += 2)
        ck_assert(short_links[i] != 0 && long_links[i] != 0);
}
END_TEST

/* A short link is cleared before finalization, a long one only once the
 * finalized object is really gone. */
static void note_final(void *obj, void *cd) {
    (void)obj;
    final_runs[(intptr_t)cd]++;
}
static NOINLINE void make_finalized_links(void) {
    for (int i = 0; i < NLINK; i++) {
        unsigned char *o = GC_malloc(40);
        short_links[i] = hide(o);
        long_links[i] = hide(o);
        GC_general_register_disappearing_link((void **)&short_links[i], o);
        GC_register_long_link((void **)&long_links[i], o);
        GC_register_finalizer_no_order(o, note_final, (void *)(intptr_t)i, NULL, NULL);
    }
}

START_TEST(long_links_outlive_finalization) {
    final_reset();
    make_finalized_links();
    collect(); /* finalizers queued and run; short links cleared, long ones kept */
    int short_cleared = 0, long_kept = 0, ran = 0;
    for (int i = 0; i < NLINK; i++) {
        ran += final_runs[i];
        short_cleared += short_links[i] == 0;
        long_kept += final_runs[i] && long_links[i] != 0;
        if (final_runs[i])
            ck_assert_msg(short_links[i] == 0, "object %d was finalized but its short link is set", i);
    }
    ck_assert_msg(ran >= NLINK * 9 / 10, "%d of %d finalizers ran", ran, NLINK);
    ck_assert_int_eq(long_kept, ran);
    collect(); /* now the finalized objects are gone, but for stale copies of a few addresses */
    int long_cleared = 0;
    for (int i = 0; i < NLINK; i++)
        long_cleared += final_runs[i] && long_links[i] == 0;
    ck_assert_msg(long_cleared >= ran * 9 / 10, "%d of %d long links of finalized objects cleared", long_cleared, ran);
}
END_TEST

/* The moves of one kind of link: GC_NOT_FOUND, GC_DUPLICATE and
 * GC_SUCCESS as Boehm GC answers them, and the moved registration is the
 * one cleared when the object dies. */
static void check_link_moves(int (*reg)(void **, const void *), int (*move)(void **, void **),
                             int (*unreg)(void **)) {
    static uintptr_t a, b, c;
    a = b = c = 0;
    void *o = GC_malloc(24);
    link_keep[0] = o;
    a = hide(o), c = hide(o);
    ck_assert_int_eq(reg((void **)&a, o), GC_SUCCESS);
    ck_assert_int_eq(reg((void **)&c, o), GC_SUCCESS);
    ck_assert_int_eq(move((void **)&b, (void **)&a), GC_NOT_FOUND);
    ck_assert_int_eq(move((void **)&a, (void **)&c), GC_DUPLICATE);
    ck_assert_int_eq(move((void **)&a, (void **)&a), GC_SUCCESS);
    ck_assert_int_eq(move((void **)&a, (void **)&b), GC_SUCCESS);
    b = a;
    ck_assert_int_eq(unreg((void **)&a), 0);
    link_keep[0] = NULL;
    o = NULL;
    collect();
    collect();
    /* The moved registration clears b, not a. */
    ck_assert_msg(b == 0, "the moved link was not cleared");
    ck_assert(a != 0);
    ck_assert_int_eq(unreg((void **)&c), 0); /* cleared: no longer registered */
}

START_TEST(links_move_and_report_duplicates) {
    check_link_moves(GC_general_register_disappearing_link, GC_move_disappearing_link,
                     GC_unregister_disappearing_link);
}
END_TEST

START_TEST(long_links_move_and_report_duplicates) {
    check_link_moves(GC_register_long_link, GC_move_long_link, GC_unregister_long_link);
}
END_TEST

typedef void (*register_fn)(void *, GC_finalization_proc, void *, GC_finalization_proc *, void **);

/* NFINAL objects registered with `reg`, each referring to itself when
 * `self_ref`, made by GC_debug_malloc when `debug`. */
static NOINLINE void make_finalizable_by(register_fn reg, int self_ref, int debug) {
    for (int i = 0; i < NFINAL; i++) {
        size_t bytes = sizeof(void *) + 32;
        void **o = debug ? GC_debug_malloc(bytes, __FILE__, __LINE__) : GC_malloc(bytes);
        fill((unsigned char *)o + sizeof(void *), 32, (unsigned char)i);
        o[0] = self_ref ? o : NULL;
        final_hidden[i] = hide(o);
        reg(o, count_final, (void *)(intptr_t)i, NULL, NULL);
    }
}

/* Most of those objects are finalized once they are dropped. */
static void check_finalized_by(register_fn reg, int self_ref, int debug) {
    final_reset();
    make_finalizable_by(reg, self_ref, debug);
    collect();
    collect();
    GC_invoke_finalizers();
    int n = final_total();
    ck_assert_msg(n >= NFINAL * 9 / 10, "%d of %d objects finalized (self-referencing %d, debug %d)", n, NFINAL,
                  self_ref, debug);
}

/* GC_register_finalizer_ignore_self: an object that refers to itself is
 * still finalized (the pointer to itself does not keep it). */
START_TEST(ignore_self_finalizers_run_on_self_referencing_objects) {
    check_finalized_by(GC_register_finalizer_ignore_self, 1, 0);
}
END_TEST

/* Settings read back what was set; the out-of-memory function answers a
 * request that cannot be met; GC_call_with_alloc_lock calls its function;
 * GC_gcollect_and_unmap collects and keeps what is reachable; GC_dump
 * writes a report to standard output. */
static char oom_answer[16];
static size_t oom_asked;
static void *answer_oom(size_t bytes) {
    oom_asked = bytes;
    return oom_answer;
}
static int warnings;
static char last_warning[128];
static void record_warn(char *msg, GC_word arg) {
    warnings++;
    snprintf(last_warning, sizeof last_warning, "%s", msg);
    (void)arg;
}
static void *locked_call(void *cd) { return (char *)cd + 1; }

START_TEST(settings_callbacks_and_reports) {
    GC_INIT();
    /* A default warning procedure, and the default out-of-memory answer:
     * NULL, with a warning through it. */
    GC_warn_proc old_warn = GC_get_warn_proc();
    ck_assert_ptr_nonnull((void *)old_warn);
    GC_set_warn_proc(record_warn);
    ck_assert_ptr_eq((void *)GC_get_warn_proc(), (void *)record_warn);
    size_t huge = (size_t)1 << 60;
    ck_assert_ptr_null(GC_malloc(huge));
    ck_assert_int_ge(warnings, 1);
    ck_assert_msg(strstr(last_warning, "Out of Memory") != NULL, "warning: %s", last_warning);

    GC_oom_func old_oom = GC_get_oom_fn();
    GC_set_oom_fn(answer_oom);
    ck_assert_ptr_eq((void *)GC_get_oom_fn(), (void *)answer_oom);
    int before_warnings = warnings;
    /* Through an integer: gc.h declares GC_malloc malloc-like, so the
     * compiler may assume its result equals no other object's address. */
    volatile uintptr_t answered = (uintptr_t)GC_malloc(huge);
    ck_assert_uint_eq(answered, (uintptr_t)oom_answer);
    ck_assert_uint_ge(oom_asked, huge);
    ck_assert_int_eq(warnings, before_warnings); /* the function answered instead */
    GC_set_oom_fn(old_oom);
    ck_assert_ptr_eq((void *)GC_get_oom_fn(), (void *)old_oom);
    GC_set_warn_proc(old_warn);
    ck_assert_ptr_eq((void *)GC_get_warn_proc(), (void *)old_warn);

    int java = GC_get_java_finalization();
    GC_set_java_finalization(!java);
    ck_assert_int_eq(GC_get_java_finalization(), !java);
    GC_set_java_finalization(java);
    ck_assert_int_eq(GC_get_java_finalization(), java);

    static char text[] = "locked";
    ck_assert_ptr_eq(GC_call_with_alloc_lock(locked_call, text), text + 1);

    char *keep = GC_strdup("kept across GC_gcollect_and_unmap");
    GC_word before = GC_get_gc_no();
    GC_gcollect_and_unmap();
    ck_assert_uint_gt(GC_get_gc_no(), before);
    ck_assert_str_eq(keep, "kept across GC_gcollect_and_unmap");
    ck_assert_uint_le(GC_get_free_bytes(), GC_get_heap_size());

    fflush(stdout);
    int saved = dup(1);
    FILE *out = tmpfile();
    ck_assert(saved >= 0 && out != NULL);
    ck_assert_int_ge(dup2(fileno(out), 1), 0);
    GC_dump();
    fflush(stdout);
    ck_assert_int_ge(dup2(saved, 1), 0);
    close(saved);
    off_t written = lseek(fileno(out), 0, SEEK_END);
    fclose(out);
    ck_assert_msg(written > 0, "GC_dump wrote nothing");
}
END_TEST

/* GC_pthread_sigmask never blocks the signal that stops threads: a thread
 * that asked to block it (and another signal) can still be stopped by a
 * collection, and the other signal is blocked. */
static volatile int masked_ready, masked_stop;
static void *masked_thread(void *arg) {
    (void)arg;
    sigset_t set, now;
    sigemptyset(&set);
    sigaddset(&set, GC_get_suspend_signal());
    sigaddset(&set, SIGWINCH);
    ck_assert_int_eq(GC_pthread_sigmask(SIG_BLOCK, &set, NULL), 0);
    ck_assert_int_eq(pthread_sigmask(SIG_BLOCK, NULL, &now), 0);
    int ok = sigismember(&now, SIGWINCH) == 1 && sigismember(&now, GC_get_suspend_signal()) == 0;
    __atomic_store_n(&masked_ready, 1, __ATOMIC_RELEASE);
    void **list = NULL;
    while (!__atomic_load_n(&masked_stop, __ATOMIC_ACQUIRE)) {
        void **n = GC_malloc(2 * sizeof(void *));
        n[0] = list;
        list = n;
        if (((uintptr_t)n >> 4) % 1024 == 0)
            list = NULL;
    }
    return (void *)(intptr_t)ok;
}

START_TEST(sigmask_keeps_the_thread_stoppable) {
    GC_allow_register_threads();
    pthread_t th;
    ck_assert_int_eq(GC_pthread_create(&th, NULL, masked_thread, NULL), 0);
    while (!__atomic_load_n(&masked_ready, __ATOMIC_ACQUIRE))
        sched_yield();
    GC_word before = GC_get_gc_no();
    for (int i = 0; i < 4; i++)
        collect(); /* hangs if the thread could not be stopped */
    /* A request made while the other thread's collection runs is served
     * by it, so four calls make at least one collection. */
    ck_assert_uint_gt(GC_get_gc_no(), before);
    __atomic_store_n(&masked_stop, 1, __ATOMIC_RELEASE);
    void *ok = NULL;
    ck_assert_int_eq(GC_pthread_join(th, &ok), 0);
    ck_assert_msg(ok == (void *)1, "the mask blocked the suspend signal or not the other one");
}
END_TEST

/* A detached thread and one that leaves through GC_pthread_exit both stop
 * being the collector's: collections after they are gone do not wait for
 * them, and GC_pthread_exit's value reaches the joiner. */
static volatile int detached_done;
static NOINLINE void exit_from_inside(void) {
    void *p = GC_malloc(64);
    GC_pthread_exit(p ? (void *)(intptr_t)42 : NULL);
}
static void *exiting_thread(void *arg) {
    (void)arg;
    ck_assert(GC_thread_is_registered());
    exit_from_inside();
    return NULL; /* not reached */
}
static void *detached_thread(void *arg) {
    (void)arg;
    char *s = GC_strdup("detached");
    for (int i = 0; i < 1000; i++)
        GC_malloc(32);
    __atomic_store_n(&detached_done, strcmp(s, "detached") == 0 ? 1 : 2, __ATOMIC_RELEASE);
    return NULL;
}

START_TEST(detached_and_exiting_threads_leave_the_collector) {
    GC_allow_register_threads();
    pthread_t ex, de;
    ck_assert_int_eq(GC_pthread_create(&ex, NULL, exiting_thread, NULL), 0);
    void *r = NULL;
    ck_assert_int_eq(GC_pthread_join(ex, &r), 0);
    ck_assert_ptr_eq(r, (void *)(intptr_t)42);
    ck_assert_int_eq(GC_pthread_create(&de, NULL, detached_thread, NULL), 0);
    ck_assert_int_eq(GC_pthread_detach(de), 0);
    while (!__atomic_load_n(&detached_done, __ATOMIC_ACQUIRE))
        sched_yield();
    ck_assert_int_eq(detached_done, 1);
    GC_word before = GC_get_gc_no();
    for (int i = 0; i < 3; i++)
        collect(); /* hangs if a thread that left were still waited for */
    ck_assert_uint_ge(GC_get_gc_no(), before + 3);
}
END_TEST

/* The debug entry points GC_DEBUG's macros call, the replacement forms,
 * and the write notes (GC_ptr_store_and_dirty, GC_end_stubborn_change,
 * the deprecated stubborn calls): each acts as its plain form. */
static NOINLINE uintptr_t make_stored(void **holder) {
    char *t = GC_strdup("stored through the write notes");
    GC_ptr_store_and_dirty(&holder[0], t);
    GC_debug_ptr_store_and_dirty(&holder[1], t);
    GC_end_stubborn_change(holder);
    GC_debug_end_stubborn_change(holder);
    return hide(t);
}

START_TEST(debug_and_store_entry_points_act_as_the_plain_ones) {
    GC_INIT();
    unsigned char *u = GC_debug_malloc_atomic_uncollectable(64, __FILE__, __LINE__);
    fill(u, 64, 7);
    uintptr_t hu = hide(u);
    u = NULL;
    collect();
    collect();
    ck_assert_ptr_eq(GC_base(unhide(hu)), unhide(hu)); /* uncollectable: kept with no reference */
    ck_assert(check_fill(unhide(hu), 64, 7));
    GC_debug_free(unhide(hu));
    ck_assert_ptr_null(GC_base(unhide(hu)));

    check_finalized_by(GC_debug_register_finalizer_unreachable, 0, 1);

    void **holder = GC_malloc(2 * sizeof(void *));
    uintptr_t ht = make_stored(holder);
    collect();
    ck_assert_ptr_eq(holder[0], unhide(ht));
    ck_assert_ptr_eq(holder[1], unhide(ht));
    ck_assert_str_eq((char *)holder[0], "stored through the write notes");

    GC_debug_register_displacement(0);
    char *r = GC_debug_malloc_replacement(10);
    strcpy(r, "replace");
    r = GC_debug_realloc_replacement(r, 5000);
    ck_assert_str_eq(r, "replace");
    ck_assert_uint_ge(GC_size(r), 5000);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    unsigned char *st = GC_malloc_stubborn(48);
    GC_change_stubborn(st);
    unsigned char *dst = GC_debug_malloc_stubborn(48, __FILE__, __LINE__);
    GC_debug_change_stubborn(dst);
#pragma GCC diagnostic pop
    for (int i = 0; i < 48; i++)
        ck_assert(st[i] == 0 && dst[i] == 0);
}
END_TEST

/* Every allocation and registration macro of gc.h, as a program uses
 * them; the GC_DEBUG build of this file (api-*-gc-h-debug) maps them to
 * the debug entry points. */
static int macro_finals;
static void count_macro_final(void *obj, void *cd) {
    (void)obj, (void)cd;
    macro_finals++;
}
static NOINLINE void make_with_macros(uintptr_t *links) {
    for (int i = 0; i < 4; i++) {
        void **o = GC_NEW(void *);
        if (i == 0)
            GC_REGISTER_FINALIZER(o, count_macro_final, NULL, NULL, NULL);
        else if (i == 1)
            GC_REGISTER_FINALIZER_IGNORE_SELF(o, count_macro_final, NULL, NULL, NULL);
        else if (i == 2)
            GC_REGISTER_FINALIZER_NO_ORDER(o, count_macro_final, NULL, NULL, NULL);
        else
            GC_REGISTER_FINALIZER_UNREACHABLE(o, count_macro_final, NULL, NULL, NULL);
    }
    char *short_target = GC_MALLOC(32), *long_target = GC_MALLOC(32);
    links[0] = hide(short_target), links[1] = hide(long_target);
    ck_assert_int_eq(GC_GENERAL_REGISTER_DISAPPEARING_LINK((void **)&links[0], short_target), GC_SUCCESS);
    ck_assert_int_eq(GC_REGISTER_LONG_LINK((void **)&links[1], long_target), GC_SUCCESS);
}

START_TEST(gc_h_macros_work) {
    GC_INIT();
    char *s = GC_STRDUP("macro"), *n = GC_STRNDUP("macros", 5);
    ck_assert_str_eq(s, "macro");
    ck_assert_str_eq(n, "macro");
    unsigned char *a = GC_MALLOC_ATOMIC(100), *u = GC_MALLOC_UNCOLLECTABLE(100),
                  *au = GC_MALLOC_ATOMIC_UNCOLLECTABLE(100), *ip = GC_MALLOC_IGNORE_OFF_PAGE(100000),
                  *aip = GC_MALLOC_ATOMIC_IGNORE_OFF_PAGE(100000);
    ck_assert(a && u && au && ip && aip);
    fill(a, 100, 1), fill(u, 100, 2), fill(au, 100, 3), fill(ip, 100000, 4), fill(aip, 100000, 5);
    void **holder = GC_NEW_UNCOLLECTABLE(void *);
    GC_PTR_STORE_AND_DIRTY(holder, GC_NEW_ATOMIC(long));
    GC_END_STUBBORN_CHANGE(holder);
    char *r = GC_REALLOC(GC_MALLOC(8), 3000);
    ck_assert_uint_ge(GC_size(r), 3000);
    GC_REGISTER_DISPLACEMENT(0);
    static uintptr_t links[2];
    macro_finals = 0;
    make_with_macros(links);
    collect();
    collect();
    GC_invoke_finalizers();
    ck_assert_msg(macro_finals >= 3, "%d of 4 finalizers registered by macro ran", macro_finals);
    ck_assert_msg(links[0] == 0 || links[1] == 0, "neither link registered by macro was cleared");
    ck_assert(check_fill(a, 100, 1) && check_fill(u, 100, 2) && check_fill(au, 100, 3));
    ck_assert(check_fill(ip, 100000, 4) && check_fill(aip, 100000, 5));
    ck_assert_ptr_eq(GC_base(*holder), *holder);
    GC_FREE(u);
    GC_FREE(au);
    GC_FREE(holder);
    ck_assert_ptr_null(GC_base(u));
}
END_TEST

/* A link inside an object that dies is dropped, never written. */
static NOINLINE void make_links_in_heap(void) {
    for (int i = 0; i < NLINK; i++) {
        uintptr_t *holder = GC_malloc_atomic(16);
        void *o = GC_malloc(16);
        holder[0] = hide(o);
        GC_general_register_disappearing_link((void **)holder, o);
        link_keep[i] = i % 2 ? holder : NULL; /* half the holders live, all objects die */
    }
}

START_TEST(links_in_dead_objects_are_dropped) {
    make_links_in_heap();
    collect();
    garbage_rounds(&(uint64_t){11}, 2, GARBAGE, 64);
    int cleared = 0;
    for (int i = 1; i < NLINK; i += 2)
        cleared += ((uintptr_t *)link_keep[i])[0] == 0;
    ck_assert_msg(cleared >= NLINK / 2 * 9 / 10, "%d of %d links in live holders cleared", cleared, NLINK / 2);
    memset(link_keep, 0, sizeof link_keep);
}
END_TEST

/* A finalizer's client data is reachable while the finalizer is registered. */
static void *cd_owners[NHELD];
static uintptr_t cd_hidden[NHELD];
static void ignore_finalization(void *obj, void *cd) { (void)obj, (void)cd; }

static NOINLINE void make_finalizer_data(void) {
    for (int i = 0; i < NHELD; i++) {
        cd_owners[i] = GC_malloc(16);
        unsigned char *cd = GC_malloc(40);
        fill(cd, 40, (unsigned char)i);
        cd_hidden[i] = hide(cd);
        GC_register_finalizer_no_order(cd_owners[i], ignore_finalization, cd, NULL, NULL);
    }
}

START_TEST(finalizer_data_is_reachable) {
    make_finalizer_data();
    collect();
    garbage_rounds(&(uint64_t){5}, 2, GARBAGE, 64);
    for (int i = 0; i < NHELD; i++) {
        unsigned char *cd = unhide(cd_hidden[i]);
        ck_assert_msg(GC_base(cd) == cd, "the client data of finalizer %d was reclaimed", i);
        ck_assert(check_fill(cd, 40, (unsigned char)i));
    }
    for (int i = 0; i < NHELD; i++)
        GC_register_finalizer_no_order(cd_owners[i], NULL, NULL, NULL, NULL);
    collect();
    int alive = count_alive(cd_hidden, NHELD);
    ck_assert_msg(alive <= NHELD / 10, "%d of %d client data survived their cancelled finalizers", alive, NHELD);
}
END_TEST

/* ---- custom kinds and mark procedures ---- */

/* Each case makes NHELD objects of a kind, KWORDS words each, kept in
 * kind_objs (bss, a root); every word not reserved by the case points to
 * an object of its own. The words the kind's descriptor names keep their
 * objects (checked whole), the others must not: most of those objects are
 * reclaimed. */
enum { KWORDS = 6 };
static GC_word *kind_objs[NHELD];
static uintptr_t kind_children[NHELD][KWORDS], kind_hidden[NHELD];

static NOINLINE void make_kind_objects(int kind, unsigned reserved, void (*init)(GC_word *obj)) {
    for (int i = 0; i < NHELD; i++) {
        GC_word *o = GC_generic_malloc(KWORDS * sizeof(GC_word), kind);
        ck_assert_ptr_nonnull(o);
        for (int w = 0; w < KWORDS; w++)
            ck_assert_uint_eq(o[w], 0);
        if (init)
            init(o);
        kind_objs[i] = o;
        kind_hidden[i] = hide(o);
        for (int w = 0; w < KWORDS; w++) {
            if (reserved & (1u << w))
                continue;
            unsigned char *child = GC_malloc(40);
            fill(child, 40, (unsigned char)(i * KWORDS + w));
            o[w] = (GC_word)child;
            kind_children[i][w] = hide(child);
        }
    }
}

/* `scanned`: the words whose objects must survive; the other words not
 * `reserved` must keep almost none. Then the kind's objects themselves are
 * dropped and must be reclaimed. */
static NOINLINE void check_kind_objects(unsigned scanned, unsigned reserved, const char *what) {
    collect();
    collect();
    int dropped = 0, dropped_alive = 0;
    for (int i = 0; i < NHELD; i++) {
        ck_assert_ptr_eq(GC_base(kind_objs[i]), kind_objs[i]);
        for (int w = 0; w < KWORDS; w++) {
            if (reserved & (1u << w))
                continue;
            unsigned char *child = unhide(kind_children[i][w]);
            if (scanned & (1u << w)) {
                ck_assert_msg(GC_base(child) == child, "%s: the object in word %d of object %d was reclaimed", what,
                              w, i);
                ck_assert(check_fill(child, 40, (unsigned char)(i * KWORDS + w)));
            } else {
                dropped++;
                dropped_alive += GC_base(child) != NULL;
            }
        }
    }
    ck_assert_msg(dropped_alive <= dropped / 10, "%s: %d of %d objects in words the kind does not scan survived",
                  what, dropped_alive, dropped);
    memset(kind_objs, 0, sizeof kind_objs);
    collect();
    int alive = count_alive(kind_hidden, NHELD);
    ck_assert_msg(alive <= NHELD / 10, "%s: %d of %d dropped objects of the kind survived", what, alive, NHELD);
}

/* A mark procedure that reports every env-th word of its object. */
static int proc_calls, proc_bad_calls;
static struct GC_ms_entry *mark_every_nth(GC_word *addr, struct GC_ms_entry *msp, struct GC_ms_entry *limit,
                                          GC_word env) {
    __atomic_add_fetch(&proc_calls, 1, __ATOMIC_RELAXED);
    if (env == 0 || GC_base(addr) != addr) {
        __atomic_add_fetch(&proc_bad_calls, 1, __ATOMIC_RELAXED);
        return msp;
    }
    for (size_t w = 0; w < KWORDS; w += env)
        msp = GC_MARK_AND_PUSH((void *)addr[w], msp, limit, (void **)&addr[w]);
    return msp;
}

START_TEST(mark_procedures_report_the_words_that_keep_objects) {
    int kind = (int)GC_new_kind(GC_new_free_list(), GC_MAKE_PROC(GC_new_proc(mark_every_nth), 2), 0, 1);
    ck_assert_int_gt(kind, GC_I_NORMAL);
    make_kind_objects(kind, 0, NULL);
    size_t size;
    ck_assert_int_eq(GC_get_kind_and_size(kind_objs[0], &size), kind);
    ck_assert_uint_ge(size, KWORDS * sizeof(GC_word));
    check_kind_objects(1u << 0 | 1u << 2 | 1u << 4, 0, "GC_DS_PROC, every second word");
    ck_assert_int_ge(proc_calls, NHELD);
    ck_assert_int_eq(proc_bad_calls, 0);
    /* A second procedure and kind, reporting every third word. */
    kind = (int)GC_new_kind(GC_new_free_list(), GC_MAKE_PROC(GC_new_proc(mark_every_nth), 3), 0, 1);
    make_kind_objects(kind, 0, NULL);
    check_kind_objects(1u << 0 | 1u << 3, 0, "GC_DS_PROC, every third word");
    ck_assert_int_eq(proc_bad_calls, 0);
}
END_TEST

#ifdef MIDDEN_BDW_GC_H
/* With this library's gc.h a mark procedure may push an entry itself: words 3 and 4. */
static struct GC_ms_entry *push_words_3_and_4(GC_word *addr, struct GC_ms_entry *msp, struct GC_ms_entry *limit,
                                              GC_word env) {
    (void)env;
    if (msp + 1 >= limit)
        return msp;
    msp++;
    msp->mse_start = addr + 3;
    msp->mse_descr = 2 * sizeof(GC_word) | GC_DS_LENGTH;
    return msp;
}

START_TEST(mark_procedures_push_entries_of_their_own) {
    int kind = (int)GC_new_kind(GC_new_free_list(), GC_MAKE_PROC(GC_new_proc(push_words_3_and_4), 0), 0, 1);
    make_kind_objects(kind, 0, NULL);
    check_kind_objects(1u << 3 | 1u << 4, 0, "a pushed GC_DS_LENGTH entry");
}
END_TEST
#endif

#define BITMAP_WORD(w) ((GC_word)1 << (sizeof(GC_word) * 8 - 1 - (w)))

static void store_descriptor_in_word_1(GC_word *o) { o[1] = BITMAP_WORD(0) | BITMAP_WORD(3) | GC_DS_BITMAP; }
static GC_word type_record[2] = {0, BITMAP_WORD(2) | BITMAP_WORD(4) | GC_DS_BITMAP};
static void point_word_0_at_the_type(GC_word *o) { o[0] = (GC_word)type_record; }

START_TEST(descriptors_scan_only_the_words_they_name) {
    int k = (int)GC_new_kind(GC_new_free_list(), BITMAP_WORD(0) | BITMAP_WORD(2) | BITMAP_WORD(5) | GC_DS_BITMAP, 0, 1);
    make_kind_objects(k, 0, NULL);
    check_kind_objects(1u << 0 | 1u << 2 | 1u << 5, 0, "GC_DS_BITMAP");
    k = (int)GC_new_kind(GC_new_free_list(), 2 * sizeof(GC_word) | GC_DS_LENGTH, 0, 1);
    make_kind_objects(k, 0, NULL);
    check_kind_objects(1u << 0 | 1u << 1, 0, "GC_DS_LENGTH of two words");
    k = (int)GC_new_kind(GC_new_free_list(), 0 | GC_DS_LENGTH, 1, 1);
    make_kind_objects(k, 0, NULL);
    check_kind_objects((1u << KWORDS) - 1, 0, "GC_DS_LENGTH with the size added");
    k = (int)GC_new_kind(GC_new_free_list(), 0 | GC_DS_LENGTH, 0, 1);
    make_kind_objects(k, 0, NULL);
    check_kind_objects(0, 0, "a pointer-free kind");
    k = (int)GC_new_kind(GC_new_free_list(), sizeof(GC_word) | GC_DS_PER_OBJECT, 0, 1);
    make_kind_objects(k, 1u << 1, store_descriptor_in_word_1);
    check_kind_objects(1u << 0 | 1u << 3, 1u << 1, "GC_DS_PER_OBJECT in the object");
    k = (int)GC_new_kind(GC_new_free_list(), (GC_word) - (GC_signed_word)(sizeof(GC_word) + GC_INDIR_PER_OBJ_BIAS) | GC_DS_PER_OBJECT, 0, 1);
    make_kind_objects(k, 1u << 0, point_word_0_at_the_type);
    check_kind_objects(1u << 2 | 1u << 4, 1u << 0, "GC_DS_PER_OBJECT in a type record");
    /* The predefined kinds. */
    make_kind_objects(GC_I_NORMAL, 0, NULL);
    check_kind_objects((1u << KWORDS) - 1, 0, "GC_I_NORMAL");
    make_kind_objects(GC_I_PTRFREE, 0, NULL);
    check_kind_objects(0, 0, "GC_I_PTRFREE");
    ck_assert_int_eq(GC_get_kind_and_size(GC_malloc(8), NULL), GC_I_NORMAL);
    ck_assert_int_eq(GC_get_kind_and_size(GC_malloc_atomic(8), NULL), GC_I_PTRFREE);
}
END_TEST

/* Uncollectable objects of a custom kind: kept with only hidden
 * references, their words scanned by the kind's descriptor (word 1 and 3
 * by a bitmap, so what the other words hold goes); reallocated, the copy
 * is uncollectable too; freed, what they kept goes. */
static uintptr_t unc_hidden[NHELD], unc_child[NHELD][KWORDS];

static NOINLINE void make_uncollectable_of_kind(int kind) {
    for (int i = 0; i < NHELD; i++) {
        GC_word *o = GC_generic_malloc_uncollectable(KWORDS * sizeof(GC_word), kind);
        ck_assert_ptr_nonnull(o);
        ck_assert_int_eq(GC_get_kind_and_size(o, NULL), kind);
        for (int w = 0; w < KWORDS; w++) {
            unsigned char *child = GC_malloc(40);
            fill(child, 40, (unsigned char)(i + w));
            o[w] = (GC_word)child;
            unc_child[i][w] = hide(child);
        }
        if (i % 2) { /* half of them reallocated, larger and with their words */
            o = GC_realloc(o, 2 * KWORDS * sizeof(GC_word));
            ck_assert_ptr_nonnull(o);
        }
        unc_hidden[i] = hide(o);
    }
}

START_TEST(custom_kind_uncollectable_objects_are_kept_and_scanned) {
    int kind = (int)GC_new_kind(GC_new_free_list(), BITMAP_WORD(1) | BITMAP_WORD(3) | GC_DS_BITMAP, 0, 1);
    make_uncollectable_of_kind(kind);
    uint64_t s = test_seed("custom_kind_uncollectable_objects_are_kept_and_scanned");
    garbage_rounds(&s, 3, GARBAGE, 200);
    collect();
    int dropped = 0, dropped_alive = 0;
    for (int i = 0; i < NHELD; i++) {
        GC_word *o = unhide(unc_hidden[i]);
        ck_assert_msg(GC_base(o) == o, "uncollectable object %d of a custom kind was reclaimed", i);
        ck_assert_int_eq(GC_get_kind_and_size(o, NULL), kind);
        for (int w = 0; w < KWORDS; w++) {
            unsigned char *child = unhide(unc_child[i][w]);
            ck_assert_ptr_eq((void *)o[w], child);
            if (w == 1 || w == 3) {
                ck_assert_msg(GC_base(child) == child, "word %d of uncollectable object %d lost its object", w, i);
                ck_assert(check_fill(child, 40, (unsigned char)(i + w)));
            } else {
                dropped++;
                dropped_alive += GC_base(child) != NULL;
            }
        }
    }
    ck_assert_msg(dropped_alive <= dropped / 10, "%d of %d objects in unscanned words survived", dropped_alive,
                  dropped);
    for (int i = 0; i < NHELD; i++)
        GC_free(unhide(unc_hidden[i]));
    collect();
    int alive = 0;
    for (int i = 0; i < NHELD; i++)
        alive += GC_base(unhide(unc_child[i][1])) != NULL;
    ck_assert_msg(alive <= NHELD / 10, "%d of %d objects kept by freed uncollectable objects survived", alive,
                  NHELD);
}
END_TEST

static void *many_of_kind;

START_TEST(generic_malloc_many_makes_objects_of_the_kind) {
    int custom = (int)GC_new_kind(GC_new_free_list(), GC_MAKE_PROC(GC_new_proc(mark_every_nth), 1), 0, 1);
    const int kinds[] = {GC_I_NORMAL, GC_I_PTRFREE, custom};
    for (int k = 0; k < 3; k++) {
        GC_generic_malloc_many(48, kinds[k], &many_of_kind);
        int n = 0;
        for (void *p = many_of_kind; p; p = GC_NEXT(p), n++) {
            size_t size;
            ck_assert_int_eq(GC_get_kind_and_size(p, &size), kinds[k]);
            ck_assert_uint_ge(size, 48);
            for (size_t i = sizeof(void *); i < 48; i++)
                ck_assert_int_eq(((unsigned char *)p)[i], 0);
        }
        ck_assert_int_ge(n, 8);
        if (kinds[k] == GC_I_PTRFREE)
            continue; /* its links are not scanned: the program must keep them */
        /* Only the head is a root: the links keep the rest. */
        collect();
        int after = 0;
        for (void *p = many_of_kind; p; p = GC_NEXT(p), after++)
            ck_assert_ptr_eq(GC_base(p), p);
        ck_assert_int_eq(after, n);
    }
    many_of_kind = NULL;
}
END_TEST

START_TEST(plausible_heap_bounds_cover_the_heap) {
    GC_init();
    ck_assert_ptr_nonnull(GC_least_plausible_heap_addr);
    ck_assert((uintptr_t)GC_least_plausible_heap_addr < (uintptr_t)GC_greatest_plausible_heap_addr);
    static const size_t sizes[] = {8, 100, 4000, 20000, 1 << 20, 16 << 20};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        char *p = GC_malloc(sizes[i]);
        ck_assert((uintptr_t)p >= (uintptr_t)GC_least_plausible_heap_addr);
        ck_assert((uintptr_t)(p + sizes[i] - 1) <= (uintptr_t)GC_greatest_plausible_heap_addr);
    }
    int local;
    ck_assert(!GC_is_heap_ptr(&local));
    ck_assert_ptr_eq(GC_is_visible(&local), &local);
}
END_TEST

/* Objects whose only references are in malloc memory that the program's
 * push-other-roots procedure pushes. */
static GC_push_other_roots_proc old_push_other_roots;
static int pushes;
static void push_malloc_block(void) {
    pushes++;
    GC_push_all(malloc_block, malloc_block + NHELD);
    old_push_other_roots();
}

static void set_push_malloc_block(void) {
    GC_set_push_other_roots(push_malloc_block);
    ck_assert_ptr_eq(GC_get_push_other_roots(), push_malloc_block);
}
static void restore_push_other_roots(void) {
    ck_assert_int_ge(pushes, 2);
    GC_set_push_other_roots(old_push_other_roots);
}

START_TEST(push_other_roots_adds_roots) {
    old_push_other_roots = GC_get_push_other_roots();
    ck_assert_ptr_nonnull(old_push_other_roots);
    malloc_block_kept_until_dropped(set_push_malloc_block, restore_push_other_roots, "once nothing pushed them");
}
END_TEST

/* Programs built against Boehm GC's older headers (ECL) set the
 * push-other-roots procedure through the exported variable, and keep
 * objects alive from it with GC_set_mark_bit. */
extern GC_push_other_roots_proc GC_push_other_roots;
static GC_push_other_roots_proc chained_push_other_roots;
static int marks_set;
static void mark_malloc_block(void) {
    marks_set++;
    for (int i = 0; i < NHELD; i++)
        GC_set_mark_bit(malloc_block[i]);
    chained_push_other_roots();
}

static void assign_mark_malloc_block(void) {
    GC_push_other_roots = mark_malloc_block;
    ck_assert_ptr_eq(GC_get_push_other_roots(), mark_malloc_block);
}
static void assign_chained_push_other_roots(void) {
    ck_assert_int_ge(marks_set, 2);
    GC_push_other_roots = chained_push_other_roots;
}

START_TEST(push_other_roots_variable_and_mark_bits) {
    chained_push_other_roots = GC_push_other_roots;
    ck_assert_ptr_nonnull(chained_push_other_roots);
    ck_assert_ptr_eq(chained_push_other_roots, GC_get_push_other_roots());
    malloc_block_kept_until_dropped(assign_mark_malloc_block, assign_chained_push_other_roots,
                                    "once nothing marked them");
}
END_TEST

/* Collections stop the world: incremental mode stays off when asked for,
 * and the time limit of an incremental step is kept. */
START_TEST(incremental_mode_stays_off_and_keeps_its_time_limit) {
    GC_enable_incremental();
    ck_assert_int_eq(GC_is_incremental_mode(), 0);
    ck_assert_uint_eq(GC_get_time_limit(), GC_TIME_UNLIMITED);
    GC_set_time_limit(50);
    ck_assert_uint_eq(GC_get_time_limit(), 50);
    GC_set_time_limit(GC_TIME_UNLIMITED);
    void *p = GC_malloc(64);
    ck_assert_ptr_nonnull(p);
    collect();
}
END_TEST

/* ---- what is not supported yet, or misused, stops the program, naming the function ---- */

static void call_unsupported(int which) {
    switch (which) {
    case 0: GC_mark_and_push(GC_malloc(8), NULL, NULL, NULL); break;
    case 1: GC_push_all(&which, &which + 1); break;
    default: break;
    }
}

START_TEST(unsupported_functions_fail_with_their_name) {
    static const char *const names[] = {"GC_mark_and_push", "GC_push_all"};
    for (int i = 0; i < 2; i++) {
        int fd[2];
        ck_assert_int_eq(pipe(fd), 0);
        pid_t pid = fork();
        if (pid == 0) {
            dup2(fd[1], 2);
            call_unsupported(i);
            _exit(0);
        }
        close(fd[1]);
        char buf[512] = {0};
        size_t got = 0;
        ssize_t r;
        while (got < sizeof buf - 1 && (r = read(fd[0], buf + got, sizeof buf - 1 - got)) > 0)
            got += (size_t)r;
        close(fd[0]);
        int status;
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT, "%s did not stop the program", names[i]);
        ck_assert_msg(strstr(buf, names[i]) != NULL, "the message of %s does not name it: %s", names[i], buf);
    }
}
END_TEST

int main(void) {
    Suite *s = suite_create("bdw");
    TCase *tc = tcase_create("api");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, library_is_middens);
    tcase_add_test(tc, sizes_1_byte_to_100_mib);
    tcase_add_test(tc, interior_pointers_keep_objects);
    tcase_add_test(tc, displacement_and_interior_settings);
    tcase_add_test(tc, realloc_grows_and_shrinks);
    tcase_add_test(tc, atomic_objects_are_not_scanned);
    tcase_add_test(tc, normal_objects_are_scanned);
    tcase_add_test(tc, uncollectable_objects_are_never_freed);
    tcase_add_test(tc, custom_kind_uncollectable_objects_are_kept_and_scanned);
    tcase_add_test(tc, free_reclaims_at_once);
    tcase_add_test(tc, data_and_bss_are_roots);
    tcase_add_test(tc, registered_ranges_are_roots);
    tcase_add_test(tc, malloc_memory_is_not_a_root);
    tcase_add_test(tc, disable_holds_off_stress_collections);
    tcase_add_test(tc, excluded_static_data_is_not_scanned);
    tcase_add_test(tc, no_dls_leaves_library_data_out_of_the_roots);
    tcase_add_test(tc, malloc_many_links_zeroed_objects);
    tcase_add_test(tc, exported_variables_are_shared_with_the_library);
    tcase_add_test(tc, register_of_a_stopped_thread_is_a_root);
    tcase_add_test(tc, stack_of_a_stopped_thread_is_a_root);
    tcase_add_test(tc, own_stack_is_a_root);
    tcase_add_test(tc, many_threads_allocate_and_collect);
    tcase_add_test(tc, threads_registered_by_hand);
    tcase_add_test(tc, every_entry_point_returns_16_byte_aligned_memory);
    tcase_add_test(tc, every_entry_point_is_aligned_under_stress);
    tcase_add_test(tc, strings_alignment_and_queries);
    tcase_add_test(tc, heap_grows_within_its_maximum);
    tcase_add_test(tc, limit_grows_in_steps);
#if defined(__SANITIZE_THREAD__)
    /* ThreadSanitizer cannot follow a child of a multi-threaded process that
     * starts threads (the child's collection starts its GC workers); the
     * case runs in the other builds. */
    fprintf(stderr, "fork_with_threads_keeps_both_heaps_working: skipped under ThreadSanitizer\n");
#else
    tcase_add_test(tc, fork_with_threads_keeps_both_heaps_working);
#endif
    tcase_add_test(tc, finalizers_run_once_after_the_collection);
    tcase_add_test(tc, ordered_finalizers_run_from_the_reaching_object);
    tcase_add_test(tc, finalize_on_demand_notifies_and_waits);
    tcase_add_test(tc, finalizers_are_replaced_and_cancelled);
    tcase_add_test(tc, finalizers_may_resurrect);
    tcase_add_test(tc, disappearing_links_clear_when_the_object_dies);
    tcase_add_test(tc, long_links_outlive_finalization);
    tcase_add_test(tc, links_move_and_report_duplicates);
    tcase_add_test(tc, links_in_dead_objects_are_dropped);
    tcase_add_test(tc, ignore_self_finalizers_run_on_self_referencing_objects);
    tcase_add_test(tc, long_links_move_and_report_duplicates);
    tcase_add_test(tc, settings_callbacks_and_reports);
    tcase_add_test(tc, sigmask_keeps_the_thread_stoppable);
    tcase_add_test(tc, detached_and_exiting_threads_leave_the_collector);
    tcase_add_test(tc, debug_and_store_entry_points_act_as_the_plain_ones);
    tcase_add_test(tc, gc_h_macros_work);
    tcase_add_test(tc, finalizer_data_is_reachable);
    tcase_add_test(tc, mark_procedures_report_the_words_that_keep_objects);
#ifdef MIDDEN_BDW_GC_H
    tcase_add_test(tc, mark_procedures_push_entries_of_their_own);
#endif
    tcase_add_test(tc, descriptors_scan_only_the_words_they_name);
    tcase_add_test(tc, generic_malloc_many_makes_objects_of_the_kind);
    tcase_add_test(tc, plausible_heap_bounds_cover_the_heap);
    tcase_add_test(tc, push_other_roots_adds_roots);
    tcase_add_test(tc, push_other_roots_variable_and_mark_bits);
    tcase_add_test(tc, incremental_mode_stays_off_and_keeps_its_time_limit);
    tcase_add_test(tc, unsupported_functions_fail_with_their_name);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
