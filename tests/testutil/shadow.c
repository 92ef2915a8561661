#include "shadow.h"

#include <inttypes.h>
#include <pthread.h>
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

/* .shadow.weak: a finalizer's record lives as long as the process, since a
 * queued finalizer may run on any thread after its world is gone. The
 * lock also serialises every call of mdn_run_finalizers the worlds make,
 * so once a world's own call returns, every finalizer queued before it
 * has finished. */
typedef struct shadow_final {
    uint64_t id, seed;
    uint32_t payload;
    int ran;
    struct shadow_final *next;
} shadow_final;

static pthread_mutex_t finals_lock = PTHREAD_MUTEX_INITIALIZER;
static shadow_final *all_finals;
static char final_failure[256];

static uint8_t payload_byte(uint64_t seed, size_t k);

static void shadow_finalizer(mdn_mutator *m, mdn_objref obj, void *data) {
    (void)m;
    shadow_final *f = data; /* finals_lock is held: see run_finalizers() */
    const uint64_t *p = toyvm_payload(obj);
    bool intact = toyvm_type(obj) == 7 && toyvm_nrefs(obj) == 0 && p[0] == f->id && p[1] == f->seed;
    for (size_t k = 16; intact && k < f->payload; k++)
        intact = ((const uint8_t *)p)[k] == payload_byte(f->seed, k);
    if (!intact && !final_failure[0])
        snprintf(final_failure, sizeof final_failure, "finalizable object %#" PRIx64 " at %p is not intact when its finalizer runs",
                 f->id, (void *)obj.value);
    if (++f->ran > 1 && !final_failure[0])
        snprintf(final_failure, sizeof final_failure, "the finalizer of object %#" PRIx64 " ran %d times", f->id, f->ran);
}

static void run_finalizers(shadow_world *w) {
    pthread_mutex_lock(&finals_lock);
    mdn_run_finalizers(w->thread->mutator);
    pthread_mutex_unlock(&finals_lock);
}

void shadow_world_enable_weak(shadow_world *w, unsigned every) { w->weak_every = every; }

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
    free(w->finals);
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

static unsigned type_of(uint8_t weak) {
    return weak == SHADOW_EPHEMERON ? TOYVM_TYPE_EPHEMERON : weak ? TOYVM_TYPE_WEAK : 7u;
}

/* Leading fields that are not strong edges (.shadow.weak). */
static unsigned first_strong(const shadow_obj *m) {
    return m->weak == SHADOW_EPHEMERON ? 2u : m->weak ? 1u : 0u;
}

static mdn_objref alloc_typed(shadow_world *w, uint8_t weak, unsigned nrefs, size_t payload, mdn_alloc_kind kind) {
    if (payload < 16)
        payload = 16;
    payload = (payload + 7) & ~(size_t)7;
    mdn_objref o = toyvm_alloc(w->thread, type_of(weak), nrefs, payload, kind);
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
    m->weak = weak;
    m->finalizable = false;
    m->eph_done = false;
    m->address = 0;
    m->visited = false;
    /* .shadow.nonmoving: such objects must stay where they were allocated. */
    m->pinned_address = (kind == MDN_ALLOC_NONMOVING || kind == MDN_ALLOC_IMMORTAL) ? o.value : 0;
    memset(m->edges, 0, nrefs * sizeof(uint64_t));
    w->objs[idx] = m;
    return o;
}

mdn_objref shadow_alloc(shadow_world *w, unsigned nrefs, size_t payload, mdn_alloc_kind kind) {
    return alloc_typed(w, SHADOW_PLAIN, nrefs, payload, kind);
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

/* .shadow.weak: make a weak box, an ephemeron or a finalizable object, or
 * run finalizers. Targets and keys are live, never finalizable objects. */
static bool weak_op(shadow_world *w) {
    uint64_t k = below(w, 4);
    size_t a = random_root(w), b = random_root(w), c = random_root(w);
    if (k == 3) {
        run_finalizers(w);
        return true;
    }
    if (k == 2) {
        mdn_objref o = alloc_typed(w, SHADOW_PLAIN, 0, 16 + below(w, 48), MDN_ALLOC_DEFAULT);
        if (mdn_objref_is_null(o))
            return false;
        shadow_obj *m = model(w, id_of(o));
        m->finalizable = true;
        shadow_final *f = xmalloc(sizeof *f);
        *f = (shadow_final){m->id, m->seed, m->payload, 0, NULL};
        pthread_mutex_lock(&finals_lock);
        f->next = all_finals;
        all_finals = f;
        pthread_mutex_unlock(&finals_lock);
        w->finals = realloc(w->finals, (w->nfinals + 1) * sizeof *w->finals);
        if (!w->finals)
            abort();
        w->finals[w->nfinals++] = f;
        mdn_finalizer_register(w->thread->mutator, o, shadow_finalizer, f,
                               below(w, 2) ? MDN_FINALIZE_ORDERED : MDN_FINALIZE_UNORDERED);
        *shadow_root_slot(w, a) = o;
        w->root_ids[a] = m->id;
        w->finalizers_made++;
        return true;
    }
    shadow_obj *target = w->root_ids[b] ? model(w, w->root_ids[b]) : NULL;
    if (!target || target->finalizable)
        return true;
    uint8_t weak = k == 1 ? SHADOW_EPHEMERON : below(w, 2) ? SHADOW_WEAK_LONG : SHADOW_WEAK_SHORT;
    unsigned nrefs = (weak == SHADOW_EPHEMERON ? 2u : 1u) + (unsigned)below(w, 3);
    mdn_objref o = alloc_typed(w, weak, nrefs, 16 + below(w, 32), MDN_ALLOC_DEFAULT);
    if (mdn_objref_is_null(o))
        return false;
    shadow_obj *m = model(w, id_of(o));
    toyvm_set_ref(w->thread, o, 0, *shadow_root_slot(w, b));
    m->edges[0] = w->root_ids[b];
    if (weak == SHADOW_EPHEMERON) {
        toyvm_set_ref(w->thread, o, 1, *shadow_root_slot(w, c));
        m->edges[1] = w->root_ids[c];
        mdn_ephemeron_register(w->thread->mutator, o, toyvm_ref_slot(o, 0), toyvm_ref_slot(o, 1));
        w->ephemerons_made++;
    } else {
        mdn_weak_register(w->thread->mutator, o, toyvm_ref_slot(o, 0),
                          weak == SHADOW_WEAK_LONG ? MDN_WEAK_LONG : MDN_WEAK_SHORT);
        w->weak_made++;
    }
    *shadow_root_slot(w, a) = o;
    w->root_ids[a] = m->id;
    return true;
}

bool shadow_step(shadow_world *w, unsigned collect_every) {
    w->ops++;
    w->strict = false;
    if (w->nranges || w->native_every)
        extra_ops(w);
    uint64_t op = below(w, 100);
    size_t a = random_root(w);
    mdn_objref *sa = shadow_root_slot(w, a);
    if (collect_every && below(w, collect_every) == 0) {
        uint64_t scans = toyvm_root_scans(w->thread);
        mdn_gc_kind kind = below(w, 4) == 0 ? MDN_GC_FULL : MDN_GC_DEFAULT;
        mdn_collect(w->thread->mutator, kind);
        if (w->weak_every) {
            run_finalizers(w);
            /* A collection ran (.shadow.weak) that finds every unreachable
             * object: on a generational plan only a full one does, a minor
             * one leaves the old garbage for later. */
            w->strict = toyvm_root_scans(w->thread) != scans &&
                        (kind == MDN_GC_FULL || MDN_PLAN_BARRIER != MDN_BARRIER_OBJECT);
        }
        return true;
    }
    if (w->weak_every && below(w, w->weak_every) == 0)
        return weak_op(w);
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
        unsigned first = first_strong(m);
        if (m->nrefs <= first)
            return true;
        shadow_set_field(w, a, first + (unsigned)below(w, m->nrefs - first), random_root(w));
    } else if (op < 75) { /* unlink */
        if (w->root_ids[a] == 0)
            return true;
        shadow_obj *m = model(w, w->root_ids[a]);
        unsigned first = first_strong(m);
        if (m->nrefs <= first)
            return true;
        unsigned f = first + (unsigned)below(w, m->nrefs - first);
        toyvm_set_ref(w->thread, *sa, f, mdn_objref_null());
        m->edges[f] = 0;
    } else if (op < 90) { /* walk: a root moves to a child of another root */
        size_t b = random_root(w);
        if (w->root_ids[b] == 0)
            return true;
        shadow_obj *m = model(w, w->root_ids[b]);
        unsigned first = first_strong(m);
        if (m->nrefs <= first)
            return true;
        unsigned f = first + (unsigned)below(w, m->nrefs - first);
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

/* A walk of the heap graph in lockstep with the model. */
typedef struct shadow_walk {
    mdn_objref *stack;
    size_t n, cap;
    size_t visited;
    mdn_objref *weak; /* weak boxes and ephemerons reached (.shadow.weak) */
    size_t nweak, weak_cap;
} shadow_walk;

static void walk_push(mdn_objref **array, size_t *n, size_t *cap, mdn_objref o) {
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 1024;
        *array = realloc(*array, *cap * sizeof **array);
        if (!*array)
            abort();
    }
    (*array)[(*n)++] = o;
}

/* Check and visit everything reachable from the walk's stack. */
static bool walk_drain(shadow_world *w, shadow_walk *k) {
    while (k->n) {
        mdn_objref cur = k->stack[--k->n];
        uint64_t id = id_of(cur);
        shadow_obj *m = model(w, id);
        if (!m)
            return fail(w, "object %p has id %#" PRIx64 ", which the model does not know", (void *)cur.value, id);
        if (m->visited)
            continue;
        m->visited = true;
        m->address = cur.value;
        k->visited++;
        if (toyvm_type(cur) != type_of(m->weak) || toyvm_nrefs(cur) != m->nrefs ||
            toyvm_size(cur) != toyvm_object_bytes(m->nrefs, m->payload))
            return fail(w, "object %#" PRIx64 " at %p has the wrong header %#" PRIx64, id, (void *)cur.value,
                        toyvm_header(cur));
        if (m->pinned_address && m->pinned_address != cur.value)
            return fail(w, "%s object %#" PRIx64 " moved from %#" PRIx64 " to %p",
                        m->kind == MDN_ALLOC_DEFAULT || m->kind == MDN_ALLOC_LARGE ? "pinned" : "non-moving", id,
                        m->pinned_address, (void *)cur.value);
        const uint64_t *p = toyvm_payload(cur);
        if (p[1] != m->seed)
            return fail(w, "object %#" PRIx64 ": payload seed changed", id);
        const uint8_t *b = (const uint8_t *)p;
        for (size_t i = 16; i < m->payload; i++)
            if (b[i] != payload_byte(m->seed, i))
                return fail(w, "object %#" PRIx64 ": payload byte %zu corrupted", id, i);
        if (m->weak)
            walk_push(&k->weak, &k->nweak, &k->weak_cap, cur);
        for (unsigned f = first_strong(m); f < m->nrefs; f++) {
            mdn_objref child = toyvm_get_ref(cur, f);
            if (id_of(child) != m->edges[f])
                return fail(w, "object %#" PRIx64 " field %u holds %#" PRIx64 ", the model says %#" PRIx64, id, f,
                            id_of(child), m->edges[f]);
            if (!mdn_objref_is_null(child))
                walk_push(&k->stack, &k->n, &k->cap, child);
        }
    }
    return true;
}

static bool reached(const shadow_world *w, uint64_t id) {
    const shadow_obj *m = id ? model(w, id) : NULL;
    return m && m->visited;
}

/* .shadow.weak: the ephemeron fixpoint of the model: follow the value of
 * every reached ephemeron whose key was reached, until nothing changes. */
static bool walk_ephemerons(shadow_world *w, shadow_walk *k) {
    bool progress = true;
    while (progress) {
        progress = false;
        for (size_t i = 0; i < k->nweak; i++) {
            mdn_objref e = k->weak[i];
            shadow_obj *m = model(w, id_of(e));
            if (m->weak != SHADOW_EPHEMERON || m->eph_done || !reached(w, m->edges[0]))
                continue;
            mdn_objref key = toyvm_get_ref(e, 0), value = toyvm_get_ref(e, 1);
            if (key.value != model(w, m->edges[0])->address)
                return fail(w, "ephemeron %#" PRIx64 " holds key %p, but its key %#" PRIx64 " lives at %#" PRIx64,
                            m->id, (void *)key.value, m->edges[0], model(w, m->edges[0])->address);
            if (id_of(value) != m->edges[1])
                return fail(w, "ephemeron %#" PRIx64 " with a live key holds value %#" PRIx64 ", the model says %#" PRIx64,
                            m->id, id_of(value), m->edges[1]);
            m->eph_done = true;
            progress = true;
            if (!mdn_objref_is_null(value))
                walk_push(&k->stack, &k->n, &k->cap, value);
        }
        if (!walk_drain(w, k))
            return false;
    }
    return true;
}

/* .shadow.weak: weak fields and ephemerons whose targets were not reached
 * hold null (cleared: the model forgets the edge) or the same, intact
 * object; right after an explicit collection only null. */
static bool check_weak(shadow_world *w, shadow_walk *k) {
    for (size_t i = 0; i < k->nweak; i++) {
        mdn_objref e = k->weak[i];
        shadow_obj *m = model(w, id_of(e));
        mdn_objref target = toyvm_get_ref(e, 0);
        if (m->weak == SHADOW_EPHEMERON) {
            if (m->eph_done)
                continue;
            mdn_objref value = toyvm_get_ref(e, 1);
            if (mdn_objref_is_null(target)) {
                if (!mdn_objref_is_null(value))
                    return fail(w, "ephemeron %#" PRIx64 " has a cleared key but still a value", m->id);
                w->weak_cleared += m->edges[0] != 0;
                m->edges[0] = m->edges[1] = 0;
                continue;
            }
            if (id_of(target) != m->edges[0] || id_of(value) != m->edges[1])
                return fail(w, "ephemeron %#" PRIx64 " with an unreachable key holds %#" PRIx64 " -> %#" PRIx64
                            ", the model says %#" PRIx64 " -> %#" PRIx64,
                            m->id, id_of(target), id_of(value), m->edges[0], m->edges[1]);
            if (w->strict)
                return fail(w, "ephemeron %#" PRIx64 " whose key %#" PRIx64 " is unreachable was not cleared by a collection",
                            m->id, m->edges[0]);
            continue;
        }
        const char *strength = m->weak == SHADOW_WEAK_LONG ? "long" : "short";
        if (reached(w, m->edges[0])) {
            if (target.value != model(w, m->edges[0])->address)
                return fail(w, "%s weak box %#" PRIx64 " holds %p, but its live target %#" PRIx64 " is at %#" PRIx64,
                            strength, m->id, (void *)target.value, m->edges[0], model(w, m->edges[0])->address);
            continue;
        }
        if (mdn_objref_is_null(target)) {
            w->weak_cleared += m->edges[0] != 0;
            m->edges[0] = 0;
            continue;
        }
        if (id_of(target) != m->edges[0])
            return fail(w, "%s weak box %#" PRIx64 " holds object %#" PRIx64 ", the model says %#" PRIx64, strength,
                        m->id, id_of(target), m->edges[0]);
        if (w->strict)
            return fail(w, "%s weak box %#" PRIx64 ": target %#" PRIx64 " is unreachable but was not cleared by a collection",
                        strength, m->id, m->edges[0]);
    }
    return true;
}

/* .shadow.weak: finalizers ran only for unreachable objects; right after an
 * explicit collection, for every unreachable one. */
static bool check_finalizers(shadow_world *w) {
    pthread_mutex_lock(&finals_lock);
    bool ok = true;
    if (final_failure[0])
        ok = fail(w, "%s", final_failure);
    size_t kept = 0;
    for (size_t i = 0; i < w->nfinals && ok; i++) {
        shadow_final *f = w->finals[i];
        bool live = reached(w, f->id);
        if (f->ran && live)
            ok = fail(w, "the finalizer of object %#" PRIx64 " ran, but the object is reachable", f->id);
        else if (!f->ran && !live && w->strict)
            ok = fail(w, "object %#" PRIx64 " is unreachable, but a collection and mdn_run_finalizers did not finalize it",
                      f->id);
        else if (f->ran)
            w->finalizers_ran++;
        else
            w->finals[kept++] = f;
    }
    if (ok)
        w->nfinals = kept;
    pthread_mutex_unlock(&finals_lock);
    return ok;
}

bool shadow_verify(shadow_world *w) {
    w->checks++;
    shadow_walk k;
    memset(&k, 0, sizeof k);
    for (size_t i = 0; i < w->objs_capacity; i++)
        if (w->objs[i])
            w->objs[i]->visited = w->objs[i]->eph_done = false;
    bool ok = true;
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
        walk_push(&k.stack, &k.n, &k.cap, o);
        ok = walk_drain(w, &k);
    }
    if (!ok && walking != SIZE_MAX) {
        static const char *const kinds[] = {"shadow-stack", "registered", "global", "dynamic range"};
        size_t root = walking;
        int kind = root < w->nstack                               ? 0
                   : root < w->nstack + w->nregistered                ? 1
                   : root < w->nstack + w->nregistered + w->nglobals ? 2
                                                                      : 3;
        size_t len = strlen(w->failure);
        snprintf(w->failure + len, sizeof w->failure - len, " [walking from root %zu, a %s root, %zu objects checked]",
                 root, kinds[kind], k.visited);
    }
    if (ok && w->weak_every)
        ok = walk_ephemerons(w, &k) && check_weak(w, &k) && check_finalizers(w);
    free(k.stack);
    free(k.weak);
    if (ok) {
        /* Sweep the model: records not reached are garbage in both. */
        for (size_t i = 0; i < w->objs_capacity; i++) {
            if (w->objs[i] && !w->objs[i]->visited) {
                free(w->objs[i]);
                w->objs[i] = NULL;
            }
        }
        w->live_objects = k.visited;
    }
    return ok;
}
