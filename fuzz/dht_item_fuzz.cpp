// Fuzz target: a BEP 44 mutable item as another DHT node sends it, through
// the DHT adapter's conversion (dht::detail::item_event_from_wire: libtorrent's
// bencode decoder, then the conversion poll() applies to every
// dht_mutable_item_alert) and the client's judgement (check_item: size rules,
// then the signature).
//
// Input: flags (1 byte: bit 0 = sign here with the fixture key, bit 1 =
// authoritative), seq (8 bytes, big-endian, two's complement), salt length
// (1 byte) and salt, then unless signing the key (32) and signature (64),
// then the bencoded value "v" as it came off the wire (empty: no item).
//
// Checked: the fields come through unchanged; a value is a byte string
// exactly when v is one, and then it is v's content; the verdict agrees with
// the size rules and with a signature check over the BEP 44 buffer built here
// independently; an item signed correctly here is accepted, and the same item
// with one signature bit or the seq changed is not.
#include "dht/bep44.hpp"
#include "dht/lt_session.hpp"

#include <algorithm>
#include <cstdint>
#include <string>

using namespace topicswarm;
namespace d = topicswarm::dht::detail;

namespace {

// BEP 44, "Mutable items": the signed bytes, written out from the spec.
std::string bep44_buffer(byte_span salt, std::int64_t seq, byte_span v) {
  std::string b;
  if (!salt.empty()) b += "4:salt" + std::to_string(salt.size()) + ":" + to_string(salt);
  b += "3:seqi" + std::to_string(seq) + "e1:v" + std::to_string(v.size()) + ":" + to_string(v);
  return b;
}

bool same_fields(const d::item_event& e, const public_key& key, byte_span salt, std::int64_t seq, const signature& sig,
                 bool authoritative) {
  return e.key == key && std::equal(e.salt.begin(), e.salt.end(), salt.begin(), salt.end()) && e.seq == seq &&
         e.sig == sig && e.authoritative == authoritative;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const keypair signer = keypair::from_seed(ed25519_seed(std::array<std::byte, 32>{std::byte{0x5a}}));

  byte_span in(reinterpret_cast<const std::byte*>(data), size);
  if (in.size() < 10) return 0;
  const bool sign_here = (data[0] & 1) != 0;
  const bool authoritative = (data[0] & 2) != 0;
  std::uint64_t useq = 0;
  for (int i = 1; i <= 8; ++i) useq = (useq << 8) | data[i];
  const auto seq = static_cast<std::int64_t>(useq);
  const std::size_t salt_len = data[9];
  in = in.subspan(10);
  if (in.size() < salt_len) return 0;
  const byte_span salt = in.first(salt_len);
  in = in.subspan(salt_len);
  public_key key = signer.public_key();
  signature sig;
  if (!sign_here) {
    if (in.size() < 96) return 0;
    key = *public_key::from_span(in.first(32));
    sig = *signature::from_span(in.subspan(32, 64));
    in = in.subspan(96);
  }
  const byte_span v = in;

  auto got = d::item_event_from_wire(key, salt, seq, sig, v, authoritative);
  if (!got) {
    if (v.empty()) __builtin_trap();  // "no item" always converts
    return 0;
  }
  d::item_event& e = *got;
  if (!same_fields(e, key, salt, seq, sig, authoritative)) __builtin_trap();

  // The kind follows v's first byte (bencoding: digit = string, i/l/d = the rest).
  const int first = v.empty() ? -1 : static_cast<int>(v[0]);
  switch (e.kind) {
    case d::item_event::value_kind::none:
      if (!v.empty()) __builtin_trap();
      break;
    case d::item_event::value_kind::byte_string: {
      if (first < '0' || first > '9') __builtin_trap();
      // The content follows the first ':' and is exactly as long as it says.
      std::size_t colon = 0;
      while (colon < v.size() && v[colon] != std::byte{':'}) ++colon;
      if (colon == v.size() || v.size() - colon - 1 < e.value.size()) __builtin_trap();
      if (!std::equal(e.value.begin(), e.value.end(), v.begin() + static_cast<std::ptrdiff_t>(colon) + 1))
        __builtin_trap();
      break;
    }
    case d::item_event::value_kind::other:
      if (first != 'i' && first != 'l' && first != 'd') __builtin_trap();
      break;
  }

  // Sign the converted value here (the fuzzer cannot forge signatures).
  if (sign_here && e.kind == d::item_event::value_kind::byte_string) {
    sig = signer.sign(as_bytes(bep44_buffer(salt, seq, e.value)));
    auto signed_here = d::item_event_from_wire(key, salt, seq, sig, v, authoritative);
    if (!signed_here || !same_fields(*signed_here, key, salt, seq, sig, authoritative) || signed_here->value != e.value)
      __builtin_trap();
    e = std::move(*signed_here);
  }

  // The verdict: absent / not a string by kind, then salt, size, signature.
  const d::item_verdict verdict = d::check_item(e);
  d::item_verdict expected = d::item_verdict::accepted;
  if (e.kind == d::item_event::value_kind::none)
    expected = d::item_verdict::absent;
  else if (e.kind == d::item_event::value_kind::other)
    expected = d::item_verdict::not_a_byte_string;
  else if (salt.size() > d::max_salt_size)
    expected = d::item_verdict::salt_too_long;
  else if (std::to_string(e.value.size()).size() + 1 + e.value.size() > d::max_encoded_value_size)
    expected = d::item_verdict::value_too_large;
  else if (!verify_signature(key, as_bytes(bep44_buffer(salt, seq, e.value)), sig))
    expected = d::item_verdict::bad_signature;
  if (verdict != expected) __builtin_trap();
  if (sign_here && e.kind == d::item_event::value_kind::byte_string && salt.size() <= d::max_salt_size &&
      verdict != d::item_verdict::accepted && verdict != d::item_verdict::value_too_large)
    __builtin_trap();

  // An accepted item stops being accepted when anything signed changes.
  if (verdict == d::item_verdict::accepted) {
    auto tampered = e;
    tampered.sig.data()[useq % 64] ^= std::byte{1};
    if (d::check_item(tampered) != d::item_verdict::bad_signature) __builtin_trap();
    tampered = e;
    tampered.seq = static_cast<std::int64_t>(useq ^ 1);
    if (d::check_item(tampered) != d::item_verdict::bad_signature) __builtin_trap();
  }
  return 0;
}
