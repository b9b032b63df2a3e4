#!/usr/bin/env bash
# e2e: `topicswarm network` with real processes on a local DHT testnet
# (issue 14). Four members with the network secret find each other through
# the DHT bootstrap chain alone (no addresses given) and print each other's
# discovery; a member stopped with SIGINT is reported departed at once
# (cause graceful); one killed with SIGKILL is reported after the purge
# (cause purged); a process with another secret stays alone. Everything on
# 127.0.0.1.
set -uo pipefail
bin=${1:?usage: network_cli_test.sh PATH_TO_TOPICSWARM}
name=network_cli
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

start_testnet 10
ok

declare -a pid
# start N ARGS...: member N of the network (its JSON lines in $tmp/outN).
start() {
  local n=$1
  shift
  "$bin" network --json --name e2e-net --listen 127.0.0.1:0 --bootstrap "$bootstrap" \
    --chain-poll-alone 0.5 --purge-after 6 --announce-interval 1 --argon2-mem-mib 1 --argon2-ops 1 "$@" \
    >"$tmp/out$n" 2>"$tmp/err$n" &
  pid[n]=$!
  pids+=("$!")
}
id_of() { grep '"event":"ready"' "$tmp/out$1" | grep -oE '"node_id":"[0-9a-f]+"' | cut -d'"' -f4; }
# knows N M: member N printed the discovery of member M.
knows() { grep '"event":"peer_discovered"' "$tmp/out$1" | grep -qF "\"peer\":\"$(id_of "$2")\""; }
# departed N M CAUSE: member N reported member M departed with CAUSE.
departed() {
  grep '"event":"peer_departed"' "$tmp/out$1" | grep -F "\"peer\":\"$(id_of "$2")\"" | grep -qF "\"cause\":\"$3\""
}

for n in 1 2 3 4; do start $n --secret "net secret" --tag "member$n"; done
start 5 --secret "a guess"
for n in 1 2 3 4 5; do wait_for "$tmp/out$n" '"event":"ready"' 30 || fail "process $n printed no ready line"; done
deadline=$((SECONDS + 60))
for n in 1 2 3 4; do
  for m in 1 2 3 4; do
    ((n == m)) && continue
    until knows $n $m; do
      ((SECONDS < deadline)) || fail "member $n never discovered member $m"
      sleep 0.2
    done
  done
done
grep '"event":"peer_discovered"' "$tmp/out1" | grep -F "\"peer\":\"$(id_of 2)\"" | grep -qF '"tags":["member2"]' ||
  fail "member 1 did not see member 2's tag"
ok

# SIGINT: a signed departure, reported at once (well before the purge).
kill -INT "${pid[2]}"
wait_exit "${pid[2]}" 15 || fail "member 2 did not exit 0 after SIGINT"
for n in 1 3 4; do
  wait_for "$tmp/out$n" "\"event\":\"peer_departed\".*\"peer\":\"$(id_of 2)\"" 3 || fail "member $n did not report member 2's departure within 3 s"
  departed $n 2 graceful || fail "member $n reported member 2's departure with another cause"
done
ok

# SIGKILL: no departure; the others purge it after --purge-after (6 s).
kill -KILL "${pid[3]}"
{ wait "${pid[3]}"; } 2>/dev/null  # reaped quietly: its death is the test
for n in 1 4; do
  wait_for "$tmp/out$n" "\"event\":\"peer_departed\".*\"peer\":\"$(id_of 3)\"" 20 || fail "member $n never purged member 3"
  departed $n 3 purged || fail "member $n reported member 3's departure with another cause"
done
ok

# The other secret: alone all along.
grep -q '"event":"peer_discovered"' "$tmp/out5" && fail "the process with another secret discovered someone"
for n in 1 4; do
  grep -F "\"peer\":\"$(id_of 5)\"" "$tmp/out$n" && fail "member $n heard of the process with another secret"
done
for n in 1 4 5; do
  kill -TERM "${pid[n]}"
  wait_exit "${pid[n]}" 15 || fail "process $n did not exit 0 after SIGTERM"
  grep -q '"event":"stopped"' "$tmp/out$n" || fail "process $n printed no stopped line"
done
grep '"event":"stopped"' "$tmp/out5" | grep -qF '"peers":0' || fail "the process with another secret ended with peers"
kill -TERM "$testnet_pid"
wait_exit "$testnet_pid" 15
ok

echo "$name: $passed passed, 0 failed"
