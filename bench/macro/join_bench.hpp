// `topicswarm bench join`: how fast auto-discovery joins peers, over a local
// DHT testnet of real libtorrent nodes and real TLS on 127.0.0.1.
#pragma once

#include <topicswarm/auto_discovery.hpp>

#include <chrono>
#include <cstdint>
#include <string>

namespace topicswarm::bench {

struct join_options {
  int peers = 10;
  int dht_nodes = 16;
  std::string mode = "sequential";  // or "simultaneous"
  int runs = 1;
  // bootstrap_config::post_join_check; the library's default unless given.
  std::int64_t post_join_check_ms = std::chrono::milliseconds(bootstrap_config{}.post_join_check).count();
  // Hash the secret once per phase and join with the key
  // (auto_discovery_builder::key), as an application that keeps its topic
  // key does: the join times then leave Argon2id out.
  bool hashed_key = false;
  bool json = false;
};

// The auto-discovery settings of the benchmark's peers: loopback timings
// (cli::loopback_discovery_config) and o's post_join_check.
auto_discovery_config join_discovery_config(const join_options& o);

// Runs the benchmark and prints its figures on stdout (text, or one JSON
// object). Returns the exit status: 0, or 1 when a phase did not complete
// (a peer found no neighbour, or the overlay did not connect, in time).
int run_join(const join_options& o);

}  // namespace topicswarm::bench
