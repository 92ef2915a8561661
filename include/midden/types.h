/**
 * @file types.h
 * @brief Midden's core value types: addresses, object references and slots.
 *
 * Three distinct single-word types keep raw memory, references to objects and
 * the fields holding references from being mixed up (docs/design/overview.md .overview.types). Every
 * operation is `static inline` and compiles to plain word arithmetic.
 */
#ifndef MIDDEN_TYPES_H
#define MIDDEN_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** @brief Size of a machine word in bytes. */
#define MDN_WORD_SIZE ((size_t)sizeof(uintptr_t))

/**
 * @brief A raw address. Not an integer: build one with mdn_address_zero(),
 * mdn_address_from_ptr() or, in OS-level code, mdn_address_from_word().
 */
typedef struct mdn_address {
    uintptr_t value; /**< The address as a word; read it, do not forge it. */
} mdn_address;

/**
 * @brief A reference to an object. A live reference is never zero; the absence
 * of a reference is mdn_objref_null(), tested with mdn_objref_is_null().
 * The reference may point into the object: the binding's object model
 * converts it to and from the object's start address.
 */
typedef struct mdn_objref {
    uintptr_t value; /**< The reference as a word. */
} mdn_objref;

/**
 * @brief The address of a field (or root) that holds an object reference.
 * Tracing works on slots so that moving plans can update them.
 */
typedef struct mdn_slot {
    uintptr_t value; /**< Address of the field. */
} mdn_slot;

/**
 * @brief The zero address.
 * @return an address of value 0
 */
static inline mdn_address mdn_address_zero(void) { mdn_address a = {0}; return a; }

/**
 * @brief Make an address from a word; for OS and layout code only (greppable).
 * @param word the word
 * @return the result
 */
static inline mdn_address mdn_address_from_word(uintptr_t word) { mdn_address a = {word}; return a; }

/**
 * @brief Make an address from a C pointer.
 * @param p a C pointer
 * @return the result
 */
static inline mdn_address mdn_address_from_ptr(const void *p) { mdn_address a = {(uintptr_t)p}; return a; }

/**
 * @brief The address as a C pointer.
 * @param a an address
 * @return the result
 */
static inline void *mdn_address_to_ptr(mdn_address a) { return (void *)a.value; }

/**
 * @brief True when @p a is the zero address.
 * @param a an address
 * @return the result
 */
static inline bool mdn_address_is_zero(mdn_address a) { return a.value == 0; }

/**
 * @brief @p a plus @p bytes.
 * @param a an address
 * @param bytes a byte count
 * @return the result
 */
static inline mdn_address mdn_address_add(mdn_address a, size_t bytes) { a.value += bytes; return a; }

/**
 * @brief @p a minus @p bytes.
 * @param a an address
 * @param bytes a byte count
 * @return the result
 */
static inline mdn_address mdn_address_sub(mdn_address a, size_t bytes) { a.value -= bytes; return a; }

/**
 * @brief Bytes from @p lo up to @p hi; requires lo <= hi.
 * @param hi the upper bound (exclusive for ranges)
 * @param lo the lower bound
 * @return the result
 */
static inline size_t mdn_address_diff(mdn_address hi, mdn_address lo) { return (size_t)(hi.value - lo.value); }

/**
 * @brief True when both addresses are equal.
 * @param a an address
 * @param b another address
 * @return the result
 */
static inline bool mdn_address_eq(mdn_address a, mdn_address b) { return a.value == b.value; }

/**
 * @brief True when @p a is below @p b.
 * @param a an address
 * @param b another address
 * @return the result
 */
static inline bool mdn_address_lt(mdn_address a, mdn_address b) { return a.value < b.value; }

/**
 * @brief True when @p a lies in [lo, hi).
 * @param a an address
 * @param lo the lower bound
 * @param hi the upper bound (exclusive for ranges)
 * @return the result
 */
static inline bool mdn_address_in(mdn_address a, mdn_address lo, mdn_address hi) {
    return a.value >= lo.value && a.value < hi.value;
}

/**
 * @brief Round @p a up to a multiple of @p align (a power of two).
 * @param a an address
 * @param align the alignment, a power of two
 * @return the result
 */
static inline mdn_address mdn_address_align_up(mdn_address a, size_t align) {
    a.value = (a.value + (align - 1)) & ~(uintptr_t)(align - 1);
    return a;
}

/**
 * @brief Round @p a down to a multiple of @p align (a power of two).
 * @param a an address
 * @param align the alignment, a power of two
 * @return the result
 */
static inline mdn_address mdn_address_align_down(mdn_address a, size_t align) {
    a.value &= ~(uintptr_t)(align - 1);
    return a;
}

/**
 * @brief True when @p a is a multiple of @p align (a power of two).
 * @param a an address
 * @param align the alignment, a power of two
 * @return the result
 */
static inline bool mdn_address_is_aligned(mdn_address a, size_t align) {
    return (a.value & (uintptr_t)(align - 1)) == 0;
}

/**
 * @brief Load the word stored at @p a.
 * @param a an address
 * @return the result
 */
static inline uintptr_t mdn_address_load_word(mdn_address a) { return *(const uintptr_t *)a.value; }

/**
 * @brief Store @p word at @p a.
 * @param a an address
 * @param word the word
 */
static inline void mdn_address_store_word(mdn_address a, uintptr_t word) { *(uintptr_t *)a.value = word; }

/**
 * @brief The null reference: "no object".
 * @return the null reference
 */
static inline mdn_objref mdn_objref_null(void) { mdn_objref r = {0}; return r; }

/**
 * @brief True when @p r is the null reference.
 * @param r a reference
 * @return the result
 */
static inline bool mdn_objref_is_null(mdn_objref r) { return r.value == 0; }

/**
 * @brief True when two references name the same object address.
 * @param a an address
 * @param b another address
 * @return the result
 */
static inline bool mdn_objref_eq(mdn_objref a, mdn_objref b) { return a.value == b.value; }

/**
 * @brief Make a reference from a C pointer (NULL gives the null reference).
 * @param p a C pointer
 * @return the result
 */
static inline mdn_objref mdn_objref_from_ptr(const void *p) { mdn_objref r = {(uintptr_t)p}; return r; }

/**
 * @brief The reference as a C pointer (the null reference gives NULL).
 * @param r a reference
 * @return the result
 */
static inline void *mdn_objref_to_ptr(mdn_objref r) { return (void *)r.value; }

/**
 * @brief The address a reference holds, without the object model's
 * adjustment. Use mdn_vm_object_start() to get the object's start.
 * @param r a reference
 * @return the address it holds
 */
static inline mdn_address mdn_objref_to_address(mdn_objref r) { mdn_address a = {r.value}; return a; }

/**
 * @brief A reference holding address @p a, without the object model's
 * adjustment. Use mdn_vm_objref_from_start() to go from a start address.
 * @param a an address
 * @return a reference holding it
 */
static inline mdn_objref mdn_objref_from_address(mdn_address a) { mdn_objref r = {a.value}; return r; }

/**
 * @brief The slot at address @p a.
 * @param a an address
 * @return the result
 */
static inline mdn_slot mdn_slot_from_address(mdn_address a) { mdn_slot s = {a.value}; return s; }

/**
 * @brief The slot that is the C variable or field @p field.
 * @param field the field or variable holding a reference
 * @return the result
 */
static inline mdn_slot mdn_slot_from_ptr(void *field) { mdn_slot s = {(uintptr_t)field}; return s; }

/**
 * @brief The address of the slot.
 * @param s a slot
 * @return the result
 */
static inline mdn_address mdn_slot_address(mdn_slot s) { mdn_address a = {s.value}; return a; }

/**
 * @brief Read the reference stored in @p s.
 * @param s a slot
 * @return the result
 */
static inline mdn_objref mdn_slot_load(mdn_slot s) { mdn_objref r = {*(const uintptr_t *)s.value}; return r; }

/**
 * @brief Write @p r into @p s.
 * @param s a slot
 * @param r a reference
 */
static inline void mdn_slot_store(mdn_slot s, mdn_objref r) { *(uintptr_t *)s.value = r.value; }

#ifdef __cplusplus
}
#endif

#endif /* MIDDEN_TYPES_H */
