// A transport address (IPv4 or IPv6 plus port) independent of any IO library.
#pragma once

#include <topicswarm/error.hpp>
#include <topicswarm/export.hpp>

#include <array>
#include <compare>
#include <cstdint>
#include <string>
#include <string_view>

namespace topicswarm {

struct TOPICSWARM_API endpoint {
  enum class family : std::uint8_t { v4 = 4, v6 = 6 };

  family fam = family::v4;
  // For v4 only the first 4 bytes are used (network order).
  std::array<std::uint8_t, 16> ip{};
  std::uint16_t port = 0;

  static endpoint v4(std::array<std::uint8_t, 4> a, std::uint16_t port);
  static endpoint v6(const std::array<std::uint8_t, 16>& a, std::uint16_t port);
  // "127.0.0.1:6881" or "[::1]:6881".
  static result<endpoint> parse(std::string_view text);

  bool is_v4() const noexcept { return fam == family::v4; }
  bool is_v6() const noexcept { return fam == family::v6; }
  bool is_loopback() const noexcept;
  // Address alone, without the port ("127.0.0.1", "::1").
  std::string address_string() const;
  // "127.0.0.1:6881" or "[::1]:6881"; parse() reads it back.
  std::string to_string() const;

  friend auto operator<=>(const endpoint& a, const endpoint& b) = default;
  friend bool operator==(const endpoint& a, const endpoint& b) = default;
};

}  // namespace topicswarm
