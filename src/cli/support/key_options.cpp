#include "cli/support/key_options.hpp"

#include <CLI/CLI.hpp>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>

namespace topicswarm::cli {

void add_key_options(CLI::App* cmd, key_options& o, const char* what) {
  const std::string w = what;
  auto* secret = cmd->add_option("--secret", o.secret,
                                 "The " + w +
                                     "'s shared secret (a passphrase, hashed with Argon2id): only holders find, "
                                     "read or take part in the " +
                                     w + " (default: none, an open " + w + ")");
  auto* file = cmd->add_option("--secret-file", o.secret_file,
                               "Read the secret from this file (one trailing newline is ignored); keeps it out of "
                               "the process list and shell history");
  auto* key = cmd->add_option("--key-hex", o.key_hex,
                              "A 32-byte random " + w + " key as 64 hex digits, used as is (no hashing)");
  secret->excludes(file)->excludes(key);
  file->excludes(key);
  cmd->add_option("--argon2-ops", o.argon2_ops,
                  "Argon2id passes for --secret / --secret-file (every member must agree)")
      ->check(CLI::Range(1, 64));
  cmd->add_option("--argon2-mem-mib", o.argon2_mem_mib,
                  "Argon2id memory in MiB for --secret / --secret-file (every member must agree)")
      ->check(CLI::Range(1, 4096));
}

result<std::string> read_secret_file(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return error{errc::invalid_argument, "cannot read --secret-file \"" + path + "\": " + std::strerror(errno)};
  std::string s;
  std::array<char, 4096> buf{};
  for (std::size_t n; (n = std::fread(buf.data(), 1, buf.size(), f)) > 0;) {
    s.append(buf.data(), n);
    if (s.size() > (1u << 20)) {
      std::fclose(f);
      return error{errc::invalid_argument, "--secret-file \"" + path + "\" is over 1 MiB: not a passphrase"};
    }
  }
  std::fclose(f);
  if (s.ends_with("\r\n"))
    s.resize(s.size() - 2);
  else if (s.ends_with('\n'))
    s.pop_back();
  if (s.empty()) return error{errc::invalid_argument, "--secret-file \"" + path + "\" is empty"};
  return s;
}

result<secret_hash> make_key(const key_options& o, const topic_id& salt_topic) {
  if (!o.key_hex.empty()) {
    auto raw = from_hex(o.key_hex);
    if (!raw) return error{errc::invalid_argument, "bad --key-hex: " + raw.error().message()};
    auto k = secret_hash_from_key(*raw);
    if (!k) return error{errc::invalid_argument, "bad --key-hex: " + k.error().message() + " (expected 64 hex digits)"};
    return *k;
  }
  std::string pass = o.secret;
  if (!o.secret_file.empty()) {
    auto f = read_secret_file(o.secret_file);
    if (!f) return f.error();
    pass = std::move(*f);
  }
  if (pass.empty()) return open_topic_key(salt_topic);
  auto k = hash_secret(salt_topic, pass, o.params());
  std::fill(pass.begin(), pass.end(), '\0');
  return k;
}

}  // namespace topicswarm::cli
