/* Out of memory, on every plan: a full heap ends in mdn_vm_out_of_memory;
 * toyvm's default hook prints the request, the heap size and the plan and
 * exits with TOYVM_OOM_EXIT_STATUS (checked in a child process); a hook
 * that returns makes mdn_alloc return NULL and the heap stays usable. */
#include "testutil.h"
#include "toyvm.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static mdn_heap *small_heap(size_t bytes) {
    mdn_options o;
    mdn_options_init(&o);
    o.heap_size = bytes;
    o.gc_threads = 1;
    mdn_error err;
    mdn_heap *h = mdn_heap_create(&o, &err);
    if (!h) {
        fprintf(stderr, "heap_create: %s\n", err.message);
        exit(2);
    }
    return h;
}

/* Keep everything reachable until the heap is full. */
static void fill_heap_small(void *arg) {
    (void)arg;
    mdn_heap *h = small_heap((size_t)4 << 20);
    toyvm_thread *t = toyvm_thread_attach(h);
    for (;;) {
        mdn_objref o = toyvm_alloc(t, 2, 0, 100, MDN_ALLOC_DEFAULT);
        toyvm_push_root(t, o);
    }
}

static void fill_heap_large(void *arg) {
    (void)arg;
    mdn_heap *h = small_heap((size_t)4 << 20);
    toyvm_thread *t = toyvm_thread_attach(h);
    for (;;) {
        mdn_objref o = toyvm_alloc(t, 2, 0, 100000, MDN_ALLOC_DEFAULT);
        toyvm_push_root(t, o);
    }
}

static void one_huge_request(void *arg) {
    (void)arg;
    mdn_heap *h = small_heap((size_t)4 << 20);
    toyvm_thread *t = toyvm_thread_attach(h);
    toyvm_alloc(t, 2, 0, (size_t)64 << 20, MDN_ALLOC_DEFAULT);
    fprintf(stderr, "allocation returned\n");
    exit(0);
}

static void expect_oom_exit(void (*fn)(void *), const char *size_text) {
    mdn_child_result r;
    mdn_run_in_child(fn, NULL, &r);
    ck_assert_msg(r.exited, "child did not exit normally (signal %d); output:\n%s", r.signal, r.output);
    ck_assert_int_eq(r.exit_status, TOYVM_OOM_EXIT_STATUS);
    ck_assert_msg(strstr(r.output, "out of memory") != NULL, "output: %s", r.output);
    ck_assert_msg(strstr(r.output, "heap of 4194304 bytes") != NULL, "output: %s", r.output);
    ck_assert_msg(strstr(r.output, "plan " MDN_TEST_PLAN) != NULL, "output: %s", r.output);
    if (size_text)
        ck_assert_msg(strstr(r.output, size_text) != NULL, "output: %s", r.output);
}

START_TEST(small_objects_exhaust_heap) { expect_oom_exit(fill_heap_small, "allocate 112 bytes"); }
END_TEST

START_TEST(large_objects_exhaust_heap) { expect_oom_exit(fill_heap_large, "allocate 100008 bytes"); }
END_TEST

START_TEST(request_larger_than_heap) { expect_oom_exit(one_huge_request, "allocate 67108872 bytes"); }
END_TEST

START_TEST(returning_hook_gives_null_and_heap_stays_usable) {
    toyvm_set_oom_mode(TOYVM_OOM_RETURN);
    mdn_heap *h = small_heap((size_t)8 << 20);
    toyvm_thread *t = toyvm_thread_attach(h);
    uint64_t ooms = toyvm_oom_count();
    size_t n = 0;
    for (;;) {
        mdn_objref o = toyvm_alloc(t, 2, 0, 200, MDN_ALLOC_DEFAULT);
        if (mdn_objref_is_null(o))
            break;
        toyvm_push_root(t, o);
        n++;
    }
    ck_assert_uint_eq(toyvm_oom_count(), ooms + 1);
    ck_assert_uint_gt(n, 1000);
    /* The objects allocated so far are intact. */
    for (size_t i = 0; i < n; i += 97)
        ck_assert_uint_eq(toyvm_size(toyvm_root(t, i)), toyvm_object_bytes(0, 200));
    /* A large request fails the same way. */
    ck_assert(mdn_objref_is_null(toyvm_alloc(t, 2, 0, (size_t)32 << 20, MDN_ALLOC_DEFAULT)));
    if (strcmp(MDN_TEST_PLAN, "nogc") != 0) {
        /* Drop the roots: a collecting plan serves allocations again. */
        toyvm_pop_roots(t, n);
        for (size_t i = 0; i < n; i++)
            ck_assert(!mdn_objref_is_null(toyvm_alloc(t, 2, 0, 200, MDN_ALLOC_DEFAULT)));
    }
    toyvm_thread_detach(t);
    mdn_heap_destroy(h);
    toyvm_set_oom_mode(TOYVM_OOM_EXIT);
}
END_TEST

int main(void) {
    Suite *s = suite_create("oom");
    TCase *tc = tcase_create(MDN_TEST_PLAN);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, small_objects_exhaust_heap);
    tcase_add_test(tc, large_objects_exhaust_heap);
    tcase_add_test(tc, request_larger_than_heap);
    tcase_add_test(tc, returning_hook_gives_null_and_heap_stays_usable);
    suite_add_tcase(s, tc);
    return mdn_run_suite(s);
}
