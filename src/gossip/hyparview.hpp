// HyParView membership for one topic (Leitão, Pereira, Rodrigues: "HyParView:
// a membership protocol for reliable gossip-based broadcast", DSN 2007).
//
// Sans-IO: every handler appends outputs (sends, timers, neighbour events,
// peer data, drop_peer) to `out`. The active view is the set of neighbours the
// broadcast layer uses; the passive view is a reserve of known peers.
//
// Departures from the paper (why in the .cpp):
//  - Neighbour requests are answered with neighbor_reply; a peer enters our
//    active view when it accepted (or when we accepted its request), so views
//    stay symmetric and unreachable peers are never added.
//  - A request that is not answered within neighbor_request_timeout fails; the
//    peer is removed from the passive view and the next candidate is tried.
//  - Besides the paper's "replace a failed neighbour", a node below capacity
//    keeps asking untried passive peers (low priority) until the view is full
//    or every candidate was tried; the tried set is reset on each loss and on
//    each shuffle period, which bounds the traffic.
//  - A node with at most one neighbour also retries on a refill tick (1 s
//    doubling to shuffle_interval/4, seeded jitter): high priority with one
//    neighbour too (two-node islands), a shuffle when no untried passive
//    peer is left, and, when isolated with an empty passive view, a bounded
//    list of peers it knew. A contact sends a joiner a shuffle_reply, and the
//    joiner shuffles once accepted, so newcomers' passive views are seeded.
//  - Walks (forward_join, shuffle) from strangers (see walk_sender) are
//    refused. Where a walk ends, the peer to reach (the joiner, the shuffle's
//    origin) is handed to the shell with the addresses the walk carried
//    (peer_data) before we send to it: the shell dials only known addresses.
//    Shuffle answers that need a dial are budgeted per shuffle period.
//  - Per peer and shuffle period, one join is forwarded as walks and one
//    high-priority neighbour request may evict a neighbour (issue 15): a
//    member that joins or asks again and again cannot make the overlay
//    carry its walks nor churn our view (counted).
//  - At most max_active_per_range neighbours connect from one address range
//    and at most max_passive_per_range passive peers list an address in one
//    range first (eclipse resistance, issue 15): a peer over the rule is
//    refused as if the view were full, or declined after it accepted us.
//  - An acceptance arriving after our request timed out is declined: the
//    timeout let the connection go, and the peer will drop us when it closes.
#pragma once

#include "gossip/proto.hpp"
#include "core/rng.hpp"

#include <deque>
#include <map>
#include <memory>
#include <set>
#include <vector>

namespace topicswarm::gossip {

// What HyParView counted for one topic (all monotonically increasing).
struct membership_counters {
  std::uint64_t messages_sent = 0;  // membership messages of every type
  std::uint64_t neighbor_up = 0, neighbor_down = 0;
  std::uint64_t shuffles = 0;  // shuffle walks started
  // forward_join / shuffle walks from a stranger (see walk_sender), dropped.
  std::uint64_t walks_refused = 0;
  // Walk ends that did not answer the origin: no address to dial it at, or
  // over the per-period budget of answers that need a dial.
  std::uint64_t shuffle_replies_withheld = 0;
  // A peer's second join in one shuffle period: accepted, but its walks are
  // not forwarded again (a join fans out to every neighbour).
  std::uint64_t joins_not_forwarded = 0;
  // A peer's second high-priority neighbour request in one shuffle period
  // while our view is full: treated as low priority (refused), so one peer
  // cannot evict our neighbours one after another.
  std::uint64_t neighbor_requests_downgraded = 0;
  // A peer not taken into a view because that view already holds
  // max_active_per_range / max_passive_per_range peers of its address range.
  std::uint64_t active_range_refusals = 0, passive_range_refusals = 0;
};

class hyparview {
 public:
  // `attempt_base` starts this incarnation's request numbering, so a timer
  // left over from an earlier incarnation of the topic never matches.
  // `sources`: where connected peers connect from (the router's table; null:
  // unknown, and the active view's range rule does not apply).
  hyparview(const peer_info& me, const membership_config& cfg, core::rng& random, std::uint64_t attempt_base = 0,
            std::shared_ptr<const peer_sources> sources = nullptr);

  // Our own addresses changed: joins, requests and shuffles carry the new ones.
  void set_my_addresses(const std::vector<endpoint>& a) { me_.addresses = cap_addresses(a); }

  // Schedules the periodic shuffle; called once, on the topic's first input.
  void start(instant now, std::vector<out::output>& out);

  // in::join_peers: one join at a time; the other peers wait as fallbacks and
  // go to the passive view.
  void join(const std::vector<peer_info>& peers, std::vector<out::output>& out);

  // Membership messages (join, forward_join, neighbor, neighbor_reply,
  // disconnect, shuffle, shuffle_reply). Anything else is ignored.
  void on_message(const node_id& from, const wire::message& msg, std::vector<out::output>& out);

  void on_shuffle_timer(instant now, std::vector<out::output>& out);
  void on_neighbor_request_timer(const timers::neighbor_request& t, std::vector<out::output>& out);
  // The refill tick, see arm_refill.
  void on_refill_timer(std::uint64_t generation, std::vector<out::output>& out);
  // The connection closed or a dial failed.
  void on_peer_disconnected(const node_id& peer, std::vector<out::output>& out);
  // Leave: tell every neighbour (and every peer we asked) that we are gone.
  void quit(std::vector<out::output>& out);

  bool is_active(const node_id& id) const;
  bool is_passive(const node_id& id) const;
  bool is_pending(const node_id& id) const { return pending_.count(id) != 0; }
  // May send us a walk (forward_join, shuffle): see the .cpp.
  bool walk_sender(const node_id& id) const;
  // Needs a connection: in the active view or waiting for a reply.
  bool uses(const node_id& id) const { return is_active(id) || is_pending(id); }

  const std::vector<peer_info>& active() const noexcept { return active_; }
  const std::vector<peer_info>& passive() const noexcept { return passive_; }
  std::vector<node_id> active_ids() const;
  std::vector<node_id> passive_ids() const;
  std::size_t pending_count() const noexcept { return pending_.size(); }
  const membership_counters& counters() const noexcept { return c_; }
  // A shuffle_reply now would be integrated (we started a walk or joined and
  // have not had an answer since).
  bool awaiting_shuffle_reply() const noexcept { return awaiting_shuffle_reply_; }

 private:
  enum class request_kind : std::uint8_t { join, refill, forward_join };
  struct pending_request {
    peer_info info;
    std::uint64_t attempt = 0;
    request_kind kind = request_kind::refill;
  };

  void on_join(const node_id& from, const wire::join& m, std::vector<out::output>& out);
  void on_forward_join(const node_id& from, const wire::forward_join& m, std::vector<out::output>& out);
  void on_neighbor(const node_id& from, const wire::neighbor& m, std::vector<out::output>& out);
  void on_neighbor_reply(const node_id& from, const wire::neighbor_reply& m, std::vector<out::output>& out);
  void on_disconnect(const node_id& from, const wire::disconnect& m, std::vector<out::output>& out);
  void on_shuffle(const node_id& from, const wire::shuffle& m, std::vector<out::output>& out);
  void on_shuffle_reply(const node_id& from, const wire::shuffle_reply& m, std::vector<out::output>& out);

  void send(const node_id& to, wire::message msg, std::vector<out::output>& out);
  void drop_if_unused(const node_id& id, std::vector<out::output>& out);

  // Adds to the active view (evicting a random neighbour if full) and emits neighbor_up.
  // `first_hand`: `info` is the peer's own statement (it sent it itself).
  void add_active(const peer_info& info, std::vector<out::output>& out, bool first_hand = false);
  // Removes from the active view and emits neighbor_down; alive → passive, else forgotten.
  bool remove_active(const node_id& id, bool alive, std::vector<out::output>& out);
  // Adds or refreshes a passive entry; when full evicts an entry of
  // `prefer_evict` if any is present, else a random one.
  // Returns whether it emitted peer_data (new addresses for the shell).
  bool add_passive(const peer_info& info, std::vector<out::output>& out,
                   const std::vector<node_id>* prefer_evict = nullptr, bool first_hand = false);
  void remove_passive(const node_id& id);
  // Records addresses we learned for a peer we keep; emits peer_data (and
  // returns true) when they changed, or when the peer itself (`first_hand`)
  // now states addresses we had only heard from others.
  bool learn(peer_info& stored, const std::vector<endpoint>& addresses, std::vector<out::output>& out,
             bool first_hand = false);
  void note_first_hand(const node_id& id);
  // The range rule: whether `id` (connected from a limited range) would be
  // one neighbour too many from its range; whether an entry first listing
  // `addresses` would be one passive peer too many from its range.
  bool active_range_full(const node_id& id) const;
  bool passive_range_full(const std::vector<endpoint>& addresses) const;

  void request(const peer_info& info, priority prio, request_kind kind, std::vector<out::output>& out);
  void send_join(const peer_info& info, std::vector<out::output>& out);
  // Keeps the active view filled: the next join candidate while isolated, else
  // neighbour requests to untried passive peers (never `exclude`).
  // `tick`: called by the refill tick, which may also retry recent peers and,
  // with a single neighbour, ask with high priority.
  void maintain(std::vector<out::output>& out, const node_id* exclude = nullptr, bool tick = false);
  std::size_t max_pending() const noexcept;
  std::size_t max_temporary_replies() const noexcept;
  // Sends one shuffle walk through a random neighbour (none when isolated).
  void send_shuffle(std::vector<out::output>& out);
  // Arms the refill tick (at most one live chain) while below capacity.
  void arm_refill(std::vector<out::output>& out);
  // Remembers a peer that left our views alive, for retries when the passive view runs dry.
  void remember(const peer_info& info);
  // A peer that left (disconnect, not alive) is not retried.
  void forget(const node_id& id);

  static std::vector<endpoint> cap_addresses(const std::vector<endpoint>& a);

  peer_info me_;
  membership_config cfg_;
  core::rng& rng_;
  std::shared_ptr<const peer_sources> sources_;
  membership_counters c_;

  std::vector<peer_info> active_;   // ≤ active_view_capacity, insertion order
  std::vector<peer_info> passive_;  // ≤ passive_view_capacity
  std::map<node_id, pending_request> pending_;
  std::deque<peer_info> join_candidates_;  // fallbacks of the last join_peers
  std::set<node_id> tried_;                // refill candidates tried since the last reset
  std::vector<node_id> last_shuffle_sent_;
  bool awaiting_shuffle_reply_ = false;
  std::size_t temporary_replies_ = 0;  // answers to non-neighbours this shuffle period
  // Peers whose join was forwarded / whose high-priority request evicted a
  // neighbour this shuffle period (bounded: cleared each period, and at
  // max_period_peers entries no more are added, so further joins are not
  // forwarded and further evicting requests are downgraded).
  std::set<node_id> joins_forwarded_, evicted_for_;
  static constexpr std::size_t max_period_peers = 1024;
  std::uint64_t next_attempt_ = 0;
  // The shuffle timer re-arms itself; a fire well before this instant is a
  // stale one (e.g. from before a leave and re-join) and is dropped, so there
  // is only ever one shuffle chain.
  instant next_shuffle_at_{};
  // Refill tick (timers::refill); `refill_generation_` identifies the live chain.
  bool refill_armed_ = false;
  std::uint64_t refill_generation_ = 0;
  duration refill_delay_{};  // current backoff; reset when a neighbour is lost
  std::deque<peer_info> recent_;  // bounded: peers dropped alive / former contacts
  // Peers whose stored addresses they stated themselves (bounded by the views).
  std::set<node_id> first_hand_;
};

}  // namespace topicswarm::gossip
