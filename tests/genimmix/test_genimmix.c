/*
 * GenImmix (docs/design/generational.md .gen.promote, .gen.pinned,
 * .gen.nursery): promotion reports every copied object to the binding's
 * move hook, so a binding's identity hashes, kept in a table by address,
 * follow their objects across minor and full collections; promoted objects
 * are old and do not move again in minor collections; pinned and
 * over-aligned young objects stay where they are; and nursery blocks are
 * charged to the budget once (tests/gen checks the nursery's bound on
 * both generational plans).
 *
 * MDN_TEST_LABELS: threads
 */
#include "testutil.h"
#include "toyvm.h"

#include "mdn_check.h"
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MIB ((size_t)1 << 20)

/* ---- identity hashes kept by address, moved by the hook ------------------ */

enum { HASHES = 4096, TABLE = 2 * 8192 };

typedef struct hash_entry {
    uintptr_t addr; /* 0: empty */
    uint64_t hash;
} hash_entry;

static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;
static hash_entry table[TABLE];
static size_t moves, moves_unknown; /* hook calls; calls for an object with no entry */

static size_t slot_of(uintptr_t addr) { return (size_t)((addr >> 3) * 0x9e3779b97f4a7c15ull >> 50) % TABLE; }

static hash_entry *find_entry(uintptr_t addr) {
    for (size_t i = slot_of(addr), n = 0; n < TABLE; i = (i + 1) % TABLE, n++) {
        if (table[i].addr == addr)
            return &table[i];
        if (table[i].addr == 0)
            return NULL;
    }
    return NULL;
}

/* Linear probing with deletion by backward shift, so lookups stop at the
 * first empty entry. */
static void remove_entry(hash_entry *e) {
    size_t i = (size_t)(e - table);
    for (size_t j = (i + 1) % TABLE; table[j].addr; j = (j + 1) % TABLE) {
        size_t home = slot_of(table[j].addr);
        if ((j > i && (home <= i || home > j)) || (j < i && home <= i && home > j)) {
            table[i] = table[j];
            i = j;
        }
    }
    table[i].addr = 0;
}

static void insert_entry(uintptr_t addr, uint64_t hash) {
    size_t i = slot_of(addr);
    while (table[i].addr)
        i = (i + 1) % TABLE;
    table[i] = (hash_entry){addr, hash};
}

void mdn_vm_object_moved(mdn_objref from, mdn_objref to) {
    pthread_mutex_lock(&table_lock);
    moves++;
    hash_entry *e = find_entry(from.value);
    if (e) {
        uint64_t hash = e->hash;
        remove_entry(e);
        insert_entry(to.value, hash);
    } else {
        moves_unknown++;
    }
    pthread_mutex_unlock(&table_lock);
}

static void table_reset(void) {
    memset(table, 0, sizeof table);
    moves = moves_unknown = 0;
}

static uint64_t hash_of(mdn_objref o) {
    hash_entry *e = find_entry(o.value);
    MDN_EXPECT_MSG(e != NULL, "object %p has lost its identity hash", (void *)o.value);
    return e->hash;
}

static uint64_t mix(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    return x;
}

/* Every collection minor unless asked for; `checked`: verify and poison. */
static mdn_heap *heap_with(unsigned gc_threads, bool checked, const char *extra) {
    char opts[160];
    snprintf(opts, sizeof opts, "%sgen-full-alloc=100000,gen-min-yield=0,gen-full-threshold=100%s%s",
             checked ? "verify=1,poison=1," : "", extra ? "," : "", extra ? extra : "");
    return mdn_test_heap_with(64 * MIB, gc_threads, opts);
}

static mdn_heap *heap_for(unsigned gc_threads, const char *extra) { return heap_with(gc_threads, true, extra); }

static uint64_t minors(mdn_heap *h) {
    mdn_stats st;
    mdn_stats_get(h, &st);
    return st.collections - st.full_collections;
}

/* Young objects, each hashed: a minor collection moves every one of them
 * once (promotion), the hook rehomes each hash, and the payload is intact;
 * the next minor collection moves none of them (they are old); a full one
 * may move some (defragmentation), and the hashes still follow. */
START_TEST(promotion_keeps_identity_hashes) {
    mdn_heap *h = heap_for(_i ? 2 : 1, NULL);
    toyvm_thread *t = toyvm_thread_attach(h);
    table_reset();
    size_t arr = toyvm_push_root(t, toyvm_alloc(t, 5, HASHES, 0, MDN_ALLOC_DEFAULT));
    uintptr_t before[HASHES];
    for (unsigned i = 0; i < HASHES; i++) {
        mdn_objref o = toyvm_alloc(t, 3, 0, 16, MDN_ALLOC_DEFAULT);
        MDN_EXPECT(!mdn_objref_is_null(o));
        ((uint64_t *)toyvm_payload(o))[0] = i;
        toyvm_set_ref(t, toyvm_root(t, arr), i, o);
        insert_entry(o.value, mix(i + 1));
        before[i] = o.value;
    }
    uint64_t m = minors(h);
    mdn_collect(t->mutator, MDN_GC_DEFAULT);
    ck_assert_uint_eq(minors(h), m + 1);
    /* The array is large (the large-object space): only the hashed move. */
    ck_assert_uint_eq(moves_unknown, 0);
    ck_assert_uint_eq(moves, HASHES);
    for (unsigned i = 0; i < HASHES; i++) {
        mdn_objref o = toyvm_get_ref(toyvm_root(t, arr), i);
        MDN_EXPECT(o.value != before[i]);
        MDN_EXPECT_EQ(((uint64_t *)toyvm_payload(o))[0], i);
        MDN_EXPECT_EQ(hash_of(o), mix(i + 1));
    }
    moves = moves_unknown = 0;
    mdn_collect(t->mutator, MDN_GC_DEFAULT);
    ck_assert_uint_eq(moves, 0);
    mdn_collect(t->mutator, MDN_GC_FULL);
    for (unsigned i = 0; i < HASHES; i++) {
        mdn_objref o = toyvm_get_ref(toyvm_root(t, arr), i);
        MDN_EXPECT_EQ(((uint64_t *)toyvm_payload(o))[0], i);
        MDN_EXPECT_EQ(hash_of(o), mix(i + 1));
    }
    toyvm_thread_detach(t);
    mdn_heap_destroy(h);
}
END_TEST

/* A full collection promotes the nursery too. */
START_TEST(full_collection_promotes) {
    mdn_heap *h = heap_for(_i ? 2 : 1, NULL);
    toyvm_thread *t = toyvm_thread_attach(h);
    table_reset();
    mdn_objref o = toyvm_alloc(t, 3, 0, 16, MDN_ALLOC_DEFAULT);
    size_t r = toyvm_push_root(t, o);
    insert_entry(o.value, 77);
    mdn_collect(t->mutator, MDN_GC_FULL);
    ck_assert_uint_ne(toyvm_root(t, r).value, o.value);
    ck_assert_uint_eq(hash_of(toyvm_root(t, r)), 77);
    moves = 0;
    mdn_collect(t->mutator, MDN_GC_DEFAULT);
    ck_assert_uint_eq(moves, 0);
    toyvm_thread_detach(t);
    mdn_heap_destroy(h);
}
END_TEST

/* .gen.pinned: pinned and over-aligned young objects are not copied; a
 * nursery object cannot be pinned after the fact. */
START_TEST(pinned_and_aligned_young_objects_stay) {
    mdn_heap *h = heap_for(_i ? 2 : 1, NULL);
    toyvm_thread *t = toyvm_thread_attach(h);
    table_reset();
    size_t pinned = toyvm_push_root(t, toyvm_alloc(t, 3, 1, 16, MDN_ALLOC_NONMOVING));
    void *a = mdn_alloc(t->mutator, 64, 64, MDN_ALLOC_DEFAULT);
    ck_assert(a != NULL && ((uintptr_t)a & 63) == 0);
    *(uint64_t *)a = toyvm_make_header(3, 0, 64);
    size_t aligned = toyvm_push_root(t, mdn_objref_from_ptr(a));
    mdn_objref young = toyvm_alloc(t, 3, 0, 16, MDN_ALLOC_DEFAULT);
    ck_assert(!mdn_pin_object(t->mutator, young));
    ck_assert(mdn_pin_object(t->mutator, toyvm_root(t, pinned)));
    /* A young object hangs off the pinned one, which is young too. */
    toyvm_set_ref(t, toyvm_root(t, pinned), 0, young);
    uintptr_t pinned_at = toyvm_root(t, pinned).value;
    for (int round = 0; round < 3; round++) {
        mdn_collect(t->mutator, round == 2 ? MDN_GC_FULL : MDN_GC_DEFAULT);
        ck_assert_uint_eq(toyvm_root(t, pinned).value, pinned_at);
        ck_assert_uint_eq(toyvm_root(t, aligned).value, (uintptr_t)a);
        ck_assert_uint_eq(toyvm_type(toyvm_get_ref(toyvm_root(t, pinned), 0)), 3);
    }
    toyvm_thread_detach(t);
    mdn_heap_destroy(h);
}
END_TEST

/* ---- the nursery bound ---------------------------------------------------- */

static void assert_about(uint64_t got, uint64_t want, const char *what) {
    ck_assert_msg(got * 10 >= want * 9 && got * 10 <= want * 11 + 10, "%s: %llu collections, expected about %llu",
                  what, (unsigned long long)got, (unsigned long long)want);
}

/* .gen.nursery: nursery blocks are charged to the budget once. With 24 MiB
 * of old objects in a 64 MiB heap, a nursery bounded at half the heap
 * (32 MiB) fits beside them (charged twice it could hold only 20 MiB), so
 * 128 MiB of short-lived objects take four collections, not six or seven. */
START_TEST(nursery_is_charged_once) {
    mdn_heap *h = heap_with(1, false, "nursery-percent=50");
    toyvm_thread *t = toyvm_thread_attach(h);
    size_t keep = toyvm_push_root(t, mdn_objref_null());
    size_t old_each = toyvm_object_bytes(1, 4096);
    for (size_t n = 0; n < 24 * MIB; n += old_each) {
        mdn_objref o = toyvm_alloc(t, 4, 1, 4096, MDN_ALLOC_DEFAULT);
        ck_assert(!mdn_objref_is_null(o));
        toyvm_init_ref(o, 0, toyvm_root(t, keep));
        toyvm_set_root(t, keep, o);
    }
    mdn_collect(t->mutator, MDN_GC_FULL); /* the old objects are promoted */
    mdn_stats st;
    mdn_stats_get(h, &st);
    uint64_t before = st.collections;
    size_t each = toyvm_object_bytes(1, 40);
    for (size_t n = 0; n < 128 * MIB; n += each)
        MDN_EXPECT(!mdn_objref_is_null(toyvm_alloc(t, 3, 1, 40, MDN_ALLOC_DEFAULT)));
    mdn_stats_get(h, &st);
    assert_about(st.collections - before, 4, "24 MiB old, nursery-percent=50");
    size_t length = 0;
    for (mdn_objref o = toyvm_root(t, keep); !mdn_objref_is_null(o); o = toyvm_get_ref(o, 0))
        length++;
    ck_assert_uint_eq(length, (24 * MIB + old_each - 1) / old_each);
    toyvm_thread_detach(t);
    mdn_heap_destroy(h);
}
END_TEST

static Suite *genimmix_suite(void) {
    Suite *s = suite_create("genimmix");
    TCase *tc = tcase_create("genimmix");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, promotion_keeps_identity_hashes, 0, 2);
    tcase_add_loop_test(tc, full_collection_promotes, 0, 2);
    tcase_add_loop_test(tc, pinned_and_aligned_young_objects_stay, 0, 2);
    tcase_add_test(tc, nursery_is_charged_once);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return mdn_run_suite(genimmix_suite()); }
