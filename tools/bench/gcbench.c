/*
 * GCBench (Ellis, Kovac, Boehm), standard parameters by default: stretch
 * tree of depth 18, long-lived tree of depth 16, a long-lived array of
 * 500000 doubles, trees of depths 4..16 step 2 built top-down and bottom-up.
 * An optional argument scales the depths (see gcbench_params_for()).
 */
#include "gcbench.h"

#define USAGE "gcbench [LONG_LIVED_DEPTH]   (6..22, default 16: the standard parameters)"

int main(int argc, char **argv) {
    if (argc > 2)
        bench_usage(USAGE);
    int depth = argc == 2 ? (int)bench_arg(argv[1], 6, 22, USAGE) : 16;
    gcbench_params p = gcbench_params_for(depth);

    printf("Garbage Collector Test\n");
    printf("Live storage will peak at %zu bytes.\n\n", gcbench_live_estimate(&p));
    printf("Stretching memory with a binary tree of depth %d\n", p.stretch_depth);
    fflush(stdout);

    bench_vm *vm = bench_vm_start();
    bench_thread *t = bench_thread_attach(vm);
    bench_begin(vm);
    double start = bench_now();

    bool ok = gcbench_stretch(t, &p);
    ok = gcbench_run_phases(t, &p, stdout, NULL, NULL) && ok;

    double elapsed = bench_now() - start;
    bench_end(vm);
    bench_thread_detach(t);
    bench_vm_finish(vm);
    if (!ok)
        bench_wrong("a GCBench tree or the long-lived array is damaged");
    printf("Completed in %.0f msec\n", elapsed * 1e3);
    return 0;
}
