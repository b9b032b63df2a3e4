#!/usr/bin/env bash
# Relaying (docs/PROTOCOL.md §19.9, issue 16) with real topicswarm
# processes, no DHT: public peer p1 serving relays (--relay-serve); private
# peer ha behind router a and private peer hb behind router b, both
# endpoint-dependent ("symmetric": fully-random masquerade), the routers in
# two address ranges.
#  1. p1 starts alone; ha joins through p1, then hb joins through p1.
#  2. p1's forwarded join makes ha want hb. Neither can be dialled, ha is not
#     reachable, so ha asks p1 to carry a punch; both dial, but each router
#     gives the punch another public port than the one p1 saw, so no SYN
#     finds a mapping and the punch fails at the end of its window. ha's dial
#     then asks p1 for a relay circuit; p1 offers it to hb; both connect to
#     p1 with the circuit's token, p1 pairs them and copies bytes, and ha
#     and hb run TLS to each other through it.
#  3. ha and hb are neighbours; messages cross both ways; both report the
#     connection as "relayed" with p1's address as the remote end; p1's
#     counters show the circuit and the bytes it copied, while p1 has no
#     connection of its own that TLS proved to be between them (it holds
#     only its own links to ha and hb, and the circuit's raw sockets).
#  4. Router b now forwards port 7000 to hb (a port forward, as an operator
#     or a late UPnP mapping adds). ha, which asked for the relay, punches
#     again (--relay-upgrade-after 4: 4 s after the relayed connection came
#     up, then 8 s later, ...), coordinated with hb over the relayed
#     connection itself (each knows the other's IP from p1); its SYN reaches
#     hb's listener through the forward. The punched connection replaces
#     the relayed one on both ends without a disconnect, the circuit at p1
#     ends, and messages still cross.
# Prints one JSON line with what it measured.
# The requester's gossip request waits while the transport dials (the
# punch's 5 s window, then the relay): neighbours after about 5 s.
set -uo pipefail
tsbin=${1:-}
name=relay
topic=nat-relay
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
t_start=$(now_ms)
join_no_dht=1

nat_up
pub_host p1
nat_router a symmetric
nat_host ha a
nat_router b symmetric --wan 198.18.210.2
nat_host hb b
ok "topology up: relay p1 ${nat_ip[p1]}; symmetric router a ${nat_ip[a]} with ha, symmetric router b ${nat_ip[b]} with hb"


# --- 1. p1, then ha and hb through p1 ---
peer_start 1 p1 --relay-serve
peer_wait_ready 1
peer_start 2 ha --peer "${peer_id[1]}@${nat_ip[p1]}:7000" --relay-upgrade-after 4
peer_wait_ready 2
wait_for "$tmp/peer2.out" '"event":"joined"' 30 || fail "ha never joined p1"
peer_start 3 hb --peer "${peer_id[1]}@${nat_ip[p1]}:7000" --active-view 1 --relay-upgrade-after 4
peer_wait_ready 3
t_hb=$(now_ms)
wait_for "$tmp/peer3.out" '"event":"joined"' 30 || fail "hb never joined p1"
ok "p1 alone, ha and hb joined p1"

# --- 2. the punch fails, the relay carries the connection ---
deadline=$((SECONDS + 45))
until grep -qx "${peer_id[3]}" <<<"$(join_neighbours peer2)" && grep -qx "${peer_id[2]}" <<<"$(join_neighbours peer3)"; do
  ((SECONDS < deadline)) || {
    dump_counters punch relay
    fail "ha and hb never became neighbours (ha: $(join_neighbours peer2 | tr '\n' ' '))"
  }
  sleep 0.2
done
relayed_ms=$(($(now_ms) - t_hb))
ok "ha and hb are neighbours ${relayed_ms} ms after hb started"

for k in 2 3; do kill -USR1 "${peer_pid[k]}" 2>/dev/null; done
for k in 2 3; do wait_for "$tmp/peer$k.out" '"event":"network"' 10 || fail "peer $k printed no network event"; done
c2=$(conn 2 "${peer_id[3]}") c3=$(conn 3 "${peer_id[2]}")
jq -e --arg r "${nat_ip[p1]}:7000" '.path == "relayed" and .remote == $r' <<<"$c2" >/dev/null ||
  fail "ha's connection to hb: $c2"
jq -e --arg r "${nat_ip[p1]}:7000" '.path == "relayed" and .remote == $r' <<<"$c3" >/dev/null ||
  fail "hb's connection to ha: $c3"
ok "both say: relayed, through p1 (${nat_ip[p1]}:7000)"
peers_exchange 2 3 m || fail "messages did not cross between ha and hb"
ok "messages both ways between ha and hb"

# --- 3. the counters ---
for k in 1 2 3; do kill -USR1 "${peer_pid[k]}" 2>/dev/null; done
for k in 1 2 3; do wait_for "$tmp/peer$k.out" '"event":"stats"' 10 || fail "peer $k printed no stats"; done
r1=$(stats 1 relay) r2=$(stats 2 relay) r3=$(stats 3 relay) p2=$(stats 2 punch)
echo "p1 relay counters: $r1"
echo "ha relay counters: $r2"
echo "hb relay counters: $r3"
echo "ha punch counters: $p2"
jq -e '.requested >= 1 and .failed >= 1' <<<"$p2" >/dev/null || fail "ha's punch did not fail first: $p2"
jq -e '.requested >= 1 and .agreed >= 1 and .connected >= 1' <<<"$r2" >/dev/null || fail "ha's relay counters: $r2"
jq -e '.offers_taken >= 1 and .connected >= 1' <<<"$r3" >/dev/null || fail "hb's relay counters: $r3"
jq -e '.circuits_agreed >= 1 and .ends_admitted >= 2 and .circuits_running >= 1 and .relayed_bytes > 0' <<<"$r1" \
  >/dev/null || fail "p1's relay counters: $r1"
ok "counters: ha's punch failed, p1 agreed a circuit and copies bytes ($(jq .relayed_bytes <<<"$r1") so far), both ends connected"
# p1 is no TLS end of the ha-hb connection: its own connections are to ha and hb.
p1_conns=$(kill -USR1 "${peer_pid[1]}"; sleep 0.3; grep -F '"event":"network"' "$tmp/peer1.out" | tail -n 1 | jq -c '[.connections[].peer]')
jq -e --arg a "${peer_id[2]}" --arg b "${peer_id[3]}" 'all(. == $a or . == $b)' <<<"$p1_conns" >/dev/null ||
  fail "p1's connections: $p1_conns"
p1_circuits=$(grep -F '"event":"network"' "$tmp/peer1.out" | tail -n 1 | jq -c '.relay_circuits')
jq -e --arg a "${peer_id[2]}" --arg b "${peer_id[3]}" \
  'length == 1 and .[0].requester == $a and .[0].target == $b and .[0].running' <<<"$p1_circuits" >/dev/null ||
  fail "p1's relay circuits: $p1_circuits"
ok "p1's own TLS connections go to ha and hb only; it reads nothing of theirs; its status lists the running circuit ha -> hb"

# --- 4. hb becomes reachable through a port forward: a punch replaces the relay ---
nat_router_forward b hb 7000
t_forward=$(now_ms)
deadline=$((SECONDS + 45))
for (( ; ; )); do
  for k in 2 3; do kill -USR1 "${peer_pid[k]}" 2>/dev/null; done
  sleep 0.5
  c2=$(conn 2 "${peer_id[3]}") c3=$(conn 3 "${peer_id[2]}")
  jq -e '.path == "punched"' <<<"$c2" >/dev/null 2>&1 && jq -e '.path == "punched"' <<<"$c3" >/dev/null 2>&1 && break
  ((SECONDS < deadline)) || {
    dump_counters punch relay
    fail "the relayed connection was not replaced (ha: $c2; hb: $c3)"
  }
done
upgraded_ms=$(($(now_ms) - t_forward))
jq -e --arg r "${nat_ip[b]}:7000" '.remote == $r' <<<"$c2" >/dev/null || fail "ha's punched connection: $c2"
jq -e --arg r "${nat_ip[a]}:" '.remote | startswith($r)' <<<"$c3" >/dev/null || fail "hb's punched connection: $c3"
ok "a punch replaced the relayed connection ${upgraded_ms} ms after the forward appeared: both say punched, with the other's router as remote"
grep -F '"event":"peer_disconnected"' "$tmp/peer2.out" | grep -qF "${peer_id[3]}" && fail "ha saw hb disconnect"
grep -F '"event":"peer_disconnected"' "$tmp/peer3.out" | grep -qF "${peer_id[2]}" && fail "hb saw ha disconnect"
peers_exchange 2 3 u || fail "messages did not cross after the upgrade"
ok "no disconnect; messages both ways on the punched connection"
deadline=$((SECONDS + 20))
for (( ; ; )); do
  kill -USR1 "${peer_pid[1]}" 2>/dev/null
  sleep 0.3
  r1=$(stats 1 relay)
  jq -e '.circuits_running == 0 and .circuits_done >= 1' <<<"$r1" >/dev/null && break
  ((SECONDS < deadline)) || fail "p1's circuit did not end after the upgrade: $r1"
done
for k in 2 3; do kill -USR1 "${peer_pid[k]}" 2>/dev/null; done
for k in 2 3; do wait_for "$tmp/peer$k.out" '"event":"stats"' 10 >/dev/null; done
sleep 0.3
r2=$(stats 2 relay) r3=$(stats 3 relay)
jq -e '.upgrade_attempts >= 1 and .upgrades == 1' <<<"$r2" >/dev/null || fail "ha's upgrade counters: $r2"
jq -e '.upgrade_attempts == 0 and .upgrades == 1' <<<"$r3" >/dev/null || fail "hb's upgrade counters: $r3"
ok "p1's circuit ended ($(jq .relayed_bytes <<<"$r1") bytes); ha tried $(jq .upgrade_attempts <<<"$r2") upgrade(s), hb none; each end counts one upgrade"

jq -cn --argjson r1 "$r1" --argjson r2 "$r2" --argjson r3 "$r3" --argjson ms "$relayed_ms" \
  --argjson up "$upgraded_ms" --argjson total_ms "$(($(now_ms) - t_start))" \
  '{scenario: "relay", neighbours_after_ms: $ms, upgraded_after_forward_ms: $up, relay: $r1, requester: $r2, target: $r3,
    total_ms: $total_ms}'
echo "$name: $passed passed, 0 failed"
