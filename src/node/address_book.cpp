#include "node/address_book.hpp"

#include <algorithm>

namespace topicswarm::detail {

namespace {

// Dialling order: what the peer said itself, then what our user said, then
// hearsay.
int rank(address_source s) noexcept {
  switch (s) {
    case address_source::first_hand: return 0;
    case address_source::user: return 1;
    case address_source::hearsay: return 2;
  }
  return 2;
}

}  // namespace

address_book::list& address_book::entry(const node_id& peer) {
  auto it = entries_.find(peer);
  if (it == entries_.end()) {
    while (entries_.size() >= capacity_ && !order_.empty()) {
      entries_.erase(order_.front());
      order_.pop_front();
    }
    it = entries_.emplace(peer, list{}).first;
    order_.push_back(peer);
  }
  return it->second;
}

void address_book::merge(list& stored, list fresh) {
  // An address keeps the best source anyone gave it.
  for (auto& f : fresh) {
    auto old = std::find_if(stored.begin(), stored.end(), [&](const known& k) { return k.at == f.at; });
    if (old == stored.end()) continue;
    f.from = std::min(f.from, old->from, [](address_source a, address_source b) { return rank(a) < rank(b); });
    stored.erase(old);
  }
  fresh.insert(fresh.end(), stored.begin(), stored.end());
  // Stable: newest first within one source.
  std::stable_sort(fresh.begin(), fresh.end(), [](const known& a, const known& b) { return rank(a.from) < rank(b.from); });
  if (fresh.size() > max_per_peer_) fresh.resize(max_per_peer_);
  stored = std::move(fresh);
}

void address_book::add(const node_id& peer, const std::vector<endpoint>& addresses, address_source from) {
  if (capacity_ == 0) return;
  const auto it = entries_.find(peer);
  // An address stored already was allowed (or given by our user, or proven
  // by a dial): a third party repeating it is no reason to refuse it.
  const auto stored = [&](const endpoint& a) {
    return it != entries_.end() &&
           std::any_of(it->second.begin(), it->second.end(), [&](const known& k) { return k.at == a; });
  };
  list fresh;
  for (const auto& a : addresses) {
    if (from != address_source::user && !stored(a) && !policy_.allows(a)) {
      ++refused_;
      continue;
    }
    if (std::none_of(fresh.begin(), fresh.end(), [&](const known& k) { return k.at == a; }))
      fresh.push_back(known{a, from});
  }
  if (fresh.empty()) return;
  merge(entry(peer), std::move(fresh));
}

void address_book::confirm(const node_id& peer, const endpoint& address) {
  if (capacity_ == 0) return;
  merge(entry(peer), list{known{address, address_source::first_hand}});
}

std::vector<endpoint> address_book::admit(const std::vector<endpoint>& addresses) const {
  std::vector<endpoint> ok;
  for (const auto& a : addresses) {
    if (policy_.allows(a))
      ok.push_back(a);
    else
      ++refused_;
  }
  prefer_local(ok);
  return ok;
}

std::vector<endpoint> address_book::find(const node_id& peer) const {
  std::vector<endpoint> out;
  if (auto it = entries_.find(peer); it != entries_.end())
    for (const auto& k : it->second) out.push_back(k.at);
  prefer_local(out);
  return out;
}

void address_book::prefer_local(std::vector<endpoint>& addresses) const {
  const auto ours = [&](const endpoint& e) {
    return std::any_of(external_.begin(), external_.end(),
                       [&](const endpoint& x) { return x.fam == e.fam && x.ip == e.ip; });
  };
  if (std::none_of(addresses.begin(), addresses.end(), ours)) return;
  std::stable_partition(addresses.begin(), addresses.end(), [](const endpoint& e) {
    const auto c = core::classify(e);
    return c == core::address_class::private_network || c == core::address_class::link_local;
  });
}

std::vector<endpoint> address_book::find_first_hand(const node_id& peer) const {
  std::vector<endpoint> out;
  if (auto it = entries_.find(peer); it != entries_.end())
    for (const auto& k : it->second)
      if (k.from == address_source::first_hand) out.push_back(k.at);
  return out;
}

void address_book::forget(const node_id& peer) {
  if (entries_.erase(peer) == 0) return;
  order_.erase(std::find(order_.begin(), order_.end(), peer));
}

}  // namespace topicswarm::detail
