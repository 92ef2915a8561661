/* los.c: page runs, dirty-page reuse, the object list, and the sweep
 * (.los.pages, .los.dirty). */
#include "los.h"

#include "core/os.h"
#include "core/poison.h"
#include "core/verify.h"

#include <stdlib.h>
#include <string.h>

#define LOS_PAGES MDN_LOS_PAGES_PER_CHUNK
#define LOS_WORDS (LOS_PAGES / 64)

size_t mdn_los_dirty_bound(const mdn_los_space *s) {
    if (s->dirty_limit)
        return s->dirty_limit;
    /* .los.dirty: the policy's current limit, so a steady state whose free
     * pages fit under it never decommits (docs/design/sizing.md
     * .sizing.warm). */
    size_t floor = (size_t)4 << 20, limit = mdn_budget_limit(s->vs);
    return limit > floor ? limit : floor;
}

bool mdn_los_init(mdn_los_space *s, mdn_heap *heap, unsigned id) {
    mdn_vmspace *vs = &heap->vm;
    mdn_stats_state *stats = &heap->stats;
    memset(s, 0, sizeof *s);
    s->vs = vs;
    s->stats = stats;
    s->id = id;
    pthread_mutex_init(&s->lock, NULL);
    return mdn_side_metadata_init(&s->marks, vs, MDN_LOG_PAGE, 0, "los-mark") &&
           mdn_side_metadata_init(&s->starts, vs, MDN_LOG_PAGE, 0, "los-start");
}

/* A run of dirty pages, for the sweep's trimming (trim_dirty). */
typedef struct dirty_run {
    uintptr_t chunk_start;
    uint32_t first, pages;
} dirty_run;

void mdn_los_destroy(mdn_los_space *s) {
    for (size_t i = 0; i < s->nobjects; i++) {
        size_t pages = s->objects[i].pages;
        if (pages >= LOS_PAGES)
            mdn_vmspace_release_chunks(s->vs, mdn_address_from_word(s->objects[i].start),
                                       mdn_align_up(pages * MDN_PAGE_SIZE, MDN_CHUNK_SIZE) >> MDN_LOG_CHUNK);
    }
    for (size_t i = 0; i < s->nchunks; i++)
        mdn_vmspace_release_chunks(s->vs, mdn_address_from_word(s->chunks[i].start), 1);
    mdn_array_free(s->chunks, s->chunks_capacity, sizeof *s->chunks);
    mdn_array_free(s->objects, s->objects_capacity, sizeof *s->objects);
    mdn_array_free(s->runs, s->runs_capacity, sizeof(dirty_run));
    mdn_side_metadata_destroy(&s->marks);
    mdn_side_metadata_destroy(&s->starts);
    pthread_mutex_destroy(&s->lock);
    memset(s, 0, sizeof *s);
}

/* Page bitmaps of one chunk: LOS_PAGES bits in LOS_WORDS words. */

static void bits_set(uint64_t *w, size_t first, size_t n) {
    for (size_t i = first, end = first + n; i < end;) {
        size_t bit = i & 63, k = end - i < 64 - bit ? end - i : 64 - bit;
        uint64_t mask = (k == 64 ? ~(uint64_t)0 : (((uint64_t)1 << k) - 1)) << bit;
        w[i >> 6] |= mask;
        i += k;
    }
}

static void bits_clear(uint64_t *w, size_t first, size_t n) {
    for (size_t i = first, end = first + n; i < end;) {
        size_t bit = i & 63, k = end - i < 64 - bit ? end - i : 64 - bit;
        uint64_t mask = (k == 64 ? ~(uint64_t)0 : (((uint64_t)1 << k) - 1)) << bit;
        w[i >> 6] &= ~mask;
        i += k;
    }
}

/* First index >= `from` whose bit equals `value`; LOS_PAGES if none. */
static size_t bits_next(const uint64_t *w, size_t from, bool value) {
    if (from >= LOS_PAGES)
        return LOS_PAGES;
    size_t wi = from >> 6;
    uint64_t word = (value ? w[wi] : ~w[wi]) & (~(uint64_t)0 << (from & 63));
    for (;;) {
        if (word)
            return (wi << 6) + (size_t)__builtin_ctzll(word);
        if (++wi == LOS_WORDS)
            return LOS_PAGES;
        word = value ? w[wi] : ~w[wi];
    }
}

static size_t bits_count(const uint64_t *w, size_t first, size_t n) {
    size_t count = 0;
    for (size_t i = first, end = first + n; i < end;) {
        size_t bit = i & 63, k = end - i < 64 - bit ? end - i : 64 - bit;
        uint64_t mask = (k == 64 ? ~(uint64_t)0 : (((uint64_t)1 << k) - 1)) << bit;
        count += (size_t)mdn_popcount64(w[i >> 6] & mask);
        i += k;
    }
    return count;
}

/* First fit of `n` pages in chunk `c`; SIZE_MAX if none. A failed search
 * records the longest run it saw, so later requests that cannot fit skip
 * the chunk until pages are freed in it (allocation only shortens runs). */
static size_t find_run(mdn_los_chunk *c, size_t n) {
    if (c->free_pages < n || c->max_run < n)
        return SIZE_MAX;
    size_t longest = 0;
    for (size_t i = bits_next(c->used, 0, false); i < LOS_PAGES;) {
        size_t end = bits_next(c->used, i, true);
        if (end - i >= n)
            return i;
        if (end - i > longest)
            longest = end - i;
        i = bits_next(c->used, end, false);
    }
    c->max_run = longest;
    return SIZE_MAX;
}

static void push_object(mdn_los_space *s, uintptr_t start, size_t pages) {
    s->objects = mdn_array_reserve(s->objects, s->nobjects, &s->objects_capacity, sizeof *s->objects, 64,
                                   "recording a large object");
    s->objects[s->nobjects].start = start;
    s->objects[s->nobjects].pages = pages;
    s->nobjects++;
}

/* Index of the first chunk whose start is >= `start` (chunks are sorted). */
static size_t chunk_lower_bound(const mdn_los_space *s, uintptr_t start) {
    size_t lo = 0, hi = s->nchunks;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->chunks[mid].start < start)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static mdn_los_chunk *chunk_of(mdn_los_space *s, uintptr_t addr) {
    uintptr_t start = addr & ~(uintptr_t)(MDN_CHUNK_SIZE - 1);
    size_t i = chunk_lower_bound(s, start);
    return i < s->nchunks && s->chunks[i].start == start ? &s->chunks[i] : NULL;
}

/* Take a chunk from the vmspace (warm first) and insert it in address
 * order. A warm chunk is not cleared here: all its pages start dirty, and
 * each allocation clears only the pages of its own run (.los.dirty). */
static mdn_los_chunk *add_chunk(mdn_los_space *s) {
    bool zeroed;
    mdn_address chunk = mdn_vmspace_acquire_chunks_dirty(s->vs, 1, s->id, &zeroed);
    if (mdn_address_is_zero(chunk))
        return NULL;
    s->chunks = mdn_array_reserve(s->chunks, s->nchunks, &s->chunks_capacity, sizeof *s->chunks, 8,
                                  "growing the large-object space");
    size_t i = chunk_lower_bound(s, chunk.value);
    memmove(&s->chunks[i + 1], &s->chunks[i], (s->nchunks - i) * sizeof *s->chunks);
    s->nchunks++;
    mdn_los_chunk *c = &s->chunks[i];
    memset(c, 0, sizeof *c);
    c->start = chunk.value;
    c->free_pages = LOS_PAGES;
    c->max_run = LOS_PAGES;
    if (!zeroed) {
        bits_set(c->dirty, 0, LOS_PAGES);
        c->dirty_pages = LOS_PAGES;
        s->dirty_bytes += MDN_CHUNK_SIZE;
    }
    return c;
}

void *mdn_los_alloc(mdn_los_space *s, size_t size) {
    size_t pages = mdn_align_up(size, MDN_PAGE_SIZE) >> MDN_LOG_PAGE;
    size_t bytes = pages << MDN_LOG_PAGE;
    bool huge = pages >= LOS_PAGES;
    size_t charge = huge ? mdn_align_up(bytes, MDN_CHUNK_SIZE) : bytes;
    if (!mdn_budget_take(s->vs, charge))
        return NULL;
    /* Dirty pages of the run, copied under the lock and cleared after it. */
    uint64_t dirty[LOS_WORDS];
    size_t first = 0, ndirty = 0;
    uintptr_t chunk_start = 0, start = 0;
    bool huge_zeroed = true;
    pthread_mutex_lock(&s->lock);
    if (huge) {
        mdn_address run = mdn_vmspace_acquire_chunks_dirty(s->vs, charge >> MDN_LOG_CHUNK, s->id, &huge_zeroed);
        start = run.value;
    } else {
        mdn_los_chunk *c = NULL;
        for (size_t i = 0; i < s->nchunks && !c; i++) {
            first = find_run(&s->chunks[i], pages);
            if (first != SIZE_MAX)
                c = &s->chunks[i];
        }
        if (!c) {
            first = 0;
            c = add_chunk(s);
        }
        if (c) {
            bits_set(c->used, first, pages);
            c->free_pages -= pages;
            if (c->dirty_pages) {
                ndirty = bits_count(c->dirty, first, pages);
                if (ndirty) {
                    memcpy(dirty, c->dirty, sizeof dirty);
                    bits_clear(c->dirty, first, pages);
                    c->dirty_pages -= ndirty;
                    s->dirty_bytes -= ndirty << MDN_LOG_PAGE;
                }
            }
            chunk_start = c->start;
            start = c->start + (first << MDN_LOG_PAGE);
        }
    }
    if (start) {
        push_object(s, start, pages);
        mdn_side_bit_set_atomic(&s->starts, mdn_address_from_word(start));
        /* .los.black: born marked, so is_live holds between collections;
         * prepare clears every mark before the closure. With sticky marks
         * an object is born unmarked: young (.gen.sticky). */
        if (!s->unlogged)
            mdn_side_bit_set_atomic(&s->marks, mdn_address_from_word(start));
        s->live_bytes += bytes;
    }
    pthread_mutex_unlock(&s->lock);
    if (!start) {
        mdn_budget_give(s->vs, charge);
        return NULL;
    }
    /* .poison.los: with poisoning, trimmed pages are inaccessible; make
     * the run usable (pages decommitted before read as zero). */
    if (s->vs->poison && !huge && !mdn_os_commit(mdn_address_from_word(start), bytes))
        mdn_fatal("cannot make %zu bytes of large-object pages accessible", bytes);
    /* The run is ours now: clear the pages an earlier object wrote (of a
     * warm run of chunks, just the object's pages). */
    if (!huge_zeroed)
        mdn_zero((void *)start, bytes);
    if (ndirty) {
        for (size_t i = bits_next(dirty, first, true), end = first + pages; i < end;) {
            size_t stop = bits_next(dirty, i, false);
            if (stop > end)
                stop = end;
            mdn_zero((void *)(chunk_start + (i << MDN_LOG_PAGE)), (stop - i) << MDN_LOG_PAGE);
            i = bits_next(dirty, stop, true);
        }
    }
    mdn_stats_count_alloc(s->stats, size);
    return (void *)start;
}

void mdn_los_prepare(mdn_los_space *s, mdn_heap *heap, bool full) {
    (void)heap, (void)full;
    if (s->minor)
        return; /* .gen.sticky: old objects stay marked; young ones are not */
    pthread_mutex_lock(&s->lock);
    for (size_t i = 0; i < s->nobjects; i++)
        mdn_side_bit_clear_atomic(&s->marks, mdn_address_from_word(s->objects[i].start));
    pthread_mutex_unlock(&s->lock);
}

/* Free an object: a huge one's chunks go back to the vmspace; a small one's
 * pages become free and dirty. */
static void free_object(mdn_los_space *s, const mdn_los_object *o) {
    mdn_address start = mdn_address_from_word(o->start);
    size_t bytes = o->pages << MDN_LOG_PAGE;
    mdn_side_bit_clear_atomic(&s->starts, start);
    if (s->unlogged) /* .gen.unlog: an object born here later starts young */
        mdn_side_clear_range(s->unlogged, start, bytes);
    s->live_bytes -= bytes;
    if (o->pages >= LOS_PAGES) {
        size_t charge = mdn_align_up(bytes, MDN_CHUNK_SIZE);
        mdn_vmspace_release_chunks(s->vs, start, charge >> MDN_LOG_CHUNK);
        mdn_budget_give(s->vs, charge);
        return;
    }
    mdn_los_chunk *c = chunk_of(s, o->start);
    MDN_CHECK(c != NULL);
    size_t first = (o->start - c->start) >> MDN_LOG_PAGE;
    /* .poison.los: a stale reference to the object reads poison. */
    if (s->vs->poison)
        mdn_poison_range(mdn_address_to_ptr(start), bytes);
    bits_clear(c->used, first, o->pages);
    bits_set(c->dirty, first, o->pages);
    c->free_pages += o->pages;
    c->dirty_pages += o->pages;
    c->max_run = LOS_PAGES;
    s->dirty_bytes += bytes;
    mdn_budget_give(s->vs, bytes);
}

/* Give chunks without objects back to the vmspace (which decommits them). */
static void release_empty_chunks(mdn_los_space *s) {
    size_t kept = 0;
    for (size_t i = 0; i < s->nchunks; i++) {
        mdn_los_chunk *c = &s->chunks[i];
        if (c->free_pages == LOS_PAGES) {
            s->dirty_bytes -= c->dirty_pages << MDN_LOG_PAGE;
            mdn_vmspace_release_chunks(s->vs, mdn_address_from_word(c->start), 1);
            s->released_chunks++;
        } else {
            s->chunks[kept++] = *c;
        }
    }
    s->nchunks = kept;
}

static int by_pages_descending(const void *a, const void *b) {
    const dirty_run *x = a, *y = b;
    return x->pages < y->pages ? 1 : x->pages > y->pages ? -1 : 0;
}

/* Decommit the largest dirty runs until the dirty bytes are within the
 * limit. */
static void trim_dirty(mdn_los_space *s) {
    size_t bound = mdn_los_dirty_bound(s);
    if (s->dirty_bytes <= bound)
        return;
    size_t nruns = 0;
    for (size_t ci = 0; ci < s->nchunks; ci++) {
        const mdn_los_chunk *c = &s->chunks[ci];
        for (size_t i = c->dirty_pages ? bits_next(c->dirty, 0, true) : LOS_PAGES; i < LOS_PAGES;) {
            size_t end = bits_next(c->dirty, i, false);
            s->runs = mdn_array_reserve(s->runs, nruns, &s->runs_capacity, sizeof(dirty_run), 64,
                                        "trimming the large-object space");
            ((dirty_run *)s->runs)[nruns++] = (dirty_run){c->start, (uint32_t)i, (uint32_t)(end - i)};
            i = bits_next(c->dirty, end, true);
        }
    }
    dirty_run *runs = s->runs;
    mdn_sort(runs, nruns, sizeof *runs, by_pages_descending);
    for (size_t r = 0; r < nruns && s->dirty_bytes > bound; r++) {
        mdn_los_chunk *c = chunk_of(s, runs[r].chunk_start);
        size_t bytes = (size_t)runs[r].pages << MDN_LOG_PAGE;
        mdn_address run = mdn_address_from_word(c->start + ((size_t)runs[r].first << MDN_LOG_PAGE));
        mdn_os_decommit(run, bytes);
        if (s->vs->poison) /* .poison.los: decommitted pages would read zero */
            mdn_os_protect_none(run, bytes);
        bits_clear(c->dirty, runs[r].first, runs[r].pages);
        c->dirty_pages -= runs[r].pages;
        s->dirty_bytes -= bytes;
        s->decommitted_bytes += bytes;
    }
}

size_t mdn_los_release(mdn_los_space *s, mdn_heap *heap) {
    (void)heap;
    pthread_mutex_lock(&s->lock);
    size_t kept = 0;
    for (size_t i = 0; i < s->nobjects; i++) {
        mdn_los_object o = s->objects[i];
        if (mdn_side_bit_test(&s->marks, mdn_address_from_word(o.start)))
            s->objects[kept++] = o;
        else
            free_object(s, &o);
    }
    s->nobjects = kept;
    release_empty_chunks(s);
    trim_dirty(s);
    size_t live = s->live_bytes;
    pthread_mutex_unlock(&s->lock);
    return live;
}

void mdn_los_verify(mdn_los_space *s) {
    pthread_mutex_lock(&s->lock);
    size_t bytes = 0, small_pages = 0;
    for (size_t i = 0; i < s->nobjects; i++) {
        const mdn_los_object *o = &s->objects[i];
        mdn_address start = mdn_address_from_word(o->start);
        if (!mdn_los_contains(s, start) || !mdn_side_bit_test(&s->starts, start))
            mdn_verify_fail("large object %p is listed but not a recorded object start of space %u",
                            (void *)o->start, s->id);
        bytes += o->pages << MDN_LOG_PAGE;
        if (o->pages >= MDN_LOS_PAGES_PER_CHUNK)
            continue;
        small_pages += o->pages;
        mdn_los_chunk *c = chunk_of(s, o->start);
        if (!c)
            mdn_verify_fail("large object %p lies in no chunk of space %u", (void *)o->start, s->id);
        size_t first = (o->start - c->start) >> MDN_LOG_PAGE;
        if (bits_count(c->used, first, o->pages) != o->pages)
            mdn_verify_fail("a page of large object %p is marked free", (void *)o->start);
        if (bits_count(c->dirty, first, o->pages) != 0)
            mdn_verify_fail("a page of large object %p is marked dirty (free pages only)", (void *)o->start);
    }
    if (bytes != s->live_bytes)
        mdn_verify_fail("large objects hold %zu bytes of pages, the space counts %zu", bytes, s->live_bytes);
    size_t used_pages = 0;
    for (size_t i = 0; i < s->nchunks; i++)
        used_pages += MDN_LOS_PAGES_PER_CHUNK - s->chunks[i].free_pages;
    if (used_pages != small_pages)
        mdn_verify_fail("large-object chunks have %zu pages in use, their objects %zu", used_pages, small_pages);
    pthread_mutex_unlock(&s->lock);
}

/* .policy.check: the object list is inside its array and the chunks are in
 * address order, each with no more free or dirty pages than it has. */
void mdn_los_check(const mdn_los_space *s) {
    if (s->nobjects > s->objects_capacity || s->nchunks > s->chunks_capacity)
        mdn_verify_fail("large-object space %u: %zu objects / %zu chunks exceed their arrays (%zu / %zu)", s->id,
                        s->nobjects, s->nchunks, s->objects_capacity, s->chunks_capacity);
    for (size_t i = 0; i < s->nchunks; i++) {
        const mdn_los_chunk *c = &s->chunks[i];
        if (i > 0 && c->start <= s->chunks[i - 1].start)
            mdn_verify_fail("large-object chunk %p is out of address order", (void *)c->start);
        if (c->free_pages > MDN_LOS_PAGES_PER_CHUNK || c->dirty_pages > c->free_pages)
            mdn_verify_fail("large-object chunk %p counts %zu free and %zu dirty pages of %zu", (void *)c->start,
                            c->free_pages, c->dirty_pages, (size_t)MDN_LOS_PAGES_PER_CHUNK);
    }
}

MDN_POLICY_DEFINE(los, mdn_los_space);
