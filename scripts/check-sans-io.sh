#!/usr/bin/env bash
# Fails if a sans-IO core (src/gossip, src/tracker, src/discovery, src/admission) reaches for
# IO, threads, the clock or a global RNG (DESIGN.md §3: "Cores include no
# Asio, no libtorrent, no sockets, no threads, and never read the clock or a
# global RNG"). Run by CTest as arch.sans_io_includes.
#
# usage: scripts/check-sans-io.sh [SOURCE_DIR]   (default: the repository root)
#
# Checked:
#  - #include of asio, boost, libtorrent, openssl, sockets (sys/socket.h,
#    netinet/*, arpa/inet.h), <thread>, <mutex>, <shared_mutex>, <condition_variable>;
#  - reading a clock: system_clock / steady_clock / high_resolution_clock ::now,
#    time(nullptr), gettimeofday, clock_gettime;
#  - global randomness: std::random_device, rand(), srand().
# `//` comments are ignored, so a comment may name what the code must not do.
set -u
root="${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
dirs=(src/gossip src/tracker src/discovery src/admission)

include_re='^[[:space:]]*#[[:space:]]*include[[:space:]]*[<"][[:space:]]*((asio|boost|libtorrent|openssl)([/._>"]|$)|sys/socket\.h|netinet/|arpa/inet\.h|(thread|mutex|shared_mutex|condition_variable)[>"])'
use_re='(system_clock|steady_clock|high_resolution_clock)[[:space:]]*::[[:space:]]*now|random_device|(^|[^[:alnum:]_.>:])(std::)?s?rand[[:space:]]*\(|(^|[^[:alnum:]_])time[[:space:]]*\([[:space:]]*(NULL|nullptr|0)[[:space:]]*\)|gettimeofday|clock_gettime'

violations=0
checked=0
for d in "${dirs[@]}"; do
  [[ -d "$root/$d" ]] || continue
  while IFS= read -r -d '' f; do
    checked=$((checked + 1))
    rel="${f#"$root"/}"
    # Strip // comments and single-line /* */ comments; line numbers are kept.
    stripped=$(sed -E -e 's@/\*.*\*/@@g' -e 's@//.*$@@' "$f")
    while IFS= read -r hit; do
      [[ -n "$hit" ]] || continue
      echo "$rel:$hit" >&2
      violations=$((violations + 1))
    done < <(printf '%s\n' "$stripped" | grep -nE -e "$include_re" -e "$use_re")
  done < <(find "$root/$d" -type f \( -name '*.hpp' -o -name '*.cpp' -o -name '*.h' -o -name '*.ipp' \) -print0 | sort -z)
done

if (( violations > 0 )); then
  echo "check-sans-io: $violations violation(s): sans-IO cores must not include IO, thread or clock headers, read a clock or use a global RNG (DESIGN.md §3)" >&2
  exit 1
fi
echo "check-sans-io: $checked file(s) under ${dirs[*]} are sans-IO"
