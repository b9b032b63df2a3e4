#include "dht/bep44.hpp"

#include <topicswarm/dht_client.hpp>

#include <string>

namespace topicswarm::dht {
namespace detail {

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

}  // namespace detail

bool verify_mutable_item(const mutable_item& item) {
  if (item.salt.size() > detail::max_salt_size) return false;
  return verify_signature(item.key, detail::signed_buffer(item.salt, item.seq, item.value), item.sig);
}

}  // namespace topicswarm::dht
