# Helpers shared by the e2e scripts (sourced, not run: CTest runs *_test.sh).
# The sourcing script sets `name` (for the summary line) before sourcing.
# Provides: $tmp (removed at exit, with every pid in $pids killed), ok, fail,
# wait_for (tests/support/common.sh), wait_exit, received, expect_once,
# start_testnet.
#
# shellcheck shell=bash

# shellcheck source=../support/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/../support/common.sh"
# fail prints the tail of every file in $tmp (the e2e logs have no .out/.err
# ending), 60 lines each; wait_for looks every 0.1 s.
fail_logs=('*')
fail_tail=60
poll_s=0.1
harness_start

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
