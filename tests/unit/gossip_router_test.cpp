// Multi-topic router: per-topic state, drop_peer only when no topic uses a
// peer, leave, disconnect fan-out, determinism.
#include "gossip_pump.hpp"

using namespace gossip_test;

namespace {

struct two_topics {
  router r{make_peer(0), config{}, 5};
  topic_id t1 = test_topic("one"), t2 = test_topic("two");
  instant now = at(0ms);

  std::vector<routed> feed(const topic_id& t, in::input i) {
    std::vector<routed> out;
    r.handle(t, std::move(i), now, out);
    return out;
  }
  std::vector<routed> connect(const topic_id& t, std::size_t p) {
    return feed(t, in::received{make_node_id(p), wire::neighbor{priority::high, make_peer(p).addresses}});
  }
};

bool has_drop(const std::vector<routed>& out, std::size_t p) {
  return std::any_of(out.begin(), out.end(), [&](const routed& r) {
    auto* d = std::get_if<out::drop_peer>(&r.o);
    return d && d->peer == make_node_id(p);
  });
}

template <class M>
std::vector<std::pair<topic_id, node_id>> sends_of(const std::vector<routed>& out) {
  std::vector<std::pair<topic_id, node_id>> v;
  for (const auto& r : out)
    if (auto* s = std::get_if<out::send>(&r.o); s && std::holds_alternative<M>(s->msg)) v.emplace_back(r.topic, s->to);
  return v;
}

}  // namespace

TEST(Router, OneStatePerTopicAndOutputsTagged) {
  two_topics x;
  EXPECT_FALSE(x.r.has_topic(x.t1));
  auto out = x.connect(x.t1, 1);
  EXPECT_TRUE(x.r.has_topic(x.t1));
  EXPECT_FALSE(x.r.has_topic(x.t2));
  for (const auto& o : out) EXPECT_EQ(o.topic, x.t1);
  x.connect(x.t2, 2);
  EXPECT_EQ(x.r.topics().size(), 2u);
  EXPECT_EQ(x.r.active_view(x.t1), std::vector<node_id>{make_node_id(1)});
  EXPECT_EQ(x.r.active_view(x.t2), std::vector<node_id>{make_node_id(2)});
  EXPECT_EQ(x.r.counters(x.t1).membership.neighbor_up, 1u);
  EXPECT_EQ(x.r.counters(test_topic("none")).membership.neighbor_up, 0u);
}

TEST(Router, DropPeerOnlyWhenTheLastTopicStopsUsingIt) {
  two_topics x;
  x.connect(x.t1, 1);
  x.connect(x.t2, 1);
  auto out = x.feed(x.t1, in::received{make_node_id(1), wire::disconnect{false}});
  EXPECT_TRUE(x.r.active_view(x.t1).empty());
  EXPECT_FALSE(has_drop(out, 1));  // topic two still uses peer 1
  out = x.feed(x.t2, in::received{make_node_id(1), wire::disconnect{false}});
  EXPECT_TRUE(has_drop(out, 1));
}

TEST(Router, TransientPeersAreDroppedAfterTheReply) {
  two_topics x;
  x.connect(x.t1, 1);
  // A shuffle walk ends here: the reply goes to the origin (a peer we have no
  // link with), after which the connection is not needed.
  auto out = x.feed(x.t1, in::received{make_node_id(1), wire::shuffle{make_peer(7), 0, {make_peer(8)}}});
  auto replies = sends_of<wire::shuffle_reply>(out);
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_EQ(replies[0].second, make_node_id(7));
  EXPECT_TRUE(has_drop(out, 7));
  EXPECT_FALSE(has_drop(out, 1));
  // ... unless another topic uses that peer.
  x.connect(x.t2, 7);
  out = x.feed(x.t1, in::received{make_node_id(1), wire::shuffle{make_peer(7), 0, {make_peer(9)}}});
  EXPECT_FALSE(has_drop(out, 7));
}

TEST(Router, LeaveSendsDisconnectErasesStateAndDropsUnusedPeers) {
  two_topics x;
  x.connect(x.t1, 1);
  x.connect(x.t1, 2);
  x.connect(x.t2, 1);
  std::vector<routed> out;
  x.r.leave(x.t1, x.now, out);
  EXPECT_FALSE(x.r.has_topic(x.t1));
  EXPECT_TRUE(x.r.has_topic(x.t2));
  auto disc = sends_of<wire::disconnect>(out);
  ASSERT_EQ(disc.size(), 2u);
  for (const auto& r : out) {
    EXPECT_EQ(r.topic, x.t1);
    if (auto* s = std::get_if<out::send>(&r.o)) {
      EXPECT_FALSE(std::get<wire::disconnect>(s->msg).alive);
    }
  }
  EXPECT_TRUE(has_drop(out, 2));
  EXPECT_FALSE(has_drop(out, 1));  // still used by topic two
  // in::quit is leave.
  out = x.feed(x.t2, in::quit{});
  EXPECT_FALSE(x.r.has_topic(x.t2));
  EXPECT_EQ(sends_of<wire::disconnect>(out).size(), 1u);
  EXPECT_TRUE(has_drop(out, 1));
  // Leaving an unknown topic is a no-op.
  out.clear();
  x.r.leave(x.t1, x.now, out);
  EXPECT_TRUE(out.empty());
}

TEST(Router, LeaveIsSeenAsDepartureByNeighbours) {
  network net(10, {}, 4);
  build_overlay(net, 4);
  const auto gone_peers = net.active(3);
  std::vector<routed> out;
  net.input(3, in::quit{});
  net.run_for(2s);
  EXPECT_FALSE(net.at(3).has_topic(net.topic()));
  for (std::size_t i = 0; i < net.size(); ++i) {
    if (i == 3) continue;
    EXPECT_FALSE(network::contains(net.active(i), 3)) << "node " << i;
    // Its neighbours were told it is not alive: they forget it entirely.
    if (network::contains(gone_peers, i)) {
      EXPECT_FALSE(network::contains(net.passive(i), 3)) << "node " << i;
    }
  }
}

TEST(Router, StaleTimersNeitherResurrectNorDoubleARejoinedTopic) {
  single x;
  auto b = x.feed(in::join_peers{{make_peer(1)}});
  auto shuffles = b.timers<timers::shuffle>();
  ASSERT_EQ(shuffles.size(), 1u);
  auto requests = b.timers<timers::neighbor_request>();
  // Not the refill tick (a neighbor_request timer addressed to x itself).
  std::erase_if(requests, [](const timers::neighbor_request& t) { return t.peer == make_node_id(0); });
  ASSERT_EQ(requests.size(), 1u);
  std::vector<routed> out;
  x.r.leave(x.topic, x.now, out);
  // Timers of the left topic fire: ignored, the topic stays left.
  x.now = at(500ms);
  EXPECT_TRUE(x.timer(requests[0]).items.empty());
  EXPECT_FALSE(x.r.has_topic(x.topic));
  // Re-join at 30 s: its shuffle is due at 90 s; the old chain (due at 60 s) dies.
  x.now = at(30s);
  b = x.feed(in::join_peers{{make_peer(1)}});
  auto new_requests = b.timers<timers::neighbor_request>();
  // Not the refill tick (a neighbor_request timer addressed to x itself).
  std::erase_if(new_requests, [](const timers::neighbor_request& t) { return t.peer == make_node_id(0); });
  ASSERT_EQ(new_requests.size(), 1u);
  EXPECT_NE(new_requests[0].attempt, requests[0].attempt);
  x.now = at(60s);
  EXPECT_TRUE(x.timer(shuffles[0]).items.empty());
  x.now = at(90s);
  EXPECT_EQ(x.timer(timers::shuffle{}).timers<timers::shuffle>().size(), 1u);
}

TEST(Router, PeerDisconnectedFansOutToEveryTopic) {
  two_topics x;
  x.connect(x.t1, 1);
  x.connect(x.t2, 1);
  x.connect(x.t2, 2);
  std::vector<routed> out;
  x.r.peer_disconnected(make_node_id(1), x.now, out);
  std::set<topic_id> downs;
  for (const auto& r : out)
    if (auto* d = std::get_if<out::neighbor_down>(&r.o); d && d->peer == make_node_id(1)) downs.insert(r.topic);
  EXPECT_EQ(downs, (std::set<topic_id>{x.t1, x.t2}));
  EXPECT_FALSE(has_drop(out, 1));  // already closed
  EXPECT_EQ(x.r.active_view(x.t2), std::vector<node_id>{make_node_id(2)});
}

TEST(Router, TopicsAreIndependent) {
  two_topics x;
  x.connect(x.t1, 1);
  x.connect(x.t2, 1);
  auto out = x.feed(x.t1, in::broadcast{to_bytes("only one"), scope::swarm});
  auto g = sends_of<wire::gossip>(out);
  ASSERT_EQ(g.size(), 1u);
  EXPECT_EQ(g[0].first, x.t1);
  // The same content in topic two is new there.
  out = x.feed(x.t2, in::received{make_node_id(1), make_gossip("only one")});
  EXPECT_EQ(
      std::count_if(out.begin(), out.end(), [](const routed& r) { return std::holds_alternative<out::received>(r.o); }),
      1);
}

TEST(Router, SameSeedGivesIdenticalOutputSequence) {
  auto run = [](std::uint64_t seed) {
    network net(12, {}, seed);
    build_overlay(net, seed, 30ms, 1s);
    for (int m = 0; m < 5; ++m) {
      net.broadcast(static_cast<std::size_t>(m * 5 % 12), "det " + std::to_string(m));
      net.run_for(100ms);
    }
    net.crash(6);
    net.run_for(2min);
    return net.trace();
  };
  const auto a = run(17), b = run(17), c = run(18);
  EXPECT_GT(a.size(), 1000u);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
}
