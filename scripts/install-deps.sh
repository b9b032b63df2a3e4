#!/usr/bin/env bash
# Installs exactly the Debian packages topicswarm needs to build, test, fuzz and
# benchmark. Idempotent: runs `apt-get update` and `apt-get install` only when
# a package is missing. Needs root (or sudo) only in that case.
# --quiet: print nothing when every package is present.
set -euo pipefail

quiet=false
[ "${1:-}" = "--quiet" ] && quiet=true

packages=(
  build-essential cmake make pkg-config git
  libtorrent-rasterbar-dev   # Mainline DHT (BEP 5, BEP 44)
  libasio-dev                # standalone Asio: IO, timers, coroutines
  libssl-dev                 # TLS 1.3 transport
  libsodium-dev              # Ed25519, X25519, ChaCha20-Poly1305, SHA-2, HMAC
  libcli11-dev               # command line
  nlohmann-json3-dev         # JSON output
  libspdlog-dev              # logging
  libgtest-dev libgmock-dev  # tests
  libbenchmark-dev           # micro benchmarks
  clang-14 libclang-rt-14-dev  # libFuzzer targets
  iproute2                   # network namespaces for fault tests
  nftables jq                # fault tests: loss and partitions (nft), reading JSON events (jq)
  procps                     # ps/pkill used by e2e scripts
  python3                    # NAT tests: probes and a STUN server (tests/nat)
  miniupnpd-nftables         # NAT tests: a real UPnP IGD / NAT-PMP / PCP gateway in a router namespace
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  $quiet || echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install-deps: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  sudo_cmd=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -q
"${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
