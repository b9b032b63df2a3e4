// Hostile bytes at a node's listening port: garbage, half-finished TLS
// handshakes, oversized and malformed frames from an authenticated peer,
// messages for unknown topics. The node must drop and count them, stay
// healthy (it still delivers) and keep its memory bounded.
#include "discovery/wire.hpp"
#include "node_support.hpp"
#include "raw_peer.hpp"

#include "gossip/codec.hpp"
#include "net/frame.hpp"
#include "net/tls.hpp"

#include <asio/connect.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/ssl.hpp>
#include <asio/write.hpp>

#include <cstring>
#include <fstream>
#include <set>
#include <random>

namespace topicswarm {
namespace {

using namespace test_support;
using namespace std::chrono_literals;
using tcp = asio::ip::tcp;

const topic_id chat = topic_id_from_name("abuse-test");


// Resident set size of this process in bytes.
std::size_t rss_bytes() {
  std::ifstream statm("/proc/self/statm");
  std::size_t pages = 0, resident = 0;
  statm >> pages >> resident;
  return resident * 4096;
}

void send_garbage(asio::io_context& io, const tcp::endpoint& to, std::mt19937& rng, std::size_t n) {
  tcp::socket s(io);
  std::error_code ec;
  s.connect(to, ec);
  if (ec) return;
  std::vector<std::uint8_t> junk(n);
  for (auto& b : junk) b = static_cast<std::uint8_t>(rng());
  asio::write(s, asio::buffer(junk), ec);
}

bytes frame_with_length(std::uint32_t len, std::size_t body) {
  bytes f;
  for (int i = 3; i >= 0; --i) f.push_back(static_cast<std::byte>((len >> (8 * i)) & 0xff));
  f.resize(f.size() + body, std::byte{0});
  return f;
}

TEST(node_abuse, hostile_input_is_dropped_and_counted_and_the_node_keeps_delivering) {
  asio::io_context io;
  node_config cfg = loopback_config(91);
  cfg.transport.handshake_timeout = 1s;
  cfg.transport.max_pending_handshakes = 16;
  auto [a, b, tx_a, tx_b, rx_a, rx_b] = joined_pair(io, chat, cfg, loopback_config(92));
  const auto target = asio_endpoint(a.listen_endpoints().at(0));
  std::mt19937 rng(7);

  // 1. Garbage from 50 connections.
  for (int i = 0; i < 50; ++i) send_garbage(io, target, rng, 4096);

  // 2. An authenticated peer sends an oversized frame header or a zero-length
  //    frame: each closes its connection. A frame of a kind the node does not
  //    speak is dropped and counted; the connection keeps carrying gossip.
  // The node's frame limit: a gossip message at the size limit or a full
  // discovery frame, whichever is larger (node_impl::create).
  const std::size_t max_payload =
      1 + std::max(gossip::max_encoded_size(cfg.gossip.max_message_size), discovery::wire::limits::max_frame_body);
  {
    authenticated_client c(io, target);
    c.write_raw(frame_with_length(static_cast<std::uint32_t>(max_payload + 1), 64));
    EXPECT_TRUE(c.closed_by_peer()) << "an oversized frame must close the connection";
  }
  {
    authenticated_client c(io, target);
    c.write_raw(frame_with_length(0xffffffffu, 16));
    EXPECT_TRUE(c.closed_by_peer());
  }
  {
    authenticated_client c(io, target);
    c.write_raw(frame_with_length(0, 0));
    EXPECT_TRUE(c.closed_by_peer()) << "a zero-length frame must close the connection";
  }
  {
    authenticated_client c(io, target);
    bytes f = frame_with_length(3, 0);
    f.push_back(std::byte{0x7f});  // unknown kind
    f.push_back(std::byte{1});
    f.push_back(std::byte{2});
    c.write_raw(f);
    bytes g;
    net::append_frame(g, net::frame_kind::gossip, to_bytes("not gossip either"));
    c.write_raw(g);
    EXPECT_TRUE(eventually([&] {
      auto st = a.stats_blocking();
      return st.transport.frames_unknown_kind == 1 && st.undecodable_messages >= 1;
    })) << "the unknown kind must be dropped and the gossip frame behind it still read";
  }
  // 3. Well-framed but undecodable gossip, and a valid message for a topic a
  //    is not in: dropped and counted, the connection stays.
  {
    authenticated_client c(io, target);
    bytes f;
    net::append_frame(f, net::frame_kind::gossip, to_bytes("definitely not a gossip message"));
    bytes g;
    const auto start = net::begin_frame(g, net::frame_kind::gossip);
    gossip::encode_to(g, topic_id_from_name("not-subscribed"), gossip::wire::join{});
    net::end_frame(g, start);
    c.write_raw(f);
    c.write_raw(g);
    EXPECT_TRUE(eventually([&] {
      auto st = a.stats_blocking();
      return st.undecodable_messages >= 1 && st.unknown_topic_messages >= 1;
    }));
  }

  // 4. Half-finished handshakes held open: more than the pending-handshake cap
  //    (while they are held, new peers are refused; they time out after 1 s).
  std::vector<tcp::socket> half_open;
  for (int i = 0; i < 24; ++i) {
    tcp::socket s(io);
    s.connect(target);
    const std::uint8_t client_hello_start[] = {0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03};
    asio::write(s, asio::buffer(client_hello_start));
    half_open.push_back(std::move(s));
  }

  // The node still delivers, both ways.
  ASSERT_TRUE(run_on(io, tx_b.broadcast(to_bytes("still-alive-1")), 5s));
  EXPECT_EQ(run_on(io, collect(rx_a, 1, 5s), 10s), std::vector<std::string>{"still-alive-1"});
  ASSERT_TRUE(run_on(io, tx_a.broadcast(to_bytes("still-alive-2")), 5s));
  EXPECT_EQ(run_on(io, collect(rx_b, 1, 5s), 10s), std::vector<std::string>{"still-alive-2"});

  // Half-open handshakes time out; counters say what happened.
  EXPECT_TRUE(eventually([&] {
    auto st = a.stats_blocking().transport;
    return st.handshakes_in_progress == 0 && st.connections == 1;
  }, 10s)) << "connections " << a.stats_blocking().transport.connections << ", handshakes "
           << a.stats_blocking().transport.handshakes_in_progress;
  auto st = a.stats_blocking();
  EXPECT_GE(st.transport.handshake_failures, 50u) << "garbage and timed-out handshakes";
  EXPECT_GE(st.transport.refused_handshake_cap, 1u) << "24 half-open handshakes against a cap of 16";
  EXPECT_EQ(st.transport.oversized_frames, 2u);
  EXPECT_EQ(st.transport.malformed_frames, 1u);
  EXPECT_EQ(st.transport.frames_unknown_kind, 1u);
  EXPECT_GE(st.undecodable_messages, 1u);
  EXPECT_GE(st.unknown_topic_messages, 1u);

  // Memory stays bounded: a further 300 garbage connections add (almost) nothing.
  half_open.clear();
  const auto before = rss_bytes();
  for (int i = 0; i < 300; ++i) send_garbage(io, target, rng, 16 * 1024);
  ASSERT_TRUE(eventually([&] { return a.stats_blocking().transport.handshakes_in_progress == 0; }, 10s));
  const auto after = rss_bytes();
#if defined(__SANITIZE_ADDRESS__)
  // ASan keeps freed memory in quarantine, so RSS says nothing here; its leak
  // checker covers this build instead.
  (void)before;
  (void)after;
#else
  EXPECT_LT(after, before + (16u << 20)) << "RSS grew from " << before << " to " << after;
#endif
  ASSERT_TRUE(run_on(io, tx_b.broadcast(to_bytes("still-alive-3")), 5s));
  EXPECT_EQ(run_on(io, collect(rx_a, 1, 5s), 10s), std::vector<std::string>{"still-alive-3"});
}


TEST(node_abuse, a_neighbour_that_stops_reading_is_dropped_and_does_not_stall_the_topic) {
  asio::io_context io;
  node_config cfg = loopback_config(93);
  cfg.transport.send_stall_timeout = 1s;
  cfg.transport.send_backpressure_bytes = 256u << 10;
  auto [a, b, tx_a, tx_b, rx_a, rx_b] = joined_pair(io, chat, cfg, loopback_config(94));

  // A peer that joins the topic and then never reads again.
  authenticated_client stuck(io, asio_endpoint(a.listen_endpoints().at(0)));
  stuck.join_topic(chat);
  ASSERT_TRUE(eventually([&] { return tx_a.neighbors().size() == 2; })) << "the stuck peer never became a neighbour";

  // 16 MiB of broadcasts: more than the socket buffers can absorb.
  constexpr int count = 4000;
  auto publish = [&]() -> asio::awaitable<int> {
    for (int i = 0; i < count; ++i) {
      bytes m(4000, std::byte{'.'});
      const auto tag = std::to_string(i);
      std::memcpy(m.data(), tag.data(), tag.size());
      auto r = co_await tx_a.broadcast(std::move(m));
      if (!r) co_return i;
    }
    co_return count;
  };
  EXPECT_EQ(run_on(io, publish(), 60s), count);
  auto got = run_on(io, collect(rx_b, count, 30s), 40s);
  EXPECT_EQ(got.size(), static_cast<std::size_t>(count));
  std::set<std::string> distinct(got.begin(), got.end());
  EXPECT_EQ(distinct.size(), got.size()) << "duplicates delivered";
  auto st = a.stats_blocking().transport;
  EXPECT_GE(st.stalled_connections, 1u) << "the stuck peer was never dropped";
  EXPECT_EQ(tx_a.neighbors().size(), 1u);
  EXPECT_LT(st.queued_bytes, cfg.transport.max_send_queue_bytes);
}

}  // namespace
}  // namespace topicswarm
