// Fuzz target: the nat frame decoder (nat/reachability.hpp), what any
// connected peer sends on frame kind 7 and what a probe connection carries.
// Any input must yield a message or an error; a message must re-encode to
// exactly the input. Decoded messages are fed to a reachability state from
// a connected peer and over a probe connection: whatever they say, no
// candidate is confirmed (no request was made), and a probe is only ever
// aimed at the peer's own IP as its connection shows it.
#include "nat/reachability.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdlib>

using namespace topicswarm;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const byte_span body(reinterpret_cast<const std::byte*>(data), size);
  auto m = nat::wire::decode(body);
  if (!m) return 0;
  const bytes again = nat::wire::encode(*m);
  if (!std::equal(again.begin(), again.end(), body.begin(), body.end())) std::abort();

  static const node_id peer = *node_id::from_span(bytes(32, std::byte{2}));
  static const endpoint ours = endpoint::v4({198, 51, 100, 10}, 7000);
  static const endpoint theirs = endpoint::v4({203, 0, 113, 10}, 46573);
  nat::state st(nat::config{}, 1);
  std::vector<nat::out::output> out;
  core::instant now{};
  st.handle(nat::in::local_addresses{{ours}, {ours}}, now, out);
  st.handle(nat::in::link_up{peer, nat::link_ends{ours, theirs}, true}, now, out);
  for (int i = 0; i < 3; ++i) {
    st.handle(nat::in::received{peer, nat::link_ends{ours, theirs}, *m}, now, out);
    st.handle(nat::in::probe_received{peer, theirs, *m}, now, out);
    now += std::chrono::seconds(1);
  }
  if (!st.confirmed().empty()) std::abort();
  if (st.stats().proofs_accepted != 0) std::abort();
  for (const auto& o : out) {
    const auto* p = std::get_if<nat::out::probe>(&o);
    if (p && (p->to != peer || p->address.ip != theirs.ip || p->address.fam != theirs.fam)) std::abort();
  }
  return 0;
}
