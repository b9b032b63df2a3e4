#!/usr/bin/env bash
# Reachability by dial-back (docs/PROTOCOL.md §19, issue 16) with real
# topicswarm processes: a public peer p1 and a private peer ha behind the
# endpoint-independent NAT router a (no port mapping), a DHT testnet on the
# public segment. Asserts:
#  1. both join one topic over the DHT and messages flow both ways;
#  2. ha finds itself private: p1 tried to dial it back at the router's
#     address and failed, ha says "private", and nothing ha ever advertised
#     (ready event, every reachability event) is a public address: neither
#     the router's address nor anything else a peer or the DHT told it;
#  3. p1 finds itself public: ha dialled it back through the NAT and the
#     probe came in through p1's listener;
#  4. the counters agree (requests served and probes made on both sides,
#     nothing malformed or unexpected);
#  5. behind router u, which runs a real UPnP IGD / NAT-PMP / PCP server
#     (Debian's miniupnpd), peer hu gets its listen port mapped, reports the
#     mapping as an event, has it dialled back and says public, advertising
#     the router's address; when it stops, the mapping is gone from the
#     router; its record in the DHT names the mapped address soon after
#     (the records follow an address change at once). Skipped (and said
#     so) when miniupnpd is not installed.
# Prints one JSON line with what it measured.
set -uo pipefail
tsbin=${1:-}
name=reachability
topic=nat-reachability
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
t_start=$(now_ms)

nat_up
pub_host p1
nat_router a eim
nat_host ha a
dht_nodes=4
dht_start "$dht_nodes"
ok "topology up: public p1 ${nat_ip[p1]}; eim router a ${nat_ip[a]} with ha ${nat_ip[ha]}; $dht_nodes DHT nodes"
dht_wait_tables "$dht_nodes" 2 60 || fail "the DHT nodes did not find each other"

# --- 1. one topic ---
peer_start 1 p1
peer_wait_ready 1
peer_start 2 ha
peer_wait_ready 2
for k in 1 2; do wait_for "$tmp/peer$k.out" '"event":"joined"' 60 || fail "peer $k never joined"; done
peers_exchange 1 2 r || fail "messages did not cross between p1 and ha"
ok "p1 and ha joined one topic; messages both ways"

# reach K: the reachability peer K last reported ("" before any report).
reach() { grep -F '"event":"reachability"' "$tmp/peer$1.out" | tail -n 1 | jq -r '.reachability // empty'; }

# --- 2. ha is private and advertises no public address ---
wait_for "$tmp/peer2.out" '"reachability":"private"' 40 || fail "ha never said private (last: '$(reach 2)')"
public_claims=$(
  grep -E '"event":"(ready|reachability)"' "$tmp/peer2.out" | jq -r '.advertised[]' | sort -u |
    grep -vE '^(192\.168\.|127\.|10\.|\[)' || true
)
[[ -z $public_claims ]] || fail "ha advertised public addresses it was never reached at: $public_claims"
ha_advertised=$(grep -F '"event":"reachability"' "$tmp/peer2.out" | tail -n 1 | jq -c .advertised)
ok "ha is private: p1 could not dial it back at ${nat_ip[a]}; it advertises $ha_advertised only"

# --- 3. p1 is public ---
wait_for "$tmp/peer1.out" '"reachability":"public"' 40 || fail "p1 never said public (last: '$(reach 1)')"
p1_advertised=$(grep -F '"event":"reachability"' "$tmp/peer1.out" | tail -n 1 | jq -c .advertised)
jq -e --arg a "${nat_ip[p1]}:7000" 'index($a) != null' <<<"$p1_advertised" >/dev/null ||
  fail "p1 is public but does not advertise ${nat_ip[p1]}:7000: $p1_advertised"
ok "p1 is public: ha dialled it back through the NAT; it advertises $p1_advertised"

# --- 4. the counters ---
for k in 1 2; do kill -USR1 "${peer_pid[k]}" 2>/dev/null; done
for k in 1 2; do wait_for "$tmp/peer$k.out" '"event":"stats"' 10 || fail "peer $k printed no stats"; done
r1=$(grep -F '"event":"stats"' "$tmp/peer1.out" | tail -n 1 | jq -c .stats.reachability)
r2=$(grep -F '"event":"stats"' "$tmp/peer2.out" | tail -n 1 | jq -c .stats.reachability)
echo "p1 reachability counters: $r1"
echo "ha reachability counters: $r2"
jq -e '.requests_served >= 1 and .probes_failed >= 1 and .proofs_accepted >= 1 and .malformed == 0 and
  .proofs_unexpected == 0' <<<"$r1" >/dev/null ||
  fail "p1's counters: expected a failed probe for ha and a proof from ha"
jq -e '.requests_served >= 1 and .probes_delivered >= 1 and (.results_failed + .check_timeouts) >= 1 and
  .proofs_accepted == 0 and .malformed == 0' <<<"$r2" >/dev/null ||
  fail "ha's counters: expected a delivered probe for p1 and a failed check of its own"
ok "counters: p1 served ha's request (probe failed) and got ha's proof; ha served p1's (delivered), its own check failed"

# --- 5. a port mapping through a real UPnP / NAT-PMP gateway ---
mapped='{"installed": false}'
if [[ -x $(command -v miniupnpd 2>/dev/null || echo /usr/sbin/miniupnpd) ]]; then
  nat_router u eim
  nat_host hu u
  nat_upnp u
  mapped_at="${nat_ip[u]}:7000"
  peer_start 3 hu
  peer_wait_ready 3
  wait_for "$tmp/peer3.out" '"event":"port_mapping","ts_ms":[0-9]*,"ok":true' 30 ||
    fail "hu reported no port mapping (router u runs miniupnpd): $(grep -F port_mapping "$tmp/peer3.out")"
  mapping=$(grep -F '"event":"port_mapping"' "$tmp/peer3.out" | jq -c 'select(.ok)' | head -n 1)
  [[ $(jq -r .external <<<"$mapping") == "$mapped_at" ]] || fail "hu's mapping is not $mapped_at: $mapping"
  # (The rule list is read whole before grep: with pipefail, grep -q quitting
  # early could fail the pipeline on nft's SIGPIPE. NAT-PMP and UPnP both
  # map the port, and miniupnpd may replace the rule: look for 5 s.)
  upnp_rules() { in_host u nft list table inet miniupnpd 2>/dev/null || true; }
  deadline=$((SECONDS + 5))
  until grep -q 'dport 7000' <<<"$(upnp_rules)"; do
    ((SECONDS < deadline)) || fail "router u has no rule for port 7000: $(upnp_rules)"
    sleep 0.2
  done
  ok "hu's listen port is mapped by router u: $(jq -c '{via, external}' <<<"$mapping")"
  wait_for "$tmp/peer3.out" '"reachability":"public"' 40 || fail "hu never said public (last: '$(reach 3)')"
  hu_advertised=$(grep -F '"event":"reachability"' "$tmp/peer3.out" | tail -n 1 | jq -c .advertised)
  jq -e --arg a "$mapped_at" 'index($a) != null' <<<"$hu_advertised" >/dev/null ||
    fail "hu is public but does not advertise $mapped_at: $hu_advertised"
  ok "hu is public through the mapping (dialled back at $mapped_at); it advertises $hu_advertised"
  # Its records follow at once (not at their next refresh): a reader on the
  # public side finds a record of hu's that names the mapped address (hu may
  # also still have one from before, in another slot: any of them counts).
  # (Records live per minute window; reading this one and the last, for up
  # to 75 s, covers a change late in a window and one refresh period.)
  pub_host rd
  reads=0
  deadline=$((SECONDS + 75))
  until grep -qF "\"$mapped_at\"" <<<"${hu_record:-}"; do
    ((SECONDS < deadline)) || fail "no record of hu names $mapped_at (last read: ${hu_record:-none})"
    reads=$((reads + 1))
    hu_record=$(in_host rd "$tsbin" records --json --topic "$topic" --secret "$secret" "${bootstrap_args[@]}" \
      --dht-listen "${nat_ip[rd]}:$((6900 + reads))" --windows 2 --timeout 5 2>>"$tmp/records.err" | tee -a "$tmp/records.out" |
      jq -c --arg p "${peer_id[3]}" 'select(.event=="record" and .publisher==$p)')
  done
  ok "hu's record in the DHT names $mapped_at (read $reads time(s))"
  # A clean stop removes the mapping from the gateway.
  kill -TERM "${peer_pid[3]}" 2>/dev/null
  wait "${peer_pid[3]}" 2>/dev/null
  deadline=$((SECONDS + 15))
  while grep -q 'dport 7000' <<<"$(upnp_rules)"; do
    ((SECONDS < deadline)) || fail "router u still maps port 7000 15 s after hu stopped"
    sleep 0.5
  done
  ok "hu stopped and router u's mapping of port 7000 is gone"
  mapped=$(jq -c --argjson adv "$hu_advertised" '{installed: true, mapping: ., advertised: $adv}' <<<"$mapping")
else
  echo "not checked: miniupnpd is not installed (apt-get install miniupnpd-nftables)"
fi

jq -cn --argjson r1 "$r1" --argjson r2 "$r2" --argjson ha "$ha_advertised" --argjson p1 "$p1_advertised" \
  --argjson mapped "$mapped" --argjson total_ms "$(($(now_ms) - t_start))" \
  '{scenario: "reachability", public_peer: {advertised: $p1, counters: $r1},
    private_peer: {advertised: $ha, counters: $r2}, mapped_peer: $mapped, total_ms: $total_ms}'
echo "$name: $passed passed, 0 failed"
