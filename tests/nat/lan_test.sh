#!/usr/bin/env bash
# LAN discovery (docs/PROTOCOL.md §20, issue 16) with real topicswarm
# processes and no DHT and no bootstrap peer at all: three peers l1, l2, l3
# on one bridge (the LAN behind router a), all with --lan; l4 on the same
# bridge with --lan but another secret; p1 on the public segment, one router
# away, with --lan and the right secret.
#  1. All five start; none is told about any other.
#  2. l1, l2 and l3 find each other by their beacons and form one overlay:
#     each has a neighbour, a message from each reaches the other two, and
#     their connections run over LAN addresses (they share router a's public
#     address, and nothing else would reach).
#  3. l4 hears their beacons but recognises none of their tags (another
#     secret), and they none of its: it stays alone, and their counters show
#     beacons that matched nothing.
#  4. p1 never hears a beacon of theirs (TTL 1; routers do not forward
#     multicast): it receives only its own, looped back, and stays alone.
# Prints one JSON line with what it measured.
set -uo pipefail
tsbin=${1:-}
name=lan
topic=nat-lan
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
t_start=$(now_ms)
join_no_dht=1

nat_up
pub_host p1
nat_router a eim
nat_host l1 a
nat_host l2 a
nat_host l3 a
nat_host l4 a
ok "topology up: l1 ${nat_ip[l1]}, l2 ${nat_ip[l2]}, l3 ${nat_ip[l3]}, l4 ${nat_ip[l4]} on router a's LAN; p1 ${nat_ip[p1]} one router away"

fresh_stats() {
  local k
  for k in "$@"; do kill -USR1 "${peer_pid[k]}" 2>/dev/null; done
  sleep 0.5
}

# --- 1. everyone starts, knowing no one ---
t0=$(now_ms)
peer_listen[3]=0.0.0.0:7000  # l3 beacons on every interface it has (one)
for k in 1 2 3; do peer_start "$k" "l$k" --lan; done
right_secret=$secret
secret="$secret-but-not-quite"
peer_start 4 l4 --lan
secret=$right_secret
peer_start 5 p1 --lan
for k in 1 2 3 4 5; do peer_wait_ready "$k"; done
ok "five peers started with --lan and no peer to join through"

# --- 2. l1, l2, l3 find each other ---
deadline=$((SECONDS + 30))
until [[ -n $(peer_neighbours 1) && -n $(peer_neighbours 2) && -n $(peer_neighbours 3) ]]; do
  ((SECONDS < deadline)) || {
    fresh_stats 1 2 3
    for k in 1 2 3; do echo "l$k lan: $(stats "$k" lan)"; done
    fail "l1, l2, l3 did not all find a neighbour"
  }
  sleep 0.2
done
found_ms=$(($(now_ms) - t0))
ok "l1, l2 and l3 each have a neighbour ${found_ms} ms after starting"
for k in 1 2 3; do peer_send "$k" "hello-from-$k"; done
deadline=$((SECONDS + 20))
for k in 1 2 3; do
  until (($(peer_received "$k" hello-from-) == 2)); do
    ((SECONDS < deadline)) || fail "l$k received $(peer_received "$k" hello-from-) of the other two's messages"
    sleep 0.3
  done
done
ok "one overlay: each of l1, l2, l3 received the other two's messages"
for k in 1 2 3; do kill -USR1 "${peer_pid[k]}" 2>/dev/null; done
for k in 1 2 3; do wait_for "$tmp/peer$k.out" '"event":"network"' 10 || fail "peer $k printed no network event"; done
lan_prefix=${nat_lan[a]}.
for k in 1 2 3; do
  remotes=$(grep -F '"event":"network"' "$tmp/peer$k.out" | tail -n 1 | jq -r '.connections[].remote')
  [[ -n $remotes ]] || fail "l$k lists no connection"
  while read -r r; do
    [[ $r == "$lan_prefix"* ]] || fail "l$k has a connection to $r, not a LAN address"
  done <<<"$remotes"
done
ok "their connections all run over LAN addresses (${lan_prefix}0/24)"

# --- 3, 4. l4 (another secret) and p1 (one router away) stay alone ---
fresh_stats 1 2 3 4 5
for k in 1 2 3 4 5; do wait_for "$tmp/peer$k.out" '"event":"stats"' 10 || fail "peer $k printed no stats"; done
for k in 1 2 3 4 5; do echo "peer $k lan: $(stats "$k" lan)"; done
for k in 1 2 3; do
  jq -e '.found >= 1 and .unmatched >= 1 and .sent >= 1 and .interfaces == 1' <<<"$(stats "$k" lan)" >/dev/null ||
    fail "l$k's lan counters: $(stats "$k" lan)"
done
[[ -z $(peer_neighbours 4) ]] || fail "l4 (another secret) has neighbours: $(peer_neighbours 4 | tr '\n' ' ')"
jq -e '.found == 0 and .unmatched >= 3' <<<"$(stats 4 lan)" >/dev/null || fail "l4's lan counters: $(stats 4 lan)"
ok "l4, with another secret, hears their beacons, recognises none, and stays alone (and they none of its)"
[[ -z $(peer_neighbours 5) ]] || fail "p1 has neighbours: $(peer_neighbours 5 | tr '\n' ' ')"
jq -e '.received == .own and .own >= 1 and .found == 0' <<<"$(stats 5 lan)" >/dev/null ||
  fail "p1's lan counters: $(stats 5 lan)"
ok "p1, one router away, hears only its own beacons and stays alone"

jq -cn --argjson ms "$found_ms" --argjson l1 "$(stats 1 lan)" --argjson l4 "$(stats 4 lan)" \
  --argjson p1 "$(stats 5 lan)" --argjson total_ms "$(($(now_ms) - t_start))" \
  '{scenario: "lan", neighbours_after_ms: $ms, l1: $l1, l4: $l4, p1: $p1, total_ms: $total_ms}'
echo "$name: $passed passed, 0 failed"
