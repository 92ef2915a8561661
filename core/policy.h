/*
 * policy.h: the verbs every policy (space) defines, and the table through
 * which the common plan layer calls the cold ones (docs/design/policies.md
 * .policy.verbs).
 *
 * A policy `p` with space type `T` defines, with exactly these signatures:
 *   bool        mdn_p_init(T *s, mdn_heap *heap, unsigned id);
 *   void        mdn_p_destroy(T *s);          after any init, failed or not
 *   void        mdn_p_prepare(T *s, mdn_heap *heap, bool full);
 *   size_t      mdn_p_release(T *s, mdn_heap *heap);   returns live bytes
 *   bool        mdn_p_is_live(const T *s, mdn_objref obj);
 *   bool        mdn_p_is_reached(const T *s, mdn_objref obj);   only with
 *               MDN_POLICY_DEFINE_REACHED, else is_live answers it
 *   mdn_objref  mdn_p_forwarded(const T *s, mdn_objref obj);
 *   void        mdn_p_verify(T *s);           heap verifier (.verify.metadata)
 *   void        mdn_p_check(const T *s);      structure check (.policy.check)
 * and optionally, with MDN_POLICY_DEFINE_MARKED(p, T) instead:
 *   const mdn_side_metadata *mdn_p_marks(const T *s);  a granule bitmap
 *       whose bit at an object start is set exactly when is_live holds,
 *       from the closure to the next prepare (.policy.marks)
 * and, with signatures of its own because they are on the hot paths and
 * take thread-local allocators, mdn_p_alloc and mdn_p_trace_object (inline
 * in the policy's header). MDN_POLICY_DEFINE(p, T) at the end of the
 * policy's .c file makes `const mdn_policy mdn_p_policy`; a policy whose
 * objects can be live without being reached by the collection in progress
 * (the immortal space) uses MDN_POLICY_DEFINE_REACHED(p, T) and defines
 * mdn_p_is_reached (docs/design/policies.md .policy.reached).
 */
#ifndef MDN_CORE_POLICY_H
#define MDN_CORE_POLICY_H

#include "core/heap.h"

#include <midden/vm.h>

typedef struct mdn_policy {
    const char *name;
    bool (*init)(void *space, mdn_heap *heap, unsigned id);
    void (*destroy)(void *space);
    void (*prepare)(void *space, mdn_heap *heap, bool full);
    size_t (*release)(void *space, mdn_heap *heap);
    bool (*is_live)(const void *space, mdn_objref obj);
    bool (*is_reached)(const void *space, mdn_objref obj); /* .policy.reached */
    mdn_objref (*forwarded)(const void *space, mdn_objref obj);
    void (*verify)(void *space);
    void (*check)(const void *space);
    const struct mdn_side_metadata *(*marks)(const void *space); /* NULL: no such bitmap */
} mdn_policy;

#define MDN_POLICY_DEFINE_(p, T, reached, marks_fn)                                                                    \
    static bool p##_policy_init(void *s, mdn_heap *h, unsigned id) { return mdn_##p##_init((T *)s, h, id); }           \
    static void p##_policy_destroy(void *s) { mdn_##p##_destroy((T *)s); }                                             \
    static void p##_policy_prepare(void *s, mdn_heap *h, bool full) { mdn_##p##_prepare((T *)s, h, full); }            \
    static size_t p##_policy_release(void *s, mdn_heap *h) { return mdn_##p##_release((T *)s, h); }                    \
    static bool p##_policy_is_live(const void *s, mdn_objref o) { return mdn_##p##_is_live((const T *)s, o); }         \
    static mdn_objref p##_policy_forwarded(const void *s, mdn_objref o) { return mdn_##p##_forwarded((const T *)s, o); } \
    static void p##_policy_verify(void *s) { mdn_##p##_verify((T *)s); }                                               \
    static void p##_policy_check(const void *s) { mdn_##p##_check((const T *)s); }                                     \
    const mdn_policy mdn_##p##_policy = {#p,                                                                           \
                                         p##_policy_init,                                                              \
                                         p##_policy_destroy,                                                           \
                                         p##_policy_prepare,                                                           \
                                         p##_policy_release,                                                           \
                                         p##_policy_is_live,                                                           \
                                         reached,                                                                      \
                                         p##_policy_forwarded,                                                         \
                                         p##_policy_verify,                                                            \
                                         p##_policy_check,                                                             \
                                         marks_fn}

/* Every object of the space that is live was reached (.policy.reached). */
#define MDN_POLICY_DEFINE(p, T) MDN_POLICY_DEFINE_(p, T, p##_policy_is_live, NULL)

/* Live and reached differ: the policy defines mdn_p_is_reached. */
#define MDN_POLICY_DEFINE_REACHED(p, T)                                                                                \
    static bool p##_policy_is_reached(const void *s, mdn_objref o) { return mdn_##p##_is_reached((const T *)s, o); }   \
    MDN_POLICY_DEFINE_(p, T, p##_policy_is_reached, NULL)

/* The policy keeps a granule mark bitmap and defines mdn_p_marks (.policy.marks). */
#define MDN_POLICY_DEFINE_MARKED(p, T)                                                                                 \
    static const struct mdn_side_metadata *p##_policy_marks(const void *s) { return mdn_##p##_marks((const T *)s); }   \
    MDN_POLICY_DEFINE_(p, T, p##_policy_is_live, p##_policy_marks)

#endif
