/*
 * Immix-specific tests: hole finding over hand-made line-mark patterns,
 * allocation into holes only, overflow blocks for medium objects, recyclable
 * blocks before free ones, defragmentation of a fragmented heap and of a
 * heap whose every line is live but whose bytes are mostly dead, and
 * pinned / non-moving objects that never move. Built for immix and for
 * stickyimmix (IMMIX_TEST_STICKY: without the tests that need a default
 * collection to be full).
 */
#include "plans/immix/immix_plan.h"
#include "testutil.h"
#include "toyvm.h"

#include "mdn_check.h"
#include <stdlib.h>
#include <string.h>

enum { L = MDN_LINES_PER_BLOCK };

/* ---- hole finding ------------------------------------------------------------ */

/* All holes of `marks` as [start, end) pairs; returns how many. */
static unsigned holes_of(const uint8_t *marks, uint8_t epoch, unsigned (*out)[2]) {
    unsigned n = 0, from = 0, end;
    for (;;) {
        unsigned start = mdn_immix_find_hole(marks, from, epoch, &end);
        if (start >= L)
            return n;
        MDN_EXPECT(start < end);
        MDN_EXPECT(end <= L);
        out[n][0] = start;
        out[n][1] = end;
        n++;
        from = end;
    }
}

static void set_marks(uint8_t *marks, uint8_t epoch, const unsigned *lines, size_t n) {
    memset(marks, 0, L);
    for (size_t i = 0; i < n; i++)
        marks[lines[i]] = epoch;
}

START_TEST(holes_in_hand_made_patterns) {
    uint8_t m[L];
    unsigned h[L][2];
    const uint8_t e = 7;

    /* Nothing marked: the whole block is one hole. */
    set_marks(m, e, NULL, 0);
    ck_assert_uint_eq(holes_of(m, e, h), 1);
    ck_assert(h[0][0] == 0 && h[0][1] == L);

    /* Lines marked by older epochs are free. */
    memset(m, e - 1, L);
    m[10] = 3;
    ck_assert_uint_eq(holes_of(m, e, h), 1);
    ck_assert(h[0][0] == 0 && h[0][1] == L);

    /* Everything marked: no hole. */
    memset(m, e, L);
    ck_assert_uint_eq(holes_of(m, e, h), 0);

    /* Line 0 marked: line 1 may hold the tail of its object, so the hole
     * starts at line 2. */
    set_marks(m, e, (unsigned[]){0}, 1);
    ck_assert_uint_eq(holes_of(m, e, h), 1);
    ck_assert(h[0][0] == 2 && h[0][1] == L);

    /* Last line marked: a hole at the block start up to it. */
    set_marks(m, e, (unsigned[]){L - 1}, 1);
    ck_assert_uint_eq(holes_of(m, e, h), 1);
    ck_assert(h[0][0] == 0 && h[0][1] == L - 1);

    /* Second-to-last marked: the last line is skipped, no hole at the end. */
    set_marks(m, e, (unsigned[]){L - 2}, 1);
    ck_assert_uint_eq(holes_of(m, e, h), 1);
    ck_assert(h[0][0] == 0 && h[0][1] == L - 2);

    /* Third-to-last marked: a one-line hole at the very end. */
    set_marks(m, e, (unsigned[]){L - 3}, 1);
    ck_assert_uint_eq(holes_of(m, e, h), 2);
    ck_assert(h[0][0] == 0 && h[0][1] == L - 3);
    ck_assert(h[1][0] == L - 1 && h[1][1] == L);

    /* Marks two apart: the line between is skipped, not a hole. */
    set_marks(m, e, (unsigned[]){5, 7}, 2);
    ck_assert_uint_eq(holes_of(m, e, h), 2);
    ck_assert(h[0][0] == 0 && h[0][1] == 5);
    ck_assert(h[1][0] == 9 && h[1][1] == L);

    /* Marks three apart: a one-line hole between them. */
    set_marks(m, e, (unsigned[]){5, 8}, 2);
    ck_assert_uint_eq(holes_of(m, e, h), 3);
    ck_assert(h[0][0] == 0 && h[0][1] == 5);
    ck_assert(h[1][0] == 7 && h[1][1] == 8);
    ck_assert(h[2][0] == 10 && h[2][1] == L);

    /* Every other line marked: no free line anywhere. */
    memset(m, 0, L);
    for (unsigned i = 0; i < L; i += 2)
        m[i] = e;
    ck_assert_uint_eq(holes_of(m, e, h), 0);

    /* One line in four marked: holes of two lines. */
    memset(m, 0, L);
    for (unsigned i = 0; i < L; i += 4)
        m[i] = e;
    ck_assert_uint_eq(holes_of(m, e, h), L / 4);
    for (unsigned k = 0; k < L / 4; k++)
        ck_assert(h[k][0] == 4 * k + 2 && h[k][1] == 4 * k + 4);

    /* A search that starts inside a hole starts the hole there. */
    set_marks(m, e, (unsigned[]){20}, 1);
    unsigned end;
    ck_assert_uint_eq(mdn_immix_find_hole(m, 11, e, &end), 11);
    ck_assert_uint_eq(end, 20);
    ck_assert_uint_eq(mdn_immix_find_hole(m, 20, e, &end), 22);
    ck_assert_uint_eq(end, L);
    ck_assert_uint_eq(mdn_immix_find_hole(m, 21, e, &end), 22);
}
END_TEST

START_TEST(line_counts_agree_with_hole_finding) {
    uint64_t seed = mdn_test_seed("line_counts_agree_with_hole_finding");
    uint8_t m[L];
    unsigned h[L][2];
    for (int round = 0; round < 2000; round++) {
        unsigned density = 1 + (unsigned)mdn_test_rand_below(&seed, 8);
        uint8_t e = (uint8_t)(1 + mdn_test_rand_below(&seed, 255));
        for (unsigned i = 0; i < L; i++)
            /* Unmarked lines hold earlier epochs, or (every other round)
             * any other byte, which the word-wide compare must not take
             * for the epoch. */
            m[i] = mdn_test_rand_below(&seed, density) == 0
                       ? e
                       : (uint8_t)(e + 1 + mdn_test_rand_below(&seed, round % 2 ? 255 : 3));
        unsigned free_lines, holes;
        unsigned live = mdn_immix_count_lines(m, e, &free_lines, &holes);
        unsigned n = holes_of(m, e, h), sum = 0, marked = 0;
        for (unsigned k = 0; k < n; k++) {
            sum += h[k][1] - h[k][0];
            for (unsigned i = h[k][0]; i < h[k][1]; i++)
                MDN_EXPECT_MSG(m[i] != e && (i == 0 || m[i - 1] != e), "line %u of a hole is not free", i);
        }
        for (unsigned i = 0; i < L; i++)
            marked += m[i] == e;
        MDN_EXPECT_EQ(n, holes);
        MDN_EXPECT_EQ(sum, free_lines);
        MDN_EXPECT_EQ(live, marked);
        /* Every free line lies in a hole. */
        for (unsigned i = 0; i < L; i++) {
            bool is_free = m[i] != e && (i == 0 || m[i - 1] != e);
            bool in_hole = false;
            for (unsigned k = 0; k < n; k++)
                in_hole |= i >= h[k][0] && i < h[k][1];
            MDN_EXPECT_MSG(is_free == in_hole, "seed %llu round %d line %u", (unsigned long long)seed, round, i);
        }
    }
}
END_TEST

/* ---- allocation ---------------------------------------------------------------- */

static mdn_heap *heap_with(size_t bytes, unsigned gc_threads, bool verify) {
    mdn_options o;
    mdn_options_init(&o);
    o.heap_size = bytes;
    o.gc_threads = gc_threads;
    o.verify = verify;
    mdn_error err;
    mdn_heap *h = mdn_heap_create(&o, &err);
    ck_assert_msg(h != NULL, "%s", err.message);
    return h;
}

static uintptr_t block_of(uintptr_t a) { return a & ~(uintptr_t)(MDN_BLOCK_SIZE - 1); }

/* 32-byte and medium objects, by address. */
static uintptr_t small_obj(toyvm_thread *t) { return toyvm_alloc(t, 30, 0, 24, MDN_ALLOC_DEFAULT).value; }
static uintptr_t medium_obj(toyvm_thread *t, size_t bytes) {
    return toyvm_alloc(t, 31, 0, bytes - 8, MDN_ALLOC_DEFAULT).value;
}

START_TEST(medium_objects_go_to_an_overflow_block) {
    mdn_heap *h = heap_with((size_t)64 << 20, 1, false);
    toyvm_thread *t = toyvm_thread_attach(h);
    uintptr_t a = small_obj(t);
    /* Fill the current hole (a fresh block) until less than 1 KiB is left. */
    while (block_of(a) + MDN_BLOCK_SIZE - (a + 32) >= 1024) {
        uintptr_t b = small_obj(t);
        ck_assert_uint_eq(b, a + 32);
        a = b;
    }
    uintptr_t hole_block = block_of(a);
    uintptr_t m1 = medium_obj(t, 1024);
    ck_assert_msg(block_of(m1) != hole_block, "medium object placed in the current hole's block");
    /* The hole is not abandoned: small objects continue right after. */
    uintptr_t s1 = small_obj(t);
    ck_assert_uint_eq(s1, a + 32);
    /* Further medium objects fill the overflow block. */
    uintptr_t m2 = medium_obj(t, 1024);
    ck_assert_uint_eq(m2, m1 + 1024);
    ck_assert_uint_eq(small_obj(t), s1 + 32);
    toyvm_thread_detach(t);
    mdn_heap_destroy(h);
}
END_TEST

/* Does `a` lie in one of the `n` blocks of `set`? */
static bool in_blocks(const uintptr_t *set, size_t n, uintptr_t a) {
    for (size_t i = 0; i < n; i++)
        if (set[i] == block_of(a))
            return true;
    return false;
}

static bool line_is_free(mdn_immix_space *s, uintptr_t a) {
    const uint8_t *marks = mdn_immix_line_marks_of(s, mdn_address_from_word(block_of(a)));
    unsigned line = (unsigned)((a - block_of(a)) >> MDN_LOG_LINE);
    return marks[line] != s->mark_epoch && (line == 0 || marks[line - 1] != s->mark_epoch);
}

/* 2048 objects of 256 bytes (one per line, 16 blocks) in a registered
 * root range; after a collection only those on one line in `keep_every`
 * are kept, so the blocks are recyclable. */
enum { RECYCLE_N = 2048 };
typedef struct recycled {
    mdn_heap *h;
    toyvm_thread *t;
    mdn_immix_space *s;
    mdn_objref *objs;
    uintptr_t blocks[64];
    size_t nblocks;
} recycled;

static recycled recycled_blocks(unsigned keep_every) {
    recycled r = {.h = heap_with((size_t)64 << 20, 1, false)};
    r.t = toyvm_thread_attach(r.h);
    r.s = mdn_immix_plan_space(r.h);
    r.objs = calloc(RECYCLE_N, sizeof *r.objs);
    mdn_add_roots(r.h, r.objs, RECYCLE_N);
    for (int i = 0; i < RECYCLE_N; i++)
        r.objs[i] = toyvm_alloc(r.t, 32, 1, 240, MDN_ALLOC_DEFAULT);
    for (int i = 0; i < RECYCLE_N; i++)
        if (!in_blocks(r.blocks, r.nblocks, r.objs[i].value)) {
            ck_assert_uint_lt(r.nblocks, 64);
            r.blocks[r.nblocks++] = block_of(r.objs[i].value);
        }
    for (int i = 0; i < RECYCLE_N; i++)
        if (((r.objs[i].value >> MDN_LOG_LINE) % keep_every) != 0)
            r.objs[i] = mdn_objref_null();
    mdn_collect(r.t->mutator, MDN_GC_DEFAULT);
    ck_assert_uint_ge(r.s->recyclable_count, r.nblocks - 1);
    return r;
}

/* The kept objects are intact; the heap goes. */
static void recycled_finish(recycled *r) {
    for (int i = 0; i < RECYCLE_N; i++)
        if (!mdn_objref_is_null(r->objs[i]))
            MDN_EXPECT_EQ(toyvm_size(r->objs[i]), 256);
    mdn_remove_roots(r->h, r->objs);
    free(r->objs);
    toyvm_thread_detach(r->t);
    mdn_heap_destroy(r->h);
}

START_TEST(recyclable_blocks_are_reused_before_free_ones) {
    /* Keep one line in four. */
    recycled r = recycled_blocks(4);
    toyvm_thread *t = r.t;
    mdn_immix_space *s = r.s;
    const uintptr_t *blocks = r.blocks;
    size_t nblocks = r.nblocks;
    size_t used = mdn_immix_used_blocks(s);
    size_t free_lines = 0;
    for (size_t i = 0; i < s->recyclable_count; i++)
        free_lines += s->block_free_lines[s->recyclable[i]];
    ck_assert_uint_gt(free_lines, (nblocks - 1) * (L / 2 - 1));
    /* Fill 90% of the free lines with small objects: all of them land in
     * free lines of the old blocks; no new block is taken. */
    size_t n = free_lines * MDN_LINE_SIZE / 32 * 9 / 10;
    uintptr_t prev = 0;
    for (size_t i = 0; i < n; i++) {
        uintptr_t a = small_obj(t);
        MDN_EXPECT_MSG(in_blocks(blocks, nblocks, a), "object %zu at %p is not in a recycled block", i, (void *)a);
        MDN_EXPECT_MSG(line_is_free(s, a) && line_is_free(s, a + 31), "object %zu at %p is on a live line", i,
                      (void *)a);
        if (i % 97 == 0) {
            /* A medium object that fits no two-line hole goes to an overflow
             * block (a fresh one), and the hole is kept. */
            uintptr_t m = medium_obj(t, 600);
            MDN_EXPECT(!in_blocks(blocks, nblocks, m));
            prev = a;
            a = small_obj(t);
            MDN_EXPECT(a == prev + 32 || line_is_free(s, a));
            MDN_EXPECT(in_blocks(blocks, nblocks, a));
            i++;
        }
    }
    /* Only overflow blocks were added. */
    ck_assert_uint_le(mdn_immix_used_blocks(s), used + 1 + n / 97 * 600 / MDN_BLOCK_SIZE);
    recycled_finish(&r);
}
END_TEST

/* A program of medium objects only still reuses recyclable blocks: a hole
 * with no room for a medium object is given up for the next one, which
 * takes the object when it fits (.immix.alloc). */
START_TEST(medium_objects_fill_recyclable_holes) {
    /* Keep one line in eight: holes of six free lines (1536 bytes). */
    recycled r = recycled_blocks(8);
    mdn_immix_space *s = r.s;
    size_t holes = 0;
    for (size_t i = 0; i < s->recyclable_count; i++)
        holes += s->block_holes[s->recyclable[i]];
    ck_assert_uint_ge(holes, (r.nblocks - 1) * (L / 8 - 1));
    size_t used = mdn_immix_used_blocks(s);
    /* One 1 KiB object fits each hole: all of them land on free lines of
     * the old blocks, and no block is taken. */
    for (size_t i = 0; i < holes; i++) {
        uintptr_t m = medium_obj(r.t, 1024);
        MDN_EXPECT_MSG(in_blocks(r.blocks, r.nblocks, m), "medium object %zu at %p is not in a recycled block", i,
                      (void *)m);
        MDN_EXPECT_MSG(line_is_free(s, m) && line_is_free(s, m + 1023), "medium object %zu at %p is on a live line", i,
                      (void *)m);
    }
    ck_assert_uint_le(mdn_immix_used_blocks(s), used);
    recycled_finish(&r);
}
END_TEST

/* ---- defragmentation and pinning --------------------------------------------------- */

enum { FRAG_TYPE = 40, FRAG_PAYLOAD = 6 };

typedef struct frag_heap {
    mdn_objref *objs; /* a registered root range */
    size_t n;
    uint64_t *ids;    /* id of the object in each root, 0 when dropped */
    size_t align;     /* alignment asked for at allocation */
    unsigned payload; /* payload words */
} frag_heap;

static uint64_t check_word(uint64_t id, unsigned k) { return (id * 0x9E3779B97F4A7C15ULL) ^ (k * 0x1234567u); }

/* 64-byte objects (header, one reference, 48 bytes of payload), then keep
 * the objects of one line in four; kept objects are chained through their
 * reference field as well as rooted. `pin_every`: pin each kept object
 * whose block number is a multiple of it (0: none). */
/* Objects aligned above MDN_MIN_ALIGN get a payload word more (72 bytes),
 * so copies packed at 8-byte alignment would not keep their alignment. */
static void fragment_aligned(toyvm_thread *t, frag_heap *f, size_t n, size_t align) {
    mdn_heap *h = t->heap;
    f->n = n;
    f->align = align;
    f->payload = align > MDN_MIN_ALIGN ? FRAG_PAYLOAD + 1 : FRAG_PAYLOAD;
    f->objs = calloc(n, sizeof *f->objs);
    f->ids = calloc(n, sizeof *f->ids);
    mdn_add_roots(h, f->objs, n);
    size_t size = toyvm_object_bytes(1, f->payload * 8);
    for (size_t i = 0; i < n; i++) {
        void *mem = mdn_alloc(t->mutator, size, align, MDN_ALLOC_DEFAULT);
        *(uint64_t *)mem = toyvm_make_header(FRAG_TYPE, 1, size);
        mdn_objref o = mdn_objref_from_ptr(mem);
        uint64_t *p = toyvm_payload(o);
        f->ids[i] = i + 1;
        p[0] = i + 1;
        for (unsigned k = 1; k < f->payload; k++)
            p[k] = check_word(i + 1, k);
        f->objs[i] = o;
    }
    mdn_objref last = mdn_objref_null();
    for (size_t i = n; i-- > 0;) {
        if (((f->objs[i].value >> MDN_LOG_LINE) & 3) != 0) {
            f->objs[i] = mdn_objref_null();
            f->ids[i] = 0;
            continue;
        }
        toyvm_set_ref(t, f->objs[i], 0, last);
        last = f->objs[i];
    }
}

static void fragment(toyvm_thread *t, frag_heap *f, size_t n) { fragment_aligned(t, f, n, MDN_MIN_ALIGN); }

static void frag_check(const frag_heap *f) {
    mdn_objref expect_next = mdn_objref_null();
    for (size_t i = f->n; i-- > 0;) {
        if (!f->ids[i])
            continue;
        mdn_objref o = f->objs[i];
        MDN_EXPECT_MSG(o.value % f->align == 0, "object %zu at %p lost its %zu-byte alignment", i, (void *)o.value,
                       f->align);
        MDN_EXPECT_EQ(toyvm_type(o), FRAG_TYPE);
        MDN_EXPECT_EQ(toyvm_size(o), toyvm_object_bytes(1, f->payload * 8));
        const uint64_t *p = toyvm_payload(o);
        MDN_EXPECT_EQ(p[0], f->ids[i]);
        for (unsigned k = 1; k < f->payload; k++)
            MDN_EXPECT_EQ(p[k], check_word(f->ids[i], k));
        MDN_EXPECT_MSG(mdn_objref_eq(toyvm_get_ref(o, 0), expect_next), "chain broken at object %zu", i);
        expect_next = o;
    }
}

static void frag_destroy(mdn_heap *h, frag_heap *f) {
    mdn_remove_roots(h, f->objs);
    free(f->objs);
    free(f->ids);
}

static uint64_t copied_bytes(mdn_heap *h) {
    mdn_stats st;
    mdn_stats_get(h, &st);
    return st.bytes_copied;
}

/* _i bit 0: two GC workers; bit 1: objects allocated 16-byte aligned
 * (.immix.aligned: evacuated at their alignment, not pinned). */
START_TEST(defragmentation_compacts_a_fragmented_heap) {
    mdn_heap *h = heap_with((size_t)64 << 20, 1 + ((unsigned)_i & 1), true);
    toyvm_thread *t = toyvm_thread_attach(h);
    mdn_immix_space *s = mdn_immix_plan_space(h);
    frag_heap f;
    fragment_aligned(t, &f, 60000, _i & 2 ? 16 : MDN_MIN_ALIGN); /* about 3.7 MiB, a quarter of it kept */
    mdn_collect(t->mutator, MDN_GC_DEFAULT);
    frag_check(&f);
    size_t before = mdn_immix_used_blocks(s);
    ck_assert_uint_gt(before, 100);
    ck_assert_uint_gt(s->recyclable_blocks, 100);
    mdn_collect(t->mutator, MDN_GC_FULL);
    frag_check(&f);
    size_t after = mdn_immix_used_blocks(s);
    ck_assert_msg(after < before / 2, "blocks in use: %zu before, %zu after a defragmenting collection", before,
                  after);
    ck_assert_uint_gt(copied_bytes(h), 60000 / 4 * 64 / 2);
    /* The compacted heap stays sound through more collections. */
    for (int c = 0; c < 3; c++) {
        for (int i = 0; i < 20000; i++)
            toyvm_alloc(t, 41, 0, 56, MDN_ALLOC_DEFAULT);
        mdn_collect(t->mutator, c == 1 ? MDN_GC_FULL : MDN_GC_DEFAULT);
        frag_check(&f);
    }
    frag_destroy(h, &f);
    toyvm_thread_detach(t);
    mdn_heap_destroy(h);
}
END_TEST

/* A heap where every line holds live objects but most bytes are dead:
 * 32-byte objects (header and three payload words), every fourth kept, so
 * each 256-byte line holds two live objects among eight. Line marking
 * frees nothing; only evacuation by live bytes does. */
enum { SPARSE_TYPE = 45 };

typedef struct sparse_heap {
    mdn_objref *objs; /* a registered root range */
    size_t cap, n;
} sparse_heap;

/* Allocate until the space holds `fill` blocks, keeping every fourth object. */
static void sparse_fill(toyvm_thread *t, sparse_heap *sp, size_t fill) {
    mdn_immix_space *s = mdn_immix_plan_space(t->heap);
    sp->cap = fill * (MDN_BLOCK_SIZE / 32 / 4) + 1024;
    sp->n = 0;
    sp->objs = calloc(sp->cap, sizeof *sp->objs);
    mdn_add_roots(t->heap, sp->objs, sp->cap);
    for (uint64_t i = 0; mdn_immix_used_blocks(s) < fill; i++) {
        mdn_objref o = toyvm_alloc(t, SPARSE_TYPE, 0, 24, MDN_ALLOC_DEFAULT);
        if (i % 4 != 0)
            continue;
        ck_assert_uint_lt(sp->n, sp->cap);
        uint64_t *p = toyvm_payload(o);
        p[0] = sp->n + 1;
        p[1] = check_word(sp->n + 1, 1);
        p[2] = check_word(sp->n + 1, 2);
        sp->objs[sp->n++] = o;
    }
}

static void sparse_check(const sparse_heap *sp) {
    for (size_t i = 0; i < sp->n; i++) {
        mdn_objref o = sp->objs[i];
        MDN_EXPECT_EQ(toyvm_type(o), SPARSE_TYPE);
        MDN_EXPECT_EQ(toyvm_size(o), 32);
        const uint64_t *p = toyvm_payload(o);
        MDN_EXPECT_EQ(p[0], i + 1);
        MDN_EXPECT_EQ(p[1], check_word(i + 1, 1));
        MDN_EXPECT_EQ(p[2], check_word(i + 1, 2));
    }
}

static void sparse_destroy(mdn_heap *h, sparse_heap *sp) {
    mdn_remove_roots(h, sp->objs);
    free(sp->objs);
}

START_TEST(full_collection_evacuates_sparse_fully_marked_blocks) {
    mdn_heap *h = heap_with((size_t)64 << 20, 1 + (unsigned)_i, true);
    toyvm_thread *t = toyvm_thread_attach(h);
    mdn_immix_space *s = mdn_immix_plan_space(h);
    sparse_heap sp;
    sparse_fill(t, &sp, 100);
    mdn_collect(t->mutator, MDN_GC_DEFAULT);
    sparse_check(&sp);
    /* Every line is live: line marking freed nothing. */
    size_t before = mdn_immix_used_blocks(s);
    ck_assert_uint_ge(before, 100);
    ck_assert_uint_le(s->free_blocks + s->recyclable_blocks, 2);
    uint64_t copied = copied_bytes(h);
    mdn_collect(t->mutator, MDN_GC_FULL);
    sparse_check(&sp);
    size_t after = mdn_immix_used_blocks(s);
    ck_assert_msg(after < before / 2, "blocks in use: %zu before, %zu after a full collection", before, after);
    ck_assert_uint_ge(copied_bytes(h) - copied, sp.n * 32 / 2);
    /* Sound through more collections and allocation. */
    for (int c = 0; c < 3; c++) {
        for (int i = 0; i < 20000; i++)
            toyvm_alloc(t, 41, 0, 24, MDN_ALLOC_DEFAULT);
        mdn_collect(t->mutator, c == 1 ? MDN_GC_FULL : MDN_GC_DEFAULT);
        sparse_check(&sp);
    }
    sparse_destroy(h, &sp);
    toyvm_thread_detach(t);
    mdn_heap_destroy(h);
}
END_TEST

START_TEST(repeated_collections_compact_a_full_heap) {
    /* A 4 MiB heap filled to all but a few blocks: one collection cannot
     * copy everything, so each one evacuates what its copy space holds and
     * the blocks it frees are the next one's copy space. */
    mdn_heap *h = heap_with((size_t)4 << 20, 1 + (unsigned)_i, true);
    toyvm_thread *t = toyvm_thread_attach(h);
    mdn_immix_space *s = mdn_immix_plan_space(h);
    size_t budget_blocks = s->vs->budget / MDN_BLOCK_SIZE;
    sparse_heap sp;
    sparse_fill(t, &sp, budget_blocks - 5);
    size_t used = mdn_immix_used_blocks(s);
    size_t start = used;
    uint64_t copied = copied_bytes(h);
    for (int c = 0; c < 12; c++) {
        mdn_collect(t->mutator, c == 0 ? MDN_GC_FULL : MDN_GC_DEFAULT);
        sparse_check(&sp);
        size_t now = mdn_immix_used_blocks(s);
        ck_assert_msg(now <= used, "collection %d: %zu blocks in use, %zu before", c, now, used);
        ck_assert_uint_le(mdn_budget_used(s->vs), s->vs->budget);
        used = now;
    }
    ck_assert_msg(used < start / 2, "blocks in use: %zu at the start, %zu after 12 collections", start, used);
    ck_assert_uint_gt(copied_bytes(h) - copied, sp.n * 32 / 2);
    sparse_destroy(h, &sp);
    toyvm_thread_detach(t);
    mdn_heap_destroy(h);
}
END_TEST

START_TEST(pinned_and_nonmoving_objects_never_move) {
    mdn_heap *h = heap_with((size_t)64 << 20, 1 + (unsigned)_i, true);
    toyvm_thread *t = toyvm_thread_attach(h);
    frag_heap f;
    fragment(t, &f, 40000);
    /* Pin the kept objects of every fourth block. */
    size_t npinned = 0;
    uintptr_t *pinned_at = calloc(f.n, sizeof *pinned_at);
    for (size_t i = 0; i < f.n; i++) {
        if (f.ids[i] && ((f.objs[i].value >> MDN_LOG_BLOCK) & 3) == 0) {
            MDN_EXPECT(mdn_pin_object(t->mutator, f.objs[i]));
            pinned_at[i] = f.objs[i].value;
            npinned++;
        }
    }
    ck_assert_uint_gt(npinned, 100);
    /* Non-moving objects, and over-aligned ones (which may move, .immix.aligned), among fragmenting garbage. */
    enum { K = 600 };
    mdn_objref *keep = calloc(2 * K, sizeof *keep);
    mdn_add_roots(h, keep, 2 * K);
    for (int i = 0; i < K; i++) {
        keep[i] = toyvm_alloc(t, 42, 0, 40, MDN_ALLOC_NONMOVING);
        ((uint64_t *)toyvm_payload(keep[i]))[0] = (uint64_t)i;
        void *p = mdn_alloc(t->mutator, 48, 64, MDN_ALLOC_DEFAULT);
        MDN_EXPECT_EQ((uintptr_t)p % 64, 0);
        *(uint64_t *)p = toyvm_make_header(43, 0, 48);
        keep[K + i] = mdn_objref_from_ptr(p);
        ((uint64_t *)toyvm_payload(keep[K + i]))[0] = (uint64_t)(K + i);
        for (int g = 0; g < 12; g++)
            toyvm_alloc(t, 44, 0, 56, MDN_ALLOC_DEFAULT);
    }
    uintptr_t *keep_at = calloc(2 * K, sizeof *keep_at);
    for (int i = 0; i < 2 * K; i++)
        keep_at[i] = keep[i].value;
    uintptr_t *first_at = calloc(f.n, sizeof *first_at);
    for (size_t i = 0; i < f.n; i++)
        first_at[i] = f.objs[i].value;
    for (int c = 0; c < 4; c++) {
        mdn_collect(t->mutator, MDN_GC_DEFAULT);
        mdn_collect(t->mutator, MDN_GC_FULL);
        frag_check(&f);
        for (size_t i = 0; i < f.n; i++)
            if (pinned_at[i])
                MDN_EXPECT_MSG(f.objs[i].value == pinned_at[i], "pinned object %zu moved (collection round %d)", i, c);
        for (int i = 0; i < K; i++)
            MDN_EXPECT_MSG(keep[i].value == keep_at[i], "non-moving object %d moved (collection round %d)", i, c);
        /* Over-aligned objects may move (.immix.aligned), at their alignment. */
        for (int i = K; i < 2 * K; i++) {
            MDN_EXPECT_MSG(keep[i].value % 64 == 0, "64-byte aligned object %d at %p (collection round %d)", i,
                           (void *)keep[i].value, c);
            MDN_EXPECT_EQ(toyvm_type(keep[i]), 43);
            MDN_EXPECT_EQ(((uint64_t *)toyvm_payload(keep[i]))[0], (uint64_t)i);
        }
        for (int i = 0; i < K; i++)
            MDN_EXPECT_EQ(((uint64_t *)toyvm_payload(keep[i]))[0], (uint64_t)i);
        for (int i = 0; i < 30000; i++)
            toyvm_alloc(t, 44, 0, 56, MDN_ALLOC_DEFAULT);
    }
    /* Defragmentation did run: unpinned kept objects moved. */
    size_t moved = 0;
    for (size_t i = 0; i < f.n; i++)
        moved += f.ids[i] && !pinned_at[i] && f.objs[i].value != first_at[i];
    ck_assert_uint_gt(moved, 1000);
    mdn_remove_roots(h, keep);
    free(keep);
    free(keep_at);
    free(first_at);
    free(pinned_at);
    frag_destroy(h, &f);
    toyvm_thread_detach(t);
    mdn_heap_destroy(h);
}
END_TEST

/* .alloc.retry: only the full collection's defragmentation makes room. One
 * live 16-byte object on every line of 11 MiB of a 12 MiB heap: line
 * marking (the default collection) frees no line, so a 6 MiB large object
 * (charged as two whole 4 MiB chunks) fits only once the full collection
 * has evacuated the sparse blocks into the free megabyte. Reporting out of
 * memory after the default collection fails this test. */
START_TEST(only_defragmentation_makes_room_for_a_large_request) {
    toyvm_set_oom_mode(TOYVM_OOM_RETURN);
    mdn_heap *h = heap_with((size_t)12 << 20, 1, false);
    toyvm_thread *t = toyvm_thread_attach(h);
    mdn_immix_space *s = mdn_immix_plan_space(h);
    size_t fill = (size_t)11 << 20, big = (size_t)6 << 20;
    size_t cap = fill / MDN_LINE_SIZE;
    mdn_objref *live = calloc(cap, sizeof *live);
    mdn_add_roots(h, live, cap);
    size_t n = 0;
    uint64_t ooms = toyvm_oom_count();
    /* 16-byte objects; keep the first of each line. */
    uintptr_t last_line = 0;
    while (mdn_budget_used(s->vs) + MDN_BLOCK_SIZE <= fill && n < cap) {
        mdn_objref o = toyvm_alloc(t, 46, 0, 8, MDN_ALLOC_DEFAULT);
        ck_assert(!mdn_objref_is_null(o));
        if ((o.value >> MDN_LOG_LINE) != last_line) {
            last_line = o.value >> MDN_LOG_LINE;
            *(uint64_t *)toyvm_payload(o) = n + 1;
            live[n++] = o;
        }
    }
    mdn_stats st;
    mdn_stats_get(h, &st);
    ck_assert_uint_eq(st.collections, 0);
    ck_assert_uint_gt(n, fill / MDN_LINE_SIZE * 9 / 10);
    mdn_objref o = toyvm_alloc(t, 47, 0, big - 8, MDN_ALLOC_DEFAULT);
    ck_assert_msg(!mdn_objref_is_null(o), "the 6 MiB request was reported out of memory");
    ck_assert_uint_eq(toyvm_oom_count(), ooms);
    mdn_stats_get(h, &st);
    ck_assert_uint_eq(st.full_collections, 1);
    for (size_t i = 0; i < n; i++)
        MDN_EXPECT_EQ(*(uint64_t *)toyvm_payload(live[i]), i + 1);
    mdn_remove_roots(h, live);
    free(live);
    toyvm_thread_detach(t);
    mdn_heap_destroy(h);
    toyvm_set_oom_mode(TOYVM_OOM_EXIT);
}
END_TEST

/* Chain the kept objects again after some were dropped. */
static void frag_relink(toyvm_thread *t, frag_heap *f) {
    mdn_objref last = mdn_objref_null();
    for (size_t i = f->n; i-- > 0;) {
        if (!f->ids[i])
            continue;
        toyvm_set_ref(t, f->objs[i], 0, last);
        last = f->objs[i];
    }
}

/* .immix.pin: a block whose pinned objects died is evacuated again. One
 * kept object of every block is pinned: a full collection moves nothing.
 * Once those objects are dropped, the next sweep clears the blocks' pinned
 * flags and a full collection moves the other kept objects. */
START_TEST(dead_pins_stop_blocking_defragmentation) {
    mdn_heap *h = heap_with((size_t)64 << 20, 1, true);
    toyvm_thread *t = toyvm_thread_attach(h);
    frag_heap f;
    fragment(t, &f, 40000);
    uintptr_t last_block = 0;
    size_t pinned = 0, kept = 0;
    bool *was_pinned = calloc(f.n, sizeof *was_pinned);
    for (size_t i = 0; i < f.n; i++) {
        if (!f.ids[i])
            continue;
        if (block_of(f.objs[i].value) != last_block) {
            last_block = block_of(f.objs[i].value);
            ck_assert(mdn_pin_object(t->mutator, f.objs[i]));
            was_pinned[i] = true;
            pinned++;
        }
    }
    uintptr_t *at = calloc(f.n, sizeof *at);
    for (size_t i = 0; i < f.n; i++)
        at[i] = f.objs[i].value;
    mdn_collect(t->mutator, MDN_GC_FULL);
    frag_check(&f);
    for (size_t i = 0; i < f.n; i++)
        MDN_EXPECT_MSG(f.objs[i].value == at[i], "object %zu of a block with a live pin moved", i);
    /* The pinned objects die. */
    for (size_t i = 0; i < f.n; i++) {
        if (was_pinned[i]) {
            f.objs[i] = mdn_objref_null();
            f.ids[i] = 0;
        }
        kept += f.ids[i] != 0;
    }
    frag_relink(t, &f);
    ck_assert_uint_gt(pinned, 50);
    mdn_collect(t->mutator, MDN_GC_DEFAULT);
    for (size_t i = 0; i < f.n; i++)
        at[i] = f.objs[i].value;
    mdn_collect(t->mutator, MDN_GC_FULL);
    frag_check(&f);
    size_t moved = 0;
    for (size_t i = 0; i < f.n; i++)
        moved += f.ids[i] && f.objs[i].value != at[i];
    ck_assert_msg(moved > kept / 2, "%zu of %zu kept objects moved once the pinned objects died", moved, kept);
    free(at);
    free(was_pinned);
    frag_destroy(h, &f);
    toyvm_thread_detach(t);
    mdn_heap_destroy(h);
}
END_TEST

START_TEST(line_mark_epoch_wraps_around) {
    /* More collections than there are epochs: the wrap-around clears the
     * line marks once and everything stays live and intact. */
    mdn_heap *h = heap_with((size_t)16 << 20, 1, false);
    toyvm_thread *t = toyvm_thread_attach(h);
    mdn_immix_space *s = mdn_immix_plan_space(h);
    frag_heap f;
    fragment(t, &f, 4000);
    bool wrapped = false;
    for (int c = 0; c < 300; c++) {
        uint8_t before = s->mark_epoch;
        for (int i = 0; i < 1000; i++)
            toyvm_alloc(t, 41, 0, 24 + (size_t)(i % 5) * 64, MDN_ALLOC_DEFAULT);
        mdn_collect(t->mutator, c % 10 == 9 ? MDN_GC_FULL : MDN_GC_DEFAULT);
        wrapped |= s->mark_epoch < before;
        frag_check(&f);
    }
    ck_assert(wrapped);
    frag_destroy(h, &f);
    toyvm_thread_detach(t);
    mdn_heap_destroy(h);
}
END_TEST

int main(void) {
    Suite *s = suite_create("immix");
    TCase *tc = tcase_create("immix");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, holes_in_hand_made_patterns);
    tcase_add_test(tc, line_counts_agree_with_hole_finding);
    tcase_add_test(tc, medium_objects_go_to_an_overflow_block);
    tcase_add_test(tc, medium_objects_fill_recyclable_holes);
    tcase_add_test(tc, recyclable_blocks_are_reused_before_free_ones);
    tcase_add_loop_test(tc, defragmentation_compacts_a_fragmented_heap, 0, 4);
    tcase_add_loop_test(tc, full_collection_evacuates_sparse_fully_marked_blocks, 0, 2);
    tcase_add_loop_test(tc, pinned_and_nonmoving_objects_never_move, 0, 2);
#if !IMMIX_TEST_STICKY
    /* These collect with MDN_GC_DEFAULT and expect a full collection
     * (StickyImmix's is minor: no defragmentation, old lines kept). */
    tcase_add_loop_test(tc, repeated_collections_compact_a_full_heap, 0, 2);
    tcase_add_test(tc, line_mark_epoch_wraps_around);
    tcase_add_test(tc, dead_pins_stop_blocking_defragmentation);
    tcase_add_test(tc, only_defragmentation_makes_room_for_a_large_request);
#else
    (void)repeated_collections_compact_a_full_heap, (void)line_mark_epoch_wraps_around;
    (void)dead_pins_stop_blocking_defragmentation, (void)only_defragmentation_makes_room_for_a_large_request;
#endif
    suite_add_tcase(s, tc);
    return mdn_run_suite(s);
}
