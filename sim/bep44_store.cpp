#include "sim/bep44_store.hpp"

#include "dht/bep44.hpp"

namespace topicswarm::sim {

const char* to_string(put_status s) noexcept {
  switch (s) {
    case put_status::stored:
      return "stored";
    case put_status::lower_seq:
      return "lower seq than the stored item";
    case put_status::bad_signature:
      return "signature does not verify";
    case put_status::salt_too_long:
      return "salt longer than 64 bytes";
    case put_status::value_too_large:
      return "value over 1000 bytes bencoded";
    case put_status::full:
      return "store full";
  }
  return "unknown";
}

put_status bep44_store::put(const dht::mutable_item& item) {
  ++c_.puts;
  const put_status s = [&] {
    // Cheap checks first, as a node would: sizes, then the signature.
    if (item.salt.size() > dht::detail::max_salt_size) return put_status::salt_too_long;
    if (dht::detail::bencoded_string_size(item.value.size()) > dht::detail::max_encoded_value_size)
      return put_status::value_too_large;
    if (!dht::verify_mutable_item(item)) return put_status::bad_signature;
    auto key = std::make_pair(item.key, item.salt);
    auto it = items_.find(key);
    if (it == items_.end()) {
      if (items_.size() >= capacity_) return put_status::full;
      items_.emplace(std::move(key), item);
      return put_status::stored;
    }
    if (item.seq < it->second.seq) return put_status::lower_seq;
    it->second = item;
    return put_status::stored;
  }();
  if (s == put_status::stored)
    ++c_.stored;
  else
    ++c_.refused;
  return s;
}

std::optional<dht::mutable_item> bep44_store::get(const public_key& key, byte_span salt) {
  ++c_.gets;
  auto it = items_.find(std::make_pair(key, bytes(salt.begin(), salt.end())));
  if (it == items_.end()) return std::nullopt;
  ++c_.hits;
  return it->second;
}

}  // namespace topicswarm::sim
