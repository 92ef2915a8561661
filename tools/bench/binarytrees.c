/*
 * binary-trees (the Computer Language Benchmarks Game): build a stretch tree
 * of depth N+1, keep a long-lived tree of depth N, and build and check many
 * short-lived trees of depths 4, 6, ..., N. The check of a tree is its node
 * count. Output format as in the reference (docs: REFERENCES.md); the
 * program verifies every count against the closed form and exits 1 when one
 * is wrong.
 */
#include "trees.h"

#define USAGE "binarytrees DEPTH   (DEPTH >= 0; the reference uses 21)"

int main(int argc, char **argv) {
    if (argc != 2)
        bench_usage(USAGE);
    const int min_depth = 4;
    int n = (int)bench_arg(argv[1], 0, 30, USAGE);
    int max_depth = n > min_depth + 2 ? n : min_depth + 2;
    int stretch_depth = max_depth + 1;
    bool ok = true;

    bench_vm *vm = bench_vm_start();
    bench_thread *t = bench_thread_attach(vm);
    bench_begin(vm);

    bench_ref stretch = tree_bottom_up(t, stretch_depth);
    long check = tree_count(stretch);
    tree_free(t, stretch);
    printf("stretch tree of depth %d\t check: %ld\n", stretch_depth, check);
    ok = ok && check == tree_size(stretch_depth);

    BENCH_ROOTS(t, f, 1);
    bench_root_set(t, f, 0, tree_bottom_up(t, max_depth));

    for (int depth = min_depth; depth <= max_depth; depth += 2) {
        long iterations = 1L << (max_depth - depth + min_depth);
        check = 0;
        for (long i = 0; i < iterations; i++) {
            bench_ref tree = tree_bottom_up(t, depth);
            check += tree_count(tree);
            tree_free(t, tree);
        }
        printf("%ld\t trees of depth %d\t check: %ld\n", iterations, depth, check);
        ok = ok && check == iterations * tree_size(depth);
    }

    check = tree_count(bench_root(t, f, 0));
    printf("long lived tree of depth %d\t check: %ld\n", max_depth, check);
    ok = ok && check == tree_size(max_depth);
    tree_free(t, bench_root(t, f, 0));
    BENCH_ROOTS_POP(t, f, 1);

    bench_end(vm);
    bench_thread_detach(t);
    bench_vm_finish(vm);
    if (!ok)
        bench_wrong("a tree check differs from the node count of a complete tree");
    return 0;
}
