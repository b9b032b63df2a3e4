#include "discovery/catalog.hpp"

#include <algorithm>

namespace topicswarm::discovery {

const char* to_string(upsert_result r) noexcept {
  switch (r) {
    case upsert_result::added:
      return "added";
    case upsert_result::updated:
      return "updated";
    case upsert_result::other_network:
      return "other_network";
    case upsert_result::self:
      return "self";
    case upsert_result::clock_ahead:
      return "clock_ahead";
    case upsert_result::clock_behind:
      return "clock_behind";
    case upsert_result::outdated:
      return "outdated";
    case upsert_result::not_newer:
      return "not_newer";
    case upsert_result::full:
      return "full";
  }
  return "?";
}

catalog::catalog(const topic_id& network, const node_id& self, catalog_config cfg)
    : network_(network), self_(self), cfg_(cfg) {
  if (cfg_.max_peers == 0) cfg_.max_peers = 1;
}

catalog::upsert_outcome catalog::upsert(signed_entry e, std::uint64_t now_ms, entry_source src) {
  const auto& en = e.entry;
  if (en.network != network_) return {upsert_result::other_network, {}};
  if (en.node == self_) return {upsert_result::self, {}};
  const auto drift = static_cast<std::uint64_t>(cfg_.max_clock_drift.count());
  const auto update = en.version.update_ms;
  if (update > now_ms && update - now_ms > drift) return {upsert_result::clock_ahead, {}};
  if (src == entry_source::announce && update < now_ms && now_ms - update > drift)
    return {upsert_result::clock_behind, {}};
  const auto purge = static_cast<std::uint64_t>(cfg_.purge_after.count());
  if (update < now_ms && now_ms - update > purge) return {upsert_result::outdated, {}};

  if (auto t = departed_.find(en.node); t != departed_.end()) {
    if (en.version <= t->second) return {upsert_result::not_newer, {}};
    departed_.erase(t);  // back with a newer entry: a restart
  }
  auto it = entries_.find(en.node);
  if (it == entries_.end()) {
    std::optional<node_id> evicted;
    if (entries_.size() >= cfg_.max_peers) {
      const auto oldest = by_update_.begin();
      if (oldest == by_update_.end() || oldest->first >= update) return {upsert_result::full, {}};
      evicted = oldest->second;
      erase(entries_.find(oldest->second));
    }
    by_update_.emplace(update, en.node);
    const auto node = en.node;
    entries_.emplace(node, std::move(e));
    return {upsert_result::added, evicted};
  }
  if (en.version <= it->second.entry.version) return {upsert_result::not_newer, {}};
  by_update_.erase({it->second.entry.version.update_ms, it->first});
  by_update_.emplace(update, it->first);
  it->second = std::move(e);
  return {upsert_result::updated, {}};
}

departure_result catalog::depart(const departure& d) {
  if (d.network != network_) return departure_result::other_network;
  auto it = entries_.find(d.node);
  if (it != entries_.end() && d.version < it->second.entry.version) return departure_result::stale;
  // Signed by the peer itself: whatever we held, nothing up to this version
  // is to come back.
  if (auto t = departed_.find(d.node); t != departed_.end()) {
    t->second = std::max(t->second, d.version);
  } else {
    if (departed_.size() >= cfg_.max_peers) {
      auto oldest = std::min_element(departed_.begin(), departed_.end(), [](const auto& a, const auto& b) {
        return a.second.update_ms < b.second.update_ms;
      });
      departed_.erase(oldest);
    }
    departed_.emplace(d.node, d.version);
  }
  if (it == entries_.end()) return departure_result::unknown;
  erase(it);
  return departure_result::departed;
}

std::vector<node_id> catalog::purge(std::uint64_t now_ms) {
  std::vector<node_id> gone;
  const auto purge = static_cast<std::uint64_t>(cfg_.purge_after.count());
  while (!by_update_.empty()) {
    const auto [update, node] = *by_update_.begin();
    if (!(update < now_ms && now_ms - update > purge)) break;
    gone.push_back(node);
    erase(entries_.find(node));
  }
  // An entry at a tombstone's version would be outdated by now (rule 4).
  std::erase_if(departed_, [&](const auto& t) {
    const auto update = t.second.update_ms;
    return update < now_ms && now_ms - update > purge;
  });
  return gone;
}

std::optional<std::uint64_t> catalog::next_expiry_ms() const {
  if (by_update_.empty()) return std::nullopt;
  // Purged once more than purge_after has passed: the first millisecond after.
  return by_update_.begin()->first + static_cast<std::uint64_t>(cfg_.purge_after.count()) + 1;
}

const signed_entry* catalog::find(const node_id& n) const {
  auto it = entries_.find(n);
  return it == entries_.end() ? nullptr : &it->second;
}

bool catalog::has_at_least(const node_id& n, const entry_version& v) const {
  auto it = entries_.find(n);
  return it != entries_.end() && it->second.entry.version >= v;
}

catalog::digest_page catalog::digests(const std::optional<node_id>& after, std::size_t max) const {
  digest_page page;
  auto it = after ? entries_.upper_bound(*after) : entries_.begin();
  for (; it != entries_.end() && page.items.size() < max; ++it)
    page.items.push_back({it->first, it->second.entry.version});
  page.more = it != entries_.end();
  return page;
}

std::vector<node_id> catalog::peers_with_topic(const topic_id& wire_topic) const {
  std::vector<node_id> out;
  for (const auto& [n, e] : entries_)
    if (std::find(e.entry.topics.begin(), e.entry.topics.end(), wire_topic) != e.entry.topics.end()) out.push_back(n);
  return out;
}

void catalog::erase(std::map<node_id, signed_entry>::iterator it) {
  by_update_.erase({it->second.entry.version.update_ms, it->first});
  entries_.erase(it);
}

}  // namespace topicswarm::discovery
