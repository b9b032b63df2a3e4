// LAN discovery (docs/PROTOCOL.md §20, issue 16): peers on one link find
// each other with no DHT, by a small UDP multicast beacon (TTL 1, so no
// router passes it on). The sans-IO core: it builds our beacons and checks
// the beacons others send; the driver (src/node/lan_driver) owns the socket.
//
// A beacon says who sends it (node id), the TCP port it listens on, the
// minute it was made in, and per topic it is in a 16-byte tag: HMAC-SHA-256
// keyed by the topic's LAN key (from the wire topic id and the topic's
// secret hash, so only members can compute it) over the node id, the port
// and the minute. A stranger learns from a beacon only that some node runs
// topicswarm there and how many topics it is in; tags of one topic from two
// nodes, or from one node in two minutes, do not match.
//
// Who can make us do what:
// - Anyone on the link: beacons are decoded without crypto and dropped when
//   malformed, our own, or of a minute more than `window_slack` away; each
//   source IP gets `source_burst` beacons refilled at `source_per_minute`,
//   all of them together `total_burst` at `total_per_minute`; only then are
//   tags checked (one HMAC per topic of ours, at most max_tags compares each).
// - A member, or anyone replaying a member's beacon within its minute (from
//   another source IP): one `found` per topic, peer and address in
//   `refound_interval`, which the driver turns into at most a dial to that
//   node id, where TLS proves who answers. The address is the beacon's
//   source IP as the socket saw it with the port the beacon names.
#pragma once

#include "core/effects.hpp"
#include "core/time.hpp"
#include "core/token_bucket.hpp"

#include <topicswarm/bytes.hpp>
#include <topicswarm/endpoint.hpp>
#include <topicswarm/error.hpp>
#include <topicswarm/ids.hpp>
#include <topicswarm/record.hpp>

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <variant>
#include <vector>

namespace topicswarm::lan {

using core::duration;
using core::instant;

// The beacon's wire format (§20.1): magic "tsLB" (4) · version u8 (1) ·
// node id (32) · port be16 (not 0) · minute be32 (unix minutes) · count u8
// (0..max_tags) · count tags of 16 bytes. Nothing may follow.
inline constexpr std::array<std::uint8_t, 4> magic{0x74, 0x73, 0x4c, 0x42};
inline constexpr std::uint8_t version = 1;
inline constexpr std::size_t tag_size = 16;
inline constexpr std::size_t max_tags = 16;
inline constexpr std::size_t header_size = 4 + 1 + 32 + 2 + 4 + 1;
inline constexpr std::size_t max_beacon_size = header_size + max_tags * tag_size;
// Where beacons go: an address of the IPv4 local scope (RFC 2365,
// 239.255.0.0/16) and a port of ours.
inline constexpr std::array<std::uint8_t, 4> group_v4{239, 255, 84, 83};
inline constexpr std::uint16_t default_port = 48654;

using tag = std::array<std::byte, tag_size>;
using topic_key = std::array<std::byte, 32>;

struct beacon {
  node_id from;
  std::uint16_t port = 0;
  std::uint32_t minute = 0;
  std::vector<tag> tags;
  friend bool operator==(const beacon&, const beacon&) = default;
};

bytes encode(const beacon& b);
// errc::malformed_message for a wrong magic or version, a wrong length, port
// 0 or more than max_tags tags.
result<beacon> decode(byte_span datagram);

// The topic's LAN key: SHA-512("topicswarm/lan-key/v1" || wire topic id ||
// secret hash)[0..32].
topic_key key_for(const topic_id& wire_topic, const secret_hash& secret);
// HMAC-SHA-256(key, "topicswarm/lan-tag/v1" || node id || port be16 ||
// minute be32)[0..16].
tag tag_for(const topic_key& key, const node_id& from, std::uint16_t port, std::uint32_t minute);

struct config {
  duration interval = std::chrono::seconds(5);           // between our beacons
  duration first_after = std::chrono::milliseconds(100); // after a topic is added
  std::uint32_t window_slack = 1;                        // minutes either side of ours
  std::size_t source_burst = 8;
  std::size_t source_per_minute = 60;
  std::size_t total_burst = 64;
  std::size_t total_per_minute = 600;
  std::size_t max_sources = 256;  // rate-limit buckets kept (the stalest goes)
  duration refound_interval = std::chrono::seconds(30);
  std::size_t max_found = 1024;   // (topic, peer, address) remembered for that
  std::size_t max_topics = 256;
};

struct timer {
  std::uint64_t serial = 0;
};

namespace in {
struct add_topic { topic_id topic; topic_key key; };
struct remove_topic { topic_id topic; };
// The TCP port our beacons name (0: none; no beacons are sent).
struct listen { std::uint16_t port = 0; };
// A datagram to the beacon port: its source as the socket saw it.
struct datagram { endpoint from; bytes payload; };
struct timer_fired { lan::timer t; };
using input = std::variant<add_topic, remove_topic, listen, datagram, timer_fired>;
}  // namespace in

namespace out {
// Send this beacon (on every interface the driver beacons on).
struct send { bytes payload; };
// A member of `topic` is at `address` (hearsay: dial it to that node id).
struct found { topic_id topic; node_id peer; endpoint address; };
using schedule = core::effect::schedule<timer>;
using output = std::variant<send, found, schedule>;
}  // namespace out

struct counters {
  std::uint64_t sent = 0;
  std::uint64_t received = 0;
  std::uint64_t malformed = 0;
  std::uint64_t own = 0;           // our own beacons, looped back
  std::uint64_t stale = 0;         // another minute (beyond the slack)
  std::uint64_t rate_limited = 0;  // over a source's or the total budget
  std::uint64_t unmatched = 0;     // no tag of a topic of ours
  std::uint64_t matches = 0;       // (topic, beacon) pairs that matched
  std::uint64_t found = 0;         // found effects
  std::uint64_t repeats = 0;       // matches already found within refound_interval
  std::uint64_t table_full = 0;    // matches not reported: max_found recent ones are held
};

class state {
 public:
  state(config cfg, const node_id& self);

  void handle(in::input input, instant now, std::uint32_t minute, std::vector<out::output>& out);
  bool timer_applies(const timer& t) const { return t.serial == serial_ && armed_; }
  std::size_t topics() const noexcept { return topics_.size(); }
  const counters& stats() const noexcept { return counters_; }

 private:
  using bucket = core::token_bucket;
  struct found_key {
    topic_id topic;
    node_id peer;
    endpoint address;
    friend auto operator<=>(const found_key&, const found_key&) = default;
  };
  using ip_key = std::array<std::uint8_t, 17>;  // family and address

  void arm(duration after, std::vector<out::output>& out);
  void on_datagram(const in::datagram& d, instant now, std::uint32_t minute, std::vector<out::output>& out);
  void send_beacon(std::uint32_t minute, std::vector<out::output>& out);

  config cfg_;
  node_id self_;
  std::uint16_t port_ = 0;
  std::map<topic_id, topic_key> topics_;
  std::size_t rotation_ = 0;  // the first topic of the next beacon, when there are more than max_tags
  std::map<ip_key, bucket> sources_;
  bucket total_;
  std::map<found_key, instant> found_;
  std::uint64_t serial_ = 0;
  bool armed_ = false;
  counters counters_;
};

}  // namespace topicswarm::lan
