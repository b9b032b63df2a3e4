#!/usr/bin/env bash
# faults d: half the DHT testnet's nodes die. A testnet of 8 `topicswarm
# dht-node` processes and 4 topic nodes that joined through it; then DHT
# nodes 1, 3, 5 and 7 (node 1 is the one every other node bootstrapped
# through) are killed with SIGKILL. Asserts: two new topic nodes, given the
# whole original list of DHT nodes (dead ones included), still join through
# the DHT, the six are one overlay, and messages reach every node.
set -uo pipefail
tsbin=${1:?usage: dht_half_dead_test.sh TOPICSWARM DELAY_LINK}
delay_bin=${2:-}
name=faults_dht_half_dead
topic=faults-dht-half
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

dht_nodes=8
net_up 0
dht_start "$dht_nodes"
dht_wait_tables "$dht_nodes" 3 60 || fail "the DHT nodes did not find each other"
ok "DHT testnet of $dht_nodes nodes up"

for k in 1 2 3 4; do node_start "$k"; done
for k in 1 2 3 4; do node_wait_ready "$k"; done
for k in 1 2 3 4; do wait_for "$tmp/node$k.out" '"event":"joined"' 60 || fail "node $k never joined"; done
wait_one_overlay "1 2 3 4" 60 || fail "the first four nodes are not one overlay"
ok "4 topic nodes joined"

kill_ms=$(now_ms)
for k in 1 3 5 7; do
  kill -KILL "${dht_pid[k]}"
  wait "${dht_pid[k]}" 2>/dev/null
done
ok "DHT nodes 1 3 5 7 killed"

for k in 5 6; do node_start "$k"; done
for k in 5 6; do node_wait_ready "$k"; done
for k in 5 6; do wait_for "$tmp/node$k.out" '"event":"joined"' 120 || fail "node $k never joined with half the DHT dead"; done
ok "new nodes joined with half the DHT dead"
wait_one_overlay "1 2 3 4 5 6" 120 || fail "the six nodes are not one overlay ($(components "1 2 3 4 5 6") components)"
for k in 1 2 3 4 5 6; do send "$k" "d-n$k"; done
wait_delivery "1 2 3 4 5 6" "d-n" 5 30 || fail "not every message reached every node"
ok "one overlay of six, every message delivered"

joins=$(for k in 5 6; do grep -m1 '"event":"joined"' "$tmp/node$k.out" | jq .after_ms; done | jq -s -c .)
jq -cn '{scenario: "dht_half_dead", dht_nodes: '"$dht_nodes"', dht_killed: 4, new_node_join_after_ms: '"$joins"',
  kill_to_six_node_overlay_ms: '"$(($(now_ms) - kill_ms))"'}'
echo "$name: $passed passed, 0 failed"
