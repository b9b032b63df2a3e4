#!/usr/bin/env bash
# e2e: the secret gates the swarm (issue 13), with real processes on a local
# DHT testnet. Two members join with --secret through the DHT. A third
# process knows the topic name, holds another secret and dials a member's
# address directly (no DHT): it receives no broadcast, none of its lines
# reaches a member, and the member's counters show the refused admission.
# A fourth process with the right secret (from a --secret-file) dials the
# same member directly: it is admitted, receives and is received.
# Everything on 127.0.0.1.
set -uo pipefail
bin=${1:?usage: secret_gate_cli_test.sh PATH_TO_TOPICSWARM}
name=secret_gate_cli
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

topic=e2e-secret-gate

start_testnet 10
ok

# start N ARGS...: process N, its stdin a FIFO we hold open on fd ${in[N]}.
declare -a in pid
start() {
  local n=$1 fd
  shift
  mkfifo "$tmp/in$n"
  exec {fd}<>"$tmp/in$n"
  (
    for f in "${in[@]}" "$fd"; do eval "exec $f>&-"; done
    exec "$bin" join --json --listen 127.0.0.1:0 --topic "$topic" "$@" <"$tmp/in$n" >"$tmp/out$n" 2>"$tmp/err$n"
  ) &
  in[n]=$fd
  pid[n]=$!
  pids+=("$!")
}
# stop N: SIGTERM, exit 0, a stopped line.
stop() {
  kill -TERM "${pid[$1]}"
  wait_exit "${pid[$1]}" 15
  local code=$?
  ((code == 0)) || fail "process $1 exited $code after SIGTERM (want 0)"
  grep -q '"event":"stopped"' "$tmp/out$1" || fail "process $1 printed no stopped line"
}
# counter N NAME: an admission counter from process N's stopped line.
counter() { grep '"event":"stopped"' "$tmp/out$1" | grep -oE "\"$2\":[0-9]+" | head -1 | cut -d: -f2; }

# --- two members, through the DHT ---
start 1 --auto-discovery --secret "right secret" --bootstrap "$bootstrap"
start 2 --auto-discovery --secret "right secret" --bootstrap "$bootstrap"
for n in 1 2; do
  wait_for "$tmp/out$n" '"event":"ready"' 20 || fail "member $n printed no ready line"
done
for n in 1 2; do wait_for "$tmp/out$n" '"event":"joined"' 40 || fail "member $n never joined"; done
member=$(grep '"event":"ready"' "$tmp/out1" | grep -oE '"address":"[^"]+"' | cut -d'"' -f4)
[[ $member =~ ^[0-9a-f]{64}@127\.0\.0\.1:[0-9]+$ ]] || fail "member 1's address '$member' is not id@127.0.0.1:port"
wire1=$(grep '"event":"ready"' "$tmp/out1" | grep -oE '"wire_topic_id":"[0-9a-f]+"' | cut -d'"' -f4)
ok

# --- the name without the secret, dialling member 1 directly ---
start 3 --secret "a guess" --peer "$member"
wait_for "$tmp/out3" '"event":"ready"' 20 || fail "the outsider printed no ready line"
wire3=$(grep '"event":"ready"' "$tmp/out3" | grep -oE '"wire_topic_id":"[0-9a-f]+"' | cut -d'"' -f4)
[[ $wire3 != "$wire1" ]] || fail "another secret gave the same wire topic id"
echo "intruder-line" >&"${in[3]}"
sleep 1
echo "members-only-1" >&"${in[1]}"
wait_for "$tmp/out2" '"content":"members-only-1"' 15 || fail "member 2 did not receive member 1's line"
sleep 2  # anything that leaked to the outsider would have arrived by now
(($(received "$tmp/out3" "members-only-1") == 0)) || fail "the outsider received a member's broadcast"
for n in 1 2; do
  (($(received "$tmp/out$n" "intruder-line") == 0)) || fail "member $n received the outsider's line"
done
grep -q '"event":"neighbor_up"' "$tmp/out3" && fail "the outsider got a neighbour"
ok

# --- the right secret from a file, dialling member 1 directly: admitted ---
printf 'right secret\n' >"$tmp/secret"
start 4 --secret-file "$tmp/secret" --peer "$member"
wait_for "$tmp/out4" '"event":"joined"' 20 || fail "the process with the right secret was not admitted"
wire4=$(grep '"event":"ready"' "$tmp/out4" | grep -oE '"wire_topic_id":"[0-9a-f]+"' | cut -d'"' -f4)
[[ $wire4 == "$wire1" ]] || fail "the secret file gave another wire topic id than --secret"
echo "members-only-2" >&"${in[2]}"
wait_for "$tmp/out4" '"content":"members-only-2"' 15 || fail "the admitted process did not receive a member's line"
echo "newcomer-line" >&"${in[4]}"
wait_for "$tmp/out1" '"content":"newcomer-line"' 15 || fail "member 1 did not receive the admitted process's line"
wait_for "$tmp/out2" '"content":"newcomer-line"' 15 || fail "member 2 did not receive the admitted process's line"
(($(received "$tmp/out3" "members-only-2") == 0)) || fail "the outsider received a later broadcast"
ok

# --- counters: member 1 refused the outsider's proof and admitted the newcomer ---
for n in 4 3 2 1; do stop $n; done
(($(counter 1 proofs_unknown_topic) >= 1)) || fail "member 1 did not count the outsider's proof as an unknown topic"
(($(counter 1 refusals_sent) >= 1)) || fail "member 1 sent no refusal"
(($(counter 1 proofs_accepted) >= 2)) || fail "member 1 accepted fewer than 2 proofs (member 2, the newcomer)"
(($(counter 3 refusals_received) >= 1)) || fail "the outsider was not told it was refused"
(($(counter 3 proofs_accepted) == 0)) || fail "the outsider accepted a proof"
kill -TERM "$testnet_pid"
wait_exit "$testnet_pid" 15
ok

echo "$name: $passed passed, 0 failed"
