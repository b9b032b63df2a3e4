// The network discovery core (src/discovery/discovery, docs/PROTOCOL.md
// §14-18) as a pure state machine. A small pump drives several cores in
// virtual time: frames go straight to their peer, a broadcast reaches every
// other running core (what the gossip overlay guarantees once connected),
// a join makes both sides neighbours, and the DHT is a map that keeps the
// value of the highest seq per (key, salt), as BEP 44 nodes do.
#include "discovery/discovery.hpp"

#include "core/timer_queue.hpp"
#include "discovery/rtt.hpp"
#include "endpoint_support.hpp"

#include <gtest/gtest.h>

#include <deque>
#include <map>
#include <memory>

namespace topicswarm::discovery {
namespace {

using namespace std::chrono_literals;
using test_support::ep;

// 2027-01-15 08:00 UTC: the start of a chain epoch (both epochs are read then).
constexpr std::uint64_t t0_unix_ms = 1'800'000'000'000 - 1'800'000'000'000 % 3'600'000;

struct node {
  identity id = identity::generate();
  std::unique_ptr<state> core;
  core::timer_queue<timers::timer> timers;
  std::int64_t clock_offset_ms = 0;  // this node's wall clock minus the true one
  bool alive = true;
  std::vector<out::peer_discovered> discovered;
  std::vector<out::peer_updated> updated;
  std::vector<out::peer_departed> departed;
};

struct pump {
  std::deque<node> nodes;
  core::instant now{};
  std::uint64_t unix_ms = t0_unix_ms;
  std::map<std::pair<public_key, bytes>, std::pair<bytes, std::int64_t>> dht;
  std::size_t dht_gets = 0, dht_puts = 0;
  bool connect_on_join = true;
  // Frames to a node that is not in `nodes` (a hostile peer the test plays).
  std::vector<std::pair<node_id, wire::message>> to_outsider;
  std::deque<std::pair<std::size_t, in::input>> queue;

  core::clock clock_of(const node& n) const {
    return {now, static_cast<std::uint64_t>(static_cast<std::int64_t>(unix_ms) + n.clock_offset_ms)};
  }
  node& add(const std::string& network = "net", const secret_hash* key = nullptr, config cfg = {},
            std::vector<std::string> tags = {}) {
    auto& n = nodes.emplace_back();
    setup s;
    s.network = network_id_from_name(network);
    s.key = key ? *key : open_topic_key(network_topic_id(s.network));
    s.start_ms = unix_ms;
    auto a = ep("127.0.0.1:1000");
    a.port = static_cast<std::uint16_t>(1000 + nodes.size());
    s.addresses = {a};
    s.tags = std::move(tags);
    n.core = std::make_unique<state>(n.id, s, cfg, nodes.size());
    return n;
  }
  std::size_t index_of(const node_id& id) const {
    for (std::size_t i = 0; i < nodes.size(); ++i)
      if (nodes[i].id.id() == id) return i;
    return nodes.size();
  }
  void input(std::size_t i, in::input in) {
    queue.emplace_back(i, std::move(in));
    drain();
  }
  void drain() {
    while (!queue.empty()) {
      auto [i, in] = std::move(queue.front());
      queue.pop_front();
      auto& n = nodes[i];
      if (!n.alive) continue;
      std::vector<out::output> out;
      n.core->handle(std::move(in), clock_of(n), out);
      for (auto& o : out) perform(i, o);
    }
  }
  void connect(std::size_t a, std::size_t b) {
    queue.emplace_back(a, in::neighbor{nodes[b].id.id(), true});
    queue.emplace_back(b, in::neighbor{nodes[a].id.id(), true});
  }
  void perform(std::size_t i, out::output& o) {
    auto& n = nodes[i];
    const node_id from = n.id.id();
    std::visit(
        [&](auto& v) {
          using T = std::decay_t<decltype(v)>;
          if constexpr (std::is_same_v<T, out::send>) {
            const auto j = index_of(v.to);
            if (j == nodes.size())
              to_outsider.emplace_back(v.to, v.msg);
            else
              queue.emplace_back(j, in::frame{from, v.msg});
          } else if constexpr (std::is_same_v<T, out::broadcast>) {
            for (std::size_t j = 0; j < nodes.size(); ++j)
              if (j != i && nodes[j].alive && nodes[j].core->neighbors().size() + nodes[j].core->peers().size() > 0)
                queue.emplace_back(j, in::announce_received{from, v.content});
          } else if constexpr (std::is_same_v<T, out::join>) {
            for (const auto& p : v.peers) {
              const auto j = index_of(p.id);
              if (j == nodes.size() || !nodes[j].alive || !connect_on_join)
                queue.emplace_back(i, in::unreachable{p.id});
              else
                connect(i, j);
            }
          } else if constexpr (std::is_same_v<T, out::dht_get>) {
            ++dht_gets;
            auto it = dht.find({v.key, v.salt});
            in::dht_got g{v.request, std::nullopt, 0};
            if (it != dht.end()) {
              g.value = it->second.first;
              g.seq = it->second.second;
            }
            queue.emplace_back(i, std::move(g));
          } else if constexpr (std::is_same_v<T, out::dht_put>) {
            ++dht_puts;
            auto& slot = dht[{v.signer.public_key(), v.salt}];
            const bool stored = slot.first.empty() || v.seq > slot.second;
            if (stored) slot = {v.value, v.seq};
            queue.emplace_back(i, in::dht_put_done{v.request, stored});
          } else if constexpr (std::is_same_v<T, out::schedule>) {
            n.timers.add(now + v.after, v.t);
          } else if constexpr (std::is_same_v<T, out::peer_discovered>) {
            n.discovered.push_back(v);
          } else if constexpr (std::is_same_v<T, out::peer_updated>) {
            n.updated.push_back(v);
          } else if constexpr (std::is_same_v<T, out::peer_departed>) {
            n.departed.push_back(v);
          }
        },
        o);
  }
  // Runs every timer due within `d`, in deadline order.
  void advance(core::duration d) {
    const auto end = now + d;
    for (;;) {
      std::optional<core::instant> next;
      for (auto& n : nodes)
        if (n.alive && n.timers.next() && (!next || *n.timers.next() < *next)) next = n.timers.next();
      if (!next || *next > end) break;
      unix_ms += static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(*next - now).count());
      now = *next;
      for (std::size_t i = 0; i < nodes.size(); ++i) {
        if (!nodes[i].alive) continue;
        for (auto& t : nodes[i].timers.take_due(now)) queue.emplace_back(i, in::timer_fired{t});
      }
      drain();
    }
    unix_ms += static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(end - now).count());
    now = end;
  }
  void start(std::size_t i) { input(i, in::start{}); }
};

config no_chain() {
  config c;
  c.chain = false;
  return c;
}

TEST(discovery_core, TwoNeighboursCatalogEachOther) {
  pump p;
  p.add("net", nullptr, no_chain(), {"alpha"});
  p.add("net", nullptr, no_chain(), {"beta"});
  p.start(0);
  p.start(1);
  p.connect(0, 1);
  p.drain();
  for (std::size_t i = 0; i < 2; ++i) {
    const auto& other = p.nodes[1 - i];
    ASSERT_EQ(p.nodes[i].core->peers().size(), 1u) << i;
    const auto* e = p.nodes[i].core->peers().find(other.id.id());
    ASSERT_NE(e, nullptr);
    EXPECT_EQ(e->entry.tags, std::vector<std::string>{i == 0 ? "beta" : "alpha"});
    ASSERT_EQ(p.nodes[i].discovered.size(), 1u);
    EXPECT_EQ(p.nodes[i].discovered[0].entry.node, other.id.id());
    EXPECT_EQ(p.nodes[i].core->stats().syncs_completed, 1u);
  }
}

TEST(discovery_core, ANewcomerSyncsTheWholeCatalogInPagesAndOnlyWhatIsNewer) {
  pump p;
  // 600 peers announce to node 0 (their entries signed by their own keys).
  p.add("net", nullptr, no_chain());
  p.start(0);
  const auto wire = p.nodes[0].core->wire_id();
  std::vector<identity> others;
  std::vector<bytes> announces;
  for (int i = 0; i < 600; ++i) {
    auto& id = others.emplace_back(identity::generate());
    auto s = sign_entry(peer_entry{wire, id.id(), {1, p.unix_ms}, {ep("127.0.0.1:7")}, {}, {}}, id);
    ASSERT_TRUE(s);
    announces.push_back(wire::encode_announce(wire::announce_entry{s->encoded}));
    std::vector<out::output> ignored;
    p.nodes[0].core->handle(in::announce_received{id.id(), announces.back()}, p.clock_of(p.nodes[0]), ignored);
  }
  ASSERT_EQ(p.nodes[0].core->peers().size(), 600u);
  p.add("net", nullptr, no_chain());
  p.start(1);
  p.connect(0, 1);
  p.drain();
  const auto& b = *p.nodes[1].core;
  EXPECT_EQ(b.peers().size(), 601u);        // the 600 and node 0 itself
  EXPECT_EQ(b.stats().pages_received, 3u);  // 601 digests, 256 a page
  EXPECT_EQ(b.stats().entries_fetched, 601u);
  EXPECT_EQ(b.stats().syncs_completed, 1u);
  EXPECT_EQ(b.stats().entries_invalid, 0u);
  // A newcomer that heard 400 of them already fetches only the others.
  p.add("net", nullptr, no_chain());
  p.start(2);
  for (int i = 0; i < 400; ++i) {
    std::vector<out::output> ignored;
    p.nodes[2].core->handle(in::announce_received{others[i].id(), announces[i]}, p.clock_of(p.nodes[2]), ignored);
  }
  p.connect(1, 2);
  p.drain();
  const auto& c = *p.nodes[2].core;
  EXPECT_EQ(c.peers().size(), 602u);
  EXPECT_EQ(c.stats().entries_fetched, 202u);  // 200 of the 600, node 0, node 1
  EXPECT_EQ(c.stats().syncs_completed, 1u);
}

// A hostile responder mixes bad entries into its pages: each is dropped
// alone and counted, every good one arrives.
TEST(discovery_core, HostileEntriesInASyncAreDroppedAloneAndTheRestArrives) {
  pump p;
  p.add("net", nullptr, no_chain());
  p.start(0);
  const auto wire = p.nodes[0].core->wire_id();
  auto liar = identity::generate();
  std::vector<identity> good;
  std::map<node_id, bytes> entries;
  for (int i = 0; i < 40; ++i) {
    auto& id = good.emplace_back(identity::generate());
    entries[id.id()] = sign_entry(peer_entry{wire, id.id(), {1, p.unix_ms}, {}, {}, {}}, id)->encoded;
  }
  // Bad ones, listed in the digests like the rest:
  auto forged_id = identity::generate();  // signed by someone else
  auto forged = sign_entry(peer_entry{wire, liar.id(), {1, p.unix_ms}, {}, {}, {}}, liar)->encoded;
  const auto forged_node = forged_id.id();
  std::copy(forged_node.span().begin(), forged_node.span().end(), forged.begin() + 33);
  entries[forged_id.id()] = forged;
  auto garbage_id = identity::generate();
  entries[garbage_id.id()] = bytes(300, std::byte{0x5a});
  auto other_net = identity::generate();  // another network's entry
  entries[other_net.id()] =
      sign_entry(peer_entry{topic_id_from_name("other"), other_net.id(), {1, p.unix_ms}, {}, {}, {}}, other_net)
          ->encoded;
  auto future = identity::generate();  // a clock an hour ahead
  entries[future.id()] =
      sign_entry(peer_entry{wire, future.id(), {1, p.unix_ms + 3'600'000}, {}, {}, {}}, future)->encoded;
  auto unasked = identity::generate();  // never listed, slipped into a response
  const auto unasked_entry = sign_entry(peer_entry{wire, unasked.id(), {1, p.unix_ms}, {}, {}, {}}, unasked)->encoded;

  p.input(0, in::neighbor{liar.id(), true});
  // Play the liar: answer what node 0 asks until it stops asking.
  for (int rounds = 0; rounds < 100 && !p.to_outsider.empty(); ++rounds) {
    auto asks = std::move(p.to_outsider);
    p.to_outsider.clear();
    for (auto& [to, m] : asks) {
      if (auto* r = std::get_if<wire::digest_request>(&m)) {
        wire::digest_page page{r->req, false, {}};
        for (const auto& [n, b] : entries)
          if (!r->after || n > *r->after) page.items.push_back({n, 1, p.unix_ms});
        p.input(0, in::frame{liar.id(), page});
      } else if (auto* f = std::get_if<wire::fetch_request>(&m)) {
        wire::fetch_response resp{f->req, {}};
        for (const auto& n : f->nodes) resp.entries.push_back(entries.at(n));
        resp.entries.push_back(unasked_entry);
        p.input(0, in::frame{liar.id(), resp});
      }
    }
  }
  const auto& a = *p.nodes[0].core;
  for (const auto& id : good) EXPECT_TRUE(a.peers().contains(id.id()));
  EXPECT_EQ(a.peers().size(), 40u);
  EXPECT_EQ(a.stats().entries_invalid, 1u);  // forged: names a node we asked for, signature fails
  EXPECT_EQ(a.stats().other_network, 1u);
  EXPECT_EQ(a.stats().clock_ahead, 1u);
  // The garbage names no node we asked for (its bytes where the id goes),
  // like the entry slipped into every response: dropped without crypto.
  EXPECT_GE(a.stats().entries_unasked, 2u);
  EXPECT_FALSE(a.peers().contains(garbage_id.id()));
  EXPECT_FALSE(a.peers().contains(unasked.id()));
  EXPECT_EQ(a.stats().syncs_completed, 1u);
}

TEST(discovery_core, GracefulDepartureIsHonouredOnlyWhenCurrent) {
  pump p;
  p.add("net", nullptr, no_chain());
  p.add("net", nullptr, no_chain());
  p.add("net", nullptr, no_chain());
  for (std::size_t i = 0; i < 3; ++i) p.start(i);
  p.connect(0, 1);
  p.connect(1, 2);
  p.drain();
  ASSERT_TRUE(p.nodes[0].core->peers().contains(p.nodes[2].id.id()));
  // A replayed departure of node 2 for an older version changes nothing.
  auto& two = p.nodes[2];
  auto old = sign_departure({two.core->wire_id(), two.id.id(), {two.core->local().entry.version.start_ms, 1}}, two.id);
  p.input(0, in::announce_received{two.id.id(), wire::encode_announce(wire::announce_departure{*old})});
  EXPECT_TRUE(p.nodes[0].core->peers().contains(two.id.id()));
  EXPECT_EQ(p.nodes[0].core->stats().departures_stale, 1u);
  p.input(2, in::stop{});
  p.nodes[2].alive = false;
  for (std::size_t i = 0; i < 2; ++i) {
    EXPECT_FALSE(p.nodes[i].core->peers().contains(two.id.id())) << i;
    ASSERT_FALSE(p.nodes[i].departed.empty());
    EXPECT_EQ(p.nodes[i].departed.back().peer, two.id.id());
    EXPECT_EQ(p.nodes[i].departed.back().cause, departure_cause::graceful);
  }
}

TEST(discovery_core, ACrashedPeerIsPurgedAndAnnouncesKeepTheLivingFresh) {
  pump p;
  for (int i = 0; i < 3; ++i) p.add("net", nullptr, no_chain());
  for (std::size_t i = 0; i < 3; ++i) p.start(i);
  p.connect(0, 1);
  p.connect(0, 2);
  p.drain();
  p.nodes[2].alive = false;  // SIGKILL: no departure
  p.advance(299s);
  EXPECT_TRUE(p.nodes[0].core->peers().contains(p.nodes[2].id.id()));
  p.advance(120s);
  EXPECT_FALSE(p.nodes[0].core->peers().contains(p.nodes[2].id.id()));
  ASSERT_FALSE(p.nodes[0].departed.empty());
  EXPECT_EQ(p.nodes[0].departed.back().cause, departure_cause::purged);
  // Node 1 announced every 45 s +- 50 %: still there after 7 minutes.
  EXPECT_TRUE(p.nodes[0].core->peers().contains(p.nodes[1].id.id()));
  EXPECT_GE(p.nodes[1].core->stats().announces_sent, 6u);
}

TEST(discovery_core, AClockFarAheadIsDroppedAndCounted) {
  pump p;
  p.add("net", nullptr, no_chain());
  auto& skewed = p.add("net", nullptr, no_chain());
  skewed.clock_offset_ms = 60'000;
  p.start(0);
  p.start(1);
  p.connect(0, 1);
  p.drain();
  EXPECT_FALSE(p.nodes[0].core->peers().contains(p.nodes[1].id.id()));
  EXPECT_GE(p.nodes[0].core->stats().clock_ahead, 1u);
  // The skewed node sees node 0 a minute behind: synced entries may be old.
  EXPECT_TRUE(p.nodes[1].core->peers().contains(p.nodes[0].id.id()));
}

TEST(discovery_core, RequestsOverThePeersBudgetAreDroppedAndCounted) {
  pump p;
  p.add("net", nullptr, no_chain());
  p.start(0);
  auto stranger = identity::generate();
  for (int i = 0; i < 200; ++i) p.input(0, in::frame{stranger.id(), wire::ping{static_cast<std::uint64_t>(i)}});
  std::size_t pongs = 0;
  for (const auto& [to, m] : p.to_outsider) pongs += std::holds_alternative<wire::pong>(m) ? 1 : 0;
  EXPECT_EQ(pongs, 128u);
  EXPECT_EQ(p.nodes[0].core->stats().requests_over_budget, 72u);
  // Refilled at 16 a second.
  p.advance(1s);
  p.to_outsider.clear();
  for (int i = 0; i < 20; ++i) p.input(0, in::frame{stranger.id(), wire::ping{static_cast<std::uint64_t>(i)}});
  EXPECT_EQ(p.to_outsider.size(), 16u);
}

TEST(discovery_core, AWrongNetworkDigestRequestIsRefused) {
  pump p;
  p.add("net", nullptr, no_chain());
  p.start(0);
  auto stranger = identity::generate();
  p.input(0, in::frame{stranger.id(), wire::digest_request{1, topic_id_from_name("x"), std::nullopt, 256}});
  EXPECT_TRUE(p.to_outsider.empty());
  EXPECT_EQ(p.nodes[0].core->stats().requests_wrong_network, 1u);
}

TEST(discovery_core, VersionChangesAreAnnouncedAndMonotonicWhenTheClockStepsBack) {
  pump p;
  p.add("net", nullptr, no_chain());
  p.add("net", nullptr, no_chain());
  p.start(0);
  p.start(1);
  p.connect(0, 1);
  p.drain();
  auto& a = p.nodes[0];
  const auto v1 = a.core->local().entry.version;
  a.clock_offset_ms = -10'000;  // the clock steps back 10 s
  p.advance(2s);
  p.input(0, in::set_tags{{"moved"}});
  const auto v2 = a.core->local().entry.version;
  EXPECT_GT(v2, v1);
  EXPECT_EQ(v2.start_ms, v1.start_ms);
  const auto* seen = p.nodes[1].core->peers().find(a.id.id());
  ASSERT_NE(seen, nullptr);
  EXPECT_EQ(seen->entry.tags, std::vector<std::string>{"moved"});
  ASSERT_FALSE(p.nodes[1].updated.empty());
  EXPECT_EQ(p.nodes[1].updated.back().entry.tags, std::vector<std::string>{"moved"});
}

TEST(discovery_core, ThroughTheChainAloneNodesFindEachOtherAndAnotherKeyStaysAlone) {
  pump p;
  config cfg;  // chain on
  for (int i = 0; i < 6; ++i) p.add("net", nullptr, cfg);
  const secret_hash other_key = *secret_hash::from_span(bytes(32, std::byte{9}));
  p.add("net", &other_key, cfg);
  // Started a second apart, as people do.
  for (std::size_t i = 0; i < p.nodes.size(); ++i) {
    p.start(i);
    p.advance(1s);
  }
  p.advance(60s);
  for (std::size_t i = 0; i < 6; ++i) EXPECT_EQ(p.nodes[i].core->peers().size(), 5u) << "node " << i;
  EXPECT_EQ(p.nodes[6].core->peers().size(), 0u);
  EXPECT_TRUE(p.nodes[6].core->neighbors().empty());
  std::uint64_t claims = 0;
  for (std::size_t i = 0; i < 6; ++i) claims += p.nodes[i].core->stats().chain_claims;
  EXPECT_GE(claims, 1u);
  // The other key's node reads only its own chain: its own record, no peer.
  EXPECT_EQ(p.nodes[6].core->stats().chain_peers_healthy + p.nodes[6].core->stats().chain_peers_unhealthy, 0u);
  EXPECT_EQ(p.nodes[6].core->stats().chain_claims, 1u);
  for (std::size_t i = 0; i < 6; ++i) EXPECT_FALSE(p.nodes[i].core->peers().contains(p.nodes[6].id.id()));
}

// Issue 16 item 6: a node whose addresses change (a new network, a port
// mapping confirmed) announces them at once, and rewrites its chain slot at
// once instead of at the next round.
TEST(discovery_core, ANodeWhoseAddressesChangeAnnouncesThemAndRewritesItsChainSlot) {
  pump p;
  config cfg;  // chain on
  p.add("net", nullptr, cfg);
  p.add("net", nullptr, cfg);
  p.start(0);
  p.advance(1s);
  p.start(1);
  p.connect(0, 1);
  p.drain();
  p.advance(2s);
  ASSERT_EQ(p.nodes[0].core->stats().chain_claims, 1u);
  const auto claims_before = p.nodes[0].core->stats().chain_claims;
  const auto slots_before = p.dht;
  const auto moved = ep("203.0.113.7:7000");
  p.input(0, in::set_addresses{{moved}});
  p.advance(100ms);  // the chain round is scheduled at once, not at the next poll
  // b's catalog names the new address.
  const auto* e = p.nodes[1].core->peers().find(p.nodes[0].id.id());
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->entry.addresses, std::vector<endpoint>{moved});
  ASSERT_FALSE(p.nodes[1].updated.empty());
  EXPECT_EQ(p.nodes[1].updated.back().entry.addresses, std::vector<endpoint>{moved});
  // a's chain slot was written again, with another value.
  EXPECT_EQ(p.nodes[0].core->stats().chain_claims, claims_before + 1);
  EXPECT_NE(p.dht, slots_before);
  // The same addresses again change nothing.
  p.input(0, in::set_addresses{{moved}});
  p.advance(100ms);
  EXPECT_EQ(p.nodes[0].core->stats().chain_claims, claims_before + 1);
}

TEST(discovery_core, ADeadPeersSlotIsClaimedAgain) {
  pump p;
  config cfg;
  p.add("net", nullptr, cfg);
  p.start(0);
  p.advance(1s);
  ASSERT_EQ(p.nodes[0].core->stats().chain_claims, 1u);
  p.nodes[0].alive = false;  // its record stays in the DHT
  p.add("net", nullptr, cfg);
  p.start(1);
  p.advance(30s);
  const auto& s = p.nodes[1].core->stats();
  EXPECT_GE(s.chain_peers_unhealthy, 1u);
  EXPECT_EQ(s.chain_claims, 1u);  // once, then not again within the record TTL
  EXPECT_EQ(p.nodes[1].core->peers().size(), 0u);
}

TEST(discovery_core, TopicCandidatesComeFromTheCatalogNearestFirst) {
  pump p;
  for (int i = 0; i < 3; ++i) p.add("net", nullptr, no_chain());
  const auto t = topic_id_from_name("room");
  for (std::size_t i = 0; i < 3; ++i) p.start(i);
  p.input(1, in::set_topics{{t}});
  p.connect(0, 1);
  p.connect(0, 2);
  p.drain();
  auto c = p.nodes[0].core->topic_candidates(t, std::nullopt);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].id, p.nodes[1].id.id());
  EXPECT_FALSE(c[0].addresses.empty());
  // The pump answers pings at once (RTT 0): a 0 limit keeps it.
  EXPECT_EQ(p.nodes[0].core->topic_candidates(t, 0us).size(), 1u);
  EXPECT_TRUE(p.nodes[0].core->topic_candidates(topic_id_from_name("hall"), std::nullopt).empty());
}

// A full catalog needs more requests than a responder allows at once: the
// requester paces itself below the responder's budget and gets everything.
TEST(discovery_core, ALargeCatalogSyncIsPacedNotRefused) {
  pump p;
  auto cfg = no_chain();
  cfg.catalog.max_peers = 4096;
  p.add("net", nullptr, cfg);
  p.start(0);
  const auto wire = p.nodes[0].core->wire_id();
  for (int i = 0; i < 3000; ++i) {
    auto id = identity::generate();
    auto s = sign_entry(peer_entry{wire, id.id(), {1, p.unix_ms}, {}, {}, {}}, id);
    std::vector<out::output> ignored;
    p.nodes[0].core->handle(in::announce_received{id.id(), wire::encode_announce(wire::announce_entry{s->encoded})},
                            p.clock_of(p.nodes[0]), ignored);
  }
  p.add("net", nullptr, cfg);
  p.start(1);
  p.connect(0, 1);
  p.drain();
  // 12 pages and 188 fetches: more than the 128-request burst.
  p.advance(30s);
  const auto& b = *p.nodes[1].core;
  EXPECT_EQ(b.peers().size(), 3001u);
  EXPECT_EQ(b.stats().syncs_completed, 1u);
  EXPECT_EQ(b.stats().syncs_failed, 0u);
  EXPECT_EQ(p.nodes[0].core->stats().requests_over_budget, 0u);
}

// A chain lookup that timed out says nothing: its slot is not claimed (it may
// hold a live member); a finished lookup that found nothing is claimable.
TEST(discovery_core, AChainLookupThatTimedOutIsNotAFreeSlot) {
  pump p;
  p.add("net", nullptr, config{});
  auto& n = p.nodes[0];
  std::vector<out::output> out;
  n.core->handle(in::start{}, p.clock_of(n), out);
  std::vector<std::uint64_t> gets;
  for (auto& o : out)
    if (auto* g = std::get_if<out::dht_get>(&o)) gets.push_back(g->request);
  ASSERT_GE(gets.size(), 16u);
  std::vector<out::output> after;
  for (auto r : gets) n.core->handle(in::dht_got{r, std::nullopt, 0, false}, p.clock_of(n), after);
  EXPECT_EQ(n.core->stats().chain_claims, 0u);
  // The next round's lookups finish empty: now it claims.
  p.nodes[0].timers = {};
  for (auto& o : after) p.perform(0, o);
  p.advance(10s);
  EXPECT_EQ(n.core->stats().chain_claims, 1u);
}

TEST(discovery_core, SyncAndPingCanBeSwitchedOff) {
  pump p;
  auto cfg = no_chain();
  cfg.max_syncs = 0;
  cfg.ping = false;
  p.add("net", nullptr, cfg);
  p.add("net", nullptr, cfg);
  p.start(0);
  p.start(1);
  p.connect(0, 1);
  p.drain();
  p.advance(60s);
  for (std::size_t i = 0; i < 2; ++i) {
    const auto& s = p.nodes[i].core->stats();
    EXPECT_EQ(p.nodes[i].core->peers().size(), 1u) << i;  // announces alone
    EXPECT_EQ(s.syncs_started, 0u);
    EXPECT_EQ(s.pings_sent, 0u);
    EXPECT_FALSE(p.nodes[i].core->rtt(p.nodes[1 - i].id.id()));
  }
}

TEST(rtt, SmoothedAsRfc6298) {
  rtt_estimate e;
  add_rtt_sample(e, 100ms);
  EXPECT_EQ(e.srtt, 100ms);
  EXPECT_EQ(e.rttvar, 50ms);
  add_rtt_sample(e, 200ms);
  // RTTVAR = 3/4 * 50 + 1/4 * |100 - 200| = 62.5; SRTT = 7/8 * 100 + 1/8 * 200 = 112.5
  EXPECT_EQ(e.rttvar, 62500us);
  EXPECT_EQ(e.srtt, 112500us);
  EXPECT_EQ(e.last, 200ms);
  EXPECT_EQ(e.samples, 2u);
}

}  // namespace
}  // namespace topicswarm::discovery
