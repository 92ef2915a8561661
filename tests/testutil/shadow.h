/*
 * shadow.h: a shadow model of a toyvm object graph, kept with malloc
 * outside the GC heap, for checking that a collector loses and corrupts
 * nothing.
 *
 * Every heap object made through shadow_alloc() carries its unique id and a
 * seed in its payload; the rest of the payload is derived from the seed.
 * The model records each object's shape and edges (by id). A world's roots
 * are slots on the thread's shadow stack, in a registered root range, and
 * in toyvm global roots; shadow_verify() walks the heap graph and the model
 * from the same roots in lockstep and reports the first difference.
 *
 * Optional extras for the stress tester (off unless enabled, so a world
 * without them makes exactly the same random choices as before):
 * registered root ranges that come and go during the run
 * (shadow_world_enable_ranges) and trips into native state
 * (shadow_world::native_every). Objects allocated NONMOVING or IMMORTAL, and
 * pinned ones, are checked never to move.
 *
 * .shadow.weak: with shadow_world_enable_weak, the world also makes weak
 * boxes (short and long), ephemerons and finalizable objects. The walk
 * does not follow weak fields and computes the ephemeron fixpoint itself;
 * then a weak field whose target is reachable must hold exactly that
 * object, one whose target is not must hold null or that (still intact)
 * object, and right after an explicit collection it must be null. A
 * finalizer may run only for an unreachable object, once; right after an
 * explicit collection (and mdn_run_finalizers) every unreachable
 * finalizable object has been finalized. Finalizable objects have no
 * fields and are never weak targets or ephemeron keys, so the rules need
 * no model of resurrection.
 */
#ifndef MDN_TEST_SHADOW_H
#define MDN_TEST_SHADOW_H

#include "toyvm.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct shadow_obj {
    uint64_t id;
    uint64_t seed;
    uint32_t nrefs;
    uint32_t payload; /* bytes, >= 16 */
    uint8_t kind;     /* mdn_alloc_kind it was allocated with */
    uint8_t weak;     /* .shadow.weak: SHADOW_PLAIN, SHADOW_WEAK_SHORT, SHADOW_WEAK_LONG, SHADOW_EPHEMERON */
    bool finalizable;
    bool eph_done;    /* during a walk: the ephemeron's value was followed */
    bool visited;
    uint64_t address; /* during a walk: where the object was found */
    uint64_t pinned_address; /* nonzero: the object was pinned (or allocated non-moving) here */
    uint64_t edges[];  /* ids, 0 = null */
} shadow_obj;

enum { SHADOW_PLAIN = 0, SHADOW_WEAK_SHORT = 1, SHADOW_WEAK_LONG = 2, SHADOW_EPHEMERON = 3 };

struct shadow_final;

enum { SHADOW_ROOT_STACK = 0, SHADOW_ROOT_REGISTERED = 1, SHADOW_ROOT_GLOBAL = 2 };

typedef struct shadow_world {
    toyvm_thread *thread;
    mdn_heap *heap;
    shadow_obj **objs; /* by id; NULL once unreachable and swept */
    size_t objs_capacity;
    uint64_t next_id;  /* ids of this world: (world tag << 40) | counter */
    uint64_t tag;
    size_t nstack;     /* roots on the shadow stack at stack_base.. */
    size_t stack_base;
    mdn_objref *registered; /* a registered root range */
    size_t nregistered;
    mdn_objref *globals;    /* toyvm global root slots */
    size_t nglobals;
    mdn_objref **ranges;    /* dynamic registered ranges; NULL while not registered */
    size_t nranges;
    size_t range_slots;     /* slots per dynamic range */
    size_t fixed_roots;     /* roots before the dynamic ranges */
    unsigned range_every;   /* on average one range toggle per that many operations (0 = never) */
    unsigned native_every;  /* on average one trip to native state per that many operations (0 = never) */
    uint64_t range_toggles; /* ranges added or removed */
    uint64_t native_trips;
    unsigned weak_every;    /* on average one weak operation per that many operations (0 = never) */
    bool strict;            /* the last operation was an explicit collection (.shadow.weak) */
    uint64_t weak_made, ephemerons_made, finalizers_made, weak_cleared, finalizers_ran;
    struct shadow_final **finals; /* this world's finalizers not yet seen to run */
    size_t nfinals, finals_capacity;
    uint64_t *root_ids;     /* model: id held by each root, 0 = null */
    size_t nroots;
    uint64_t rng;
    uint64_t ops;
    uint64_t checks;
    size_t live_objects;    /* after the last verify */
    char failure[512];      /* first difference found, empty if none */
} shadow_world;

/* A world on thread `t` with the given numbers of root slots of each kind.
 * `tag` distinguishes worlds of different threads (1..255). */
void shadow_world_init(shadow_world *w, toyvm_thread *t, uint64_t seed, unsigned tag, size_t nstack,
                       size_t nregistered, size_t nglobals);
void shadow_world_destroy(shadow_world *w);

/* Add `nranges` registered root ranges of `slots` slots each that the run
 * registers and unregisters at random (one toggle per `every` operations
 * on average). Call right after shadow_world_init; half start registered. */
void shadow_world_enable_ranges(shadow_world *w, size_t nranges, size_t slots, unsigned every);

/* Make weak boxes, ephemerons and finalizable objects, one such operation
 * per `every` operations on average (.shadow.weak). */
void shadow_world_enable_weak(shadow_world *w, unsigned every);

/* The heap slot of root i; NULL for a slot of an unregistered range. */
mdn_objref *shadow_root_slot(shadow_world *w, size_t i);

/* Allocate an object and its model record; its reference fields start null.
 * The result is not rooted: store it in a root or a field before the next
 * allocation. Null when the heap is out of memory (TOYVM_OOM_RETURN). */
mdn_objref shadow_alloc(shadow_world *w, unsigned nrefs, size_t payload, mdn_alloc_kind kind);

/* One random operation (allocate, link, unlink, move a root, drop a root,
 * pin, collect). `collect_every`: on average one explicit collection per
 * that many operations (0 = never). Returns false on out of memory. */
bool shadow_step(shadow_world *w, unsigned collect_every);

/* Compare the heap graph reachable from the roots with the model; sweep the
 * model's unreachable records. Returns false and fills w->failure at the
 * first difference. */
bool shadow_verify(shadow_world *w);

/* Store `value` (a model id and its heap object) in field `field` of the
 * object held by root `root`. */
void shadow_set_field(shadow_world *w, size_t root, unsigned field, size_t from_root);

#endif
