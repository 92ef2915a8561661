/*
 * los.h: the large-object policy (docs/design/overview.md .overview.policies). Each object gets its
 * own run of pages; a mark bit per page start says it survived a
 * collection; unmarked objects are freed and their pages kept for reuse.
 *
 * .los.pages: the space takes chunks from the vmspace and hands out page
 * runs inside them, first fit (chunks in address order) over a per-chunk
 * page bitmap; an object of a chunk or more gets a run of whole chunks of
 * its own.
 * .los.dirty: freed pages stay committed and are marked dirty in a second
 * bitmap beside `used`; an allocation clears only the dirty pages of its
 * run, so memory handed out is always zero. Memory goes back to the OS in
 * bulk at the end of a sweep: chunks with no object go back to the vmspace,
 * and while the dirty free pages exceed `dirty_limit` the largest dirty runs
 * are decommitted (they read as zero again and count as clean).
 * .los.objects: the list of objects (their start addresses) is what the
 * sweep walks; allocation and sweep take the space's lock (large objects are
 * rare next to small ones).
 */
#ifndef MDN_POLICY_LOS_H
#define MDN_POLICY_LOS_H

#include "core/policy.h"
#include "core/side_metadata.h"
#include "core/stats.h"
#include "core/trace.h"

#include <midden/vm.h>

#include <pthread.h>

#define MDN_LOS_PAGES_PER_CHUNK (MDN_CHUNK_SIZE / MDN_PAGE_SIZE)

typedef struct mdn_los_chunk {
    uintptr_t start;
    uint64_t used[MDN_LOS_PAGES_PER_CHUNK / 64];  /* page bitmap: in an object */
    uint64_t dirty[MDN_LOS_PAGES_PER_CHUNK / 64]; /* free page that may hold non-zero bytes */
    size_t free_pages;
    size_t dirty_pages;
    size_t max_run; /* no free run is longer (an upper bound) */
} mdn_los_chunk;

typedef struct mdn_los_object {
    uintptr_t start;
    size_t pages;
} mdn_los_object;

typedef struct mdn_los_space {
    mdn_vmspace *vs;
    unsigned id;
    pthread_mutex_t lock;
    mdn_los_chunk *chunks;     /* sorted by address */
    size_t nchunks, chunks_capacity;
    mdn_los_object *objects;
    size_t nobjects, objects_capacity;
    size_t live_bytes;         /* page bytes of objects in the space */
    size_t dirty_bytes;        /* free, committed, possibly non-zero page bytes */
    size_t dirty_limit;        /* a sweep decommits dirty pages beyond this; 0: the policy's limit */
    size_t decommitted_bytes;  /* dirty page bytes returned to the OS so far */
    size_t released_chunks;    /* empty chunks given back to the vmspace so far */
    void *runs;                /* scratch array for the sweep's trimming */
    size_t runs_capacity;
    mdn_side_metadata marks;   /* one bit per page */
    mdn_side_metadata starts;  /* one bit per page: an object starts here */
    mdn_stats_state *stats;
    /* Generational plans (docs/design/generational.md .gen.sticky): objects
     * are born unmarked (young), marks survive minor collections, and
     * marking sets the object's unlogged bit (.gen.unlog). NULL and false
     * otherwise. */
    mdn_side_metadata *unlogged;
    bool minor; /* the collection in progress is minor */
} mdn_los_space;

/* The verbs of core/policy.h (.policy.verbs). */
bool mdn_los_init(mdn_los_space *s, mdn_heap *heap, unsigned id);
void mdn_los_destroy(mdn_los_space *s);

/* Allocate `size` bytes (zeroed, page aligned). NULL when the budget or the
 * reservation is exhausted. */
void *mdn_los_alloc(mdn_los_space *s, size_t size);

/* Before a collection: clear marks. */
void mdn_los_prepare(mdn_los_space *s, mdn_heap *heap, bool full);
/* After the closure: free every unmarked object, give empty chunks back to
 * the vmspace and decommit dirty pages beyond `dirty_limit`. Returns bytes
 * still live. */
size_t mdn_los_release(mdn_los_space *s, mdn_heap *heap);

/* The bound on dirty free pages a sweep keeps: `dirty_limit` when set,
 * else the heap policy's current limit (at least 4 MiB). */
size_t mdn_los_dirty_bound(const mdn_los_space *s);

static inline bool mdn_los_contains(const mdn_los_space *s, mdn_address a) {
    return mdn_vmspace_space_of(s->vs, a) == s->id;
}

static inline mdn_objref mdn_los_trace_object(mdn_los_space *s, mdn_tracer *t, mdn_objref obj) {
    if (mdn_side_bit_set_k(&s->marks, mdn_vm_object_start(obj), MDN_LOG_PAGE, true)) { /* .side.const */
        if (s->unlogged)
            mdn_side_bit_set_k(s->unlogged, mdn_objref_to_address(obj), MDN_LOG_GRANULE, true); /* .gen.unlog */
        mdn_tracer_enqueue(t, obj);
    }
    return obj;
}

static inline bool mdn_los_is_marked(const mdn_los_space *s, mdn_objref obj) {
    return mdn_side_bit_test(&s->marks, mdn_vm_object_start(obj));
}

/* Heap verifier (.verify.metadata): the object list, start bits, page
 * bitmaps and byte count agree. World stopped. */
void mdn_los_verify(mdn_los_space *s);
/* .policy.check: the space's arrays and chunk counts are consistent. */
void mdn_los_check(const mdn_los_space *s);
extern const mdn_policy mdn_los_policy;

/* Is `a` the start of an object of this space? */
static inline bool mdn_los_is_object_start(const mdn_los_space *s, mdn_address a) {
    return mdn_los_contains(s, a) && mdn_address_is_aligned(a, MDN_PAGE_SIZE) && mdn_side_bit_test(&s->starts, a);
}

/* An object start of the space, marked by the collection (the marks stay
 * until the next prepare). */
static inline bool mdn_los_is_live(const mdn_los_space *s, mdn_objref obj) {
    return mdn_los_is_object_start(s, mdn_vm_object_start(obj)) && mdn_los_is_marked(s, obj);
}

/* Large objects never move. */
static inline mdn_objref mdn_los_forwarded(const mdn_los_space *s, mdn_objref obj) {
    (void)s;
    return obj;
}

#endif
