/* vmspace.c: the reservation, chunk allocation and per-block tables. */
#include "core/vmspace.h"

#include "core/os.h"

#include <midden/midden.h>

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
    if (!vs->chunk_space || !vs->block_state || !vs->block_flags || !vs->block_next) {
        mdn_vmspace_destroy(vs);
        mdn_error_set(err, MDN_ERR_MEMORY, "cannot reserve the heap's block tables");
        return false;
    }
    pthread_mutex_init(&vs->chunk_lock, NULL);
    vs->budget = budget;
    return true;
}

void mdn_vmspace_destroy(mdn_vmspace *vs) {
    if (vs->start)
        mdn_os_release(mdn_address_from_word(vs->start), vs->end - vs->start);
    release_table(vs->chunk_space, vs->nchunks);
    release_table(vs->block_state, vs->nblocks);
    release_table(vs->block_flags, vs->nblocks);
    release_table(vs->block_next, vs->nblocks * sizeof(uint32_t));
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

mdn_address mdn_vmspace_acquire_chunks(mdn_vmspace *vs, size_t n, unsigned space) {
    MDN_CHECK(space != MDN_SPACE_NONE && space <= MDN_SPACE_MAX && n > 0);
    pthread_mutex_lock(&vs->chunk_lock);
    /* First fit from the hint, then from the start: chunk runs are rare and
     * the map is small (one byte per 4 MiB). */
    size_t found = SIZE_MAX;
    for (int pass = 0; pass < 2 && found == SIZE_MAX; pass++) {
        size_t from = pass == 0 ? vs->chunk_hint : 0;
        size_t run = 0;
        for (size_t i = from; i < vs->nchunks; i++) {
            run = vs->chunk_space[i] == MDN_SPACE_NONE ? run + 1 : 0;
            if (run == n) {
                found = i + 1 - n;
                break;
            }
        }
    }
    if (found == SIZE_MAX) {
        pthread_mutex_unlock(&vs->chunk_lock);
        return mdn_address_zero();
    }
    mdn_address start = mdn_address_from_word(vs->start + (found << MDN_LOG_CHUNK));
    if (!mdn_os_commit(start, n << MDN_LOG_CHUNK))
        mdn_fatal("cannot commit %zu bytes of heap memory", n << MDN_LOG_CHUNK);
    /* Publish the owner last: from here address → space works for every
     * address of the run (.vmspace.chunks). */
    for (size_t i = found; i < found + n; i++)
        __atomic_store_n(&vs->chunk_space[i], (uint8_t)space, __ATOMIC_RELEASE);
    vs->chunk_hint = found + n;
    pthread_mutex_unlock(&vs->chunk_lock);
    add_committed(vs, n << MDN_LOG_CHUNK);
    return start;
}

void mdn_vmspace_release_chunks(mdn_vmspace *vs, mdn_address start, size_t n) {
    size_t first = mdn_vmspace_chunk_index(vs, start);
    MDN_CHECK(mdn_address_is_aligned(start, MDN_CHUNK_SIZE) && first + n <= vs->nchunks);
    mdn_os_decommit(start, n << MDN_LOG_CHUNK);
    /* .poison.chunks: a stale pointer into a released chunk faults at once. */
    if (vs->poison)
        mdn_os_protect_none(start, n << MDN_LOG_CHUNK);
    size_t b0 = first * MDN_BLOCKS_PER_CHUNK, b1 = (first + n) * MDN_BLOCKS_PER_CHUNK;
    memset(vs->block_state + b0, 0, b1 - b0);
    memset(vs->block_flags + b0, 0, b1 - b0);
    pthread_mutex_lock(&vs->chunk_lock);
    for (size_t i = first; i < first + n; i++)
        __atomic_store_n(&vs->chunk_space[i], (uint8_t)MDN_SPACE_NONE, __ATOMIC_RELEASE);
    if (first < vs->chunk_hint)
        vs->chunk_hint = first;
    pthread_mutex_unlock(&vs->chunk_lock);
    __atomic_fetch_sub(&vs->committed, n << MDN_LOG_CHUNK, __ATOMIC_RELAXED);
}
