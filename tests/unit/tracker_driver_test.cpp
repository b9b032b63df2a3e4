// tracker::driver: the glue between the tracker core and a shell, shared by
// the node and the simulator (issue 12). Slot keys, sealing our record from
// the shell's directory, opening what a read returned, answers it does not
// know. Driven by hand with a fixed clock.
#include "tracker/driver.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <limits>

using namespace topicswarm;
using namespace topicswarm::tracker;

namespace {

// Identity number i: a fixed seed, so runs are repeatable.
identity ident(std::uint8_t i) {
  const std::array<std::byte, 32> seed{std::byte{0x5d}, static_cast<std::byte>(i)};
  return identity::from_seed(ed25519_seed(seed));
}
endpoint addr(std::uint16_t port) { return endpoint::v4({127, 0, 0, 1}, port); }

constexpr std::uint64_t window = 29'000'000ULL;
const tracker::clock at{core::instant(std::chrono::seconds(100)), window * 60'000 + 20'000};

struct fake_directory final : directory {
  std::vector<endpoint> own_addresses() const override { return own; }
  std::vector<endpoint> addresses_of(const node_id& peer) const override {
    auto it = book.find(peer);
    return it == book.end() ? std::vector<endpoint>{} : it->second;
  }
  std::vector<node_id> gossip_views() const override { return views; }
  std::vector<endpoint> own{addr(4000)};
  std::map<node_id, std::vector<endpoint>> book;
  std::vector<node_id> views;
};

struct fixture : ::testing::Test {
  const topic_id topic = topic_id_from_name("driver-test");
  const identity me = ident(1);
  fake_directory dir;
  record_codec codec{topic, *secret_hash_from_key(std::array<std::byte, 32>{std::byte{0x5e}})};
  auto_discovery_config cfg;
  std::unique_ptr<driver> drv;
  std::vector<effect::effect> out;

  void start() {
    drv = std::make_unique<driver>(me, codec, cfg, 7, dir);
    drv->handle(in::start{}, at, out);
  }
  // Joined through `peers`, then the publisher's first tick: the record it
  // writes lists them. Returns that put.
  std::optional<effect::dht_put> publish_with(const std::vector<node_id>& peers) {
    for (const auto& p : peers) drv->handle(in::neighbor_up{p}, at, out);
    for (int round = 0; round < 4; ++round) {
      for (auto& s : take<effect::schedule>())
        if (std::holds_alternative<timers::publish>(s.t)) drv->handle(in::timer_fired{s.t}, at, out);
      for (const auto& g : take<effect::dht_get>()) drv->on_get(g.request, std::nullopt, true, at, out);
      auto puts = take<effect::dht_put>();
      if (!puts.empty()) return puts.back();
    }
    return std::nullopt;
  }
  template <class T>
  std::vector<T> take() {
    std::vector<T> r;
    for (auto& e : out)
      if (auto* x = std::get_if<T>(&e)) r.push_back(*x);
    std::erase_if(out, [](const effect::effect& e) { return std::holds_alternative<T>(e); });
    return r;
  }
};

TEST_F(fixture, ReadsUseTheSlotKeysOfTheTopic) {
  start();
  auto gets = take<effect::dht_get>();
  ASSERT_EQ(gets.size(), 2 * cfg.bootstrap.max_bootstrap_records);  // current and previous window
  std::vector<std::pair<public_key, bytes>> expected;
  for (std::uint64_t w : {window, window - 1})
    for (unsigned i = 0; i < cfg.bootstrap.max_bootstrap_records; ++i) {
      auto sl = codec.slot(w, i);
      expected.emplace_back(sl.key(), sl.salt);
    }
  for (const auto& g : gets) {
    auto it = std::find(expected.begin(), expected.end(), std::make_pair(g.key, g.salt));
    EXPECT_NE(it, expected.end()) << "a get for a key that is no slot of the topic";
    EXPECT_EQ(g.timeout, std::chrono::duration_cast<core::duration>(cfg.dht.get_timeout));
  }
}

TEST_F(fixture, AnswersAreOpenedWithTheTopicCodec) {
  start();
  auto gets = take<effect::dht_get>();
  ASSERT_GE(gets.size(), 3u);

  // Another member's record, sealed as its own driver would.
  const identity other = ident(2);
  topic_record rec;
  rec.topic = topic;
  rec.window = window;
  rec.publisher = other.id();
  rec.addresses = {addr(5000)};
  rec.timestamp_ms = at.unix_ms;
  // Which window and slot each get reads: the key tells.
  auto slot_of_get = [&](const effect::dht_get& g) -> std::optional<std::pair<std::uint64_t, unsigned>> {
    for (std::uint64_t w : {window, window - 1})
      for (unsigned i = 0; i < cfg.bootstrap.max_bootstrap_records; ++i)
        if (codec.slot(w, i).key() == g.key) return std::make_pair(w, i);
    return std::nullopt;
  };
  auto current = std::find_if(gets.begin(), gets.end(), [&](const auto& g) {
    auto s = slot_of_get(g);
    return s && s->first == window;
  });
  ASSERT_NE(current, gets.end());
  const unsigned current_slot = slot_of_get(*current)->second;
  auto sealed = codec.seal(rec, other, current_slot);
  ASSERT_TRUE(sealed);
  const auto seq = static_cast<std::int64_t>(rec.timestamp_ms);
  EXPECT_EQ(drv->on_get(current->request, stored_value{*sealed, seq}, true, at, out), get_outcome::record);
  // The core heard a valid record: it dials the publisher at its address.
  auto dials = take<effect::dial>();
  ASSERT_EQ(dials.size(), 1u);
  EXPECT_EQ(dials[0].peer.id, other.id());
  EXPECT_EQ(dials[0].peer.addresses, std::vector<endpoint>{addr(5000)});

  const bytes garbage(200, std::byte{0x42});
  auto other_get = std::find_if(gets.begin(), gets.end(), [&](const auto& g) { return g.request != current->request; });
  EXPECT_EQ(drv->on_get(other_get->request, stored_value{garbage, seq}, true, at, out), get_outcome::invalid);
  EXPECT_EQ(drv->core().stats().records_invalid, 1u);
  // The valid record read from another slot than the one it was sealed for,
  // or with a seq outside the window: invalid as well.
  auto fourth = std::find_if(gets.begin(), gets.end(), [&](const auto& g) {
    auto s = slot_of_get(g);
    return s && s->first == window && s->second != current_slot && g.request != other_get->request;
  });
  ASSERT_NE(fourth, gets.end());
  EXPECT_EQ(drv->on_get(fourth->request, stored_value{*sealed, seq}, true, at, out), get_outcome::invalid);
  auto fifth = std::find_if(gets.begin(), gets.end(), [&](const auto& g) {
    return g.request != current->request && g.request != other_get->request && g.request != fourth->request;
  });
  EXPECT_EQ(drv->on_get(fifth->request, stored_value{*sealed, std::numeric_limits<std::int64_t>::max()}, true, at, out),
            get_outcome::invalid);
  EXPECT_EQ(drv->core().stats().records_invalid, 3u);

  // A lookup cut short with nothing is a timeout, one that ended is empty.
  auto third = std::find_if(gets.begin(), gets.end(), [&](const auto& g) {
    return g.request != current->request && g.request != other_get->request && g.request != fourth->request &&
           g.request != fifth->request;
  });
  EXPECT_EQ(drv->on_get(third->request, std::nullopt, false, at, out), get_outcome::timeout);
  // An answer nobody asked for (or a second one) is dropped and counted.
  drv->on_get(third->request, std::nullopt, true, at, out);
  drv->on_get(987654, std::nullopt, true, at, out);
  EXPECT_EQ(drv->counters().answers_unknown, 2u);
}

TEST_F(fixture, OurRecordCarriesOurAddressesAndDialableNeighbours) {
  const identity n1 = ident(3), n2 = ident(4);
  dir.book[n1.id()] = {addr(6001)};  // n2 has no known address
  start();
  auto put = publish_with({n1.id(), n2.id()});
  ASSERT_TRUE(put) << "the publisher wrote nothing";
  const auto& p = *put;
  // Signed by the slot's key pair, under one of the current window's slots.
  std::optional<unsigned> slot;
  for (unsigned i = 0; i < cfg.bootstrap.max_bootstrap_records; ++i) {
    auto sl = codec.slot(window, i);
    if (sl.key() == p.signer.public_key() && sl.salt == p.salt) slot = i;
  }
  ASSERT_TRUE(slot);
  // Format 2: seq is the timestamp, inside the window's millisecond range.
  EXPECT_GE(p.seq, static_cast<std::int64_t>(window * 60'000));
  EXPECT_LT(p.seq, static_cast<std::int64_t>((window + 1) * 60'000));
  auto rec = codec.open(p.value, window, *slot, p.seq);
  ASSERT_TRUE(rec) << rec.error().message();
  EXPECT_EQ(rec->publisher, me.id());
  EXPECT_EQ(rec->addresses, dir.own);
  EXPECT_EQ(rec->timestamp_ms, static_cast<std::uint64_t>(p.seq));
  ASSERT_EQ(rec->neighbors.size(), 1u);  // n2 is left out: nobody could dial it
  EXPECT_EQ(rec->neighbors[0].id, n1.id());
  EXPECT_EQ(rec->neighbors[0].addresses, std::vector<endpoint>{addr(6001)});
}

TEST_F(fixture, ARecordAtEveryLimitStillSeals) {
  // The most a record can carry: our 4 addresses, 5 neighbours with 4 each,
  // all IPv6, plus more than the limits allow (the driver cuts them).
  auto v6 = [](std::uint16_t port) {
    return *endpoint::parse("[2001:db8::" + std::to_string(port % 1000 + 1) + "]:" + std::to_string(port));
  };
  dir.own.clear();
  for (std::uint16_t i = 0; i < 6; ++i) dir.own.push_back(v6(static_cast<std::uint16_t>(4000 + i)));
  start();
  std::vector<node_id> peers;
  for (std::uint8_t i = 0; i < 7; ++i) {
    const identity n = ident(static_cast<std::uint8_t>(10 + i));
    for (std::uint16_t a = 0; a < 6; ++a) dir.book[n.id()].push_back(v6(static_cast<std::uint16_t>(7000 + 10 * i + a)));
    peers.push_back(n.id());
  }
  for (std::uint8_t m = 0; m < 9; ++m) {
    std::array<std::byte, 32> id{};
    id[0] = static_cast<std::byte>(m);
    drv->handle(in::message_seen{message_id(id)}, at, out);
  }
  auto put = publish_with(peers);
  ASSERT_TRUE(put) << "the publisher wrote nothing";
  EXPECT_EQ(drv->counters().seal_failures, 0u);
  EXPECT_LE(put->value.size(), max_record_bytes);
  std::optional<unsigned> slot;
  for (unsigned i = 0; i < cfg.bootstrap.max_bootstrap_records; ++i)
    if (codec.slot(window, i).key() == put->signer.public_key()) slot = i;
  ASSERT_TRUE(slot);
  auto rec = codec.open(put->value, window, *slot, put->seq);
  ASSERT_TRUE(rec) << rec.error().message();
  EXPECT_EQ(rec->addresses.size(), max_record_addresses);
  EXPECT_EQ(rec->neighbors.size(), max_record_neighbors);
  for (const auto& n : rec->neighbors) EXPECT_EQ(n.addresses.size(), max_record_addresses);
  EXPECT_EQ(rec->recent_messages.size(), max_record_messages);
}

}  // namespace
