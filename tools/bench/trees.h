/**
 * @file trees.h
 * @brief Binary-tree building blocks shared by gcbench, mt-gcbench and
 * binary-trees, written once against bench.h.
 *
 * Every function keeps the references it needs across an allocation in a
 * root frame, so the same code is correct under moving plans and compiles
 * to plain recursion for the baselines.
 */
#ifndef MIDDEN_BENCH_TREES_H
#define MIDDEN_BENCH_TREES_H

#include "bench.h"

/** @brief Nodes in a complete tree of @p depth levels below the root. @param depth depth @return the count */
static inline long tree_size(int depth) { return (1L << (depth + 1)) - 1; }

/** @brief A leaf node. @param t the thread @return the node */
static inline bench_ref tree_leaf(bench_thread *t) { return bench_new_node(t, bench_null(), bench_null()); }

/**
 * @brief Build a complete tree bottom-up: children first, then their parent.
 * @param t     the thread
 * @param depth levels below the root
 * @return the root
 */
static inline bench_ref tree_bottom_up(bench_thread *t, int depth) {
    if (depth <= 0)
        return tree_leaf(t);
    BENCH_ROOTS(t, f, 1);
    bench_root_set(t, f, 0, tree_bottom_up(t, depth - 1));
    bench_ref right = tree_bottom_up(t, depth - 1);
    bench_ref node = bench_new_node(t, bench_root(t, f, 0), right);
    BENCH_ROOTS_POP(t, f, 1);
    return node;
}

/**
 * @brief Grow a complete tree top-down under an existing node: allocate the
 * children, store them into the (older) parent, then recurse.
 * @param t     the thread
 * @param depth levels to add below @p node
 * @param node  the parent
 */
static inline void tree_populate(bench_thread *t, int depth, bench_ref node) {
    if (depth <= 0)
        return;
    depth--;
    BENCH_ROOTS(t, f, 1);
    bench_root_set(t, f, 0, node);
    bench_ref left = tree_leaf(t);
    bench_node_set_left(t, bench_root(t, f, 0), left);
    bench_ref right = tree_leaf(t);
    bench_node_set_right(t, bench_root(t, f, 0), right);
    tree_populate(t, depth, bench_node_left(bench_root(t, f, 0)));
    tree_populate(t, depth, bench_node_right(bench_root(t, f, 0)));
    BENCH_ROOTS_POP(t, f, 1);
}

/** @brief Count the nodes of a tree (allocates nothing). @param node the root or null @return the count */
static inline long tree_count(bench_ref node) {
    long n = 0;
    while (!bench_is_null(node)) {
        n += 1 + tree_count(bench_node_left(node));
        node = bench_node_right(node);
    }
    return n;
}

/** @brief Free a whole tree when the program frees explicitly. @param t the thread @param node the root or null */
static inline void tree_free(bench_thread *t, bench_ref node) {
#if BENCH_EXPLICIT_FREE
    while (!bench_is_null(node)) {
        bench_ref right = bench_node_right(node);
        tree_free(t, bench_node_left(node));
        bench_free(t, node);
        node = right;
    }
#else
    (void)t;
    (void)node;
#endif
}

#endif /* MIDDEN_BENCH_TREES_H */
