// Byte buffers and fixed-size byte strings with a strong type per meaning.
#pragma once

#include <topicswarm/error.hpp>
#include <topicswarm/export.hpp>

#include <algorithm>
#include <array>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace topicswarm {

using bytes = std::vector<std::byte>;
using byte_span = std::span<const std::byte>;

// Views of text as bytes and back, for the many places that move strings.
inline byte_span as_bytes(std::string_view s) noexcept {
  return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}
inline bytes to_bytes(std::string_view s) {
  auto b = as_bytes(s);
  return {b.begin(), b.end()};
}
inline std::string to_string(byte_span b) {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}

// Lowercase hex of any bytes.
TOPICSWARM_API std::string to_hex(byte_span b);
// Parse hex (either case) of exactly `out.size()` bytes into `out`.
// The error detail names the length or the first bad character.
TOPICSWARM_API result<void> from_hex(std::string_view text, std::span<std::byte> out);
// Parse hex of any even length.
TOPICSWARM_API result<bytes> from_hex(std::string_view text);

// N bytes with a tag type, so a node_id can never be passed where a topic_id
// is expected. Ordered and hashable; prints as lowercase hex.
template <std::size_t N, class Tag>
class fixed_bytes {
 public:
  static constexpr std::size_t size_bytes = N;

  constexpr fixed_bytes() noexcept : b_{} {}
  explicit constexpr fixed_bytes(const std::array<std::byte, N>& b) noexcept : b_(b) {}

  // Copies exactly N bytes; returns an error if the span has another length.
  static result<fixed_bytes> from_span(byte_span s) {
    if (s.size() != N)
      return error{errc::invalid_argument,
                   "expected " + std::to_string(N) + " bytes, got " + std::to_string(s.size())};
    fixed_bytes f;
    std::copy(s.begin(), s.end(), f.b_.begin());
    return f;
  }
  // Parses the printed form (2N hex digits).
  static result<fixed_bytes> parse(std::string_view text) {
    fixed_bytes f;
    if (auto r = from_hex(text, f.b_); !r) return r.error();
    return f;
  }

  byte_span span() const noexcept { return b_; }
  std::span<std::byte, N> writable() noexcept { return b_; }
  const std::byte* data() const noexcept { return b_.data(); }
  std::byte* data() noexcept { return b_.data(); }
  const unsigned char* uchar() const noexcept { return reinterpret_cast<const unsigned char*>(b_.data()); }
  unsigned char* uchar() noexcept { return reinterpret_cast<unsigned char*>(b_.data()); }
  static constexpr std::size_t size() noexcept { return N; }
  bool is_zero() const noexcept {
    return std::all_of(b_.begin(), b_.end(), [](std::byte x) { return x == std::byte{0}; });
  }
  std::string to_string() const { return to_hex(b_); }
  // First 4 bytes as hex: enough to tell peers apart in logs.
  std::string short_string() const { return to_hex(byte_span(b_).first(std::min<std::size_t>(4, N))); }

  friend auto operator<=>(const fixed_bytes&, const fixed_bytes&) = default;
  friend bool operator==(const fixed_bytes&, const fixed_bytes&) = default;

 private:
  std::array<std::byte, N> b_;
};

template <std::size_t N, class Tag>
std::string to_string(const fixed_bytes<N, Tag>& f) {
  return f.to_string();
}

}  // namespace topicswarm

template <std::size_t N, class Tag>
struct std::hash<topicswarm::fixed_bytes<N, Tag>> {
  std::size_t operator()(const topicswarm::fixed_bytes<N, Tag>& f) const noexcept {
    // Ids are hashes or public keys: their first bytes are already uniform.
    std::size_t h = 0;
    for (std::size_t i = 0; i < sizeof(std::size_t) && i < N; ++i)
      h = (h << 8) | static_cast<std::size_t>(f.data()[i]);
    return h;
  }
};
