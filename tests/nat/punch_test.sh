#!/usr/bin/env bash
# TCP hole punching (docs/PROTOCOL.md §19.8, issue 16) with real topicswarm
# processes, no DHT: public peer p1; private peer ha behind the
# endpoint-independent NAT router a, private peer hb behind the
# endpoint-independent NAT router b (no port mappings; both routers drop
# what nobody inside asked for).
#  1. p1 starts alone; ha joins through p1, then hb joins through p1.
#  2. p1 forwards hb's join to ha (HyParView: p1's active view holds only
#     ha), so ha takes hb as a neighbour. hb advertises only its LAN address,
#     which ha cannot reach, and ha is not reachable itself: a reversal
#     cannot help (hb's dial would die at ha's router), so ha asks p1 to
#     carry a punch. ha and hb exchange, through p1, the addresses p1 sees
#     them at; ha times that round trip, sends the sync and dials half a
#     round trip later, hb dials when the sync arrives; both from their
#     listen ports. Each router then holds a mapping for the other's SYN.
#     (hb hears of ha in p1's join reply too, but it runs with room for one
#     neighbour, --active-view 1, which p1 fills.)
#  3. ha and hb are neighbours, messages cross both ways, and the counters
#     say how: ha asked for a punch (no reversal), hb agreed, both punch
#     dials connected, p1 passed the three messages on. Router a's conntrack
#     holds the connection from ha's listen port straight to router b's
#     public address, established: no third party carries it; both sides
#     report the connection as punched, and ha its NAT as
#     endpoint-independent.
#  4. hs behind a symmetric router (another public port per destination)
#     joins p2 and reports its NAT as endpoint-dependent: the kind hole
#     punching cannot get through.
# PUNCH_ROUTER_OPTS=--reject makes routers a and b answer unsolicited SYNs
# with a reset (not in CI; see docs/BENCHMARKS.md).
# Prints one JSON line with what it measured.
set -uo pipefail
tsbin=${1:-}
name=punch
topic=nat-punch
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
t_start=$(now_ms)
join_no_dht=1

nat_up
pub_host p1
read -ra router_opts <<<"${PUNCH_ROUTER_OPTS:-}"
nat_router a eim "${router_opts[@]}"
nat_host ha a
nat_router b eim "${router_opts[@]}"
nat_host hb b
ok "topology up: public p1 ${nat_ip[p1]}; eim router a ${nat_ip[a]} with ha ${nat_ip[ha]}, eim router b ${nat_ip[b]} with hb ${nat_ip[hb]}"

# --- 1. p1, then ha and hb through p1 ---
peer_start 1 p1
peer_wait_ready 1
peer_start 2 ha --peer "${peer_id[1]}@${nat_ip[p1]}:7000"
peer_wait_ready 2
wait_for "$tmp/peer2.out" '"event":"joined"' 30 || fail "ha never joined p1"
peer_start 3 hb --peer "${peer_id[1]}@${nat_ip[p1]}:7000" --active-view 1
peer_wait_ready 3
t_hb=$(now_ms)
wait_for "$tmp/peer3.out" '"event":"joined"' 30 || fail "hb never joined p1"
ok "p1 alone, ha and hb joined p1"

# On a failure: what each peer's punch and reversal counters say.

# --- 2. ha and hb become neighbours through a punched connection ---
deadline=$((SECONDS + 40))
until grep -qx "${peer_id[3]}" <<<"$(join_neighbours peer2)" && grep -qx "${peer_id[2]}" <<<"$(join_neighbours peer3)"; do
  ((SECONDS < deadline)) || {
    dump_counters punch reversal
    fail "ha and hb never became neighbours (ha: $(join_neighbours peer2 | tr '\n' ' '))"
  }
  sleep 0.2
done
punched_ms=$(($(now_ms) - t_hb))
ok "ha and hb are neighbours ${punched_ms} ms after hb started"
# Checked at once: hb, with room for one neighbour, may later trade ha for p1
# when p1 refills its own view (HyParView), which closes this connection.
ct=$(nat_conntrack a)
grep -E "src=${nat_ip[ha]} dst=${nat_ip[b]} sport=7000 dport=7000 .*src=${nat_ip[b]} dst=${nat_ip[a]} sport=7000 dport=7000" \
  <<<"$ct" | grep -q ESTABLISHED || fail "router a holds no established mapping ha:7000 -> router b:7000"$'\n'"$ct"
ok "router a maps ha:7000 straight to router b:7000 (established): no third party carries the connection"
# And each side says how it is connected (the "network" event on SIGUSR1).
for k in 2 3; do kill -USR1 "${peer_pid[k]}" 2>/dev/null; done
for k in 2 3; do wait_for "$tmp/peer$k.out" '"event":"network"' 10 || fail "peer $k printed no network event"; done
c2=$(conn 2 "${peer_id[3]}") c3=$(conn 3 "${peer_id[2]}")
jq -e --arg r "${nat_ip[b]}:7000" '.path == "punched" and .remote == $r' <<<"$c2" >/dev/null ||
  fail "ha's connection to hb: $c2"
jq -e --arg r "${nat_ip[a]}:7000" '.path == "punched" and .remote == $r' <<<"$c3" >/dev/null ||
  fail "hb's connection to ha: $c3"
[[ $(jq -n --argjson a "$c2" --argjson b "$c3" '$a.dialled != $b.dialled') == true ]] ||
  fail "both or neither side of the punched connection is TLS client"
ok "both say: punched, to the other's router address and port 7000, one of them TLS client"
jq -e '.nat_mapping == "endpoint-independent"' <<<"$(grep -F '"event":"network"' "$tmp/peer2.out" | tail -n 1)" \
  >/dev/null || fail "ha does not know its NAT keeps one port for every destination"
ok "ha: nat_mapping endpoint-independent (p1 and hb, two address ranges, saw it at the same port)"
peers_exchange 2 3 p || fail "messages did not cross between ha and hb"
ok "messages both ways between ha and hb"

# --- 3. the counters, and the routers' view ---
for k in 1 2 3; do kill -USR1 "${peer_pid[k]}" 2>/dev/null; done
for k in 1 2 3; do wait_for "$tmp/peer$k.out" '"event":"stats"' 10 || fail "peer $k printed no stats"; done
v1=$(stats 1 reversal) p2=$(stats 2 punch) p3=$(stats 3 punch) v2=$(stats 2 reversal)
echo "p1 helper counters: $v1"
echo "ha punch counters: $p2"
echo "hb punch counters: $p3"
jq -e '.requested >= 1 and .replies >= 1 and .dials >= 1 and .connected >= 1 and .runs_connected >= 1' <<<"$p2" \
  >/dev/null || fail "ha's counters: expected a punch it asked for that connected"
jq -e '.requested == 0' <<<"$v2" >/dev/null || fail "ha asked for a reversal, not a punch: $v2"
jq -e '.agreed >= 1 and .dials >= 1 and .connected >= 1' <<<"$p3" >/dev/null ||
  fail "hb's counters: expected a punch it agreed to that connected"
jq -e '.forwarded >= 3' <<<"$v1" >/dev/null || fail "p1 did not pass on connect, reply and sync: $v1"
# How the one TCP connection was answered: both punch sockets (simultaneous
# open: both read the other's preamble) or, if one SYN got through first,
# the other side's listener.
opens=$(jq -n --argjson a "$p2" --argjson b "$p3" \
  '$a.simultaneous_opens + $b.simultaneous_opens + $a.listener_answers + $b.listener_answers')
((opens >= 1)) || fail "neither side's punch connect was answered"
ok "counters: ha asked for a punch (no reversal), p1 passed it on, both punch dials connected"

# --- 4. a peer behind a symmetric NAT knows it ---
# hs behind router s (fully-random masquerade) joins p2, whose forwarded
# join makes p1 want hs too (a reversal brings it): p1 and p2, in two
# address ranges, each see hs's listen port come from another public port.
# (Router s and p2 sit outside 203.0.113.0/24, the range of routers a and b:
# p2 would otherwise refuse hs a place in its view, having ha and hb from
# that /24 already.)
pub_host p2 198.18.200.2
nat_router s symmetric --wan 198.18.201.2
nat_host hs s
peer_start 4 p2 --peer "${peer_id[1]}@${nat_ip[p1]}:7000"
peer_wait_ready 4
wait_for "$tmp/peer4.out" '"event":"joined"' 30 || fail "p2 never joined p1"
peer_start 5 hs --peer "${peer_id[4]}@${nat_ip[p2]}:7000"
peer_wait_ready 5
deadline=$((SECONDS + 20))
mapping=""
until [[ $mapping == endpoint-dependent ]]; do
  ((SECONDS < deadline)) || {
    echo "hs transport: $(stats 5 transport)"
    fail "hs never found its NAT endpoint-dependent (last: ${mapping:-none})"
  }
  sleep 0.5
  kill -USR1 "${peer_pid[5]}" 2>/dev/null
  sleep 0.2
  mapping=$(grep -F '"event":"network"' "$tmp/peer5.out" | tail -n 1 | jq -r '.nat_mapping // empty')
done
ok "hs behind a symmetric NAT: nat_mapping endpoint-dependent"

jq -cn --argjson v1 "$v1" --argjson p2 "$p2" --argjson p3 "$p3" --argjson ms "$punched_ms" \
  --argjson total_ms "$(($(now_ms) - t_start))" \
  '{scenario: "punch", neighbours_after_ms: $ms, helper: $v1, requester: $p2, target: $p3, total_ms: $total_ms}'
echo "$name: $passed passed, 0 failed"
