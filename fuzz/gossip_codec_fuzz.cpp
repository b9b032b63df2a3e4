// Fuzz target: the gossip wire codec, and the protocol cores behind it.
//  1. decode() must never crash, read out of bounds or allocate from an
//     unchecked count; a decoded message must re-encode to exactly the input
//     (the format is canonical).
//  2. A decoded message is fed to a fresh router (from a peer that is already a
//     neighbour), and the timers it schedules are fired once: the cores must
//     drop bad input without crashing.
#include "gossip/codec.hpp"
#include "gossip/router.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdlib>

using namespace topicswarm;
using namespace topicswarm::gossip;

namespace {

node_id peer_id(std::uint8_t b) {
  std::array<std::byte, 32> a{};
  a.fill(std::byte{b});
  return node_id(a);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const byte_span in(reinterpret_cast<const std::byte*>(data), size);
  auto d = decode(in, 4096);
  if (!d) return 0;
  const bytes again = encode(d->first, d->second);
  if (again.size() != size || !std::equal(again.begin(), again.end(), in.begin())) std::abort();

  const peer_info me{peer_id(1), {endpoint::v4({127, 0, 0, 1}, 1)}};
  const peer_info other{peer_id(2), {endpoint::v4({127, 0, 0, 1}, 2)}};
  router r(me, config{}, 7);
  std::vector<routed> out;
  instant now{};
  r.handle(d->first, in::received{other.id, wire::neighbor{priority::high, other.addresses}}, now, out);
  r.handle(d->first, in::broadcast{to_bytes("seed message"), scope::swarm}, now, out);
  out.clear();
  r.handle(d->first, in::received{other.id, d->second}, now, out);
  // Fire what was scheduled, each when it is due (once: timers re-arm themselves).
  std::vector<out::schedule> due;
  for (const auto& o : out)
    if (auto* s = std::get_if<out::schedule>(&o.o)) due.push_back(*s);
  std::stable_sort(due.begin(), due.end(), [](const auto& a, const auto& b) { return a.after < b.after; });
  const instant start = now;
  for (const auto& s : due) {
    now = std::max(now, start + s.after);
    std::vector<routed> more;
    r.handle(d->first, in::timer_fired{s.t}, now, more);
  }
  std::vector<routed> bye;
  r.peer_disconnected(other.id, now, bye);
  r.leave(d->first, now, bye);
  return 0;
}
