#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz/ with clang-14, AddressSanitizer and UBSan in
# build-fuzz/, then runs each for a bounded time, starting from a copy of its checked-in seed
# corpus. Fails on any crash, hang, leak or sanitizer report, keeping the input that caused it in
# build-fuzz/crashes/.
#   scripts/fuzz.sh [--seconds S] [TARGET...]     (targets: request multipart image model_file
#                                                  datasets recipe caption_questions; default all,
#                                                  S default 60)
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build_dir=${GLIMPSE_FUZZ_BUILD_DIR:-$here/build-fuzz}
seconds=60
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds=${2:?--seconds needs a number}; shift 2 ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    -*) echo "fuzz.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
    *) targets+=("$1"); shift ;;
  esac
done
[ ${#targets[@]} -gt 0 ] || targets=(request multipart image model_file datasets recipe caption_questions)
fail() { echo "fuzz.sh: $*" >&2; exit 1; }
command -v clang++-14 >/dev/null || fail "clang++-14 is not installed: run scripts/setup.sh --fuzz"

generator=()
command -v ninja >/dev/null && [ ! -f "$build_dir/CMakeCache.txt" ] && generator=(-G Ninja)
cmake -S "$here" -B "$build_dir" "${generator[@]}" -DCMAKE_C_COMPILER=clang-14 \
  -DCMAKE_CXX_COMPILER=clang++-14 -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGLIMPSE_BUILD_FUZZERS=ON \
  -DGLIMPSE_BUILD_TESTS=OFF -DGLIMPSE_BUILD_BENCH=OFF >/dev/null || fail "cmake configure failed"
cmake --build "$build_dir" -j "$(nproc)" --target "${targets[@]/#/fuzz_}" || fail "build failed"

mkdir -p "$build_dir/crashes"
status=0
failed=0
for t in "${targets[@]}"; do
  corpus=$(mktemp -d)
  cp -r "$here/tests/fuzz/corpus/$t/." "$corpus/"
  log="$build_dir/fuzz_$t.log"
  # One LibTorch thread; the sanitizers abort on the first report.
  if OMP_NUM_THREADS=1 ASAN_OPTIONS=abort_on_error=1:detect_leaks=1 \
     UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
     "$build_dir/tests/fuzz/fuzz_$t" -max_total_time="$seconds" -timeout=30 -rss_limit_mb=3072 \
       -print_final_stats=1 -artifact_prefix="$build_dir/crashes/$t-" "$corpus" >"$log" 2>&1; then
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
    files=$(find "$corpus" -type f | wc -l)
    echo "fuzz_$t: ${seconds} s, ${runs:-?} runs, ${rate:-?} exec/s, corpus $files inputs: no crash"
  else
    status=1
    failed=$((failed + 1))
    echo "fuzz_$t: FAILED; the end of $log:" >&2
    tail -n 40 "$log" >&2
  fi
  rm -rf "$corpus"
done
echo "fuzz: $(( ${#targets[@]} - failed )) passed, $failed failed"
exit $status
