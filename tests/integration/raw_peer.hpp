// A peer made by hand for tests that need one to misbehave: a TLS client
// with a valid identity of its own that passes the handshake, says hello (it
// speaks gossip) and then writes whatever the test wants (or stops reading).
#pragma once

#include <topicswarm/endpoint.hpp>
#include <topicswarm/identity.hpp>
#include <topicswarm/record.hpp>

#include "admission/admission.hpp"
#include "gossip/codec.hpp"
#include "net/frame.hpp"
#include "net/hello.hpp"
#include "net/tls.hpp"
#include "net/transport.hpp"

#include <asio/connect.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/ssl.hpp>
#include <asio/write.hpp>

#include <array>
#include <chrono>
#include <optional>
#include <thread>

namespace topicswarm::test_support {

using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

inline tcp::endpoint asio_endpoint(const endpoint& e) { return {asio::ip::make_address(e.address_string()), e.port}; }

// A TLS client with a valid identity of its own: it passes the handshake, then misbehaves.
struct authenticated_client {
  authenticated_client(asio::io_context& io, const tcp::endpoint& to, keypair k = keypair::generate(),
                       std::optional<asio::ip::address> from = std::nullopt, bool say_hello = true)
      : keys(std::move(k)), ctx(std::move(*net::make_tls_context(keys))), stream(io, ctx) {
    if (from) {  // a chosen source address (e.g. 127.0.9.1), to exercise the per-source limits
      stream.lowest_layer().open(to.protocol());
      stream.lowest_layer().bind(tcp::endpoint(*from, 0));
    }
    stream.lowest_layer().connect(to);
    stream.handshake(asio::ssl::stream_base::client);
    if (!say_hello) return;
    bytes hello;
    net::append_hello(hello, {net::protocol_version_current,
                              {net::frame_kind::gossip, net::frame_kind::admission, net::frame_kind::keepalive,
                               net::frame_kind::hello}});
    write_raw(hello);
  }
  // This connection's TLS exporter value (what admission proofs are bound to).
  admission::exporter exporter() {
    admission::exporter ex;
    SSL_export_keying_material(stream.native_handle(), reinterpret_cast<unsigned char*>(ex.data()), ex.size(),
                               net::exporter_label.data(), net::exporter_label.size(), nullptr, 0, 1);
    return ex;
  }
  node_id server_id() { return *net::authenticated_peer(stream.native_handle()); }
  // Proves `wire_topic` with `key` on this connection, as a member would.
  void prove(const topic_id& wire_topic, const secret_hash& key) { prove(wire_topic, key, exporter()); }
  // ... with the exporter value of `ex` (another connection's, to replay a proof).
  void prove(const topic_id& wire_topic, const secret_hash& key, const admission::exporter& ex) {
    const auto k = admission::admission_key_for(wire_topic, key);
    admission::wire::proof p{wire_topic, admission::proof_for(k, ex, *node_id::from_span(keys.public_key().span()),
                                                              server_id(), wire_topic)};
    bytes f;
    const auto start = net::begin_frame(f, net::frame_kind::admission);
    admission::wire::encode_to(f, p);
    net::end_frame(f, start);
    write_raw(f);
  }
  void write_raw(const bytes& b) {
    std::error_code ec;
    asio::write(stream, asio::buffer(b), ec);
  }
  // A gossip join for `wire_topic`, with no proof before it.
  void send_join(const topic_id& wire_topic) {
    bytes join;
    const auto start = net::begin_frame(join, net::frame_kind::gossip);
    gossip::encode_to(join, wire_topic, gossip::wire::join{});
    net::end_frame(join, start);
    write_raw(join);
  }
  // Proves the topic (open unless `key` is given) and sends a well-formed
  // gossip join for it: the node makes us a neighbour.
  void join_topic(const topic_id& name_topic) { join_topic(name_topic, open_topic_key(name_topic)); }
  void join_topic(const topic_id& name_topic, const secret_hash& key) {
    const topic_id topic = wire_topic_id(name_topic, key);
    prove(topic, key);
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
  keypair keys;
  asio::ssl::context ctx;
  asio::ssl::stream<tcp::socket> stream;
};

}  // namespace topicswarm::test_support
