#!/usr/bin/env bash
# faults c: a third of the nodes killed with SIGKILL. 9 topic nodes (and a
# DHT testnet of 6) form one overlay; nodes 3, 6 and 9 are killed at once, no
# goodbye. Asserts: messages the survivors send right after the kill, and
# again after the repair, reach every other survivor; the overlay repairs:
# no survivor keeps a dead neighbour, each has a neighbour, and the
# survivors are one connected component again. Prints one JSON line with the
# measured repair time (kill -> dead neighbours dropped, kill -> one overlay
# among the survivors).
set -uo pipefail
tsbin=${1:?usage: sigkill_third_test.sh TOPICSWARM DELAY_LINK}
delay_bin=${2:-}
name=faults_sigkill_third
topic=faults-sigkill
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

nodes=9
victims="3 6 9"
survivors="1 2 4 5 7 8"

net_up 0
dht_start 6
dht_wait_tables 6 2 60 || fail "the DHT nodes did not find each other"
ok "DHT testnet up"

all=$(seq -s ' ' 1 "$nodes")
for k in $all; do node_start "$k"; done
for k in $all; do node_wait_ready "$k"; done
for k in $all; do wait_for "$tmp/node$k.out" '"event":"joined"' 60 || fail "node $k never joined"; done
wait_one_overlay "$all" 60 || fail "the overlay is not one component before the kill"
for k in $all; do send "$k" "c-before-n$k"; done
wait_delivery "$all" "c-before-n" $((nodes - 1)) 30 || fail "messages before the kill did not reach everyone"
ok "9 nodes, one overlay, every message delivered"

dead_ids=""
for k in $victims; do dead_ids+=" ${node_id[k]}"; done
had_dead=0
for k in $survivors; do
  for d in $dead_ids; do neighbours_of "$k" | grep -qx "$d" && had_dead=$((had_dead + 1)); done
done

kill_ms=$(now_ms)
for k in $victims; do node_kill "$k"; done
# Sent at once: the overlay has holes where the dead nodes were.
for k in $survivors; do send "$k" "c-during-n$k"; done

# Repair: poll the survivors' neighbour lists.
dropped_ms="" overlay_ms=""
deadline=$((SECONDS + 120))
while ((SECONDS < deadline)); do
  stale=0
  for k in $survivors; do
    nb=$(neighbours_of "$k")
    for d in $dead_ids; do grep -qx "$d" <<<"$nb" && stale=1; done
  done
  if ((stale == 0)) && [[ -z $dropped_ms ]]; then dropped_ms=$(($(now_ms) - kill_ms)); fi
  if ((stale == 0)) && wait_one_overlay "$survivors" 0; then
    overlay_ms=$(($(now_ms) - kill_ms))
    break
  fi
  sleep 0.2
done
[[ -n $dropped_ms ]] || fail "survivors still list dead neighbours 120 s after the kill"
[[ -n $overlay_ms ]] || fail "the survivors are not one overlay 120 s after the kill ($(components "$survivors") components)"
ok "overlay repaired: dead neighbours dropped after $dropped_ms ms, one overlay after $overlay_ms ms"

wait_delivery "$survivors" "c-during-n" $((6 - 1)) 60 || fail "messages sent right after the kill did not reach every survivor"
ok "messages sent during the repair reached every survivor"
for k in $survivors; do send "$k" "c-after-n$k"; done
wait_delivery "$survivors" "c-after-n" $((6 - 1)) 30 || fail "messages sent after the repair did not reach every survivor"
for k in $survivors; do
  (($(duplicates "$k" "c-") == 0)) || fail "node $k received a message twice"
done
ok "messages sent after the repair reached every survivor exactly once"

# Earliest moment each survivor's event log no longer holds a dead neighbour
# (from the events' own timestamps, finer than the poll above).
last_down=$(for k in $survivors; do
  for d in $dead_ids; do
    grep -F '"event":"neighbor_down"' "$tmp/node$k.out" | grep -F "\"peer\":\"$d\"" | jq .ts_ms
  done
done | sort -n | tail -1)
jq -cn '{scenario: "sigkill_third", nodes: '"$nodes"', killed: 3, dead_neighbour_links: '"$had_dead"',
  repair_ms: '"$overlay_ms"', dead_neighbours_dropped_ms: '"$dropped_ms"',
  last_neighbor_down_after_kill_ms: '"$((${last_down:-$kill_ms} - kill_ms))"'}'
echo "$name: $passed passed, 0 failed"
