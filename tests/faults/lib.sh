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
# network namespaces are not usable.

set -uo pipefail

FAULTS_SKIP=77
tsbin=${tsbin:?the sourcing script sets tsbin to the topicswarm binary}
delay_bin=${delay_bin:-}

skip() {
  echo "SKIP: $*"
  exit "$FAULTS_SKIP"
}

# --- preflight ---
((EUID == 0)) || skip "needs root (network namespaces, nftables)"
for tool in ip nft jq; do
  command -v "$tool" >/dev/null 2>&1 || skip "'$tool' not found (apt-get install iproute2 nftables jq)"
done
[[ -c /dev/net/tun ]] || skip "/dev/net/tun is missing (no TUN support)"
[[ -x $tsbin ]] || skip "topicswarm binary '$tsbin' not found"

prefix="tsf$$"
router="$prefix-r"
tmp=$(mktemp -d "/tmp/$prefix.XXXX")
pids=()           # every process we started, killed at exit
namespaces=()     # every namespace we created, deleted at exit
passed=0

# Namespaces of earlier runs whose script is gone (killed without cleanup).
for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E '^tsf[0-9]+-' || true); do
  owner=${ns#tsf}
  owner=${owner%%-*}
  kill -0 "$owner" 2>/dev/null && continue
  for p in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
  ip netns del "$ns" 2>/dev/null
done

faults_cleanup() {
  local p ns
  trap - EXIT INT TERM
  for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
  for ns in "${namespaces[@]}"; do
    for p in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
  done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
  for ns in "${namespaces[@]}"; do ip netns del "$ns" 2>/dev/null; done
  if [[ -n ${FAULTS_KEEP_LOGS:-} ]]; then
    echo "logs kept in $tmp"
  else
    rm -rf "$tmp"
  fi
}
trap faults_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

ok() {
  passed=$((passed + 1))
  echo "ok $passed: $*"
}
# fail MESSAGE: print it, the tail of every log, and exit 1.
fail() {
  echo "FAIL: $*"
  local f
  for f in "$tmp"/*.out "$tmp"/*.err; do
    [[ -s $f ]] || continue
    echo "--- $f"
    tail -n 40 "$f"
  done
  echo "$name: $passed passed, 1 failed"
  exit 1
}
now_ms() { date +%s%3N; }

# wait_for FILE REGEX SECONDS: until a line of FILE matches.
wait_for() {
  local deadline=$((SECONDS + $3))
  while ((SECONDS < deadline)); do
    grep -qE "$2" "$1" 2>/dev/null && return 0
    sleep 0.2
  done
  return 1
}

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
  ip netns add "$router" 2>/dev/null || skip "cannot create network namespaces"
  namespaces+=("$router")
  in_ns "$router" sysctl -qw net.ipv4.conf.all.send_redirects=0 net.ipv4.conf.default.send_redirects=0 \
    net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0 net.ipv4.ip_forward=1 >/dev/null ||
    fail "router sysctls"
  ip -n "$router" link set lo up
  ip -n "$router" link add br0 type bridge || fail "cannot create the bridge"
  ip -n "$router" addr add 10.77.0.1/16 dev br0
  ip -n "$router" link set br0 up
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
    ip netns exec "$router" "$delay_bin" --dev dly0 --delay-ms "$delay_ms" >"$tmp/delay_link.out" 2>"$tmp/delay_link.err" &
    pids+=("$!")
    delay_pid=$!
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
  ip netns add "$ns" || fail "cannot create namespace $ns"
  namespaces+=("$ns")
  ip -n "$router" link add "$host" type veth peer name eth0 netns "$ns" || fail "veth for $host"
  ip -n "$router" link set "$host" master br0 up
  in_ns "$ns" sysctl -qw net.ipv4.conf.all.accept_redirects=0 net.ipv4.conf.default.accept_redirects=0 >/dev/null
  ip -n "$ns" link set lo up
  ip -n "$ns" link set eth0 up
  ip -n "$ns" addr add "$ip/32" dev eth0
  ip -n "$ns" route add 10.77.0.1 dev eth0
  ip -n "$ns" route add 10.77.0.0/16 via 10.77.0.1 dev eth0 src "$ip"
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

# DHT testnet: dht_start N starts DHT nodes 1..N (host dK, 10.77.(100+K).2,
# UDP port 6881), node 1 first with no bootstrap, the others through 1 and 2.
# Sets dht_addr[K] and dht_pid[K]; `bootstrap_args` is --bootstrap for each.
declare -a dht_addr dht_pid
bootstrap_args=()
dht_start() {
  local n=$1 k ip ns
  for ((k = 1; k <= n; k++)); do
    ip="10.77.$((100 + k)).2"
    net_host "d$k" "$ip"
    dht_addr[k]="$ip:6881"
  done
  for ((k = 1; k <= n; k++)); do
    ns="$prefix-d$k"
    local boot=(--no-bootstrap)
    ((k == 2)) && boot=(--bootstrap "${dht_addr[1]}")
    ((k > 2)) && boot=(--bootstrap "${dht_addr[1]}" --bootstrap "${dht_addr[2]}")
    ip netns exec "$ns" "$tsbin" dht-node --listen "${dht_addr[k]}" "${boot[@]}" --interval 2 \
      >"$tmp/dht$k.out" 2>"$tmp/dht$k.err" &
    pids+=("$!")
    dht_pid[k]=$!
    wait_for "$tmp/dht$k.out" 'listening on' 15 || fail "DHT node $k did not start"
  done
  bootstrap_args=()
  for ((k = 1; k <= n; k++)); do bootstrap_args+=(--bootstrap "${dht_addr[k]}"); done
}

# dht_wait_tables N MIN SECONDS: every DHT node 1..N reports MIN+ routing-table nodes.
dht_wait_tables() {
  local k deadline=$((SECONDS + $3))
  for ((k = 1; k <= $1; k++)); do
    until (($(grep -oE 'routing table: [0-9]+' "$tmp/dht$k.out" 2>/dev/null | tail -1 | awk '{print $3}' || echo 0) >= $2)); do
      ((SECONDS < deadline)) || return 1
      sleep 0.5
    done
  done
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
  local k=$1 fd ip ns
  shift
  ip=${node_ip[k]:-10.77.$k.2}
  ns="$prefix-n$k"
  ip netns list | grep -qE "^$ns( |$)" || net_host "n$k" "$ip"
  node_ip[k]=$ip
  mkfifo "$tmp/node$k.in"
  exec {fd}<>"$tmp/node$k.in"
  (
    for f in "${node_in[@]}" "$fd"; do eval "exec $f>&-"; done
    exec ip netns exec "$ns" "$tsbin" join --json --topic "$topic" --secret "$secret" --auto-discovery \
      --listen "${node_listen[k]:-$ip:7000}" --dht-listen "${node_dht_listen[k]:-$ip:6881}" "${bootstrap_args[@]}" "$@" \
      <"$tmp/node$k.in" >>"$tmp/node$k.out" 2>>"$tmp/node$k.err"
  ) &
  node_in[k]=$fd
  node_pid[k]=$!
  pids+=("$!")
}

# node_wait_ready K: until node K printed ready; sets node_id[K].
node_wait_ready() {
  wait_for "$tmp/node$1.out" '"event":"ready"' 30 || fail "node $1 printed no ready line"
  node_id[$1]=$(grep -m1 '"event":"ready"' "$tmp/node$1.out" | jq -r .node_id)
}

# node_kill K: SIGKILL, no goodbye.
node_kill() {
  kill -KILL "${node_pid[$1]}" 2>/dev/null
  wait "${node_pid[$1]}" 2>/dev/null
  eval "exec ${node_in[$1]}>&-"
}

# send K TEXT: node K broadcasts TEXT.
send() { echo "$2" >&"${node_in[$1]}"; }

# received_count K PREFIX: distinct received contents of node K starting with PREFIX.
received_count() {
  grep -F '"event":"received"' "$tmp/node$1.out" | jq -r 'select(.scope=="swarm") | .content // empty' |
    grep -F -- "$2" | sort -u | wc -l
}
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
neighbours_of() {
  jq -r 'select(.event=="neighbor_up" or .event=="neighbor_down") | "\(.event) \(.peer)"' "$tmp/node$1.out" |
    awk '{ if ($1 == "neighbor_up") n[$2]++; else n[$2]-- } END { for (p in n) if (n[p] > 0) print p }'
}

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
