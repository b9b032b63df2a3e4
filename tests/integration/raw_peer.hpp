// A peer made by hand for tests that need one to misbehave: a TLS client
// with a valid identity of its own that passes the handshake, says hello (it
// speaks gossip) and then writes whatever the test wants (or stops reading).
#pragma once

#include <topicswarm/endpoint.hpp>
#include <topicswarm/identity.hpp>

#include "gossip/codec.hpp"
#include "net/frame.hpp"
#include "net/hello.hpp"
#include "net/tls.hpp"

#include <asio/connect.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/ssl.hpp>
#include <asio/write.hpp>

#include <array>
#include <chrono>
#include <thread>

namespace topicswarm::test_support {

using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

inline tcp::endpoint asio_endpoint(const endpoint& e) { return {asio::ip::make_address(e.address_string()), e.port}; }

// A TLS client with a valid identity of its own: it passes the handshake, then misbehaves.
struct authenticated_client {
  authenticated_client(asio::io_context& io, const tcp::endpoint& to)
      : ctx(std::move(*net::make_tls_context(keypair::generate()))), stream(io, ctx) {
    stream.lowest_layer().connect(to);
    stream.handshake(asio::ssl::stream_base::client);
    bytes hello;
    net::append_hello(hello, {net::protocol_version_current,
                              {net::frame_kind::gossip, net::frame_kind::keepalive, net::frame_kind::hello}});
    write_raw(hello);
  }
  void write_raw(const bytes& b) {
    std::error_code ec;
    asio::write(stream, asio::buffer(b), ec);
  }
  // Sends a well-formed gossip join for `topic`: the node makes us a neighbour.
  void join_topic(const topic_id& topic) {
    bytes join;
    const auto start = net::begin_frame(join, net::frame_kind::gossip);
    gossip::encode_to(join, topic, gossip::wire::join{});
    net::end_frame(join, start);
    write_raw(join);
  }
  // True once the node has closed the connection.
  bool closed_by_peer() {
    std::array<char, 64> buf{};
    std::error_code ec;
    stream.lowest_layer().non_blocking(false);
    // A short bounded wait for EOF/reset.
    const auto deadline = std::chrono::steady_clock::now() + 3s;
    stream.lowest_layer().non_blocking(true);
    while (std::chrono::steady_clock::now() < deadline) {
      stream.read_some(asio::buffer(buf), ec);
      if (ec && ec != asio::error::would_block && ec != asio::ssl::error::stream_truncated) return true;
      if (ec == asio::ssl::error::stream_truncated) return true;
      std::this_thread::sleep_for(10ms);
    }
    return false;
  }
  asio::ssl::context ctx;
  asio::ssl::stream<tcp::socket> stream;
};

}  // namespace topicswarm::test_support
