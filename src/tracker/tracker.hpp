// The tracker core: auto-discovery of one topic through DHT records, as a
// sans-IO state machine (DESIGN.md §3). docs/PROTOCOL.md §11 is its
// specification; this header is its contract with a driver (the node's IO
// shell, or the simulator).
//
// The core never touches the DHT, the network, a clock or a global RNG. It
// works with slots by (window, index); the driver owns the topic's
// record_codec and slot keys:
//  - out::dht_get: read slot `slot` of `window`; open the value with the
//    codec and answer in::get_done (record, empty, invalid or timeout).
//  - out::dht_put: seal our record for `window` (publisher = us, our
//    addresses, the listed neighbours with their addresses, the listed
//    message ids, timestamp = seq) and store it in the slot with that seq;
//    answer in::put_done.
//  - out::dial: connect to the peer (no gossip message) and answer
//    in::dial_done; the connection is for a join that may follow.
//  - out::join: hand the peers to the gossip layer's join (in::join_peers).
//  - out::schedule: feed in::timer_fired{t} after `after` (never cancelled;
//    a stale timer is ignored).
//  - out::joined: the topic has its first neighbour (once per bootstrap).
// The driver also feeds neighbour changes and the ids of messages the topic
// delivered or sent (for records and the message-overlap test).
//
// Time: `now` is monotonic (timers); `unix_ms` is wall-clock time (windows,
// seq). Both come in with every input.
#pragma once

#include <topicswarm/auto_discovery.hpp>
#include <topicswarm/ids.hpp>
#include <topicswarm/record.hpp>

#include "core/effects.hpp"
#include "core/time.hpp"
#include "core/rng.hpp"

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <unordered_set>
#include <variant>
#include <vector>

namespace topicswarm::tracker {

using core::duration;
using core::instant;

// Window length of records (docs/PROTOCOL.md §1): one minute.
inline constexpr std::uint64_t window_ms = 60'000;

// What a member that writes records can make a bootstrapping reader dial
// (issue 15; docs/PROTOCOL.md §7.6, SECURITY.md): per round, every record's
// publisher (at most 2 x slots records) and, of the neighbours the records
// list, at most max_listed_dials_per_record per record and
// max_listed_dials_per_round in all. Each dial tries at most
// max_record_addresses addresses, and a candidate that failed is not dialled
// again for unreachable_backoff.
inline constexpr std::size_t max_listed_dials_per_record = 2;
inline constexpr std::size_t max_listed_dials_per_round = 8;
constexpr std::uint64_t window_of(std::uint64_t unix_ms) { return unix_ms / window_ms; }

using clock = core::clock;

namespace timers {
struct poll {
  std::uint64_t gen = 0;
};  // next bootstrap read round
struct judge {
  std::uint64_t gen = 0;
};  // a bootstrap round's dials had their time
struct publish {
  std::uint64_t gen = 0;
};  // publisher tick
struct bubble {
  std::uint64_t gen = 0;
};  // bubble merge tick
struct overlap {
  std::uint64_t gen = 0;
};  // message-overlap merge tick
struct put_retry {
  std::uint64_t put = 0;
};  // retry of a failed put
struct isolated {
  std::uint64_t gen = 0;
};                     // lost every neighbour: bootstrap again if still so
struct settle_check {  // one early merge check after joining
  std::uint64_t gen = 0;
};
struct dial_timeout {  // a dial that has not answered within timeouts.join_peer_timeout
  node_id peer;
  std::uint64_t dial = 0;
};
struct republish {  // one publish soon after our addresses changed (not a tick)
  std::uint64_t gen = 0;
  std::uint64_t change = 0;
};
using timer =
    std::variant<poll, judge, publish, bubble, overlap, put_retry, isolated, settle_check, dial_timeout, republish>;
}  // namespace timers

enum class get_outcome : std::uint8_t {
  empty,    // nothing stored in the slot
  record,   // a record that opened and verified
  invalid,  // something that did not open (garbage, another secret, forged): counted, slot treated as free
  timeout,  // the lookup did not finish in time: the slot's content is unknown
};

namespace in {
struct start {};  // begin bootstrapping
struct timer_fired {
  timers::timer t;
};
struct get_done {
  std::uint64_t request = 0;
  get_outcome outcome = get_outcome::empty;
  std::optional<topic_record> record;  // with outcome::record
};
struct put_done {
  std::uint64_t request = 0;
  bool ok = false;
};
struct dial_done {
  node_id peer;
  bool ok = false;
};
struct neighbor_up {
  node_id peer;
};
struct neighbor_down {
  node_id peer;
};
struct message_seen {
  message_id id;
};
// The answer to out::view_wanted: the peers in the topic's gossip views
// (active and passive).
struct view {
  std::vector<node_id> known;
};
// Our own addresses changed (the shell re-read its interfaces): records
// written before name addresses that no longer reach us, so publish once
// after publisher.address_change_delay rather than at the next tick.
struct addresses_changed {};
using input = std::variant<start, timer_fired, get_done, put_done, dial_done, neighbor_up, neighbor_down, message_seen,
                           view, addresses_changed>;
}  // namespace in

namespace out {
struct dht_get {
  std::uint64_t request;
  std::uint64_t window;
  unsigned slot;
  duration timeout;
};
struct dht_put {
  std::uint64_t request;
  std::uint64_t window;
  unsigned slot;
  std::int64_t seq;  // also the record's timestamp_ms
  std::vector<node_id> neighbors;
  std::vector<message_id> recent_messages;
  duration timeout;
};
using dial = core::effect::dial;  // shared effects (core/effects.hpp)
struct join {
  std::vector<core::peer_info> peers;
};
using schedule = core::effect::schedule<timers::timer>;
struct joined {};
// Feed in::view now (the message-overlap merge's island test needs it).
struct view_wanted {};
using output = std::variant<dht_get, dht_put, dial, join, schedule, joined, view_wanted>;
}  // namespace out

enum class phase : std::uint8_t { idle, bootstrapping, joined };

struct counters {
  std::uint64_t gets = 0, get_timeouts = 0, puts = 0, put_failures = 0, put_retries = 0;
  std::uint64_t records_valid = 0, records_invalid = 0, records_own = 0, slots_empty = 0;
  std::uint64_t rounds = 0;  // bootstrap read rounds
  std::uint64_t bootstrap_publishes = 0, publisher_publishes = 0;
  std::uint64_t address_republishes = 0;    // publishes brought forward by in::addresses_changed
  std::uint64_t publishes_skipped_cap = 0;  // every slot of the window held another publisher's record
  std::uint64_t dials = 0, dial_failures = 0, joins = 0;
  std::uint64_t bubble_merges = 0, overlap_merges = 0;  // ticks that dialled someone
  std::uint64_t island_merges = 0;                      // overlap ticks that dialled only on the island test
  std::uint64_t rebootstraps = 0;                       // lost every neighbour, bootstrapped again
  std::uint64_t displaced = 0;                          // our record was found gone from its slot
  std::uint64_t dial_timeouts = 0;                      // dials given up after timeouts.join_peer_timeout
  std::uint64_t probes = 0;                             // publisher: one-slot reads of a window after a full one...
  std::uint64_t probes_taken = 0;                       // ...that found the slot taken (no full read, no write)
  // Listed neighbours not dialled in a bootstrap round: over
  // max_listed_dials_per_record or max_listed_dials_per_round.
  std::uint64_t listed_dials_capped = 0;
};

// What a status line shows.
struct tracker_status {
  enum phase phase = phase::idle;
  std::size_t neighbors = 0;
  std::size_t records_seen = 0;  // distinct other publishers in the current and previous window's slots
};

class tracker {
 public:
  // `me`: our id and addresses (candidates equal to us are skipped).
  tracker(node_id me, const auto_discovery_config& cfg, std::uint64_t seed);

  void handle(in::input input, const clock& c, std::vector<out::output>& out);

  tracker_status status() const;
  const counters& stats() const noexcept { return c_; }
  phase current_phase() const noexcept { return phase_; }
  std::size_t slots() const noexcept { return k_; }
  // Requests (gets and puts) the driver still owes an answer for.
  std::size_t pending_requests() const noexcept { return gets_.size() + puts_.size() + (retry_ ? 1 : 0); }

 private:
  enum class slot_state : std::uint8_t { unknown, empty, invalid, own, other };
  struct slot_view {
    slot_state state = slot_state::unknown;
    std::optional<topic_record> record;  // with own / other
    std::uint64_t read_unix_ms = 0;
  };
  enum purpose : std::uint8_t {
    p_bootstrap = 1,
    p_publish = 2,
    p_bubble = 4,
    p_overlap = 8,
    p_retry = 16,
    p_probe = 32
  };
  struct get_req {
    std::uint64_t window;
    unsigned slot;
    std::uint64_t round;
    std::uint64_t issued_ms;
  };
  struct put_req {
    std::uint64_t window;
    unsigned slot;
    unsigned attempt;
    bool bootstrap;
    instant issued{};
  };
  struct round {
    std::uint64_t id = 0;
    std::uint8_t purposes = 0;
    std::size_t pending = 0;
    bool found_candidate = false;
    std::size_t listed_dials = 0;  // neighbours listed in records, dialled this round
  };
  enum class dial_purpose : std::uint8_t { bootstrap, merge };

  // ---- inputs
  void on_start(const clock& c, std::vector<out::output>& out);
  void on_timer(const timers::timer& t, const clock& c, std::vector<out::output>& out);
  void on_get_done(const in::get_done& g, const clock& c, std::vector<out::output>& out);
  void on_put_done(const in::put_done& p, const clock& c, std::vector<out::output>& out);
  void on_dial_done(const in::dial_done& d, const clock& c, std::vector<out::output>& out);
  void on_neighbor(const node_id& peer, bool up, const clock& c, std::vector<out::output>& out);
  void on_message_seen(const message_id& id);
  void on_view(const in::view& v, const clock& c, std::vector<out::output>& out);
  void on_addresses_changed(const clock& c, std::vector<out::output>& out);
  void publisher_tick(const clock& c, std::vector<out::output>& out);

  // ---- reads
  // Starts a read round for `purposes` over `windows` (slots whose view is
  // still good are not read again), or joins the round in flight.
  // only_slot: read just that slot of each window.
  void request_read(std::uint8_t purposes, std::vector<std::uint64_t> windows, std::uint64_t max_age_ms, const clock& c,
                    std::vector<out::output>& out, std::optional<unsigned> only_slot = {});
  void round_complete(const clock& c, std::vector<out::output>& out);
  bool view_current(std::uint64_t window, unsigned slot, std::uint64_t max_age_ms, const clock& c) const;
  std::vector<const topic_record*> records(std::uint64_t from_window, std::uint64_t to_window) const;

  // ---- bootstrap
  void begin_bootstrap(const clock& c, std::vector<out::output>& out);
  // after_put: the reread right after our own bootstrap put.
  void bootstrap_round(const clock& c, std::vector<out::output>& out, bool after_put = false);
  void bootstrap_candidates(const topic_record& r, const clock& c, std::vector<out::output>& out);
  void judge_round(const clock& c, std::vector<out::output>& out);
  void maybe_judge_after_failures(std::vector<out::output>& out);
  void schedule_poll(duration base, std::vector<out::output>& out);
  void become_joined(const clock& c, std::vector<out::output>& out);

  // ---- publishing
  // Writes our record to a slot of the current window if the window's cap
  // allows; false if it does not (or the slots are not known yet).
  bool publish(bool bootstrap, const clock& c, std::vector<out::output>& out);
  std::optional<unsigned> choose_slot(std::uint64_t window);
  void start_put(put_req req, const clock& c, std::vector<out::output>& out);
  void send_put(std::uint64_t id, const clock& c, std::vector<out::output>& out);

  // ---- merges
  void run_bubble(const clock& c, std::vector<out::output>& out);
  void run_overlap(const clock& c, std::vector<out::output>& out);
  bool island() const;
  std::vector<core::peer_info> candidates_of(const topic_record& r) const;
  // Dials p unless it is us, a neighbour, being dialled, or recently
  // unreachable; true if a dial to it is now in flight.
  bool dial(const core::peer_info& p, dial_purpose why, const clock& c, std::vector<out::output>& out);
  void run_candidates(std::vector<const topic_record*> from, std::size_t max_join, const clock& c,
                      std::vector<out::output>& out, std::uint64_t& counter);

  duration jittered(duration base, duration jitter);
  // Re-arms a periodic tick (publisher, merges).
  void tick_again(std::chrono::milliseconds base, std::chrono::milliseconds jitter, timers::timer t,
                  std::vector<out::output>& out);
  void schedule(duration after, timers::timer t, std::vector<out::output>& out) {
    out.push_back(out::schedule{after, std::move(t)});
  }

  node_id me_;
  auto_discovery_config cfg_;
  std::size_t k_;         // slots per window read (and written)
  bool read_only_;        // max_bootstrap_records = 0: never publish
  core::rng rng_;
  phase phase_ = phase::idle;
  counters c_;
  std::uint64_t gen_ = 0;      // bumped on every phase change: older timers are stale
  std::uint64_t address_changes_ = 0;  // in::addresses_changed seen: only the latest republish timer applies
  std::uint64_t next_id_ = 0;  // request numbering

  std::map<std::uint64_t, std::vector<slot_view>> views_;  // by window; only the newest few are kept
  std::map<std::uint64_t, get_req> gets_;
  std::map<std::uint64_t, put_req> puts_;
  std::optional<round> round_;
  std::optional<std::pair<std::uint64_t, put_req>> retry_;  // a failed put waiting for its retry

  // bootstrap state
  bool first_round_ = true;
  std::optional<std::uint64_t> bootstrap_published_window_;
  std::optional<std::uint64_t> own_window_;     // window of our last successful put...
  std::optional<unsigned> own_slot_;            // ...and its slot
  std::uint64_t own_put_ms_ = 0;                // when that put succeeded
  unsigned probe_slot_ = 0;                     // the slot the publisher's probe reads
  std::optional<std::uint64_t> full_hint_;      // the last window found full (by a read) or taken (by a probe)
  std::optional<std::uint64_t> capped_window_;  // a read showed this window's slots all taken by others
  std::int64_t last_seq_ = 0;
  unsigned fruitless_rounds_ = 0;
  bool reread_after_put_ = false;    // a bootstrap put is out: read again when it lands
  bool quick_recheck_ = false;       // this round is that reread: if it finds nobody, look once more soon
  duration last_put_time_{};         // how long our last successful put took
  bool join_judge_pending_ = false;  // a joined peer's confirmation wait runs
  std::uint64_t judge_gen_ = 0;      // the live judge timer

  std::map<node_id, std::pair<core::peer_info, dial_purpose>> dialling_;
  std::map<node_id, std::uint64_t> dial_numbers_;  // the live dial_timeout of each dial
  std::map<node_id, instant> unreachable_until_;
  std::set<node_id> neighbors_;

  std::set<node_id> view_;                // the gossip views at the last overlap tick
  bool overlap_tick_pending_ = false;     // waiting for in::view
  std::deque<message_id> recent_;         // the last known_message_capacity ids, oldest first
  std::unordered_set<message_id> known_;  // the same, for lookups
};

}  // namespace topicswarm::tracker
