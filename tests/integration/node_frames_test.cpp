// Version coexistence at node level (issue 12, item 3): a node that speaks an
// extra frame kind and a node that does not still gossip together. The
// extra kind stands for what a newer release adds (a core with frames of its
// own): the older node drops and counts those frames and keeps the
// connection and the topic working.
#include "node_support.hpp"

#include "net/frame.hpp"
#include "node/node_impl.hpp"

#include <atomic>
#include <future>

namespace topicswarm::detail {
// Tests reach a node's internals through this (a friend of node).
struct node_access {
  static node wrap(std::shared_ptr<node_impl> i) { return node(std::move(i)); }
  static const std::shared_ptr<node_impl>& impl(const node& n) { return n.impl_; }
};
}  // namespace topicswarm::detail

namespace topicswarm {
namespace {

using namespace test_support;
using namespace std::chrono_literals;
using detail::node_access;
using detail::node_impl;

constexpr auto extra = static_cast<net::frame_kind>(0xe7);  // an experimental kind

// Runs `f` on the node's thread and returns what it returns.
template <class F>
auto on_node(const node& n, F f) {
  auto impl = node_access::impl(n);
  auto p = std::make_shared<std::promise<decltype(f(*impl))>>();
  auto fut = p->get_future();
  EXPECT_TRUE(impl->post([impl, p, f]() mutable { p->set_value(f(*impl)); }));
  return fut.get();
}

TEST(node_frames, a_node_with_an_extra_frame_kind_and_one_without_still_gossip) {
  asio::io_context io;
  const topic_id t = topic_id_from_name("node-frames-coexist");
  auto extra_seen = std::make_shared<std::atomic<int>>(0);
  auto created = node_impl::create(loopback_config(71),
                                   {{extra, [extra_seen](const node_id&, byte_span) { ++*extra_seen; }}});
  ASSERT_TRUE(created) << created.error().message();
  auto newer = node_access::wrap(std::move(*created));
  auto older = start_node(loopback_config(72));

  auto [tx_new, rx_new] = subscribed(newer, t, {});
  auto [tx_old, rx_old] = subscribed(older, t, {newer.address()});
  ASSERT_TRUE(run_on(io, rx_old.joined(5s), 10s)) << "the older node never joined the newer one";

  // Each side knows what the other speaks from its hello.
  const node_id new_id = newer.id(), old_id = older.id();
  EXPECT_TRUE(on_node(older, [&](node_impl& n) { return n.transport().peer_speaks(new_id, extra); }));
  EXPECT_FALSE(on_node(newer, [&](node_impl& n) { return n.transport().peer_speaks(old_id, extra); }));
  EXPECT_TRUE(on_node(older, [&](node_impl& n) { return n.transport().peer_speaks(new_id, net::frame_kind::gossip); }));

  // The newer node sends three frames of its extra kind anyway: the older
  // one drops and counts them, and keeps the connection.
  on_node(newer, [&](node_impl& n) {
    for (int i = 0; i < 3; ++i) {
      bytes frame;
      const bytes body(16, std::byte{0x5a});
      net::append_frame(frame, extra, body);
      n.transport().send(old_id, frame);
    }
    return 0;
  });
  ASSERT_TRUE(eventually([&] { return older.stats_blocking().transport.frames_unknown_kind == 3; }))
      << "frames of an unknown kind were not counted: " << older.stats_blocking().transport.frames_unknown_kind;
  EXPECT_EQ(older.stats_blocking().transport.connections, 1u);
  EXPECT_EQ(older.stats_blocking().transport.malformed_frames, 0u);

  // Gossip goes on, both ways.
  ASSERT_TRUE(run_on(io, tx_new.broadcast(to_bytes("from the newer node")), 5s));
  EXPECT_EQ(run_on(io, collect(rx_old, 1, 5s), 10s), std::vector<std::string>{"from the newer node"});
  ASSERT_TRUE(run_on(io, tx_old.broadcast(to_bytes("from the older node")), 5s));
  EXPECT_EQ(run_on(io, collect(rx_new, 1, 5s), 10s), std::vector<std::string>{"from the older node"});
  EXPECT_EQ(newer.stats_blocking().transport.frames_unknown_kind, 0u);
  EXPECT_EQ(*extra_seen, 0);  // the older node never sent one
}

}  // namespace
}  // namespace topicswarm
