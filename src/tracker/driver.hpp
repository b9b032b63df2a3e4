// The auto-discovery driver of one topic: the tracker core plus everything
// between it and the shell that is not IO (issue 12: "the tracker driver
// exists once, used by both the node and the simulator").
//
// The core works with slots by (window, index) and with decoded records; it
// knows no keys, no crypto and no addresses. The driver adds exactly that:
//  - slot keys and salts (from the window secret: record_codec::slot,
//    cached per (window, index));
//  - sealing our record: our addresses, each listed neighbour with the
//    addresses the shell knows for it, the message ids, signed and
//    encrypted with the topic's record_codec;
//  - opening what a DHT read returned, with its slot and BEP 44 seq
//    (invalid values are counted by the core, never passed on);
//  - the gossip views the core asks for (view_wanted), read from the shell.
//
// What remains for the shell (src/node/auto_discovery_driver.cpp on the
// node, sim/tracker_swarm.cpp in the simulator) is IO in the shared effect
// vocabulary (core/effects.hpp): dht_get, dht_put, dial and schedule, plus
// the core's two events: join (hand peers to the gossip core) and joined.
// The shell answers with on_get / on_put / and the core's own inputs.
//
// Like the cores, the driver reads no clock and does no IO.
#pragma once

#include "core/effects.hpp"
#include "tracker/tracker.hpp"

#include <topicswarm/identity.hpp>
#include <topicswarm/record.hpp>

#include <map>
#include <memory>
#include <optional>
#include <tuple>
#include <variant>
#include <vector>

namespace topicswarm::tracker {

// What only the shell knows: addresses, and the topic's gossip views.
// Queried synchronously while the driver handles an input.
class directory {
 public:
  virtual ~directory() = default;
  // Our own addresses, as they go into our record (never an address a third
  // party told us about: DESIGN.md §3).
  virtual std::vector<endpoint> own_addresses() const = 0;
  // Addresses known for `peer` (empty: unknown; such a neighbour is left
  // out of our record, since no reader could dial it).
  virtual std::vector<endpoint> addresses_of(const node_id& peer) const = 0;
  // The peers in the topic's gossip views (active and passive).
  virtual std::vector<node_id> gossip_views() const = 0;
};

// Values opened already, shared by drivers of one topic and secret (the
// simulator: thousands of nodes read the same few records; a node has no
// use for it). Bounded: cleared when full.
class opened_values {
 public:
  explicit opened_values(std::size_t limit = 20'000) : limit_(limit) {}
  // The record, or why the value is not one.
  result<topic_record> open(const record_codec& codec, byte_span value, std::uint64_t window, unsigned slot,
                            std::int64_t seq);

 private:
  std::size_t limit_;
  std::map<std::tuple<std::uint64_t, unsigned, std::int64_t, bytes>, result<topic_record>> cache_;
};

namespace effect {
using dht_get = core::effect::dht_get;
using dht_put = core::effect::dht_put;
using dial = core::effect::dial;
using schedule = core::effect::schedule<timers::timer>;
using join = out::join;      // event for the gossip core: join through these peers
using joined = out::joined;  // event: the topic has its first neighbour
using effect = std::variant<dht_get, dht_put, dial, schedule, join, joined>;
}  // namespace effect

struct driver_counters {
  std::uint64_t seal_failures = 0;  // our own lists broke the record format's limits (reported as a failed put)
  std::uint64_t answers_unknown = 0;  // a get or put answer for a request we do not know (dropped)
  // Slot values that are not a record, by the first check they failed
  // (cheapest first, PROTOCOL §6.4): shorter or longer than any record;
  // not format 2 (format 1, unknown); seq outside the window; AEAD open
  // failed (garbage, another secret or slot, tampered); signed for another
  // topic or window; signature not the publisher's; anything else.
  std::uint64_t rejected_length = 0, rejected_format = 0, rejected_seq = 0, rejected_decryption = 0,
                rejected_topic = 0, rejected_window = 0, rejected_signature = 0, rejected_other = 0;
};

// What a DHT read found in a slot: the value and its BEP 44 seq (record
// format 2 bounds the seq to the window, PROTOCOL §6).
struct stored_value {
  byte_span value;
  std::int64_t seq = 0;
};

class driver {
 public:
  // `me` signs our records; its id is our publisher id in records.
  driver(const identity& me, record_codec codec, const auto_discovery_config& cfg, std::uint64_t seed,
         const directory& dir, std::shared_ptr<opened_values> cache = nullptr);

  // Any input of the core except get_done / put_done / view (the driver
  // produces those). Effects are appended to `out`.
  void handle(in::input input, const clock& c, std::vector<effect::effect>& out);
  // The answer to an effect::dht_get: the value stored (if any), and whether
  // the lookup completed. Returns what the core was told.
  get_outcome on_get(std::uint64_t request, std::optional<stored_value> value, bool complete, const clock& c,
                     std::vector<effect::effect>& out);
  // The answer to an effect::dht_put.
  void on_put(std::uint64_t request, bool stored, const clock& c, std::vector<effect::effect>& out);

  const tracker& core() const noexcept { return core_; }
  const record_codec& codec() const noexcept { return codec_; }
  const driver_counters& counters() const noexcept { return c_; }

 private:
  const record_slot& slot(std::uint64_t window, unsigned index);
  // Feeds `input` and performs the core's outputs; inputs the outputs give
  // rise to (a view, a failed seal) are fed in turn, never re-entrantly.
  void run(in::input input, const clock& c, std::vector<effect::effect>& out);
  std::optional<bytes> seal(const out::dht_put& p);

  const identity& me_;
  record_codec codec_;
  const directory& dir_;
  std::shared_ptr<opened_values> cache_;
  tracker core_;
  std::map<std::pair<std::uint64_t, unsigned>, record_slot> slots_;  // current windows only
  std::map<std::uint64_t, std::pair<std::uint64_t, unsigned>> get_windows_;  // request -> (window, slot) in flight
  driver_counters c_;
};

}  // namespace topicswarm::tracker
