# Helpers shared by the e2e scripts (sourced, not run: CTest runs *_test.sh).
# The sourcing script sets `name` (for the summary line) before sourcing.
# Provides: $tmp (removed at exit, with every pid in $pids killed), ok, fail,
# wait_for, wait_exit, received.

tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
  rm -rf "$tmp"
}
trap cleanup EXIT
passed=0
ok() { passed=$((passed + 1)); }
# fail MESSAGE: print it, the tail of every file in $tmp, and exit 1.
fail() {
  echo "FAIL: $*"
  for f in "$tmp"/*; do
    [[ -f $f ]] || continue
    echo "--- $f"
    tail -n 60 "$f"
  done
  echo "$name: $passed passed, 1 failed"
  exit 1
}

# wait_for FILE REGEX SECONDS: until a line of FILE matches.
wait_for() {
  local deadline=$((SECONDS + $3))
  while ((SECONDS < deadline)); do
    grep -qE "$2" "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

# wait_exit PID SECONDS: the exit status of PID, or 124 if it is still running.
wait_exit() {
  local deadline=$((SECONDS + $2))
  while kill -0 "$1" 2>/dev/null; do
    ((SECONDS < deadline)) || return 124
    sleep 0.1
  done
  wait "$1"
}

# received FILE CONTENT: how many "received" events of FILE carry exactly CONTENT.
received() { grep '"event":"received"' "$1" | grep -cF "\"content\":\"$2\""; }
# expect_once OUT N M CONTENT: process N's output OUT has CONTENT (sent by
# process M) exactly once, or not at all when N sent it itself.
expect_once() {
  local c want=1
  c=$(received "$1" "$4")
  (($2 == $3)) && want=0
  ((c == want)) || fail "process $2 received $4 $c times (want $want)"
}

# start_testnet NODES: a local DHT testnet process on 127.0.0.1; sets
# $testnet_pid and $bootstrap (its IP:PORT).
start_testnet() {
  "$bin" testnet --nodes "$1" --json >"$tmp/testnet" 2>"$tmp/testnet.err" &
  pids+=("$!")
  testnet_pid=$!
  wait_for "$tmp/testnet" '"bootstrap"' 60 || fail "the testnet printed no bootstrap address"
  bootstrap=$(grep -oE '"bootstrap":"[0-9.]+:[0-9]+"' "$tmp/testnet" | cut -d'"' -f4)
  [[ $bootstrap =~ ^127\.0\.0\.1:[0-9]+$ ]] || fail "bootstrap '$bootstrap' is not on 127.0.0.1"
}
