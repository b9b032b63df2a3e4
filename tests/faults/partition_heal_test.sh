#!/usr/bin/env bash
# faults b (slow): a 12-node topic partitioned 6 + 6 for 2 minutes, then
# healed. Nodes 1-6 and 7-12 form one overlay through a DHT testnet of 6
# nodes; then nftables in the router drops every packet between the halves
# (the DHT nodes stay reachable from both, as the public DHT would). Each
# half keeps talking during the cut. After the heal, asserts: the twelve are
# one overlay again within the merge bound (the merges tick every 60-180 s,
# docs/PROTOCOL.md §11.6: 180 s + one read round and dial, so 240 s), and
# messages sent after the heal reach every node. Prints one JSON line with
# the measured merge time.
set -uo pipefail
tsbin=${1:?usage: partition_heal_test.sh TOPICSWARM DELAY_LINK}
delay_bin=${2:-}
name=faults_partition_heal
topic=faults-partition
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

partition_s=${FAULTS_PARTITION_S:-120}
merge_bound_s=240
side_a="1 2 3 4 5 6"
side_b="7 8 9 10 11 12"
all="$side_a $side_b"

net_up 0
dht_start 6
dht_wait_tables 6 2 60 || fail "the DHT nodes did not find each other"
ok "DHT testnet up"

for k in $all; do node_start "$k"; done
for k in $all; do node_wait_ready "$k"; done
for k in $all; do wait_for "$tmp/node$k.out" '"event":"joined"' 60 || fail "node $k never joined"; done
wait_one_overlay "$all" 90 || fail "the 12 nodes are not one overlay ($(components "$all") components)"
for k in $all; do send "$k" "b-before-n$k"; done
wait_delivery "$all" "b-before-n" 11 30 || fail "messages before the partition did not reach everyone"
ok "12 nodes, one overlay, every message delivered"

ips_a="" ips_b=""
for k in $side_a; do ips_a+=" ${node_ip[k]}"; done
for k in $side_b; do ips_b+=" ${node_ip[k]}"; done
cut_ms=$(now_ms)
net_partition "${ips_a# }" "${ips_b# }"
ok "partitioned 6 + 6"

# Each half talks during the cut (this is also what lets the message-overlap
# merge see, after the heal, that the other half's records are foreign).
round=0
while (($(now_ms) - cut_ms < partition_s * 1000)); do
  round=$((round + 1))
  for k in $all; do send "$k" "b-during-r$round-n$k"; done
  sleep 20
done
# Within each half, what was sent once the half had repaired (the last
# round: links across the cut are dropped by the idle timeout within the
# first 30-40 s) reached the half. Messages of the first round, sent while
# the broadcast tree still crossed the cut, reach the nodes whose tree
# survived: PlumTree offers a message (IHAVE) only when it passes, never
# again to a neighbour that arrives later, so their share is reported, not
# asserted.
for k in $side_a; do
  (($(received_count "$k" "b-during-r$round-") >= 5)) ||
    fail "node $k (side a) did not get its half's messages of round $round during the cut"
done
for k in $side_b; do
  (($(received_count "$k" "b-during-r$round-") >= 5)) ||
    fail "node $k (side b) did not get its half's messages of round $round during the cut"
done
first_round=0
for k in $all; do first_round=$((first_round + $(received_count "$k" "b-during-r1-"))); done
ok "each half delivered within itself during the cut"
# What the nodes noticed: neighbour links across the cut dropped during it.
cross_down=0
for k in $side_a; do
  for j in $side_b; do
    cross_down=$((cross_down + $(jq -r --arg p "${node_id[j]}" --argjson t "$cut_ms" \
      'select(.event=="neighbor_down" and .peer==$p and .ts_ms>=$t) | 1' "$tmp/node$k.out" | wc -l)))
  done
done
split_components=$(components "$all")

heal_ms=$(now_ms)
net_heal
ok "healed"
merge_ms=""
deadline=$((SECONDS + merge_bound_s))
while ((SECONDS < deadline)); do
  if wait_one_overlay "$all" 0; then
    merge_ms=$(($(now_ms) - heal_ms))
    break
  fi
  sleep 0.5
done
[[ -n $merge_ms ]] || fail "not one overlay ${merge_bound_s}s after the heal ($(components "$all") components)"
ok "one overlay again $merge_ms ms after the heal"

for k in $all; do send "$k" "b-after-n$k"; done
wait_delivery "$all" "b-after-n" 11 60 || fail "messages sent after the heal did not reach every node"
for k in $all; do (($(duplicates "$k" "b-after-n") == 0)) || fail "node $k received a message twice"; done
ok "messages sent after the heal reached every node exactly once"

jq -cn '{scenario: "partition_heal", nodes: 12, partition_s: '"$partition_s"',
  components_seen_at_heal: '"$split_components"', cross_neighbor_down_during_cut: '"$cross_down"',
  first_round_in_half_delivered: '"$first_round"', first_round_in_half_expected: 60,
  merge_ms: '"$merge_ms"', merge_bound_ms: '"$((merge_bound_s * 1000))"'}'
echo "$name: $passed passed, 0 failed"
