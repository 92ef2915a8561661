/* largeobject.c: page runs, the object list, and the sweep (.los.pages). */
#include "largeobject.h"

#include "core/os.h"
#include "core/verify.h"

#include <stdlib.h>
#include <string.h>

bool mdn_los_init(mdn_large_space *s, mdn_vmspace *vs, unsigned id, mdn_stats_state *stats) {
    memset(s, 0, sizeof *s);
    s->vs = vs;
    s->stats = stats;
    s->id = id;
    pthread_mutex_init(&s->lock, NULL);
    return mdn_side_metadata_init(&s->marks, vs, MDN_LOG_PAGE, 0, "los-mark") &&
           mdn_side_metadata_init(&s->starts, vs, MDN_LOG_PAGE, 0, "los-start");
}

void mdn_los_destroy(mdn_large_space *s) {
    for (size_t i = 0; i < s->nobjects; i++) {
        size_t pages = s->objects[i].pages;
        if (pages >= MDN_LOS_PAGES_PER_CHUNK)
            mdn_vmspace_release_chunks(s->vs, mdn_address_from_word(s->objects[i].start),
                                       mdn_align_up(pages * MDN_PAGE_SIZE, MDN_CHUNK_SIZE) >> MDN_LOG_CHUNK);
    }
    for (size_t i = 0; i < s->nchunks; i++)
        mdn_vmspace_release_chunks(s->vs, mdn_address_from_word(s->chunks[i].start), 1);
    free(s->chunks);
    free(s->objects);
    mdn_side_metadata_destroy(&s->marks);
    mdn_side_metadata_destroy(&s->starts);
    pthread_mutex_destroy(&s->lock);
    memset(s, 0, sizeof *s);
}

static bool page_used(const mdn_los_chunk *c, size_t i) { return (c->used[i >> 6] >> (i & 63)) & 1u; }

static void set_pages(mdn_los_chunk *c, size_t first, size_t n, bool used) {
    for (size_t i = first; i < first + n; i++) {
        if (used)
            c->used[i >> 6] |= (uint64_t)1 << (i & 63);
        else
            c->used[i >> 6] &= ~((uint64_t)1 << (i & 63));
    }
    c->free_pages = used ? c->free_pages - n : c->free_pages + n;
}

/* First fit of `n` pages in chunk `c`; SIZE_MAX if none. */
static size_t find_run(const mdn_los_chunk *c, size_t n) {
    if (c->free_pages < n)
        return SIZE_MAX;
    size_t run = 0;
    for (size_t i = 0; i < MDN_LOS_PAGES_PER_CHUNK; i++) {
        if ((i & 63) == 0 && c->used[i >> 6] == ~(uint64_t)0) {
            run = 0;
            i += 63;
            continue;
        }
        run = page_used(c, i) ? 0 : run + 1;
        if (run == n)
            return i + 1 - n;
    }
    return SIZE_MAX;
}

static bool push_object(mdn_large_space *s, uintptr_t start, size_t pages) {
    if (s->nobjects == s->objects_capacity) {
        size_t cap = s->objects_capacity ? s->objects_capacity * 2 : 64;
        mdn_los_object *grown = realloc(s->objects, cap * sizeof *grown);
        if (!grown)
            return false;
        s->objects = grown;
        s->objects_capacity = cap;
    }
    s->objects[s->nobjects].start = start;
    s->objects[s->nobjects].pages = pages;
    s->nobjects++;
    return true;
}

static mdn_los_chunk *chunk_of(mdn_large_space *s, uintptr_t addr) {
    uintptr_t start = addr & ~(uintptr_t)(MDN_CHUNK_SIZE - 1);
    for (size_t i = 0; i < s->nchunks; i++)
        if (s->chunks[i].start == start)
            return &s->chunks[i];
    return NULL;
}

void *mdn_los_alloc(mdn_large_space *s, size_t size) {
    size_t pages = mdn_align_up(size, MDN_PAGE_SIZE) >> MDN_LOG_PAGE;
    size_t bytes = pages << MDN_LOG_PAGE;
    bool huge = pages >= MDN_LOS_PAGES_PER_CHUNK;
    size_t charge = huge ? mdn_align_up(bytes, MDN_CHUNK_SIZE) : bytes;
    if (!mdn_budget_take(s->vs, charge))
        return NULL;
    pthread_mutex_lock(&s->lock);
    uintptr_t start = 0;
    if (huge) {
        mdn_address run = mdn_vmspace_acquire_chunks(s->vs, charge >> MDN_LOG_CHUNK, s->id);
        start = run.value;
    } else {
        for (size_t i = 0; i < s->nchunks && !start; i++) {
            size_t first = find_run(&s->chunks[i], pages);
            if (first != SIZE_MAX) {
                set_pages(&s->chunks[i], first, pages, true);
                start = s->chunks[i].start + (first << MDN_LOG_PAGE);
            }
        }
        if (!start) {
            mdn_address chunk = mdn_vmspace_acquire_chunks(s->vs, 1, s->id);
            if (!mdn_address_is_zero(chunk)) {
                if (s->nchunks == s->chunks_capacity) {
                    size_t cap = s->chunks_capacity ? s->chunks_capacity * 2 : 8;
                    mdn_los_chunk *grown = realloc(s->chunks, cap * sizeof *grown);
                    if (!grown)
                        mdn_fatal("out of memory growing the large-object space");
                    s->chunks = grown;
                    s->chunks_capacity = cap;
                }
                mdn_los_chunk *c = &s->chunks[s->nchunks++];
                memset(c, 0, sizeof *c);
                c->start = chunk.value;
                c->free_pages = MDN_LOS_PAGES_PER_CHUNK;
                set_pages(c, 0, pages, true);
                start = chunk.value;
            }
        }
    }
    if (start && !push_object(s, start, pages))
        mdn_fatal("out of memory recording a large object");
    if (start) {
        mdn_side_bit_set_atomic(&s->starts, mdn_address_from_word(start));
        s->live_bytes += bytes;
    }
    pthread_mutex_unlock(&s->lock);
    if (!start) {
        mdn_budget_give(s->vs, charge);
        return NULL;
    }
    mdn_stats_count_alloc(s->stats, size);
    return (void *)start;
}

void mdn_los_prepare(mdn_large_space *s) {
    pthread_mutex_lock(&s->lock);
    for (size_t i = 0; i < s->nobjects; i++)
        mdn_side_bit_clear_atomic(&s->marks, mdn_address_from_word(s->objects[i].start));
    pthread_mutex_unlock(&s->lock);
}

static void free_object(mdn_large_space *s, const mdn_los_object *o) {
    mdn_address start = mdn_address_from_word(o->start);
    size_t bytes = o->pages << MDN_LOG_PAGE;
    mdn_side_bit_clear_atomic(&s->starts, start);
    s->live_bytes -= bytes;
    if (o->pages >= MDN_LOS_PAGES_PER_CHUNK) {
        size_t charge = mdn_align_up(bytes, MDN_CHUNK_SIZE);
        mdn_vmspace_release_chunks(s->vs, start, charge >> MDN_LOG_CHUNK);
        mdn_budget_give(s->vs, charge);
        return;
    }
    mdn_os_decommit(start, bytes);
    mdn_los_chunk *c = chunk_of(s, o->start);
    MDN_CHECK(c != NULL);
    set_pages(c, (o->start - c->start) >> MDN_LOG_PAGE, o->pages, false);
    mdn_budget_give(s->vs, bytes);
}

size_t mdn_los_sweep(mdn_large_space *s) {
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
    size_t live = s->live_bytes;
    pthread_mutex_unlock(&s->lock);
    return live;
}

void mdn_los_verify(mdn_large_space *s) {
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
        for (size_t p = (o->start - c->start) >> MDN_LOG_PAGE, n = 0; n < o->pages; n++, p++)
            if (!page_used(c, p))
                mdn_verify_fail("page %zu of large object %p is marked free", n, (void *)o->start);
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
