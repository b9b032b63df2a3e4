// An in-memory BEP 44 mutable-item store: the DHT of the simulator's tracker
// scenarios (issue 5). It applies the rules a libtorrent DHT node applies to
// a put, and answers a get the way a libtorrent lookup does, with one item
// per (key, salt): the one with the highest seq (DESIGN.md §5).
//
//  - the signature must verify (BEP 44 signed buffer, dht::verify_mutable_item);
//  - the salt is at most 64 bytes and the bencoded value at most 1000;
//  - a put with a lower seq than the stored one is refused; an equal seq
//    overwrites (libtorrent sends no CAS), a higher one replaces;
//  - the store holds at most `capacity` items; a put of a new item beyond it
//    is refused (a DHT node refuses or evicts; refusing keeps runs simple to
//    reason about, and the cap only guards the simulator's memory).
//
// No routing and no time: the simulator delivers get and put results after
// a latency of its own, so that lookups race puts as they do on a network.
#pragma once

#include <topicswarm/dht_client.hpp>

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <utility>

namespace topicswarm::sim {

enum class put_status : std::uint8_t { stored, lower_seq, bad_signature, salt_too_long, value_too_large, full };

const char* to_string(put_status s) noexcept;

class bep44_store {
 public:
  struct counters {
    std::uint64_t puts = 0, stored = 0, refused = 0;  // refused: any status but stored
    std::uint64_t gets = 0, hits = 0;
  };

  explicit bep44_store(std::size_t capacity = 1'000'000) : capacity_(capacity) {}

  put_status put(const dht::mutable_item& item);
  std::optional<dht::mutable_item> get(const public_key& key, byte_span salt);

  std::size_t size() const noexcept { return items_.size(); }
  const counters& stats() const noexcept { return c_; }

 private:
  std::size_t capacity_;
  std::map<std::pair<public_key, bytes>, dht::mutable_item> items_;
  counters c_;
};

}  // namespace topicswarm::sim
