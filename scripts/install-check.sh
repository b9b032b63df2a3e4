#!/usr/bin/env bash
# Installs a built tree into a temporary prefix and builds a tiny consumer
# against it through find_package(topicswarm), then runs the consumer.
set -euo pipefail
build_dir=${1:?usage: install-check.sh BUILD_DIR}
root=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

cmake --install "$build_dir" --prefix "$tmp/prefix" >/dev/null
cmake -S "$root/tests/install" -B "$tmp/consumer" -DCMAKE_PREFIX_PATH="$tmp/prefix" >/dev/null
cmake --build "$tmp/consumer" -j 2 >/dev/null
LD_LIBRARY_PATH="$tmp/prefix/lib:$tmp/prefix/lib/x86_64-linux-gnu" "$tmp/consumer/consumer"
echo "install-check: 1 passed, 0 failed"
