// PlumTree broadcast for one topic (Leitão, Pereira, Rodrigues: "Epidemic
// Broadcast Trees", SRDS 2007), over the neighbours HyParView gives it.
//
// Eager peers get every new message in full (the tree); lazy peers get its id
// in an IHAVE, batched every lazy_push_interval. A node that hears of a
// message only by IHAVE grafts the announcer after graft_timeout_1 and, while
// the message is still missing, the next announcer every graft_timeout_2. A
// duplicate makes its sender lazy (PRUNE); an IHAVE announcing a much shorter
// path (optimization_threshold rounds) swaps an eager link for a lazy one.
//
// Message ids: SHA-256 of the content (docs/PROTOCOL.md "Gossip wire
// format"), recomputed on receipt; a mismatch is dropped and counted.
//
// Rounds: the origin pushes with round 0; a node that receives round r
// forwards (and announces) with r + 1. So an IHAVE's round and the round a
// message arrived with are comparable: both are "the round we would receive it
// at over that link", and hops travelled = round + 1.
#pragma once

#include "gossip/proto.hpp"

#include <deque>
#include <map>
#include <unordered_map>
#include <vector>

namespace topicswarm::gossip {

// What PlumTree counted for one topic (all monotonically increasing).
struct broadcast_counters {
  std::uint64_t messages_sent = 0;  // gossip, ihave, graft, prune
  std::uint64_t gossip_delivered = 0, gossip_duplicates = 0;
  std::uint64_t ihave_sent = 0, graft_sent = 0, prune_sent = 0;
  // Duplicates not answered by PRUNE: the first copy came over a pruned link.
  std::uint64_t prunes_withheld = 0;
  std::uint64_t eager_announcements = 0;  // IHAVEs from a peer we push to: grafted at once
  std::uint64_t invalid_messages = 0;     // content hash mismatch, oversize content (also our own)
  // GRAFTs not answered: from a peer that is not a neighbour, or beyond the
  // peer's graft budget (max_graft_bytes_per_second, in content bytes).
  std::uint64_t grafts_refused = 0, grafts_over_budget = 0;
  // IHAVE ids not tracked because their announcer already has
  // max_missing_per_peer ids waiting in the missing table.
  std::uint64_t ihave_ids_over_budget = 0;
};

class plumtree {
 public:
  // `attempt_base`: as for hyparview, keeps graft timers of an earlier
  // incarnation of the topic from matching.
  plumtree(const node_id& me, const broadcast_config& cfg, std::size_t max_message_size,
           std::uint64_t attempt_base = 0);

  // Message id of a content: SHA-256.
  static message_id id_of(byte_span content);

  // HyParView neighbour events: a new neighbour starts eager (§3.3).
  void neighbor_up(const node_id& peer);
  void neighbor_down(const node_id& peer);

  void broadcast(bytes content, scope sc, instant now, std::vector<out::output>& out);
  void on_gossip(const node_id& from, wire::gossip&& msg, instant now, std::vector<out::output>& out);
  void on_ihave(const node_id& from, const wire::ihave& msg, std::vector<out::output>& out);
  void on_graft(const node_id& from, const wire::graft& msg, instant now, std::vector<out::output>& out);
  void on_prune(const node_id& from);

  void on_lazy_push_timer(std::vector<out::output>& out);
  void on_graft_timer(const timers::graft& t, std::vector<out::output>& out);
  void on_evict_timer(instant now, std::vector<out::output>& out);

  const std::vector<node_id>& eager() const noexcept { return eager_; }
  const std::vector<node_id>& lazy() const noexcept { return lazy_; }
  bool is_eager(const node_id& p) const;
  bool is_lazy(const node_id& p) const;
  bool is_neighbor(const node_id& p) const { return is_eager(p) || is_lazy(p); }
  // Known id (delivered or sent, not yet evicted).
  bool has_received(const message_id& id) const { return received_.count(id) != 0; }
  bool has_cached(const message_id& id) const { return cache_.count(id) != 0; }
  bool is_missing(const message_id& id) const { return missing_.count(id) != 0; }

  std::size_t cache_size() const noexcept { return cache_.size(); }
  std::size_t cache_bytes() const noexcept { return cache_bytes_; }
  std::size_t id_count() const noexcept { return received_.size(); }
  const broadcast_counters& counters() const noexcept { return c_; }

  // Bounds on state that has no configuration knob.
  static constexpr std::size_t max_missing = 4096;                                 // ids we wait for
  static constexpr std::size_t max_announcers = 8;                                 // per missing id
  static constexpr std::size_t max_queued_ihaves = 4 * limits::max_ihave_entries;  // per peer
  // Missing ids one announcer may have created (a quarter of the table): a
  // peer announcing ids that do not exist cannot crowd out the real ones.
  static constexpr std::size_t max_missing_per_peer = max_missing / 4;
  // Content bytes answered to one peer's GRAFTs: a token bucket of this many
  // bytes per second, holding up to two seconds' worth. A GRAFT is a few
  // bytes and its answer up to max_message_size: this bounds the
  // amplification (a lazy peer catching up after a burst needs far less).
  static constexpr std::size_t max_graft_bytes_per_second = 8u << 20;

 private:
  struct received_entry {
    instant at;
    std::uint16_t round = 0;  // round it arrived with
    node_id from;             // who delivered it (us for our own broadcasts)
  };
  struct cache_entry {
    instant at;
    bytes content;
    scope sc = scope::swarm;
  };
  struct missing_entry {
    std::vector<std::pair<node_id, std::uint16_t>> announcers;  // (peer, announced round), at most max_announcers
    std::size_t next = 0;                                       // the next one to graft
    std::uint64_t attempt = 0;                                  // of the live graft timer
    node_id creator;                                            // whose IHAVE created it
  };
  struct graft_bucket {
    double tokens = 0;  // content bytes we may still answer
    instant at{};       // when tokens was last topped up
  };

  void send(const node_id& to, wire::message msg, std::vector<out::output>& out);
  void make_eager(const node_id& p);
  void make_lazy(const node_id& p);
  void remember(const message_id& id, std::uint16_t round, const node_id& from, instant now,
                std::vector<out::output>& out);
  void cache(const message_id& id, const bytes& content, scope sc, instant now, std::vector<out::output>& out);
  void schedule_evict(instant now, std::vector<out::output>& out);
  void evict_oldest_cached();
  // To eager peers in full, to lazy ones by IHAVE; skips `except` and the
  // peers in `holders` (they announced the message: they have it).
  void push(const message_id& id, const bytes& content, std::uint16_t round, const node_id& except,
            std::vector<out::output>& out, const std::vector<std::pair<node_id, std::uint16_t>>* holders);
  void flush_ihaves(const node_id& peer, std::vector<wire::ihave_entry>& q, std::vector<out::output>& out);
  void graft_next(const message_id& id, std::uint8_t stage, std::vector<out::output>& out);
  void erase_missing(std::unordered_map<message_id, missing_entry>::iterator it);

  node_id me_;
  broadcast_config cfg_;
  std::size_t max_message_size_;
  broadcast_counters c_;

  std::vector<node_id> eager_, lazy_;  // disjoint; together = the active view
  // Looked up by id only; eviction follows the insertion-ordered deques, so
  // no output depends on hash-table order.
  std::unordered_map<message_id, received_entry> received_;
  std::deque<std::pair<instant, message_id>> received_order_;
  std::unordered_map<message_id, cache_entry> cache_;
  std::deque<std::pair<instant, message_id>> cache_order_;
  std::size_t cache_bytes_ = 0;  // content bytes in cache_
  std::unordered_map<message_id, missing_entry> missing_;
  std::map<node_id, std::size_t> missing_by_creator_;  // entries at zero are removed
  std::map<node_id, graft_bucket> graft_budget_;       // neighbours only
  std::map<node_id, std::vector<wire::ihave_entry>> lazy_queue_;  // ordered: deterministic flush
  bool lazy_timer_scheduled_ = false;
  bool evict_timer_scheduled_ = false;
  instant evict_due_{};  // the live eviction timer's instant; earlier fires are stale
  std::uint64_t next_attempt_ = 0;
};

}  // namespace topicswarm::gossip
