#include "gossip/codec.hpp"

#include "core/codec.hpp"

#include <algorithm>
#include <string>

namespace topicswarm::gossip {
namespace {

using core::byte_reader;
using core::byte_writer;

constexpr std::size_t addr_v6_size = 1 + 16 + 2;
constexpr std::size_t peer_max_size = 32 + 1 + limits::max_addresses * addr_v6_size;

// ------------------------------------------------------------------ encode --

void put_addresses(byte_writer& w, const std::vector<endpoint>& a) {
  const std::size_t n = std::min(a.size(), limits::max_addresses);
  w.put_u8(static_cast<std::uint8_t>(n));
  for (std::size_t i = 0; i < n; ++i) {
    const endpoint& e = a[i];
    const bool v6 = e.is_v6();
    w.put_u8(v6 ? 6 : 4);
    w.put(std::as_bytes(std::span(e.ip.data(), v6 ? 16 : 4)));
    w.put_u16(e.port);
  }
}

void put_peer(byte_writer& w, const peer_info& p) {
  w.put(p.id.span());
  put_addresses(w, p.addresses);
}

void put_peers(byte_writer& w, const std::vector<peer_info>& v) {
  const std::size_t n = std::min(v.size(), limits::max_shuffle_nodes);
  w.put_u8(static_cast<std::uint8_t>(n));
  for (std::size_t i = 0; i < n; ++i) put_peer(w, v[i]);
}

struct encoder {
  byte_writer& w;
  void operator()(const wire::join& m) { put_addresses(w, m.addresses); }
  void operator()(const wire::forward_join& m) {
    put_peer(w, m.peer);
    w.put_u8(m.ttl);
  }
  void operator()(const wire::neighbor& m) {
    w.put_u8(static_cast<std::uint8_t>(m.prio));
    put_addresses(w, m.addresses);
  }
  void operator()(const wire::neighbor_reply& m) { w.put_u8(m.accepted ? 1 : 0); }
  void operator()(const wire::disconnect& m) { w.put_u8(m.alive ? 1 : 0); }
  void operator()(const wire::shuffle& m) {
    put_peer(w, m.origin);
    w.put_u8(m.ttl);
    put_peers(w, m.nodes);
  }
  void operator()(const wire::shuffle_reply& m) { put_peers(w, m.nodes); }
  void operator()(const wire::gossip& m) {
    w.put(m.id.span());
    w.put_u16(m.round);
    w.put_u8(static_cast<std::uint8_t>(m.sc));
    w.put_u32(static_cast<std::uint32_t>(m.content.size()));
    w.put(m.content);
  }
  void operator()(const wire::ihave& m) {
    const std::size_t n = std::min(m.entries.size(), limits::max_ihave_entries);
    w.put_u16(static_cast<std::uint16_t>(n));
    for (std::size_t i = 0; i < n; ++i) {
      w.put(m.entries[i].id.span());
      w.put_u16(m.entries[i].round);
    }
  }
  void operator()(const wire::graft& m) {
    w.put_u8(m.id ? 1 : 0);
    if (m.id) w.put(m.id->span());
    w.put_u16(m.round);
  }
  void operator()(const wire::prune&) {}
};

// ------------------------------------------------------------------ decode --

// The first failure wins; later reads on a failed reader are no-ops.
struct decoder {
  byte_reader r;
  std::size_t max_content;
  std::optional<error> err;

  bool ok() const { return !err && r.ok(); }
  void fail(errc e, std::string why) {
    if (!err) err = error{e, std::move(why)};
  }
  bool check(const char* what) {
    if (!err && !r.ok()) fail(errc::malformed_message, std::string("truncated ") + what);
    return ok();
  }

  template <class Id>
  Id get_id() {
    Id id;
    r.get(id.writable());
    return id;
  }
  bool get_bool(const char* what) {
    const std::uint8_t b = r.get_u8();
    if (r.ok() && b > 1) fail(errc::malformed_message, std::string(what) + " must be 0 or 1, got " + std::to_string(b));
    return b == 1;
  }
  std::uint8_t get_ttl() {
    const std::uint8_t t = r.get_u8();
    if (r.ok() && t > limits::max_ttl)
      fail(errc::message_too_large, "ttl " + std::to_string(t) + " exceeds " + std::to_string(limits::max_ttl));
    return t;
  }
  std::vector<endpoint> get_addresses() {
    std::vector<endpoint> a;
    const std::uint8_t n = r.get_u8();
    if (!check("address count")) return a;
    if (n > limits::max_addresses) {
      fail(errc::message_too_large,
           "address count " + std::to_string(n) + " exceeds " + std::to_string(limits::max_addresses));
      return a;
    }
    for (std::uint8_t i = 0; i < n && ok(); ++i) {
      endpoint e;
      const std::uint8_t fam = r.get_u8();
      if (!check("address")) break;
      if (fam != 4 && fam != 6) {
        fail(errc::malformed_message, "unknown address family " + std::to_string(fam));
        break;
      }
      e.fam = fam == 4 ? endpoint::family::v4 : endpoint::family::v6;
      r.get(std::as_writable_bytes(std::span(e.ip.data(), fam == 4 ? 4 : 16)));
      e.port = r.get_u16();
      if (!check("address")) break;
      a.push_back(e);
    }
    return a;
  }
  peer_info get_peer() {
    peer_info p;
    p.id = get_id<node_id>();
    if (!check("peer id")) return p;
    p.addresses = get_addresses();
    return p;
  }
  std::vector<peer_info> get_peers() {
    std::vector<peer_info> v;
    const std::uint8_t n = r.get_u8();
    if (!check("peer count")) return v;
    if (n > limits::max_shuffle_nodes) {
      fail(errc::message_too_large,
           "peer count " + std::to_string(n) + " exceeds " + std::to_string(limits::max_shuffle_nodes));
      return v;
    }
    // Never reserve from a count before its bytes are known to be there.
    for (std::uint8_t i = 0; i < n && ok(); ++i) v.push_back(get_peer());
    return v;
  }

  wire::message body(message_type t) {
    switch (t) {
      case message_type::join:
        return wire::join{get_addresses()};
      case message_type::forward_join: {
        wire::forward_join m;
        m.peer = get_peer();
        m.ttl = get_ttl();
        return m;
      }
      case message_type::neighbor: {
        wire::neighbor m;
        const std::uint8_t p = r.get_u8();
        if (r.ok() && p > 1) fail(errc::malformed_message, "unknown priority " + std::to_string(p));
        m.prio = p == 1 ? priority::high : priority::low;
        m.addresses = get_addresses();
        return m;
      }
      case message_type::neighbor_reply:
        return wire::neighbor_reply{get_bool("accepted")};
      case message_type::disconnect:
        return wire::disconnect{get_bool("alive")};
      case message_type::shuffle: {
        wire::shuffle m;
        m.origin = get_peer();
        m.ttl = get_ttl();
        m.nodes = get_peers();
        return m;
      }
      case message_type::shuffle_reply:
        return wire::shuffle_reply{get_peers()};
      case message_type::gossip: {
        wire::gossip m;
        m.id = get_id<message_id>();
        m.round = r.get_u16();
        const std::uint8_t sc = r.get_u8();
        if (r.ok() && sc > 1) fail(errc::malformed_message, "unknown scope " + std::to_string(sc));
        m.sc = sc == 1 ? scope::neighbors : scope::swarm;
        const std::uint32_t len = r.get_u32();
        if (!check("gossip header")) return m;
        if (len > max_content) {
          fail(errc::message_too_large,
               "content of " + std::to_string(len) + " bytes exceeds " + std::to_string(max_content));
          return m;
        }
        auto c = r.get_span(len);
        if (!check("content")) return m;
        m.content.assign(c.begin(), c.end());
        return m;
      }
      case message_type::ihave: {
        wire::ihave m;
        const std::uint16_t n = r.get_u16();
        if (!check("ihave count")) return m;
        if (n > limits::max_ihave_entries) {
          fail(errc::message_too_large,
               "ihave count " + std::to_string(n) + " exceeds " + std::to_string(limits::max_ihave_entries));
          return m;
        }
        if (r.remaining() < std::size_t{n} * (32 + 2)) {
          fail(errc::malformed_message, "truncated ihave entries");
          return m;
        }
        m.entries.reserve(n);
        for (std::uint16_t i = 0; i < n; ++i) {
          wire::ihave_entry e;
          e.id = get_id<message_id>();
          e.round = r.get_u16();
          m.entries.push_back(e);
        }
        return m;
      }
      case message_type::graft: {
        wire::graft m;
        if (get_bool("graft id flag")) m.id = get_id<message_id>();
        m.round = r.get_u16();
        return m;
      }
      case message_type::prune:
        return wire::prune{};
    }
    fail(errc::malformed_message, "unknown message type " + std::to_string(static_cast<unsigned>(t)));
    return wire::prune{};
  }
};

}  // namespace

void encode_to(bytes& out, const topic_id& topic, const wire::message& msg) {
  byte_writer w(out);
  w.put(topic.span());
  w.put_u8(static_cast<std::uint8_t>(msg.index()));
  std::visit(encoder{w}, msg);
}

bytes encode(const topic_id& topic, const wire::message& msg) {
  bytes out;
  encode_to(out, topic, msg);
  return out;
}

result<std::pair<topic_id, wire::message>> decode(byte_span in, std::size_t max_content) {
  decoder d{byte_reader(in), std::min(max_content, limits::max_content_size), std::nullopt};
  const topic_id topic = d.get_id<topic_id>();
  const std::uint8_t type = d.r.get_u8();
  if (!d.check("header")) return *d.err;
  if (type > static_cast<std::uint8_t>(message_type::prune))
    return error{errc::malformed_message, "unknown message type " + std::to_string(type)};
  wire::message msg = d.body(static_cast<message_type>(type));
  if (!d.check("message body")) return *d.err;
  if (!d.r.at_end()) return error{errc::malformed_message, std::to_string(d.r.remaining()) + " trailing bytes"};
  return std::pair<topic_id, wire::message>{topic, std::move(msg)};
}

std::size_t max_encoded_size(std::size_t max_content) {
  constexpr std::size_t header = 32 + 1;
  const std::size_t gossip = header + 32 + 2 + 1 + 4 + std::min(max_content, limits::max_content_size);
  constexpr std::size_t ihave = header + 2 + limits::max_ihave_entries * (32 + 2);
  constexpr std::size_t shuffle = header + peer_max_size + 1 + 1 + limits::max_shuffle_nodes * peer_max_size;
  return std::max({gossip, ihave, shuffle});
}

}  // namespace topicswarm::gossip
