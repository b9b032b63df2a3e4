#!/usr/bin/env bash
# Connection reversal (docs/PROTOCOL.md §19.7, issue 16) with real
# topicswarm processes, no DHT: public peers p1 and p2, private peer ha
# behind the endpoint-independent NAT router a (no port mapping).
#  1. p1 starts alone, p2 joins through p1 (and dials p1 back: p1 knows it
#     is reachable, so it will ask for reversals, not punches), then ha
#     joins through p2.
#  2. p2 forwards ha's join to p1 (HyParView: p1's active view holds only
#     p2, so p1 takes ha as a neighbour). ha advertises only its LAN address,
#     which p1 may not dial, so p1 asks p2 for a reversal; p2 forwards it to
#     ha with the address it sees p1 at, and ha dials p1 through its NAT.
#     (ha also hears of p1 in p2's join reply, but it runs with room for one
#     neighbour, --active-view 1, which p2 fills: it asks nobody on its own.)
#  3. p1 and ha are neighbours, messages cross both ways, and the counters
#     say how: p1 requested a reversal that succeeded (its dial was reached by
#     ha's connection, nothing waited in vain), p2 forwarded it, ha dialled p1;
#     p1 never dialled ha and no connection went anywhere but these three.
# Prints one JSON line with what it measured.
set -uo pipefail
tsbin=${1:-}
name=reversal
topic=nat-reversal
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
t_start=$(now_ms)
join_no_dht=1

nat_up
pub_host p1
pub_host p2
nat_router a eim
nat_host ha a
ok "topology up: public p1 ${nat_ip[p1]}, p2 ${nat_ip[p2]}; eim router a ${nat_ip[a]} with ha ${nat_ip[ha]}"

# --- 1. p1, then p2 through p1, then ha through p2 ---
peer_start 1 p1
peer_wait_ready 1
peer_start 2 p2 --peer "${peer_id[1]}@${nat_ip[p1]}:7000"
peer_wait_ready 2
wait_for "$tmp/peer2.out" '"event":"joined"' 30 || fail "p2 never joined p1"
# A node asks for a reversal (not a punch) once it knows it is reachable:
# p1's check (p2 dials it back) comes first.
wait_for "$tmp/peer1.out" '"reachability":"public"' 30 || fail "p1 never found itself reachable"
peer_start 3 ha --peer "${peer_id[2]}@${nat_ip[p2]}:7000" --active-view 1
peer_wait_ready 3
t_ha=$(now_ms)
wait_for "$tmp/peer3.out" '"event":"joined"' 30 || fail "ha never joined p2"
ok "p1 alone, p2 joined p1, ha joined p2"

# --- 2. p1 and ha become neighbours through a reversed connection ---
deadline=$((SECONDS + 30))
until grep -qx "${peer_id[3]}" <<<"$(join_neighbours peer1)" && grep -qx "${peer_id[1]}" <<<"$(join_neighbours peer3)"; do
  ((SECONDS < deadline)) || fail "p1 and ha never became neighbours (p1: $(join_neighbours peer1 | tr '\n' ' '))"
  sleep 0.2
done
reversed_ms=$(($(now_ms) - t_ha))
ok "p1 and ha are neighbours ${reversed_ms} ms after ha started"
peers_exchange 1 3 r || fail "messages did not cross between p1 and ha"
ok "messages both ways between p1 and ha"

# --- 3. the counters ---
for k in 1 2 3; do kill -USR1 "${peer_pid[k]}" 2>/dev/null; done
for k in 1 2 3; do wait_for "$tmp/peer$k.out" '"event":"stats"' 10 || fail "peer $k printed no stats"; done
v1=$(stats 1 reversal) v2=$(stats 2 reversal) v3=$(stats 3 reversal)
t1=$(stats 1 transport) t3=$(stats 3 transport)
echo "p1 reversal counters: $v1"
echo "p2 reversal counters: $v2"
echo "ha reversal counters: $v3"
jq -e '.requested >= 1 and .succeeded >= 1 and .dials_reached >= 1 and .dials_not_reached == 0 and
  .unexpected == 0' <<<"$v1" >/dev/null || fail "p1's counters: expected a reversal that succeeded"
jq -e '.forwarded >= 1' <<<"$v2" >/dev/null || fail "p2's counters: expected a forwarded reversal"
jq -e '.dialled >= 1 and .dial_connected >= 1 and .dial_refused == 0' <<<"$v3" >/dev/null ||
  fail "ha's counters: expected a dial made for the reversal that connected"
# p1 dialled nobody (p2 and ha dialled it; probes are counted apart); ha
# dialled p2 and p1, and maybe p2 again: with room for one neighbour it
# trades p2 for p1, and p2, refilling its own view, may ask (by a reversal
# of its own) to have ha back.
jq -e '.dialled == 0 and .accepted >= 2' <<<"$t1" >/dev/null || fail "p1 dialled someone, or did not accept p2 and ha: $t1"
jq -e '.dialled >= 2' <<<"$t3" >/dev/null || fail "ha did not dial p2 and p1: $t3"
ok "counters: p1 asked, p2 forwarded, ha dialled p1; p1 dialled nobody"

jq -cn --argjson v1 "$v1" --argjson v2 "$v2" --argjson v3 "$v3" --argjson ms "$reversed_ms" \
  --argjson total_ms "$(($(now_ms) - t_start))" \
  '{scenario: "reversal", neighbours_after_ms: $ms, requester: $v1, helper: $v2, target: $v3,
    total_ms: $total_ms}'
echo "$name: $passed passed, 0 failed"
