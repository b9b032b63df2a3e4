#include "lan/beacon.hpp"

#include "core/codec.hpp"
#include "crypto/hash.hpp"
#include "crypto/sodium.hpp"

#include <algorithm>
#include <cstring>
#include <string_view>

namespace topicswarm::lan {

namespace {
constexpr std::string_view key_label = "topicswarm/lan-key/v1";
constexpr std::string_view tag_label = "topicswarm/lan-tag/v1";

error bad(const char* why) { return error{errc::malformed_message, why}; }
}  // namespace

bytes encode(const beacon& b) {
  bytes out;
  out.reserve(header_size + b.tags.size() * tag_size);
  core::byte_writer w(out);
  for (auto m : magic) w.put_u8(m);
  w.put_u8(version);
  w.put(b.from.span());
  w.put_u16(b.port);
  w.put_u32(b.minute);
  w.put_u8(static_cast<std::uint8_t>(b.tags.size()));
  for (const auto& t : b.tags) w.put(byte_span(t.data(), t.size()));
  return out;
}

result<beacon> decode(byte_span datagram) {
  if (datagram.size() < header_size || datagram.size() > max_beacon_size) return bad("lan beacon of the wrong length");
  core::byte_reader r(datagram);
  for (auto m : magic)
    if (r.get_u8() != m) return bad("not a lan beacon (magic)");
  if (r.get_u8() != version) return bad("lan beacon of another version");
  beacon b;
  auto id = node_id::from_span(r.get_span(32));
  if (!id) return bad("lan beacon: node id");
  b.from = *id;
  b.port = r.get_u16();
  b.minute = r.get_u32();
  const std::size_t count = r.get_u8();
  if (!r.ok()) return bad("lan beacon: short header");
  if (b.port == 0) return bad("lan beacon for port 0");
  if (count > max_tags) return bad("lan beacon with too many tags");
  if (datagram.size() != header_size + count * tag_size) return bad("lan beacon of the wrong length");
  b.tags.resize(count);
  for (auto& t : b.tags) {
    const auto s = r.get_span(tag_size);
    std::memcpy(t.data(), s.data(), tag_size);
  }
  if (!r.at_end()) return bad("lan beacon of the wrong length");
  return b;
}

topic_key key_for(const topic_id& wire_topic, const secret_hash& secret) {
  const auto d = crypto::sha512({as_bytes(key_label), wire_topic.span(), secret.span()});
  topic_key k{};
  std::memcpy(k.data(), d.data(), k.size());
  return k;
}

tag tag_for(const topic_key& key, const node_id& from, std::uint16_t port, std::uint32_t minute) {
  crypto::ensure_sodium();
  std::array<unsigned char, 6> tail{static_cast<unsigned char>(port >> 8),      static_cast<unsigned char>(port),
                                    static_cast<unsigned char>(minute >> 24),    static_cast<unsigned char>(minute >> 16),
                                    static_cast<unsigned char>(minute >> 8),     static_cast<unsigned char>(minute)};
  crypto_auth_hmacsha256_state st;
  crypto_auth_hmacsha256_init(&st, reinterpret_cast<const unsigned char*>(key.data()), key.size());
  crypto_auth_hmacsha256_update(&st, crypto::uc(as_bytes(tag_label)), tag_label.size());
  crypto_auth_hmacsha256_update(&st, crypto::uc(from.span()), from.size());
  crypto_auth_hmacsha256_update(&st, tail.data(), tail.size());
  std::array<unsigned char, crypto_auth_hmacsha256_BYTES> mac{};
  crypto_auth_hmacsha256_final(&st, mac.data());
  sodium_memzero(&st, sizeof st);
  tag t{};
  std::memcpy(t.data(), mac.data(), t.size());
  return t;
}

state::state(config cfg, const node_id& self) : cfg_(cfg), self_(self) {}

void state::arm(duration after, std::vector<out::output>& out) {
  ++serial_;
  armed_ = true;
  // Built in place: GCC 12 with ASan warns (maybe-uninitialized) about the
  // bytes of the send alternative when a temporary variant is moved in.
  out::schedule s{after, timer{serial_}};
  out.emplace_back(std::in_place_type<out::schedule>, s);
}

void state::handle(in::input input, instant now, std::uint32_t minute, std::vector<out::output>& out) {
  std::visit(
      [&](auto& v) {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, in::add_topic>) {
          if (topics_.size() >= cfg_.max_topics && !topics_.contains(v.topic)) return;
          const bool fresh = topics_.insert_or_assign(v.topic, v.key).second;
          // A new topic is announced soon, not at the next regular beacon.
          if (fresh && port_ != 0) arm(cfg_.first_after, out);
        } else if constexpr (std::is_same_v<T, in::remove_topic>) {
          topics_.erase(v.topic);
          std::erase_if(found_, [&](const auto& kv) { return kv.first.topic == v.topic; });
          if (topics_.empty()) armed_ = false;  // (its timer no longer applies)
        } else if constexpr (std::is_same_v<T, in::listen>) {
          port_ = v.port;
          if (port_ == 0) {
            armed_ = false;
          } else if (!topics_.empty()) {
            arm(cfg_.first_after, out);
          }
        } else if constexpr (std::is_same_v<T, in::datagram>) {
          on_datagram(v, now, minute, out);
        } else if constexpr (std::is_same_v<T, in::timer_fired>) {
          if (!timer_applies(v.t)) return;
          armed_ = false;
          if (topics_.empty() || port_ == 0) return;
          send_beacon(minute, out);
          arm(cfg_.interval, out);
        }
      },
      input);
}

void state::send_beacon(std::uint32_t minute, std::vector<out::output>& out) {
  beacon b;
  b.from = self_;
  b.port = port_;
  b.minute = minute;
  // Up to max_tags topics a beacon; with more, the next beacon goes on
  // where this one stopped.
  const std::size_t n = std::min(topics_.size(), max_tags);
  if (rotation_ >= topics_.size()) rotation_ = 0;
  auto it = std::next(topics_.begin(), static_cast<std::ptrdiff_t>(rotation_));
  for (std::size_t i = 0; i < n; ++i) {
    b.tags.push_back(tag_for(it->second, self_, port_, minute));
    if (++it == topics_.end()) it = topics_.begin();
  }
  rotation_ = topics_.size() > max_tags ? (rotation_ + n) % topics_.size() : 0;
  ++counters_.sent;
  out.push_back(out::send{encode(b)});
}

void state::on_datagram(const in::datagram& d, instant now, std::uint32_t minute, std::vector<out::output>& out) {
  ++counters_.received;
  auto b = decode(d.payload);
  if (!b) {
    ++counters_.malformed;
    return;
  }
  if (b->from == self_) {
    ++counters_.own;
    return;
  }
  const std::uint32_t gap = b->minute > minute ? b->minute - minute : minute - b->minute;
  if (gap > cfg_.window_slack) {
    ++counters_.stale;
    return;
  }
  // Budgets before any crypto.
  ip_key k{};
  k[0] = static_cast<std::uint8_t>(d.from.fam);
  std::copy(d.from.ip.begin(), d.from.ip.end(), k.begin() + 1);
  auto src = sources_.find(k);
  if (src == sources_.end()) {
    if (sources_.size() >= cfg_.max_sources) {
      // Forget the source heard from longest ago.
      auto stalest = std::min_element(sources_.begin(), sources_.end(),
                                      [](const auto& a, const auto& c) { return a.second.at < c.second.at; });  // (all set)
      sources_.erase(stalest);
    }
    src = sources_.emplace(k, bucket{}).first;
  }
  if (!src->second.take(now, cfg_.source_burst, cfg_.source_per_minute) ||
      !total_.take(now, cfg_.total_burst, cfg_.total_per_minute)) {
    ++counters_.rate_limited;
    return;
  }
  endpoint at = d.from;
  at.port = b->port;
  bool any = false;
  for (const auto& [topic, key] : topics_) {
    const tag expected = tag_for(key, b->from, b->port, b->minute);
    const bool match = std::any_of(b->tags.begin(), b->tags.end(), [&](const tag& t) {
      return sodium_memcmp(t.data(), expected.data(), tag_size) == 0;
    });
    if (!match) continue;
    any = true;
    ++counters_.matches;
    found_key f{topic, b->from, at};
    if (auto seen = found_.find(f); seen != found_.end() && now - seen->second < cfg_.refound_interval) {
      ++counters_.repeats;
      continue;
    }
    std::erase_if(found_, [&](const auto& kv) { return now - kv.second >= cfg_.refound_interval; });
    if (found_.size() >= cfg_.max_found) {
      ++counters_.table_full;  // found again once entries age out
      continue;
    }
    found_[f] = now;
    ++counters_.found;
    out.push_back(out::found{topic, b->from, at});
  }
  if (!any) ++counters_.unmatched;
}

}  // namespace topicswarm::lan
