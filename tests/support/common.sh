# Helpers shared by the sourced test libraries (tests/e2e/lib.sh,
# tests/faults/lib.sh, tests/nat/lib.sh): reporting (ok, fail, skip), time
# (now_ms, wait_for) and the bookkeeping that cleans up at exit. Sourced, not
# run; each library sources it first, then sets what it needs from the knobs
# below and calls harness_start.
#
# The sourcing script sets `name` (the summary line of fail) and may add to:
#   pids        every process it starts; killed (SIGKILL) at exit
#   namespaces  every network namespace it creates; their processes killed,
#               then the namespaces deleted at exit (see netns.sh)
#
# shellcheck shell=bash
# The knobs are set here for the sourcing libraries and look unused when this
# file is checked alone.
# shellcheck disable=SC2034

# Exit status of a skipped test: CTest's SKIP_RETURN_CODE for every suite.
skip_code=77
passed=0
pids=()
namespaces=()

# Knobs (a library may change them before harness_start):
# fail_logs: globs (in $tmp) of the files whose tails fail prints.
fail_logs=('*.out' '*.err')
# fail_tail: how many lines of each.
fail_tail=40
# poll_s: how often wait_for looks again.
poll_s=0.2
# keep_logs_var: the name of an environment variable that, when set and not
# empty at exit, keeps $tmp (its path is printed); empty: $tmp is always removed.
keep_logs_var=""

skip() {
  echo "SKIP: $*"
  exit "$skip_code"
}

# ok [MESSAGE]: one more check passed; printed as "ok N: MESSAGE" when there
# is a message (the e2e scripts only count).
# shellcheck disable=SC2120
ok() {
  passed=$((passed + 1))
  (($# == 0)) || echo "ok $passed: $*"
}

# fail MESSAGE: print it, the tail of every log ($fail_logs), and exit 1.
fail() {
  echo "FAIL: $*"
  local glob f
  for glob in "${fail_logs[@]}"; do
    for f in "$tmp"/$glob; do
      # Regular and not empty: the FIFOs of stdin and unused logs say nothing.
      [[ -f $f && -s $f ]] || continue
      echo "--- $f"
      tail -n "$fail_tail" "$f"
    done
  done
  echo "${name:-test}: $passed passed, 1 failed"
  exit 1
}

now_ms() { date +%s%3N; }

# wait_for FILE REGEX SECONDS: until a line of FILE matches.
wait_for() {
  local deadline=$((SECONDS + $3))
  while ((SECONDS < deadline)); do
    grep -qE "$2" "$1" 2>/dev/null && return 0
    sleep "$poll_s"
  done
  return 1
}

# harness_cleanup: every process we started and anything still running in our
# namespaces is killed (by pid), then the namespaces are deleted (which
# removes their veths, bridges, TUN devices and nft tables), then $tmp
# (unless ${!keep_logs_var} is set).
harness_cleanup() {
  local p ns
  trap - EXIT INT TERM
  {
    for p in "${pids[@]}"; do kill -KILL "$p"; done
    for ns in "${namespaces[@]}"; do
      for p in $(ip netns pids "$ns"); do kill -KILL "$p"; done
    done
    for p in "${pids[@]}"; do wait "$p"; done
    for ns in "${namespaces[@]}"; do ip netns del "$ns"; done
  } 2>/dev/null
  if [[ -n $keep_logs_var && -n ${!keep_logs_var:-} ]]; then
    echo "logs kept in $tmp"
  else
    rm -rf "$tmp"
  fi
}

# harness_start [TEMPLATE]: the log directory $tmp (mktemp -d TEMPLATE; the
# system default without one), removed by harness_cleanup on EXIT; INT and
# TERM exit with 130 / 143 through it.
# shellcheck disable=SC2120
harness_start() {
  tmp=$(mktemp -d ${1:+"$1"})
  trap harness_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
}
