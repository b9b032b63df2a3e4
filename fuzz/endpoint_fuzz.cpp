// Fuzz target: the text parsers for addresses and ids that come from outside
// (configuration, command lines, records' printed forms, identity files):
// endpoint::parse ("IP:PORT", "[IPv6]:PORT"), from_hex (any even length and
// fixed length) and parse_node_id. The first input byte picks the parser
// (mod 3); the rest is the text.
//
// Checked, beyond not crashing: what parses prints back to text that parses
// to the same value, and prints the same again (one printed form per value);
// an endpoint's text is an IP literal and a decimal port, nothing more (no
// host names, no bytes after a NUL); hex is accepted exactly when it is
// even-length hex, and prints back as the lowercase of the input.
#include <topicswarm/bytes.hpp>
#include <topicswarm/endpoint.hpp>
#include <topicswarm/ids.hpp>

#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>

using namespace topicswarm;

namespace {

bool is_hex_digit(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

void check_endpoint(std::string_view text) {
  auto e = endpoint::parse(text);
  if (!e) {
    if (e.error().detail.empty()) __builtin_trap();
    return;
  }
  // Only an IP literal and a port: hex digits, '.', ':' and v6 brackets.
  if (!std::all_of(text.begin(), text.end(),
                   [](char c) { return is_hex_digit(c) || c == '.' || c == ':' || c == '[' || c == ']'; }))
    __builtin_trap();
  // The port is the decimal number after the last ':'.
  const auto colon = text.rfind(':');
  const std::string_view port = text.substr(colon + 1);
  if (port.empty() || !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; }))
    __builtin_trap();
  if (e->port != std::stoul(std::string(port))) __builtin_trap();
  // A v4 address leaves the other 12 bytes zero, or equal endpoints would
  // compare unequal.
  if (e->is_v4() && !std::all_of(e->ip.begin() + 4, e->ip.end(), [](std::uint8_t b) { return b == 0; }))
    __builtin_trap();
  if (e->is_v6() != (text.front() == '[')) __builtin_trap();

  const std::string printed = e->to_string();
  auto again = endpoint::parse(printed);
  if (!again || *again != *e || again->to_string() != printed) __builtin_trap();
  const bool loopback_text = e->is_v4() ? printed.rfind("127.", 0) == 0 : printed.rfind("[::1]:", 0) == 0;
  if (e->is_loopback() != loopback_text) __builtin_trap();
}

void check_hex(std::string_view text) {
  const bool valid = text.size() % 2 == 0 && std::all_of(text.begin(), text.end(), is_hex_digit);
  auto b = from_hex(text);
  if (b.has_value() != valid) __builtin_trap();
  // The fixed-length form agrees wherever the length fits.
  bytes fixed(text.size() / 2);
  auto f = from_hex(text, fixed);
  if (f.has_value() != valid) __builtin_trap();
  if (!b) {
    if (b.error().detail.empty() || f.error().detail.empty()) __builtin_trap();
    return;
  }
  if (b->size() != text.size() / 2 || *b != fixed) __builtin_trap();
  if (to_hex(*b) != lower(text)) __builtin_trap();
  auto again = from_hex(to_hex(*b));
  if (!again || *again != *b) __builtin_trap();
}

void check_node_id(std::string_view text) {
  const bool valid = text.size() == 64 && std::all_of(text.begin(), text.end(), is_hex_digit);
  auto id = parse_node_id(text);
  if (id.has_value() != valid) __builtin_trap();
  if (!id) {
    if (!(id.error() == errc::invalid_id)) __builtin_trap();
    return;
  }
  const std::string printed = id->to_string();
  if (printed != lower(text)) __builtin_trap();
  auto again = parse_node_id(printed);
  if (!again || *again != *id) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  switch (data[0] % 3) {
    case 0:
      check_endpoint(text);
      break;
    case 1:
      check_hex(text);
      break;
    default:
      check_node_id(text);
      break;
  }
  return 0;
}
