// Ed25519 keys and the node identity (the node id is the public key).
#pragma once

#include <topicswarm/bytes.hpp>
#include <topicswarm/error.hpp>
#include <topicswarm/export.hpp>
#include <topicswarm/ids.hpp>

#include <filesystem>

namespace topicswarm {

struct public_key_tag {};
struct signature_tag {};
struct seed_tag {};
using public_key = fixed_bytes<32, public_key_tag>;
using signature = fixed_bytes<64, signature_tag>;
// The 32-byte Ed25519 seed from which a key pair is derived (RFC 8032 §5.1.5).
using ed25519_seed = fixed_bytes<32, seed_tag>;

// An Ed25519 key pair. The secret half is wiped when the object dies.
class TOPICSWARM_API keypair {
 public:
  static keypair generate();
  static keypair from_seed(const ed25519_seed& seed);

  keypair(const keypair&) = default;
  keypair& operator=(const keypair&) = default;
  ~keypair();

  const topicswarm::public_key& public_key() const noexcept { return pk_; }
  ed25519_seed seed() const;
  signature sign(byte_span message) const;

 private:
  keypair() = default;
  std::array<std::byte, 64> sk_{};  // libsodium layout: seed || public key
  topicswarm::public_key pk_;
};

TOPICSWARM_API bool verify_signature(const public_key& key, byte_span message, const signature& sig);

// A node's long-term identity. Saved as a small text file readable only by
// its owner (mode 0600); loading refuses a file that others can read.
class TOPICSWARM_API identity {
 public:
  static identity generate();
  static identity from_seed(const ed25519_seed& seed) { return identity(keypair::from_seed(seed)); }
  // Reads an identity file written by save().
  static result<identity> load(const std::filesystem::path& path);
  // Loads the file if it exists, otherwise generates an identity and saves it there.
  static result<identity> load_or_generate(const std::filesystem::path& path);
  // Writes the identity, creating the file with mode 0600 (replacing any old one atomically).
  result<void> save(const std::filesystem::path& path) const;

  node_id id() const noexcept { return *node_id::from_span(keys_.public_key().span()); }
  const keypair& keys() const noexcept { return keys_; }
  signature sign(byte_span message) const { return keys_.sign(message); }

 private:
  explicit identity(keypair k) : keys_(std::move(k)) {}
  keypair keys_;
};

// The node id as an Ed25519 public key (they are the same 32 bytes).
inline public_key to_public_key(const node_id& id) { return *public_key::from_span(id.span()); }

}  // namespace topicswarm
