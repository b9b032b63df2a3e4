#!/usr/bin/env bash
# faults a: 5 % loss and 50 ms delay on every link. A DHT testnet of 6
# `topicswarm dht-node` processes and 6 `topicswarm join --auto-discovery`
# processes, each in its own namespace; every packet between two of them
# crosses the router once per direction, where nftables drops 5 % and the
# delay link holds it 50 ms (RTT 100 ms). Asserts: every node joins (first
# neighbour) through the DHT, the overlay is one connected component, and
# every message of every node reaches every other node exactly once.
# Prints one JSON line with join times, delivery times and drop counters.
set -uo pipefail
tsbin=${1:?usage: loss_delay_test.sh TOPICSWARM DELAY_LINK}
delay_bin=${2:?usage: loss_delay_test.sh TOPICSWARM DELAY_LINK}
name=faults_loss_delay
topic=faults-loss-delay
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

nodes=6
dht_nodes=6
per_node=3
loss_pct=5
delay_ms=50

net_up "$delay_ms"
net_loss "$loss_pct"
dht_start "$dht_nodes"
dht_wait_tables "$dht_nodes" 2 60 || fail "the DHT nodes did not find each other under loss and delay"
ok "DHT testnet of $dht_nodes nodes up"

all=$(seq -s ' ' 1 "$nodes")
started_ms=$(now_ms)
for k in $all; do node_start "$k"; done
for k in $all; do node_wait_ready "$k"; done
for k in $all; do
  wait_for "$tmp/node$k.out" '"event":"joined"' 120 || fail "node $k never joined"
done
ok "every node joined"
wait_one_overlay "$all" 120 || fail "the overlay is not one component ($(components "$all") components)"
ok "one overlay"

send_ms=$(now_ms)
for k in $all; do
  for i in $(seq 1 "$per_node"); do send "$k" "a-n$k-m$i"; done
done
expected=$(((nodes - 1) * per_node))
wait_delivery "$all" "a-n" "$expected" 90 || fail "not every message reached every node"
sleep 2 # a duplicate would arrive in this time
for k in $all; do
  (($(duplicates "$k" "a-n") == 0)) || fail "node $k received a message twice"
  (($(grep -F '"event":"sent"' "$tmp/node$k.out" | grep -cF '"content":"a-n') == per_node)) ||
    fail "node $k did not report $per_node sent lines"
done
ok "every message reached every node exactly once"

# --- figures ---
join_after=$(for k in $all; do grep -m1 '"event":"joined"' "$tmp/node$k.out" | jq .after_ms; done | sort -n)
last_rx=$(for k in $all; do grep -F '"event":"received"' "$tmp/node$k.out" | jq -r 'select(.content|startswith("a-n")) | .ts_ms'; done |
  sort -n | tail -1)
dropped=$(nft_counters | grep numgen | grep -oE 'packets [0-9]+' | awk '{print $2}')
kill -TERM "$delay_pid"
wait "$delay_pid" 2>/dev/null
delayed=$(grep '"event":"stopped"' "$tmp/delay_link.out" | jq -c '{packets_in, packets_out, dropped_queue_full}')
jq -cn --argjson joins "$(echo "$join_after" | jq -s .)" --argjson delivered "$((nodes * expected))" \
  --argjson first_to_last "$((last_rx - send_ms))" --argjson dropped "${dropped:-0}" \
  --argjson link "${delayed:-null}" --argjson setup "$((send_ms - started_ms))" \
  '{scenario: "loss_delay", nodes: '"$nodes"', dht_nodes: '"$dht_nodes"', loss_pct: '"$loss_pct"',
    delay_ms_one_way: '"$delay_ms"', join_after_ms: {min: $joins[0], median: $joins[($joins|length)/2|floor], max: $joins[-1]},
    start_to_one_overlay_ms: $setup, messages_delivered: $delivered, messages_expected: $delivered,
    send_to_last_delivery_ms: $first_to_last, packets_dropped_by_loss: $dropped, delay_link: $link}'
echo "$name: $passed passed, 0 failed"
