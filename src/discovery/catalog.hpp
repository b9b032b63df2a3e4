// The peer catalog of one network (docs/PROTOCOL.md §15): the latest signed
// entry of every peer we know, bounded, with the upsert, purge and eviction
// rules every node applies the same way. Pure data structure: times are
// unix milliseconds passed in.
//
// Upsert, in order (issue 14; the first rule that applies decides):
//   1. another network's entry               -> other_network
//   2. our own node id                       -> self (we sign our own entry)
//   3. clock more than max_clock_drift ahead -> clock_ahead; an announced
//      entry more than max_clock_drift behind -> clock_behind (announces are
//      signed when sent; a synced entry may be older and meets rule 4)
//   4. update_ms + purge_after < now         -> outdated
//   5. unknown peer                          -> added (when full: evicts the
//      entry updated longest ago if the new one is newer than it, else full)
//   6. newer version than the one we hold    -> updated
//   7. otherwise                             -> not_newer
// A peer that departed gracefully leaves a tombstone (its departure's
// version) for purge_after: an entry no newer than it (a stale copy from a
// sync or a late announce) is not_newer, so a departed peer does not come
// back until it signs a newer entry (a restart). Tombstones are bounded by
// max_peers; the oldest goes first.
#pragma once

#include "discovery/entry.hpp"

#include <topicswarm/ids.hpp>

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <utility>
#include <vector>

namespace topicswarm::discovery {

struct catalog_config {
  std::chrono::milliseconds purge_after{300'000};     // mosaik's default: 5 min without an update
  std::chrono::milliseconds max_clock_drift{50'000};  // issue 14
  std::size_t max_peers = 4096;
};

enum class entry_source { announce, sync };

enum class upsert_result { added, updated, other_network, self, clock_ahead, clock_behind, outdated, not_newer, full };
const char* to_string(upsert_result r) noexcept;

enum class departure_result { departed, unknown, stale, other_network };

struct digest_item {
  node_id node;
  entry_version version;
  friend bool operator==(const digest_item&, const digest_item&) = default;
};

class catalog {
 public:
  catalog(const topic_id& network, const node_id& self, catalog_config cfg);

  struct upsert_outcome {
    upsert_result result;
    std::optional<node_id> evicted;  // removed to make room (a departure, cause evicted)
  };
  upsert_outcome upsert(signed_entry e, std::uint64_t now_ms, entry_source src);
  // A signed departure: honoured if its version is at least the one we hold;
  // leaves a tombstone unless stale.
  departure_result depart(const departure& d);
  // Entries not updated for purge_after: removed and returned (tombstones
  // that old go too, silently).
  std::vector<node_id> purge(std::uint64_t now_ms);
  // When the next entry goes stale (update_ms + purge_after), if any.
  std::optional<std::uint64_t> next_expiry_ms() const;

  const signed_entry* find(const node_id& n) const;
  bool contains(const node_id& n) const { return entries_.contains(n); }
  std::size_t size() const noexcept { return entries_.size(); }
  const std::map<node_id, signed_entry>& entries() const noexcept { return entries_; }
  // Whether we hold `v` or something newer for `n` (a digest that needs no fetch).
  bool has_at_least(const node_id& n, const entry_version& v) const;

  // Up to `max` digests in node id order, after `after` (exclusive) if
  // given; `more` tells whether any follow.
  struct digest_page {
    std::vector<digest_item> items;
    bool more = false;
  };
  digest_page digests(const std::optional<node_id>& after, std::size_t max) const;

  // Peers whose entry lists this wire topic id.
  std::vector<node_id> peers_with_topic(const topic_id& wire_topic) const;

  const catalog_config& config() const noexcept { return cfg_; }
  std::size_t tombstones() const noexcept { return departed_.size(); }

 private:
  void erase(std::map<node_id, signed_entry>::iterator it);

  topic_id network_;
  node_id self_;
  catalog_config cfg_;
  std::map<node_id, signed_entry> entries_;
  std::set<std::pair<std::uint64_t, node_id>> by_update_;  // (update_ms, node): eviction and purge order
  std::map<node_id, entry_version> departed_;  // tombstones: the version each departure carried
};

}  // namespace topicswarm::discovery
