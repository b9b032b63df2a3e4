#!/usr/bin/env bash
# e2e: auto-discovery between real processes. A `topicswarm testnet` process
# runs a local DHT testnet; four `topicswarm join --auto-discovery` processes,
# started 1 s apart and given no peer address, find each other through the
# DHT alone; every line each one broadcasts is received by all the others,
# exactly once. A fifth process with another secret never joins them
# (--join-timeout makes it exit 1 with a clear error). Everything on 127.0.0.1.
set -uo pipefail
bin=${1:?usage: auto_discovery_cli_test.sh PATH_TO_TOPICSWARM}
name=discovery_cli
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# neighbours FILE: neighbour count as told by its events.
neighbours() {
  local up down
  up=$(grep -c '"event":"neighbor_up"' "$1")
  down=$(grep -c '"event":"neighbor_down"' "$1")
  echo $((up - down))
}

# --- the DHT testnet ---
start_testnet 12
ok

# start_join N SECRET [ARGS...]: process N, its stdin a FIFO we hold open on fd ${in[N]}.
declare -a in pid
start_join() {
  local n=$1 secret=$2 fd
  shift 2
  mkfifo "$tmp/in$n"
  exec {fd}<>"$tmp/in$n"
  (
    for f in "${in[@]}" "$fd"; do eval "exec $f>&-"; done
    exec "$bin" join --json --listen 127.0.0.1:0 --topic e2e-discovery --auto-discovery --secret "$secret" \
      --bootstrap "$bootstrap" "$@" <"$tmp/in$n" >"$tmp/out$n" 2>"$tmp/err$n"
  ) &
  in[n]=$fd
  pid[n]=$!
  pids+=("$!")
}

# --- four peers, 1 s apart, no addresses given ---
for n in 1 2 3 4; do
  start_join $n "e2e-secret"
  ((n < 4)) && sleep 1
done
for n in 1 2 3 4; do
  wait_for "$tmp/out$n" '"event":"ready"' 15 || fail "process $n printed no ready line"
  grep '"event":"ready"' "$tmp/out$n" | grep -q '"auto_discovery":true' || fail "process $n does not say auto_discovery"
  grep '"event":"ready"' "$tmp/out$n" | grep -qE '"dht":\["127\.0\.0\.1:[0-9]+"\]' ||
    fail "process $n's DHT client is not on 127.0.0.1"
done
ok
for n in 1 2 3 4; do
  wait_for "$tmp/out$n" '"event":"joined"' 30 || fail "process $n never joined"
  grep '"event":"joined"' "$tmp/out$n" | grep -qE '"ts_ms":[0-9]{13},"after_ms":[0-9]+' ||
    fail "process $n's joined line lacks ts_ms / after_ms"
done
ok

# --- wait for a connected overlay: with four peers, two neighbours each suffice ---
deadline=$((SECONDS + 20))
until (($(neighbours "$tmp/out1") >= 2 && $(neighbours "$tmp/out2") >= 2 && $(neighbours "$tmp/out3") >= 2 &&
  $(neighbours "$tmp/out4") >= 2)); do
  ((SECONDS < deadline)) || fail "the overlay did not reach two neighbours per peer"
  sleep 0.1
done
ok

# --- every message of each to all the others, exactly once ---
for n in 1 2 3 4; do echo "hello-from-$n" >&"${in[n]}"; done
for n in 1 2 3 4; do
  deadline=$((SECONDS + 15))
  until (($(grep '"event":"received"' "$tmp/out$n" | grep -c '"content":"hello-from-') >= 3)); do
    ((SECONDS < deadline)) || fail "process $n did not receive the 3 other messages"
    sleep 0.1
  done
done
sleep 1  # a duplicate would arrive in this time
for n in 1 2 3 4; do
  for m in 1 2 3 4; do expect_once "$tmp/out$n" "$n" "$m" "hello-from-$m"; done
done
ok

# --- another secret: never joins, gives up with a clear error ---
start_join 5 "another-secret" --join-timeout 4
wait_exit "${pid[5]}" 20
code=$?
((code == 1)) || fail "the peer with another secret exited $code (want 1)"
grep -q '"event":"joined"' "$tmp/out5" && fail "the peer with another secret joined"
grep '"event":"error"' "$tmp/out5" | grep -q 'no neighbour within 4000 ms' || fail "no clear join-timeout error"
ok

# --- clean exits ---
for n in 1 2 3 4; do kill -TERM "${pid[n]}"; done
for n in 1 2 3 4; do
  wait_exit "${pid[n]}" 10
  code=$?
  ((code == 0)) || fail "process $n exited $code after SIGTERM (want 0)"
  grep -q '"event":"stopped"' "$tmp/out$n" || fail "process $n printed no stopped line"
done
kill -TERM "$testnet_pid"
wait_exit "$testnet_pid" 15
code=$?
((code == 0)) || fail "the testnet exited $code after SIGTERM (want 0)"
ok

# --- bad arguments fail fast ---
if "$bin" join --topic x --bootstrap 127.0.0.1:1 >"$tmp/bad" 2>&1; then fail "--bootstrap without --auto-discovery was accepted"; fi
grep -q 'need --auto-discovery' "$tmp/bad" || fail "no clear message for --bootstrap without --auto-discovery"
if "$bin" join --topic x --secret s --key-hex 00 >"$tmp/bad" 2>&1; then fail "--secret with --key-hex was accepted"; fi
grep -q 'excludes' "$tmp/bad" || fail "no clear message for --secret with --key-hex"
if "$bin" join --topic x --key-hex abcd >"$tmp/bad" 2>&1; then fail "a short --key-hex was accepted"; fi
grep -q 'bad --key-hex' "$tmp/bad" || fail "no clear message for a short --key-hex"
if "$bin" join --topic x --auto-discovery --bootstrap nonsense >"$tmp/bad" 2>&1; then fail "a bad --bootstrap was accepted"; fi
grep -q 'bad --bootstrap' "$tmp/bad" || fail "no clear message for a bad --bootstrap"
ok

echo "discovery_cli: $passed passed"
