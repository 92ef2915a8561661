/* .poison.los on every collecting plan: with poison=1, a stale reference to
 * a freed large object reads the poison pattern (an object of a few pages,
 * whose pages stay committed) or faults (a huge object, whose chunks go
 * back to the vmspace), never its old header and payload. */
#include "testutil.h"
#include "toyvm.h"

#include "core/poison.h"

#include "mdn_check.h"
#include <signal.h>
#include <stdlib.h>
#include <string.h>

typedef struct stale {
    const unsigned char *p;
    size_t bytes;
} stale;

/* Child: exit 0 if every byte reads poison, 1 otherwise (or fault). */
static void read_stale(void *arg) {
    const stale *s = arg;
    for (size_t i = 0; i < s->bytes; i++)
        if (((volatile const unsigned char *)s->p)[i] != MDN_POISON_BYTE)
            exit(1);
    exit(0);
}

static mdn_heap *poison_heap(void) {
    mdn_options o;
    mdn_options_init(&o);
    o.heap_size = (size_t)32 << 20;
    o.gc_threads = 1;
    o.poison = true;
    mdn_error err;
    mdn_heap *h = mdn_heap_create(&o, &err);
    ck_assert_msg(h != NULL, "%s", err.message);
    return h;
}

/* Allocate an unrooted large object of `payload` bytes filled with 0x5a,
 * collect fully, and read it through the stale address in a child. */
static void free_and_read(size_t payload, mdn_child_result *r) {
    mdn_heap *h = poison_heap();
    toyvm_thread *t = toyvm_thread_attach(h);
    mdn_objref keep = toyvm_alloc(t, 3, 0, 64, MDN_ALLOC_LARGE); /* keeps its chunk in use */
    toyvm_push_root(t, keep);
    mdn_objref o = toyvm_alloc(t, 3, 0, payload, MDN_ALLOC_LARGE);
    ck_assert(!mdn_objref_is_null(o));
    memset(toyvm_payload(o), 0x5a, payload);
    stale s = {(const unsigned char *)o.value, toyvm_size(o)};
    o = mdn_objref_null();
    mdn_collect(t->mutator, MDN_GC_FULL);
    mdn_run_in_child(read_stale, &s, r);
    ck_assert_uint_eq(toyvm_size(toyvm_root(t, 0)), toyvm_object_bytes(0, 64));
    toyvm_pop_roots(t, 1);
    toyvm_thread_detach(t);
    mdn_heap_destroy(h);
}

START_TEST(freed_large_object_reads_poison) {
    mdn_child_result r;
    free_and_read(100000, &r);
    ck_assert_msg(r.exited && r.exit_status == 0, "a freed 100000-byte object does not read poison (%s %d)",
                  r.exited ? "exit status" : "signal", r.exited ? r.exit_status : r.signal);
}
END_TEST

START_TEST(freed_huge_object_faults) {
    mdn_child_result r;
    free_and_read((size_t)5 << 20, &r);
    ck_assert_msg(r.signaled && (r.signal == SIGSEGV || r.signal == SIGBUS),
                  "reading a freed 5 MiB object did not fault (%s %d)", r.exited ? "exit status" : "signal",
                  r.exited ? r.exit_status : r.signal);
}
END_TEST

int main(void) {
    Suite *s = suite_create("los_poison");
    TCase *tc = tcase_create(MDN_TEST_PLAN);
    tcase_add_test(tc, freed_large_object_reads_poison);
    tcase_add_test(tc, freed_huge_object_faults);
    suite_add_tcase(s, tc);
    return mdn_run_suite(s);
}
