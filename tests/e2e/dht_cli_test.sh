#!/usr/bin/env bash
# e2e: `topicswarm testnet` and `topicswarm dht-node` as real processes on
# 127.0.0.1. The node joins the testnet (its routing table fills), both stop
# cleanly on SIGTERM/SIGINT with exit 0, and bad arguments fail clearly.
set -uo pipefail
bin=${1:?usage: dht_cli_test.sh PATH_TO_TOPICSWARM}
name=dht_cli
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

"$bin" testnet --nodes 8 --port-base 0 --json >"$tmp/testnet.out" 2>"$tmp/testnet.err" &
testnet=$!
pids+=("$testnet")
wait_for "$tmp/testnet.out" '"bootstrap"' 60 || fail "testnet printed no bootstrap address"
bootstrap=$(grep -oE '"bootstrap":"[^"]+"' "$tmp/testnet.out" | head -1 | cut -d'"' -f4)
[[ $bootstrap =~ ^127\.0\.0\.1:[0-9]+$ ]] || fail "bootstrap '$bootstrap' is not 127.0.0.1:PORT"
nodes=$(grep -oE '127\.0\.0\.1:[0-9]+' "$tmp/testnet.out" | sort -u | wc -l)
((nodes == 8)) || fail "expected 8 node addresses in the JSON, got $nodes"

"$bin" dht-node --listen 127.0.0.1:0 --bootstrap "$bootstrap" --interval 1 >"$tmp/node.out" 2>"$tmp/node.err" &
node=$!
pids+=("$node")
wait_for "$tmp/node.out" 'routing table: [1-9][0-9]* nodes' 30 || fail "dht-node never reported a filled routing table"

kill -TERM "$node"
wait "$node"
rc=$?
((rc == 0)) || fail "dht-node exited $rc on SIGTERM"
kill -INT "$testnet"
wait "$testnet"
rc=$?
((rc == 0)) || fail "testnet exited $rc on SIGINT"

# Bad input: a clear error and a non-zero exit, promptly.
timeout 20 "$bin" dht-node --listen not-an-address >"$tmp/bad.out" 2>"$tmp/bad.err"
rc=$?
((rc != 0 && rc != 124)) || fail "dht-node with a bad --listen exited $rc"
[[ -s $tmp/bad.err ]] || fail "dht-node with a bad --listen printed no error"

echo "dht_cli: 4 passed, 0 failed"
