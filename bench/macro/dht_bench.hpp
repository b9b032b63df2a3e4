// `topicswarm bench dht`: BEP 44 put/get latency and throughput of one DHT
// client against a local testnet of real libtorrent nodes on 127.0.0.1.
#pragma once

namespace topicswarm::bench {

struct dht_options {
  int nodes = 16;
  int ops = 200;
  int concurrency = 16;
  int value_size = 700;
  bool json = false;
};

// Runs the benchmark and prints its figures on stdout (text, or one JSON
// object). Returns the exit status: 0, or 2 when an operation failed.
// Throws std::runtime_error (what failed) when the options are out of range,
// or the testnet or the client does not come up.
int run_dht(const dht_options& o);

}  // namespace topicswarm::bench
