// Discovery frame bodies and announces (issue 14 spec §3-4; the layouts are
// in wire.hpp's comments and docs/PROTOCOL.md).
#include "discovery/wire.hpp"

#include "core/codec.hpp"

#include <string>
#include <type_traits>

namespace topicswarm::discovery::wire {
namespace {

using core::byte_reader;
using core::byte_writer;

bool entry_length_ok(std::size_t n) { return n >= limits::min_entry_bytes && n <= limits::max_entry_bytes; }

bool ascending(const std::vector<digest>& items) {
  for (std::size_t i = 1; i < items.size(); ++i)
    if (!(items[i - 1].node < items[i].node)) return false;
  return true;
}

struct validator {
  bool operator()(const digest_request& m) const { return m.max >= 1 && m.max <= limits::max_digests_per_page; }
  bool operator()(const digest_page& m) const {
    return m.items.size() <= limits::max_digests_per_page && ascending(m.items);
  }
  bool operator()(const fetch_request& m) const { return !m.nodes.empty() && m.nodes.size() <= limits::max_fetch; }
  bool operator()(const fetch_response& m) const {
    if (m.entries.size() > limits::max_fetch) return false;
    for (const auto& e : m.entries)
      if (!entry_length_ok(e.size())) return false;
    return true;
  }
  bool operator()(const ping&) const { return true; }
  bool operator()(const pong&) const { return true; }
};

// Writes the body after the type byte; only called on valid messages, so
// every narrowing below is within range.
struct encoder {
  byte_writer& w;
  void operator()(const digest_request& m) {
    w.put_u32(m.req);
    w.put(m.network.span());
    w.put_u8(m.after ? 1 : 0);
    if (m.after) w.put(m.after->span());
    w.put_u16(m.max);
  }
  void operator()(const digest_page& m) {
    w.put_u32(m.req);
    w.put_u8(m.more ? 1 : 0);
    w.put_u16(static_cast<std::uint16_t>(m.items.size()));
    for (const auto& d : m.items) {
      w.put(d.node.span());
      w.put_u64(d.start_ms);
      w.put_u64(d.update_ms);
    }
  }
  void operator()(const fetch_request& m) {
    w.put_u32(m.req);
    w.put_u8(static_cast<std::uint8_t>(m.nodes.size()));
    for (const auto& n : m.nodes) w.put(n.span());
  }
  void operator()(const fetch_response& m) {
    w.put_u32(m.req);
    w.put_u8(static_cast<std::uint8_t>(m.entries.size()));
    for (const auto& e : m.entries) {
      w.put_u16(static_cast<std::uint16_t>(e.size()));
      w.put(e);
    }
  }
  void operator()(const ping& m) { w.put_u64(m.nonce); }
  void operator()(const pong& m) { w.put_u64(m.nonce); }
};

std::size_t encoded_size(const message& m) {
  return std::visit(
      [](const auto& v) -> std::size_t {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, digest_request>) {
          return limits::max_digest_request_bytes - (v.after ? 0 : 32);
        } else if constexpr (std::is_same_v<T, digest_page>) {
          return 1 + 4 + 1 + 2 + v.items.size() * limits::digest_bytes;
        } else if constexpr (std::is_same_v<T, fetch_request>) {
          return 1 + 4 + 1 + v.nodes.size() * 32;
        } else if constexpr (std::is_same_v<T, fetch_response>) {
          std::size_t n = 1 + 4 + 1;
          for (const auto& e : v.entries) n += 2 + e.size();
          return n;
        } else {
          return limits::ping_bytes;
        }
      },
      m);
}

// ------------------------------------------------------------------ decode --

// Reads one body; the first failure wins and later reads are no-ops.
struct decoder {
  byte_reader r;
  std::optional<error> err;

  bool ok() const { return !err && r.ok(); }
  void fail(std::string why) {
    if (!err) err = error{errc::malformed_message, std::move(why)};
  }
  // Latches "truncated <what>" if the reader ran out.
  bool check(const char* what) {
    if (!err && !r.ok()) fail(std::string("truncated discovery ") + what);
    return ok();
  }
  // Fails unless `need` more bytes are there: checked before a count is
  // trusted for a reserve.
  bool have(std::size_t need, const char* what) {
    if (ok() && r.remaining() < need) fail(std::string("truncated discovery ") + what);
    return ok();
  }
  template <class Id>
  Id get_id() {
    Id id;
    r.get(id.writable());
    return id;
  }
  bool get_flag(const char* what) {
    const std::uint8_t b = r.get_u8();
    if (r.ok() && b > 1) fail(std::string(what) + " must be 0 or 1, got " + std::to_string(b));
    return b == 1;
  }

  digest_request get_digest_request() {
    digest_request m;
    m.req = r.get_u32();
    m.network = get_id<topic_id>();
    if (get_flag("digest_request has_after")) m.after = get_id<node_id>();
    m.max = r.get_u16();
    if (check("digest_request") && (m.max < 1 || m.max > limits::max_digests_per_page))
      fail("digest_request max " + std::to_string(m.max) + " outside 1.." +
           std::to_string(limits::max_digests_per_page));
    return m;
  }

  digest_page get_digest_page() {
    digest_page m;
    m.req = r.get_u32();
    m.more = get_flag("digest_page more");
    const std::uint16_t n = r.get_u16();
    if (!check("digest_page header")) return m;
    if (n > limits::max_digests_per_page) {
      fail("digest_page count " + std::to_string(n) + " exceeds " + std::to_string(limits::max_digests_per_page));
      return m;
    }
    if (!have(std::size_t{n} * limits::digest_bytes, "digest_page items")) return m;
    m.items.reserve(n);
    for (std::uint16_t i = 0; i < n; ++i) {
      digest d;
      d.node = get_id<node_id>();
      d.start_ms = r.get_u64();
      d.update_ms = r.get_u64();
      if (!m.items.empty() && !(m.items.back().node < d.node)) {
        fail("digest_page node ids not strictly ascending at item " + std::to_string(i));
        return m;
      }
      m.items.push_back(d);
    }
    return m;
  }

  fetch_request get_fetch_request() {
    fetch_request m;
    m.req = r.get_u32();
    const std::uint8_t n = r.get_u8();
    if (!check("fetch_request header")) return m;
    if (n < 1 || n > limits::max_fetch) {
      fail("fetch_request count " + std::to_string(n) + " outside 1.." + std::to_string(limits::max_fetch));
      return m;
    }
    if (!have(std::size_t{n} * 32, "fetch_request nodes")) return m;
    m.nodes.reserve(n);
    for (std::uint8_t i = 0; i < n; ++i) m.nodes.push_back(get_id<node_id>());
    return m;
  }

  fetch_response get_fetch_response() {
    fetch_response m;
    m.req = r.get_u32();
    const std::uint8_t n = r.get_u8();
    if (!check("fetch_response header")) return m;
    if (n > limits::max_fetch) {
      fail("fetch_response count " + std::to_string(n) + " exceeds " + std::to_string(limits::max_fetch));
      return m;
    }
    for (std::uint8_t i = 0; i < n; ++i) {
      const std::uint16_t len = r.get_u16();
      if (!check("fetch_response entry length")) return m;
      if (!entry_length_ok(len)) {
        fail("fetch_response entry " + std::to_string(i) + " of " + std::to_string(len) + " bytes outside " +
             std::to_string(limits::min_entry_bytes) + ".." + std::to_string(limits::max_entry_bytes));
        return m;
      }
      const byte_span e = r.get_span(len);
      if (!check("fetch_response entry")) return m;
      m.entries.emplace_back(e.begin(), e.end());
    }
    return m;
  }

  message get(std::uint8_t type) {
    switch (static_cast<message_type>(type)) {
      case message_type::digest_request:
        return get_digest_request();
      case message_type::digest_page:
        return get_digest_page();
      case message_type::fetch_request:
        return get_fetch_request();
      case message_type::fetch_response:
        return get_fetch_response();
      case message_type::ping:
        return ping{r.get_u64()};
      case message_type::pong:
        return pong{r.get_u64()};
    }
    fail("unknown discovery message type " + std::to_string(type));
    return ping{};
  }
};

// The variant index of each type is its type byte minus one.
static_assert(std::variant_size_v<message> == static_cast<std::size_t>(message_type::pong));
static_assert(
    std::is_same_v<std::variant_alternative_t<static_cast<std::size_t>(message_type::digest_page) - 1, message>,
                   digest_page>);
static_assert(
    std::is_same_v<std::variant_alternative_t<static_cast<std::size_t>(message_type::pong) - 1, message>, pong>);

}  // namespace

bool valid(const message& m) { return std::visit(validator{}, m); }

bool encode_to(bytes& out, const message& m) {
  if (!valid(m)) return false;
  out.reserve(out.size() + encoded_size(m));
  byte_writer w(out);
  w.put_u8(static_cast<std::uint8_t>(m.index() + 1));
  std::visit(encoder{w}, m);
  return true;
}

bytes encode(const message& m) {
  bytes out;
  encode_to(out, m);
  return out;
}

result<message> decode(byte_span body) {
  if (body.empty()) return error{errc::malformed_message, "empty discovery frame"};
  decoder d{byte_reader(body), std::nullopt};
  const std::uint8_t type = d.r.get_u8();
  message m = d.get(type);
  if (!d.check("message body")) return *d.err;
  if (!d.r.at_end())
    return error{errc::malformed_message, std::to_string(d.r.remaining()) + " trailing bytes after discovery message"};
  return m;
}

// --------------------------------------------------------------- announce --

bool valid(const announce& a) {
  if (const auto* e = std::get_if<announce_entry>(&a)) return entry_length_ok(e->entry.size());
  return std::get<announce_departure>(a).departure.size() == limits::departure_bytes;
}

bytes encode_announce(const announce& a) {
  bytes out;
  if (!valid(a)) return out;
  const bool is_entry = std::holds_alternative<announce_entry>(a);
  const bytes& blob = is_entry ? std::get<announce_entry>(a).entry : std::get<announce_departure>(a).departure;
  out.reserve(1 + blob.size());
  out.push_back(std::byte{static_cast<std::uint8_t>(is_entry ? announce_type::entry : announce_type::departure)});
  out.insert(out.end(), blob.begin(), blob.end());
  return out;
}

result<announce> decode_announce(byte_span in) {
  if (in.empty()) return error{errc::malformed_message, "empty announce"};
  const auto type = std::to_integer<std::uint8_t>(in[0]);
  const byte_span blob = in.subspan(1);
  switch (static_cast<announce_type>(type)) {
    case announce_type::entry:
      if (!entry_length_ok(blob.size()))
        return error{errc::malformed_message, "announced entry of " + std::to_string(blob.size()) + " bytes outside " +
                                                  std::to_string(limits::min_entry_bytes) + ".." +
                                                  std::to_string(limits::max_entry_bytes)};
      return announce{announce_entry{bytes(blob.begin(), blob.end())}};
    case announce_type::departure:
      if (blob.size() != limits::departure_bytes)
        return error{errc::malformed_message, "announced departure of " + std::to_string(blob.size()) +
                                                  " bytes (want " + std::to_string(limits::departure_bytes) + ")"};
      return announce{announce_departure{bytes(blob.begin(), blob.end())}};
  }
  return error{errc::malformed_message, "unknown announce type " + std::to_string(type)};
}

}  // namespace topicswarm::discovery::wire
