// Connection reversal and TCP hole punching: the sans-IO core that connects
// us to a peer we cannot dial, through a member connected to both of us
// (docs/PROTOCOL.md §19.7, §19.8, issue 16).
//
// Which one: when we are reachable (a checked public address) the peer
// dials us (reversal); otherwise (behind a NAT, or not known yet) both
// sides dial each other at the same moment from their listen ports (a
// punch): requester and target exchange, through the helper, the addresses
// the helper sees them at (connect, reply), the requester times that round
// trip, says "sync" and dials half a round trip later, when the target gets
// the sync and dials too. Each NAT then holds a mapping for the other's SYN
// (TCP simultaneous open). The transport does the dialling (punch()); which
// side speaks TLS as client is fixed by the node ids there.
//
// Three roles, every node plays all of them:
// - requester: we want a connection to `target` and hold no address we may
//   dial (its record and gossip list only private addresses of another
//   network, or none). We ask up to `helpers` connected peers that speak
//   nat with reverse_request{target, our listen port}; the transport waits
//   for the target's connection (net::config::reverse_timeout). Helpers that
//   are not connected to the target say so at once, so a reversal nobody
//   can carry fails fast instead of at its deadline.
// - helper: a peer asks us to reach `target`. If the target is connected to
//   us and speaks nat, we send it reverse{requester, address}, where the
//   address is the requester's IP as our own connection sees it and the
//   port it asked for: never an address the requester names, so nobody can
//   use us to aim the target at a third party.
// - target: a helper tells us that `from` wants a connection. We dial `from`
//   at that address (TLS then proves it is `from`), unless we are connected
//   or already dialling, the address is one our policy refuses, or a budget
//   is spent.
//
// Who can make us do what:
// - A requester costs a helper one frame to an existing connection; each
//   requester gets `forward_burst` forwards refilled at `forward_per_minute`,
//   all requesters together `forward_total_burst` at
//   `forward_total_per_minute`.
// - A helper (or a requester lying through an honest helper) can make a
//   target open TCP+TLS connections: at most `dial_burst` per helper refilled
//   at `dial_per_minute`, `dial_total_burst` in all at
//   `dial_total_per_minute`, at most `max_dials_in_flight` at once, one per
//   `from` in `redial_interval`, and only to addresses the policy allows. A
//   dial to anyone but `from` fails at the TLS check and is counted.
// - Our own wants are bounded by `max_pending` (the transport's connection
//   cap bounds them too).
#pragma once

#include "core/address_policy.hpp"
#include "core/effects.hpp"
#include "core/rng.hpp"
#include "core/time.hpp"
#include "core/token_bucket.hpp"
#include "nat/wire.hpp"

#include <topicswarm/endpoint.hpp>
#include <topicswarm/ids.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <variant>
#include <vector>

namespace topicswarm::nat::reversal {

using core::duration;
using core::instant;

struct config {
  std::size_t helpers = 3;           // peers asked per reversal
  std::size_t max_pending = 16;      // our reversals waiting at once
  duration timeout = std::chrono::seconds(10);  // the requester forgets a reversal after this
  // Helper: per requester, and for all requesters together.
  std::size_t forward_burst = 8;
  std::size_t forward_per_minute = 30;
  std::size_t forward_total_burst = 32;
  std::size_t forward_total_per_minute = 240;
  // Target: per helper, and for all helpers together.
  std::size_t dial_burst = 4;
  std::size_t dial_per_minute = 20;
  std::size_t dial_total_burst = 16;
  std::size_t dial_total_per_minute = 60;
  std::size_t max_dials_in_flight = 8;
  duration redial_interval = std::chrono::seconds(5);  // per `from`
  // Hole punching (§19.8): off, a node that is not public asks for
  // reversals like a public one (and answers no punches).
  bool punching = true;
  duration punch_window = std::chrono::seconds(5);   // both sides keep dialling this long
  duration max_punch_delay = std::chrono::seconds(2);  // cap on the requester's half round trip
  // Relaying (§19.9). As requester: a peer a punch to which failed is asked
  // for through a relay for this long (also at once when our own NAT maps
  // endpoint-dependently). As relay (serve, opt-in): circuits agreed or
  // running at once; an agreed circuit whose ends do not both come within
  // relay_wait is forgotten.
  duration relay_after_punch_failure = std::chrono::minutes(10);
  bool relay_serve = false;
  std::size_t relay_max_circuits = 16;
  duration relay_wait = std::chrono::seconds(10);
  // Upgrading (§19.10): the end that asked for a relayed connection tries a
  // punch to replace it this long after it came up, then after twice that,
  // and so on up to upgrade_max_interval, while it stays relayed.
  duration upgrade_after = std::chrono::seconds(30);
  duration upgrade_max_interval = std::chrono::minutes(10);
};

struct timer {
  enum class kind : std::uint8_t {
    deadline,        // our reversal or punch of `target` gives up
    punch_go,        // half a round trip after our sync: dial
    agreed_expires,  // a punch we agreed to (as target) was never synced
    circuit_expires, // a relay circuit we agreed to serve: its ends had their time (serial: circuit id)
    upgrade,         // try a punch to replace our relayed connection to `target`
  };
  node_id target;
  std::uint64_t serial = 0;  // which reversal or punch of the target it was set for
  kind what = kind::deadline;
};

namespace in {
// A connection to `peer` is up; `remote` is its address as TCP sees it,
// `local` our end; `speaks` whether it listed the nat kind; `relayed`
// whether it runs through a relay (then a punch may still replace it).
struct link_up { node_id peer; endpoint remote; endpoint local; bool speaks = true; bool relayed = false; };
struct link_down { node_id peer; };
// A reverse_request, reverse_answer or reverse frame from `peer`. `busy`:
// for a reverse frame, whether we are connected to its `from` or dialling it
// (the transport knows; such a frame is skipped).
struct received { node_id peer; wire::message msg; bool busy = false; };
// The dial we made for a reverse frame, or a punch dial, ended.
struct dial_done { node_id peer; bool connected = false; };
// Our listen endpoints (the port of each family).
struct listen { std::vector<endpoint> endpoints; };
struct timer_fired { reversal::timer t; };
using input = std::variant<link_up, link_down, received, dial_done, listen, timer_fired>;
}  // namespace in

namespace out {
using send = core::effect::send<wire::message>;
// Dial `peer` at `address` (answer with in::dial_done).
struct dial { node_id peer; endpoint address; };
// Nobody could carry the reversal to `target`: stop waiting for it.
struct failed { node_id target; };
// Punch: dial `peer` at `address` from our listen port, again and again
// until `window` has passed (answer with in::dial_done). The requester's
// own dial for `peer` is waiting; it takes this.
struct punch { node_id peer; endpoint address; duration window{}; };
// Relay: connect to `peer` through the relay at `relay` with `token` (the
// other end does the same), waiting up to `window` for it (answer with
// in::dial_done).
struct relay { node_id peer; endpoint relay; wire::token tok{}; duration window{}; };
using schedule = core::effect::schedule<timer>;
using output = std::variant<send, dial, failed, punch, relay, schedule>;
}  // namespace out

struct counters {
  // requester
  std::uint64_t requested = 0;        // reversals started (at least one helper asked)
  std::uint64_t no_helper = 0;        // wanted, but no connected peer speaks nat (or too many pending)
  std::uint64_t succeeded = 0;        // the target connected while we waited
  std::uint64_t failed = 0;           // every helper answered it could not
  std::uint64_t timeouts = 0;         // neither a connection nor all answers in time
  std::uint64_t answers_unknown = 0, answers_refused = 0;
  // helper
  std::uint64_t forwarded = 0;
  std::uint64_t forward_unknown = 0;  // not connected to the target
  std::uint64_t forward_refused = 0;  // rate limits, or a request for oneself
  // target
  std::uint64_t dialled = 0;          // dials made for a reverse frame
  std::uint64_t dial_connected = 0, dial_failed = 0;
  std::uint64_t dial_skipped = 0;     // already connected or dialling, or redialled too soon
  std::uint64_t dial_refused = 0;     // rate limits, in-flight cap, or an address the policy refuses
  std::uint64_t unexpected = 0;       // answers to nothing we asked
  // punching, as requester
  std::uint64_t punches_requested = 0;  // connects sent (to at least one helper)
  std::uint64_t punch_replies = 0;      // the target agreed; we synced
  std::uint64_t punch_no_reply = 0;     // neither a reply nor all helpers' "could not" in time
  std::uint64_t punch_failed_helpers = 0;  // every helper answered it could not pass the connect
  // punching, as target
  std::uint64_t punch_agreed = 0;       // connects answered
  std::uint64_t punch_declined = 0;     // busy, the other side's punch wins, or a budget / the policy said no
  std::uint64_t punch_unsynced = 0;     // agreed, but no sync came
  // punch dials, both sides
  std::uint64_t punch_dials = 0, punch_connected = 0, punch_failed = 0;
  // relaying: as requester (asked, the relay agreed, it could not); as
  // target (offers taken, declined); relay dials both sides; as relay
  // (circuits agreed, refused, ends admitted, ends refused, circuits that
  // ended paired / unpaired, bytes they carried).
  std::uint64_t relay_requested = 0, relay_agreed = 0, relay_unavailable = 0;
  std::uint64_t relay_offers_taken = 0, relay_offers_declined = 0;
  std::uint64_t relay_dials = 0, relay_connected = 0, relay_failed = 0;
  std::uint64_t circuits_agreed = 0, circuits_refused = 0, circuit_ends_admitted = 0, circuit_ends_refused = 0;
  std::uint64_t circuits_done = 0, circuits_unpaired = 0, relayed_bytes = 0;
  // upgrading a relayed connection we asked for: punches started
  std::uint64_t upgrade_attempts = 0;
};

class state {
 public:
  state(config cfg, std::uint64_t seed);

  void set_policy(core::address_policy p) { policy_ = p; }
  // Our node id (which of two punches that cross wins) and whether we are
  // reachable (then we ask for reversals, not punches).
  void set_self(const node_id& self) { self_ = self; }
  void set_public(bool reachable) { public_ = reachable; }
  // Whether our NAT maps endpoint-dependently: then a punch cannot work and
  // a peer we cannot dial is asked for through a relay at once.
  void set_symmetric(bool symmetric) { symmetric_ = symmetric; }
  // As relay: the transport asks for each circuit end that arrives. The
  // circuit's id if `token` is a circuit we agreed to and `remote` has the
  // IP of one of its two ends that has not come yet.
  std::optional<std::uint64_t> admit(const wire::token& token, const endpoint& remote);
  // A circuit admit() returned ended, with the bytes it carried.
  void circuit_done(std::uint64_t circuit, std::uint64_t bytes, bool paired);
  std::size_t circuits() const noexcept { return circuits_.size(); }
  // The circuits we serve: requester, target, running.
  struct circuit_view {
    node_id requester, target;
    bool running = false;
  };
  std::vector<circuit_view> circuit_list() const {
    std::vector<circuit_view> v;
    for (const auto& [tok, c] : circuits_) v.push_back(circuit_view{c.requester, c.target, c.running});
    return v;
  }
  void handle(in::input input, instant now, std::vector<out::output>& out);
  // We want a connection to `target` and cannot dial it: ask helpers. True
  // when at least one was asked (the transport then waits for the target).
  bool want(const node_id& target, instant now, std::vector<out::output>& out);
  // Our punch dial to `target` failed and the transport's dial still waits:
  // ask a relay instead. True when one was asked (the dial waits again).
  bool punch_failed(const node_id& target, instant now, std::vector<out::output>& out);
  bool timer_applies(const timer& t) const;
  std::size_t pending() const noexcept { return pending_.size(); }
  const counters& stats() const noexcept { return counters_; }

 private:
  struct peer {
    endpoint remote, local;
    bool speaks = true;
    bool relayed = false;
  };
  // A relayed connection we asked for, which a punch may replace.
  struct upgrade {
    std::uint64_t serial = 0;
    duration after{};  // until the next attempt
  };
  using bucket = core::token_bucket;
  struct waiting {
    std::uint64_t serial = 0;
    std::set<node_id> asked;  // helpers still to answer
    bool forwarded = false;   // one of them reached the target
    // A punch instead of a reversal:
    bool punch = false;
    instant sent{};           // when the connects went out (the round trip's start)
    bool synced = false;      // the target replied; the sync went out
    bool dialling = false;    // the punch dial runs (the transport's wait ended)
    endpoint address;         // where the helper sees the target
    // A relay circuit instead: its token, asked of one relay.
    bool relay = false;
    wire::token tok{};
    std::set<node_id> tried;  // relays asked so far
  };
  // A circuit we serve as relay.
  struct circuit {
    std::uint64_t id = 0;
    node_id requester, target;
    endpoint requester_at, target_at;  // their IPs as our connections see them
    bool requester_came = false, target_came = false, running = false;
  };
  // A punch we agreed to as target, waiting for the requester's sync.
  struct agreed {
    std::uint64_t serial = 0;
    std::uint32_t round = 0;
    endpoint address;  // where the helper sees the requester
  };

  // As helper: whether `from`'s reverse or punch message for `target` may be
  // passed on (nothing) or why not (counted), taking a forward token.
  std::optional<wire::reverse_code> may_forward(const node_id& from, const node_id& target, instant now);
  void on_request(const node_id& from, const wire::reverse_request& q, instant now, std::vector<out::output>& out);
  void on_answer(const node_id& from, const wire::reverse_answer& a, std::vector<out::output>& out);
  void on_reverse(const node_id& helper, const wire::reverse& r, bool busy, instant now, std::vector<out::output>& out);
  // `helper` will not answer for `target` (answered no, or went away).
  void helper_gone(const node_id& target, const node_id& helper, std::vector<out::output>& out);
  void on_punch_request(const node_id& from, const wire::punch_request& q, instant now, std::vector<out::output>& out);
  void on_punch(const node_id& helper, const wire::punch& p, bool busy, instant now, std::vector<out::output>& out);
  void on_punch_answer(const node_id& from, const wire::punch_answer& a, std::vector<out::output>& out);
  void on_timer(const timer& t, instant now, std::vector<out::output>& out);
  // Asks helpers for a reversal, a punch or a relay to `target` (upgrade: a
  // punch to replace a relayed connection).
  bool ask(const node_id& target, bool upgrade, instant now, std::vector<out::output>& out);
  void on_upgrade_timer(const node_id& target, instant now, std::vector<out::output>& out);
  // Connected to `id` other than through a relay.
  bool direct(const node_id& id) const {
    auto p = peers_.find(id);
    return p != peers_.end() && !p->second.relayed;
  }
  void on_relay_request(const node_id& from, const wire::relay_request& q, instant now, std::vector<out::output>& out);
  void on_relay_offer(const node_id& relay, const wire::relay_offer& o, bool busy, instant now,
                      std::vector<out::output>& out);
  void on_relay_answer(const node_id& from, const wire::relay_answer& a, std::vector<out::output>& out);
  // Our listen port in `fam` (0: none).
  std::uint16_t listen_port(endpoint::family fam) const;
  // Reverse dials, agreed punches and punch dials in flight together.
  std::size_t dial_load() const {
    return dials_in_flight_.size() + agreed_.size() + punching_.size() + relaying_.size();
  }

  config cfg_;
  core::rng rng_;
  core::address_policy policy_;
  std::vector<endpoint> listen_;
  std::map<node_id, peer> peers_;
  std::map<node_id, waiting> pending_;
  std::map<node_id, bucket> forward_buckets_, dial_buckets_;  // per peer; erased with the link
  bucket forward_total_, dial_total_;
  std::map<node_id, instant> last_dialled_;  // per `from`, pruned as it ages
  std::set<node_id> dials_in_flight_;
  std::map<node_id, agreed> agreed_;  // as target, by requester
  std::set<node_id> punching_;        // punch dials in flight (either side)
  std::set<node_id> relaying_;        // relay dials in flight (either end)
  std::map<node_id, instant> punch_failed_at_;  // as requester: recent punch failures, by target
  std::map<wire::token, circuit> circuits_;     // as relay
  std::map<node_id, upgrade> upgrades_;         // our relayed connections, by peer
  // The other end of a relay circuit we dial or hold: its address as the
  // relay saw it (from relay_offer / relay_answer), for punching without a
  // helper later. One per relay dial or relayed link.
  std::map<node_id, endpoint> relay_seen_;
  std::uint64_t circuit_ids_ = 0;
  bool symmetric_ = false;
  node_id self_;
  bool public_ = false;
  std::uint64_t serial_ = 0;
  counters counters_;
};

}  // namespace topicswarm::nat::reversal
