// Connections between simulated nodes, one entry per unordered pair.
//
// Connections are implicit: the first send between two nodes "dials" and
// opens one; it carries a generation number so that events about an old
// connection (a close still in flight, a late detection) can be told apart
// from a newer connection between the same pair. Lookups go through a hash
// map (never iterated); each node's peers are kept in an insertion-ordered
// vector, which is what crash handling and partitions iterate, so every walk
// over connections is deterministic.
#pragma once

#include "core/time.hpp"

#include <array>
#include <climits>
#include <functional>
#include <cstdint>
#include <unordered_map>
#include <vector>

namespace topicswarm::sim {

struct connection {
  std::uint64_t gen = 0;
  // The handshake completes here; nothing is delivered before it.
  core::instant established{};
  // Side (see connection_table::side) of the node that dialled.
  int dialer = 0;
  // FIFO per direction: side 0 is the lower node index, side 1 the higher one;
  // last_delivery[s] is the latest delivery time of a message sent by side s.
  std::array<core::instant, 2> last_delivery{};
  // Pending detection time of a dead connection, per side (max = none).
  std::array<core::instant, 2> detect_at{core::instant::max(), core::instant::max()};
  // The connection went silent (the peer crashed, or a partition cut it).
  bool broken = false;
  // A side is done with this connection: it closed it, crashed, or was told.
  std::array<bool, 2> done{false, false};
  // How the dial got through the NATs (simulator::link_path), and the relay
  // carrying it when relayed.
  std::uint8_t path = 0;
  std::uint32_t relay = UINT32_MAX;
};

class connection_table {
 public:
  // Side of `a` in the pair {a, b}: 0 if a is the lower index.
  static int side(std::uint32_t a, std::uint32_t b) noexcept { return a < b ? 0 : 1; }

  connection* find(std::uint32_t a, std::uint32_t b) {
    auto it = map_.find(key(a, b));
    return it == map_.end() ? nullptr : &it->second;
  }
  const connection* find(std::uint32_t a, std::uint32_t b) const {
    auto it = map_.find(key(a, b));
    return it == map_.end() ? nullptr : &it->second;
  }

  // `a` dials `b`: opens a connection (replacing any old entry for the pair)
  // with a fresh generation.
  connection& open(std::uint32_t a, std::uint32_t b, core::instant established) {
    auto [it, inserted] = map_.try_emplace(key(a, b));
    if (inserted) {
      link(a, b);
      link(b, a);
    } else if (released) {
      released(it->second);
    }
    it->second = connection{};
    it->second.gen = ++next_gen_;
    it->second.established = established;
    it->second.dialer = side(a, b);
    it->second.last_delivery = {established, established};
    return it->second;
  }

  // Called with a connection about to be forgotten (erased or replaced).
  std::function<void(const connection&)> released;

  void erase(std::uint32_t a, std::uint32_t b) {
    auto it = map_.find(key(a, b));
    if (it == map_.end()) return;
    if (released) released(it->second);
    map_.erase(it);
    unlink(a, b);
    unlink(b, a);
  }

  // Peers `a` has a connection entry with, in the order they were connected.
  const std::vector<std::uint32_t>& peers_of(std::uint32_t a) const {
    static const std::vector<std::uint32_t> none;
    return a < peers_.size() ? peers_[a] : none;
  }

  std::size_t size() const noexcept { return map_.size(); }

 private:
  static std::uint64_t key(std::uint32_t a, std::uint32_t b) noexcept {
    if (a > b) std::swap(a, b);
    return (static_cast<std::uint64_t>(a) << 32) | b;
  }
  void link(std::uint32_t a, std::uint32_t b) {
    if (a >= peers_.size()) peers_.resize(a + 1);
    peers_[a].push_back(b);
  }
  void unlink(std::uint32_t a, std::uint32_t b) {
    auto& v = peers_[a];
    for (std::size_t i = 0; i < v.size(); ++i)
      if (v[i] == b) {
        v.erase(v.begin() + static_cast<std::ptrdiff_t>(i));  // keeps order: deterministic walks
        return;
      }
  }

  std::unordered_map<std::uint64_t, connection> map_;
  std::vector<std::vector<std::uint32_t>> peers_;
  std::uint64_t next_gen_ = 0;
};

}  // namespace topicswarm::sim
