#include <topicswarm/identity.hpp>

#include "crypto/identity.hpp"
#include "crypto/sodium.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>

namespace topicswarm {

// ------------------------------------------------------------------ keypair --

keypair keypair::generate() {
  crypto::ensure_sodium();
  ed25519_seed seed;
  ::randombytes_buf(seed.data(), seed.size());
  auto k = from_seed(seed);
  ::sodium_memzero(seed.data(), seed.size());
  return k;
}

keypair keypair::from_seed(const ed25519_seed& seed) {
  crypto::ensure_sodium();
  keypair k;
  ::crypto_sign_seed_keypair(k.pk_.uchar(), reinterpret_cast<unsigned char*>(k.sk_.data()), seed.uchar());
  return k;
}

keypair::~keypair() { ::sodium_memzero(sk_.data(), sk_.size()); }

ed25519_seed keypair::seed() const {
  ed25519_seed s;
  ::crypto_sign_ed25519_sk_to_seed(s.uchar(), reinterpret_cast<const unsigned char*>(sk_.data()));
  return s;
}

signature keypair::sign(byte_span message) const {
  signature sig;
  ::crypto_sign_detached(sig.uchar(), nullptr, crypto::uc(message), message.size(),
                         reinterpret_cast<const unsigned char*>(sk_.data()));
  return sig;
}

bool verify_signature(const public_key& key, byte_span message, const signature& sig) {
  crypto::ensure_sodium();
  return ::crypto_sign_verify_detached(sig.uchar(), crypto::uc(message), message.size(), key.uchar()) == 0;
}

// ----------------------------------------------------------------- identity --
//
// File format: see crypto/identity.hpp.

namespace {

constexpr std::string_view header_line = "topicswarm-identity v1";

std::string errno_text(int e) { return std::strerror(e); }

}  // namespace

namespace crypto {

result<identity> parse_identity_file(std::string_view text, std::string_view origin) {
  const std::string where(origin);
  auto malformed = [&where](const std::string& why) { return error{errc::identity_malformed, where + ": " + why}; };
  if (text.size() > max_identity_file_size) return malformed("file is too large to be an identity");

  std::optional<ed25519_seed> seed;
  std::optional<node_id> claimed;
  bool first = true;
  while (!text.empty()) {
    // One line, without its '\n' (a last line may lack it).
    const auto nl = text.find('\n');
    const std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    if (first) {
      if (line != header_line) return malformed("first line must be '" + std::string(header_line) + "'");
      first = false;
      continue;
    }
    if (line.empty()) continue;
    const auto sp = line.find(' ');
    const std::string_view key = line.substr(0, sp);
    const std::string_view value = sp == std::string_view::npos ? std::string_view{} : line.substr(sp + 1);
    // A field given twice would leave two readings of one file: refused.
    if (key == "seed") {
      if (seed) return malformed("more than one seed line");
      auto s = ed25519_seed::parse(value);
      if (!s) return malformed("seed: " + s.error().detail);
      seed = *s;
    } else if (key == "id") {
      if (claimed) return malformed("more than one id line");
      auto id = parse_node_id(value);
      if (!id) return malformed(id.error().detail);
      claimed = *id;
    } else {
      return malformed("unknown field '" + std::string(key) + "'");
    }
  }
  if (first) return malformed("first line must be '" + std::string(header_line) + "'");
  if (!seed) return malformed("no seed line");
  auto ident = identity::from_seed(*seed);
  ::sodium_memzero(seed->data(), seed->size());
  if (claimed && *claimed != ident.id()) return malformed("id line does not match the seed");
  return ident;
}

std::string format_identity_file(const identity& ident) {
  auto seed = ident.keys().seed();
  std::string text = std::string(header_line) + "\nseed " + seed.to_string() + "\nid " + ident.id().to_string() + "\n";
  ::sodium_memzero(seed.data(), seed.size());
  return text;
}

}  // namespace crypto

identity identity::generate() { return identity(keypair::generate()); }

result<identity> identity::load(const std::filesystem::path& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return error{errc::identity_io, path.string() + ": " + errno_text(errno)};
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    int e = errno;
    ::close(fd);
    return error{errc::identity_io, path.string() + ": " + errno_text(e)};
  }
  if ((st.st_mode & 077) != 0) {
    ::close(fd);
    char mode[8];
    std::snprintf(mode, sizeof mode, "%03o", static_cast<unsigned>(st.st_mode & 0777));
    return error{errc::identity_insecure_permissions,
                 path.string() + " has mode " + mode + "; run `chmod 600 " + path.string() + "`"};
  }
  // One byte more than the parser accepts, so a larger file is seen as one.
  char buf[crypto::max_identity_file_size + 1];
  ssize_t n = ::read(fd, buf, sizeof buf);
  int e = errno;
  ::close(fd);
  if (n < 0) return error{errc::identity_io, path.string() + ": " + errno_text(e)};
  auto ident = crypto::parse_identity_file(std::string_view(buf, static_cast<std::size_t>(n)), path.string());
  ::sodium_memzero(buf, sizeof buf);
  return ident;
}

result<void> identity::save(const std::filesystem::path& path) const {
  std::string text = crypto::format_identity_file(*this);

  // Write a temporary file created 0600 from the start (never briefly
  // world-readable), then rename over the target so readers never see half a file.
  auto tmp = path;
  tmp += ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) {
    ::sodium_memzero(text.data(), text.size());
    return error{errc::identity_io, tmp.string() + ": " + errno_text(errno)};
  }
  // O_CREAT honours the umask only by narrowing; an existing tmp file may be wider.
  if (::fchmod(fd, 0600) != 0) {
    int e = errno;
    ::close(fd);
    ::unlink(tmp.c_str());
    ::sodium_memzero(text.data(), text.size());
    return error{errc::identity_io, tmp.string() + ": " + errno_text(e)};
  }
  std::size_t off = 0;
  while (off < text.size()) {
    ssize_t w = ::write(fd, text.data() + off, text.size() - off);
    if (w < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      ::sodium_memzero(text.data(), text.size());
      return error{errc::identity_io, tmp.string() + ": " + errno_text(e)};
    }
    off += static_cast<std::size_t>(w);
  }
  ::sodium_memzero(text.data(), text.size());
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    int e = errno;
    ::unlink(tmp.c_str());
    return error{errc::identity_io, tmp.string() + ": " + errno_text(e)};
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int e = errno;
    ::unlink(tmp.c_str());
    return error{errc::identity_io, path.string() + ": " + errno_text(e)};
  }
  return {};
}

result<identity> identity::load_or_generate(const std::filesystem::path& path) {
  std::error_code ec;
  if (std::filesystem::exists(path, ec)) return load(path);
  auto ident = generate();
  if (auto r = ident.save(path); !r) return r.error();
  return ident;
}

}  // namespace topicswarm
