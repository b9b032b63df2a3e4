// HyParView's two walks across several hops, in the simulator, where (as in
// the node shell) a node can dial a peer only at an address it was given: a
// join contact, or an address its core handed over with out::peer_data.
//
//  - forward_join: the node where the walk ends "adds the new node to its
//    active view" (HyParView §4.2), even if it never heard of the joiner
//    before: it must reach the joiner at the addresses the walk carried.
//  - shuffle: the node where the walk stops answers the origin "using a
//    temporary TCP connection" (§4.4), whether or not the origin is its
//    neighbour; the origin integrates the answer; the replier does not make
//    the origin a neighbour and lets the connection go.
#include "sim_test_support.hpp"

#include "gossip/router.hpp"
#include "gossip/topic_state.hpp"
#include "sim/node_protocol.hpp"
#include "sim/simulator.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

using namespace topicswarm;
using namespace topicswarm::sim;
using namespace std::chrono_literals;
using sim::test_support::test_seeds;

namespace {

bool contains(const std::vector<node_id>& v, const node_id& id) { return std::find(v.begin(), v.end(), id) != v.end(); }

// Links of 10-50 ms: a neighbour request to a peer we must dial first (one
// handshake round trip, then the request and its answer; two handshakes when
// the answer also needs a fresh connection) then fits in the default 500 ms
// request timeout. What happens when it does not (the link is given up,
// symmetrically) is not what these tests are about.
link_config links() {
  link_config l;
  l.latency_max = 50ms;
  return l;
}

struct overlay {
  gossip::config cfg;
  simulator sim;
  topic_index topic;

  explicit overlay(std::uint64_t seed, gossip::config c = {})
      : cfg(c), sim(sim_config{seed, links(), nat_config{}}, router_factory(c)) {
    topic = sim.add_topic(topic_id_from_name("hyparview-walks"));
  }

  // `n` nodes; node 0 starts alone, every other one joins through one random
  // earlier node, 100 ms apart; then the overlay settles.
  void build(std::size_t n, core::duration settle) {
    for (std::size_t i = 0; i < n; ++i) {
      const node_index v = sim.add_node();
      if (v == 0) {
        sim.join(v, topic, {});
      } else {
        const node_index contact[] = {static_cast<node_index>(sim.rng()() % v)};
        sim.join(v, topic, contact);
      }
      sim.run_for(100ms);
    }
    sim.run_for(settle);
  }

  const gossip::hyparview& membership(node_index n) const {
    return as_router(sim.protocol(n))->find(sim.topic(topic))->membership();
  }
  std::vector<node_id> active(node_index n) const { return sim.protocol(n).active_view(sim.topic(topic)); }
  std::vector<node_id> passive(node_index n) const { return sim.protocol(n).passive_view(sim.topic(topic)); }

  // The member with the most neighbours (lowest index on a tie): a contact
  // whose forward_joins start several walks.
  node_index best_connected(std::size_t members) const {
    node_index best = 0;
    for (node_index v = 1; v < members; ++v)
      if (active(v).size() > active(best).size()) best = v;
    return best;
  }
};

// What a node was handling when its router produced an output: the message
// the simulator just fed it (delivery hooks run before the router, output
// hooks while its outputs are performed, both within one event).
struct handling {
  std::uint64_t event = ~std::uint64_t{0};
  node_index node = no_node, from = no_node;
  gossip::wire::message msg;
  bool knew_peer = false;  // the node knew the walk's subject's address before the message
  bool peer_was_active = false;
  bool is(const simulator& sim, node_index n) const { return sim.events_processed() == event && node == n; }
};

}  // namespace

// A joiner J contacts the best-connected node C; C sends forward_join{J, ARWL}
// to each other neighbour, and each walk travels up to ARWL + 1 hops. Where a
// walk ends the node asks J to be its neighbour (priority high: J must
// accept). That node usually never heard of J: it must dial J at the
// addresses in the forward_join, and the link must come up.
TEST(HyparviewSim, ForwardJoinWalkEndingAtANodeThatDoesNotKnowTheJoinerGivesANeighbour) {
  std::size_t stranger_ends = 0, long_walks = 0;
  for (auto seed : test_seeds()) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    overlay w(seed);
    constexpr std::size_t members = 20;
    w.build(members, 20s);
    const node_index contact = w.best_connected(members);
    ASSERT_GE(w.active(contact).size(), 3u) << "the contact must start several walks";
    const node_index joiner = w.sim.add_node();
    const node_id joiner_id = w.sim.info(joiner).id;

    struct walk_end {
      node_index at;
      unsigned hops;  // contact -> first node is hop 1
      bool knew;
    };
    std::vector<walk_end> ends;
    std::map<node_index, bool> linked;  // nodes that had the joiner as a neighbour
    handling h;
    w.sim.add_delivery_hook([&](node_index from, node_index to, topic_index, const gossip::wire::message& m) {
      auto* fj = std::get_if<gossip::wire::forward_join>(&m);
      if (!fj || fj->peer.id != joiner_id) return;
      h = {w.sim.events_processed(), to, from, m, w.sim.knows_address(to, joiner), false};
    });
    w.sim.add_output_hook([&](node_index n, const gossip::routed& r) {
      if (auto* up = std::get_if<gossip::out::neighbor_up>(&r.o); up && up->peer == joiner_id) linked[n] = true;
      auto* s = std::get_if<gossip::out::send>(&r.o);
      if (!s || s->to != joiner_id || !h.is(w.sim, n)) return;
      auto* nb = std::get_if<gossip::wire::neighbor>(&s->msg);
      if (!nb) return;
      EXPECT_EQ(nb->prio, gossip::priority::high);
      const auto ttl = std::get<gossip::wire::forward_join>(h.msg).ttl;
      ends.push_back({n, static_cast<unsigned>(w.cfg.membership.active_random_walk_length - ttl + 1), h.knew_peer});
    });

    const node_index contacts[] = {contact};
    w.sim.join(joiner, w.topic, contacts);
    w.sim.run_for(10s);

    ASSERT_FALSE(ends.empty()) << "no forward_join walk ended in a neighbour request";
    for (const auto& e : ends) {
      if (!e.knew) ++stranger_ends;
      if (e.hops >= 3) ++long_walks;
      EXPECT_TRUE(linked[e.at]) << "the walk ended at n" << e.at << " after " << e.hops << " hops"
                                << (e.knew ? "" : " (it did not know the joiner)")
                                << ", but the joiner never became its neighbour";
    }
    EXPECT_GE(w.active(joiner).size(), 2u);
  }
  std::printf("[ sim      ] forward_join walk ends: %zu at nodes that did not know the joiner, %zu after 3+ hops\n",
              stranger_ends, long_walks);
  // The property is about strangers and multi-hop walks: make sure the runs had them.
  EXPECT_GE(stranger_ends, 2u);
  EXPECT_GE(long_walks, 4u);
}

// Every node shuffles through a random neighbour; the walk goes up to
// shuffle_random_walk_length + 1 hops and stops at a node that usually is
// not the origin's neighbour (nor knew its address). That node must answer
// the origin anyway, at the addresses in the shuffle, without making it a
// neighbour, and let the connection go; the origin integrates the answer.
TEST(HyparviewSim, ShuffleReplyReachesAnOriginThatIsNotANeighbourOfTheReplier) {
  std::size_t stranger_replies = 0, long_walks = 0, integrated = 0;
  for (auto seed : test_seeds()) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    overlay w(seed);

    struct reply {
      std::uint64_t event = 0;
      node_index from = no_node, to = no_node;
      unsigned hops = 0;
      bool stranger = false;  // the origin was not the replier's neighbour and it knew no address of it
      bool used = false;  // the replier still needed a connection to the origin afterwards
      bool dropped = false, delivered = false, made_neighbor = false;
      bool awaited = false;     // the origin was waiting for an answer when it arrived
      bool integrated = false;  // ... and then held every listed peer in a view
      std::vector<node_id> nodes;
    };
    std::vector<reply> replies;
    bool recording = true;  // replies sent after the bootstrap and three periods are not judged
    handling h;
    w.sim.add_delivery_hook([&](node_index from, node_index to, topic_index, const gossip::wire::message& m) {
      if (auto* sh = std::get_if<gossip::wire::shuffle>(&m)) {
        const node_index origin = w.sim.index_of(sh->origin.id);
        h = {w.sim.events_processed(), to, from, m, w.sim.knows_address(to, origin),
             contains(w.active(to), sh->origin.id)};
        return;
      }
      auto* sr = std::get_if<gossip::wire::shuffle_reply>(&m);
      if (!sr) return;
      // The answer to a walk: match it to the latest reply sent between the
      // pair (an earlier one may have been lost; walks are seconds apart).
      for (std::size_t i = replies.size(); i-- > 0;) {
        auto& r = replies[i];
        if (r.from != from || r.to != to || r.delivered) continue;
        r.delivered = true;
        r.awaited = w.membership(to).awaiting_shuffle_reply();
        // Right after the origin handled it: every listed peer is now in
        // one of its views.
        w.sim.schedule(0s, [&w, &replies, i] {
          auto& x = replies[i];
          const auto act = w.active(x.to), pas = w.passive(x.to);
          x.integrated = std::all_of(x.nodes.begin(), x.nodes.end(), [&](const node_id& p) {
            return p == w.sim.info(x.to).id || contains(act, p) || contains(pas, p);
          });
        });
        break;
      }
    });
    w.sim.add_output_hook([&](node_index n, const gossip::routed& r) {
      if (!recording || !h.is(w.sim, n)) return;
      const auto& sh = std::get<gossip::wire::shuffle>(h.msg);
      const node_index origin = w.sim.index_of(sh.origin.id);
      if (auto* up = std::get_if<gossip::out::neighbor_up>(&r.o); up && up->peer == sh.origin.id && !replies.empty() &&
                                                                  replies.back().event == h.event)
        replies.back().made_neighbor = true;
      if (auto* d = std::get_if<gossip::out::drop_peer>(&r.o); d && d->peer == sh.origin.id && !replies.empty() &&
                                                               replies.back().event == h.event)
        replies.back().dropped = true;
      auto* s = std::get_if<gossip::out::send>(&r.o);
      if (!s || s->to != sh.origin.id) return;
      auto* sr = std::get_if<gossip::wire::shuffle_reply>(&s->msg);
      if (!sr) return;
      reply rep;
      rep.event = h.event;
      rep.from = n;
      rep.to = origin;
      rep.hops = static_cast<unsigned>(w.cfg.membership.shuffle_random_walk_length - sh.ttl + 1);
      rep.stranger = !h.peer_was_active && !h.knew_peer;
      rep.used = w.membership(n).uses(sh.origin.id);  // outputs are performed after the router returned
      for (const auto& p : sr->nodes) rep.nodes.push_back(p.id);
      replies.push_back(std::move(rep));
    });

    w.build(25, 3min);  // three shuffle periods
    recording = false;
    w.sim.run_for(5s);  // answers still on their way arrive

    ASSERT_FALSE(replies.empty());
    for (const auto& r : replies) {
      if (r.stranger) ++stranger_replies;
      if (r.stranger && r.hops >= 3) ++long_walks;
      if (r.stranger && r.integrated) ++integrated;
      const std::string what = "shuffle reply n" + std::to_string(r.from) + " -> origin n" + std::to_string(r.to) +
                               " after " + std::to_string(r.hops) + " hops" + (r.stranger ? " (a stranger)" : "");
      EXPECT_TRUE(r.delivered) << what << " never reached the origin";
      // An origin integrates the answer it waits for. (It waits for one at a
      // time: a newcomer's first walk is answered after the contact's list,
      // which it took instead.)
      if (r.awaited) {
        EXPECT_TRUE(r.integrated) << what << " was not integrated by the origin";
      }
      EXPECT_FALSE(r.made_neighbor) << what << ": the replier made the origin a neighbour";
      // A temporary connection: the replier lets it go unless it uses the
      // origin for something else (a neighbour, or a request in flight).
      EXPECT_TRUE(r.dropped || r.used) << what << ": the replier kept the connection";
    }
  }
  std::printf("[ sim      ] shuffle replies to origins the replier neither had as neighbour nor knew: %zu, "
              "%zu of them after 3+ hops, %zu integrated\n",
              stranger_replies, long_walks, integrated);
  EXPECT_GE(stranger_replies, 8u);
  EXPECT_GE(integrated, stranger_replies / 2);
  EXPECT_GE(long_walks, 4u);
}
