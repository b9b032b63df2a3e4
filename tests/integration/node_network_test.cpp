// Network discovery on real nodes (TLS on loopback; a local libtorrent DHT
// testnet for the chain): catalogs fill through announces and syncs, events
// arrive with their cause, the secret keeps outsiders out, the chain alone
// finds the network, and a topic connects through the catalog without a
// DHT read.
#include "node_support.hpp"

#include <topicswarm/dht_testnet.hpp>

#include <set>

namespace topicswarm {
namespace {

using namespace test_support;
using namespace std::chrono_literals;

network_config quick_network(std::string name, std::string secret = {}) {
  network_config c;
  c.name = std::move(name);
  c.secret = std::move(secret);
  c.secret_hashing = {1, 8192};  // tests need no Argon2id cost
  c.chain = false;
  return c;
}

// Events until `pred` holds for one, or `limit`.
template <class Pred>
asio::awaitable<std::optional<network_event>> event_where(network& n, Pred pred, std::chrono::milliseconds limit) {
  using namespace asio::experimental::awaitable_operators;
  const auto deadline = std::chrono::steady_clock::now() + limit;
  for (;;) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) co_return std::nullopt;
    asio::steady_timer t(co_await asio::this_coro::executor, left);
    auto r = co_await (n.next() || t.async_wait(asio::use_awaitable));
    if (r.index() == 1) co_return std::nullopt;
    auto ev = std::get<0>(std::move(r));
    if (!ev) co_return std::nullopt;
    if (pred(*ev)) co_return *ev;
  }
}

TEST(node_network, members_catalog_each_other_with_tags_topics_and_rtt) {
  asio::io_context io;
  auto a = start_node(loopback_config(1));
  auto b = start_node(loopback_config(2));
  auto c = start_node(loopback_config(3));
  auto ca = quick_network("net-basic");
  ca.tags = {"hub"};
  auto na = run_on(io, a.join_network(ca), 10s);
  ASSERT_TRUE(na) << na.error().message();
  auto cb = quick_network("net-basic");
  cb.tags = {"edge", "eu"};
  cb.bootstrap = {a.address()};
  auto nb = run_on(io, b.join_network(cb), 10s);
  ASSERT_TRUE(nb) << nb.error().message();
  // c knows only b: it learns of a through b (sync or announce).
  auto cc = quick_network("net-basic");
  cc.bootstrap = {b.address()};
  auto nc = run_on(io, c.join_network(cc), 10s);
  ASSERT_TRUE(nc) << nc.error().message();
  // A topic joined after the network is listed in the entry.
  auto topic = b.subscribe(topic_id_from_name("room"));
  ASSERT_TRUE(topic);
  for (auto* n : {&*na, &*nb, &*nc}) EXPECT_TRUE(eventually([&] { return n->size() == 2; }, 10s)) << n->size();
  EXPECT_TRUE(eventually(
      [&] {
        for (const auto& e : nc->snapshot())
          if (e.node == b.id())
            return e.tags == std::vector<std::string>{"edge", "eu"} && e.topics.size() == 1 &&
                   e.topics[0] == topic->wire_id() && !e.addresses.empty();
        return false;
      },
      10s));
  // a's first event about c is a discovery.
  auto ev = run_on(io,
                   event_where(
                       *na,
                       [&](const network_event& e) {
                         const auto* d = std::get_if<network_events::peer_discovered>(&e);
                         return d && d->entry.node == c.id();
                       },
                       5s),
                   10s);
  EXPECT_TRUE(ev);
  // Neighbours are pinged on first contact.
  EXPECT_TRUE(eventually([&] { return nb->rtt(a.id()).has_value(); }, 5s));
  EXPECT_EQ(na->local().tags, std::vector<std::string>{"hub"});
  // New tags reach the others as an update.
  ASSERT_TRUE(na->set_tags({"hub", "relay"}));
  auto up = run_on(io,
                   event_where(
                       *nb,
                       [&](const network_event& e) {
                         const auto* u = std::get_if<network_events::peer_updated>(&e);
                         return u && u->entry.node == a.id() && u->entry.tags.size() == 2;
                       },
                       5s),
                   10s);
  EXPECT_TRUE(up);
  auto s = run_on(io, b.stats(), 10s);
  EXPECT_TRUE(s.network.joined);
  EXPECT_GE(s.network.syncs_completed, 1u);
  EXPECT_EQ(s.network.entries_invalid, 0u);
}

TEST(node_network, a_graceful_leave_is_reported_at_once) {
  asio::io_context io;
  auto a = start_node(loopback_config(4));
  auto b = start_node(loopback_config(5));
  auto na = run_on(io, a.join_network(quick_network("net-leave")), 10s);
  ASSERT_TRUE(na);
  auto cb = quick_network("net-leave");
  cb.bootstrap = {a.address()};
  {
    auto nb = run_on(io, b.join_network(cb), 10s);
    ASSERT_TRUE(nb);
    ASSERT_TRUE(eventually([&] { return na->size() == 1; }, 10s));
  }  // the last handle of b's network: b leaves with a signed departure
  auto ev = run_on(io,
                   event_where(
                       *na,
                       [&](const network_event& e) {
                         const auto* d = std::get_if<network_events::peer_departed>(&e);
                         return d && d->peer == b.id();
                       },
                       5s),
                   10s);
  ASSERT_TRUE(ev);
  EXPECT_EQ(std::get<network_events::peer_departed>(*ev).cause, departure_cause::graceful);
  EXPECT_EQ(na->size(), 0u);
}

TEST(node_network, another_secret_stays_alone) {
  asio::io_context io;
  auto a = start_node(loopback_config(6));
  auto x = start_node(loopback_config(7));
  auto na = run_on(io, a.join_network(quick_network("net-closed", "right")), 10s);
  ASSERT_TRUE(na);
  auto cx = quick_network("net-closed", "wrong");
  cx.bootstrap = {a.address()};
  auto nx = run_on(io, x.join_network(cx), 10s);
  ASSERT_TRUE(nx);
  EXPECT_NE(nx->wire_id(), na->wire_id());
  std::this_thread::sleep_for(1500ms);
  EXPECT_EQ(na->size(), 0u);
  EXPECT_EQ(nx->size(), 0u);
  auto s = run_on(io, a.stats(), 10s);
  EXPECT_GE(s.admission.proofs_unknown_topic + s.admission.frames_not_admitted, 1u);
  EXPECT_EQ(s.network.added, 0u);
}

TEST(node_network, one_network_at_a_time_and_bad_configs_say_why) {
  asio::io_context io;
  auto a = start_node(loopback_config(8));
  auto bad = quick_network("");
  auto r = run_on(io, a.join_network(bad), 10s);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().detail.find("name"), std::string::npos);
  auto tags = quick_network("n");
  tags.tags = {"has space"};
  EXPECT_FALSE(run_on(io, a.join_network(tags), 10s));
  auto first = run_on(io, a.join_network(quick_network("n")), 10s);
  ASSERT_TRUE(first);
  auto second = run_on(io, a.join_network(quick_network("m")), 10s);
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().code, make_error_code(errc::invalid_argument));
  EXPECT_FALSE(first->set_tags({std::string(33, 'x')}));
  // The builder validates what it built.
  EXPECT_FALSE(network_config::builder().name("x").tag("bad tag").build());
  EXPECT_FALSE(network_config::builder().name("x").announce_interval(400'000ms).build());  // above purge_after
  auto ok = network_config::builder().name("x").secret("s").tag("t").chain(false).ping(false).build();
  ASSERT_TRUE(ok);
  EXPECT_FALSE(ok->chain);
  EXPECT_EQ(ok->tags, std::vector<std::string>{"t"});
}

class node_network_dht : public testnet_test {};

TEST_F(node_network_dht, ten_nodes_find_each_other_through_the_chain_alone) {
  std::vector<node> nodes;
  std::vector<network> nets;
  for (int i = 0; i < 10; ++i) nodes.push_back(start_dht_node(io_, *net_, 20 + static_cast<std::uint64_t>(i)));
  for (auto& n : nodes) {
    auto c = quick_network("net-chain", "chain secret");
    c.chain = true;
    c.chain_poll_alone = 500ms;
    c.chain_poll_relaxed = 5s;
    auto j = run_on(io_, n.join_network(c), 10s);
    ASSERT_TRUE(j) << j.error().message();
    nets.push_back(std::move(*j));
  }
  for (std::size_t i = 0; i < nets.size(); ++i)
    EXPECT_TRUE(eventually([&] { return nets[i].size() == 9; }, 30s)) << "node " << i << " knows " << nets[i].size();
  std::uint64_t claims = 0;
  for (auto& n : nodes) claims += run_on(io_, n.stats(), 10s).network.chain_claims;
  EXPECT_GE(claims, 1u);
}

TEST_F(node_network_dht, a_topic_connects_through_the_catalog_without_a_dht_read) {
  auto a = start_dht_node(io_, *net_, 40);
  auto b = start_dht_node(io_, *net_, 41);
  auto na = run_on(io_, a.join_network(quick_network("net-topics")), 10s);
  ASSERT_TRUE(na);
  auto cb = quick_network("net-topics");
  cb.bootstrap = {a.address()};
  auto nb = run_on(io_, b.join_network(cb), 10s);
  ASSERT_TRUE(nb);
  const topic_id t = topic_id_from_name("catalog-topic");
  auto ta = a.join_with_auto_discovery_no_wait(t, "topic secret", quick_discovery());
  ASSERT_TRUE(ta);
  const auto wire = ta->wire_id();
  // b learns that a is in the topic (a's entry lists its wire id).
  ASSERT_TRUE(eventually(
      [&] {
        for (const auto& e : nb->snapshot())
          if (e.node == a.id()) return std::find(e.topics.begin(), e.topics.end(), wire) != e.topics.end();
        return false;
      },
      10s));
  auto before = run_on(io_, b.stats(), 10s);
  auto tb = b.join_with_auto_discovery_no_wait(t, "topic secret", quick_discovery());
  ASSERT_TRUE(tb);
  auto j = run_on(io_, tb->joined(5s), 10s);
  ASSERT_TRUE(j) << j.error().message();
  auto after = run_on(io_, b.stats(), 10s);
  EXPECT_EQ(after.auto_discovery.gets, before.auto_discovery.gets) << "b read the DHT for the topic";
  EXPECT_GE(after.network.topic_candidates_dialled, 1u);
  EXPECT_EQ(tb->neighbors(), std::vector<node_id>{a.id()});
}

}  // namespace
}  // namespace topicswarm
