#include <topicswarm/record.hpp>

#include "core/codec.hpp"
#include "crypto/hash.hpp"
#include "crypto/hpke.hpp"
#include "crypto/record_format.hpp"
#include "crypto/sodium.hpp"

#include <algorithm>
#include <limits>

namespace topicswarm {

using core::byte_reader;
using core::byte_writer;

namespace {

constexpr std::string_view window_secret_label = "topicswarm/window-secret/v2";
constexpr std::string_view signature_label = "topicswarm/record-sig/v2";
constexpr std::string_view hpke_info_label = "topicswarm/record/v2";
constexpr std::string_view slot_key_label = "topicswarm/slot-key/v2";
constexpr std::string_view slot_salt_label = "topicswarm/slot-salt/v2";
// The first byte of a format 1 value: recognised only to say so.
constexpr std::uint8_t format_1 = 1;
constexpr std::size_t slot_salt_size = 16;

std::array<std::byte, 8> be64(std::uint64_t v) {
  std::array<std::byte, 8> b;
  for (int i = 7; i >= 0; --i, v >>= 8) b[static_cast<std::size_t>(i)] = static_cast<std::byte>(v & 0xff);
  return b;
}

std::array<std::byte, 4> be32(std::uint32_t v) {
  return {std::byte(v >> 24), std::byte(v >> 16), std::byte(v >> 8), std::byte(v)};
}

void put_endpoint(byte_writer& w, const endpoint& e) {
  w.put_u8(static_cast<std::uint8_t>(e.fam));
  w.put(std::as_bytes(std::span(e.ip.data(), e.is_v4() ? 4 : 16)));
  w.put_u16(e.port);
}

// Returns false on an unknown family (the reader may still be ok()).
bool get_endpoint(byte_reader& r, endpoint& e) {
  auto fam = r.get_u8();
  if (fam != 4 && fam != 6) return false;
  e.fam = static_cast<endpoint::family>(fam);
  auto ip = r.get_span(fam == 4 ? 4 : 16);
  if (!r.ok()) return false;  // truncated: the span is empty
  std::memcpy(e.ip.data(), ip.data(), ip.size());
  e.port = r.get_u16();
  return r.ok();
}

result<void> check_limits(const topic_record& r) {
  if (r.addresses.size() > max_record_addresses)
    return error{errc::record_too_large, std::to_string(r.addresses.size()) + " publisher addresses (max " +
                                             std::to_string(max_record_addresses) + ")"};
  if (r.neighbors.size() > max_record_neighbors)
    return error{errc::record_too_large,
                 std::to_string(r.neighbors.size()) + " neighbours (max " + std::to_string(max_record_neighbors) + ")"};
  for (auto& n : r.neighbors)
    if (n.addresses.size() > max_record_addresses)
      return error{errc::record_too_large, "neighbour " + n.id.short_string() + " has " +
                                               std::to_string(n.addresses.size()) + " addresses (max " +
                                               std::to_string(max_record_addresses) + ")"};
  if (r.recent_messages.size() > max_record_messages)
    return error{errc::record_too_large, std::to_string(r.recent_messages.size()) + " message hashes (max " +
                                             std::to_string(max_record_messages) + ")"};
  return {};
}

crypto::hpke::key_pair window_key_pair(const window_secret& ws) {
  // derive_key_pair only fails on an empty ikm; ours is 32 bytes.
  return *crypto::hpke::derive_key_pair(ws.span());
}

}  // namespace

namespace crypto::record_format {

bytes encode_body(const topic_record& r) {
  bytes out;
  out.reserve(512);
  byte_writer w(out);
  w.put_u8(record_format_version);
  w.put(r.topic.span());
  w.put_u64(r.window);
  w.put(r.publisher.span());
  w.put_u64(r.timestamp_ms);
  w.put_u8(static_cast<std::uint8_t>(r.addresses.size()));
  for (auto& a : r.addresses) put_endpoint(w, a);
  w.put_u8(static_cast<std::uint8_t>(r.neighbors.size()));
  for (auto& n : r.neighbors) {
    w.put(n.id.span());
    w.put_u8(static_cast<std::uint8_t>(n.addresses.size()));
    for (auto& a : n.addresses) put_endpoint(w, a);
  }
  w.put_u8(static_cast<std::uint8_t>(r.recent_messages.size()));
  for (auto& m : r.recent_messages) w.put(m.span());
  return out;
}

result<topic_record> decode_body(byte_span body) {
  byte_reader rd(body);
  auto malformed = [](std::string why) { return error{errc::record_bad_length, std::move(why)}; };
  auto version = rd.get_u8();
  if (!rd.ok()) return malformed("empty record body");
  if (version != record_format_version)
    return error{errc::record_unsupported_version, "record body version " + std::to_string(version) +
                                                       " (this build reads version " +
                                                       std::to_string(record_format_version) + ")"};
  topic_record r;
  rd.get(r.topic.writable());
  r.window = rd.get_u64();
  rd.get(r.publisher.writable());
  r.timestamp_ms = rd.get_u64();

  auto read_addresses = [&](std::vector<endpoint>& out, const char* whose) -> result<void> {
    auto n = rd.get_u8();
    if (n > max_record_addresses)
      return malformed(std::string(whose) + " lists " + std::to_string(n) + " addresses (max " +
                       std::to_string(max_record_addresses) + ")");
    for (unsigned i = 0; i < n && rd.ok(); ++i) {
      endpoint e;
      if (!get_endpoint(rd, e)) {
        if (!rd.ok()) break;
        return malformed(std::string(whose) + " has an address of unknown family");
      }
      out.push_back(e);
    }
    return {};
  };

  if (auto a = read_addresses(r.addresses, "publisher"); !a) return a.error();
  auto nn = rd.get_u8();
  if (nn > max_record_neighbors)
    return malformed(std::to_string(nn) + " neighbours (max " + std::to_string(max_record_neighbors) + ")");
  for (unsigned i = 0; i < nn && rd.ok(); ++i) {
    record_neighbor n;
    rd.get(n.id.writable());
    if (auto a = read_addresses(n.addresses, "a neighbour"); !a) return a.error();
    r.neighbors.push_back(std::move(n));
  }
  auto nm = rd.get_u8();
  if (nm > max_record_messages)
    return malformed(std::to_string(nm) + " message hashes (max " + std::to_string(max_record_messages) + ")");
  for (unsigned i = 0; i < nm && rd.ok(); ++i) {
    message_id m;
    rd.get(m.writable());
    r.recent_messages.push_back(m);
  }
  if (!rd.ok()) return malformed("record body is truncated");
  if (!rd.at_end()) return malformed(std::to_string(rd.remaining()) + " trailing bytes after the record body");
  return r;
}

bytes signing_message(byte_span body) {
  bytes m = to_bytes(signature_label);
  m.insert(m.end(), body.begin(), body.end());
  return m;
}

bytes hpke_info(const topic_id& topic, std::uint64_t window, unsigned slot) {
  bytes info = to_bytes(hpke_info_label);
  info.insert(info.end(), topic.span().begin(), topic.span().end());
  auto w = be64(window);
  info.insert(info.end(), w.begin(), w.end());
  auto i = be32(slot);
  info.insert(info.end(), i.begin(), i.end());
  return info;
}

window_ms_range window_range(std::uint64_t window) {
  // Windows past year 10^5 or so would overflow; clamp rather than wrap.
  constexpr std::uint64_t max_window = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max() / 60'000) - 1;
  auto w = static_cast<std::int64_t>(std::min(window, max_window));
  auto skew = static_cast<std::int64_t>(max_record_skew_ms);
  return {w * 60'000 - skew, w * 60'000 + 59'999 + skew};
}

result<bytes> seal_with_key_of(const topic_record& record, const identity& signer, const topic_id& key_topic,
                               std::uint64_t key_window, unsigned slot, const window_secret& ws) {
  if (auto l = check_limits(record); !l) return l.error();
  if (signer.id() != record.publisher)
    return error{errc::invalid_argument, "the signer's id " + signer.id().short_string() +
                                             " is not the record's publisher " + record.publisher.short_string()};
  bytes plain = encode_body(record);
  auto sig = signer.sign(signing_message(plain));
  plain.insert(plain.end(), sig.span().begin(), sig.span().end());

  // Check the size before encrypting: the result is exactly this long.
  std::size_t stored = 1 + enc_size + plain.size() + tag_size;
  if (stored > max_record_bytes)
    return error{errc::record_too_large,
                 "encoded record is " + std::to_string(stored) + " bytes (max " + std::to_string(max_record_bytes) + ")"};

  auto out = seal_plain(plain, key_topic, key_window, slot, ws);
  ::sodium_memzero(plain.data(), plain.size());
  return out;
}

result<bytes> seal_plain(byte_span plain, const topic_id& key_topic, std::uint64_t key_window, unsigned slot,
                         const window_secret& ws) {
  auto kp = window_key_pair(ws);
  ::sodium_memzero(kp.sk.data(), kp.sk.size());
  const std::byte aad[1] = {std::byte{record_format_version}};
  auto sealed = crypto::hpke::seal_base(kp.pk, hpke_info(key_topic, key_window, slot), aad, plain);
  if (!sealed) return sealed.error();
  bytes out;
  out.reserve(1 + sealed->size());
  out.push_back(std::byte{record_format_version});
  out.insert(out.end(), sealed->begin(), sealed->end());
  return out;
}

}  // namespace crypto::record_format

namespace rf = crypto::record_format;

std::uint64_t window_at(std::chrono::system_clock::time_point t) {
  auto s = std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
  return s < 0 ? 0 : static_cast<std::uint64_t>(s) / 60;
}

window_secret default_secret_rotation(const topic_id& topic, std::uint64_t window, const secret_hash& secret) {
  auto w = be64(window);
  auto d = crypto::sha512({as_bytes(window_secret_label), topic.span(), w, secret.span()});
  return *window_secret::from_span(byte_span(d).first(32));
}

record_codec::record_codec(topic_id topic, secret_hash secret, secret_rotation rotation)
    : topic_(topic), secret_(secret), rotation_(rotation ? std::move(rotation) : default_secret_rotation) {}

window_secret record_codec::window_key(std::uint64_t window) const { return rotation_(topic_, window, secret_); }

result<bytes> record_codec::seal(const topic_record& record, const identity& signer, unsigned slot) const {
  if (record.topic != topic_)
    return error{errc::record_wrong_topic, "record is for topic " + record.topic.short_string() +
                                               ", this codec seals topic " + topic_.short_string()};
  auto range = rf::window_range(record.window);
  if (!range.contains(record.timestamp_ms))
    return error{errc::record_wrong_window, "timestamp " + std::to_string(record.timestamp_ms) +
                                                " ms is outside window " + std::to_string(record.window) +
                                                " (± " + std::to_string(max_record_skew_ms) + " ms)"};
  auto ws = window_key(record.window);
  auto out = rf::seal_with_key_of(record, signer, topic_, record.window, slot, ws);
  ::sodium_memzero(ws.data(), ws.size());
  return out;
}

result<topic_record> record_codec::open(byte_span stored, std::uint64_t window, unsigned slot,
                                        std::int64_t seq) const {
  // Cheap checks first: a garbage value costs no crypto.
  if (stored.size() > max_record_bytes)
    return error{errc::record_too_large,
                 std::to_string(stored.size()) + " bytes (max " + std::to_string(max_record_bytes) + ")"};
  if (stored.empty()) return error{errc::record_bad_length, "empty value"};
  if (auto v = static_cast<std::uint8_t>(stored[0]); v != record_format_version) {
    if (v == format_1)
      return error{errc::record_format_obsolete,
                   "a format 1 record (this build reads format " + std::to_string(record_format_version) + ")"};
    return error{errc::record_unsupported_version,
                 "record format version " + std::to_string(v) + " (this build reads version " +
                     std::to_string(record_format_version) + ")"};
  }
  auto range = rf::window_range(window);
  if (!range.contains(seq))
    return error{errc::record_seq_out_of_range, "seq " + std::to_string(seq) + " is outside window " +
                                                    std::to_string(window) + "'s range [" +
                                                    std::to_string(range.first) + ", " + std::to_string(range.last) +
                                                    "]"};
  if (stored.size() < rf::min_stored_size)
    return error{errc::record_bad_length, std::to_string(stored.size()) + " bytes (min " +
                                              std::to_string(rf::min_stored_size) + ")"};

  auto ws = window_key(window);
  auto kp = window_key_pair(ws);
  ::sodium_memzero(ws.data(), ws.size());
  auto plain =
      crypto::hpke::open_base(kp, rf::hpke_info(topic_, window, slot), stored.first(1), stored.subspan(1));
  ::sodium_memzero(kp.sk.data(), kp.sk.size());
  if (!plain)
    return error{errc::record_decryption_failed, "wrong secret, topic, window or slot, or a corrupted value"};

  byte_span all(*plain);
  auto body = all.first(all.size() - rf::signature_size);
  auto sig = *signature::from_span(all.last(rf::signature_size));
  auto rec = rf::decode_body(body);
  if (!rec) return rec.error();
  if (!verify_signature(to_public_key(rec->publisher), rf::signing_message(body), sig))
    return error{errc::record_bad_signature, "not signed by its publisher " + rec->publisher.short_string()};
  if (rec->topic != topic_) return error{errc::record_wrong_topic, "record names topic " + rec->topic.short_string()};
  if (rec->window != window)
    return error{errc::record_wrong_window,
                 "record names window " + std::to_string(rec->window) + ", read for " + std::to_string(window)};
  if (!range.contains(rec->timestamp_ms))
    return error{errc::record_wrong_window, "timestamp " + std::to_string(rec->timestamp_ms) +
                                                " ms is outside window " + std::to_string(window)};
  if (static_cast<std::uint64_t>(seq) != rec->timestamp_ms)
    return error{errc::record_seq_out_of_range,
                 "seq " + std::to_string(seq) + " is not the record's timestamp " + std::to_string(rec->timestamp_ms)};
  return rec;
}

record_slot record_codec::slot(std::uint64_t window, unsigned index) const {
  auto ws = window_key(window);
  auto s = record_slot_for(ws, index);
  ::sodium_memzero(ws.data(), ws.size());
  return s;
}

record_slot record_slot_for(const window_secret& ws, unsigned index) {
  auto idx = be32(index);
  auto seed_d = crypto::sha512({as_bytes(slot_key_label), ws.span(), idx});
  auto salt_d = crypto::sha512({as_bytes(slot_salt_label), ws.span(), idx});
  auto seed = *ed25519_seed::from_span(byte_span(seed_d).first(32));
  record_slot s{keypair::from_seed(seed), bytes(salt_d.begin(), salt_d.begin() + slot_salt_size)};
  ::sodium_memzero(seed.data(), seed.size());
  ::sodium_memzero(seed_d.data(), seed_d.size());
  return s;
}

}  // namespace topicswarm
