/*
 * SemiSpace with a binding that does not define the optional move hook
 * (toyvm does not): collections move objects without calling it.
 * MDN_TEST_LABELS: threads
 */
#include "testutil.h"
#include "toyvm.h"

#include "mdn_check.h"
#include <stdlib.h>

START_TEST(moves_without_the_hook) {
    ck_assert(mdn_vm_object_moved == NULL);
    mdn_options o;
    mdn_options_init(&o);
    o.heap_size = (size_t)16 << 20;
    o.gc_threads = _i == 0 ? 1 : 2;
    mdn_heap *h = mdn_heap_create(&o, NULL);
    ck_assert_ptr_nonnull(h);
    toyvm_thread *t = toyvm_thread_attach(h);
    enum { N = 20000, HUBS = 8 };
    /* A list of N nodes, each also pointing at one of a few hubs; the last
     * node closes the cycle. */
    size_t hubs = t->root_count;
    for (int i = 0; i < HUBS; i++) {
        mdn_objref hub = toyvm_alloc(t, 40, 1, 8, MDN_ALLOC_DEFAULT);
        ((uint64_t *)toyvm_payload(hub))[0] = 1000000u + (uint64_t)i;
        toyvm_set_ref(t, hub, 0, hub);
        toyvm_push_root(t, hub);
    }
    size_t head = toyvm_push_root(t, mdn_objref_null());
    for (int i = 0; i < N; i++) {
        mdn_objref n = toyvm_alloc(t, 41, 2, 8, MDN_ALLOC_DEFAULT);
        ((uint64_t *)toyvm_payload(n))[0] = (uint64_t)i;
        toyvm_set_ref(t, n, 0, toyvm_root(t, head));
        toyvm_set_ref(t, n, 1, toyvm_root(t, hubs + (size_t)(i % HUBS)));
        toyvm_set_root(t, head, n);
    }
    for (int round = 0; round < 4; round++) {
        uintptr_t before = toyvm_root(t, head).value;
        mdn_collect(t->mutator, round % 2 ? MDN_GC_FULL : MDN_GC_DEFAULT);
        ck_assert_uint_ne(toyvm_root(t, head).value, before);
        mdn_objref n = toyvm_root(t, head);
        /* (Plain tests in the loop: a passing ck_assert costs a system call.) */
        for (int i = N - 1; i >= 0; i--) {
            mdn_objref hub = toyvm_get_ref(n, 1);
            if (toyvm_type(n) != 41 || ((uint64_t *)toyvm_payload(n))[0] != (uint64_t)i ||
                hub.value != toyvm_root(t, hubs + (size_t)(i % HUBS)).value || toyvm_get_ref(hub, 0).value != hub.value)
                ck_abort_msg("node %d is wrong after collection %d", i, round);
            n = toyvm_get_ref(n, 0);
        }
        ck_assert(mdn_objref_is_null(n));
    }
    toyvm_pop_roots(t, HUBS + 1);
    toyvm_thread_detach(t);
    mdn_heap_destroy(h);
}
END_TEST

int main(void) {
    Suite *s = suite_create("semispace-nohook");
    TCase *tc = tcase_create("semispace");
    tcase_add_loop_test(tc, moves_without_the_hook, 0, 2);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
