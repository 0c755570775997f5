#!/usr/bin/env bash
# ThreadSanitizer run of the recorder (src/trace) and of the tests that write their traces with it
# from several threads: builds them with -fsanitize=thread into a separate build folder and runs each,
# failing on the first report. Not part of ctest: the TSan build of the test library (it links the
# whole analysis) takes minutes on two cores, and TSan cannot share a build with ASan.
#
#   scripts/tsan.sh [BUILD_DIR]        (default build-tsan; needs gcc or clang with libtsan)
#
# test_trace_fork is left out: its children start a writer thread after forking a process with
# threads, which TSan does not support (it kills the child, or with die_after_fork=0 stops on "dup
# thread with used id"). Set SP_TSAN_ALL=1 to run it anyway.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build-tsan}
tests=(test_trace_api test_trace_context test_trace_disabled test_trace_drops test_trace_exit
       test_trace_owner test_trace_period test_trace_properties test_trace_slot_reuse test_trace_step test_trace_threads
       test_trace_truncate test_trace_truncate_pipelined test_trace_truncate_serial test_trace_wake
       test_finish_threads test_analyze_two_threads test_metrics_tap)
if [ "${SP_TSAN_ALL:-0}" = 1 ]; then
    tests+=(test_trace_fork)
fi
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Debug -DSERVPROF_CUDA=OFF -DCMAKE_C_FLAGS=-fsanitize=thread \
      -DCMAKE_EXE_LINKER_FLAGS=-fsanitize=thread -DCMAKE_SHARED_LINKER_FLAGS=-fsanitize=thread >/dev/null
cmake --build "$build" -j"$(nproc)" --target "${tests[@]}"
fail=0
for t in "${tests[@]}"; do
    if (cd "$build/tests" && TSAN_OPTIONS="halt_on_error=1 exitcode=66 ${TSAN_OPTIONS:-}" "./$t" >"$t.tsan.log" 2>&1); then
        echo "$t: ok"
    else
        echo "$t: FAILED (rc $?), see $build/tests/$t.tsan.log"
        fail=1
    fi
done
exit $fail
