// The options that make a topic's or a network's key, shared by the
// commands that join one (join, chat, network): --secret, --secret-file,
// --key-hex and the Argon2id cost.
#pragma once

#include <topicswarm/ids.hpp>
#include <topicswarm/record.hpp>

#include <cstddef>
#include <cstdint>
#include <string>

namespace CLI {
class App;
}

namespace topicswarm::cli {

struct key_options {
  std::string secret;
  std::string secret_file;
  std::string key_hex;
  std::uint64_t argon2_ops = secret_hash_params{}.ops_limit;
  std::size_t argon2_mem_mib = secret_hash_params{}.mem_limit >> 20;

  secret_hash_params params() const { return {argon2_ops, argon2_mem_mib << 20}; }
};

// `what`: "topic" or "network", for the help texts.
void add_key_options(CLI::App* cmd, key_options& o, const char* what);

// The passphrase in a --secret-file: its bytes without one trailing newline
// (what `echo secret > file` adds). errc::invalid_argument saying why not.
result<std::string> read_secret_file(const std::string& path);

// The key from --key-hex, --secret-file or --secret (Argon2id salted by
// `salt_topic`), or the open key of `salt_topic` when none is given.
result<secret_hash> make_key(const key_options& o, const topic_id& salt_topic);

}  // namespace topicswarm::cli
