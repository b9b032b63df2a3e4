// Hostile values for a topic's DHT slots (issue 15, "Hostile input"): what a
// member holding the secret (who can compute and sign every slot) or a
// stranger can leave where honest readers look. Shared by the integration
// test (tests/integration/hostile_slots_test.cpp) and the standalone writer
// (tests/tools/hostile_slot_writer.cpp).
//
// Each kind names the reader's counter it must land in
// (auto_discovery_stats::records_rejected_*), so a test can check that every
// rejection is counted under its reason.
#pragma once

#include "crypto/record_format.hpp"

#include <topicswarm/identity.hpp>
#include <topicswarm/node.hpp>
#include <topicswarm/record.hpp>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

namespace topicswarm::test_support {

enum class hostile_kind {
  unknown_format,    // random bytes after a format byte no build reads
  garbage,           // format 2 byte, then random bytes: the AEAD open fails
  truncated,         // an honest record cut short
  forged_signature,  // validly encrypted, names a publisher that did not sign it
  wrong_topic,       // validly encrypted and signed, names another topic
  wrong_window,      // validly encrypted and signed, names the previous window
  replay,            // last window's honest record, stored again with its own seq
  oversized,         // larger than any BEP 44 node stores
};

inline constexpr hostile_kind all_hostile_kinds[] = {
    hostile_kind::unknown_format, hostile_kind::garbage,      hostile_kind::truncated, hostile_kind::forged_signature,
    hostile_kind::wrong_topic,    hostile_kind::wrong_window, hostile_kind::replay,    hostile_kind::oversized,
};

inline std::string_view to_string(hostile_kind k) {
  switch (k) {
    case hostile_kind::unknown_format: return "unknown_format";
    case hostile_kind::garbage: return "garbage";
    case hostile_kind::truncated: return "truncated";
    case hostile_kind::forged_signature: return "forged_signature";
    case hostile_kind::wrong_topic: return "wrong_topic";
    case hostile_kind::wrong_window: return "wrong_window";
    case hostile_kind::replay: return "replay";
    case hostile_kind::oversized: return "oversized";
  }
  return "?";
}

// The counter of auto_discovery_stats a reader must count the value in
// (nullptr for oversized: no DHT node stores it, so no reader sees it).
inline std::uint64_t auto_discovery_stats::*expected_counter(hostile_kind k) {
  switch (k) {
    case hostile_kind::unknown_format: return &auto_discovery_stats::records_rejected_format;
    case hostile_kind::garbage: return &auto_discovery_stats::records_rejected_decryption;
    case hostile_kind::truncated: return &auto_discovery_stats::records_rejected_length;
    case hostile_kind::forged_signature: return &auto_discovery_stats::records_rejected_signature;
    case hostile_kind::wrong_topic: return &auto_discovery_stats::records_rejected_topic;
    case hostile_kind::wrong_window: return &auto_discovery_stats::records_rejected_window;
    case hostile_kind::replay: return &auto_discovery_stats::records_rejected_seq;
    case hostile_kind::oversized: return nullptr;
  }
  return nullptr;
}

struct hostile_value {
  hostile_kind kind;
  bytes value;
  std::int64_t seq = 0;  // the BEP 44 seq to store it with
};

// A plausible record of `window` by `publisher`, stamped `ms` (clamped into the window).
inline topic_record plausible_record(const topic_id& t, std::uint64_t window, const identity& publisher,
                                     std::uint64_t ms) {
  const auto range = crypto::record_format::window_range(window);
  topic_record r;
  r.topic = t;
  r.window = window;
  r.publisher = publisher.id();
  r.addresses = {*endpoint::parse("127.0.0.1:9")};
  r.timestamp_ms = std::clamp<std::uint64_t>(ms, static_cast<std::uint64_t>(range.first) + 1,
                                             static_cast<std::uint64_t>(range.last) - 1);
  return r;
}

// The value of kind `k` for slot `slot` of `window`, written at unix time
// `now_ms` (inside `window`). `fill` supplies the "random" bytes (a test
// passes a seeded generator). nullopt only if sealing failed (a bug).
template <class Fill>
std::optional<hostile_value> make_hostile(hostile_kind k, const record_codec& codec, std::uint64_t window,
                                          unsigned slot, std::uint64_t now_ms, Fill&& fill) {
  namespace rf = crypto::record_format;
  const auto seq = static_cast<std::int64_t>(now_ms);
  auto random_bytes = [&](std::size_t n) {
    bytes b(n);
    for (auto& x : b) x = static_cast<std::byte>(fill());
    return b;
  };
  const identity mallory = identity::generate();
  switch (k) {
    case hostile_kind::unknown_format: {
      bytes v = random_bytes(300);
      v[0] = std::byte{0x07};
      return hostile_value{k, std::move(v), seq};
    }
    case hostile_kind::garbage: {
      bytes v = random_bytes(300);
      v[0] = std::byte{record_format_version};
      return hostile_value{k, std::move(v), seq};
    }
    case hostile_kind::truncated: {
      auto sealed = codec.seal(plausible_record(codec.topic(), window, mallory, now_ms), mallory, slot);
      if (!sealed) return std::nullopt;
      sealed->resize(rf::min_stored_size - 1);
      return hostile_value{k, std::move(*sealed), seq};
    }
    case hostile_kind::forged_signature: {
      // Claims an honest-looking publisher; Mallory signs.
      const identity victim = identity::generate();
      auto r = plausible_record(codec.topic(), window, victim, now_ms);
      bytes plain = rf::encode_body(r);
      const auto sig = mallory.sign(rf::signing_message(plain));
      plain.insert(plain.end(), sig.span().begin(), sig.span().end());
      auto sealed = rf::seal_plain(plain, codec.topic(), window, slot, codec.window_key(window));
      if (!sealed) return std::nullopt;
      return hostile_value{k, std::move(*sealed), static_cast<std::int64_t>(r.timestamp_ms)};
    }
    case hostile_kind::wrong_topic: {
      auto r = plausible_record(topic_id_from_name("some other topic"), window, mallory, now_ms);
      auto sealed = rf::seal_with_key_of(r, mallory, codec.topic(), window, slot, codec.window_key(window));
      if (!sealed) return std::nullopt;
      return hostile_value{k, std::move(*sealed), static_cast<std::int64_t>(r.timestamp_ms)};
    }
    case hostile_kind::wrong_window: {
      auto r = plausible_record(codec.topic(), window - 1, mallory, now_ms - 60'000);
      auto sealed = rf::seal_with_key_of(r, mallory, codec.topic(), window, slot, codec.window_key(window));
      if (!sealed) return std::nullopt;
      // Stored with a seq of this window, so only the inside can tell.
      return hostile_value{k, std::move(*sealed), seq};
    }
    case hostile_kind::replay: {
      // An honest record of the previous window, copied with its own seq into
      // this window's slot (a member can sign any slot's BEP 44 item).
      const identity honest = identity::generate();
      auto r = plausible_record(codec.topic(), window - 1, honest, now_ms - 60'000);
      auto sealed = codec.seal(r, honest, slot);
      if (!sealed) return std::nullopt;
      return hostile_value{k, std::move(*sealed), static_cast<std::int64_t>(r.timestamp_ms)};
    }
    case hostile_kind::oversized:
      return hostile_value{k, random_bytes(1200), seq};
  }
  return std::nullopt;
}

}  // namespace topicswarm::test_support
