// Connection reversal: the sans-IO core that gets a peer we cannot dial to
// dial us instead, through a member connected to both of us
// (docs/PROTOCOL.md §19.7, issue 16).
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
};

struct timer {
  node_id target;
  std::uint64_t serial = 0;  // which reversal of the target it was set for
};

namespace in {
// A connection to `peer` is up; `remote` is its address as TCP sees it,
// `local` our end; `speaks` whether it listed the nat kind.
struct link_up { node_id peer; endpoint remote; endpoint local; bool speaks = true; };
struct link_down { node_id peer; };
// A reverse_request, reverse_answer or reverse frame from `peer`. `busy`:
// for a reverse frame, whether we are connected to its `from` or dialling it
// (the transport knows; such a frame is skipped).
struct received { node_id peer; wire::message msg; bool busy = false; };
// The dial we made for a reverse frame ended.
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
using schedule = core::effect::schedule<timer>;
using output = std::variant<send, dial, failed, schedule>;
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
};

class state {
 public:
  state(config cfg, std::uint64_t seed);

  void set_policy(core::address_policy p) { policy_ = p; }
  void handle(in::input input, instant now, std::vector<out::output>& out);
  // We want a connection to `target` and cannot dial it: ask helpers. True
  // when at least one was asked (the transport then waits for the target).
  bool want(const node_id& target, instant now, std::vector<out::output>& out);
  bool timer_applies(const timer& t) const;
  std::size_t pending() const noexcept { return pending_.size(); }
  const counters& stats() const noexcept { return counters_; }

 private:
  struct peer {
    endpoint remote, local;
    bool speaks = true;
  };
  struct bucket {
    double tokens = 0;
    std::optional<instant> at;
    bool take(instant now, std::size_t burst, std::size_t per_minute);
  };
  struct waiting {
    std::uint64_t serial = 0;
    std::set<node_id> asked;  // helpers still to answer
    bool forwarded = false;   // one of them reached the target
  };

  void on_request(const node_id& from, const wire::reverse_request& q, instant now, std::vector<out::output>& out);
  void on_answer(const node_id& from, const wire::reverse_answer& a, std::vector<out::output>& out);
  void on_reverse(const node_id& helper, const wire::reverse& r, bool busy, instant now, std::vector<out::output>& out);
  // `helper` will not answer for `target` (answered no, or went away).
  void helper_gone(const node_id& target, const node_id& helper, std::vector<out::output>& out);

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
  std::uint64_t serial_ = 0;
  counters counters_;
};

}  // namespace topicswarm::nat::reversal
