// Fuzz target: the identity file parser (crypto/identity.hpp), which
// identity::load() runs on the file's bytes after its mode check. The input
// is the file content.
//
// Checked, beyond not crashing: an accepted file is at most
// max_identity_file_size bytes, starts with the header line, and names its
// seed exactly once; the identity it yields is written back (the text save()
// writes) and read again to the same seed and id; errors carry the origin.
#include "crypto/identity.hpp"

#include <cstdint>
#include <string>
#include <string_view>

using namespace topicswarm;

namespace {

constexpr std::string_view header = "topicswarm-identity v1";

std::size_t count_lines_starting(std::string_view text, std::string_view prefix) {
  std::size_t n = 0;
  std::size_t pos = 0;
  while (pos <= text.size()) {
    const auto nl = text.find('\n', pos);
    const auto line = text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    if (line.substr(0, prefix.size()) == prefix) ++n;
    if (nl == std::string_view::npos) break;
    pos = nl + 1;
  }
  return n;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto ident = crypto::parse_identity_file(text, "fuzz");
  if (!ident) {
    if (!(ident.error() == errc::identity_malformed) || ident.error().detail.rfind("fuzz: ", 0) != 0) __builtin_trap();
    return 0;
  }
  if (size > crypto::max_identity_file_size) __builtin_trap();
  if (text.substr(0, header.size()) != header || (size > header.size() && text[header.size()] != '\n'))
    __builtin_trap();
  if (count_lines_starting(text, "seed ") != 1) __builtin_trap();

  const std::string written = crypto::format_identity_file(*ident);
  if (written.size() > crypto::max_identity_file_size) __builtin_trap();
  auto again = crypto::parse_identity_file(written, "again");
  if (!again || again->id() != ident->id() || again->keys().seed() != ident->keys().seed()) __builtin_trap();
  if (crypto::format_identity_file(*again) != written) __builtin_trap();
  // The seed line of the input is the identity's seed, in either case.
  const auto at = text.find("\nseed ");
  if (at == std::string_view::npos) __builtin_trap();
  auto seed = ed25519_seed::parse(text.substr(at + 6, 64));
  if (!seed || *seed != ident->keys().seed()) __builtin_trap();
  return 0;
}
