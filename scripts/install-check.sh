#!/usr/bin/env bash
# Installs a built tree into a temporary prefix and builds consumers against it
# through find_package(topicswarm): the tiny tests/install consumer, then the
# examples/ project (two_node_chat: two real nodes on 127.0.0.1; auto_discovery:
# three nodes that find each other through a local DHT testnet; network_catalog:
# four nodes that find a network through the DHT bootstrap chain), and runs them.
set -euo pipefail
build_dir=${1:?usage: install-check.sh BUILD_DIR}
root=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

cmake --install "$build_dir" --prefix "$tmp/prefix" >/dev/null
export LD_LIBRARY_PATH="$tmp/prefix/lib:$tmp/prefix/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

cmake -S "$root/tests/install" -B "$tmp/consumer" -DCMAKE_PREFIX_PATH="$tmp/prefix" >/dev/null
cmake --build "$tmp/consumer" -j 2 >/dev/null
"$tmp/consumer/consumer"

# The examples must build from the installed package alone and run bounded.
cmake -S "$root/examples" -B "$tmp/examples" -DCMAKE_PREFIX_PATH="$tmp/prefix" >/dev/null
cmake --build "$tmp/examples" -j 2 >/dev/null
if ! timeout 60 "$tmp/examples/two_node_chat" >"$tmp/chat.log" 2>&1; then
  cat "$tmp/chat.log"
  echo "install-check: 1 passed, 1 failed (examples/two_node_chat)"
  exit 1
fi
tail -n 1 "$tmp/chat.log"
if ! timeout 60 "$tmp/examples/auto_discovery" >"$tmp/discovery.log" 2>&1; then
  cat "$tmp/discovery.log"
  echo "install-check: 2 passed, 1 failed (examples/auto_discovery)"
  exit 1
fi
tail -n 1 "$tmp/discovery.log"
if ! timeout 60 "$tmp/examples/network_catalog" >"$tmp/network.log" 2>&1; then
  cat "$tmp/network.log"
  echo "install-check: 3 passed, 1 failed (examples/network_catalog)"
  exit 1
fi
tail -n 1 "$tmp/network.log"
echo "install-check: 4 passed, 0 failed"
