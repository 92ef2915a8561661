/* Core value types: address arithmetic, object references, slots. */
#include "testutil.h"

#include "mdn_check.h"
#include <midden/types.h>
#include <stdlib.h>

START_TEST(address_arithmetic) {
    mdn_address a = mdn_address_from_word(0x1000);
    ck_assert_uint_eq(mdn_address_add(a, 24).value, 0x1018);
    ck_assert_uint_eq(mdn_address_sub(a, 16).value, 0xff0);
    ck_assert_uint_eq(mdn_address_diff(mdn_address_add(a, 100), a), 100);
    ck_assert(mdn_address_eq(a, mdn_address_from_word(0x1000)));
    ck_assert(mdn_address_lt(a, mdn_address_add(a, 1)));
    ck_assert(!mdn_address_lt(a, a));
    ck_assert(mdn_address_in(a, a, mdn_address_add(a, 1)));
    ck_assert(!mdn_address_in(mdn_address_add(a, 1), a, mdn_address_add(a, 1)));
    ck_assert(mdn_address_is_zero(mdn_address_zero()));
    ck_assert(!mdn_address_is_zero(a));
}
END_TEST

START_TEST(address_alignment) {
    mdn_address a = mdn_address_from_word(0x1001);
    ck_assert_uint_eq(mdn_address_align_up(a, 8).value, 0x1008);
    ck_assert_uint_eq(mdn_address_align_down(a, 8).value, 0x1000);
    ck_assert_uint_eq(mdn_address_align_up(mdn_address_from_word(0x1000), 4096).value, 0x1000);
    ck_assert_uint_eq(mdn_address_align_up(mdn_address_from_word(0x1001), 4096).value, 0x2000);
    ck_assert(mdn_address_is_aligned(mdn_address_from_word(0x2000), 4096));
    ck_assert(!mdn_address_is_aligned(a, 2));
}
END_TEST

START_TEST(address_load_store) {
    uintptr_t cell[2] = {0, 0};
    mdn_address a = mdn_address_from_ptr(&cell[1]);
    mdn_address_store_word(a, 0xdeadbeef);
    ck_assert_uint_eq(cell[1], 0xdeadbeef);
    ck_assert_uint_eq(mdn_address_load_word(a), 0xdeadbeef);
    ck_assert_ptr_eq(mdn_address_to_ptr(a), &cell[1]);
}
END_TEST

START_TEST(objref_null_and_conversions) {
    mdn_objref n = mdn_objref_null();
    ck_assert(mdn_objref_is_null(n));
    ck_assert(mdn_objref_is_null(mdn_objref_from_ptr(NULL)));
    int x;
    mdn_objref r = mdn_objref_from_ptr(&x);
    ck_assert(!mdn_objref_is_null(r));
    ck_assert_ptr_eq(mdn_objref_to_ptr(r), &x);
    ck_assert(mdn_objref_eq(r, mdn_objref_from_address(mdn_objref_to_address(r))));
    ck_assert(!mdn_objref_eq(r, n));
}
END_TEST

START_TEST(slots_load_and_store) {
    int target;
    mdn_objref field = mdn_objref_null();
    mdn_slot s = mdn_slot_from_ptr(&field);
    ck_assert(mdn_objref_is_null(mdn_slot_load(s)));
    mdn_slot_store(s, mdn_objref_from_ptr(&target));
    ck_assert_ptr_eq(mdn_objref_to_ptr(field), &target);
    ck_assert(mdn_address_eq(mdn_slot_address(s), mdn_address_from_ptr(&field)));
    ck_assert(mdn_objref_eq(mdn_slot_load(mdn_slot_from_address(mdn_address_from_ptr(&field))), field));
}
END_TEST

START_TEST(types_are_one_word) {
    ck_assert_uint_eq(sizeof(mdn_address), sizeof(uintptr_t));
    ck_assert_uint_eq(sizeof(mdn_objref), sizeof(uintptr_t));
    ck_assert_uint_eq(sizeof(mdn_slot), sizeof(uintptr_t));
}
END_TEST

int main(void) {
    Suite *s = suite_create("types");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, address_arithmetic);
    tcase_add_test(tc, address_alignment);
    tcase_add_test(tc, address_load_store);
    tcase_add_test(tc, objref_null_and_conversions);
    tcase_add_test(tc, slots_load_and_store);
    tcase_add_test(tc, types_are_one_word);
    suite_add_tcase(s, tc);
    return mdn_run_suite(s);
}
