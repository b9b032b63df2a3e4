#include "discovery/chain_record.hpp"

#include "core/codec.hpp"
#include "crypto/hash.hpp"
#include "crypto/sodium.hpp"
#include "discovery/address_codec.hpp"

#include <algorithm>
#include <cassert>
#include <string>
#include <string_view>

namespace topicswarm::discovery {

using core::byte_reader;
using core::byte_writer;
using crypto::uc;

namespace {

constexpr std::string_view chain_label = "topicswarm/chain/v1";
constexpr std::string_view chain_next_label = "topicswarm/chain-next/v1";
constexpr std::string_view slot_seed_label = "topicswarm/chain-slot/v1";
constexpr std::string_view slot_salt_label = "topicswarm/chain-salt/v1";
constexpr std::string_view slot_key_label = "topicswarm/chain-key/v1";
constexpr std::string_view contact_sig_label = "topicswarm/chain-contact/v1";
constexpr std::size_t slot_salt_size = 16;

static_assert(crypto_aead_xchacha20poly1305_ietf_NPUBBYTES == chain_nonce_size);
static_assert(crypto_aead_xchacha20poly1305_ietf_ABYTES == chain_format::tag_size);
static_assert(crypto_aead_xchacha20poly1305_ietf_KEYBYTES == 32);

std::array<std::byte, 8> be64(std::int64_t v) {
  auto u = static_cast<std::uint64_t>(v);
  std::array<std::byte, 8> b;
  for (int i = 7; i >= 0; --i, u >>= 8) b[static_cast<std::size_t>(i)] = static_cast<std::byte>(u & 0xff);
  return b;
}

// epoch, slot as they are bound into the AAD and the signature.
void put_position(byte_writer& w, const topic_id& network_wire, std::int64_t epoch, std::uint32_t slot) {
  w.put(network_wire.span());
  w.put_u64(static_cast<std::uint64_t>(epoch));
  w.put_u32(slot);
}

error bad_slot(std::uint32_t slot) {
  return error{errc::invalid_argument,
               "chain slot " + std::to_string(slot) + " (the chain has " + std::to_string(chain_depth) + " slots)"};
}

std::string range_text(const chain_ms_range& r) {
  return "[" + std::to_string(r.first) + ", " + std::to_string(r.last) + "]";
}

}  // namespace

// ------------------------------------------------------------ derivation --

chain_secrets chain_from(byte_span network_id32, const secret_hash& network_key) {
  assert(network_id32.size() == 32);
  chain_secrets chain;
  auto d = crypto::sha512({as_bytes(chain_label), network_id32, network_key.span()});
  chain[0] = *chain_secret::from_span(byte_span(d).first(32));
  for (std::size_t i = 1; i < chain_depth; ++i) {
    d = crypto::sha512({as_bytes(chain_next_label), chain[i - 1].span()});
    chain[i] = *chain_secret::from_span(byte_span(d).first(32));
  }
  ::sodium_memzero(d.data(), d.size());
  return chain;
}

std::int64_t epoch_of(std::int64_t unix_ms) noexcept {
  auto q = unix_ms / chain_epoch_ms;
  if (unix_ms % chain_epoch_ms < 0) --q;  // C++ division truncates toward zero
  return q;
}

chain_ms_range epoch_range(std::int64_t epoch) noexcept {
  // Two epochs of headroom keep first and last inside int64.
  constexpr std::int64_t max_epoch = std::numeric_limits<std::int64_t>::max() / chain_epoch_ms - 2;
  auto e = std::clamp(epoch, -max_epoch, max_epoch);
  return {e * chain_epoch_ms - chain_skew_ms, e * chain_epoch_ms + chain_epoch_ms - 1 + chain_skew_ms};
}

chain_slot::~chain_slot() { ::sodium_memzero(key.data(), key.size()); }

chain_slot chain_slot_for(const chain_secret& c, std::int64_t epoch) {
  auto e = be64(epoch);
  auto seed_d = crypto::sha512({as_bytes(slot_seed_label), c.span(), e});
  auto salt_d = crypto::sha512({as_bytes(slot_salt_label), c.span(), e});
  auto key_d = crypto::sha512({as_bytes(slot_key_label), c.span(), e});
  auto seed = *ed25519_seed::from_span(byte_span(seed_d).first(32));
  chain_slot s{keypair::from_seed(seed), bytes(salt_d.begin(), salt_d.begin() + slot_salt_size), {}};
  std::copy_n(key_d.begin(), s.key.size(), s.key.begin());
  ::sodium_memzero(seed.data(), seed.size());
  ::sodium_memzero(seed_d.data(), seed_d.size());
  ::sodium_memzero(key_d.data(), key_d.size());
  return s;
}

// ---------------------------------------------------------------- format --

namespace chain_format {

bytes encode_contact_body(const chain_contact& c) {
  bytes out;
  out.reserve(max_body_size);
  byte_writer w(out);
  w.put(c.node.span());
  w.put_u64(static_cast<std::uint64_t>(c.timestamp_ms));
  w.put_u8(static_cast<std::uint8_t>(c.addresses.size()));
  for (auto& a : c.addresses) encode_endpoint(w, a);
  return out;
}

result<chain_contact> decode_contact_body(byte_span body) {
  auto malformed = [](std::string why) { return error{errc::chain_record_malformed, std::move(why)}; };
  byte_reader r(body);
  chain_contact c;
  r.get(c.node.writable());
  c.timestamp_ms = static_cast<std::int64_t>(r.get_u64());
  auto n = r.get_u8();
  if (!r.ok()) return malformed("contact is truncated");
  if (n == 0 || n > chain_max_addresses)
    return malformed("contact lists " + std::to_string(n) + " addresses (1 to " + std::to_string(chain_max_addresses) +
                     ")");
  for (unsigned i = 0; i < n; ++i) {
    auto e = decode_endpoint(r);
    if (!e) {
      if (!r.ok()) return malformed("contact is truncated in address " + std::to_string(i));
      return malformed("contact's address " + std::to_string(i) +
                       " has an unknown family, port 0 or an unspecified ip");
    }
    c.addresses.push_back(*e);
  }
  if (!r.at_end()) return malformed(std::to_string(r.remaining()) + " trailing bytes after the contact");
  return c;
}

bytes signing_message(const topic_id& network_wire, std::int64_t epoch, std::uint32_t slot, byte_span body) {
  bytes m = to_bytes(contact_sig_label);
  m.reserve(m.size() + 32 + 8 + 4 + body.size());
  byte_writer w(m);
  put_position(w, network_wire, epoch, slot);
  w.put(body);
  return m;
}

bytes aad(const topic_id& network_wire, std::int64_t epoch, std::uint32_t slot) {
  bytes a;
  a.reserve(1 + 32 + 8 + 4);
  byte_writer w(a);
  w.put_u8(chain_record_format);
  put_position(w, network_wire, epoch, slot);
  return a;
}

bytes seal_plain(byte_span plain, const topic_id& network_wire, std::int64_t epoch, std::uint32_t slot,
                 const chain_slot& s, std::span<const std::byte, chain_nonce_size> nonce) {
  crypto::ensure_sodium();
  const auto ad = aad(network_wire, epoch, slot);
  bytes out(1 + chain_nonce_size + plain.size() + tag_size);
  out[0] = std::byte{chain_record_format};
  std::copy(nonce.begin(), nonce.end(), out.begin() + 1);
  unsigned long long clen = 0;
  ::crypto_aead_xchacha20poly1305_ietf_encrypt(uc(std::span(out).subspan(1 + chain_nonce_size)), &clen, uc(plain),
                                               plain.size(), uc(ad), ad.size(), nullptr, uc(nonce), uc(s.key));
  assert(clen == plain.size() + tag_size);
  return out;
}

}  // namespace chain_format

namespace cf = chain_format;

// ------------------------------------------------------------ seal, open --

result<bytes> seal_chain_record(const chain_contact& contact, const identity& signer, const topic_id& network_wire,
                                std::int64_t epoch, std::uint32_t slot, const chain_slot& s,
                                std::span<const std::byte, chain_nonce_size> nonce) {
  if (slot >= chain_depth) return bad_slot(slot);
  if (signer.id() != contact.node)
    return error{errc::invalid_argument, "the signer's id " + signer.id().short_string() +
                                             " is not the contact's node " + contact.node.short_string()};
  if (contact.addresses.empty())
    return error{errc::invalid_argument, "a chain contact needs at least one address to be dialled at"};
  if (contact.addresses.size() > chain_max_addresses)
    return error{errc::chain_record_too_large, std::to_string(contact.addresses.size()) + " addresses (max " +
                                                   std::to_string(chain_max_addresses) + ")"};
  for (auto& a : contact.addresses)
    if (!encodable(a))
      return error{errc::invalid_argument,
                   "address " + a.to_string() + " cannot be dialled (unspecified ip or port 0)"};
  auto range = epoch_range(epoch);
  if (!range.contains(contact.timestamp_ms))
    return error{errc::chain_record_seq_out_of_range, "timestamp " + std::to_string(contact.timestamp_ms) +
                                                          " ms is outside epoch " + std::to_string(epoch) +
                                                          "'s range " + range_text(range)};

  bytes plain = cf::encode_contact_body(contact);
  auto sig = signer.sign(cf::signing_message(network_wire, epoch, slot, plain));
  plain.insert(plain.end(), sig.span().begin(), sig.span().end());
  // The limits above bound the size (static_assert in the header); checked
  // anyway so a change to them cannot produce a value the DHT refuses.
  if (auto size = cf::overhead + plain.size(); size > chain_max_value_bytes)
    return error::too_large(errc::chain_record_too_large, "chain record", size, chain_max_value_bytes);
  auto out = cf::seal_plain(plain, network_wire, epoch, slot, s, nonce);
  ::sodium_memzero(plain.data(), plain.size());
  return out;
}

result<chain_contact> open_chain_record(byte_span value, std::int64_t seq, const topic_id& network_wire,
                                        std::int64_t epoch, std::uint32_t slot, const chain_slot& s) {
  if (slot >= chain_depth) return bad_slot(slot);
  // Cheapest first: a garbage value costs no crypto, a forged one no public-key crypto.
  if (value.size() > chain_max_value_bytes)
    return error::too_large(errc::chain_record_too_large, "chain record", value.size(), chain_max_value_bytes);
  if (value.size() < cf::min_value_size)
    return error{errc::chain_record_truncated, std::to_string(value.size()) + " bytes (a record has at least " +
                                                   std::to_string(cf::min_value_size) + ")"};
  if (auto f = static_cast<std::uint8_t>(value[0]); f != chain_record_format)
    return error{errc::chain_record_bad_format, "format " + std::to_string(f) + " (this build reads format " +
                                                    std::to_string(chain_record_format) + ")"};
  auto range = epoch_range(epoch);
  if (!range.contains(seq))
    return error{errc::chain_record_seq_out_of_range, "seq " + std::to_string(seq) + " is outside epoch " +
                                                          std::to_string(epoch) + "'s range " + range_text(range)};

  crypto::ensure_sodium();
  auto nonce = value.subspan(1, chain_nonce_size);
  auto cipher = value.subspan(1 + chain_nonce_size);
  const auto ad = cf::aad(network_wire, epoch, slot);
  bytes plain(cipher.size() - cf::tag_size);
  unsigned long long plen = 0;
  if (::crypto_aead_xchacha20poly1305_ietf_decrypt(uc(std::span(plain)), &plen, nullptr, uc(cipher), cipher.size(),
                                                   uc(ad), ad.size(), uc(nonce), uc(s.key)) != 0)
    return error{errc::chain_record_decryption_failed,
                 "wrong network key, network, epoch or slot, or a corrupted value"};

  byte_span all(plain);
  auto body = all.first(all.size() - cf::signature_size);
  auto sig = *signature::from_span(all.last(cf::signature_size));
  auto contact = cf::decode_contact_body(body);
  if (!contact) return contact.error();
  if (!verify_signature(to_public_key(contact->node), cf::signing_message(network_wire, epoch, slot, body), sig))
    return error{errc::chain_record_bad_signature, "not signed by its node " + contact->node.short_string()};
  if (contact->timestamp_ms != seq)
    return error{errc::chain_record_timestamp_mismatch,
                 "timestamp " + std::to_string(contact->timestamp_ms) + " ms, stored with seq " + std::to_string(seq)};
  return contact;
}

}  // namespace topicswarm::discovery
