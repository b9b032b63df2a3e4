#include "net/alpn.hpp"

#include <algorithm>

namespace topicswarm::net {

std::string alpn_wire(std::string_view protocol) {
  if (protocol.empty() || protocol.size() > max_alpn_name) return {};
  std::string w;
  w.reserve(1 + protocol.size());
  w.push_back(static_cast<char>(static_cast<unsigned char>(protocol.size())));
  w.append(protocol);
  return w;
}

bool alpn_matches(std::span<const unsigned char> negotiated, std::string_view wanted) noexcept {
  return !wanted.empty() && negotiated.size() == wanted.size() &&
         std::equal(negotiated.begin(), negotiated.end(), wanted.begin(),
                    [](unsigned char a, char b) { return a == static_cast<unsigned char>(b); });
}

std::optional<std::span<const unsigned char>> select_alpn(std::span<const unsigned char> offered,
                                                          std::string_view wanted) {
  // Walk the whole list before answering, so a match never hides a malformed
  // tail (the answer depends on the list being valid, not on entry order).
  std::optional<std::span<const unsigned char>> found;
  std::size_t i = 0;
  while (i < offered.size()) {
    const std::size_t len = offered[i];
    if (len == 0 || len > offered.size() - i - 1) return std::nullopt;
    const auto name = offered.subspan(i + 1, len);
    if (!found && alpn_matches(name, wanted)) found = name;
    i += 1 + len;
  }
  return found;
}

}  // namespace topicswarm::net
