/*
 * tinyvm.c: threads, the shadow stack, allocation and the symbol table.
 */
#include "tinyvm.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

tv_value tv_globals[TV_GLOBALS];

/* [snippet:attach] */
tv_thread *tv_thread_attach(mdn_heap *heap) {
    tv_thread *t = calloc(1, sizeof *t);
    if (!t) {
        fprintf(stderr, "tinyvm: out of memory attaching a thread\n");
        exit(1);
    }
    t->heap = heap;
    /* The thread is RUNNING from here on: it must reach a safepoint (or an
     * allocation, or enter native code) regularly, or every other thread
     * that wants a collection waits for it. */
    t->mutator = mdn_mutator_bind(heap, t);
    return t;
}

void tv_thread_detach(tv_thread *t) {
    mdn_mutator_unbind(t->mutator);
    free(t);
}
/* [/snippet] */

tv_value *tv_local(tv_thread *t, tv_value initial) {
    if (t->sp == TV_STACK_SLOTS) {
        fprintf(stderr, "tinyvm: shadow stack overflow\n");
        exit(1);
    }
    /* Store before publishing the slot: a collection may scan it at the
     * next GC point. */
    t->stack[t->sp] = initial;
    return &t->stack[t->sp++];
}

/* [snippet:alloc] */
static tv_value tv_alloc(tv_thread *t, enum tv_type type, size_t length) {
    size_t bytes = tv_object_bytes(type, length);
    void *p = mdn_alloc(t->mutator, bytes, MDN_MIN_ALIGN, MDN_ALLOC_DEFAULT);
    if (p == NULL) { /* mdn_vm_out_of_memory() returned */
        t->out_of_memory = true;
        return TV_NIL;
    }
    /* The memory is zeroed: every field is already nil. Write the header
     * before the next call that may collect, so the object can be sized
     * and scanned (and moved). */
    *(uintptr_t *)p = tv_make_header(type, length);
    return (tv_value)p;
}

tv_value tv_cons(tv_thread *t, tv_value car, tv_value cdr) {
    /* The allocation may collect and a moving plan may move car and cdr:
     * keep them in shadow-stack slots across it and read them back after. */
    size_t frame = tv_frame_enter(t);
    tv_value *a = tv_local(t, car), *d = tv_local(t, cdr);
    tv_value pair = tv_alloc(t, TV_PAIR, 2);
    if (pair != TV_NIL) {
        tv_fields(pair)[0] = *a;
        tv_fields(pair)[1] = *d;
    }
    tv_frame_leave(t, frame);
    return pair;
}
/* [/snippet] */

tv_value tv_vector(tv_thread *t, size_t length) { return tv_alloc(t, TV_VECTOR, length); }

tv_value tv_string(tv_thread *t, const char *text) {
    size_t n = strlen(text);
    tv_value s = tv_alloc(t, TV_STRING, n);
    if (s != TV_NIL)
        memcpy(tv_chars(s), text, n + 1);
    return s;
}

/* [snippet:registered-roots] */
/* The symbol table: references or nil only, so Midden can scan it as a
 * registered root range (and update it when a plan moves a symbol). */
static mdn_objref symbols[TV_SYMBOLS];
static size_t nsymbols;
static pthread_mutex_t symbols_lock = PTHREAD_MUTEX_INITIALIZER;

void tv_symbols_register(mdn_heap *heap) { mdn_add_roots(heap, symbols, TV_SYMBOLS); }
void tv_symbols_unregister(mdn_heap *heap) { mdn_remove_roots(heap, symbols); }

tv_value tv_intern(tv_thread *t, const char *text) {
    /* Allocate before taking the lock: a thread that holds a lock at a GC
     * point can deadlock with a thread that waits for the lock while the
     * collector waits for it. Nothing below the lock can collect. */
    tv_value fresh = tv_string(t, text);
    if (fresh == TV_NIL)
        return TV_NIL;
    pthread_mutex_lock(&symbols_lock);
    tv_value found = TV_NIL;
    for (size_t i = 0; i < nsymbols && found == TV_NIL; i++) {
        if (strcmp(tv_chars((tv_value)symbols[i].value), text) == 0)
            found = (tv_value)symbols[i].value;
    }
    if (found == TV_NIL && nsymbols < TV_SYMBOLS) {
        symbols[nsymbols++] = mdn_objref_from_ptr((void *)fresh);
        found = fresh;
    }
    pthread_mutex_unlock(&symbols_lock);
    return found; /* nil if the table is full */
}
/* [/snippet] */

size_t tv_symbol_count(void) {
    pthread_mutex_lock(&symbols_lock);
    size_t n = nsymbols;
    pthread_mutex_unlock(&symbols_lock);
    return n;
}
