// Deterministic identities for simulated nodes: Ed25519 seeded with
// SHA-256(tag (8 bytes) || le64(index)). Every swarm derives node n's key the
// same way ("sim-key"), so a scenario that runs two cores (tracker and
// discovery) sees one identity per node; other tags make identities that
// belong to no node (made-up peers in hostile scenarios).
#pragma once

#include "crypto/hash.hpp"

#include <topicswarm/identity.hpp>

#include <array>
#include <cstdint>

namespace topicswarm::sim {

inline identity sim_identity(std::uint64_t index, const char (&tag)[8] = {'s', 'i', 'm', '-', 'k', 'e', 'y', 0}) {
  std::array<std::byte, 16> material{};
  for (std::size_t b = 0; b < 8; ++b) material[b] = static_cast<std::byte>(tag[b]);
  for (std::size_t b = 0; b < 8; ++b) material[8 + b] = static_cast<std::byte>((index >> (8 * b)) & 0xff);
  return identity::from_seed(ed25519_seed(crypto::sha256(material)));
}

}  // namespace topicswarm::sim
