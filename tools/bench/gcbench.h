/**
 * @file gcbench.h
 * @brief The phases of GCBench (Ellis, Kovac, Boehm), shared by gcbench and
 * mt-gcbench: a long-lived tree and array, then for each depth many trees
 * built top-down (populate) and as many bottom-up.
 */
#ifndef MIDDEN_BENCH_GCBENCH_H
#define MIDDEN_BENCH_GCBENCH_H

#include "trees.h"

/** @brief Node size GCBench's live-storage estimate assumes: 16 bytes plus a header word. */
#define GCBENCH_NODE_BYTES 24u

/** @brief The benchmark's parameters. */
typedef struct gcbench_params {
    int stretch_depth;     /**< the stretch tree (standard: 18) */
    int long_lived_depth;  /**< the long-lived tree (standard: 16) */
    int min_depth;         /**< first short-lived depth (standard: 4) */
    int max_depth;         /**< last short-lived depth (standard: 16) */
    size_t array_size;     /**< doubles in the long-lived array (standard: 500000) */
} gcbench_params;

/**
 * @brief Parameters scaled to a long-lived depth: the standard ones for 16;
 * for another depth d the stretch tree is d+2, the trees go up to d and the
 * array shrinks (or grows) by 2^(d-16), keeping at least 2000 doubles.
 * @param depth long-lived depth
 * @return the parameters
 */
static inline gcbench_params gcbench_params_for(int depth) {
    gcbench_params p;
    p.stretch_depth = depth + 2;
    p.long_lived_depth = depth;
    p.min_depth = 4;
    p.max_depth = depth;
    p.array_size = depth >= 16 ? (size_t)500000 << (depth - 16) : (size_t)500000 >> (16 - depth);
    if (p.array_size < 2000)
        p.array_size = 2000;
    return p;
}

/** @brief The live-storage estimate GCBench prints. @param p parameters @return bytes */
static inline size_t gcbench_live_estimate(const gcbench_params *p) {
    return 2u * GCBENCH_NODE_BYTES * (size_t)tree_size(p->long_lived_depth) + sizeof(double) * p->array_size;
}

/** @brief Trees of @p depth built per phase. @param p parameters @param depth depth @return the count */
static inline long gcbench_iterations(const gcbench_params *p, int depth) {
    return 2 * tree_size(p->stretch_depth) / tree_size(depth);
}

/** @brief Check one tree (every eighth, to keep the check cheap). */
static inline bool gcbench_check_tree_(long i, bench_ref tree, int depth) {
    return (i & 7) != 0 || tree_count(tree) == tree_size(depth);
}

/**
 * @brief Build the trees of one depth top-down, then bottom-up.
 * @param t     the thread
 * @param p     parameters
 * @param depth depth of the trees
 * @param out   where to print progress and times, or NULL
 * @return false if a checked tree has the wrong number of nodes
 */
static inline bool gcbench_time_construction(bench_thread *t, const gcbench_params *p, int depth, FILE *out) {
    long iterations = gcbench_iterations(p, depth);
    bool ok = true;
    if (out)
        fprintf(out, "Creating %ld trees of depth %d\n", iterations, depth);

    double start = bench_now();
    for (long i = 0; i < iterations; i++) {
        BENCH_ROOTS(t, f, 1);
        bench_root_set(t, f, 0, tree_leaf(t));
        tree_populate(t, depth, bench_root(t, f, 0));
        ok = ok && gcbench_check_tree_(i, bench_root(t, f, 0), depth);
        tree_free(t, bench_root(t, f, 0));
        BENCH_ROOTS_POP(t, f, 1);
    }
    if (out)
        fprintf(out, "\tTop down construction took %.0f msec\n", (bench_now() - start) * 1e3);

    start = bench_now();
    for (long i = 0; i < iterations; i++) {
        bench_ref tree = tree_bottom_up(t, depth);
        ok = ok && gcbench_check_tree_(i, tree, depth);
        tree_free(t, tree);
    }
    if (out)
        fprintf(out, "\tBottom up construction took %.0f msec\n", (bench_now() - start) * 1e3);
    return ok;
}

/**
 * @brief Everything after the stretch tree: the long-lived tree and array,
 * the construction phases, and the final checks of the long-lived data.
 * @param t   the thread
 * @param p   parameters
 * @param out where to print progress, or NULL
 * @param hold called after the construction phases, while the long-lived
 *             data is still live (mt-gcbench waits there for the other
 *             threads), or NULL
 * @param hold_arg passed to @p hold
 * @return false if any check failed
 */
static inline bool gcbench_run_phases(bench_thread *t, const gcbench_params *p, FILE *out,
                                      void (*hold)(bench_thread *t, void *arg), void *hold_arg) {
    bool ok = true;
    BENCH_ROOTS(t, f, 2);
    if (out)
        fprintf(out, "Creating a long-lived binary tree of depth %d\n", p->long_lived_depth);
    bench_root_set(t, f, 0, tree_leaf(t));
    tree_populate(t, p->long_lived_depth, bench_root(t, f, 0));

    if (out)
        fprintf(out, "Creating a long-lived array of %zu doubles\n", p->array_size);
    bench_root_set(t, f, 1, bench_new_object(t, 0, p->array_size * sizeof(double)));
    double *array = (double *)bench_obj_payload(bench_root(t, f, 1));
    array[0] = 0.0;
    for (size_t i = 1; i < p->array_size; i++)
        array[i] = 1.0 / (double)i;

    for (int depth = p->min_depth; depth <= p->max_depth; depth += 2)
        ok = gcbench_time_construction(t, p, depth, out) && ok;
    if (hold)
        hold(t, hold_arg);

    /* The array may have moved: re-read it from its root. */
    array = (double *)bench_obj_payload(bench_root(t, f, 1));
    ok = ok && array[1000] == 1.0 / 1000.0 && array[p->array_size - 1] == 1.0 / (double)(p->array_size - 1);
    ok = ok && tree_count(bench_root(t, f, 0)) == tree_size(p->long_lived_depth);
    tree_free(t, bench_root(t, f, 0));
    bench_free(t, bench_root(t, f, 1));
    BENCH_ROOTS_POP(t, f, 2);
    return ok;
}

/** @brief Build, check and drop the stretch tree. @param t thread @param p parameters @return false if wrong */
static inline bool gcbench_stretch(bench_thread *t, const gcbench_params *p) {
    bench_ref tree = tree_bottom_up(t, p->stretch_depth);
    bool ok = tree_count(tree) == tree_size(p->stretch_depth);
    tree_free(t, tree);
    return ok;
}

#endif /* MIDDEN_BENCH_GCBENCH_H */
