#!/usr/bin/env bash
# Runs every libFuzzer binary of a fuzz build, one after another, for a fixed
# time each, and writes a results table. Builds nothing: build first with
#   cmake --preset fuzz && cmake --build --preset fuzz
#
# usage: scripts/fuzz-all.sh [FUZZ_BUILD_DIR] [SECONDS_PER_TARGET] [TARGET...]
#   FUZZ_BUILD_DIR      default build/fuzz (binaries in FUZZ_BUILD_DIR/fuzz/*_fuzzer)
#   SECONDS_PER_TARGET  default 600 (libFuzzer -max_total_time)
#   TARGET...           names like "alpn" or "dht_item" (default: every *_fuzzer)
#
# Each target <name> fuzzes a work corpus FUZZ_BUILD_DIR/work/<name>, seeded
# from fuzz/corpus/<name> (the seeds are copied; the checked-in corpus is
# never written). Crash, leak and timeout inputs go to
# FUZZ_BUILD_DIR/work/<name>-artifacts/, the fuzzer's log to
# FUZZ_BUILD_DIR/work/<name>.log. Everything runs under `nice -n 19`.
#
# Results: FUZZ_BUILD_DIR/results.md, a markdown table with one row per target
# (written as each target finishes): seconds, total executions, executions per
# second, corpus files and bytes at the end, whether anything was found, and
# the artifact if so. A "slow unit" (one input over 60 s) is listed but is not
# a finding: on a shared machine under nice -n 19 it is usually a stall of the
# machine, so replay it (BIN ARTIFACT) before believing it. Crashes, leaks,
# timeouts (-timeout) and out-of-memory are findings.
# Exit status: 0 if no target found anything, 1 otherwise.
set -u

src_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build_dir="${1:-build/fuzz}"
seconds="${2:-600}"
shift $(( $# >= 2 ? 2 : $# ))

bin_dir="$build_dir/fuzz"
work_root="$build_dir/work"
results="$build_dir/results.md"

if [[ ! -d "$bin_dir" ]]; then
  echo "fuzz-all: $bin_dir does not exist (build the fuzz preset first)" >&2
  exit 2
fi
if ! [[ "$seconds" =~ ^[0-9]+$ ]] || (( seconds == 0 )); then
  echo "fuzz-all: seconds per target must be a positive integer, got '$seconds'" >&2
  exit 2
fi

targets=("$@")
if (( ${#targets[@]} == 0 )); then
  for f in "$bin_dir"/*_fuzzer; do
    [[ -x "$f" ]] || continue
    n="$(basename "$f")"
    targets+=("${n%_fuzzer}")
  done
fi
if (( ${#targets[@]} == 0 )); then
  echo "fuzz-all: no *_fuzzer binaries in $bin_dir" >&2
  exit 2
fi

mkdir -p "$work_root"
{
  echo "# Fuzz run"
  echo
  echo "- started: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "- commit: $(git -C "$src_dir" rev-parse --short HEAD 2>/dev/null || echo unknown)"
  echo "- machine: $(uname -srm), $(nproc) cores; $(clang++-14 --version 2>/dev/null | head -n1)"
  echo "- per target: ${seconds} s (libFuzzer -max_total_time), under nice -n 19; seeds from fuzz/corpus/<target>"
  echo
  echo "| target | seconds | total execs | exec/s | corpus files | corpus bytes | seed files | findings | artifact |"
  echo "|---|---:|---:|---:|---:|---:|---:|---|---|"
} > "$results"

any_finding=0
for name in "${targets[@]}"; do
  bin="$bin_dir/${name}_fuzzer"
  if [[ ! -x "$bin" ]]; then
    echo "| $name | - | - | - | - | - | - | not built | - |" >> "$results"
    any_finding=1
    continue
  fi
  work="$work_root/$name"
  artifacts="$work_root/$name-artifacts"
  log="$work_root/$name.log"
  mkdir -p "$work" "$artifacts"
  seeds=0
  if [[ -d "$src_dir/fuzz/corpus/$name" ]]; then
    seeds="$(find "$src_dir/fuzz/corpus/$name" -type f | wc -l)"
    cp -n "$src_dir/fuzz/corpus/$name"/* "$work"/ 2>/dev/null || true
  fi

  echo "fuzz-all: $name for ${seconds} s ($(date -u +%H:%M:%S))"
  start=$(date +%s)
  nice -n 19 "$bin" -max_total_time="$seconds" -timeout=30 -report_slow_units=60 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$artifacts/" "$work" > "$log" 2>&1
  rc=$?
  elapsed=$(( $(date +%s) - start ))

  execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n1)"
  rate="$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n1)"
  if [[ -z "$execs" ]]; then
    # No final stats (the run stopped on a finding): the last status line.
    execs="$(grep -o '^#[0-9]*' "$log" | tail -n1 | tr -d '#')"
    rate="$(grep -o 'exec/s: [0-9]*' "$log" | tail -n1 | awk '{print $2}')"
  fi
  files="$(find "$work" -type f | wc -l)"
  bytes="$(find "$work" -type f -printf '%s\n' | awk '{s += $1} END {print s + 0}')"
  artifact="$(find "$artifacts" -type f ! -name 'slow-unit-*' | head -n1)"
  slow="$(find "$artifacts" -type f -name 'slow-unit-*' | wc -l)"
  if (( rc != 0 )) || [[ -n "$artifact" ]]; then
    finding="yes (exit $rc)"
    any_finding=1
  else
    finding="no"
  fi
  if (( slow > 0 )); then
    finding="$finding; $slow slow unit(s), replay to check"
    [[ -n "$artifact" ]] || artifact="$(find "$artifacts" -type f -name 'slow-unit-*' | head -n1)"
  fi
  echo "| $name | $elapsed | ${execs:-?} | ${rate:-?} | $files | $bytes | $seeds | $finding | ${artifact:--} |" >> "$results"
done

echo >> "$results"
echo "- finished: $(date -u +%Y-%m-%dT%H:%M:%SZ)" >> "$results"
echo "fuzz-all: results in $results"
exit "$any_finding"
