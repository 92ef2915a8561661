/* vmspace.c: the reservation, chunk allocation and per-block tables. */
#include "core/vmspace.h"

#include "core/os.h"

#include <midden/midden.h>

#include <stdlib.h>
#include <string.h>

static void *reserve_table(size_t bytes) {
    mdn_address a = mdn_os_reserve_zeroed(mdn_align_up(bytes ? bytes : 1, MDN_PAGE_SIZE));
    return mdn_address_to_ptr(a);
}

static void release_table(void *p, size_t bytes) {
    if (p)
        mdn_os_release(mdn_address_from_ptr(p), mdn_align_up(bytes ? bytes : 1, MDN_PAGE_SIZE));
}

bool mdn_vmspace_init(mdn_vmspace *vs, size_t reserve, size_t budget, struct mdn_error *err) {
    memset(vs, 0, sizeof *vs);
    reserve = mdn_align_up(reserve, MDN_CHUNK_SIZE);
    mdn_address start = mdn_os_reserve(reserve, MDN_CHUNK_SIZE);
    if (mdn_address_is_zero(start)) {
        mdn_error_set(err, MDN_ERR_MEMORY, "cannot reserve %zu bytes of address space for the heap", reserve);
        return false;
    }
    vs->start = start.value;
    vs->end = start.value + reserve;
    vs->nchunks = reserve >> MDN_LOG_CHUNK;
    vs->nblocks = reserve >> MDN_LOG_BLOCK;
    vs->chunk_space = reserve_table(vs->nchunks);
    vs->block_state = reserve_table(vs->nblocks);
    vs->block_flags = reserve_table(vs->nblocks);
    vs->block_next = reserve_table(vs->nblocks * sizeof(uint32_t));
    vs->warm = reserve_table(vs->nchunks * sizeof(uint32_t));
    vs->chunk_freed_gc = reserve_table(vs->nchunks * sizeof(uint64_t));
    vs->chunk_freed_ns = reserve_table(vs->nchunks * sizeof(uint64_t));
    vs->scratch = reserve_table(vs->nchunks * sizeof(uint32_t));
    if (!vs->chunk_space || !vs->block_state || !vs->block_flags || !vs->block_next || !vs->warm ||
        !vs->chunk_freed_gc || !vs->chunk_freed_ns || !vs->scratch) {
        mdn_vmspace_destroy(vs);
        mdn_error_set(err, MDN_ERR_MEMORY, "cannot reserve the heap's block tables");
        return false;
    }
    pthread_mutex_init(&vs->chunk_lock, NULL);
    vs->budget = budget;
    vs->max = budget;
    return true;
}

void mdn_vmspace_destroy(mdn_vmspace *vs) {
    if (vs->start)
        mdn_os_release(mdn_address_from_word(vs->start), vs->end - vs->start);
    release_table(vs->chunk_space, vs->nchunks);
    release_table(vs->block_state, vs->nblocks);
    release_table(vs->block_flags, vs->nblocks);
    release_table(vs->block_next, vs->nblocks * sizeof(uint32_t));
    release_table(vs->warm, vs->nchunks * sizeof(uint32_t));
    release_table(vs->chunk_freed_gc, vs->nchunks * sizeof(uint64_t));
    release_table(vs->chunk_freed_ns, vs->nchunks * sizeof(uint64_t));
    release_table(vs->scratch, vs->nchunks * sizeof(uint32_t));
    if (vs->start)
        pthread_mutex_destroy(&vs->chunk_lock);
    memset(vs, 0, sizeof *vs);
}

static void add_committed(mdn_vmspace *vs, size_t bytes) {
    size_t now = __atomic_add_fetch(&vs->committed, bytes, __ATOMIC_RELAXED);
    size_t peak = __atomic_load_n(&vs->peak_committed, __ATOMIC_RELAXED);
    while (now > peak &&
           !__atomic_compare_exchange_n(&vs->peak_committed, &peak, now, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
    }
}

/* Is chunk i on the warm stack? chunk_lock held. Warm chunks are the only
 * unowned chunks with a nonzero release stamp. */
static bool chunk_is_warm(const mdn_vmspace *vs, size_t i) {
    return vs->chunk_space[i] == MDN_SPACE_NONE && vs->chunk_freed_ns[i] != 0;
}

/* Drop chunk i from the warm stack, keeping the others' order. chunk_lock held. */
static void warm_remove(mdn_vmspace *vs, size_t i) {
    for (size_t k = vs->nwarm; k-- > 0;) {
        if (vs->warm[k] == i) {
            memmove(&vs->warm[k], &vs->warm[k + 1], (vs->nwarm - k - 1) * sizeof *vs->warm);
            vs->nwarm--;
            vs->chunk_freed_ns[i] = 0;
            return;
        }
    }
    MDN_CHECK(!"warm chunk missing from the warm stack");
}

/* A free run of n chunks, preferring (for one chunk) the warm stack's top.
 * chunk_lock held. SIZE_MAX when there is none. */
static size_t find_run(mdn_vmspace *vs, size_t n) {
    if (n == 1 && vs->nwarm)
        return vs->warm[vs->nwarm - 1];
    /* First fit from the hint, then from the start: chunk runs are rare and
     * the map is small (one byte per 4 MiB). */
    for (int pass = 0; pass < 2; pass++) {
        size_t from = pass == 0 ? vs->chunk_hint : 0;
        size_t run = 0;
        for (size_t i = from; i < vs->nchunks; i++) {
            run = vs->chunk_space[i] == MDN_SPACE_NONE ? run + 1 : 0;
            if (run == n)
                return i + 1 - n;
        }
    }
    return SIZE_MAX;
}

mdn_address mdn_vmspace_acquire_chunks_dirty(mdn_vmspace *vs, size_t n, unsigned space, bool *zeroed) {
    MDN_CHECK(space != MDN_SPACE_NONE && space <= MDN_SPACE_MAX && n > 0);
    pthread_mutex_lock(&vs->chunk_lock);
    size_t found = find_run(vs, n);
    if (found == SIZE_MAX) {
        pthread_mutex_unlock(&vs->chunk_lock);
        return mdn_address_zero();
    }
    size_t fresh = 0;
    bool clean = true;
    for (size_t i = found; i < found + n; i++) {
        if (chunk_is_warm(vs, i)) {
            warm_remove(vs, i);
            clean = false;
        } else {
            fresh++;
        }
    }
    mdn_address start = mdn_address_from_word(vs->start + (found << MDN_LOG_CHUNK));
    if (!mdn_os_commit(start, n << MDN_LOG_CHUNK))
        mdn_fatal("cannot commit %zu bytes of heap memory", n << MDN_LOG_CHUNK);
    /* Publish the owner last: from here address → space works for every
     * address of the run (.vmspace.chunks). */
    for (size_t i = found; i < found + n; i++)
        __atomic_store_n(&vs->chunk_space[i], (uint8_t)space, __ATOMIC_RELEASE);
    if (n > 1 || fresh)
        vs->chunk_hint = found + n;
    pthread_mutex_unlock(&vs->chunk_lock);
    /* Warm chunks were counted as committed when first acquired. */
    add_committed(vs, fresh << MDN_LOG_CHUNK);
    if (zeroed)
        *zeroed = clean;
    return start;
}

mdn_address mdn_vmspace_acquire_chunks(mdn_vmspace *vs, size_t n, unsigned space) {
    bool zeroed;
    mdn_address start = mdn_vmspace_acquire_chunks_dirty(vs, n, space, &zeroed);
    /* Zeroing warm memory runs at memory speed; touching fresh pages costs
     * a fault each (docs/design/sizing.md .sizing.warm). */
    if (!mdn_address_is_zero(start) && !zeroed)
        memset(mdn_address_to_ptr(start), 0, n << MDN_LOG_CHUNK);
    return start;
}

void mdn_vmspace_release_chunks(mdn_vmspace *vs, mdn_address start, size_t n) {
    size_t first = mdn_vmspace_chunk_index(vs, start);
    MDN_CHECK(mdn_address_is_aligned(start, MDN_CHUNK_SIZE) && first + n <= vs->nchunks);
    /* .poison.chunks: a stale pointer into a released chunk faults at once. */
    if (vs->poison)
        mdn_os_protect_none(start, n << MDN_LOG_CHUNK);
    size_t b0 = first * MDN_BLOCKS_PER_CHUNK, b1 = (first + n) * MDN_BLOCKS_PER_CHUNK;
    memset(vs->block_state + b0, 0, b1 - b0);
    memset(vs->block_flags + b0, 0, b1 - b0);
    uint64_t now = mdn_now_ns();
    pthread_mutex_lock(&vs->chunk_lock);
    /* .vmspace.warm: pushed last chunk first, so a run comes back in
     * address order. */
    for (size_t i = first + n; i-- > first;) {
        MDN_CHECK(vs->chunk_space[i] != MDN_SPACE_NONE);
        __atomic_store_n(&vs->chunk_space[i], (uint8_t)MDN_SPACE_NONE, __ATOMIC_RELEASE);
        vs->chunk_freed_gc[i] = vs->gc_count;
        vs->chunk_freed_ns[i] = now ? now : 1;
        vs->warm[vs->nwarm++] = (uint32_t)i;
    }
    pthread_mutex_unlock(&vs->chunk_lock);
}

static int compare_u32(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

size_t mdn_vmspace_return_idle(mdn_vmspace *vs, uint64_t after_gcs, uint64_t after_ns) {
    if (after_gcs == 0 && after_ns == 0)
        return 0;
    uint64_t now = mdn_now_ns();
    pthread_mutex_lock(&vs->chunk_lock);
    /* Split the stack: idle chunks go to the scratch array, the rest stay
     * in order. */
    size_t kept = 0, nidle = 0;
    for (size_t k = 0; k < vs->nwarm; k++) {
        uint32_t i = vs->warm[k];
        bool old = (after_gcs && vs->gc_count - vs->chunk_freed_gc[i] >= after_gcs) ||
                   (after_ns && now - vs->chunk_freed_ns[i] >= after_ns);
        if (old)
            vs->chunk_freed_ns[i] = 0, vs->scratch[nidle++] = i;
        else
            vs->warm[kept++] = i;
    }
    vs->nwarm = kept;
    /* Chunks are unowned and off the stack, so nobody acquires them until
     * the lock is dropped; decommit them in runs of adjacent chunks. */
    mdn_sort(vs->scratch, nidle, sizeof *vs->scratch, compare_u32);
    for (size_t k = 0; k < nidle;) {
        size_t run = 1;
        while (k + run < nidle && vs->scratch[k + run] == vs->scratch[k] + run)
            run++;
        mdn_os_decommit(mdn_address_from_word(vs->start + ((uintptr_t)vs->scratch[k] << MDN_LOG_CHUNK)),
                        run << MDN_LOG_CHUNK);
        k += run;
    }
    pthread_mutex_unlock(&vs->chunk_lock);
    size_t bytes = nidle << MDN_LOG_CHUNK;
    __atomic_fetch_sub(&vs->committed, bytes, __ATOMIC_RELAXED);
    vs->returned_bytes += bytes;
    return bytes;
}

size_t mdn_vmspace_warm_bytes(mdn_vmspace *vs) {
    pthread_mutex_lock(&vs->chunk_lock);
    size_t n = vs->nwarm;
    pthread_mutex_unlock(&vs->chunk_lock);
    return n << MDN_LOG_CHUNK;
}
