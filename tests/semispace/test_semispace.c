/*
 * SemiSpace: what only a moving plan must get right.
 * MDN_TEST_LABELS: threads
 *
 * Objects reached from many slots of every kind are copied once and every
 * slot sees the copy; cycles and self-references; objects that fill blocks
 * exactly, in the mutators' blocks and in to-space; the binding's move hook
 * (defined here: once per moved object, never for objects that do not
 * move); breadth-first copy order with one GC thread; two GC workers racing
 * to forward shared objects; survivors that do not fit the copy reserve
 * end in the out-of-memory path; pinning; the non-moving space reclaims;
 * random graphs under the heap verifier, stress collections and poisoned
 * from-space.
 */
#include "core/layout.h"
#include "shadow.h"
#include "testutil.h"
#include "toyvm.h"

#include "mdn_check.h"
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the move hook ------------------------------------------------------ */

typedef struct move {
    uintptr_t from, to;
} move;

static pthread_mutex_t moves_lock = PTHREAD_MUTEX_INITIALIZER;
static move *moves;
static size_t nmoves, moves_capacity;
static int moves_bad_forwarding; /* calls whose old copy did not hold the new reference */

void mdn_vm_object_moved(mdn_objref from, mdn_objref to) {
    /* The old copy's first word is the forwarding pointer by now. */
    bool forwarded = *(const uintptr_t *)from.value == to.value;
    pthread_mutex_lock(&moves_lock);
    if (!forwarded)
        moves_bad_forwarding++;
    if (nmoves == moves_capacity) {
        moves_capacity = moves_capacity ? moves_capacity * 2 : 4096;
        moves = realloc(moves, moves_capacity * sizeof *moves);
        if (!moves)
            abort();
    }
    moves[nmoves++] = (move){from.value, to.value};
    pthread_mutex_unlock(&moves_lock);
}

static void moves_reset(void) {
    pthread_mutex_lock(&moves_lock);
    nmoves = 0;
    moves_bad_forwarding = 0;
    pthread_mutex_unlock(&moves_lock);
}

/* Calls of the hook whose old reference was `from`. */
static size_t moves_from(uintptr_t from) {
    size_t n = 0;
    for (size_t i = 0; i < nmoves; i++)
        n += moves[i].from == from;
    return n;
}

/* ---- helpers ------------------------------------------------------------ */

enum { TYPE_NODE = 30, TYPE_ARRAY = 31 };

static mdn_heap *make_heap(size_t bytes, unsigned gc_threads) { return mdn_test_heap_with(bytes, gc_threads, NULL); }

static uint64_t *payload(mdn_objref o) { return toyvm_payload(o); }

/* A node with `nrefs` fields and a 16-byte payload: id and ~id. */
static mdn_objref node(toyvm_thread *t, unsigned nrefs, uint64_t id) {
    mdn_objref o = toyvm_alloc(t, TYPE_NODE, nrefs, 16, MDN_ALLOC_DEFAULT);
    MDN_EXPECT_MSG(!mdn_objref_is_null(o), "out of memory allocating node %llu", (unsigned long long)id);
    payload(o)[0] = id;
    payload(o)[1] = ~id;
    return o;
}

static void check_node(mdn_objref o, uint64_t id) {
    MDN_EXPECT_MSG(!mdn_objref_is_null(o), "null reference where object %llu should be", (unsigned long long)id);
    MDN_EXPECT_MSG(toyvm_type(o) == TYPE_NODE && payload(o)[0] == id && payload(o)[1] == ~id,
           "object %p: type %u id %llu, expected node %llu", (void *)o.value, toyvm_type(o),
           (unsigned long long)payload(o)[0], (unsigned long long)id);
}

static uint64_t collections(mdn_heap *h) {
    mdn_stats st;
    mdn_stats_get(h, &st);
    return st.collections;
}

static unsigned gc_threads_for(int i) { return i == 0 ? 1u : 2u; }

/* ---- one object, many slots --------------------------------------------- */

START_TEST(shared_object_copied_once_all_slots_updated) {
    mdn_heap *h = make_heap((size_t)32 << 20, gc_threads_for(_i));
    toyvm_thread *t = toyvm_thread_attach(h);
    enum { STACK = 5, HOLDERS = 50, RANGE = 7 };
    size_t base = t->root_count;
    size_t shared_root = toyvm_push_root(t, node(t, 1, 4242));
    for (int i = 1; i < STACK; i++)
        toyvm_push_root(t, toyvm_root(t, shared_root));
    /* Holders on the stack, each with two fields pointing at the object. */
    size_t holders = t->root_count;
    for (int i = 0; i < HOLDERS; i++) {
        mdn_objref hd = node(t, 2, (uint64_t)i);
        toyvm_set_ref(t, hd, 0, toyvm_root(t, shared_root));
        toyvm_set_ref(t, hd, 1, toyvm_root(t, shared_root));
        toyvm_push_root(t, hd);
    }
    /* The object refers to itself too. */
    toyvm_set_ref(t, toyvm_root(t, shared_root), 0, toyvm_root(t, shared_root));
    mdn_objref *range = calloc(RANGE, sizeof *range);
    for (int i = 0; i < RANGE; i++)
        range[i] = toyvm_root(t, shared_root);
    mdn_add_roots(h, range, RANGE);
    static mdn_objref global1, global2;
    global1 = global2 = toyvm_root(t, shared_root);
    toyvm_add_global_root(&global1);
    toyvm_add_global_root(&global2);

    for (int round = 0; round < 3; round++) {
        uintptr_t old = toyvm_root(t, shared_root).value;
        moves_reset();
        mdn_collect(t->mutator, round == 2 ? MDN_GC_FULL : MDN_GC_DEFAULT);
        mdn_objref now = toyvm_root(t, shared_root);
        ck_assert_uint_ne(now.value, old);
        ck_assert_uint_eq(moves_from(old), 1);
        ck_assert_int_eq(moves_bad_forwarding, 0);
        /* 1 shared + HOLDERS holders moved, nothing else is live. */
        ck_assert_uint_eq(nmoves, 1 + HOLDERS);
        check_node(now, 4242);
        ck_assert_uint_eq(toyvm_get_ref(now, 0).value, now.value);
        for (int i = 0; i < STACK; i++)
            ck_assert_uint_eq(toyvm_root(t, base + (size_t)i).value, now.value);
        for (int i = 0; i < HOLDERS; i++) {
            mdn_objref hd = toyvm_root(t, holders + (size_t)i);
            check_node(hd, (uint64_t)i);
            ck_assert_uint_eq(toyvm_get_ref(hd, 0).value, now.value);
            ck_assert_uint_eq(toyvm_get_ref(hd, 1).value, now.value);
        }
        for (int i = 0; i < RANGE; i++)
            ck_assert_uint_eq(range[i].value, now.value);
        ck_assert_uint_eq(global1.value, now.value);
        ck_assert_uint_eq(global2.value, now.value);
    }
    toyvm_remove_global_root(&global1);
    toyvm_remove_global_root(&global2);
    mdn_remove_roots(h, range);
    free(range);
    toyvm_pop_roots(t, t->root_count - base);
    toyvm_thread_detach(t);
    mdn_heap_destroy(h);
}
END_TEST

/* ---- cycles and self-references ----------------------------------------- */

START_TEST(cycles_and_self_references_survive) {
    mdn_heap *h = make_heap((size_t)32 << 20, gc_threads_for(_i));
    toyvm_thread *t = toyvm_thread_attach(h);
    enum { RING = 1000 };
    /* A ring, each node also pointing two ahead; a two-cycle; a lone
     * self-loop reachable only from itself and a root. */
    size_t first = toyvm_push_root(t, node(t, 2, 0));
    size_t prev = toyvm_push_root(t, toyvm_root(t, first));
    for (int i = 1; i < RING; i++) {
        mdn_objref n = node(t, 2, (uint64_t)i);
        toyvm_set_ref(t, toyvm_root(t, prev), 0, n);
        toyvm_set_root(t, prev, n);
    }
    toyvm_set_ref(t, toyvm_root(t, prev), 0, toyvm_root(t, first));
    mdn_objref n = toyvm_root(t, first);
    for (int i = 0; i < RING; i++, n = toyvm_get_ref(n, 0))
        toyvm_set_ref(t, n, 1, toyvm_get_ref(toyvm_get_ref(n, 0), 0));
    size_t a = toyvm_push_root(t, node(t, 1, 5000));
    mdn_objref b = node(t, 1, 5001);
    toyvm_set_ref(t, b, 0, toyvm_root(t, a));
    toyvm_set_ref(t, toyvm_root(t, a), 0, b);
    size_t self = toyvm_push_root(t, node(t, 3, 6000));
    for (unsigned f = 0; f < 3; f++)
        toyvm_set_ref(t, toyvm_root(t, self), f, toyvm_root(t, self));
    /* Garbage cycles: must be reclaimed, not copied. */
    for (int i = 0; i < 1000; i++) {
        mdn_objref g = node(t, 1, 9);
        toyvm_set_ref(t, g, 0, g);
    }
    for (int round = 0; round < 3; round++) {
        moves_reset();
        mdn_collect(t->mutator, MDN_GC_DEFAULT);
        ck_assert_uint_eq(nmoves, RING + 3);
        n = toyvm_root(t, first);
        for (int i = 0; i < RING; i++) {
            check_node(n, (uint64_t)i);
            mdn_objref next = toyvm_get_ref(n, 0);
            ck_assert_uint_eq(toyvm_get_ref(n, 1).value, toyvm_get_ref(next, 0).value);
            n = next;
        }
        ck_assert_uint_eq(n.value, toyvm_root(t, first).value);
        mdn_objref x = toyvm_root(t, a), y = toyvm_get_ref(x, 0);
        check_node(x, 5000);
        check_node(y, 5001);
        ck_assert_uint_eq(toyvm_get_ref(y, 0).value, x.value);
        mdn_objref s = toyvm_root(t, self);
        check_node(s, 6000);
        for (unsigned f = 0; f < 3; f++)
            ck_assert_uint_eq(toyvm_get_ref(s, f).value, s.value);
    }
    toyvm_pop_roots(t, 4);
    toyvm_thread_detach(t);
    mdn_heap_destroy(h);
}
END_TEST

/* ---- block boundaries ---------------------------------------------------- */

/* Objects of `size` bytes filling one block exactly, in a list from a root:
 * the mutator's block and, with one GC thread, the to-space block. */
START_TEST(objects_fill_blocks_exactly) {
    mdn_heap *h = make_heap((size_t)32 << 20, 1);
    toyvm_thread *t = toyvm_thread_attach(h);
    static const size_t sizes[] = {24, 64, 4096, 2048 + 8};
    for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
        size_t size = sizes[k];
        size_t payload_bytes = size - 8 - 8; /* header and one reference field */
        size_t per_block = MDN_BLOCK_SIZE / size;
        mdn_collect(t->mutator, MDN_GC_DEFAULT); /* start from an empty region */
        size_t head = toyvm_push_root(t, mdn_objref_null());
        size_t count = per_block * 2 + 3;
        uintptr_t *addrs = malloc(count * sizeof *addrs);
        for (size_t i = 0; i < count; i++) {
            mdn_objref o = toyvm_alloc(t, TYPE_ARRAY, 1, payload_bytes, MDN_ALLOC_DEFAULT);
            ck_assert_uint_eq(toyvm_size(o), size);
            memset(toyvm_payload(o), (int)(i & 0xff), payload_bytes);
            toyvm_set_ref(t, o, 0, toyvm_root(t, head));
            toyvm_set_root(t, head, o);
            addrs[i] = o.value;
        }
        /* The first object starts a block; exactly per_block fit in it. */
        ck_assert_uint_eq(addrs[0] % MDN_BLOCK_SIZE, 0);
        if (MDN_BLOCK_SIZE % size == 0)
            ck_assert_uint_eq(addrs[per_block - 1] + size, addrs[0] + MDN_BLOCK_SIZE);
        for (size_t i = 1; i < per_block; i++)
            ck_assert_uint_eq(addrs[i], addrs[i - 1] + size);
        ck_assert_uint_eq(addrs[per_block] % MDN_BLOCK_SIZE, 0);
        moves_reset();
        mdn_collect(t->mutator, MDN_GC_DEFAULT);
        ck_assert_uint_eq(nmoves, count);
        /* Copied head first (breadth-first along the list): to-space blocks
         * are filled the same way. */
        ck_assert_uint_eq(moves[0].to % MDN_BLOCK_SIZE, 0);
        for (size_t i = 1; i < count; i++) {
            if (i % per_block == 0)
                ck_assert_uint_eq(moves[i].to % MDN_BLOCK_SIZE, 0);
            else
                ck_assert_uint_eq(moves[i].to, moves[i - 1].to + size);
        }
        mdn_objref o = toyvm_root(t, head);
        for (size_t i = count; i-- > 0;) {
            ck_assert_uint_eq(toyvm_size(o), size);
            const unsigned char *p = toyvm_payload(o);
            ck_assert(p[0] == (unsigned char)(i & 0xff) && p[payload_bytes - 1] == (unsigned char)(i & 0xff));
            o = toyvm_get_ref(o, 0);
        }
        ck_assert(mdn_objref_is_null(o));
        free(addrs);
        toyvm_pop_roots(t, 1);
    }
    toyvm_thread_detach(t);
    mdn_heap_destroy(h);
}
END_TEST

/* Medium objects that do not fit a block's tail go to the overflow block
 * and leave the tail to small objects. */
START_TEST(medium_objects_do_not_waste_block_tails) {
    mdn_heap *h = make_heap((size_t)32 << 20, 1);
    toyvm_thread *t = toyvm_thread_attach(h);
    mdn_collect(t->mutator, MDN_GC_DEFAULT);
    /* A 24-byte object starts a block, 29 objects of 1008 bytes follow:
     * 3512 bytes are left, less than a 4112-byte medium object needs. */
    uintptr_t block = toyvm_alloc(t, TYPE_ARRAY, 0, 16, MDN_ALLOC_DEFAULT).value;
    ck_assert_uint_eq(block % MDN_BLOCK_SIZE, 0);
    for (int i = 0; i < 29; i++)
        ck_assert_uint_eq(toyvm_alloc(t, TYPE_ARRAY, 0, 1000, MDN_ALLOC_DEFAULT).value, block + 24 + 1008 * (uintptr_t)i);
    mdn_objref medium = toyvm_alloc(t, TYPE_ARRAY, 0, 4104, MDN_ALLOC_DEFAULT);
    ck_assert_uint_ne(medium.value & ~(uintptr_t)(MDN_BLOCK_SIZE - 1), block);
    /* The tail still serves small objects. */
    mdn_objref small = toyvm_alloc(t, TYPE_ARRAY, 0, 16, MDN_ALLOC_DEFAULT);
    ck_assert_uint_eq(small.value, block + 24 + 29 * 1008);
    toyvm_thread_detach(t);
    mdn_heap_destroy(h);
}
END_TEST

/* ---- copy order ------------------------------------------------------------ */

/* A complete binary tree built bottom-up (allocation order is not BFS):
 * with one GC thread it is copied in breadth-first order from the root,
 * children in field order, each object right after the previous one. */
START_TEST(one_gc_thread_copies_breadth_first) {
    mdn_heap *h = make_heap((size_t)32 << 20, 1);
    toyvm_thread *t = toyvm_thread_attach(h);
    enum { DEPTH = 12, N = (1 << DEPTH) - 1 };
    /* Heap numbering: node k has children 2k+1 and 2k+2; build leaves first. */
    size_t base = t->root_count;
    for (int k = 0; k < N; k++)
        toyvm_push_root(t, mdn_objref_null());
    for (int k = N - 1; k >= 0; k--) {
        mdn_objref n = node(t, 2, (uint64_t)k);
        if (2 * k + 2 < N) {
            toyvm_set_ref(t, n, 0, toyvm_root(t, base + 2 * (size_t)k + 1));
            toyvm_set_ref(t, n, 1, toyvm_root(t, base + 2 * (size_t)k + 2));
        }
        toyvm_set_root(t, base + (size_t)k, n);
    }
    mdn_objref root = toyvm_root(t, base);
    toyvm_pop_roots(t, N);
    size_t r = toyvm_push_root(t, root);
    size_t size = toyvm_size(root);
    for (int round = 0; round < 2; round++) {
        moves_reset();
        mdn_collect(t->mutator, MDN_GC_DEFAULT);
        ck_assert_uint_eq(nmoves, N);
        for (size_t i = 0; i < N; i++) {
            ck_assert_uint_eq(payload(mdn_objref_from_address(mdn_address_from_word(moves[i].to)))[0], i);
            if (i > 0 && moves[i].to % MDN_BLOCK_SIZE != 0)
                ck_assert_uint_eq(moves[i].to, moves[i - 1].to + size);
        }
    }
    /* The tree is intact. */
    mdn_objref queue[N];
    size_t qh = 0, qt = 0;
    queue[qt++] = toyvm_root(t, r);
    for (uint64_t k = 0; qh < qt; k++) {
        mdn_objref n = queue[qh++];
        check_node(n, k);
        if (2 * k + 2 < N) {
            queue[qt++] = toyvm_get_ref(n, 0);
            queue[qt++] = toyvm_get_ref(n, 1);
        }
    }
    ck_assert_uint_eq(qt, N);
    toyvm_pop_roots(t, 1);
    toyvm_thread_detach(t);
    mdn_heap_destroy(h);
}
END_TEST

/* ---- racing workers --------------------------------------------------------- */

/* Many objects share a few hubs and many mid-level objects: two GC workers
 * race to forward the same objects. Checked exactly: every object keeps its
 * id and its edges (by id), each object has one address however many slots
 * reach it, and the hook fires once per live object. */
typedef struct sharing_graph {
    size_t n;          /* objects: ids 0..n-1 */
    unsigned nrefs;
    uint32_t *edges;   /* n * nrefs target ids, UINT32_MAX for null */
} sharing_graph;

START_TEST(two_workers_race_on_shared_objects) {
    uint64_t seed = mdn_test_seed("two_workers_race_on_shared_objects");
    mdn_heap *h = make_heap((size_t)64 << 20, 2);
    toyvm_thread *t = toyvm_thread_attach(h);
    enum { HUBS = 16, MID = 2000, LEAVES = 30000, NREFS = 4, ROOTS = 64 };
    sharing_graph g = {HUBS + MID + LEAVES, NREFS, NULL};
    g.edges = malloc(g.n * NREFS * sizeof *g.edges);
    /* Objects live in a registered array while the graph is built. */
    mdn_objref *all = calloc(g.n, sizeof *all);
    mdn_add_roots(h, all, g.n);
    for (size_t i = 0; i < g.n; i++)
        all[i] = node(t, NREFS, i);
    for (size_t i = 0; i < g.n; i++) {
        for (unsigned f = 0; f < NREFS; f++) {
            size_t target = mdn_test_sharing_target(&seed, i, f, HUBS, MID);
            g.edges[i * NREFS + f] = (uint32_t)target;
            toyvm_set_ref(t, all[i], f, all[target]);
        }
    }
    /* From now on only the leaves hold the graph: they sit in large-object
     * arrays (which do not move) held by a registered root range, so many
     * leaves are scanned in parallel and reach the same hubs. */
    mdn_objref *roots = calloc(ROOTS, sizeof *roots);
    mdn_add_roots(h, roots, ROOTS);
    size_t per_array = 1000, narrays = (LEAVES + per_array - 1) / per_array;
    ck_assert_uint_le(narrays, ROOTS);
    for (size_t a = 0; a < narrays; a++) {
        roots[a] = toyvm_alloc(t, TYPE_ARRAY, (unsigned)per_array, 0, MDN_ALLOC_LARGE);
        for (size_t k = 0; k < per_array && a * per_array + k < LEAVES; k++)
            toyvm_set_ref(t, roots[a], (unsigned)k, all[HUBS + MID + a * per_array + k]);
    }
    mdn_remove_roots(h, all);
    free(all);
    uintptr_t *addr = malloc(g.n * sizeof *addr);
    for (int round = 0; round < 10; round++) {
        moves_reset();
        mdn_collect(t->mutator, round % 2 ? MDN_GC_FULL : MDN_GC_DEFAULT);
        ck_assert_uint_eq(nmoves, g.n);
        ck_assert_int_eq(moves_bad_forwarding, 0);
        memset(addr, 0, g.n * sizeof *addr);
        /* Walk from the arrays: record each id's address, check edges. */
        size_t stack_cap = g.n, sp = 0;
        mdn_objref *stack = malloc(stack_cap * sizeof *stack);
        for (size_t a = 0; a < narrays; a++)
            for (size_t k = 0; k < per_array && a * per_array + k < LEAVES; k++)
                stack[sp++] = toyvm_get_ref(roots[a], (unsigned)k);
        size_t seen = 0;
        while (sp) {
            mdn_objref o = stack[--sp];
            uint64_t id = payload(o)[0];
            MDN_EXPECT_MSG(id < g.n, "bad id %llu", (unsigned long long)id);
            check_node(o, id);
            if (addr[id]) {
                MDN_EXPECT_MSG(addr[id] == o.value, "object %llu reached at two addresses", (unsigned long long)id);
                continue;
            }
            addr[id] = o.value;
            seen++;
            for (unsigned f = 0; f < NREFS; f++) {
                mdn_objref c = toyvm_get_ref(o, f);
                MDN_EXPECT_MSG(payload(c)[0] == g.edges[id * NREFS + f], "object %llu field %u: wrong target",
                       (unsigned long long)id, f);
                stack[sp++] = c;
                if (sp == stack_cap) {
                    stack_cap *= 2;
                    stack = realloc(stack, stack_cap * sizeof *stack);
                }
            }
        }
        ck_assert_uint_eq(seen, g.n);
        /* The hook saw exactly the live objects, each once, at their new
         * address. */
        for (size_t i = 0; i < nmoves; i++) {
            uint64_t id = payload(mdn_objref_from_address(mdn_address_from_word(moves[i].to)))[0];
            MDN_EXPECT_MSG(addr[id] == moves[i].to, "object %llu: the hook saw it moved to %p, it is at %p",
                   (unsigned long long)id, (void *)moves[i].to, (void *)addr[id]);
            addr[id] = 0; /* a second move of the same id would fail above */
        }
        free(stack);
    }
    free(addr);
    mdn_remove_roots(h, roots);
    free(roots);
    free(g.edges);
    toyvm_thread_detach(t);
    mdn_heap_destroy(h);
}
END_TEST

/* ---- copy reserve exhausted ------------------------------------------------- */

/* Objects of 3000 and 2768 bytes fill a mutator block exactly (10 + 1), but
 * the 3000-byte objects are reached first, so in to-space each block holds
 * 10 of them and wastes 2768 bytes: the survivors need about 1/11 more
 * blocks than the copy reserve. The collection completes, the heap is over
 * budget, allocation ends in the out-of-memory hook. */
enum { BIG = 3000, SMALL = 2768 };

static size_t fill_with_poor_packing(toyvm_thread *t, size_t *nbig, size_t *nsmall) {
    size_t base = t->root_count;
    size_t per_array = 2000;
    mdn_objref arr_big = mdn_objref_null(), arr_small = mdn_objref_null();
    size_t rb = 0, rs = 0, ib = per_array, is = per_array;
    *nbig = *nsmall = 0;
    for (size_t i = 0;; i++) {
        bool big = i % 11 != 10;
        size_t *fill = big ? &ib : &is;
        if (*fill == per_array) {
            mdn_objref a = toyvm_alloc(t, TYPE_ARRAY, (unsigned)per_array, 0, MDN_ALLOC_LARGE);
            if (mdn_objref_is_null(a))
                break;
            size_t r = toyvm_push_root(t, a);
            if (big)
                rb = r;
            else
                rs = r;
            *fill = 0;
        }
        mdn_objref o = toyvm_alloc(t, TYPE_NODE, 0, (big ? BIG : SMALL) - 8, MDN_ALLOC_DEFAULT);
        if (mdn_objref_is_null(o))
            break;
        uint64_t tag = big ? *nbig : (1ull << 40) + *nsmall;
        payload(o)[0] = tag;
        ((uint64_t *)((char *)o.value + toyvm_size(o)))[-1] = ~tag;
        arr_big = toyvm_root(t, rb);
        arr_small = toyvm_root(t, rs);
        toyvm_set_ref(t, big ? arr_big : arr_small, (unsigned)(*fill)++, o);
        if (big)
            (*nbig)++;
        else
            (*nsmall)++;
    }
    return base;
}

static void exhaust_copy_reserve(void *arg) {
    unsigned gc_threads = (unsigned)(uintptr_t)arg;
    mdn_heap *h = mdn_test_heap_with((size_t)16 << 20, gc_threads, "verbose=1,verify=1");
    toyvm_thread *t = toyvm_thread_attach(h);
    size_t nbig, nsmall;
    fill_with_poor_packing(t, &nbig, &nsmall);
    fprintf(stderr, "allocation returned\n");
    exit(0);
}

START_TEST(survivors_beyond_the_copy_reserve_end_in_oom) {
    mdn_child_result r;
    mdn_run_in_child(exhaust_copy_reserve, (void *)(uintptr_t)gc_threads_for(_i), &r);
    ck_assert_msg(r.exited && r.exit_status == TOYVM_OOM_EXIT_STATUS, "status %d signal %d; output:\n%s",
                  r.exit_status, r.signal, r.output);
    ck_assert_msg(strstr(r.output, "toyvm: out of memory: could not allocate") != NULL, "output: %s", r.output);
    ck_assert_msg(strstr(r.output, "plan semispace") != NULL, "output: %s", r.output);
    if (_i == 0) /* deterministic with one GC thread */
        ck_assert_msg(strstr(r.output, "over its 16777216-byte budget") != NULL, "output: %s", r.output);
    ck_assert_msg(strstr(r.output, "verified") != NULL, "output: %s", r.output);
}
END_TEST

/* The same with a returning hook: the heap stays intact and usable. */
START_TEST(over_budget_heap_stays_intact_and_recovers) {
    toyvm_set_oom_mode(TOYVM_OOM_RETURN);
    mdn_heap *h = mdn_test_heap_with((size_t)16 << 20, 1, NULL);
    toyvm_thread *t = toyvm_thread_attach(h);
    uint64_t ooms = toyvm_oom_count();
    size_t nbig, nsmall;
    size_t base = fill_with_poor_packing(t, &nbig, &nsmall);
    ck_assert_uint_eq(toyvm_oom_count(), ooms + 1);
    ck_assert_uint_gt(nbig, 1000);
    /* Over budget now: even a tiny allocation fails. */
    mdn_stats st;
    mdn_stats_get(h, &st);
    ck_assert(mdn_objref_is_null(toyvm_alloc(t, TYPE_NODE, 0, 8, MDN_ALLOC_DEFAULT)));
    /* Every object is intact. */
    size_t seen_big = 0, seen_small = 0;
    for (size_t r = base; r < t->root_count; r++) {
        mdn_objref a = toyvm_root(t, r);
        for (unsigned k = 0; k < toyvm_nrefs(a); k++) {
            mdn_objref o = toyvm_get_ref(a, k);
            if (mdn_objref_is_null(o))
                continue;
            uint64_t tag = payload(o)[0];
            bool big = tag < (1ull << 40);
            ck_assert_uint_eq(toyvm_size(o), big ? BIG : SMALL);
            ck_assert_uint_eq(((uint64_t *)((char *)o.value + toyvm_size(o)))[-1], ~tag);
            if (big)
                seen_big++;
            else
                seen_small++;
        }
    }
    ck_assert_uint_eq(seen_big, nbig);
    ck_assert_uint_eq(seen_small, nsmall);
    /* Drop half the arrays: the next collection brings the heap back under
     * budget and allocation works again. */
    toyvm_pop_roots(t, (t->root_count - base) / 2 + 1);
    for (int i = 0; i < 10000; i++)
        ck_assert(!mdn_objref_is_null(toyvm_alloc(t, TYPE_NODE, 0, 64, MDN_ALLOC_DEFAULT)));
    toyvm_pop_roots(t, t->root_count - base);
    toyvm_thread_detach(t);
    mdn_heap_destroy(h);
    toyvm_set_oom_mode(TOYVM_OOM_EXIT);
}
END_TEST

/* ---- pinning, alignment, non-moving space ----------------------------------- */

START_TEST(only_copy_space_objects_refuse_pinning) {
    mdn_heap *h = make_heap((size_t)32 << 20, 1);
    toyvm_thread *t = toyvm_thread_attach(h);
    mdn_alloc_kind kinds[] = {MDN_ALLOC_DEFAULT, MDN_ALLOC_NONMOVING, MDN_ALLOC_IMMORTAL, MDN_ALLOC_LARGE};
    size_t base = t->root_count;
    for (int k = 0; k < 4; k++) {
        mdn_objref o = toyvm_alloc(t, TYPE_NODE, 0, 16, kinds[k]);
        payload(o)[0] = (uint64_t)k;
        ck_assert(mdn_pin_object(t->mutator, o) == (k != 0));
        toyvm_push_root(t, o);
    }
    /* A default object that asks for 64-byte alignment does not move. */
    void *p = mdn_alloc(t->mutator, 40, 64, MDN_ALLOC_DEFAULT);
    ck_assert_uint_eq((uintptr_t)p % 64, 0);
    *(uint64_t *)p = toyvm_make_header(TYPE_NODE, 0, 40);
    mdn_objref aligned = mdn_objref_from_ptr(p);
    ck_assert(mdn_pin_object(t->mutator, aligned));
    toyvm_push_root(t, aligned);
    uintptr_t before[5];
    for (int k = 0; k < 5; k++)
        before[k] = toyvm_root(t, base + (size_t)k).value;
    mdn_collect(t->mutator, MDN_GC_DEFAULT);
    ck_assert_uint_ne(toyvm_root(t, base).value, before[0]);
    for (int k = 1; k < 5; k++)
        ck_assert_uint_eq(toyvm_root(t, base + (size_t)k).value, before[k]);
    for (int k = 0; k < 4; k++)
        ck_assert_uint_eq(payload(toyvm_root(t, base + (size_t)k))[0], (uint64_t)k);
    toyvm_pop_roots(t, 5);
    toyvm_thread_detach(t);
    mdn_heap_destroy(h);
}
END_TEST

/* 16 MiB heap, 96 MiB of non-moving objects of many sizes allocated, 128
 * kept: only reclaiming makes it fit; survivors stay put. */
START_TEST(nonmoving_space_reclaims) {
    uint64_t seed = mdn_test_seed("nonmoving_space_reclaims");
    mdn_heap *h = make_heap((size_t)16 << 20, gc_threads_for(_i));
    toyvm_thread *t = toyvm_thread_attach(h);
    enum { LIVE = 128 };
    size_t base = t->root_count;
    for (int i = 0; i < LIVE; i++)
        toyvm_push_root(t, mdn_objref_null());
    uintptr_t addr[LIVE] = {0};
    size_t allocated = 0;
    for (uint64_t i = 0; allocated < ((size_t)96 << 20); i++) {
        size_t bytes = 16 + mdn_test_rand_below(&seed, 1000);
        mdn_objref o = toyvm_alloc(t, TYPE_NODE, 1, bytes, MDN_ALLOC_NONMOVING);
        MDN_EXPECT_MSG(!mdn_objref_is_null(o), "allocation %llu failed", (unsigned long long)i);
        /* Fresh memory is zero even when the cell was used before. */
        MDN_EXPECT_MSG(payload(o)[1] == 0 && mdn_objref_is_null(toyvm_get_ref(o, 0)), "allocation %llu not zeroed",
               (unsigned long long)i);
        payload(o)[0] = i;
        payload(o)[1] = ~i;
        /* Each survivor also holds an ordinary (moving) object; `o` is
         * rooted across that allocation. */
        size_t held = toyvm_push_root(t, o);
        mdn_objref d = node(t, 0, i);
        o = toyvm_root(t, held);
        toyvm_pop_roots(t, 1);
        toyvm_set_ref(t, o, 0, d);
        size_t slot = (size_t)(i % LIVE);
        if (addr[slot] && toyvm_root(t, base + slot).value != addr[slot])
            ck_abort_msg("a non-moving object moved");
        toyvm_set_root(t, base + slot, o);
        addr[slot] = o.value;
        allocated += toyvm_size(o) + toyvm_size(d);
    }
    ck_assert_uint_gt(collections(h), 3);
    mdn_collect(t->mutator, MDN_GC_FULL);
    for (int i = 0; i < LIVE; i++) {
        mdn_objref o = toyvm_root(t, base + (size_t)i);
        ck_assert_uint_eq(o.value, addr[i]);
        ck_assert_uint_eq(payload(o)[0] % LIVE, (uint64_t)i);
        ck_assert_uint_eq(payload(o)[1], ~payload(o)[0]);
        check_node(toyvm_get_ref(o, 0), payload(o)[0]);
    }
    toyvm_pop_roots(t, LIVE);
    toyvm_thread_detach(t);
    mdn_heap_destroy(h);
}
END_TEST

/* ---- random graphs, verifier, stress ------------------------------------------ */

START_TEST(random_graphs_under_verifier_and_stress) {
    uint64_t seed = mdn_test_seed("random_graphs_under_verifier_and_stress");
    mdn_heap *h = mdn_test_heap_with((size_t)24 << 20, gc_threads_for(_i), "verify=1,stress=300000,poison=1");
    toyvm_thread *t = toyvm_thread_attach(h);
    shadow_world w;
    shadow_world_init(&w, t, seed, 3, 40, 8, 4);
    for (int k = 0; k < 15000; k++) {
        ck_assert_msg(shadow_step(&w, 1000), "out of memory at operation %llu (seed %llu)",
                      (unsigned long long)w.ops, (unsigned long long)seed);
        if (k % 3000 == 2999)
            ck_assert_msg(shadow_verify(&w), "seed %llu: %s", (unsigned long long)seed, w.failure);
    }
    ck_assert_uint_gt(collections(h), 5);
    ck_assert_msg(shadow_verify(&w), "seed %llu: %s", (unsigned long long)seed, w.failure);
    shadow_world_destroy(&w);
    toyvm_thread_detach(t);
    mdn_heap_destroy(h);
}
END_TEST

/* One case per test, so CK_RUN_CASE=<test name> runs just that one. */
static void add(Suite *s, const char *name, const TTest *test, int loops) {
    TCase *tc = tcase_create(name);
    tcase_set_timeout(tc, 300);
    tcase_add_loop_test(tc, test, 0, loops);
    suite_add_tcase(s, tc);
}

#define ADD(s, test, loops) add(s, #test, test, loops)

int main(void) {
    Suite *s = suite_create("semispace");
    ADD(s, shared_object_copied_once_all_slots_updated, 2);
    ADD(s, cycles_and_self_references_survive, 2);
    ADD(s, objects_fill_blocks_exactly, 1);
    ADD(s, medium_objects_do_not_waste_block_tails, 1);
    ADD(s, one_gc_thread_copies_breadth_first, 1);
    ADD(s, two_workers_race_on_shared_objects, 1);
    ADD(s, survivors_beyond_the_copy_reserve_end_in_oom, 2);
    ADD(s, over_budget_heap_stays_intact_and_recovers, 1);
    ADD(s, only_copy_space_objects_refuse_pinning, 1);
    ADD(s, nonmoving_space_reclaims, 2);
    ADD(s, random_graphs_under_verifier_and_stress, 2);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
