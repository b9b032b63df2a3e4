// The peer catalog (src/discovery/catalog, docs/PROTOCOL.md §15): the upsert
// rules in their order, purge, the bound and its eviction rule, departures,
// and digest paging.
#include "discovery/catalog.hpp"

#include <gtest/gtest.h>

#include <map>

namespace topicswarm::discovery {
namespace {

using namespace std::chrono_literals;

topic_id topic_of(std::uint8_t b) { return *topic_id::from_span(bytes(32, std::byte{b})); }

constexpr std::uint64_t now = 10'000'000;

struct catalog_fixture : ::testing::Test {
  topic_id net = topic_of(1);
  identity self = identity::generate();
  std::map<int, identity> ids;
  catalog_config cfg{300s, 50s, 4};
  catalog c{net, self.id(), cfg};

  const identity& peer(int i) { return ids.try_emplace(i, identity::generate()).first->second; }
  signed_entry entry(int i, std::uint64_t start, std::uint64_t update, topic_id network = topic_of(1),
                     std::vector<topic_id> topics = {}) {
    auto s = sign_entry(peer_entry{network, peer(i).id(), {start, update}, {}, {}, std::move(topics)}, peer(i));
    EXPECT_TRUE(s);
    return *s;
  }
  upsert_result put(int i, std::uint64_t update, entry_source src = entry_source::announce) {
    return c.upsert(entry(i, 1, update), now, src).result;
  }
};

TEST_F(catalog_fixture, NewThenNewerThenNotNewer) {
  EXPECT_EQ(put(1, now), upsert_result::added);
  EXPECT_EQ(put(1, now + 1), upsert_result::updated);
  EXPECT_EQ(put(1, now + 1), upsert_result::not_newer);
  EXPECT_EQ(put(1, now - 1), upsert_result::not_newer);
  // A restart (later start) wins even with an earlier update time.
  EXPECT_EQ(c.upsert(entry(1, 2, now - 10), now, entry_source::announce).result, upsert_result::updated);
  EXPECT_EQ(c.find(peer(1).id())->entry.version, (entry_version{2, now - 10}));
  EXPECT_EQ(c.size(), 1u);
}

TEST_F(catalog_fixture, OtherNetworkAndSelfAreRejectedFirst) {
  EXPECT_EQ(c.upsert(entry(1, 1, now, topic_of(2)), now, entry_source::sync).result, upsert_result::other_network);
  auto mine = sign_entry(peer_entry{net, self.id(), {1, now}, {}, {}, {}}, self);
  ASSERT_TRUE(mine);
  EXPECT_EQ(c.upsert(*mine, now, entry_source::sync).result, upsert_result::self);
  // Another network wins over a bad clock: rule 1 comes before rule 3.
  EXPECT_EQ(c.upsert(entry(2, 1, now + 3'600'000, topic_of(2)), now, entry_source::sync).result,
            upsert_result::other_network);
  EXPECT_EQ(c.size(), 0u);
}

TEST_F(catalog_fixture, ClockDrift) {
  EXPECT_EQ(put(1, now + 50'001), upsert_result::clock_ahead);
  EXPECT_EQ(put(1, now + 50'001, entry_source::sync), upsert_result::clock_ahead);
  EXPECT_EQ(put(1, now + 50'000), upsert_result::added);
  // An announce is signed when it is sent: 50 s old is a clock that lags.
  EXPECT_EQ(put(2, now - 50'001), upsert_result::clock_behind);
  EXPECT_EQ(put(2, now - 50'000), upsert_result::added);
  // A synced entry may be older (its owner announces every 45 s +- 50 %).
  EXPECT_EQ(put(3, now - 120'000, entry_source::sync), upsert_result::added);
}

TEST_F(catalog_fixture, OutdatedEntriesAreRefused) {
  EXPECT_EQ(put(1, now - 300'001, entry_source::sync), upsert_result::outdated);
  EXPECT_EQ(put(1, now - 300'000, entry_source::sync), upsert_result::added);
}

TEST_F(catalog_fixture, PurgeRemovesStaleEntriesInOrder) {
  ASSERT_EQ(put(1, now - 200'000, entry_source::sync), upsert_result::added);
  ASSERT_EQ(put(2, now - 100'000, entry_source::sync), upsert_result::added);
  ASSERT_EQ(put(3, now, entry_source::sync), upsert_result::added);
  EXPECT_EQ(c.next_expiry_ms(), now - 200'000 + 300'001);
  EXPECT_TRUE(c.purge(now + 100'000).empty());
  EXPECT_EQ(c.purge(now + 100'001), std::vector<node_id>{peer(1).id()});
  EXPECT_EQ(c.purge(now + 400'001), (std::vector<node_id>{peer(2).id(), peer(3).id()}));
  EXPECT_EQ(c.size(), 0u);
  EXPECT_FALSE(c.next_expiry_ms());
}

TEST_F(catalog_fixture, AnUpdateMovesTheExpiry) {
  ASSERT_EQ(put(1, now - 200'000, entry_source::sync), upsert_result::added);
  ASSERT_EQ(put(1, now), upsert_result::updated);
  EXPECT_TRUE(c.purge(now + 200'000).empty());
  EXPECT_EQ(c.next_expiry_ms(), now + 300'001);
}

TEST_F(catalog_fixture, TheBoundEvictsTheEntryUpdatedLongestAgo) {
  for (int i = 1; i <= 4; ++i) ASSERT_EQ(put(i, now - 1000 + static_cast<std::uint64_t>(i)), upsert_result::added);
  // Older than every entry we hold: refused, nothing evicted.
  auto out = c.upsert(entry(5, 1, now - 2000), now, entry_source::announce);
  EXPECT_EQ(out.result, upsert_result::full);
  EXPECT_FALSE(out.evicted);
  // Newer: the stalest (peer 1) makes room.
  out = c.upsert(entry(6, 1, now), now, entry_source::announce);
  EXPECT_EQ(out.result, upsert_result::added);
  ASSERT_TRUE(out.evicted);
  EXPECT_EQ(*out.evicted, peer(1).id());
  EXPECT_EQ(c.size(), 4u);
  EXPECT_FALSE(c.contains(peer(1).id()));
  // Updating a held entry never evicts.
  out = c.upsert(entry(2, 1, now + 5), now, entry_source::announce);
  EXPECT_EQ(out.result, upsert_result::updated);
  EXPECT_FALSE(out.evicted);
}

TEST_F(catalog_fixture, DeparturesNeedACurrentVersion) {
  ASSERT_EQ(put(1, now), upsert_result::added);
  EXPECT_EQ(c.depart({net, peer(1).id(), {1, now - 1}}), departure_result::stale);
  EXPECT_EQ(c.depart({topic_of(2), peer(1).id(), {1, now}}), departure_result::other_network);
  EXPECT_EQ(c.depart({net, peer(9).id(), {1, now}}), departure_result::unknown);
  EXPECT_TRUE(c.contains(peer(1).id()));
  EXPECT_EQ(c.depart({net, peer(1).id(), {1, now}}), departure_result::departed);
  EXPECT_FALSE(c.contains(peer(1).id()));
  EXPECT_FALSE(c.next_expiry_ms());
}

// A stale copy of a departed peer's entry (from a sync with a peer that has
// not heard the departure yet) does not bring it back; a restart does.
TEST_F(catalog_fixture, ADepartedPeerStaysGoneUntilItSignsANewerEntry) {
  ASSERT_EQ(put(1, now), upsert_result::added);
  ASSERT_EQ(c.depart({net, peer(1).id(), {1, now}}), departure_result::departed);
  EXPECT_EQ(c.tombstones(), 1u);
  EXPECT_EQ(put(1, now, entry_source::sync), upsert_result::not_newer);
  EXPECT_EQ(put(1, now - 5, entry_source::sync), upsert_result::not_newer);
  EXPECT_FALSE(c.contains(peer(1).id()));
  // A departure for a peer we never held still leaves a tombstone: its
  // entry arriving late stays out.
  EXPECT_EQ(c.depart({net, peer(2).id(), {1, now}}), departure_result::unknown);
  EXPECT_EQ(put(2, now, entry_source::sync), upsert_result::not_newer);
  // The peer restarts: a newer version is a new entry, the tombstone goes.
  EXPECT_EQ(c.upsert(entry(1, 2, now), now, entry_source::announce).result, upsert_result::added);
  EXPECT_EQ(c.tombstones(), 1u);
  // Tombstones are dropped with the purge once an entry at their version
  // would be outdated anyway.
  c.purge(now + 300'001);
  EXPECT_EQ(c.tombstones(), 0u);
}

TEST_F(catalog_fixture, TombstonesAreBounded) {
  for (int i = 1; i <= 6; ++i) c.depart({net, peer(i).id(), {1, now + static_cast<std::uint64_t>(i)}});
  EXPECT_EQ(c.tombstones(), 4u);  // max_peers; the oldest went first
  EXPECT_EQ(put(1, now + 1, entry_source::sync), upsert_result::added);
  EXPECT_EQ(put(6, now + 6, entry_source::sync), upsert_result::not_newer);
}

TEST_F(catalog_fixture, DigestPagesWalkTheCatalogInIdOrder) {
  catalog big{net, self.id(), catalog_config{300s, 50s, 100}};
  for (int i = 0; i < 10; ++i)
    ASSERT_EQ(big.upsert(entry(i, 1, now), now, entry_source::sync).result, upsert_result::added);
  std::vector<node_id> seen;
  std::optional<node_id> after;
  int pages = 0;
  for (;;) {
    auto p = big.digests(after, 3);
    ++pages;
    for (const auto& d : p.items) {
      seen.push_back(d.node);
      EXPECT_TRUE(big.has_at_least(d.node, d.version));
      EXPECT_FALSE(big.has_at_least(d.node, {d.version.start_ms, d.version.update_ms + 1}));
    }
    if (!p.more) break;
    after = p.items.back().node;
  }
  EXPECT_EQ(pages, 4);
  ASSERT_EQ(seen.size(), 10u);
  EXPECT_TRUE(std::is_sorted(seen.begin(), seen.end()));
  EXPECT_TRUE(big.digests(seen.back(), 3).items.empty());
}

TEST_F(catalog_fixture, PeersWithATopic) {
  ASSERT_EQ(c.upsert(entry(1, 1, now, net, {topic_of(7)}), now, entry_source::sync).result, upsert_result::added);
  ASSERT_EQ(c.upsert(entry(2, 1, now, net, {topic_of(8), topic_of(7)}), now, entry_source::sync).result,
            upsert_result::added);
  ASSERT_EQ(c.upsert(entry(3, 1, now, net, {topic_of(8)}), now, entry_source::sync).result, upsert_result::added);
  auto p = c.peers_with_topic(topic_of(7));
  EXPECT_EQ(p.size(), 2u);
  EXPECT_TRUE(c.peers_with_topic(topic_of(9)).empty());
}

}  // namespace
}  // namespace topicswarm::discovery
