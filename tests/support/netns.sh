# Network-namespace plumbing and topicswarm processes in namespaces, shared by
# the fault suite (tests/faults/lib.sh) and the NAT harness (tests/nat/lib.sh).
# Sourced after common.sh, by a library that sets `prefix` (the namespace name
# prefix, TAG<PID>) and, before starting topicswarm, `tsbin`, `topic`,
# `secret` and (through dht_start) `bootstrap_args`.
#
# Every namespace created here is appended to `namespaces` and every process
# started here to `pids`, so harness_cleanup (common.sh) removes them at exit.
# Nothing is created in the caller's namespace: veth pairs are created inside
# a namespace of ours and one end moved into another of ours.
#
# shellcheck shell=bash
# Arrays filled here for the sourcing scripts (dht_pid, join_pid, ...) look
# unused, and those the sourcing library sets (tmp, tsbin, topic, secret)
# unassigned, to shellcheck when this file is checked alone.
# shellcheck disable=SC2034,SC2154

# netns_preflight: skip unless root with ip, nft and jq.
netns_preflight() {
  local tool
  ((EUID == 0)) || skip "needs root (network namespaces, nftables)"
  for tool in ip nft jq; do
    command -v "$tool" >/dev/null 2>&1 || skip "'$tool' not found (apt-get install iproute2 nftables jq)"
  done
}

# netns_sweep_stale TAG: namespaces TAG<PID>-* of earlier runs whose script
# (PID) is gone, killed without cleanup (SIGKILL from a CTest timeout): their
# processes are killed, then the namespaces deleted.
netns_sweep_stale() {
  local tag=$1 ns owner p
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^${tag}[0-9]+-" || true); do
    owner=${ns#"$tag"}
    owner=${owner%%-*}
    kill -0 "$owner" 2>/dev/null && continue
    for p in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
    ip netns del "$ns" 2>/dev/null
  done
}

# logs_sweep_stale TAG: log directories /tmp/TAG<PID>.* of earlier runs whose
# PID is gone.
logs_sweep_stale() {
  local tag=$1 dir owner
  for dir in "/tmp/$tag"[0-9]*.*; do
    [[ -d $dir ]] || continue
    owner=${dir#"/tmp/$tag"}
    owner=${owner%%.*}
    [[ $owner =~ ^[0-9]+$ ]] || continue
    kill -0 "$owner" 2>/dev/null || rm -rf "$dir"
  done
}

# netns_new NS [skip]: namespace NS (deleted at exit) with its loopback up.
# With "skip", failing to create it skips the test (the first namespace of a
# run: namespaces are not usable here); otherwise it fails.
netns_new() {
  if [[ ${2:-} == skip ]]; then
    ip netns add "$1" 2>/dev/null || skip "cannot create network namespaces"
  else
    ip netns add "$1" || fail "cannot create namespace $1"
  fi
  namespaces+=("$1")
  ip -n "$1" link set lo up
}

# netns_hub NS WHAT ADDR/LEN...: namespace NS as the router of a bridge br0
# with the addresses ADDR/LEN...: forwarding on, no ICMP redirects sent (so
# no host learns a shortcut past it), no reverse-path filter. WHAT names it
# in failure messages.
netns_hub() {
  local ns=$1 what=$2 addr
  shift 2
  netns_new "$ns" skip
  ip netns exec "$ns" sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.send_redirects=0 \
    net.ipv4.conf.default.send_redirects=0 net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0 \
    >/dev/null || fail "$what sysctls"
  ip -n "$ns" link add br0 type bridge || fail "cannot create the bridge of the $what"
  for addr; do ip -n "$ns" addr add "$addr" dev br0; done
  ip -n "$ns" link set br0 up
}

# netns_no_redirects NS: hosts in NS ignore ICMP redirects.
netns_no_redirects() {
  ip netns exec "$1" sysctl -qw net.ipv4.conf.all.accept_redirects=0 net.ipv4.conf.default.accept_redirects=0 >/dev/null
}

# netns_leg HUB HUB_IF NS IF IP GW NET...: a veth from the bridge br0 of
# namespace HUB (its end HUB_IF there) into NS as IF with the address IP/32;
# NS routes GW on-link and each NET via GW with source IP. A /32 whose only
# routes lead to the hub: two hosts on one bridge never talk at layer 2, so
# every packet between them is forwarded by the hub exactly once per
# direction.
netns_leg() {
  local hub=$1 hub_if=$2 ns=$3 ifname=$4 ip=$5 gw=$6 net
  shift 6
  ip -n "$hub" link add "$hub_if" type veth peer name "$ifname" netns "$ns" || fail "veth for ${ns#"$prefix"-}"
  ip -n "$hub" link set "$hub_if" master br0 up
  ip -n "$ns" link set "$ifname" up
  ip -n "$ns" addr add "$ip/32" dev "$ifname"
  ip -n "$ns" route add "$gw" dev "$ifname"
  for net; do ip -n "$ns" route add "$net" via "$gw" dev "$ifname" src "$ip"; done
}

# bg_ns NS LOG CMD...: run CMD in namespace NS in the background, stdout /
# stderr in $tmp/LOG.out / .err; its pid in bg_pid (killed at exit).
bg_pid=""
bg_ns() {
  local ns=$1 log=$2
  shift 2
  ip netns exec "$ns" "$@" >"$tmp/$log.out" 2>"$tmp/$log.err" &
  bg_pid=$!
  pids+=("$bg_pid")
}

# --- topicswarm processes ---

# DHT testnet: dht_start N starts `topicswarm dht-node` on hosts d1..dN (UDP
# 6881 of each), d1 first with no bootstrap, the others through d1 and d2.
# The library defines dht_host K, which creates host dK (namespace
# $prefix-dK) and sets dht_addr[K] to its IP:6881, and may set dht_node_args
# (options of every dht-node). Sets dht_pid[K] and bootstrap_args
# (--bootstrap for each node).
declare -a dht_addr dht_pid
dht_node_args=()
bootstrap_args=()
dht_start() {
  local n=$1 k boot
  for ((k = 1; k <= n; k++)); do dht_host "$k"; done
  for ((k = 1; k <= n; k++)); do
    boot=(--no-bootstrap)
    ((k == 2)) && boot=(--bootstrap "${dht_addr[1]}")
    ((k > 2)) && boot=(--bootstrap "${dht_addr[1]}" --bootstrap "${dht_addr[2]}")
    bg_ns "$prefix-d$k" "dht$k" "$tsbin" dht-node "${dht_node_args[@]}" --listen "${dht_addr[k]}" "${boot[@]}" \
      --interval 2
    dht_pid[k]=$bg_pid
    wait_for "$tmp/dht$k.out" 'listening on' 15 || fail "DHT node $k did not start"
  done
  bootstrap_args=()
  for ((k = 1; k <= n; k++)); do bootstrap_args+=(--bootstrap "${dht_addr[k]}"); done
}

# dht_wait_tables N MIN SECONDS: every DHT node 1..N reports MIN+ routing-table nodes.
dht_wait_tables() {
  local k have deadline=$((SECONDS + $3))
  for ((k = 1; k <= $1; k++)); do
    while :; do
      have=$(grep -oE 'routing table: [0-9]+' "$tmp/dht$k.out" 2>/dev/null | tail -n 1 | awk '{print $3}')
      ((${have:-0} >= $2)) && break
      ((SECONDS < deadline)) || return 1
      sleep 0.5
    done
  done
}

# join_start NS LOG LISTEN DHT_LISTEN [ARGS...]: `topicswarm join --json
# --auto-discovery` in namespace NS on $topic with $secret, listening on
# LISTEN (TCP) and DHT_LISTEN (its DHT client, UDP), with bootstrap_args and
# ARGS; stdin a FIFO $tmp/LOG.in held open here on the descriptor join_fd;
# output appended to $tmp/LOG.out / .err; its pid in join_pid. The process
# inherits none of the other FIFOs' descriptors (join_fds), so closing one
# here is its EOF.
join_fds=()
join_start() {
  local ns=$1 log=$2 listen=$3 dht_listen=$4 fd f
  shift 4
  mkfifo "$tmp/$log.in"
  exec {fd}<>"$tmp/$log.in"
  (
    for f in "${join_fds[@]}" "$fd"; do eval "exec $f>&-"; done
    # join_no_dht=1: no DHT at all (peers join through --peer only).
    local discovery=(--auto-discovery --dht-listen "$dht_listen" "${bootstrap_args[@]}")
    [[ ${join_no_dht:-0} == 1 ]] && discovery=()
    exec ip netns exec "$ns" "$tsbin" join --json --topic "$topic" --secret "$secret" --listen "$listen" \
      "${discovery[@]}" "$@" <"$tmp/$log.in" >>"$tmp/$log.out" 2>>"$tmp/$log.err"
  ) &
  join_fd=$fd
  join_pid=$!
  join_fds+=("$fd")
  pids+=("$join_pid")
}

# join_wait_ready LOG WHO: until $tmp/LOG.out has the ready line (else fail
# "WHO printed no ready line"); sets join_id to its node id.
join_wait_ready() {
  wait_for "$tmp/$1.out" '"event":"ready"' 30 || fail "$2 printed no ready line"
  join_id=$(grep -m1 '"event":"ready"' "$tmp/$1.out" | jq -r .node_id)
}

# join_kill PID FD: SIGKILL, no goodbye; its stdin FIFO closed here.
join_kill() {
  kill -KILL "$1" 2>/dev/null
  wait "$1" 2>/dev/null
  eval "exec $2>&-"
}

# join_received LOG PREFIX [JQ_FILTER]: distinct contents received in
# $tmp/LOG.out starting with PREFIX, of the received events JQ_FILTER selects
# (default: all).
join_received() {
  grep -F '"event":"received"' "$tmp/$1.out" | jq -r "${3:-.} | .content // empty" | grep -F -- "$2" | sort -u |
    wc -l
}

# join_neighbours LOG: the current neighbours (node ids) in $tmp/LOG.out,
# from its neighbor_up / neighbor_down events.
join_neighbours() {
  jq -r 'select(.event=="neighbor_up" or .event=="neighbor_down") | "\(.event) \(.peer)"' "$tmp/$1.out" |
    awk '{ n[$2] += ($1 == "neighbor_up") ? 1 : -1 } END { for (p in n) if (n[p] > 0) print p }'
}
