// The fixed network, epoch and slot the chain record fuzz target reads with.
// Shared with tests/unit/chain_record_test.cpp, which builds the seed corpus
// fuzz/corpus/chain_record/ from them and checks that the committed files
// still match (so a format change cannot silently leave the fuzzer with
// seeds that no longer reach past decryption).
//
// Fuzz input: be64 seq || rest. Depth 1 reads `rest` as a stored value;
// depth 2 seals `rest` as a plaintext under the real slot key, so the
// contact decoder and the signature check see attacker-chosen bytes.
#pragma once

#include "discovery/chain_record.hpp"

#include <topicswarm/identity.hpp>
#include <topicswarm/record.hpp>

#include <array>
#include <cstddef>
#include <cstdint>

namespace topicswarm::chain_fuzz {

inline constexpr std::int64_t epoch = 480'000;  // 2024-10-04 (unix ms 1,728,000,000,000)
inline constexpr std::uint32_t slot = 5;

template <std::size_t N>
std::array<std::byte, N> filled(std::uint8_t b) {
  std::array<std::byte, N> a;
  a.fill(std::byte{b});
  return a;
}

struct fixture {
  std::array<std::byte, 32> network_id = filled<32>(0x4e);
  secret_hash network_key{filled<32>(0x6b)};
  topic_id network_wire{filled<32>(0x77)};
  discovery::chain_secrets chain = discovery::chain_from(network_id, network_key);
  discovery::chain_slot keys = discovery::chain_slot_for(chain[slot], epoch);
  // The node every seed is signed by (Ed25519 signing is deterministic, so
  // the fuzzer can re-seal what opens and expect the same bytes).
  identity signer = identity::from_seed(ed25519_seed{filled<32>(0x11)});
  std::array<std::byte, discovery::chain_nonce_size> nonce = filled<discovery::chain_nonce_size>(0x24);
};

inline const fixture& the_fixture() {
  static const fixture f;
  return f;
}

}  // namespace topicswarm::chain_fuzz
