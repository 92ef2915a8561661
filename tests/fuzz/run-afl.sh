#!/bin/sh
# Fuzz the option parser with AFL++ for a limited time.
#
#   tests/fuzz/run-afl.sh [SECONDS]     (default 60)
#
# Builds fuzz_options_afl with afl-clang-fast in build/afl (-DMIDDEN_FUZZ=ON),
# runs afl-fuzz from the corpus in tests/fuzz/corpus/options for SECONDS,
# then replays any crash through the plain driver and exits 1 if there was
# one. Findings stay in build/afl/findings. Needs the Debian package afl++.
set -eu
cd "$(dirname "$0")/../.."
secs=${1:-60}
command -v afl-fuzz >/dev/null && command -v afl-clang-fast >/dev/null || {
    echo "run-afl.sh: afl-fuzz and afl-clang-fast are needed (apt-get install afl++)" >&2
    exit 2
}
cmake -S . -B build/afl -DCMAKE_BUILD_TYPE=Release -DMIDDEN_FUZZ=ON -DMIDDEN_BUILD_TOOLS=OFF >/dev/null
cmake --build build/afl --target fuzz_options_afl fuzz_options_main >/dev/null
out=build/afl/findings
rm -rf "$out"
AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_UI=1 AFL_NO_AFFINITY=1 \
    afl-fuzz -V "$secs" -i tests/fuzz/corpus/options -o "$out" -- build/afl/tests/fuzz/fuzz_options_afl \
    >build/afl/afl-fuzz.log 2>&1 || { tail -20 build/afl/afl-fuzz.log >&2; exit 2; }
stats=$out/default/fuzzer_stats
[ -f "$stats" ] && grep -E '^(execs_done|corpus_count|saved_crashes|saved_hangs) ' "$stats"
crashes=$(find "$out/default/crashes" -type f ! -name README.txt 2>/dev/null | wc -l)
if [ "$crashes" -gt 0 ]; then
    echo "run-afl.sh: $crashes crashing input(s) in $out/default/crashes; replaying:" >&2
    build/afl/tests/fuzz/fuzz_options_main "$out/default/crashes" || true
    exit 1
fi
echo "run-afl.sh: no crashes in ${secs}s"
