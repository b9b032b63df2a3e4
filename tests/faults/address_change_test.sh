#!/usr/bin/env bash
# faults e (slow): a node whose address changes. Nodes 1-4 join one topic
# through a DHT testnet of 4; then the address of node 4's namespace changes
# from 10.77.4.2 to 10.77.204.2 (the old one is removed, as after a DHCP
# renewal or a move to another network; the port stays 7000). Asserts, each
# within 150 s of the change (the publisher refreshes records every 10-60 s):
#  1. node 4 is reachable at the new address: a fresh process that knows only
#     NODEID@10.77.204.2:7000 (no DHT) gets node 4 as a neighbour;
#  2. node 4's records say so: `topicswarm records` finds a record published
#     by node 4 in the current window that lists 10.77.204.2:7000 and not the
#     old address;
#  3. node 4 is back in the overlay with nodes 1-3 and messages flow both ways.
# Node 4 listens on 0.0.0.0:7000 (its DHT client on 0.0.0.0:6881) with
# --advertise-interfaces: it advertises what its interfaces carry and reads
# them again every 2 s, so after the change its gossip messages, catalog
# entry and records (at their next refresh) carry the new address. The test
# says which step failed.
set -uo pipefail
tsbin=${1:?usage: address_change_test.sh TOPICSWARM DELAY_LINK}
delay_bin=${2:-}
name=faults_address_change
topic=faults-address-change
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

bound_s=150
old_ip=10.77.4.2
new_ip=10.77.204.2

net_up 0
dht_start 4
dht_wait_tables 4 2 60 || fail "the DHT nodes did not find each other"
node_listen[4]=0.0.0.0:7000
node_dht_listen[4]=0.0.0.0:6881
for k in 1 2 3; do node_start "$k"; done
node_start 4 --advertise-interfaces
for k in 1 2 3 4; do node_wait_ready "$k"; done
for k in 1 2 3 4; do wait_for "$tmp/node$k.out" '"event":"joined"' 60 || fail "node $k never joined"; done
wait_one_overlay "1 2 3 4" 60 || fail "the four nodes are not one overlay"
grep -m1 '"event":"ready"' "$tmp/node4.out" | jq -e --arg a "$old_ip:7000" '.advertised | index($a)' >/dev/null ||
  fail "node 4 does not advertise $old_ip:7000 before the change"
ok "four nodes, one overlay; node 4 advertises $old_ip:7000"

# records_of K FILE: node K's records as `topicswarm records` reads them now.
# Each read comes from a fresh host (10.77.(150+i).2): libtorrent's default
# per-IP rate limit (dht_block_ratelimit, active off loopback) blocks an
# address that bootstraps and reads 5 slots every few seconds, and a blocked
# reader would see an empty DHT, not node K's records.
reads=0
records_of() {
  reads=$((reads + 1))
  local host="r$reads" ip="10.77.$((150 + reads)).2"
  net_host "$host" "$ip"
  ip netns exec "$prefix-$host" "$tsbin" records --json --topic "$topic" --secret "$secret" \
    "${bootstrap_args[@]}" --dht-listen "$ip:6881" --windows 1 --timeout 5 2>>"$tmp/records.err" |
    tee -a "$tmp/records.out" | jq -c --arg p "${node_id[$1]}" 'select(.event=="record" and .publisher==$p)' >"$2"
}
deadline=$((SECONDS + 90))
until records_of 4 "$tmp/records-before.json" && grep -qF "\"$old_ip:7000\"" "$tmp/records-before.json"; do
  ((SECONDS < deadline)) || fail "no record of node 4 listing $old_ip:7000 before the change"
  sleep 5
done
ok "node 4's record lists $old_ip:7000"

change_ms=$(now_ms)
net_readdress n4 "$old_ip" "$new_ip"
ok "node 4's namespace moved from $old_ip to $new_ip"

# 1. Reachable at the new address: process 9 (no DHT) joins through it alone.
node_ip[9]=10.77.9.2
net_host n9 "${node_ip[9]}"
mkfifo "$tmp/node9.in"
exec {probe_fd}<>"$tmp/node9.in"
reach_ms=""
deadline=$((SECONDS + bound_s))
attempt=0
while ((SECONDS < deadline)); do
  attempt=$((attempt + 1))
  timeout 12 ip netns exec "$prefix-n9" "$tsbin" join --json --topic "$topic" --secret "$secret" \
    --listen "${node_ip[9]}:7000" --peer "${node_id[4]}@$new_ip:7000" \
    <"$tmp/node9.in" >"$tmp/probe$attempt.out" 2>"$tmp/probe$attempt.err" &
  probe=$!
  pids+=("$probe")
  if wait_for "$tmp/probe$attempt.out" "\"event\":\"neighbor_up\".*\"peer\":\"${node_id[4]}\"" 10; then
    reach_ms=$(($(now_ms) - change_ms))
  fi
  kill -TERM "$probe" 2>/dev/null
  wait "$probe" 2>/dev/null
  [[ -n $reach_ms ]] && break
  sleep 5
done
[[ -n $reach_ms ]] || fail "step 1: node 4 is not reachable at $new_ip:7000 ${bound_s}s after the change ($attempt dials)"
ok "node 4 reachable at $new_ip:7000 after $reach_ms ms"

# 2. Its records say so.
records_ms=""
deadline=$((SECONDS + bound_s))
while ((SECONDS < deadline)); do
  if records_of 4 "$tmp/records-after.json" && grep -qF "\"$new_ip:7000\"" "$tmp/records-after.json" &&
    ! grep -qF "\"$old_ip:7000\"" "$tmp/records-after.json"; then
    records_ms=$(($(now_ms) - change_ms))
    break
  fi
  sleep 2
done
kill -USR1 "${node_pid[4]}" 2>/dev/null  # its counters (DHT puts, publishes, socket reopens) into the log
sleep 1
stats4=$(grep '"event":"stats"' "$tmp/node4.out" | tail -1)
jq -c '{auto_discovery: .stats.auto_discovery, dht: .stats.dht, stranded_closes: .stats.transport.stranded_closes}' <<<"$stats4"
[[ -n $records_ms ]] || fail "step 2: no record of node 4 lists $new_ip:7000 (and not $old_ip) ${bound_s}s after the change: $(cat "$tmp/records-after.json")"
ok "node 4's record lists $new_ip:7000 after $records_ms ms"
# The node saw the change itself: its DHT sockets were reopened, and the
# connections from the old address closed at once (not after the idle timeout).
jq -e '.stats.dht.network_changes >= 1 and .stats.dht.sockets_opened >= 1 and .stats.transport.stranded_closes >= 1' \
  <<<"$stats4" >/dev/null || fail "node 4's counters do not show the change handled (DHT reopen, stranded connections closed)"
ok "node 4 reopened its DHT sockets and closed the connections stranded on the old address"

# 3. Back in the overlay, messages both ways.
wait_one_overlay "1 2 3 4" "$bound_s" || fail "step 3: node 4 is not back in one overlay with 1-3"
for k in 1 2 3 4; do send "$k" "e-n$k"; done
wait_delivery "1 2 3 4" "e-n" 3 30 || fail "step 3: messages after the change did not reach every node"
ok "node 4 back in the overlay, messages both ways"

jq -cn '{scenario: "address_change", reachable_at_new_address_ms: '"$reach_ms"', record_updated_ms: '"$records_ms"'}'
echo "$name: $passed passed, 0 failed"
