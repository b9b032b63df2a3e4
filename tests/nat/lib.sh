# NAT harness: private LANs behind emulated NAT routers and a public segment,
# all in network namespaces, for the NAT-traversal tests (issue 16). Sourced
# by tests/nat/*_test.sh (CTest label "nat"); the sourcing script sets `name`
# and, if it starts topicswarm processes, `tsbin`.
#
# Topology (everything is created by the test and removed at exit):
#
#   DHT nodes            public hosts             NAT routers
#   ns tsn<PID>-d1 ...   ns tsn<PID>-p1 ...       ns tsn<PID>-a ...
#   eth0 198.18.1.2/32   eth0 198.51.100.10/32    wan0 203.0.113.10/32
#        |                    |                        |
#   -----+--------------------+------- br0 ------------+-------------------
#   ns tsn<PID>-core: br0 198.51.100.1/24, 203.0.113.1/24, 198.18.0.1/15;
#   ip_forward=1, no other interface, no default route
#                                                      |
#                       ns tsn<PID>-a (router): lan0 192.168.10.1/24 (bridge)
#                                                      |
#                              ------+----------------+------  (LAN of a)
#                                    |                |
#                    ns tsn<PID>-h1 eth0 192.168.10.10/24   .11/24 ...
#                    default via 192.168.10.1
#
# - Public segment: public hosts (pub_host) get 198.51.100.K (TEST-NET-2,
#   K = 10, 11, ...), router public legs 203.0.113.K (TEST-NET-3). DHT nodes
#   (dht_start) get 198.18.K.2, one /24 each, from the benchmarking range
#   198.18.0.0/15 (RFC 2544; never routed on the Internet): off loopback,
#   libtorrent keeps one node per /24 and bucket in a routing table and one
#   per /24 in a lookup, and a testnet inside one /24 never formed (measured:
#   routing tables stayed at 0-1 nodes). Every public-side address is a /32
#   whose only routes go to the core (the gateway of its range on-link, the
#   three ranges via it), so every packet between two of them is forwarded by
#   the core once; ICMP redirects are off, so nobody learns a shortcut.
# - NAT routers (nat_router NAME TYPE): router number N (0, 1, ... in creation
#   order) owns the bridge lan0 with 192.168.(10+N).1/24 (or --lan A.B.C); its
#   private hosts (nat_host) are .10, .11, ... /24 with a default route via
#   the router, whose own routes lead only to the public ranges. nftables,
#   table `ip nat_harness`, in the router namespace only:
#     postrouting: oifname "wan0" masquerade               (TYPE eim)
#                  oifname "wan0" masquerade fully-random  (TYPE symmetric)
#     forward (policy drop): ct state established,related accept;
#                  lan0 -> wan0 accept; lan0 -> lan0 accept. Nothing from
#                  wan0 opens a connection into the LAN.
#     input: from wan0 only established/related; anything else is dropped
#                  silently (default) or, with --reject, answered with a TCP
#                  reset / ICMP port unreachable (as some home routers do).
#   eim: Linux masquerade keeps the private source port whenever the
#   resulting tuple is unused (measured: fixed and ephemeral ports both kept),
#   so one private ip:port shows the same public port to every destination
#   (endpoint-independent mapping). Filtering is address-and-port dependent
#   (only conntrack replies come in), as in most home NATs. Two private hosts
#   using one port towards one destination cannot both keep it: the second
#   gets another port (the first one's entry lingers in TIME_WAIT for 120 s).
#   No hairpinning: a private host's packets to its own router's public
#   address are dropped. symmetric: fully-random gives each new connection a
#   random public port (1024-65535), so every destination sees another port
#   (endpoint-dependent mapping). nat_sanity_test.sh measures both, and TCP
#   simultaneous open through them.
#   --reject, measured: the reset a router sends to an early SYN also
#   deletes the sender's own mapping at once (conntrack drops an entry whose
#   only reply is a RST), so a mapping lives only from a SYN to the reset
#   that answers it (one round trip, well under 1 ms here). "Re-dial on
#   refusal" then connects only when both sides' SYNs cross within that
#   window: 8 of 20 tries (3 s each, retry gap 100 ms, start offsets 0-300
#   ms), otherwise 30 refusals a side. Real paths have longer round trips;
#   these namespaces have no delay on the public segment.
# - nat_upnp ROUTER runs miniupnpd (NAT-PMP/PCP, UPnP IGD) in a router, with a
#   STUN server on the public segment (see nat_upnp for why).
# - Bridges are plain layer-2 (bridge-nf-call-* = 0 in our namespaces), so
#   LAN-to-LAN frames never pass the router's nftables or conntrack.
# - Nothing is created in the caller's namespace: veth pairs are created in
#   the core (public side) or the router (LAN side) and one end moved into the
#   new namespace; nft tables and sysctls are set only in our namespaces.
# - Cleanup (trap on EXIT, INT, TERM): every process we started and anything
#   still running in our namespaces is killed (by pid), then the namespaces
#   are deleted (which removes their veths, bridges and nft tables).
#   Namespaces tsn<PID>-* (and log directories /tmp/tsn<PID>.*) of an
#   earlier run whose PID is gone (killed by a CTest timeout) are removed at
#   start, their processes killed first.
# - DHT settings: the testnet nodes run `dht-node --testnet`, which lifts
#   the public DHT's one-node-per-/24 rule and per-IP rate limit (as on
#   loopback). Without it (measured) the four nodes took 42 s, and in one CI
#   run over 60 s, until every routing table held two others, and a node
#   stops answering an IP that sent it more than 50 messages in 10 s, which
#   every private peer behind one router shares. The topic peers keep the
#   real defaults: they are what a user runs.
#
# Skips (exit 77) when not root, or when ip, nft, jq or network namespaces are
# not usable. NAT_KEEP_LOGS=1 keeps the log directory. The shared pieces (ok,
# fail, wait_for, cleanup, namespace plumbing, DHT testnet, join processes)
# are in tests/support/.
#
# shellcheck shell=bash
# Variables set here for the sourcing scripts (nat_type, dht_pid, peer_id, ...)
# look unused to shellcheck when this file is checked alone.
# shellcheck disable=SC2034

set -uo pipefail

tsbin=${tsbin:-}
name=${name:-nat}

# shellcheck source=../support/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/../support/common.sh"
# shellcheck source=../support/netns.sh
source "$(dirname "${BASH_SOURCE[0]}")/../support/netns.sh"
keep_logs_var=NAT_KEEP_LOGS

# --- preflight ---
netns_preflight

nat_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# python3 for the probes and the STUN server: the system interpreter when
# there is one (a version-manager shim costs hundreds of milliseconds a start,
# which would skew timed probes); empty when there is none.
nat_py=/usr/bin/python3
[[ -x $nat_py ]] || nat_py=$(command -v python3 2>/dev/null || true)

prefix="tsn$$"
core="$prefix-core"
harness_start "/tmp/$prefix.XXXX"
netns_sweep_stale tsn
# Their log directories too (kept on purpose only with NAT_KEEP_LOGS).
[[ -n ${NAT_KEEP_LOGS:-} ]] || logs_sweep_stale tsn

# --- the network ---

declare -A nat_ip        # host or router NAME -> its own address (a router: public leg)
declare -A nat_kind      # NAME -> public | router | private
declare -A nat_gw        # private host NAME -> its router's NAME
declare -A nat_lan       # router NAME -> LAN /24 prefix (e.g. 192.168.10)
declare -A nat_type      # router NAME -> eim | symmetric
declare -A nat_lan_hosts # router NAME -> private hosts so far
pub_count=0
router_count=0

# ns_of NAME: the namespace of host or router NAME.
ns_of() { echo "$prefix-$1"; }

# in_host NAME CMD...: run CMD in the namespace of host or router NAME.
in_host() {
  local ns
  ns=$(ns_of "$1")
  shift
  ip netns exec "$ns" "$@"
}

# public_ip NAME: the address others on the public segment see NAME at
# (a private host: its router's public address).
public_ip() {
  case ${nat_kind[$1]:-} in
    private) echo "${nat_ip[${nat_gw[$1]}]}" ;;
    *) echo "${nat_ip[$1]:-}" ;;
  esac
}

# Names become namespace and interface names (c-NAME in the core, l-NAME in a
# router): short, lowercase, unique.
nat_check_name() {
  [[ $1 =~ ^[a-z][a-z0-9]{0,11}$ ]] || fail "bad host name '$1' (want [a-z][a-z0-9]{0,11})"
  [[ $1 != core ]] || fail "host name 'core' is taken"
  [[ -z ${nat_kind[$1]:-} ]] || fail "host name '$1' used twice"
}

# nat_bridge_plain NS: bridged frames in NS skip the IP hooks (br_netfilter).
nat_bridge_plain() {
  local k
  for k in iptables ip6tables arptables; do
    ip netns exec "$1" sysctl -qw "net.bridge.bridge-nf-call-$k=0" >/dev/null 2>&1 || true
  done
}

# nat_up: the core namespace with the public bridge.
nat_up() {
  netns_hub "$core" core 198.51.100.1/24 203.0.113.1/24 198.18.0.1/15
  nat_bridge_plain "$core"
  nft --version >/dev/null 2>&1 || skip "nft does not run"
}

# nat_public_leg NS IFNAME IP GW: a veth from the core's bridge into NS as
# IFNAME with IP/32, routes to the public prefixes via the core at GW.
nat_public_leg() {
  netns_leg "$core" "c-${1#"$prefix"-}" "$1" "$2" "$3" "$4" 198.51.100.0/24 203.0.113.0/24 198.18.0.0/15
}

# pub_host NAME [IP]: a host on the public segment, by default at
# 198.51.100.(10+N); IP may be any address of 198.51.100.0/24 or 198.18.0.0/15
# not taken yet.
pub_host() {
  local name=$1 ip=${2:-} ns gw=198.51.100.1
  nat_check_name "$name"
  if [[ -z $ip ]]; then
    ((pub_count < 240)) || fail "too many public hosts"
    ip="198.51.100.$((10 + pub_count))"
    pub_count=$((pub_count + 1))
  fi
  [[ $ip == 198.18.* || $ip == 198.19.* ]] && gw=198.18.0.1
  ns=$(ns_of "$name")
  netns_new "$ns"
  netns_no_redirects "$ns"
  nat_public_leg "$ns" eth0 "$ip" "$gw"
  nat_ip[$name]=$ip
  nat_kind[$name]=public
}

# nat_router NAME TYPE [--reject] [--lan A.B.C] [--wan IP]: a NAT router with its public
# leg wan0 at 203.0.113.(10+N) and a LAN bridge lan0 at A.B.C.1/24 (default
# 192.168.(10+N)). TYPE: eim | symmetric (see the header). --reject: the
# router answers unsolicited packets from wan0 (TCP reset, ICMP port
# unreachable) instead of dropping them.
nat_router() {
  local name=$1 type=$2 inbound=drop lan="" ns ip="" masq wan_gw=203.0.113.1
  shift 2
  while (($#)); do
    case $1 in
      --reject) inbound=reject ;;
      --wan)
        ip=$2
        shift
        ;;
      --lan)
        lan=$2
        shift
        ;;
      *) fail "nat_router: unknown option $1" ;;
    esac
    shift
  done
  nat_check_name "$name"
  case $type in
    eim) masq="masquerade" ;;
    symmetric) masq="masquerade fully-random" ;;
    *) fail "nat_router: TYPE is eim or symmetric, not '$type'" ;;
  esac
  ((router_count < 240)) || fail "too many routers"
  # Routers share 203.0.113.0/24 unless --wan puts one elsewhere (the
  # benchmarking range 198.18.0.0/15): peers limit neighbours per /24 (view
  # diversity), so private peers behind routers of one /24 compete for those
  # places at a public peer.
  [[ -n $ip ]] || ip="203.0.113.$((10 + router_count))"
  [[ $ip == 198.18.* || $ip == 198.19.* ]] && wan_gw=198.18.0.1
  [[ -n $lan ]] || lan="192.168.$((10 + router_count))"
  router_count=$((router_count + 1))
  ns=$(ns_of "$name")
  netns_new "$ns"
  ip netns exec "$ns" sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=0 \
    net.ipv4.conf.default.rp_filter=0 net.ipv4.conf.all.accept_redirects=0 \
    net.ipv4.conf.default.accept_redirects=0 >/dev/null || fail "router $name sysctls"
  nat_bridge_plain "$ns"
  nat_public_leg "$ns" wan0 "$ip" "$wan_gw"
  ip -n "$ns" link add lan0 type bridge || fail "cannot create the LAN bridge of $name"
  ip -n "$ns" addr add "$lan.1/24" dev lan0
  ip -n "$ns" link set lan0 up
  # Unsolicited packets to the router itself: dropped, or (--reject) TCP gets
  # a reset and the rest an ICMP port unreachable.
  local tcp_verdict=drop other_verdict=drop
  [[ $inbound == reject ]] && tcp_verdict="reject with tcp reset" other_verdict=reject
  ip netns exec "$ns" nft -f - <<EOF || skip "nftables NAT is not usable here"
table ip nat_harness {
  chain postrouting {
    type nat hook postrouting priority srcnat; policy accept;
    oifname "wan0" counter $masq
  }
  chain forward {
    type filter hook forward priority filter; policy drop;
    ct state established,related counter accept
    iifname "lan0" oifname "wan0" counter accept
    iifname "lan0" oifname "lan0" accept
    counter comment "unsolicited from the public side"
  }
  chain input {
    type filter hook input priority filter; policy accept;
    iifname != "wan0" accept
    ct state established,related accept
    meta l4proto tcp counter $tcp_verdict
    counter $other_verdict
  }
}
EOF
  nat_ip[$name]=$ip
  nat_kind[$name]=router
  nat_lan[$name]=$lan
  nat_type[$name]=$type
  nat_lan_hosts[$name]=0
}

# nat_router_forward ROUTER HOST PORT: from now on the router forwards TCP
# PORT on its public address to HOST's PORT (a static port forward, as an
# operator or a late UPnP mapping would add).
nat_router_forward() {
  local router=$1 host=$2 port=$3
  [[ ${nat_kind[$router]:-} == router ]] || fail "nat_router_forward: no router '$router'"
  [[ -n ${nat_ip[$host]:-} ]] || fail "nat_router_forward: no host '$host'"
  in_host "$router" nft -f - <<EOF || fail "cannot add a port forward to $router"
table ip nat_forward {
  chain prerouting {
    type nat hook prerouting priority dstnat; policy accept;
    iifname "wan0" tcp dport $port counter dnat to ${nat_ip[$host]}:$port
  }
}
EOF
  in_host "$router" nft insert rule ip nat_harness forward ct status dnat counter accept ||
    fail "forward rule for the forwarded port in $router"
}

# nat_host NAME ROUTER: a private host on ROUTER's LAN at A.B.C.(10+N)/24,
# default route via the router.
nat_host() {
  local name=$1 router=$2 ns rns ip n
  nat_check_name "$name"
  [[ ${nat_kind[$router]:-} == router ]] || fail "nat_host: no router '$router'"
  n=${nat_lan_hosts[$router]}
  ((n < 240)) || fail "too many hosts behind $router"
  nat_lan_hosts[$router]=$((n + 1))
  ip="${nat_lan[$router]}.$((10 + n))"
  ns=$(ns_of "$name")
  rns=$(ns_of "$router")
  netns_new "$ns"
  ip -n "$rns" link add "l-$name" type veth peer name eth0 netns "$ns" || fail "veth for $name"
  ip -n "$rns" link set "l-$name" master lan0 up
  ip -n "$ns" link set eth0 up
  ip -n "$ns" addr add "$ip/24" dev eth0
  ip -n "$ns" route add default via "${nat_lan[$router]}.1" dev eth0
  nat_ip[$name]=$ip
  nat_kind[$name]=private
  nat_gw[$name]=$router
}

# --- port mapping: miniupnpd (UPnP IGD, NAT-PMP, PCP) in a router ---

# nat_stun_up: a STUN server (stun_server.py) on public host "stun" with a
# second address 198.51.100.250, ports 3478 and 3479 (once per test).
nat_stun=""
nat_stun_alt=198.51.100.250
nat_stun_up() {
  [[ -n $nat_stun ]] && return 0
  [[ -n $nat_py ]] || skip "python3 not found (the STUN server)"
  pub_host stun
  ip -n "$(ns_of stun)" addr add "$nat_stun_alt/32" dev eth0 || fail "second address of the STUN host"
  bg_host stun stun "$nat_py" "$nat_dir/stun_server.py" "${nat_ip[stun]}" "$nat_stun_alt" 3478 3479
  wait_for "$tmp/stun.out" '"listening"' 10 || fail "the STUN server did not start"
  nat_stun=${nat_ip[stun]}
}

# nat_upnp ROUTER: Debian's miniupnpd (package miniupnpd-nftables, 2.3.1) in
# ROUTER: NAT-PMP/PCP on the LAN address port 5351, UPnP IGD (SSDP on lan0,
# HTTP port 5000), mappings of TCP/UDP 1024-65535 to the asking host only
# (secure_mode), as DNAT rules in the router's table `inet miniupnpd`.
# miniupnpd 2.3.1 refuses mappings when the public address is reserved
# (203.0.113.0/24 is: "Reserved / private IP address ... Port forwarding is
# impossible", NAT-PMP result 3), unless STUN (ext_perform_stun, RFC 5780
# change requests) shows the router is not behind another NAT: so a STUN
# server runs on the public segment (nat_stun_up) and the router lets its
# answers in. Waits until miniupnpd says port forwarding is enabled. Skips
# when miniupnpd is not installed. Log: $tmp/upnp-ROUTER.err.
nat_upnp() {
  local router=$1 daemon conf
  [[ ${nat_kind[$router]:-} == router ]] || fail "nat_upnp: no router '$router'"
  daemon=$(command -v miniupnpd 2>/dev/null || echo /usr/sbin/miniupnpd)
  [[ -x $daemon ]] || skip "miniupnpd not found (apt-get install miniupnpd-nftables)"
  nat_stun_up
  in_host "$router" nft -f - <<'EOF' || fail "cannot create the miniupnpd chains in $router"
table inet miniupnpd {
  chain forward { type filter hook forward priority filter - 1; policy accept; jump upnp_forward; }
  chain upnp_forward { }
  chain prerouting { type nat hook prerouting priority dstnat; policy accept; jump upnp_prerouting; }
  chain upnp_prerouting { }
  chain postrouting { type nat hook postrouting priority srcnat - 1; policy accept; jump upnp_postrouting; }
  chain upnp_postrouting { }
}
EOF
  # The harness filter: connections miniupnpd redirected pass; STUN answers
  # from the alternate address and port reach the router itself.
  in_host "$router" nft insert rule ip nat_harness forward ct status dnat counter accept ||
    fail "forward rule for mapped ports in $router"
  in_host "$router" nft insert rule ip nat_harness input iifname wan0 ip saddr "{ $nat_stun, $nat_stun_alt }" \
    udp sport "{ 3478, 3479 }" accept || fail "input rule for STUN answers in $router"
  conf="$tmp/upnp-$router.conf"
  cat >"$conf" <<EOF
ext_ifname=wan0
listening_ip=lan0
http_port=5000
enable_natpmp=yes
enable_upnp=yes
secure_mode=yes
ext_perform_stun=yes
ext_stun_host=$nat_stun
ext_stun_port=3478
uuid=$(printf '%08x-0000-4000-8000-%012x' "$$" "$router_count")
lease_file=$tmp/upnp-$router.leases
upnp_table_name=miniupnpd
upnp_nat_table_name=miniupnpd
upnp_forward_chain=upnp_forward
upnp_nat_chain=upnp_prerouting
upnp_nat_postrouting_chain=upnp_postrouting
allow 1024-65535 ${nat_lan[$router]}.0/24 1024-65535
deny 0-65535 0.0.0.0/0 0-65535
EOF
  # -d: foreground, log to stderr; -P: the pid file in $tmp, not /var/run.
  bg_host "$router" "upnp-$router" "$daemon" -d -f "$conf" -P "$tmp/upnp-$router.pid"
  wait_for "$tmp/upnp-$router.err" 'Port forwarding is now enabled' 15 ||
    fail "miniupnpd in $router did not enable port forwarding"
  wait_for "$tmp/upnp-$router.err" 'Listening for NAT-PMP' 5 || fail "miniupnpd in $router does not listen for NAT-PMP"
}

# nat_counters ROUTER: the router's nft table with counters (for logs).
nat_counters() { in_host "$1" nft list table ip nat_harness; }

# nat_conntrack ROUTER: the router's conntrack table (one entry a line).
nat_conntrack() { in_host "$1" cat /proc/net/nf_conntrack 2>/dev/null; }

# --- processes ---

# bg_host NAME LOG CMD...: run CMD in NAME's namespace in the background,
# stdout/stderr in $tmp/LOG.out / .err; its pid in bg_pid (killed at exit).
bg_host() {
  local ns
  ns=$(ns_of "$1")
  shift
  bg_ns "$ns" "$@"
}

nat_need_tsbin() {
  [[ -n $tsbin && -x $tsbin ]] || skip "topicswarm binary '${tsbin:-}' not found"
}

# DHT testnet: dht_start N (tests/support/netns.sh) starts `topicswarm
# dht-node --testnet` on public hosts d1..dN (198.18.K.2, UDP 6881 of each),
# d1 first with no bootstrap, the others through d1 and d2. Sets dht_addr[K],
# dht_pid[K] and bootstrap_args (--bootstrap for each node).
# dht_wait_tables N MIN SECONDS is there too.
dht_node_args=(--testnet)

# dht_host K: public host dK for DHT node K (for dht_start).
dht_host() {
  nat_need_tsbin
  pub_host "d$1" "198.18.$1.2"
  dht_addr[$1]="${nat_ip[d$1]}:6881"
}

# Topic peers: peer_start K HOST [ARGS...] starts `topicswarm join --json
# --auto-discovery` as peer K in HOST's namespace, listening on HOST's own
# address, TCP 7000 (its DHT client on UDP 6881 of that address), with
# bootstrap_args; stdin a FIFO held open on ${peer_in[K]}; output in
# $tmp/peerK.out. peer_listen[K] / peer_dht_listen[K] override the addresses.
declare -a peer_in peer_pid peer_host peer_id peer_listen peer_dht_listen peer_started_ms
topic=${topic:-nat-topic}
secret=${secret:-nat-secret}
peer_start() {
  local k=$1 host=$2 ip ns
  shift 2
  nat_need_tsbin
  [[ -n ${nat_kind[$host]:-} && ${nat_kind[$host]} != router ]] || fail "peer_start: no host '$host'"
  ip=${nat_ip[$host]}
  ns=$(ns_of "$host")
  peer_host[k]=$host
  peer_started_ms[k]=$(now_ms)
  join_start "$ns" "peer$k" "${peer_listen[k]:-$ip:7000}" "${peer_dht_listen[k]:-$ip:6881}" "$@"
  peer_in[k]=$join_fd
  peer_pid[k]=$join_pid
}

# peer_wait_ready K: until peer K printed ready; sets peer_id[K].
peer_wait_ready() {
  join_wait_ready "peer$1" "peer $1"
  peer_id[$1]=$join_id
}

# peer_joined_ms K: milliseconds from peer_start to peer K's joined event (empty before).
peer_joined_ms() {
  local ts
  ts=$(grep -m1 '"event":"joined"' "$tmp/peer$1.out" 2>/dev/null | jq .ts_ms)
  [[ -n $ts ]] && echo $((ts - peer_started_ms[$1]))
}

# peer_kill K: SIGKILL, no goodbye.
peer_kill() { join_kill "${peer_pid[$1]}" "${peer_in[$1]}"; }

# peers_exchange J K PREFIX: peers J and K (both joined) each broadcast
# "PREFIX-from-J" / "PREFIX-from-K"; until each got the other's (20 s).
peers_exchange() {
  local j=$1 k=$2 deadline=$((SECONDS + 20))
  peer_send "$j" "$3-from-$j"
  peer_send "$k" "$3-from-$k"
  until (($(peer_received "$j" "$3-from-$k") == 1 && $(peer_received "$k" "$3-from-$j") == 1)); do
    ((SECONDS < deadline)) || return 1
    sleep 0.5
  done
}

# stats K PATH: the field PATH (e.g. punch, relay.circuits_done) of peer K's
# last stats event (printed on SIGUSR1), as compact JSON.
stats() { grep -F '"event":"stats"' "$tmp/peer$1.out" | tail -n 1 | jq -c ".stats.$2"; }

# conn K PEER_ID: peer K's connection to PEER_ID in its last network event.
conn() {
  grep -F '"event":"network"' "$tmp/peer$1.out" | tail -n 1 |
    jq -c --arg p "$2" '.connections[] | select(.peer == $p)'
}

# dump_counters FIELD...: asks peers 1-3 for fresh stats and prints those
# fields of each (for a failure's context).
dump_counters() {
  local k f line
  for k in 1 2 3; do kill -USR1 "${peer_pid[k]}" 2>/dev/null; done
  for k in 1 2 3; do wait_for "$tmp/peer$k.out" '"event":"stats"' 10 >/dev/null; done
  for k in 1 2 3; do
    line="peer $k"
    for f in "$@"; do line+=" $f: $(stats "$k" "$f")"; done
    echo "$line"
  done
}

# peer_send K TEXT: peer K broadcasts TEXT.
peer_send() { echo "$2" >&"${peer_in[$1]}"; }

# peer_received K PREFIX: distinct contents received by peer K starting with PREFIX.
peer_received() { join_received "peer$1" "$2"; }

# peer_neighbours K: peer K's current neighbours (node ids), from its events.
peer_neighbours() { join_neighbours "peer$1"; }
