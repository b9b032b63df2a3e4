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

#include <algorithm>
#include <cstring>
#include <unordered_map>

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
  // Keyed by the whole encoding (a signature alone would let forged bytes
  // with a copied signature hit a good result); hashed by the signature's
  // last 8 bytes, which differ between entries (entries of one network share
  // their first 33 bytes, so an ordered map spends its time comparing those).
  struct tail_hash {
    std::size_t operator()(const bytes& b) const noexcept {
      if (b.empty()) return 0;
      std::uint64_t h = 0;
      const std::size_t n = std::min<std::size_t>(b.size(), 8);
      std::memcpy(&h, b.data() + b.size() - n, n);
      return static_cast<std::size_t>(h ^ b.size());
    }
  };
  std::unordered_map<bytes, result<signed_entry>, tail_hash> cache_;
};

}  // namespace topicswarm::discovery
