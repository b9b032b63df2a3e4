// Network discovery: the sans-IO core of one node's membership in one
// network (issue 14; docs/PROTOCOL.md §14-18). It keeps the catalog of the
// network's peers and our own signed entry, and runs:
//  - announce: our entry as gossip content on the network topic, when it
//    changes, when we get a new neighbour there, and every announce_interval
//    +- jitter; a signed departure when we stop;
//  - catalog sync with each new neighbour: digests first, then only the
//    entries that are newer than ours, in bounded pages, each entry opened
//    alone (one bad entry is dropped and counted, the sync goes on);
//  - ping: RTT per neighbour, smoothed as RFC 6298;
//  - purge of entries not updated for purge_after;
//  - the DHT bootstrap chain (chain.hpp): 16 encrypted slots per epoch read
//    concurrently, healthy peers fed to the network topic, a slot claimed
//    when we are absent from the chain.
//
// Inputs come with a core::clock (monotonic instant + wall clock); effects
// come out in the shared vocabulary (core/effects.hpp) plus this core's own
// events. The core signs with the node's identity and opens entries and
// chain records itself; it does no IO and reads no clock.
#pragma once

#include "core/effects.hpp"
#include "core/peer_info.hpp"
#include "core/rng.hpp"
#include "core/time.hpp"
#include "discovery/catalog.hpp"
#include "discovery/chain_record.hpp"
#include "discovery/entry.hpp"
#include "discovery/opened_entries.hpp"
#include "discovery/wire.hpp"

#include <topicswarm/identity.hpp>
#include <topicswarm/network.hpp>
#include <topicswarm/record.hpp>

#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <variant>
#include <vector>

namespace topicswarm::discovery {

using core::duration;
using core::instant;
using namespace std::chrono_literals;

struct config {
  catalog_config catalog;
  // Announce period and its jitter (a fraction: 0.5 = +-50 %): mosaik's
  // defaults. At most one announce per min_announce_gap (new neighbours in
  // a burst give one announce).
  duration announce_interval = std::chrono::seconds(45);
  double announce_jitter = 0.5;
  duration min_announce_gap = std::chrono::seconds(1);
  // Catalog sync: sessions at once (0: no sync, announces only), requests in flight per session, the
  // answer deadline of one request, the page and fetch sizes asked for.
  std::size_t max_syncs = 4;
  std::size_t fetches_in_flight = 4;
  duration request_timeout = std::chrono::seconds(5);
  std::size_t page_size = wire::limits::max_digests_per_page;
  std::size_t fetch_size = wire::limits::max_fetch;
  // What one peer may ask of us: a token bucket of requests (digest pages,
  // fetches, pings): `request_burst` at once, refilled at `request_rate`/s.
  std::size_t request_burst = 128;
  double request_rate = 16.0;
  // What we allow ourselves when we sync from a peer: below its budget
  // (the same defaults on both sides), so a sync of a full catalog is paced,
  // not refused.
  std::size_t pace_burst = 96;
  double pace_rate = 12.0;
  // A failed sync with a peer that is still a neighbour is tried again.
  duration sync_retry = std::chrono::seconds(10);
  // Ping every neighbour of the network topic this often (and once when it
  // becomes one); off: no RTT.
  bool ping = true;
  duration ping_interval = std::chrono::seconds(15);
  duration ping_timeout = std::chrono::seconds(5);
  // Purge stale entries this often (a crashed peer leaves the catalog
  // between purge_after and purge_after + purge_check after its last update).
  duration purge_check = std::chrono::seconds(5);
  // The DHT bootstrap chain (chain.hpp).
  bool chain = true;
  duration chain_poll_alone = std::chrono::seconds(5);
  duration chain_poll_relaxed = std::chrono::seconds(60);
  duration chain_record_ttl = std::chrono::seconds(600);
  duration chain_probe_timeout = std::chrono::seconds(5);
  duration dht_timeout = std::chrono::seconds(10);
};

// Who we are in the network.
struct setup {
  network_id network;
  secret_hash key;                  // the network key (hash_secret of network_topic_id)
  std::uint64_t start_ms = 0;       // our process start, unix ms
  std::vector<endpoint> addresses;  // ours, as they go into our entry and chain record
  std::vector<std::string> tags;
  std::vector<topic_id> topics;  // wire ids
  // Shared with other cores of this process that see the same entries (the
  // simulator); null: every entry is opened here.
  std::shared_ptr<opened_entries> opened;
};

namespace timers {
struct announce {
  std::uint64_t gen = 0;
};
struct purge {};
struct ping {};
struct ping_deadline {
  std::uint64_t nonce = 0;
};
struct request_deadline {
  node_id peer;
  std::uint32_t req = 0;
};
struct chain_poll {
  std::uint64_t gen = 0;
};
struct chain_probe_deadline {
  node_id peer;
  std::uint64_t round = 0;
};
// A sync waits for its own pacing budget (it stays within what the
// responder allows) or retries after a failure.
struct sync_pace {
  node_id peer;
};
struct sync_retry {
  node_id peer;
};
// A chain round that has not finished by then is decided with what it has.
struct chain_round_deadline {
  std::uint64_t round = 0;
};
using timer = std::variant<announce, purge, ping, ping_deadline, request_deadline, chain_poll, chain_probe_deadline,
                           sync_pace, sync_retry, chain_round_deadline>;
}  // namespace timers

namespace in {
// Begin: sign our entry, start the timers and the chain.
struct start {};
struct set_addresses {
  std::vector<endpoint> addresses;
};
struct set_tags {
  std::vector<std::string> tags;
};
struct set_topics {
  std::vector<topic_id> topics;
};
// A neighbour of the network topic came or went.
struct neighbor {
  node_id peer;
  bool up = false;
};
// Gossip content delivered on the network topic (an announce).
struct announce_received {
  node_id from;
  bytes content;
};
// A discovery frame from a peer admitted to the network.
struct frame {
  node_id from;
  wire::message msg;
};
// Our connection to `peer` closed, or a dial to it failed.
struct unreachable {
  node_id peer;
};
struct dht_got {
  std::uint64_t request = 0;
  std::optional<bytes> value;
  std::int64_t seq = 0;
  // False: the lookup timed out, so an empty answer says nothing about the slot.
  bool complete = true;
};
struct dht_put_done {
  std::uint64_t request = 0;
  bool stored = false;
};
struct timer_fired {
  timers::timer t;
};
// Leaving: announce a signed departure; nothing more is sent afterwards.
struct stop {};
using input = std::variant<start, set_addresses, set_tags, set_topics, neighbor, announce_received, frame, unreachable,
                           dht_got, dht_put_done, timer_fired, stop>;
}  // namespace in

namespace out {
using send = core::effect::send<wire::message>;
// Gossip content for the network topic: to everyone, or to our neighbours only.
struct broadcast {
  bytes content;
};
// Join the network topic through these peers (addresses are hints).
struct join {
  std::vector<core::peer_info> peers;
};
using dht_get = core::effect::dht_get;
using dht_put = core::effect::dht_put;
using schedule = core::effect::schedule<timers::timer>;
struct peer_discovered {
  peer_entry entry;
};
struct peer_updated {
  peer_entry entry;
};
struct peer_departed {
  node_id peer;
  departure_cause cause;
};
using output =
    std::variant<send, broadcast, join, dht_get, dht_put, schedule, peer_discovered, peer_updated, peer_departed>;
}  // namespace out

struct counters {
  // announces
  std::uint64_t announces_sent = 0, announces_received = 0, announces_malformed = 0;
  std::uint64_t departures_sent = 0, departures_honoured = 0, departures_stale = 0, departures_unknown = 0;
  // upserts by result (catalog.hpp), whatever the path
  std::uint64_t added = 0, updated = 0, other_network = 0, self = 0, clock_ahead = 0, clock_behind = 0, outdated = 0,
                not_newer = 0, full = 0, evicted = 0, purged = 0;
  std::uint64_t entries_invalid = 0;  // did not open (signature, layout, size)
  // sync
  std::uint64_t syncs_started = 0, syncs_completed = 0, syncs_failed = 0;
  std::uint64_t pages_received = 0, entries_fetched = 0, entries_unasked = 0, responses_unexpected = 0;
  std::uint64_t requests_served = 0, requests_over_budget = 0, requests_wrong_network = 0;
  // ping
  std::uint64_t pings_sent = 0, pongs_received = 0, ping_timeouts = 0;
  // chain
  std::uint64_t chain_polls = 0, chain_gets = 0, chain_records_valid = 0, chain_records_invalid = 0;
  std::uint64_t chain_peers_healthy = 0, chain_peers_unhealthy = 0, chain_claims = 0, chain_claims_failed = 0;
};

class state {
 public:
  state(const identity& me, setup s, config cfg, std::uint64_t seed);

  void handle(in::input input, const core::clock& c, std::vector<out::output>& out);

  const catalog& peers() const noexcept { return catalog_; }
  const signed_entry& local() const noexcept { return local_; }
  const topic_id& wire_id() const noexcept { return wire_; }
  const topic_id& topic() const noexcept { return topic_; }
  std::optional<rtt_estimate> rtt(const node_id& peer) const;
  const counters& stats() const noexcept { return c_; }
  const std::set<node_id>& neighbors() const noexcept { return neighbors_; }
  // Catalog peers that list `wire_topic`, with their addresses, nearest
  // first; without those whose smoothed RTT exceeds `max_rtt` (peers
  // without a sample are kept: nothing says they are far).
  std::vector<core::peer_info> topic_candidates(const topic_id& wire_topic, std::optional<duration> max_rtt) const;
  bool stopped() const noexcept { return stopped_; }

 private:
  // One catalog sync we run against a peer.
  struct sync_session {
    double tokens = -1;  // pacing budget (-1: not started)
    instant tokens_at{};
    bool pace_scheduled = false;
    bool page_wanted = false;       // a page request waits for budget
    std::uint32_t page_req = 0;     // the digest request in flight (0: none)
    std::optional<node_id> cursor;  // last digest seen
    bool pages_done = false;
    std::size_t pages = 0;
    std::deque<node_id> wanted;                          // to fetch
    std::map<std::uint32_t, std::set<node_id>> fetches;  // in flight
  };
  // What a peer may ask of us (token bucket).
  struct budget {
    double tokens = 0;
    instant at{};
  };
  struct pending_ping {
    node_id peer;
    instant sent{};
  };

  void on(const in::start&, const core::clock&, std::vector<out::output>&);
  void on(const in::set_addresses&, const core::clock&, std::vector<out::output>&);
  void on(const in::set_tags&, const core::clock&, std::vector<out::output>&);
  void on(const in::set_topics&, const core::clock&, std::vector<out::output>&);
  void on(const in::neighbor&, const core::clock&, std::vector<out::output>&);
  void on(const in::announce_received&, const core::clock&, std::vector<out::output>&);
  void on(const in::frame&, const core::clock&, std::vector<out::output>&);
  void on(const in::unreachable&, const core::clock&, std::vector<out::output>&);
  void on(const in::dht_got&, const core::clock&, std::vector<out::output>&);
  void on(const in::dht_put_done&, const core::clock&, std::vector<out::output>&);
  void on(const in::timer_fired&, const core::clock&, std::vector<out::output>&);
  void on(const in::stop&, const core::clock&, std::vector<out::output>&);

  // Re-signs our entry with a fresh update time; false if its lists break a limit.
  bool resign(const core::clock& c);
  void announce(const core::clock& c, std::vector<out::output>& out);
  void schedule_announce(const core::clock& c, std::vector<out::output>& out);
  // open_entry, through setup::opened if there is one.
  result<signed_entry> open(byte_span encoded) const {
    return setup_.opened ? setup_.opened->open(encoded) : open_entry(encoded);
  }
  void accept(signed_entry e, entry_source src, const core::clock& c, std::vector<out::output>& out);
  void departed(const node_id& peer, departure_cause cause, std::vector<out::output>& out);

  // sync, initiator side
  void want_sync(const node_id& peer, const core::clock& c, std::vector<out::output>& out);
  void start_syncs(const core::clock& c, std::vector<out::output>& out);
  void request_page(const node_id& peer, sync_session& s, const core::clock& c, std::vector<out::output>& out);
  void pump_fetches(const node_id& peer, sync_session& s, const core::clock& c, std::vector<out::output>& out);
  void on_page(const node_id& peer, const wire::digest_page& p, const core::clock& c, std::vector<out::output>& out);
  void on_fetched(const node_id& peer, const wire::fetch_response& r, const core::clock& c,
                  std::vector<out::output>& out);
  void finish_sync(const node_id& peer, bool ok, const core::clock& c, std::vector<out::output>& out);
  // Takes one request's worth of pacing budget, or schedules a sync_pace.
  bool pace(const node_id& peer, sync_session& s, const core::clock& c, std::vector<out::output>& out);
  // sync, responder side
  bool charge(const node_id& peer, const core::clock& c);
  void serve(const node_id& peer, const wire::digest_request& r, std::vector<out::output>& out);
  void serve(const node_id& peer, const wire::fetch_request& r, std::vector<out::output>& out);

  void ping_all(const core::clock& c, std::vector<out::output>& out);
  std::uint32_t next_req();

  // chain
  void chain_poll(const core::clock& c, std::vector<out::output>& out);
  void chain_schedule(const core::clock& c, std::vector<out::output>& out);
  void on_chain_contact(unsigned slot, std::int64_t epoch, const chain_contact& contact, const core::clock& c,
                        std::vector<out::output>& out);
  void chain_slot_done(const core::clock& c, std::vector<out::output>& out);
  void chain_decide(const core::clock& c, std::vector<out::output>& out);
  void chain_claim(const core::clock& c, std::vector<out::output>& out);
  void chain_healthy(const node_id& peer, const core::clock& c, std::vector<out::output>& out);
  const chain_slot& slot_keys(std::int64_t epoch, unsigned slot);
  bool alone() const { return neighbors_.empty() && catalog_.size() == 0; }

  const identity& me_;
  setup setup_;
  config cfg_;
  core::rng rng_;
  topic_id topic_, wire_;
  catalog catalog_;
  signed_entry local_;
  bool started_ = false, stopped_ = false;

  std::set<node_id> neighbors_;
  std::uint64_t announce_gen_ = 0;
  std::optional<instant> last_announce_;
  bool announce_pending_ = false;  // an announce waits for min_announce_gap

  std::set<node_id> synced_;               // first contact done (until it departs)
  std::deque<node_id> sync_queue_;         // waiting for a session slot
  std::map<node_id, sync_session> syncs_;  // running
  std::map<node_id, node_id> requested_;   // entry -> the peer we fetch it from
  std::map<node_id, budget> budgets_;      // responders' view of requesters
  std::uint32_t req_ = 0;

  std::map<std::uint64_t, pending_ping> pings_;  // by nonce
  std::map<node_id, rtt_estimate> rtt_;

  // chain state
  struct chain_round {
    std::uint64_t id = 0;
    std::int64_t epoch = 0;
    std::map<std::uint64_t, std::pair<std::int64_t, unsigned>> gets;  // request -> (epoch, slot)
    std::set<unsigned> empty;                                         // current-epoch slots with nothing valid
    std::map<unsigned, std::pair<node_id, std::int64_t>> occupied;    // current-epoch slot -> (peer, seq)
    std::map<node_id, std::set<unsigned>> probing;                    // peers being checked -> their slots
    std::set<unsigned> unhealthy;
    std::set<unsigned> unknown;         // current-epoch slots whose lookup timed out: not claimable
    std::optional<unsigned> own_stale;  // our slot, with addresses we no longer have
    bool self_present = false;
    bool done = false;
  };
  chain_secrets chain_;
  std::map<std::pair<std::int64_t, unsigned>, chain_slot> chain_slots_;
  chain_round round_;
  std::uint64_t chain_gen_ = 0, rounds_ = 0, dht_req_ = 0;
  std::optional<std::uint64_t> last_claim_unix_ms_;
  std::optional<std::uint64_t> claim_put_;  // the put in flight
  std::vector<endpoint> claimed_addresses_;

  counters c_;
};

}  // namespace topicswarm::discovery
