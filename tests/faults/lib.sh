# Fault-suite harness: real `topicswarm` processes in network namespaces.
# Sourced by the tests/faults/*_test.sh scripts (CTest label "faults"); the
# sourcing script sets `name` first and passes the CLI and delay_link paths.
#
# Topology (everything is created by the test and removed at exit):
#
#     ns tsf<PID>-n1   ns tsf<PID>-n2   ...   ns tsf<PID>-d1   ...
#     eth0 10.77.1.2   eth0 10.77.2.2         eth0 10.77.101.2
#          |                |                      |
#     -----+----------------+------- br0 ----------+------------  (bridge)
#          ns tsf<PID>-r ("router"): br0 10.77.0.1/16, ip_forward=1
#               |  policy route: packets from br0 -> TUN dly0
#               |  delay_link holds each one --delay-ms, writes it back
#               +  into dly0; from there the main table sends it to br0
#
# - One namespace per process. Topic node k is 10.77.k.2, DHT node k is
#   10.77.(100+k).2, each a /32 whose only routes are to the router
#   (10.77.0.1 on-link, 10.77.0.0/16 via it): two hosts on the bridge never
#   talk at layer 2, so every packet between them is forwarded by the router
#   exactly once per direction and passes the delay link and the nftables
#   forward chain once. ICMP redirects are off on both sides, so nothing
#   learns a shortcut. Each host sits in its own /24, as hosts on the real
#   DHT do (libtorrent keeps one routing-table entry per /24 and bucket).
# - Loss: nftables in the router, `numgen random mod 100 < P drop` on packets
#   entering from br0 (once per packet and direction).
# - Partitions: nftables sets side_a / side_b in the router; traffic between
#   them is dropped in both directions until net_heal.
# - No namespace has a route out: no default route anywhere, the router has
#   no uplink. Nothing is created in the caller's namespace (veth pairs are
#   created inside the router namespace), and nft tables live only in the
#   router namespace, so the host's interfaces, addresses and rules are never
#   touched.
# - Cleanup (trap on EXIT, INT, TERM): every process we started and anything
#   still running in our namespaces is killed (by pid), then the namespaces
#   are deleted (which removes their veths, bridge, TUN and nft tables).
#   Namespaces left by an earlier run that was killed outright (SIGKILL from
#   a CTest timeout) are removed at start when their owner pid is gone.
#
# Skips (exit 77) when not root, or when ip, nft, jq, /dev/net/tun or
# network namespaces are not usable. FAULTS_KEEP_LOGS=1 keeps the log
# directory. The shared pieces (ok, fail, wait_for, cleanup, namespace
# plumbing, DHT testnet, join processes) are in tests/support/.
#
# shellcheck shell=bash
# Variables set here for the sourcing scripts (delay_pid, node_pid, ...) look
# unused to shellcheck when this file is checked alone.
# shellcheck disable=SC2034

set -uo pipefail

tsbin=${tsbin:?the sourcing script sets tsbin to the topicswarm binary}
delay_bin=${delay_bin:-}

# shellcheck source=../support/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/../support/common.sh"
# shellcheck source=../support/netns.sh
source "$(dirname "${BASH_SOURCE[0]}")/../support/netns.sh"
keep_logs_var=FAULTS_KEEP_LOGS

# --- preflight ---
netns_preflight
[[ -c /dev/net/tun ]] || skip "/dev/net/tun is missing (no TUN support)"
[[ -x $tsbin ]] || skip "topicswarm binary '$tsbin' not found"

prefix="tsf$$"
router="$prefix-r"
harness_start "/tmp/$prefix.XXXX"
netns_sweep_stale tsf

# --- the network ---

# in_ns NS CMD...: run CMD in namespace NS.
in_ns() {
  local ns=$1
  shift
  ip netns exec "$ns" "$@"
}

# net_up [DELAY_MS]: the router namespace with its bridge; with DELAY_MS > 0
# the delay link as well (needs delay_bin).
net_up() {
  local delay_ms=${1:-0}
  netns_hub "$router" router 10.77.0.1/16
  # One table for the fault rules; chains are added by net_loss / net_partition.
  in_ns "$router" nft -f - <<'EOF' || skip "nftables is not usable here"
table inet faults {
  set side_a { type ipv4_addr; }
  set side_b { type ipv4_addr; }
  chain forward {
    type filter hook forward priority 0; policy accept;
    iifname "br0" ip saddr @side_a ip daddr @side_b counter drop
    iifname "br0" ip saddr @side_b ip daddr @side_a counter drop
  }
}
EOF
  if ((delay_ms > 0)); then
    [[ -x $delay_bin ]] || skip "delay_link binary '$delay_bin' not found"
    bg_ns "$router" delay_link "$delay_bin" --dev dly0 --delay-ms "$delay_ms"
    delay_pid=$bg_pid
    wait_for "$tmp/delay_link.out" '"event":"ready"' 10 || fail "delay_link did not start"
    ip -n "$router" link set dly0 up || fail "dly0 did not appear"
    in_ns "$router" sysctl -qw net.ipv4.conf.dly0.rp_filter=0 >/dev/null
    ip -n "$router" route add default dev dly0 table 100
    # From br0: through the delay link (local destinations still match the
    # local table first). From dly0: no rule matches, the main table routes.
    ip -n "$router" rule add iif br0 lookup 100 pref 100
  fi
}

# net_host NAME IP: namespace $prefix-NAME on the bridge with address IP/32.
net_host() {
  local host=$1 ip=$2 ns="$prefix-$1"
  netns_new "$ns"
  netns_no_redirects "$ns"
  netns_leg "$router" "$host" "$ns" eth0 "$ip" 10.77.0.1 10.77.0.0/16
}

# net_readdress NAME OLD NEW: the host's address changes from OLD to NEW.
net_readdress() {
  local ns="$prefix-$1"
  ip -n "$ns" addr add "$3/32" dev eth0
  ip -n "$ns" route replace 10.77.0.0/16 via 10.77.0.1 dev eth0 src "$3"
  ip -n "$ns" addr del "$2/32" dev eth0
}

# net_loss PERCENT: drop PERCENT % of the packets forwarded from the bridge.
net_loss() {
  in_ns "$router" nft add rule inet faults forward iifname br0 numgen random mod 100 '<' "$1" counter drop ||
    fail "cannot add the loss rule"
}

# net_partition "IP..." "IP...": no traffic between the two sides.
net_partition() {
  local a b
  a=$(echo "$1" | tr ' ' ',')
  b=$(echo "$2" | tr ' ' ',')
  in_ns "$router" nft add element inet faults side_a "{ $a }" || fail "partition side a"
  in_ns "$router" nft add element inet faults side_b "{ $b }" || fail "partition side b"
}
net_heal() {
  in_ns "$router" nft flush set inet faults side_a
  in_ns "$router" nft flush set inet faults side_b
}
# nft_counters: the fault table with its counters (for the log).
nft_counters() { in_ns "$router" nft list table inet faults; }

# --- processes ---

# DHT testnet: dht_start N (tests/support/netns.sh) starts DHT nodes 1..N
# (host dK, 10.77.(100+K).2, UDP port 6881), node 1 first with no bootstrap,
# the others through 1 and 2. Sets dht_addr[K] and dht_pid[K];
# `bootstrap_args` is --bootstrap for each. dht_wait_tables N MIN SECONDS is
# there too.

# dht_host K: the namespace of DHT node K (for dht_start).
dht_host() {
  local ip="10.77.$((100 + $1)).2"
  net_host "d$1" "$ip"
  dht_addr[$1]="$ip:6881"
}

# Topic nodes: node_start K [ARGS...] starts `topicswarm join --json
# --auto-discovery` as topic node K (host nK, 10.77.K.2, TCP 7000, its DHT
# client on UDP 6881 of the same address), stdin a FIFO held open on
# ${node_in[K]}; output in $tmp/nodeK.out.
# node_listen[K] / node_dht_listen[K]: instead of IP:7000 / IP:6881 (e.g. 0.0.0.0:7000).
declare -a node_in node_pid node_ip node_id node_listen node_dht_listen
topic=${topic:-faults-topic}
secret=${secret:-faults-secret}
node_start() {
  local k=$1 ip ns
  shift
  ip=${node_ip[k]:-10.77.$k.2}
  ns="$prefix-n$k"
  ip netns list | grep -qE "^$ns( |$)" || net_host "n$k" "$ip"
  node_ip[k]=$ip
  join_start "$ns" "node$k" "${node_listen[k]:-$ip:7000}" "${node_dht_listen[k]:-$ip:6881}" "$@"
  node_in[k]=$join_fd
  node_pid[k]=$join_pid
}

# node_wait_ready K: until node K printed ready; sets node_id[K].
node_wait_ready() {
  join_wait_ready "node$1" "node $1"
  node_id[$1]=$join_id
}

# node_kill K: SIGKILL, no goodbye.
node_kill() { join_kill "${node_pid[$1]}" "${node_in[$1]}"; }

# send K TEXT: node K broadcasts TEXT.
send() { echo "$2" >&"${node_in[$1]}"; }

# received_count K PREFIX: distinct received contents of node K starting with PREFIX.
received_count() { join_received "node$1" "$2" 'select(.scope=="swarm")'; }
# duplicates K PREFIX: received contents of node K with PREFIX delivered more than once.
duplicates() {
  grep -F '"event":"received"' "$tmp/node$1.out" | jq -r '.content // empty' | grep -F -- "$2" | sort | uniq -d |
    wc -l
}

# wait_delivery "NODES" PREFIX COUNT SECONDS: every node in NODES received
# COUNT distinct messages starting with PREFIX (its own excluded by the caller).
# Prints the nodes that did not, and returns 1, at the deadline.
wait_delivery() {
  local k deadline=$((SECONDS + $4)) missing
  while :; do
    missing=""
    for k in $1; do
      (($(received_count "$k" "$2") >= $3)) || missing+=" $k"
    done
    [[ -z $missing ]] && return 0
    ((SECONDS < deadline)) || {
      for k in $missing; do echo "node $k received $(received_count "$k" "$2") of $3 '$2' messages"; done
      return 1
    }
    sleep 0.5
  done
}

# neighbours_of K: node K's current neighbours (node ids), from its events.
neighbours_of() { join_neighbours "node$1"; }

# components "NODES": the number of connected components of the overlay among
# NODES (edges: current neighbour relations as either end reports them,
# restricted to NODES).
components() {
  local k
  {
    for k in $1; do echo "node $k ${node_id[k]}"; done
    for k in $1; do neighbours_of "$k" | sed "s/^/edge ${node_id[k]} /"; done
  } | awk '
    function find(x) { while (parent[x] != x) x = parent[x]; return x }
    $1 == "node" { parent[$3] = $3; member[$3] = 1; next }
    $1 == "edge" && ($2 in member) && ($3 in member) { a = find($2); b = find($3); if (a != b) parent[a] = b }
    END { c = 0; for (x in member) if (find(x) == x) c++; print c }'
}

# wait_one_overlay "NODES" SECONDS: until the overlay among NODES is one
# connected component and every node has a neighbour.
wait_one_overlay() {
  local k deadline=$((SECONDS + $2)) lonely
  while :; do
    lonely=0
    for k in $1; do [[ -n $(neighbours_of "$k") ]] || lonely=1; done
    ((lonely == 0)) && (($(components "$1") == 1)) && return 0
    ((SECONDS < deadline)) || return 1
    sleep 1
  done
}
