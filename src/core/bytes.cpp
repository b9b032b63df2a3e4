#include <topicswarm/bytes.hpp>

namespace topicswarm {
namespace {

int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string describe_char(char c) {
  auto u = static_cast<unsigned char>(c);
  if (u >= 0x20 && u < 0x7f) return std::string("'") + c + "'";
  static constexpr char digits[] = "0123456789abcdef";
  return std::string("byte 0x") + digits[u >> 4] + digits[u & 15];
}

result<void> decode_into(std::string_view text, std::span<std::byte> out) {
  for (std::size_t i = 0; i < out.size(); ++i) {
    int hi = hex_value(text[2 * i]);
    int lo = hex_value(text[2 * i + 1]);
    if (hi < 0 || lo < 0) {
      std::size_t pos = hi < 0 ? 2 * i : 2 * i + 1;
      return error{errc::invalid_argument,
                   "invalid hex digit " + describe_char(text[pos]) + " at position " + std::to_string(pos)};
    }
    out[i] = static_cast<std::byte>((hi << 4) | lo);
  }
  return {};
}

}  // namespace

std::string to_hex(byte_span b) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string s;
  s.reserve(b.size() * 2);
  for (auto x : b) {
    auto u = static_cast<unsigned>(x);
    s.push_back(digits[u >> 4]);
    s.push_back(digits[u & 15]);
  }
  return s;
}

result<void> from_hex(std::string_view text, std::span<std::byte> out) {
  if (text.size() != out.size() * 2)
    return error{errc::invalid_argument, "expected " + std::to_string(out.size() * 2) + " hex digits, got " +
                                             std::to_string(text.size())};
  return decode_into(text, out);
}

result<bytes> from_hex(std::string_view text) {
  if (text.size() % 2 != 0)
    return error{errc::invalid_argument, "hex text has an odd number of digits (" + std::to_string(text.size()) + ")"};
  bytes out(text.size() / 2);
  if (auto r = decode_into(text, out); !r) return r.error();
  return out;
}

}  // namespace topicswarm
