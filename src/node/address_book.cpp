#include "node/address_book.hpp"

#include <algorithm>

namespace topicswarm::detail {

void address_book::add(const node_id& peer, const std::vector<endpoint>& addresses) {
  if (addresses.empty() || capacity_ == 0) return;
  auto it = entries_.find(peer);
  if (it == entries_.end()) {
    while (entries_.size() >= capacity_ && !order_.empty()) {
      entries_.erase(order_.front());
      order_.pop_front();
    }
    it = entries_.emplace(peer, std::vector<endpoint>{}).first;
    order_.push_back(peer);
  }
  std::vector<endpoint> merged;
  for (const auto& a : addresses)
    if (std::find(merged.begin(), merged.end(), a) == merged.end()) merged.push_back(a);
  for (const auto& a : it->second)
    if (std::find(merged.begin(), merged.end(), a) == merged.end()) merged.push_back(a);
  if (merged.size() > max_per_peer_) merged.resize(max_per_peer_);
  it->second = std::move(merged);
}

std::vector<endpoint> address_book::find(const node_id& peer) const {
  auto it = entries_.find(peer);
  return it == entries_.end() ? std::vector<endpoint>{} : it->second;
}

void address_book::forget(const node_id& peer) {
  if (entries_.erase(peer) == 0) return;
  order_.erase(std::find(order_.begin(), order_.end(), peer));
}

}  // namespace topicswarm::detail
