// Fuzz target: DHT bootstrap chain records (issue 14 spec §5), at two depths.
// Input: be64 seq || rest (see chain_record_fixture.hpp).
//  1. `rest` as the value stored in the fixture's slot, read with `seq`: the
//     size, format, seq range and AEAD checks. What opens must re-seal to
//     the same bytes.
//  2. `rest` as a plaintext sealed under the real slot key, read with the seq
//     an honest writer would have used (the timestamp inside it): the contact
//     decoder, the signature and the timestamp check. What opens must be the
//     canonical encoding.
// Neither may crash, leak, or accept anything else.
#include "chain_record_fixture.hpp"
#include "discovery/address_codec.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdlib>

using namespace topicswarm;
using namespace topicswarm::discovery;

namespace {

std::int64_t read_be64(const std::byte* p) {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<std::uint8_t>(p[i]);
  return static_cast<std::int64_t>(v);
}

// What any opened contact must satisfy.
void check_accepted(const chain_contact& c, std::int64_t seq) {
  if (c.timestamp_ms != seq) std::abort();
  if (!epoch_range(chain_fuzz::epoch).contains(c.timestamp_ms)) std::abort();
  if (c.addresses.empty() || c.addresses.size() > chain_max_addresses) std::abort();
  for (auto& a : c.addresses)
    if (!encodable(a)) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto& fx = chain_fuzz::the_fixture();
  const auto epoch = chain_fuzz::epoch;
  const auto slot = chain_fuzz::slot;
  const std::byte* in = reinterpret_cast<const std::byte*>(data);
  std::int64_t seq = epoch * chain_epoch_ms;
  byte_span rest(in, size);
  if (size >= 8) {
    seq = read_be64(in);
    rest = rest.subspan(8);
  }

  // Depth 1.
  if (auto c = open_chain_record(rest, seq, fx.network_wire, epoch, slot, fx.keys)) {
    check_accepted(*c, seq);
    // Only our seeds can carry a valid tag, and they are signed by the
    // fixture's node: re-sealing with their nonce gives the same bytes.
    if (c->node == fx.signer.id()) {
      auto again =
          seal_chain_record(*c, fx.signer, fx.network_wire, epoch, slot, fx.keys, rest.subspan<1, chain_nonce_size>());
      if (!again || !std::equal(again->begin(), again->end(), rest.begin(), rest.end())) std::abort();
    }
    // The slot index is bound into the AAD: the same key read as another slot never opens.
    if (open_chain_record(rest, seq, fx.network_wire, epoch, slot + 1, fx.keys)) std::abort();
  }

  // Depth 2.
  if (rest.size() <= chain_max_value_bytes - chain_format::overhead) {
    auto sealed = chain_format::seal_plain(rest, fx.network_wire, epoch, slot, fx.keys, fx.nonce);
    std::int64_t honest = rest.size() >= 40 ? read_be64(rest.data() + 32) : epoch * chain_epoch_ms;
    if (auto c = open_chain_record(sealed, honest, fx.network_wire, epoch, slot, fx.keys)) {
      check_accepted(*c, honest);
      auto body = chain_format::encode_contact_body(*c);
      if (body.size() + chain_format::signature_size != rest.size() ||
          !std::equal(body.begin(), body.end(), rest.begin()))
        std::abort();
      if (c->node == fx.signer.id()) {
        auto again = seal_chain_record(*c, fx.signer, fx.network_wire, epoch, slot, fx.keys, fx.nonce);
        if (!again || *again != sealed) std::abort();
      }
    }
    // Whatever decodes re-encodes to the same bytes.
    if (auto c = chain_format::decode_contact_body(rest)) {
      auto again = chain_format::encode_contact_body(*c);
      if (!std::equal(again.begin(), again.end(), rest.begin(), rest.end())) std::abort();
    }
  }
  return 0;
}
