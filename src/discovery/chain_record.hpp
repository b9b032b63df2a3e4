// The DHT bootstrap chain (issue 14 spec §1 and §5): 16 BEP 44 slots per
// hour, derived from the network id and the network key by repeated hashing,
// each holding one member's signed, encrypted contact (node id, addresses).
// Without the network key nobody can compute where the slots are, write them
// (the BEP 44 signer derives from the key) or read them (XChaCha20-Poly1305
// under a key from the same secret).
//
// Sans-IO: no clock and no RNG here. The caller passes the time (as an epoch
// and a timestamp) and the 24-byte nonce of each record it seals.
#pragma once

#include <topicswarm/bytes.hpp>
#include <topicswarm/endpoint.hpp>
#include <topicswarm/error.hpp>
#include <topicswarm/identity.hpp>
#include <topicswarm/ids.hpp>
#include <topicswarm/record.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <vector>

namespace topicswarm::discovery {

struct chain_secret_tag {};
// One link of the chain: the secret of slot i, from which that slot's BEP 44
// key pair, salt and record key derive in every epoch.
using chain_secret = fixed_bytes<32, chain_secret_tag>;

// An epoch is one hour of unix time: the slots (and their keys) change every
// hour, so a slot locked by a stale record frees itself within the hour.
inline constexpr std::int64_t chain_epoch_ms = 3'600'000;
// How far a record's timestamp (its BEP 44 seq) may lie outside its epoch:
// clock skew between a writer and the epoch it writes.
inline constexpr std::int64_t chain_skew_ms = 60'000;
// Slots per epoch.
inline constexpr std::size_t chain_depth = 16;
// Addresses per contact (as in a peer entry).
inline constexpr std::size_t chain_max_addresses = 8;
inline constexpr std::uint8_t chain_record_format = 1;
inline constexpr std::size_t chain_nonce_size = 24;
// BEP 44 bounds the *bencoded* value to 1000 bytes; our value is a byte
// string, bencoded "996:" + 996 bytes (see dht/bep44.hpp). The largest
// contact (8 IPv6 addresses) seals to 298 bytes, far below.
inline constexpr std::size_t chain_max_value_bytes = 996;

using chain_secrets = std::array<chain_secret, chain_depth>;

// c_0 = H("topicswarm/chain/v1" || network_id || network_key)[0..32],
// c_{i+1} = H("topicswarm/chain-next/v1" || c_i)[0..32], H = SHA-512.
// `network_id32` is the network id's 32 bytes (a network_id's span()).
chain_secrets chain_from(byte_span network_id32, const secret_hash& network_key);

// floor(unix_ms / chain_epoch_ms), also for times before 1970.
std::int64_t epoch_of(std::int64_t unix_ms) noexcept;

// The milliseconds a record of an epoch may carry as its timestamp and seq:
// [e*chain_epoch_ms - chain_skew_ms, e*chain_epoch_ms + chain_epoch_ms - 1 + chain_skew_ms].
// Epochs so far out that this would overflow are clamped (no real clock gets there).
struct chain_ms_range {
  std::int64_t first = 0;
  std::int64_t last = 0;
  bool contains(std::int64_t ms) const noexcept { return ms >= first && ms <= last; }
};
chain_ms_range epoch_range(std::int64_t epoch) noexcept;

// Slot i of epoch e, from c_i:
//   seed = H("topicswarm/chain-slot/v1" || c_i || be64(e))[0..32] -> Ed25519 (BEP 44 signer)
//   salt = H("topicswarm/chain-salt/v1" || c_i || be64(e))[0..16]
//   key  = H("topicswarm/chain-key/v1"  || c_i || be64(e))[0..32] (XChaCha20-Poly1305)
// The record key is wiped when the slot dies.
struct chain_slot {
  keypair signer;
  bytes salt;                     // 16 bytes
  std::array<std::byte, 32> key;  // record key
  ~chain_slot();
};
chain_slot chain_slot_for(const chain_secret& c, std::int64_t epoch);

// What a chain record says: who, when, and where to dial it.
struct chain_contact {
  node_id node;
  std::int64_t timestamp_ms = 0;    // unix ms; also the BEP 44 seq it is stored with
  std::vector<endpoint> addresses;  // 1..chain_max_addresses hints, dialled only to `node`
  friend bool operator==(const chain_contact&, const chain_contact&) = default;
};

// The value to store in slot `slot` (< chain_depth) of `epoch` with
// seq = contact.timestamp_ms, under `s` = chain_slot_for(c_slot, epoch):
//   0x01 || nonce || XChaCha20-Poly1305(s.key, nonce, contact || sig,
//                                       aad = 0x01 || network_wire || be64(epoch) || be32(slot))
// `nonce` must never repeat under one key (the caller's seeded RNG).
// Errors: invalid_argument (signer is not contact.node, no addresses, an
// unspecified address or port 0, slot out of range), chain_record_too_large
// (more than chain_max_addresses addresses), chain_record_seq_out_of_range
// (timestamp outside epoch_range(epoch)).
result<bytes> seal_chain_record(const chain_contact& contact, const identity& signer, const topic_id& network_wire,
                                std::int64_t epoch, std::uint32_t slot, const chain_slot& s,
                                std::span<const std::byte, chain_nonce_size> nonce);

// Reads a value found in slot `slot` of `epoch` with BEP 44 seq `seq`.
// Checks cheapest first, each failure its own code: size (too_large,
// truncated), format byte (bad_format), seq in the epoch's range
// (seq_out_of_range), AEAD (decryption_failed), contact decode (malformed),
// signature by the node (bad_signature), timestamp == seq
// (timestamp_mismatch). Garbage costs no public-key crypto. invalid_argument
// if slot >= chain_depth.
result<chain_contact> open_chain_record(byte_span value, std::int64_t seq, const topic_id& network_wire,
                                        std::int64_t epoch, std::uint32_t slot, const chain_slot& s);

// The pieces of the format, exposed for tests and the fuzzer (which need
// validly encrypted values whose insides are wrong).
namespace chain_format {

inline constexpr std::size_t tag_size = 16;
inline constexpr std::size_t signature_size = 64;
// node + timestamp + n_addr + one IPv4 address
inline constexpr std::size_t min_body_size = 32 + 8 + 1 + 7;
// node + timestamp + n_addr + eight IPv6 addresses
inline constexpr std::size_t max_body_size = 32 + 8 + 1 + chain_max_addresses * 19;
inline constexpr std::size_t overhead = 1 + chain_nonce_size + tag_size;
inline constexpr std::size_t min_value_size = overhead + min_body_size + signature_size;
inline constexpr std::size_t max_value_size = overhead + max_body_size + signature_size;
static_assert(max_value_size <= chain_max_value_bytes);

// node || be64(timestamp_ms) || n_addr || addrs. Writes what it is given
// (no limits checked).
bytes encode_contact_body(const chain_contact& c);
// The inverse; chain_record_malformed on a short input, trailing bytes, an
// address count outside 1..chain_max_addresses or an address that
// decode_endpoint refuses.
result<chain_contact> decode_contact_body(byte_span body);
// "topicswarm/chain-contact/v1" || network_wire || be64(epoch) || be32(slot) || body
bytes signing_message(const topic_id& network_wire, std::int64_t epoch, std::uint32_t slot, byte_span body);
// 0x01 || network_wire || be64(epoch) || be32(slot)
bytes aad(const topic_id& network_wire, std::int64_t epoch, std::uint32_t slot);
// 0x01 || nonce || AEAD(plain): any plaintext, no checks.
bytes seal_plain(byte_span plain, const topic_id& network_wire, std::int64_t epoch, std::uint32_t slot,
                 const chain_slot& s, std::span<const std::byte, chain_nonce_size> nonce);

}  // namespace chain_format

}  // namespace topicswarm::discovery
