/*
 * mutation: a large live hash table whose old objects are updated at random.
 *
 * The table maps ENTRIES keys to value records. Buckets live in segment
 * objects (256 buckets each) hung off one top object; each bucket is a
 * chain of entries (next, record; key in the payload); a record holds a
 * value and a check word. Each operation is, at random:
 *  - update (50%): a new record replaces an entry's record;
 *  - replace (20%): an entry is unlinked and a new entry with a new key is
 *    linked at the head of its bucket;
 *  - swap (30%): two entries exchange their records (no allocation).
 * Almost every operation stores a reference into an old object, which is
 * the work a generational plan's write barrier sees. The program keeps the
 * expected key and value of every entry outside the heap and at the end
 * walks the whole table, checking each entry, the entry count and a
 * checksum.
 */
#include "bench.h"

#define USAGE "mutation [OPERATIONS_IN_THOUSANDS [ENTRIES_IN_THOUSANDS]]   (default 2000 512)"

/** @brief Buckets per segment object. */
#define SEGMENT_BUCKETS 256u

/** @brief Entry fields. */
enum { ENTRY_NEXT = 0, ENTRY_RECORD = 1, ENTRY_NREFS = 2 };

/** @brief What the program knows about the table, outside the heap. */
typedef struct table_model {
    size_t entries;      /**< number of entries (= logical indexes) */
    size_t buckets;      /**< a power of two */
    uint32_t *generation;/**< key of index i is (generation[i] << 32) | i */
    uint64_t *value;     /**< value stored for index i */
} table_model;

static inline uint64_t key_of(const table_model *m, size_t i) {
    return ((uint64_t)m->generation[i] << 32) | (uint64_t)i;
}
static inline size_t bucket_of(const table_model *m, uint64_t key) {
    return (size_t)(bench_mix(key) & (m->buckets - 1));
}
static inline uint64_t record_check(uint64_t value) { return bench_mix(value ^ 0x7265636f7264ull); }
static inline uint64_t entry_key(bench_ref e) { return *(const uint64_t *)bench_obj_payload(e); }

/** @brief A record holding @p value. */
static bench_ref new_record(bench_thread *t, uint64_t value) {
    bench_ref r = bench_new_object(t, 0, 2 * sizeof(uint64_t));
    uint64_t *w = (uint64_t *)bench_obj_payload(r);
    w[0] = value;
    w[1] = record_check(value);
    return r;
}

/** @brief Whether record @p r holds @p value intact. */
static bool record_holds(bench_ref r, uint64_t value) {
    const uint64_t *w = (const uint64_t *)bench_obj_payload(r);
    return !bench_is_null(r) && w[0] == value && w[1] == record_check(value);
}

/** @brief The segment object holding bucket @p b, and the bucket's index in it. */
static inline bench_ref segment_of(bench_ref table, size_t b, unsigned *index) {
    *index = (unsigned)(b % SEGMENT_BUCKETS);
    return bench_obj_ref(table, (unsigned)(b / SEGMENT_BUCKETS));
}

/** @brief Link entry @p e (key already set) at the head of its bucket. Allocates nothing. */
static void link_entry(bench_thread *t, const table_model *m, bench_ref table, bench_ref e) {
    unsigned idx;
    bench_ref seg = segment_of(table, bucket_of(m, entry_key(e)), &idx);
    bench_obj_set_ref(t, e, ENTRY_NEXT, bench_obj_ref(seg, idx));
    bench_obj_set_ref(t, seg, idx, e);
}

/** @brief Find the entry of index @p i; *prev gets its predecessor (null if first). Allocates nothing. */
static bench_ref find_entry(const table_model *m, bench_ref table, size_t i, bench_ref *prev) {
    uint64_t key = key_of(m, i);
    unsigned idx;
    bench_ref seg = segment_of(table, bucket_of(m, key), &idx);
    bench_ref p = bench_null();
    bench_ref e = bench_obj_ref(seg, idx);
    while (!bench_is_null(e) && entry_key(e) != key) {
        p = e;
        e = bench_obj_ref(e, ENTRY_NEXT);
    }
    if (bench_is_null(e))
        bench_wrong("an entry is missing from the table");
    if (prev != NULL)
        *prev = p;
    return e;
}

/**
 * @brief A new, unlinked entry for index @p i with its current key and a
 * record holding @p value. The caller links it (after re-reading the table
 * from its root: this allocates).
 */
static bench_ref new_entry(bench_thread *t, const table_model *m, size_t i, uint64_t value) {
    BENCH_ROOTS(t, f, 1);
    bench_root_set(t, f, 0, new_record(t, value));
    bench_ref e = bench_new_object(t, ENTRY_NREFS, sizeof(uint64_t));
    *(uint64_t *)bench_obj_payload(e) = key_of(m, i);
    bench_obj_set_ref(t, e, ENTRY_RECORD, bench_root(t, f, 0));
    bench_obj_set_ref(t, e, ENTRY_NEXT, bench_null());
    BENCH_ROOTS_POP(t, f, 1);
    return e;
}

/** @brief A new table: the top object and its segments, all buckets empty. */
static bench_ref new_table(bench_thread *t, const table_model *m) {
    unsigned nsegments = (unsigned)((m->buckets + SEGMENT_BUCKETS - 1) / SEGMENT_BUCKETS);
    BENCH_ROOTS(t, f, 1);
    bench_root_set(t, f, 0, bench_new_object(t, nsegments, 0));
    for (unsigned s = 0; s < nsegments; s++) {
        bench_ref seg = bench_new_object(t, SEGMENT_BUCKETS, 0);
        bench_obj_set_ref(t, bench_root(t, f, 0), s, seg);
    }
    bench_ref table = bench_root(t, f, 0);
    BENCH_ROOTS_POP(t, f, 1);
    return table;
}

/** @brief Walk the whole table: every entry must match the model. Returns the checksum via @p sum. */
static bool check_table(const table_model *m, bench_ref table, uint64_t *sum) {
    size_t count = 0;
    *sum = 0;
    for (size_t b = 0; b < m->buckets; b++) {
        unsigned idx;
        bench_ref seg = segment_of(table, b, &idx);
        for (bench_ref e = bench_obj_ref(seg, idx); !bench_is_null(e); e = bench_obj_ref(e, ENTRY_NEXT)) {
            uint64_t key = entry_key(e);
            size_t i = (size_t)(key & 0xffffffffu);
            if (i >= m->entries || key != key_of(m, i) || bucket_of(m, key) != b)
                return false;
            if (!record_holds(bench_obj_ref(e, ENTRY_RECORD), m->value[i]))
                return false;
            *sum += bench_mix(key ^ m->value[i]);
            count++;
        }
    }
    return count == m->entries;
}

/** @brief Free every entry and record (malloc variants), then the segments and the top. */
static void free_table(bench_thread *t, const table_model *m, bench_ref table) {
#if BENCH_EXPLICIT_FREE
    unsigned nsegments = (unsigned)((m->buckets + SEGMENT_BUCKETS - 1) / SEGMENT_BUCKETS);
    for (unsigned s = 0; s < nsegments; s++) {
        bench_ref seg = bench_obj_ref(table, s);
        for (unsigned idx = 0; idx < SEGMENT_BUCKETS; idx++) {
            bench_ref e = bench_obj_ref(seg, idx);
            while (!bench_is_null(e)) {
                bench_ref next = bench_obj_ref(e, ENTRY_NEXT);
                bench_free(t, bench_obj_ref(e, ENTRY_RECORD));
                bench_free(t, e);
                e = next;
            }
        }
        bench_free(t, seg);
    }
    bench_free(t, table);
#else
    (void)t;
    (void)m;
    (void)table;
#endif
}

int main(int argc, char **argv) {
    if (argc > 3)
        bench_usage(USAGE);
    long operations = (argc > 1 ? bench_arg(argv[1], 0, 100000000, USAGE) : 2000) * 1000L;
    long entries_k = argc > 2 ? bench_arg(argv[2], 1, 4000000, USAGE) : 512;

    table_model m;
    m.entries = (size_t)entries_k * 1000u;
    m.buckets = SEGMENT_BUCKETS;
    while (m.buckets < m.entries)
        m.buckets *= 2;
    m.generation = calloc(m.entries, sizeof *m.generation);
    m.value = calloc(m.entries, sizeof *m.value);
    if (m.generation == NULL || m.value == NULL)
        bench_oom();
    bench_rng rng = {0x6d75746174696f6eull};
    long counts[3] = {0, 0, 0};

    bench_vm *vm = bench_vm_start();
    bench_thread *t = bench_thread_attach(vm);
    bench_begin(vm);

    BENCH_ROOTS(t, f, 1);
    bench_root_set(t, f, 0, new_table(t, &m));
    for (size_t i = 0; i < m.entries; i++) {
        m.value[i] = bench_rng_next(&rng);
        bench_ref e = new_entry(t, &m, i, m.value[i]);
        link_entry(t, &m, bench_root(t, f, 0), e);
    }

    for (long op = 0; op < operations; op++) {
        unsigned kind = (unsigned)bench_rng_below(&rng, 10);
        size_t i = (size_t)bench_rng_below(&rng, m.entries);
        if (kind < 5) {
            /* update: a new record into an old entry */
            uint64_t v = bench_rng_next(&rng);
            bench_ref rec = new_record(t, v);
            bench_ref e = find_entry(&m, bench_root(t, f, 0), i, NULL);
            bench_ref old = bench_obj_ref(e, ENTRY_RECORD);
            if (!record_holds(old, m.value[i]))
                bench_wrong("a record does not hold its entry's value");
            bench_obj_set_ref(t, e, ENTRY_RECORD, rec);
            bench_free(t, old);
            m.value[i] = v;
            counts[0]++;
        } else if (kind < 7) {
            /* replace: unlink the entry of index i, link one with a new key */
            uint64_t v = bench_rng_next(&rng);
            m.generation[i]++;
            bench_ref fresh = new_entry(t, &m, i, v);
            m.generation[i]--;
            bench_ref table = bench_root(t, f, 0);
            bench_ref prev;
            bench_ref e = find_entry(&m, table, i, &prev);
            if (!record_holds(bench_obj_ref(e, ENTRY_RECORD), m.value[i]))
                bench_wrong("a record does not hold its entry's value");
            if (bench_is_null(prev)) {
                unsigned idx;
                bench_ref seg = segment_of(table, bucket_of(&m, key_of(&m, i)), &idx);
                bench_obj_set_ref(t, seg, idx, bench_obj_ref(e, ENTRY_NEXT));
            } else {
                bench_obj_set_ref(t, prev, ENTRY_NEXT, bench_obj_ref(e, ENTRY_NEXT));
            }
            bench_free(t, bench_obj_ref(e, ENTRY_RECORD));
            bench_free(t, e);
            m.generation[i]++;
            m.value[i] = v;
            link_entry(t, &m, table, fresh);
            counts[1]++;
        } else {
            /* swap: two old entries exchange their records */
            size_t j = (size_t)bench_rng_below(&rng, m.entries);
            bench_ref table = bench_root(t, f, 0);
            bench_ref ei = find_entry(&m, table, i, NULL);
            bench_ref ej = find_entry(&m, table, j, NULL);
            bench_ref ri = bench_obj_ref(ei, ENTRY_RECORD);
            bench_obj_set_ref(t, ei, ENTRY_RECORD, bench_obj_ref(ej, ENTRY_RECORD));
            bench_obj_set_ref(t, ej, ENTRY_RECORD, ri);
            uint64_t v = m.value[i];
            m.value[i] = m.value[j];
            m.value[j] = v;
            counts[2]++;
        }
        bench_safepoint(t);
    }

    uint64_t sum = 0, expected = 0;
    bool ok = check_table(&m, bench_root(t, f, 0), &sum);
    for (size_t i = 0; i < m.entries; i++)
        expected += bench_mix(key_of(&m, i) ^ m.value[i]);
    ok = ok && sum == expected;
    free_table(t, &m, bench_root(t, f, 0));
    BENCH_ROOTS_POP(t, f, 1);

    bench_end(vm);
    bench_thread_detach(t);
    bench_vm_finish(vm);
    free(m.generation);
    free(m.value);
    if (!ok)
        bench_wrong("the table does not match the expected keys and values");
    printf("mutation: %zu entries, %ld updates, %ld replacements, %ld swaps: checksum %016llx ok\n", m.entries,
           counts[0], counts[1], counts[2], (unsigned long long)sum);
    return 0;
}
