/*
 * fakebench: a stand-in benchmark with a known minimum heap, for testing
 * midden-compare's bisection. It succeeds (exit 0, prints a stats line) iff
 * MDN_HEAP >= FAKEBENCH_MIN_HEAP (both sizes in bytes, with an optional K, M
 * or G suffix), and otherwise reports out of memory (exit 75) like toyvm.
 */
#include <stdio.h>
#include <stdlib.h>

static double size_of(const char *name) {
    const char *text = getenv(name);
    if (text == NULL) {
        fprintf(stderr, "fakebench: %s is not set\n", name);
        exit(2);
    }
    char *end;
    double v = strtod(text, &end);
    switch (*end) {
    case 'K': v *= 1024.0; break;
    case 'M': v *= 1048576.0; break;
    case 'G': v *= 1073741824.0; break;
    case '\0': break;
    default: fprintf(stderr, "fakebench: bad size %s=%s\n", name, text); exit(2);
    }
    return v;
}

int main(void) {
    double heap = size_of("MDN_HEAP");
    double need = size_of("FAKEBENCH_MIN_HEAP");
    if (heap < need) {
        fprintf(stderr, "fakebench: out of memory (heap %.0f < %.0f)\n", heap, need);
        return 75;
    }
    printf("fakebench: ok\n");
    fprintf(stderr, "midden-stats: plan=fake time_ms=1.000 collections=3 full_collections=1 total_pause_ms=0.300 "
                    "max_pause_ms=0.200 p50_pause_ms=0.100 p99_pause_ms=0.200 allocated_bytes=%.0f\n", heap);
    return 0;
}
