// Entries opened already (decoded and signature-checked), shared by the
// discovery cores of one process that see the same bytes many times: the
// simulator runs 1,000 cores that each verify every peer's announce, and
// without this spends most of its time in Ed25519. open_entry is a pure
// function of the bytes, so a memo returns exactly what it would; a node
// (one core) has no use for it and passes none.
//
// Bounded: cleared when `limit` results are held. Not thread-safe (one
// simulation runs on one thread).
#pragma once

#include "discovery/entry.hpp"

#include <map>

namespace topicswarm::discovery {

class opened_entries {
 public:
  explicit opened_entries(std::size_t limit = 50'000) : limit_(limit) {}

  result<signed_entry> open(byte_span encoded) {
    bytes key(encoded.begin(), encoded.end());
    if (auto it = cache_.find(key); it != cache_.end()) {
      ++hits_;
      return it->second;
    }
    if (cache_.size() >= limit_) cache_.clear();
    auto r = open_entry(encoded);
    cache_.emplace(std::move(key), r);
    return r;
  }
  std::uint64_t hits() const noexcept { return hits_; }
  std::size_t size() const noexcept { return cache_.size(); }

 private:
  std::size_t limit_;
  std::uint64_t hits_ = 0;
  std::map<bytes, result<signed_entry>> cache_;
};

}  // namespace topicswarm::discovery
