// Known dialling addresses of peers, bounded: when full, the peer learned
// longest ago is forgotten first. Sources: bootstrap peers given by the user,
// addresses carried in gossip messages (HyParView joins, forward-joins,
// shuffles), and later records and the catalog.
#pragma once

#include <topicswarm/endpoint.hpp>
#include <topicswarm/ids.hpp>

#include <cstddef>
#include <deque>
#include <map>
#include <vector>

namespace topicswarm::detail {

class address_book {
 public:
  explicit address_book(std::size_t capacity, std::size_t max_per_peer = 4)
      : capacity_(capacity), max_per_peer_(max_per_peer) {}

  // Adds addresses for `peer` (newest first, duplicates removed, at most
  // max_per_peer kept). Empty lists are ignored.
  void add(const node_id& peer, const std::vector<endpoint>& addresses);
  std::vector<endpoint> find(const node_id& peer) const;
  void forget(const node_id& peer);
  std::size_t size() const noexcept { return entries_.size(); }

 private:
  std::size_t capacity_, max_per_peer_;
  std::map<node_id, std::vector<endpoint>> entries_;
  std::deque<node_id> order_;  // insertion order of entries_ keys (for eviction)
};

}  // namespace topicswarm::detail
