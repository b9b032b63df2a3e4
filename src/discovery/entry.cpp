#include "discovery/entry.hpp"

#include "core/codec.hpp"
#include "discovery/address_codec.hpp"

#include <algorithm>
#include <set>

namespace topicswarm::discovery {

namespace {

constexpr std::string_view entry_label = "topicswarm/peer-entry/v1";
constexpr std::string_view departure_label = "topicswarm/peer-departure/v1";
using limits = peer_entry_limits;

bool printable(std::string_view tag) {
  return std::all_of(tag.begin(), tag.end(), [](char c) { return c >= 0x21 && c <= 0x7e; });
}

// What is wrong with an entry we are asked to sign or were sent, or nothing.
std::optional<std::string> check_limits(const peer_entry& e) {
  if (e.addresses.size() > limits::max_addresses)
    return std::to_string(e.addresses.size()) + " addresses (at most " + std::to_string(limits::max_addresses) + ")";
  for (const auto& a : e.addresses)
    if (!encodable(a)) return "address " + a.to_string() + " cannot be dialled (unspecified or port 0)";
  if (std::set<endpoint>(e.addresses.begin(), e.addresses.end()).size() != e.addresses.size())
    return "an address appears twice";
  if (e.tags.size() > limits::max_tags)
    return std::to_string(e.tags.size()) + " tags (at most " + std::to_string(limits::max_tags) + ")";
  for (const auto& t : e.tags)
    if (t.empty() || t.size() > limits::max_tag_bytes || !printable(t))
      return "tag '" + t + "' is not 1 to " + std::to_string(limits::max_tag_bytes) + " printable ASCII characters";
  if (std::set<std::string>(e.tags.begin(), e.tags.end()).size() != e.tags.size()) return "a tag appears twice";
  if (e.topics.size() > limits::max_topics)
    return std::to_string(e.topics.size()) + " topics (at most " + std::to_string(limits::max_topics) + ")";
  if (std::set<topic_id>(e.topics.begin(), e.topics.end()).size() != e.topics.size()) return "a topic appears twice";
  return std::nullopt;
}

bytes labelled(std::string_view label, byte_span body) {
  bytes m(as_bytes(label).begin(), as_bytes(label).end());
  m.insert(m.end(), body.begin(), body.end());
  return m;
}

}  // namespace

bytes encode_entry_body(const peer_entry& e) {
  bytes out;
  out.reserve(limits::max_encoded_bytes);
  core::byte_writer w(out);
  w.put_u8(entry_format);
  w.put(e.network.span());
  w.put(e.node.span());
  w.put_u64(e.version.start_ms);
  w.put_u64(e.version.update_ms);
  w.put_u8(static_cast<std::uint8_t>(e.addresses.size()));
  for (const auto& a : e.addresses) encode_endpoint(w, a);
  w.put_u8(static_cast<std::uint8_t>(e.tags.size()));
  for (const auto& t : e.tags) {
    w.put_u8(static_cast<std::uint8_t>(t.size()));
    w.put(as_bytes(t));
  }
  w.put_u8(static_cast<std::uint8_t>(e.topics.size()));
  for (const auto& t : e.topics) w.put(t.span());
  return out;
}

result<signed_entry> sign_entry(const peer_entry& entry, const identity& signer) {
  if (auto why = check_limits(entry)) return error{errc::invalid_argument, "peer entry: " + *why};
  if (signer.id() != entry.node)
    return error{errc::peer_entry_bad_signature,
                 "an entry is signed by its own node, not " + signer.id().short_string()};
  signed_entry s{entry, encode_entry_body(entry)};
  const auto sig = signer.sign(labelled(entry_label, s.encoded));
  s.encoded.insert(s.encoded.end(), sig.span().begin(), sig.span().end());
  return s;
}

result<signed_entry> open_entry(byte_span encoded) {
  if (encoded.size() > limits::max_encoded_bytes)
    return error::too_large(errc::peer_entry_too_large, "peer entry", encoded.size(), limits::max_encoded_bytes);
  if (encoded.empty()) return error{errc::peer_entry_malformed, "empty peer entry"};
  if (std::to_integer<std::uint8_t>(encoded[0]) != entry_format)
    return error{errc::peer_entry_unsupported_version,
                 "peer entry format " + std::to_string(std::to_integer<int>(encoded[0]))};
  if (encoded.size() < 1 + 32 + 32 + 16 + 3 + 64) return error{errc::peer_entry_malformed, "peer entry too short"};
  const auto body = encoded.first(encoded.size() - 64);
  core::byte_reader r(body);
  peer_entry e;
  r.get_u8();
  r.get(e.network.writable());
  r.get(e.node.writable());
  e.version.start_ms = r.get_u64();
  e.version.update_ms = r.get_u64();
  const auto malformed = [](std::string why) { return error{errc::peer_entry_malformed, std::move(why)}; };
  const std::size_t n_addr = r.get_u8();
  if (n_addr > limits::max_addresses) return malformed("too many addresses");
  for (std::size_t i = 0; i < n_addr; ++i) {
    auto a = decode_endpoint(r);
    if (!a) return malformed("bad address");
    e.addresses.push_back(*a);
  }
  const std::size_t n_tags = r.get_u8();
  if (n_tags > limits::max_tags) return malformed("too many tags");
  for (std::size_t i = 0; i < n_tags; ++i) {
    const std::size_t len = r.get_u8();
    if (len == 0 || len > limits::max_tag_bytes) return malformed("bad tag length");
    auto b = r.get_span(len);
    if (!r.ok()) return malformed("truncated tag");
    e.tags.emplace_back(reinterpret_cast<const char*>(b.data()), b.size());
  }
  const std::size_t n_topics = r.get_u8();
  if (n_topics > limits::max_topics) return malformed("too many topics");
  for (std::size_t i = 0; i < n_topics; ++i) {
    topic_id t;
    r.get(t.writable());
    e.topics.push_back(t);
  }
  if (!r.at_end()) return malformed(r.ok() ? "trailing bytes" : "truncated");
  if (auto why = check_limits(e)) return malformed(*why);
  signature sig;
  std::copy(encoded.end() - 64, encoded.end(), sig.writable().begin());
  if (!verify_signature(*public_key::from_span(e.node.span()), labelled(entry_label, body), sig))
    return error{errc::peer_entry_bad_signature, "peer entry of " + e.node.short_string()};
  return signed_entry{std::move(e), bytes(encoded.begin(), encoded.end())};
}

result<bytes> sign_departure(const departure& d, const identity& signer) {
  if (signer.id() != d.node) return error{errc::peer_entry_bad_signature, "a departure is signed by its own node"};
  bytes out;
  core::byte_writer w(out);
  w.put_u8(entry_format);
  w.put(d.network.span());
  w.put(d.node.span());
  w.put_u64(d.version.start_ms);
  w.put_u64(d.version.update_ms);
  const auto sig = signer.sign(labelled(departure_label, out));
  w.put(sig.span());
  return out;
}

result<departure> open_departure(byte_span encoded) {
  if (encoded.size() != departure_bytes)
    return error{errc::peer_entry_malformed,
                 "a departure is " + std::to_string(departure_bytes) + " bytes, got " + std::to_string(encoded.size())};
  if (std::to_integer<std::uint8_t>(encoded[0]) != entry_format)
    return error{errc::peer_entry_unsupported_version, "departure format"};
  core::byte_reader r(encoded.first(departure_bytes - 64));
  departure d;
  r.get_u8();
  r.get(d.network.writable());
  r.get(d.node.writable());
  d.version.start_ms = r.get_u64();
  d.version.update_ms = r.get_u64();
  signature sig;
  std::copy(encoded.end() - 64, encoded.end(), sig.writable().begin());
  if (!verify_signature(*public_key::from_span(d.node.span()),
                        labelled(departure_label, encoded.first(departure_bytes - 64)), sig))
    return error{errc::peer_entry_bad_signature, "departure of " + d.node.short_string()};
  return d;
}

}  // namespace topicswarm::discovery
