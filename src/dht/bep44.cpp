#include "dht/bep44.hpp"

#include "dht/lt_session.hpp"

#include <string>

namespace topicswarm::dht::detail {

std::size_t bencoded_string_size(std::size_t n) noexcept { return std::to_string(n).size() + 1 + n; }

bytes signed_buffer(byte_span salt, std::int64_t seq, byte_span value) {
  bytes out;
  out.reserve(32 + salt.size() + value.size());
  auto text = [&out](const std::string& s) {
    auto b = as_bytes(s);
    out.insert(out.end(), b.begin(), b.end());
  };
  if (!salt.empty()) {
    text("4:salt" + std::to_string(salt.size()) + ":");
    out.insert(out.end(), salt.begin(), salt.end());
  }
  text("3:seqi" + std::to_string(seq) + "e1:v" + std::to_string(value.size()) + ":");
  out.insert(out.end(), value.begin(), value.end());
  return out;
}

bool verify_item_signature(const public_key& key, byte_span salt, std::int64_t seq, byte_span value,
                           const signature& sig) {
  if (salt.size() > max_salt_size) return false;
  return verify_signature(key, signed_buffer(salt, seq, value), sig);
}

item_verdict check_item(const item_event& e) {
  switch (e.kind) {
    case item_event::value_kind::none:
      return item_verdict::absent;
    case item_event::value_kind::other:
      return item_verdict::not_a_byte_string;
    case item_event::value_kind::byte_string:
      break;
  }
  if (e.salt.size() > max_salt_size) return item_verdict::salt_too_long;
  if (bencoded_string_size(e.value.size()) > max_encoded_value_size) return item_verdict::value_too_large;
  if (!verify_item_signature(e.key, e.salt, e.seq, e.value, e.sig)) return item_verdict::bad_signature;
  return item_verdict::accepted;
}

}  // namespace topicswarm::dht::detail
