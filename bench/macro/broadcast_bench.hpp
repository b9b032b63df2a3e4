// `topicswarm bench broadcast`: gossip throughput and latency over real nodes
// (one publisher, N-1 receivers, in-process nodes on 127.0.0.1 over TLS 1.3).
#pragma once

#include <topicswarm/node.hpp>

#include <cstddef>
#include <cstdint>

namespace topicswarm::bench {

// Every message carries a 16-byte header (phase, index, send time): the
// smallest --size.
inline constexpr std::size_t broadcast_header_bytes = 16;
// Largest --size: the gossip codec's ceiling (gossip::limits::max_content_size);
// node::start() rejects a larger gossip.max_message_size.
inline constexpr std::size_t broadcast_max_size = std::size_t{1} << 20;
// Memory is O(count x receivers) (one arrival time per message and receiver).
inline constexpr std::uint64_t broadcast_max_count = 10'000'000;

struct broadcast_options {
  int nodes = 10;
  std::size_t size = 1024;
  std::uint64_t count = 100'000;
  double rate = 1000;
  std::uint64_t rate_count = 5000;
  // One thread for all receiver loops: measured slightly cheaper than one per
  // node (about 3% less CPU per message at 1,500 msgs/s on 2 cores), since a
  // busy shared thread takes completions without being woken for each.
  int receiver_threads = 1;
  // The library's defaults; exposed so that receiver lag and the publisher's
  // back-pressure can be told apart from the overlay's own capacity.
  std::size_t event_queue = node_config{}.event_queue_capacity;
  std::size_t backpressure = node_config{}.transport.send_backpressure_bytes;
  std::uint32_t graft_timeout_ms = static_cast<std::uint32_t>(node_config{}.gossip.graft_timeout_1.count());
  std::uint64_t seed = 0;  // 0: random
  bool json = false;
};

// Runs the benchmark and prints its figures on stdout (text, or one JSON
// object). Returns the exit status: 0, or 2 when a message went missing or
// arrived twice. Throws std::runtime_error (what failed) when the overlay
// does not form in time or a node does not start.
int run_broadcast(const broadcast_options& o);

}  // namespace topicswarm::bench
