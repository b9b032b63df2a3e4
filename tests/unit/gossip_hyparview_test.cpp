// HyParView membership: join, forward_join walks, neighbour requests,
// timeouts, disconnects, shuffles, view symmetry.
#include "gossip_pump.hpp"

using namespace gossip_test;

namespace {

// X (node 0) with neighbours 1..k.
single with_neighbors(std::size_t k, config cfg = {}) {
  single x(0, cfg);
  for (std::size_t p = 1; p <= k; ++p) x.connect(p);
  return x;
}

}  // namespace

TEST(Hyparview, ContactAddsJoinerAndSendsForwardJoinToOtherNeighbours) {
  auto x = with_neighbors(3);
  auto b = x.recv(9, wire::join{make_peer(9).addresses});
  EXPECT_TRUE(x.is_active(9));
  ASSERT_EQ(b.all<out::neighbor_up>().size(), 1u);
  EXPECT_EQ(b.all<out::neighbor_up>()[0].peer, make_node_id(9));
  auto replies = b.sends_to<wire::neighbor_reply>(make_node_id(9));
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_TRUE(replies[0].accepted);
  auto fj = b.sends<wire::forward_join>();
  ASSERT_EQ(fj.size(), 3u);  // to 1, 2, 3 but never back to the joiner
  for (const auto& [to, m] : fj) {
    EXPECT_NE(to, make_node_id(9));
    EXPECT_EQ(m.peer.id, make_node_id(9));
    EXPECT_EQ(m.peer.addresses, make_peer(9).addresses);
    EXPECT_EQ(m.ttl, config{}.membership.active_random_walk_length);
  }
}

TEST(Hyparview, ForwardJoinWalksAndEndsWithHighPriorityRequest) {
  auto x = with_neighbors(3);
  // Mid-walk: forwarded to a random neighbour other than the sender, ttl - 1.
  auto b = x.recv(1, wire::forward_join{make_peer(9), 5});
  auto fj = b.sends<wire::forward_join>();
  ASSERT_EQ(fj.size(), 1u);
  EXPECT_NE(fj[0].first, make_node_id(1));
  EXPECT_EQ(fj[0].second.ttl, 4);
  EXPECT_TRUE(b.sends<wire::neighbor>().empty());
  EXPECT_FALSE(x.is_passive(9));

  // At ttl == PRWL the joiner also enters the passive view.
  b = x.recv(2, wire::forward_join{make_peer(9), config{}.membership.passive_random_walk_length});
  EXPECT_TRUE(x.is_passive(9));
  ASSERT_EQ(b.sends<wire::forward_join>().size(), 1u);
  EXPECT_EQ(b.sends<wire::forward_join>()[0].second.ttl, config{}.membership.passive_random_walk_length - 1);

  // At ttl 0 the walk ends: ask the joiner (high priority); it becomes a
  // neighbour when it accepts.
  b = x.recv(3, wire::forward_join{make_peer(8), 0});
  EXPECT_TRUE(b.sends<wire::forward_join>().empty());
  auto nb = b.sends_to<wire::neighbor>(make_node_id(8));
  ASSERT_EQ(nb.size(), 1u);
  EXPECT_EQ(nb[0].prio, priority::high);
  EXPECT_FALSE(x.is_active(8));
  ASSERT_EQ(b.timers<timers::neighbor_request>().size(), 1u);
  b = x.recv(8, wire::neighbor_reply{true});
  EXPECT_TRUE(x.is_active(8));
  EXPECT_EQ(b.all<out::neighbor_up>().size(), 1u);
}

TEST(Hyparview, ForwardJoinWithOneNeighbourAddsAtOnce) {
  auto x = with_neighbors(1);
  auto b = x.recv(1, wire::forward_join{make_peer(9), 6});
  EXPECT_TRUE(b.sends<wire::forward_join>().empty());
  ASSERT_EQ(b.sends_to<wire::neighbor>(make_node_id(9)).size(), 1u);
}

TEST(Hyparview, LowPriorityRequestAcceptedOnlyWithRoom) {
  auto x = with_neighbors(4);
  auto b = x.recv(9, wire::neighbor{priority::low, make_peer(9).addresses});
  EXPECT_TRUE(x.is_active(9));  // 4 < 5: room
  ASSERT_EQ(b.sends_to<wire::neighbor_reply>(make_node_id(9)).size(), 1u);
  EXPECT_TRUE(b.sends_to<wire::neighbor_reply>(make_node_id(9))[0].accepted);

  b = x.recv(10, wire::neighbor{priority::low, make_peer(10).addresses});  // full now
  EXPECT_FALSE(x.is_active(10));
  ASSERT_EQ(b.sends_to<wire::neighbor_reply>(make_node_id(10)).size(), 1u);
  EXPECT_FALSE(b.sends_to<wire::neighbor_reply>(make_node_id(10))[0].accepted);
  EXPECT_TRUE(x.is_passive(10));  // known and alive, just not now
  EXPECT_TRUE(b.dropped(make_node_id(10)));
  EXPECT_EQ(x.active().size(), 5u);
}

TEST(Hyparview, HighPriorityRequestAlwaysAcceptedEvictingARandomNeighbour) {
  auto x = with_neighbors(5);
  auto b = x.recv(10, wire::neighbor{priority::high, make_peer(10).addresses});
  EXPECT_TRUE(x.is_active(10));
  EXPECT_EQ(x.active().size(), 5u);
  auto down = b.all<out::neighbor_down>();
  ASSERT_EQ(down.size(), 1u);
  const node_id victim = down[0].peer;
  auto disc = b.sends_to<wire::disconnect>(victim);
  ASSERT_EQ(disc.size(), 1u);
  EXPECT_TRUE(disc[0].alive);
  EXPECT_TRUE(b.dropped(victim));
  auto pv = x.passive();
  EXPECT_NE(std::find(pv.begin(), pv.end(), victim), pv.end());
}

// A join fans out to every neighbour as walks: a member that leaves and
// joins again and again would make the overlay carry its walks each time.
TEST(Hyparview, ARepeatedJoinIsAcceptedButItsWalksGoOutOncePerShufflePeriod) {
  auto x = with_neighbors(3);
  EXPECT_EQ(x.recv(9, wire::join{make_peer(9).addresses}).sends<wire::forward_join>().size(), 3u);
  x.recv(9, wire::disconnect{false});
  ASSERT_FALSE(x.is_active(9));
  auto b = x.recv(9, wire::join{make_peer(9).addresses});
  EXPECT_TRUE(x.is_active(9));  // still a neighbour
  EXPECT_EQ(b.sends_to<wire::neighbor_reply>(make_node_id(9)).size(), 1u);
  EXPECT_TRUE(b.sends<wire::forward_join>().empty());
  EXPECT_EQ(x.r.counters(x.topic).membership.joins_not_forwarded, 1u);
  // Another joiner in the same period is not affected.
  EXPECT_EQ(x.recv(8, wire::join{make_peer(8).addresses}).sends<wire::forward_join>().size(), 4u);
  // The next period forwards its join again.
  x.now += 60s;
  x.timer(timers::shuffle{});
  x.recv(9, wire::disconnect{false});
  EXPECT_FALSE(x.recv(9, wire::join{make_peer(9).addresses}).sends<wire::forward_join>().empty());
}

// A high-priority request evicts one of our neighbours when the view is
// full: one peer may do that once per shuffle period, not again and again.
TEST(Hyparview, OnePeerCannotEvictNeighboursAgainAndAgain) {
  auto x = with_neighbors(5);
  auto b = x.recv(10, wire::neighbor{priority::high, make_peer(10).addresses});
  EXPECT_TRUE(x.is_active(10));
  EXPECT_EQ(b.all<out::neighbor_down>().size(), 1u);
  x.recv(10, wire::disconnect{false});
  x.connect(11);  // full again
  ASSERT_EQ(x.active().size(), 5u);
  b = x.recv(10, wire::neighbor{priority::high, make_peer(10).addresses});
  EXPECT_FALSE(x.is_active(10));
  EXPECT_TRUE(b.all<out::neighbor_down>().empty());
  auto replies = b.sends_to<wire::neighbor_reply>(make_node_id(10));
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_FALSE(replies[0].accepted);
  EXPECT_EQ(x.r.counters(x.topic).membership.neighbor_requests_downgraded, 1u);
  // With room it is still accepted (a low-priority request would be too).
  x.recv(11, wire::disconnect{false});
  EXPECT_TRUE(x.recv(10, wire::neighbor{priority::high, make_peer(10).addresses}).sends_to<wire::neighbor_reply>(
      make_node_id(10))[0].accepted);
}

TEST(Hyparview, IsolatedNodeSendsHighPriorityRefill) {
  single x;
  x.connect(1);
  // Give x passive peers: a shuffle that ends here (ttl 0) is integrated.
  x.recv(1, wire::shuffle{make_peer(7), 0, {make_peer(5), make_peer(6)}});
  ASSERT_EQ(x.passive().size(), 3u);
  auto b = x.recv(1, wire::disconnect{false});
  EXPECT_FALSE(x.is_active(1));
  EXPECT_FALSE(x.is_passive(1));  // not alive: forgotten
  auto nb = b.sends<wire::neighbor>();
  ASSERT_EQ(nb.size(), 1u);  // one at a time while isolated
  EXPECT_EQ(nb[0].second.prio, priority::high);
}

TEST(Hyparview, RequestTimeoutFallsBackToNextPassivePeer) {
  single x;
  x.connect(1);
  x.recv(1, wire::shuffle{make_peer(7), 0, {make_peer(5), make_peer(6)}});
  auto b = x.recv(1, wire::disconnect{false});
  auto nb = b.sends<wire::neighbor>();
  ASSERT_EQ(nb.size(), 1u);
  const node_id first = nb[0].first;
  auto t = b.timers<timers::neighbor_request>();
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t[0].peer, first);
  ASSERT_EQ(b.all<out::schedule>().back().after, config{}.membership.neighbor_request_timeout);

  x.now += 500ms;
  b = x.timer(t[0]);
  // The silent peer is given up (removed from the passive view) and the next is asked.
  auto pv = x.passive();
  EXPECT_EQ(std::find(pv.begin(), pv.end(), first), pv.end());
  EXPECT_TRUE(b.dropped(first));
  nb = b.sends<wire::neighbor>();
  ASSERT_EQ(nb.size(), 1u);
  EXPECT_NE(nb[0].first, first);
  EXPECT_EQ(nb[0].second.prio, priority::high);

  // A stale timer (the same peer again, an old attempt) changes nothing.
  auto again = x.timer(t[0]);
  EXPECT_TRUE(again.items.empty());

  // The second candidate accepts: x has a neighbour again.
  auto second = nb[0].first;
  b = x.feed(in::received{second, wire::neighbor_reply{true}});
  EXPECT_EQ(x.active(), std::vector<node_id>{second});
}

TEST(Hyparview, JoinTimeoutTriesNextContact) {
  single x;
  auto b = x.feed(in::join_peers{{make_peer(1), make_peer(2), make_peer(3)}});
  auto joins = b.sends<wire::join>();
  ASSERT_EQ(joins.size(), 1u);  // one contact at a time
  EXPECT_EQ(joins[0].first, make_node_id(1));
  auto t = b.timers<timers::neighbor_request>();  // the join's timeout
  ASSERT_EQ(t.size(), 1u);
  x.now += 500ms;
  b = x.timer(t[0]);
  joins = b.sends<wire::join>();
  ASSERT_EQ(joins.size(), 1u);
  EXPECT_EQ(joins[0].first, make_node_id(2));
  b = x.recv(2, wire::neighbor_reply{true});
  EXPECT_TRUE(x.is_active(2));
  EXPECT_EQ(b.all<out::neighbor_up>().size(), 1u);
}

TEST(Hyparview, BelowCapacityRefillsWithLowPriorityAndKeepsRefusersPassive) {
  single x;
  x.connect(1);
  x.recv(1, wire::shuffle{make_peer(7), 0, {make_peer(5), make_peer(6)}});
  // Below capacity with candidates: x asks (low priority: it has a neighbour)
  // on the next shuffle period.
  x.now += 60s;
  auto b = x.timer(timers::shuffle{});
  auto nb = b.sends<wire::neighbor>();
  ASSERT_FALSE(nb.empty());
  for (const auto& [to, m] : nb) EXPECT_EQ(m.prio, priority::low);
  b = x.feed(in::received{nb[0].first, wire::neighbor_reply{false}});
  EXPECT_TRUE(b.dropped(nb[0].first));
  EXPECT_FALSE(x.is_active(nb[0].first));
  auto pv = x.passive();
  EXPECT_NE(std::find(pv.begin(), pv.end(), nb[0].first), pv.end());  // refused, not dead
}

TEST(Hyparview, DisconnectAliveKeepsPeerPassiveOtherwiseForgets) {
  auto x = with_neighbors(2);
  auto b = x.recv(1, wire::disconnect{true});
  EXPECT_FALSE(x.is_active(1));
  EXPECT_TRUE(x.is_passive(1));
  EXPECT_EQ(b.all<out::neighbor_down>().size(), 1u);
  EXPECT_TRUE(b.dropped(make_node_id(1)));
  // The disconnecting peer is not asked straight back.
  EXPECT_TRUE(b.sends_to<wire::neighbor>(make_node_id(1)).empty());

  b = x.recv(2, wire::disconnect{false});
  EXPECT_FALSE(x.is_active(2));
  EXPECT_FALSE(x.is_passive(2));
  EXPECT_EQ(b.all<out::neighbor_down>().size(), 1u);
}

TEST(Hyparview, NeighbourEventsExactlyOncePerTransition) {
  auto x = with_neighbors(1);
  auto b = x.connect(1);  // already a neighbour: no second neighbor_up
  EXPECT_TRUE(b.all<out::neighbor_up>().empty());
  b = x.recv(1, wire::join{});
  EXPECT_TRUE(b.all<out::neighbor_up>().empty());
  b = x.recv(1, wire::disconnect{true});
  EXPECT_EQ(b.all<out::neighbor_down>().size(), 1u);
  b = x.recv(1, wire::disconnect{true});
  EXPECT_TRUE(b.all<out::neighbor_down>().empty());
  b = x.feed(in::peer_disconnected{make_node_id(1)});
  EXPECT_TRUE(b.all<out::neighbor_down>().empty());
}

TEST(Hyparview, PeerDataEmittedForLearnedAddresses) {
  single x;
  auto b = x.connect(1);
  auto pd = b.all<out::peer_data>();
  ASSERT_EQ(pd.size(), 1u);
  EXPECT_EQ(pd[0].info, make_peer(1));
  b = x.connect(1);  // same addresses: nothing new
  EXPECT_TRUE(b.all<out::peer_data>().empty());
  b = x.recv(1, wire::shuffle{make_peer(7), 0, {make_peer(5)}});
  EXPECT_EQ(b.all<out::peer_data>().size(), 2u);  // 7 (origin) and 5
}

// Provenance (docs/PROTOCOL.md §13): peer_data says whether the addresses
// are the peer's own statement (a message it sent itself) or a third party's.
TEST(Hyparview, PeerDataSaysWhetherThePeerItselfGaveTheAddresses) {
  single x;
  auto b = x.connect(1);  // a neighbour request: 1's own addresses
  auto pd = b.all<out::peer_data>();
  ASSERT_EQ(pd.size(), 1u);
  EXPECT_TRUE(pd[0].first_hand);
  // 1 drops us (alive: kept in our passive view). A shuffle from 1 that 1
  // started itself: its own entry is first-hand, the others are hearsay.
  x.recv(1, wire::disconnect{true});
  ASSERT_TRUE(x.is_passive(1));
  auto other = make_peer(1);
  other.addresses = {endpoint::v4({127, 0, 0, 1}, 31001)};
  b = x.recv(1, wire::shuffle{other, 0, {make_peer(5)}});
  pd = b.all<out::peer_data>();
  ASSERT_EQ(pd.size(), 2u);
  for (const auto& d : pd) EXPECT_EQ(d.first_hand, d.info.id == make_node_id(1)) << d.info.addresses[0].to_string();
  // A shuffle relayed by 1 for origin 7: nothing in it is first-hand.
  b = x.recv(1, wire::shuffle{make_peer(7), 0, {make_peer(6)}});
  pd = b.all<out::peer_data>();
  ASSERT_FALSE(pd.empty());
  for (const auto& d : pd) EXPECT_FALSE(d.first_hand) << d.info.addresses[0].to_string();
}

TEST(Hyparview, ForwardJoinAddressesAreHearsay) {
  auto x = with_neighbors(3);
  auto b = x.recv(3, wire::forward_join{make_peer(8), 0});
  auto pd = b.all<out::peer_data>();
  ASSERT_FALSE(pd.empty());
  for (const auto& d : pd) EXPECT_FALSE(d.first_hand);
}

// Heard of 5 from a shuffle, then 5 itself asks with the same addresses:
// announced once more as first-hand, and only once.
TEST(Hyparview, ThePeerConfirmingHearsayIsAnnouncedOnceAsFirstHand) {
  single x;
  x.connect(1);
  auto b = x.recv(1, wire::shuffle{make_peer(1), 0, {make_peer(5)}});
  ASSERT_TRUE(x.is_passive(5));
  b = x.connect(5);
  auto pd = b.all<out::peer_data>();
  ASSERT_EQ(pd.size(), 1u);
  EXPECT_EQ(pd[0].info, make_peer(5));
  EXPECT_TRUE(pd[0].first_hand);
  b = x.connect(5);
  EXPECT_TRUE(b.all<out::peer_data>().empty());
}

TEST(Hyparview, OversizedAddressListDroppedAndCounted) {
  single x;
  wire::join j;
  j.addresses.assign(5, make_peer(1).addresses[0]);
  auto b = x.recv(1, j);
  EXPECT_TRUE(b.sends<wire::neighbor_reply>().empty());
  EXPECT_FALSE(x.is_active(1));
  EXPECT_EQ(x.r.counters(x.topic).malformed_messages, 1u);
}

TEST(Hyparview, JoinBuildsSymmetricActiveViews) {
  for (std::uint64_t seed : {1, 2, 3, 4}) {
    network net(20, {}, seed);
    build_overlay(net, seed);
    EXPECT_TRUE(net.symmetric()) << "seed " << seed;
    EXPECT_TRUE(net.connected()) << "seed " << seed << "\n" << net.dump();
    for (std::size_t i = 0; i < net.size(); ++i) {
      EXPECT_GE(net.active(i).size(), 1u) << "seed " << seed << " node " << i;
      EXPECT_LE(net.active(i).size(), 5u);
    }
  }
}

TEST(Hyparview, SmallOverlayFillsActiveViews) {
  network net(8, {}, 5);
  build_overlay(net, 5);
  EXPECT_TRUE(net.symmetric());
  std::size_t total = 0;
  for (std::size_t i = 0; i < net.size(); ++i) total += net.active(i).size();
  // 8 nodes, capacity 5: most nodes should have several neighbours.
  EXPECT_GE(total / net.size(), 3u) << net.dump();
}

TEST(Hyparview, ShuffleFillsPassiveViews) {
  network net(20, {}, 9);
  build_overlay(net, 9, 50ms, 1s);
  std::size_t before = 0;
  for (std::size_t i = 0; i < net.size(); ++i) before += net.passive(i).size();
  net.run_for(5min);  // five shuffle periods
  std::size_t after = 0;
  for (std::size_t i = 0; i < net.size(); ++i) {
    after += net.passive(i).size();
    EXPECT_GE(net.passive(i).size(), 3u) << "node " << i;
    EXPECT_LE(net.passive(i).size(), 30u);
    EXPECT_GT(net.at(i).counters(net.topic()).membership.shuffles, 0u);
    for (auto p : net.passive(i)) {
      EXPECT_NE(p, i);
      EXPECT_FALSE(network::contains(net.active(i), p));  // views are disjoint
    }
  }
  EXPECT_GT(after, before);
  EXPECT_TRUE(net.symmetric());
}

TEST(Hyparview, CrashedNeighboursAreReplacedFromPassiveView) {
  network net(20, {}, 11);
  build_overlay(net, 11);
  net.run_for(3min);  // shuffles: passive views filled
  for (std::size_t i : {3u, 7u, 12u, 15u}) net.crash(i);
  net.run_for(5s);
  EXPECT_TRUE(net.symmetric()) << net.dump();
  EXPECT_TRUE(net.connected()) << net.dump();
  for (std::size_t i = 0; i < net.size(); ++i) {
    if (net.dead(i)) continue;
    EXPECT_GE(net.active(i).size(), 1u) << "node " << i;
    for (auto p : net.active(i)) EXPECT_FALSE(net.dead(p));
  }
}

namespace {

std::vector<timers::refill> refill_ticks(const batch& b) { return b.timers<timers::refill>(); }

}  // namespace

// Seed 17's bootstrap island: a node left with one neighbour after another
// dropped it (alive) has only that peer in its passive view, which would
// refuse a low-priority request. The refill tick asks it with high priority
// instead of waiting for the first shuffle.
TEST(Hyparview, RefillTickAsksWithHighPriorityWhenLeftWithOneNeighbour) {
  single x;
  auto first = x.connect(1);  // the first input starts the topic: refill tick armed
  x.connect(2);
  auto ticks = refill_ticks(first);
  ASSERT_EQ(ticks.size(), 1u);
  auto b = x.recv(1, wire::disconnect{true});
  EXPECT_TRUE(x.is_passive(1));
  EXPECT_TRUE(b.sends_to<wire::neighbor>(make_node_id(1)).empty());
  x.now += 2s;
  b = x.timer(ticks[0]);
  auto nb = b.sends_to<wire::neighbor>(make_node_id(1));
  ASSERT_EQ(nb.size(), 1u);
  EXPECT_EQ(nb[0].prio, priority::high);
  EXPECT_EQ(refill_ticks(b).size(), 1u);  // still below capacity: the tick re-arms
  b = x.recv(1, wire::neighbor_reply{true});
  EXPECT_TRUE(x.is_active(1));
  // A stale tick (an older generation) does nothing.
  b = x.timer(ticks[0]);
  EXPECT_TRUE(b.sends<wire::neighbor>().empty());
}

// Churn islands: an isolated node whose passive view ran dry (its requests
// timed out) keeps retrying peers it knew, on the refill tick.
TEST(Hyparview, IsolatedNodeWithEmptyPassiveViewRetriesKnownPeersOnTick) {
  single x;
  auto b = x.feed(in::join_peers{{make_peer(5)}});
  auto ticks = refill_ticks(b);
  ASSERT_EQ(ticks.size(), 1u);
  std::vector<timers::neighbor_request> req;
  for (const auto& t : b.timers<timers::neighbor_request>())
    if (t.peer == make_node_id(5)) req.push_back(t);
  ASSERT_EQ(req.size(), 1u);
  x.now += 500ms;
  b = x.timer(req[0]);  // the join timed out: 5 leaves the passive view
  EXPECT_TRUE(x.passive().empty());
  EXPECT_TRUE(x.active().empty());
  x.now += 2s;
  b = x.timer(ticks[0]);
  auto nb = b.sends_to<wire::neighbor>(make_node_id(5));
  ASSERT_EQ(nb.size(), 1u);
  EXPECT_EQ(nb[0].prio, priority::high);
  b = x.recv(5, wire::neighbor_reply{true});
  EXPECT_TRUE(x.is_active(5));
}

// A newcomer's passive view is seeded at once: when its join is accepted it
// sends a shuffle walk through the contact.
TEST(Hyparview, JoinerShufflesAsSoonAsItsJoinIsAccepted) {
  single x;
  x.feed(in::join_peers{{make_peer(1)}});
  auto b = x.recv(1, wire::neighbor_reply{true});
  EXPECT_TRUE(x.is_active(1));
  auto sh = b.sends<wire::shuffle>();
  ASSERT_EQ(sh.size(), 1u);
  EXPECT_EQ(sh[0].first, make_node_id(1));
  EXPECT_EQ(sh[0].second.origin.id, make_node_id(0));
  b = x.recv(7, wire::shuffle_reply{{make_peer(8), make_peer(9)}});
  EXPECT_TRUE(x.is_passive(8));
  EXPECT_TRUE(x.is_passive(9));
}

// The end of a forward_join walk usually never heard of the joiner: the
// joiner's addresses (from the walk) go to the shell's address book before
// the neighbour request, so the shell can dial it.
TEST(Hyparview, ForwardJoinEndHandsTheJoinersAddressesToTheShellBeforeAsking) {
  auto x = with_neighbors(3);
  auto b = x.recv(3, wire::forward_join{make_peer(8), 0});
  std::size_t data_at = b.items.size(), ask_at = b.items.size();
  for (std::size_t i = 0; i < b.items.size(); ++i) {
    if (auto* d = std::get_if<out::peer_data>(&b.items[i].o); d && d->info == make_peer(8))
      data_at = std::min(data_at, i);
    if (auto* s = std::get_if<out::send>(&b.items[i].o);
        s && s->to == make_node_id(8) && std::holds_alternative<wire::neighbor>(s->msg))
      ask_at = std::min(ask_at, i);
  }
  ASSERT_LT(ask_at, b.items.size()) << "no neighbour request to the joiner";
  EXPECT_LT(data_at, ask_at) << "the joiner's addresses must reach the shell before the request";
}

// A joiner that gave no address cannot be dialled: the walk ends there.
TEST(Hyparview, ForwardJoinEndWithoutAddressesAsksNobody) {
  auto x = with_neighbors(3);
  auto b = x.recv(3, wire::forward_join{peer_info{make_node_id(8), {}}, 0});
  EXPECT_TRUE(b.sends<wire::neighbor>().empty());
  EXPECT_EQ(x.state().membership().pending_count(), 0u);
}

// Walks travel over links: a forward_join from a peer that is neither a
// neighbour, nor one we just dropped (passive), nor one we are asking, makes
// us do nothing, and is counted.
TEST(Hyparview, ForwardJoinFromAStrangerIsRefusedAndCounted) {
  auto x = with_neighbors(3);
  for (std::uint8_t ttl : {std::uint8_t{0}, std::uint8_t{4}}) {
    auto b = x.recv(42, wire::forward_join{make_peer(8), ttl});
    EXPECT_TRUE(b.sends<wire::neighbor>().empty());
    EXPECT_TRUE(b.sends<wire::forward_join>().empty());
    EXPECT_TRUE(b.all<out::peer_data>().empty());
  }
  EXPECT_FALSE(x.is_passive(8));
  EXPECT_EQ(x.r.counters(x.topic).membership.walks_refused, 2u);
  // A peer we just dropped to make room (now passive) is not a stranger: its
  // walk crossed our disconnect and goes on.
  x.recv(1, wire::disconnect{true});
  ASSERT_TRUE(x.is_passive(1));
  auto b = x.recv(1, wire::forward_join{make_peer(8), 4});
  EXPECT_EQ(b.sends<wire::forward_join>().size(), 1u);
  EXPECT_EQ(x.r.counters(x.topic).membership.walks_refused, 2u);
}

namespace {

// Index of the first output satisfying `pred`, or items.size().
template <class Pred>
std::size_t first_index(const batch& b, Pred pred) {
  for (std::size_t i = 0; i < b.items.size(); ++i)
    if (pred(b.items[i].o)) return i;
  return b.items.size();
}

bool is_reply_to(const out::output& o, std::size_t peer) {
  auto* s = std::get_if<out::send>(&o);
  return s && s->to == make_node_id(peer) && std::holds_alternative<wire::shuffle_reply>(s->msg);
}

bool is_data_for(const out::output& o, std::size_t peer) {
  auto* d = std::get_if<out::peer_data>(&o);
  return d && d->info == make_peer(peer);
}

}  // namespace

// HyParView §4.4: the walk's end answers the origin over a temporary
// connection. The origin's addresses (from the shuffle) reach the shell
// before the answer, even when the origin is already a known passive peer;
// it does not become a neighbour, and the connection is let go.
TEST(Hyparview, ShuffleEndAnswersAnOriginThatIsNotANeighbourAtItsAddresses) {
  auto x = with_neighbors(2);
  for (int round = 0; round < 2; ++round) {  // 7 unknown, then 7 passive already
    auto b = x.recv(1, wire::shuffle{make_peer(7), 0, {make_peer(5)}});
    const auto reply = first_index(b, [](const out::output& o) { return is_reply_to(o, 7); });
    ASSERT_LT(reply, b.items.size()) << "round " << round;
    EXPECT_LT(first_index(b, [](const out::output& o) { return is_data_for(o, 7); }), reply) << "round " << round;
    EXPECT_TRUE(b.dropped(make_node_id(7)));
    EXPECT_FALSE(x.is_active(7));
    EXPECT_TRUE(b.all<out::neighbor_up>().empty());
    EXPECT_EQ(b.sends<wire::shuffle_reply>().size(), 1u);  // one answer per shuffle
  }
  EXPECT_TRUE(x.is_passive(7));
  // The origin is a neighbour: the answer goes over that link, nothing to dial.
  auto b = x.recv(1, wire::shuffle{make_peer(2), 0, {make_peer(5)}});
  EXPECT_EQ(b.sends_to<wire::shuffle_reply>(make_node_id(2)).size(), 1u);
  EXPECT_FALSE(b.dropped(make_node_id(2)));
}

TEST(Hyparview, ShuffleFromAStrangerIsRefusedAndAnOriginWithoutAddressIsNotAnswered) {
  auto x = with_neighbors(2);
  auto b = x.recv(42, wire::shuffle{make_peer(7), 0, {make_peer(5)}});
  EXPECT_TRUE(b.sends<wire::shuffle_reply>().empty());
  EXPECT_TRUE(b.sends<wire::shuffle>().empty());
  EXPECT_FALSE(x.is_passive(5));
  EXPECT_FALSE(x.is_passive(7));
  EXPECT_EQ(x.r.counters(x.topic).membership.walks_refused, 1u);

  b = x.recv(1, wire::shuffle{peer_info{make_node_id(7), {}}, 0, {make_peer(5)}});
  EXPECT_TRUE(b.sends<wire::shuffle_reply>().empty());
  EXPECT_EQ(x.r.counters(x.topic).membership.shuffle_replies_withheld, 1u);
  EXPECT_TRUE(x.is_passive(5));  // its list is still taken
}

// Answers that need a dial are budgeted per shuffle period, so a neighbour
// flooding us with walks of made-up origins gets a bounded number of dials.
TEST(Hyparview, AnswersToNonNeighboursAreBoundedPerShufflePeriod) {
  auto x = with_neighbors(2);
  const std::size_t budget = 2 * config{}.membership.active_view_capacity + 2;
  std::size_t answered = 0;
  for (std::size_t i = 0; i < budget + 5; ++i)
    answered += x.recv(1, wire::shuffle{make_peer(100 + i), 0, {make_peer(5)}}).sends<wire::shuffle_reply>().size();
  EXPECT_EQ(answered, budget);
  EXPECT_EQ(x.r.counters(x.topic).membership.shuffle_replies_withheld, 5u);
  // The origin that is a neighbour is still answered over its link.
  EXPECT_EQ(x.recv(1, wire::shuffle{make_peer(1), 0, {make_peer(5)}}).sends<wire::shuffle_reply>().size(), 1u);
  x.now += 60s;
  x.timer(timers::shuffle{});  // a new period
  EXPECT_EQ(x.recv(1, wire::shuffle{make_peer(300), 0, {make_peer(5)}}).sends<wire::shuffle_reply>().size(), 1u);
}

// A neighbour request that timed out let the connection go (drop_peer): an
// acceptance arriving afterwards is declined, so the link never exists on
// one side only (the peer would drop us when it sees the connection close).
TEST(Hyparview, LateAcceptanceAfterTheRequestTimedOutIsDeclined) {
  single x;
  x.connect(1);
  x.recv(1, wire::shuffle{make_peer(7), 0, {make_peer(5), make_peer(6)}});
  x.now += 60s;
  auto b = x.timer(timers::shuffle{});
  auto nb = b.sends<wire::neighbor>();
  ASSERT_FALSE(nb.empty());
  const node_id asked = nb[0].first;
  timers::neighbor_request t{};
  for (const auto& r : b.timers<timers::neighbor_request>())
    if (r.peer == asked) t = r;
  x.now += 500ms;
  b = x.timer(t);
  EXPECT_TRUE(b.dropped(asked));
  b = x.feed(in::received{asked, wire::neighbor_reply{true}});
  EXPECT_FALSE(x.is_active(asked));
  auto disc = b.sends_to<wire::disconnect>(asked);
  ASSERT_EQ(disc.size(), 1u);
  EXPECT_TRUE(disc[0].alive);
  EXPECT_TRUE(b.all<out::neighbor_up>().empty());
}

// ------------------------------------------------ eclipse: address ranges --

namespace {

endpoint at_address(std::uint8_t a, std::uint8_t b, std::uint8_t c, std::uint8_t d) {
  return endpoint::v4({a, b, c, d}, 4000);
}

std::size_t active_from(const single& x, std::size_t first, std::size_t last) {
  std::size_t n = 0;
  for (std::size_t p = first; p <= last; ++p) n += x.is_active(p) ? 1 : 0;
  return n;
}

}  // namespace

// Many identities connecting from one /24 (one machine, one network) get at
// most max_active_per_range of our neighbours, whether they join, ask with
// high priority (which would evict) or with low priority.
TEST(Hyparview, OneAddressRangeCannotFillTheActiveView) {
  single x;
  // Two honest neighbours from ranges of their own.
  x.r.peer_source(make_node_id(1), at_address(198, 51, 100, 7));
  x.r.peer_source(make_node_id(2), at_address(192, 0, 2, 9));
  x.connect(1);
  x.connect(2);
  // Ten identities, all from 203.0.113.0/24.
  for (std::size_t p = 20; p < 30; ++p) {
    x.r.peer_source(make_node_id(p), at_address(203, 0, 113, static_cast<std::uint8_t>(p)));
    auto b = p % 2 == 0 ? x.recv(p, wire::join{make_peer(p).addresses})
                        : x.recv(p, wire::neighbor{priority::high, make_peer(p).addresses});
    if (p >= 22) {
      auto replies = b.sends_to<wire::neighbor_reply>(make_node_id(p));
      ASSERT_EQ(replies.size(), 1u);
      EXPECT_FALSE(replies[0].accepted);
      EXPECT_TRUE(b.sends<wire::forward_join>().empty());  // a refused join is not spread either
      EXPECT_TRUE(b.all<out::neighbor_down>().empty());    // and evicts nobody
    }
  }
  EXPECT_EQ(active_from(x, 20, 29), 2u);
  EXPECT_TRUE(x.is_active(1));
  EXPECT_TRUE(x.is_active(2));
  EXPECT_EQ(x.r.counters(x.topic).membership.active_range_refusals, 8u);
  // A neighbour from the range leaves: another of it may take the place.
  x.recv(20, wire::disconnect{false});
  EXPECT_TRUE(x.recv(23, wire::neighbor{priority::low, make_peer(23).addresses})
                  .sends_to<wire::neighbor_reply>(make_node_id(23))[0]
                  .accepted);
  EXPECT_EQ(active_from(x, 20, 29), 2u);
}

// Our own request to a peer that turns out to connect from a full range is
// declined after it accepts (it keeps us as a passive peer, as with a late
// acceptance), so views stay symmetric.
TEST(Hyparview, AnAcceptanceFromAFullRangeIsDeclined) {
  single x;
  for (std::size_t p = 1; p <= 2; ++p) {
    x.r.peer_source(make_node_id(p), at_address(203, 0, 113, static_cast<std::uint8_t>(p)));
    x.connect(p);
  }
  x.feed(in::join_peers{{make_peer(7)}});
  x.r.peer_source(make_node_id(7), at_address(203, 0, 113, 77));
  auto b = x.recv(7, wire::neighbor_reply{true});
  EXPECT_FALSE(x.is_active(7));
  EXPECT_EQ(b.sends_to<wire::disconnect>(make_node_id(7)).size(), 1u);
  EXPECT_EQ(x.r.counters(x.topic).membership.active_range_refusals, 1u);
}

// Passive entries are counted by the first address they list: one range
// gets at most max_passive_per_range of the passive view.
TEST(Hyparview, OneAddressRangeCannotFillThePassiveView) {
  auto x = with_neighbors(5);  // full: low-priority requests are refused and kept as passive peers
  for (std::size_t p = 40; p < 60; ++p) {
    const peer_info sybil{make_node_id(p), {at_address(203, 0, 113, static_cast<std::uint8_t>(p))}};
    x.recv(p, wire::neighbor{priority::low, sybil.addresses});
  }
  std::size_t kept = 0;
  for (std::size_t p = 40; p < 60; ++p) kept += x.is_passive(p) ? 1 : 0;
  EXPECT_EQ(kept, config{}.membership.max_passive_per_range);
  EXPECT_EQ(x.r.counters(x.topic).membership.passive_range_refusals, 20u - kept);
  // Other ranges still get in.
  x.recv(70, wire::neighbor{priority::low, {at_address(198, 51, 100, 70)}});
  EXPECT_TRUE(x.is_passive(70));
}

// Loopback, link-local and private ranges are exempt by default (a LAN or a
// local testnet is one range), limited when limit_local_ranges is set.
TEST(Hyparview, LocalRangesAreExemptUnlessLimited) {
  for (bool limit : {false, true}) {
    config cfg;
    cfg.membership.limit_local_ranges = limit;
    single x(0, cfg);
    for (std::size_t p = 1; p <= 5; ++p) {
      x.r.peer_source(make_node_id(p), at_address(192, 168, 1, static_cast<std::uint8_t>(p)));
      x.connect(p);
    }
    EXPECT_EQ(active_from(x, 1, 5), limit ? 2u : 5u) << "limit_local_ranges=" << limit;
  }
}
