#include "shadow.h"

#include <inttypes.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rnd(shadow_world *w) {
    uint64_t x = w->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    w->rng = x;
    return x * 0x2545F4914F6CDD1DULL;
}
static uint64_t below(shadow_world *w, uint64_t n) { return rnd(w) % n; }

static void *xmalloc(size_t n) {
    void *p = malloc(n);
    if (!p) {
        fprintf(stderr, "shadow: out of memory\n");
        abort();
    }
    return p;
}

void shadow_world_init(shadow_world *w, toyvm_thread *t, uint64_t seed, unsigned tag, size_t nstack,
                       size_t nregistered, size_t nglobals) {
    memset(w, 0, sizeof *w);
    w->thread = t;
    w->heap = t->heap;
    w->rng = seed ? seed : 1;
    w->tag = tag;
    w->next_id = 1;
    w->nstack = nstack;
    w->stack_base = t->root_count;
    for (size_t i = 0; i < nstack; i++)
        toyvm_push_root(t, mdn_objref_null());
    w->nregistered = nregistered;
    if (nregistered) {
        w->registered = calloc(nregistered, sizeof *w->registered);
        mdn_add_roots(w->heap, w->registered, nregistered);
    }
    w->nglobals = nglobals;
    if (nglobals) {
        w->globals = calloc(nglobals, sizeof *w->globals);
        for (size_t i = 0; i < nglobals; i++)
            toyvm_add_global_root(&w->globals[i]);
    }
    w->nroots = nstack + nregistered + nglobals;
    w->fixed_roots = w->nroots;
    w->root_ids = calloc(w->nroots, sizeof *w->root_ids);
}

static void range_register(shadow_world *w, size_t r) {
    w->ranges[r] = calloc(w->range_slots, sizeof(mdn_objref));
    if (!w->ranges[r])
        abort();
    mdn_add_roots(w->heap, w->ranges[r], w->range_slots);
}

static void range_unregister(shadow_world *w, size_t r) {
    mdn_remove_roots(w->heap, w->ranges[r]);
    /* Freed at once: a collector that kept scanning it would read freed memory. */
    free(w->ranges[r]);
    w->ranges[r] = NULL;
    memset(&w->root_ids[w->fixed_roots + r * w->range_slots], 0, w->range_slots * sizeof *w->root_ids);
}

void shadow_world_enable_ranges(shadow_world *w, size_t nranges, size_t slots, unsigned every) {
    if (nranges == 0 || slots == 0)
        return;
    w->nranges = nranges;
    w->range_slots = slots;
    w->range_every = every;
    w->ranges = calloc(nranges, sizeof *w->ranges);
    w->nroots = w->fixed_roots + nranges * slots;
    uint64_t *ids = realloc(w->root_ids, w->nroots * sizeof *ids);
    if (!w->ranges || !ids)
        abort();
    memset(ids + w->fixed_roots, 0, nranges * slots * sizeof *ids);
    w->root_ids = ids;
    for (size_t r = 0; r < nranges; r += 2)
        range_register(w, r);
}

void shadow_world_destroy(shadow_world *w) {
    toyvm_pop_roots(w->thread, w->nstack);
    if (w->nregistered)
        mdn_remove_roots(w->heap, w->registered);
    for (size_t i = 0; i < w->nglobals; i++)
        toyvm_remove_global_root(&w->globals[i]);
    for (size_t r = 0; r < w->nranges; r++)
        if (w->ranges[r])
            range_unregister(w, r);
    free(w->ranges);
    for (size_t i = 0; i < w->objs_capacity; i++)
        free(w->objs[i]);
    free(w->objs);
    free(w->registered);
    free(w->globals);
    free(w->root_ids);
}

mdn_objref *shadow_root_slot(shadow_world *w, size_t i) {
    if (i < w->nstack)
        return &w->thread->roots[w->stack_base + i];
    i -= w->nstack;
    if (i < w->nregistered)
        return &w->registered[i];
    i -= w->nregistered;
    if (i < w->nglobals)
        return &w->globals[i];
    i -= w->nglobals;
    mdn_objref *range = w->ranges[i / w->range_slots];
    return range ? &range[i % w->range_slots] : NULL;
}

static size_t index_of(const shadow_world *w, uint64_t id) { return (size_t)(id & ((1ull << 40) - 1)); }

static shadow_obj *model(const shadow_world *w, uint64_t id) {
    size_t i = index_of(w, id);
    return i < w->objs_capacity ? w->objs[i] : NULL;
}

static uint8_t payload_byte(uint64_t seed, size_t k) { return (uint8_t)((seed >> ((k & 7) * 8)) ^ (k * 131u)); }

mdn_objref shadow_alloc(shadow_world *w, unsigned nrefs, size_t payload, mdn_alloc_kind kind) {
    if (payload < 16)
        payload = 16;
    payload = (payload + 7) & ~(size_t)7;
    mdn_objref o = toyvm_alloc(w->thread, 7, nrefs, payload, kind);
    if (mdn_objref_is_null(o))
        return o;
    uint64_t id = (w->tag << 40) | w->next_id++;
    uint64_t seed = rnd(w) | 1;
    uint64_t *p = toyvm_payload(o);
    p[0] = id;
    p[1] = seed;
    uint8_t *b = (uint8_t *)p;
    for (size_t k = 16; k < payload; k++)
        b[k] = payload_byte(seed, k);
    size_t idx = index_of(w, id);
    if (idx >= w->objs_capacity) {
        size_t cap = w->objs_capacity ? w->objs_capacity * 2 : 1024;
        while (cap <= idx)
            cap *= 2;
        shadow_obj **grown = realloc(w->objs, cap * sizeof *grown);
        if (!grown)
            abort();
        memset(grown + w->objs_capacity, 0, (cap - w->objs_capacity) * sizeof *grown);
        w->objs = grown;
        w->objs_capacity = cap;
    }
    shadow_obj *m = xmalloc(sizeof *m + nrefs * sizeof(uint64_t));
    m->id = id;
    m->seed = seed;
    m->nrefs = nrefs;
    m->payload = (uint32_t)payload;
    m->kind = (uint8_t)kind;
    m->visited = false;
    /* .shadow.nonmoving: such objects must stay where they were allocated. */
    m->pinned_address = (kind == MDN_ALLOC_NONMOVING || kind == MDN_ALLOC_IMMORTAL) ? o.value : 0;
    memset(m->edges, 0, nrefs * sizeof(uint64_t));
    w->objs[idx] = m;
    return o;
}

static uint64_t id_of(mdn_objref o) { return mdn_objref_is_null(o) ? 0 : ((uint64_t *)toyvm_payload(o))[0]; }

void shadow_set_field(shadow_world *w, size_t root, unsigned field, size_t from_root) {
    mdn_objref holder = *shadow_root_slot(w, root);
    mdn_objref value = *shadow_root_slot(w, from_root);
    toyvm_set_ref(w->thread, holder, field, value);
    model(w, w->root_ids[root])->edges[field] = w->root_ids[from_root];
}

static size_t random_root(shadow_world *w) {
    if (w->nranges == 0)
        return (size_t)below(w, w->nroots);
    /* Only roots that exist: slots of unregistered ranges are skipped. */
    for (;;) {
        size_t r = (size_t)below(w, w->nroots);
        if (r < w->fixed_roots || w->ranges[(r - w->fixed_roots) / w->range_slots])
            return r;
    }
}

/* The extra operations, drawn only when enabled (.shadow.extras). */
static void extra_ops(shadow_world *w) {
    if (w->range_every && below(w, w->range_every) == 0) {
        size_t r = (size_t)below(w, w->nranges);
        if (w->ranges[r])
            range_unregister(w, r);
        else
            range_register(w, r);
        w->range_toggles++;
    }
    if (w->native_every && below(w, w->native_every) == 0) {
        /* Another thread may collect meanwhile; nothing here may change. */
        mdn_enter_native(w->thread->mutator);
        sched_yield();
        mdn_leave_native(w->thread->mutator);
        w->native_trips++;
    }
}

/* Pick a shape: mostly small, some medium, a few large. */
static void random_shape(shadow_world *w, unsigned *nrefs, size_t *payload, mdn_alloc_kind *kind) {
    uint64_t r = below(w, 1000);
    *nrefs = (unsigned)below(w, 5);
    *kind = MDN_ALLOC_DEFAULT;
    if (r < 900)
        *payload = 16 + below(w, 64);
    else if (r < 985)
        *payload = 300 + below(w, 4000);
    else
        *payload = 9000 + below(w, 60000);
    uint64_t k = below(w, 100);
    if (k == 0)
        *kind = MDN_ALLOC_NONMOVING;
    else if (k == 1 && *payload < 1000)
        *kind = MDN_ALLOC_IMMORTAL;
    else if (k == 2)
        *kind = MDN_ALLOC_LARGE;
}

bool shadow_step(shadow_world *w, unsigned collect_every) {
    w->ops++;
    if (w->nranges || w->native_every)
        extra_ops(w);
    uint64_t op = below(w, 100);
    size_t a = random_root(w);
    mdn_objref *sa = shadow_root_slot(w, a);
    if (collect_every && below(w, collect_every) == 0) {
        mdn_collect(w->thread->mutator, below(w, 4) == 0 ? MDN_GC_FULL : MDN_GC_DEFAULT);
        return true;
    }
    if (op < 40) { /* allocate into a root, linking to other roots */
        unsigned nrefs;
        size_t payload;
        mdn_alloc_kind kind;
        random_shape(w, &nrefs, &payload, &kind);
        mdn_objref o = shadow_alloc(w, nrefs, payload, kind);
        if (mdn_objref_is_null(o))
            return false;
        sa = shadow_root_slot(w, a);
        *sa = o;
        w->root_ids[a] = id_of(o);
        for (unsigned f = 0; f < nrefs; f++) {
            size_t b = random_root(w);
            if (below(w, 3) != 0)
                shadow_set_field(w, a, f, b);
        }
    } else if (op < 65) { /* link a field to another root's object */
        if (w->root_ids[a] == 0)
            return true;
        shadow_obj *m = model(w, w->root_ids[a]);
        if (m->nrefs == 0)
            return true;
        shadow_set_field(w, a, (unsigned)below(w, m->nrefs), random_root(w));
    } else if (op < 75) { /* unlink */
        if (w->root_ids[a] == 0)
            return true;
        shadow_obj *m = model(w, w->root_ids[a]);
        if (m->nrefs == 0)
            return true;
        unsigned f = (unsigned)below(w, m->nrefs);
        toyvm_set_ref(w->thread, *sa, f, mdn_objref_null());
        m->edges[f] = 0;
    } else if (op < 90) { /* walk: a root moves to a child of another root */
        size_t b = random_root(w);
        if (w->root_ids[b] == 0)
            return true;
        shadow_obj *m = model(w, w->root_ids[b]);
        if (m->nrefs == 0)
            return true;
        unsigned f = (unsigned)below(w, m->nrefs);
        mdn_objref child = toyvm_get_ref(*shadow_root_slot(w, b), f);
        *shadow_root_slot(w, a) = child;
        w->root_ids[a] = m->edges[f];
    } else if (op < 97) { /* drop a root */
        *sa = mdn_objref_null();
        w->root_ids[a] = 0;
    } else { /* pin */
        if (w->root_ids[a] == 0)
            return true;
        shadow_obj *m = model(w, w->root_ids[a]);
        if (mdn_pin_object(w->thread->mutator, *sa))
            m->pinned_address = sa->value;
    }
    return true;
}

static bool fail(shadow_world *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static bool fail(shadow_world *w, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->failure, sizeof w->failure, fmt, ap);
    va_end(ap);
    return false;
}

bool shadow_verify(shadow_world *w) {
    w->checks++;
    size_t cap = 1024, n = 0;
    mdn_objref *stack = xmalloc(cap * sizeof *stack);
    for (size_t i = 0; i < w->objs_capacity; i++)
        if (w->objs[i])
            w->objs[i]->visited = false;
    bool ok = true;
    size_t visited = 0;
    size_t walking = SIZE_MAX; /* the root being walked, for the report */
    for (size_t r = 0; r < w->nroots && ok; r++) {
        walking = r;
        mdn_objref *slot = shadow_root_slot(w, r);
        if (!slot) {
            if (w->root_ids[r] != 0)
                ok = fail(w, "root %zu of an unregistered range holds %#" PRIx64 " in the model", r, w->root_ids[r]);
            continue;
        }
        mdn_objref o = *slot;
        if (id_of(o) != w->root_ids[r]) {
            ok = fail(w, "root %zu holds object %#" PRIx64 ", the model says %#" PRIx64, r, id_of(o), w->root_ids[r]);
            break;
        }
        if (mdn_objref_is_null(o))
            continue;
        stack[n++] = o;
        while (n && ok) {
            mdn_objref cur = stack[--n];
            uint64_t id = id_of(cur);
            shadow_obj *m = model(w, id);
            if (!m) {
                ok = fail(w, "object %p has id %#" PRIx64 ", which the model does not know", (void *)cur.value, id);
                break;
            }
            if (m->visited)
                continue;
            m->visited = true;
            visited++;
            if (toyvm_type(cur) != 7 || toyvm_nrefs(cur) != m->nrefs ||
                toyvm_size(cur) != toyvm_object_bytes(m->nrefs, m->payload)) {
                ok = fail(w, "object %#" PRIx64 " at %p has the wrong header %#" PRIx64, id, (void *)cur.value,
                          toyvm_header(cur));
                break;
            }
            if (m->pinned_address && m->pinned_address != cur.value) {
                ok = fail(w, "%s object %#" PRIx64 " moved from %#" PRIx64 " to %p",
                          m->kind == MDN_ALLOC_DEFAULT || m->kind == MDN_ALLOC_LARGE ? "pinned" : "non-moving", id,
                          m->pinned_address, (void *)cur.value);
                break;
            }
            const uint64_t *p = toyvm_payload(cur);
            if (p[1] != m->seed) {
                ok = fail(w, "object %#" PRIx64 ": payload seed changed", id);
                break;
            }
            const uint8_t *b = (const uint8_t *)p;
            for (size_t k = 16; k < m->payload; k++) {
                if (b[k] != payload_byte(m->seed, k)) {
                    ok = fail(w, "object %#" PRIx64 ": payload byte %zu corrupted", id, k);
                    break;
                }
            }
            for (unsigned f = 0; f < m->nrefs && ok; f++) {
                mdn_objref child = toyvm_get_ref(cur, f);
                if (id_of(child) != m->edges[f]) {
                    ok = fail(w, "object %#" PRIx64 " field %u holds %#" PRIx64 ", the model says %#" PRIx64, id, f,
                              id_of(child), m->edges[f]);
                    break;
                }
                if (!mdn_objref_is_null(child)) {
                    if (n == cap) {
                        cap *= 2;
                        stack = realloc(stack, cap * sizeof *stack);
                        if (!stack)
                            abort();
                    }
                    stack[n++] = child;
                }
            }
        }
    }
    free(stack);
    if (!ok && walking != SIZE_MAX) {
        static const char *const kinds[] = {"shadow-stack", "registered", "global", "dynamic range"};
        size_t root = walking;
        int kind = root < w->nstack                               ? 0
                   : root < w->nstack + w->nregistered                ? 1
                   : root < w->nstack + w->nregistered + w->nglobals ? 2
                                                                      : 3;
        size_t len = strlen(w->failure);
        snprintf(w->failure + len, sizeof w->failure - len, " [walking from root %zu, a %s root, %zu objects checked]",
                 root, kinds[kind], visited);
    }
    if (ok) {
        /* Sweep the model: records not reached are garbage in both. */
        for (size_t i = 0; i < w->objs_capacity; i++) {
            if (w->objs[i] && !w->objs[i]->visited) {
                free(w->objs[i]);
                w->objs[i] = NULL;
            }
        }
        w->live_objects = visited;
    }
    return ok;
}
