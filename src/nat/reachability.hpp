// Reachability: the sans-IO core that finds which of our addresses others
// can dial, before we advertise them (docs/PROTOCOL.md §19, issue 16).
//
// Candidates come from our own interfaces, from port mappings our gateway
// made, and from the addresses connected peers saw our connections come from
// (an `observed` frame each side sends when a connection comes up). A
// candidate is checked by dial-back: we ask up to `helpers_per_check`
// connected peers that saw us at the candidate's IP to open a probe
// connection (transport::probe) to that IP and the candidate's port and send
// a nonce on it. A proof that arrives through our listener from that helper
// confirms the candidate for the helper's address range (/24, /48).
//
// Who can make us do what:
// - A helper dials only the requester's IP as its own TCP connection shows
//   it (the request carries a port, never an address), so nobody can use a
//   helper to connect to a third party; it serves each peer at most once per
//   `serve_interval`, and all peers together `serve_burst` probes, refilled
//   at `serve_per_minute`, with at most `max_probes_in_flight` at once.
// - A peer's `observed` claim only makes a candidate; one liar cannot get a
//   candidate confirmed: a candidate IP that is not ours (interface, mapping)
//   needs proofs from `confirmations_needed` distinct address ranges, each
//   from a helper that itself claimed that IP. Observations are one per peer
//   (the latest), candidates at most `max_candidates` (the least observed
//   unconfirmed one gives way).
// - A helper can lie that a probe failed (we then think we are less
//   reachable than we are), or stay silent (the check times out).
//
// Reachability: public once a candidate is confirmed; private once every
// candidate was checked and none confirmed; unknown before (no peers to
// ask, or checks in progress).
#pragma once

#include "core/address_policy.hpp"
#include "core/effects.hpp"
#include "core/rng.hpp"
#include "core/time.hpp"
#include "nat/wire.hpp"

#include <topicswarm/bytes.hpp>
#include <topicswarm/endpoint.hpp>
#include <topicswarm/error.hpp>
#include <topicswarm/ids.hpp>

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string_view>
#include <variant>
#include <vector>

namespace topicswarm::nat {

using core::duration;
using core::instant;


// ------------------------------------------------------------------ state --

enum class reachability : std::uint8_t { unknown, reachable, unreachable };
// "unknown", "public", "private" (what the API and events print).
std::string_view to_string(reachability r) noexcept;

// How our NAT maps our listen port, from what peers in different address
// ranges saw of connections that used it (RFC 4787 §4.1): no translation
// (they saw our own address), the same public port to every destination
// (hole punching can work), or another port per destination ("symmetric":
// punching cannot; only a relay can connect two such peers).
enum class nat_mapping : std::uint8_t { unknown, none, endpoint_independent, endpoint_dependent };
// "unknown", "none", "endpoint-independent", "endpoint-dependent".
std::string_view to_string(nat_mapping m) noexcept;

// Where a candidate address came from (a bit set).
enum source : std::uint8_t {
  from_interface = 1,  // bound on one of our interfaces
  from_mapping = 2,    // a port mapping our gateway made (PCP, NAT-PMP, UPnP)
  from_observed = 4,   // the address connected peers saw us at
};
std::string sources_to_string(std::uint8_t sources);

enum class check_state : std::uint8_t { unchecked, checking, confirmed, failed };
std::string_view to_string(check_state s) noexcept;

struct config {
  std::size_t helpers_per_check = 3;
  // Distinct helper address ranges whose proofs confirm a candidate whose
  // IP is not ours (one observed by peers only); an IP on our interfaces or
  // from our gateway's mapping needs one.
  std::size_t confirmations_needed = 2;
  // From the requests to giving up on the answers (a helper's probe takes at
  // most its connect plus handshake timeout).
  duration check_timeout = std::chrono::seconds(20);
  // A confirmed candidate is checked again once this has passed, a failed
  // one (or one whose helpers ran out) after retry_after. Rechecks need
  // helpers, so they start with the next connection or observation after
  // that time rather than on a timer of their own: a node with no peers
  // keeps no reachability timers.
  duration recheck_interval = std::chrono::minutes(30);
  duration retry_after = std::chrono::minutes(5);
  // Checks start this long after the first observation arrives, so that a
  // node joining a few peers asks several at once.
  duration check_delay = std::chrono::milliseconds(500);
  // Candidates kept (each peer's observation makes at most one; peers are
  // bounded by the transport's connection cap).
  std::size_t max_candidates = 8;
  // Serving others' requests.
  duration serve_interval = std::chrono::seconds(10);  // per peer
  std::size_t serve_burst = 8;
  std::size_t serve_per_minute = 30;
  std::size_t max_probes_in_flight = 4;
};

struct timer {
  enum class kind : std::uint8_t { start_checks, check_deadline } k = kind::start_checks;
  endpoint candidate;     // check_deadline
  std::uint64_t round = 0;  // which check round of the candidate it was set for
};

// One connection's ends as the transport sees them.
struct link_ends {
  endpoint local;   // our side (address and port the connection uses here)
  endpoint remote;  // the peer's side
};

namespace in {
// A connection to `peer` became its active one; `speaks` whether the peer
// listed the nat kind in its hello (else it is never sent nat frames).
struct link_up { node_id peer; link_ends ends; bool speaks = true; };
struct link_down { node_id peer; };
// A nat frame from `peer` on its connection.
struct received { node_id peer; link_ends ends; wire::message msg; };
struct malformed { node_id peer; };
// A probe connection from `from` (TLS proved it) carried `msg`.
struct probe_received { node_id from; endpoint remote; wire::message msg; };
// The probe we sent for `requester`'s request ended.
struct probe_done { node_id requester; nonce n{}; bool delivered = false; };
// Our own addresses (listen and interface addresses, and the listen port
// of each family): public ones become candidates; the others are kept as
// local-network addresses. Starts over when they change.
struct local_addresses { std::vector<endpoint> addresses; std::vector<endpoint> listen; };
// A port mapping's external address appeared (or, with `gone`, went).
struct mapping { endpoint external; bool gone = false; };
struct timer_fired { nat::timer t; };
using input = std::variant<link_up, link_down, received, malformed, probe_received, probe_done, local_addresses,
                           mapping, timer_fired>;
}  // namespace in

namespace out {
using send = core::effect::send<wire::message>;
// Open a probe connection to `to` at `address` carrying dialback_proof{n};
// answer with in::probe_done.
struct probe { node_id to; endpoint address; nonce n{}; };
// Reachability or the addresses to advertise changed (read them from the state).
struct changed {};
using schedule = core::effect::schedule<timer>;
using output = std::variant<send, probe, changed, schedule>;
}  // namespace out

struct counters {
  std::uint64_t observations = 0;        // observed frames taken
  std::uint64_t checks_started = 0;      // check rounds
  std::uint64_t requests_sent = 0;       // dial-back requests to helpers
  std::uint64_t proofs_accepted = 0;     // proofs that matched a request
  std::uint64_t proofs_unexpected = 0;   // proofs with an unknown nonce or from another node
  std::uint64_t results_failed = 0;      // helpers answered failed
  std::uint64_t results_refused = 0;     // helpers answered refused
  std::uint64_t check_timeouts = 0;      // requests with neither proof nor answer in time
  std::uint64_t confirmations = 0, failures = 0;  // candidates confirmed / failed (each round)
  std::uint64_t requests_served = 0;     // probes we made for others
  std::uint64_t requests_refused = 0;    // refused: rate limits, in-flight cap, address policy
  std::uint64_t probes_delivered = 0, probes_failed = 0;
  std::uint64_t malformed = 0;           // nat frames that did not decode or break a rule
  std::uint64_t candidates_evicted = 0;  // made room for a better-observed one
};

struct candidate_status {
  endpoint address;
  std::uint8_t sources = 0;
  check_state state = check_state::unchecked;
  std::size_t observers = 0;       // peers whose latest observation gives this candidate
  std::size_t confirmations = 0;   // distinct helper ranges that proved it (this round or the last confirmed)
  std::size_t failures = 0;        // helpers that could not reach it this round
};

class state {
 public:
  state(config cfg, std::uint64_t seed);

  void set_policy(core::address_policy p) { policy_ = p; }
  // Whether a queued timer can still do something (a driver may forget the
  // others: DESIGN.md §3 lets it drop timers of what no longer exists).
  bool timer_applies(const timer& t) const;
  void handle(in::input input, instant now, std::vector<out::output>& out);

  reachability status() const;
  // The checked addresses: confirmed candidates.
  std::vector<endpoint> confirmed() const;
  // What to advertise: local-network addresses (loopback, link-local,
  // private: dialled only by peers on such networks), public interface
  // addresses until a check failed them, and confirmed candidates.
  std::vector<endpoint> advertised() const;
  std::vector<candidate_status> candidates() const;
  // Needs observations from peers in two address ranges (/24, /48) on
  // connections that used our listen port; one per range counts. A liar can
  // make it say endpoint-dependent (a wrong port), which costs a punch that
  // would have worked; agreeing liars in two ranges can make it say more.
  nat_mapping mapping() const;
  const counters& stats() const noexcept { return counters_; }

 private:
  struct request {
    node_id helper;
    endpoint candidate;
    std::uint64_t round = 0;
    core::address_range helper_range{};
    bool answered = false;
    instant sent{};
  };
  struct candidate {
    std::uint8_t sources = 0;
    check_state st = check_state::unchecked;
    std::uint64_t round = 0;
    bool in_round = false;  // requests of `round` are out
    // The round stopped with too few proofs and nobody else to ask: it
    // goes on (same proofs, same helpers asked) when another helper comes.
    bool paused = false;
    instant next_check{};   // a new round is due from then on (after a round ended)
    std::set<node_id> observers;
    std::set<core::address_range> confirmed_ranges;  // this round
    std::set<node_id> asked;                          // this round
    std::size_t failures = 0;                         // this round
    std::size_t last_confirmations = 0;               // when last confirmed
  };
  struct peer_state {
    link_ends ends;
    bool speaks = true;
    std::optional<endpoint> candidate;  // what its latest observation made
    std::optional<endpoint> mapped;     // its latest observation, if that connection used our listen port
    std::optional<instant> last_served;
  };
  struct serving {
    node_id requester;
    nonce n{};
  };

  void on_received(const in::received& r, instant now, std::vector<out::output>& out);
  void on_observed(const node_id& peer, const link_ends& ends, const endpoint& seen, instant now,
                   std::vector<out::output>& out);
  void on_request(const node_id& peer, const link_ends& ends, const wire::dialback_request& q, instant now,
                  std::vector<out::output>& out);
  void on_result(const node_id& peer, const wire::dialback_result& r, instant now, std::vector<out::output>& out);
  void on_proof(const in::probe_received& p, instant now, std::vector<out::output>& out);
  void on_local(const in::local_addresses& l, instant now, std::vector<out::output>& out);
  void on_timer(const timer& t, instant now, std::vector<out::output>& out);

  // Adds (or extends) a candidate; false when there is no room for it.
  bool add_candidate(const endpoint& e, std::uint8_t src, std::vector<out::output>& out);
  // Drops `observer` from the candidate its observation made.
  void drop_observer(const node_id& peer, std::vector<out::output>& out);
  void remove_if_sourceless(const endpoint& e, std::vector<out::output>& out);
  // Starts a check round of `e` with the helpers available now.
  void start_check(const endpoint& e, instant now, std::vector<out::output>& out);
  // Re-evaluates `e` after an answer or a deadline.
  void settle(endpoint e, bool deadline, instant now, std::vector<out::output>& out);  // by value: callers pass a request's candidate, and settling erases requests
  std::size_t needed(const endpoint& e, const candidate& c) const;
  void schedule_start(instant now, std::vector<out::output>& out);
  // Emits out::changed if status() or advertised() differ from the last emitted.
  void note_change(std::vector<out::output>& out);
  bool serve_token(instant now);

  config cfg_;
  core::rng rng_;
  core::address_policy policy_;
  std::vector<endpoint> local_;       // our local addresses (non-public, and public interface ones)
  std::vector<endpoint> listen_;      // listen endpoints: the port of each family
  std::map<endpoint, candidate> candidates_;
  std::map<node_id, peer_state> peers_;
  std::map<nonce, request> requests_;
  std::vector<serving> in_flight_;
  double tokens_ = 0;
  std::optional<instant> tokens_at_;
  bool start_scheduled_ = false;
  reachability last_status_ = reachability::unknown;
  std::vector<endpoint> last_advertised_;
  counters counters_;
};

}  // namespace topicswarm::nat
