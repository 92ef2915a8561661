/*
 * tinyvm.h: a tiny runtime with pairs, vectors and strings, bound to Midden.
 *
 * It is the worked example of docs/porting.md: everything a language
 * runtime has to provide to use Midden is here or in binding.c, built
 * against an installed Midden only (find_package or pkg-config).
 *
 * Values are words: a fixnum has its low bit set (value << 1 | 1); any
 * other nonzero word is a reference to a heap object; TV_NIL is 0, which is
 * also Midden's null reference.
 */
#ifndef TINYVM_H
#define TINYVM_H

#include <midden/midden.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* [snippet:value] */
typedef uintptr_t tv_value;

#define TV_NIL ((tv_value)0)

static inline tv_value tv_fixnum(intptr_t n) { return ((uintptr_t)n << 1) | 1u; }
static inline intptr_t tv_fixnum_value(tv_value v) { return (intptr_t)v >> 1; }
static inline bool tv_is_fixnum(tv_value v) { return (v & 1u) != 0; }
/* A slot holding this value must be reported to the collector. */
static inline bool tv_is_ref(tv_value v) { return v != TV_NIL && !tv_is_fixnum(v); }
/* [/snippet] */

/* [snippet:header] */
/* Every object starts with one header word: the type in the low 8 bits and
 * a length above them (fields for pairs and vectors, bytes for strings).
 * The size of an object follows from its header alone. */
enum tv_type { TV_PAIR = 1, TV_VECTOR = 2, TV_STRING = 3 };

static inline uintptr_t tv_make_header(enum tv_type type, size_t length) {
    return (uintptr_t)type | ((uintptr_t)length << 8);
}
static inline enum tv_type tv_type_of(tv_value obj) { return (enum tv_type)(*(uintptr_t *)obj & 0xffu); }
static inline size_t tv_length(tv_value obj) { return (size_t)(*(uintptr_t *)obj >> 8); }
/* The reference fields of a pair or vector; a string has none. */
static inline tv_value *tv_fields(tv_value obj) { return (tv_value *)obj + 1; }
static inline char *tv_chars(tv_value obj) { return (char *)((uintptr_t *)obj + 1); }

static inline size_t tv_object_bytes(enum tv_type type, size_t length) {
    if (type == TV_STRING)
        return sizeof(uintptr_t) + ((length + 1 + 7) & ~(size_t)7); /* NUL-terminated */
    return sizeof(uintptr_t) + length * sizeof(tv_value);
}
/* [/snippet] */

/* [snippet:thread] */
/* A VM thread: its mutator and its shadow stack. Every reference a C
 * function holds across a call that may collect lives in a shadow-stack
 * slot, where the collector finds it (and a moving plan updates it). */
#define TV_STACK_SLOTS 4096

typedef struct tv_thread {
    mdn_mutator *mutator;
    mdn_heap *heap;
    size_t sp;                      /* slots in use */
    tv_value stack[TV_STACK_SLOTS]; /* the shadow stack */
    bool out_of_memory;             /* set by the OOM hook, see binding.c */
} tv_thread;
/* [/snippet] */

tv_thread *tv_thread_attach(mdn_heap *heap);
void tv_thread_detach(tv_thread *t);

/* Store v into field i of an existing pair or vector, through the write
 * barrier (docs/porting.md, "The write barrier"): a plain store on plans
 * without generations. Filling an object just allocated needs none. */
static inline void tv_set_field(tv_thread *t, tv_value obj, size_t i, tv_value v) {
    mdn_write_barrier(t->mutator, mdn_objref_from_ptr((void *)obj), mdn_slot_from_ptr(&tv_fields(obj)[i]),
                      (mdn_objref){v});
}

/* [snippet:frames] */
/* A frame is the stack depth to return to; a local is a slot in it. */
static inline size_t tv_frame_enter(const tv_thread *t) { return t->sp; }
static inline void tv_frame_leave(tv_thread *t, size_t frame) { t->sp = frame; }
tv_value *tv_local(tv_thread *t, tv_value initial);
/* [/snippet] */

/* Allocation: each returns TV_NIL when the heap is exhausted (the OOM hook
 * sets t->out_of_memory). Arguments are rooted across the allocation. */
tv_value tv_cons(tv_thread *t, tv_value car, tv_value cdr);
tv_value tv_vector(tv_thread *t, size_t length);
tv_value tv_string(tv_thread *t, const char *text);

static inline tv_value tv_car(tv_value pair) { return tv_fields(pair)[0]; }
static inline tv_value tv_cdr(tv_value pair) { return tv_fields(pair)[1]; }

/* The VM's global variables (scanned by mdn_vm_scan_roots) and its symbol
 * table (registered with mdn_add_roots). */
#define TV_GLOBALS 8
#define TV_SYMBOLS 64
extern tv_value tv_globals[TV_GLOBALS];
void tv_symbols_register(mdn_heap *heap);
void tv_symbols_unregister(mdn_heap *heap);
tv_value tv_intern(tv_thread *t, const char *text);
size_t tv_symbol_count(void);

/* Times the out-of-memory hook ran (binding.c). */
unsigned tv_oom_reports(void);

#endif
