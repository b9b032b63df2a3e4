// The tracker core (src/tracker): bootstrap rounds, slot choice and the
// per-window cap, dials and joins, the publisher, both merges, put retries,
// rebootstrap, and config validation. Driven by hand with virtual time.
#include "tracker/tracker.hpp"

#include <gtest/gtest.h>

#include <algorithm>

using namespace topicswarm;
using namespace topicswarm::tracker;
using namespace std::chrono_literals;

namespace {

node_id nid(std::size_t i) {
  std::array<std::byte, 32> b{};
  b[0] = std::byte{0xb0};
  b[1] = static_cast<std::byte>((i >> 8) & 0xff);
  b[2] = static_cast<std::byte>(i & 0xff);
  return node_id(b);
}
endpoint addr(std::size_t i) { return endpoint::v4({127, 0, 0, 1}, static_cast<std::uint16_t>(30000 + i)); }
message_id mid(std::size_t i) {
  std::array<std::byte, 32> b{};
  b[0] = std::byte{0x77};
  b[1] = static_cast<std::byte>(i & 0xff);
  return message_id(b);
}

// 20 s into a window: reads of the previous window made now are final (a
// past window's slots are not read again 10 s after it ended).
constexpr std::uint64_t base_unix_ms = 29'000'000ULL * 60'000ULL + 20'000;
constexpr std::uint64_t w0 = 29'000'000ULL;

topic_record record_of(std::size_t publisher, std::uint64_t window, std::vector<std::size_t> neighbors = {},
                       std::vector<std::size_t> messages = {}) {
  topic_record r;
  r.topic = topic_id_from_name("tracker-test");
  r.window = window;
  r.publisher = nid(publisher);
  r.addresses = {addr(publisher)};
  for (auto n : neighbors) r.neighbors.push_back({nid(n), {addr(n)}});
  for (auto m : messages) r.recent_messages.push_back(mid(m));
  r.timestamp_ms = window * 60'000 + publisher;
  return r;
}

struct harness {
  explicit harness(auto_discovery_config cfg = {}, std::size_t self = 0) : t(nid(self), cfg, 7), cfg(cfg), self(self) {}

  std::vector<out::output> feed(in::input i) {
    std::vector<out::output> o;
    t.handle(std::move(i), tracker::clock{now, unix_ms}, o);
    for (auto& x : o) {
      if (auto* g = std::get_if<out::dht_get>(&x)) gets.push_back(*g);
      if (auto* p = std::get_if<out::dht_put>(&x)) puts.push_back(*p);
      if (auto* s = std::get_if<out::schedule>(&x)) scheduled.push_back({now + s->after, s->t});
      if (auto* d = std::get_if<out::dial>(&x)) dials.push_back(d->peer);
      if (auto* j = std::get_if<out::join>(&x)) joins.insert(joins.end(), j->peers.begin(), j->peers.end());
      if (std::holds_alternative<out::joined>(x)) ++joined;
    }
    // The driver answers a view request at once.
    for (auto& x : o)
      if (std::holds_alternative<out::view_wanted>(x)) {
        ++view_requests;
        feed(in::view{view});
      }
    return o;
  }
  void advance(core::duration d) {
    now += d;
    unix_ms += static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(d).count());
  }
  // Fires every scheduled timer due by now + d (in order), advancing time.
  void run_for(core::duration d) {
    const instant end = now + d;
    for (;;) {
      auto it = std::min_element(scheduled.begin(), scheduled.end(),
                                 [](const auto& a, const auto& b) { return a.first < b.first; });
      if (it == scheduled.end() || it->first > end) break;
      auto [at, tm] = *it;
      scheduled.erase(it);
      advance(at - now);
      feed(in::timer_fired{tm});
    }
    advance(end - now);
  }
  // Answers every outstanding get: a record where `slots` has one, else empty.
  // Answers every outstanding get: the record `slots` names for the slot,
  // else what our own successful puts stored there, else empty.
  void answer_gets(const std::map<std::pair<std::uint64_t, unsigned>, topic_record>& slots = {}) {
    auto pending = std::move(gets);
    gets.clear();
    for (const auto& g : pending) {
      const std::pair<std::uint64_t, unsigned> key{g.window, g.slot};
      if (auto it = slots.find(key); it != slots.end())
        feed(in::get_done{g.request, get_outcome::record, it->second});
      else if (auto own = stored.find(key); own != stored.end())
        feed(in::get_done{g.request, get_outcome::record, own->second});
      else
        feed(in::get_done{g.request, get_outcome::empty, std::nullopt});
    }
  }
  // A successful put leaves our record in the slot.
  void answer_puts(bool ok = true) {
    auto pending = std::move(puts);
    puts.clear();
    for (const auto& p : pending) {
      if (ok) stored[{p.window, p.slot}] = record_of(self, p.window);
      feed(in::put_done{p.request, ok});
    }
  }
  template <class T>
  std::size_t timers_of() const {
    return static_cast<std::size_t>(std::count_if(scheduled.begin(), scheduled.end(),
                                                  [](const auto& s) { return std::holds_alternative<T>(s.second); }));
  }
  template <class T>
  core::duration first_delay_of(instant from) const {
    for (const auto& s : scheduled)
      if (std::holds_alternative<T>(s.second)) return s.first - from;
    return core::duration::max();
  }

  tracker::tracker t;
  auto_discovery_config cfg;
  std::size_t self;
  std::map<std::pair<std::uint64_t, unsigned>, topic_record> stored;  // what our puts left in the DHT
  instant now{std::chrono::seconds(1000)};
  std::uint64_t unix_ms = base_unix_ms;
  std::vector<out::dht_get> gets;
  std::vector<out::dht_put> puts;
  std::vector<std::pair<instant, timers::timer>> scheduled;
  std::vector<core::peer_info> dials;
  std::vector<core::peer_info> joins;
  int joined = 0;
  int view_requests = 0;
  // Our gossip views as the driver reports them: by default a full passive
  // view (ids 1000+), so the island test stays off.
  std::vector<node_id> view = [] {
    std::vector<node_id> v;
    for (std::size_t i = 0; i < 30; ++i) v.push_back(nid(1000 + i));
    return v;
  }();
};

bool dialled(const std::vector<core::peer_info>& v, std::size_t i) {
  return std::any_of(v.begin(), v.end(), [&](const auto& p) { return p.id == nid(i); });
}

}  // namespace

TEST(Tracker, StartReadsEverySlotOfBothWindowsAtOnce) {
  harness h;
  h.feed(in::start{});
  ASSERT_EQ(h.gets.size(), 10u);  // K = 5 slots x 2 windows, all before any answer
  std::set<std::pair<std::uint64_t, unsigned>> seen;
  for (const auto& g : h.gets) {
    seen.insert({g.window, g.slot});
    EXPECT_EQ(g.timeout, std::chrono::duration_cast<core::duration>(10s));
  }
  for (unsigned s = 0; s < 5; ++s) {
    EXPECT_TRUE(seen.count({w0, s}));
    EXPECT_TRUE(seen.count({w0 - 1, s}));
  }
  EXPECT_EQ(h.t.current_phase(), phase::bootstrapping);
}

TEST(Tracker, ReadOnlyReadsTheDefaultSlotsFindsPeersAndNeverPublishes) {
  auto cfg = *auto_discovery_config::builder().max_bootstrap_records(0).build();
  harness h(cfg);
  h.feed(in::start{});
  ASSERT_EQ(h.gets.size(), 10u);  // the 5 slots writers use by default, both windows
  // Nothing anywhere: a writer would publish now; a read-only node polls on.
  h.answer_gets();
  h.run_for(120s);
  h.answer_gets();
  EXPECT_TRUE(h.puts.empty());
  EXPECT_EQ(h.t.stats().puts, 0u);
  // A writer's record appears: the read-only node dials and joins it.
  h.run_for(20s);
  ASSERT_FALSE(h.gets.empty());
  const auto w = window_of(h.unix_ms);
  h.answer_gets({{{w, 2}, record_of(7, w)}});
  EXPECT_TRUE(dialled(h.dials, 7));
  h.feed(in::dial_done{nid(7), true});
  h.feed(in::neighbor_up{nid(7)});
  EXPECT_EQ(h.t.current_phase(), phase::joined);
  // Joined: still no publisher ticks and no puts.
  h.run_for(10min);
  h.answer_gets();
  EXPECT_TRUE(h.puts.empty());
  EXPECT_EQ(h.timers_of<timers::publish>(), 0u);
}

TEST(Tracker, NothingFoundPublishesOnceThenReadsAgainRightAfterThePut) {
  harness h;
  h.feed(in::start{});
  h.answer_gets();
  ASSERT_EQ(h.puts.size(), 1u);
  EXPECT_EQ(h.puts[0].window, w0);
  EXPECT_LT(h.puts[0].slot, 5u);
  EXPECT_EQ(h.puts[0].seq, static_cast<std::int64_t>(h.unix_ms));
  EXPECT_TRUE(h.gets.empty());
  h.advance(3ms);
  h.answer_puts();
  // Read again at once, without a timer; the previous window was read 20 s
  // into this one, so only the current window is read again.
  ASSERT_EQ(h.gets.size(), 5u);
  for (const auto& g : h.gets) EXPECT_EQ(g.window, w0);
  h.answer_gets();
  // Still alone, already published in this window: no second put, a poll instead.
  EXPECT_TRUE(h.puts.empty());
  EXPECT_EQ(h.timers_of<timers::poll>(), 1u);
  EXPECT_EQ(h.t.stats().bootstrap_publishes, 1u);
}

TEST(Tracker, PollsBackOffWhileAloneAndPublishOncePerWindow) {
  harness h;
  h.feed(in::start{});
  h.answer_gets();
  h.answer_puts();
  h.answer_gets();
  std::vector<core::duration> waits;
  std::uint64_t window_puts = 0;
  for (int i = 0; i < 8; ++i) {
    const instant before = h.now;
    const auto d = h.first_delay_of<timers::poll>(before);
    ASSERT_NE(d, core::duration::max());
    waits.push_back(d);
    h.run_for(d);
    ASSERT_FALSE(h.gets.empty());
    h.answer_gets();
    window_puts += h.puts.size();
    h.answer_puts();
    h.answer_gets();  // a reread after a put of a new window
  }
  // First a quick recheck after the post-put reread: twice the put's time,
  // at least 20 ms (our puts here answer at once). Then 1.5 s doubling,
  // jittered by at most a quarter, capped at 15 s (+ a quarter).
  EXPECT_EQ(waits[0], std::chrono::duration_cast<core::duration>(20ms));
  EXPECT_GE(waits[1], std::chrono::duration_cast<core::duration>(1500ms));
  EXPECT_LE(waits[1], std::chrono::duration_cast<core::duration>(1875ms));
  EXPECT_GE(waits[2], std::chrono::duration_cast<core::duration>(3000ms));
  EXPECT_GE(waits[3], std::chrono::duration_cast<core::duration>(6000ms));
  for (auto w : waits) EXPECT_LE(w, std::chrono::duration_cast<core::duration>(18750ms));
  // About 70 s passed: one more window, so exactly one more bootstrap put.
  EXPECT_EQ(window_puts, 1u);
  EXPECT_EQ(h.t.stats().bootstrap_publishes, 2u);
}

TEST(Tracker, QuickRecheckAfterThePostPutReadIsTwiceThePutTime) {
  harness h;
  h.feed(in::start{});
  h.answer_gets();
  ASSERT_EQ(h.puts.size(), 1u);
  h.advance(300ms);  // the put takes 300 ms
  h.answer_puts();
  h.answer_gets();  // nobody yet
  EXPECT_EQ(h.first_delay_of<timers::poll>(h.now), std::chrono::duration_cast<core::duration>(600ms));
  // A put slower than half the poll interval is capped at the poll interval.
  harness slow;
  slow.feed(in::start{});
  slow.answer_gets();
  slow.advance(5s);
  slow.answer_puts();
  slow.answer_gets();
  EXPECT_EQ(slow.first_delay_of<timers::poll>(slow.now), std::chrono::duration_cast<core::duration>(1500ms));
}

TEST(Tracker, DialsPublisherAndItsNeighboursAsSoonAsTheRecordArrives) {
  harness h;
  h.feed(in::start{});
  // Answer only the first get, with a record: dials start before the rest are in.
  const auto first = h.gets.front();
  h.gets.erase(h.gets.begin());
  h.feed(in::get_done{first.request, get_outcome::record, record_of(1, first.window, {2, 3, 0})});
  ASSERT_EQ(h.dials.size(), 3u);  // 1, 2, 3; never ourselves (0)
  EXPECT_TRUE(dialled(h.dials, 1));
  EXPECT_TRUE(dialled(h.dials, 2));
  EXPECT_TRUE(dialled(h.dials, 3));
  EXPECT_EQ(h.dials[0].addresses, std::vector<endpoint>{addr(1)});
  // The same peers in another record are not dialled twice.
  const auto second = h.gets.front();
  h.gets.erase(h.gets.begin());
  h.feed(in::get_done{second.request, get_outcome::record, record_of(2, second.window, {1})});
  EXPECT_EQ(h.dials.size(), 3u);
  // A reachable candidate is handed to the gossip join at once.
  h.feed(in::dial_done{nid(2), true});
  ASSERT_EQ(h.joins.size(), 1u);
  EXPECT_EQ(h.joins[0].id, nid(2));
  h.feed(in::neighbor_up{nid(2)});
  EXPECT_EQ(h.joined, 1);
  EXPECT_EQ(h.t.current_phase(), phase::joined);
  // Stop once joined: a later successful dial is not joined.
  h.feed(in::dial_done{nid(1), true});
  EXPECT_EQ(h.joins.size(), 1u);
}

// A member that writes every slot, each record listing five made-up
// neighbours, gets a bootstrapping reader to dial every publisher but only
// max_listed_dials_per_record listed peers per record and
// max_listed_dials_per_round in all (docs/PROTOCOL.md §7.6).
TEST(Tracker, ListedNeighboursDialledPerRoundAreBounded) {
  harness h;
  h.feed(in::start{});
  std::map<std::pair<std::uint64_t, unsigned>, topic_record> slots;
  std::size_t next = 100;
  for (const auto& g : h.gets) {
    std::vector<std::size_t> listed;
    for (int i = 0; i < 5; ++i) listed.push_back(next++);
    slots[{g.window, g.slot}] = record_of(next++, g.window, listed);
  }
  const std::size_t records = slots.size();
  ASSERT_EQ(records, 2 * auto_discovery_config{}.bootstrap.max_bootstrap_records);
  h.answer_gets(slots);
  std::size_t publishers = 0;
  for (const auto& [key, r] : slots)
    publishers += std::any_of(h.dials.begin(), h.dials.end(), [&](const auto& p) { return p.id == r.publisher; }) ? 1 : 0;
  EXPECT_EQ(publishers, records);
  EXPECT_EQ(h.dials.size(), records + tracker::max_listed_dials_per_round);
  EXPECT_EQ(h.t.stats().listed_dials_capped, records * 5 - tracker::max_listed_dials_per_round);
  for (const auto& d : h.dials) EXPECT_LE(d.addresses.size(), max_record_addresses);
}

TEST(Tracker, StartupPublishHappensEvenWhenCandidatesAreFound) {
  harness h;
  h.feed(in::start{});
  h.answer_gets({{{w0, 2}, record_of(5, w0)}});
  ASSERT_EQ(h.puts.size(), 1u);
  EXPECT_NE(h.puts[0].slot, 2u);  // slot 2 is another publisher's
  auto_discovery_config off;
  off.bootstrap.publish_record_on_startup = false;
  harness q(off);
  q.feed(in::start{});
  q.answer_gets({{{w0, 2}, record_of(5, w0)}});
  EXPECT_TRUE(q.puts.empty());
}

TEST(Tracker, UnreachableCandidatesLeadToPublishAndAPoll) {
  auto_discovery_config cfg;
  cfg.bootstrap.publish_record_on_startup = false;
  harness h(cfg);
  h.feed(in::start{});
  h.answer_gets({{{w0, 0}, record_of(1, w0, {2})}});
  ASSERT_EQ(h.dials.size(), 2u);
  h.feed(in::dial_done{nid(1), false});
  EXPECT_EQ(h.timers_of<timers::judge>(), 0u);  // one dial still out
  h.feed(in::dial_done{nid(2), false});
  // Judged after the settle time: not found by anyone, so publish, then reread.
  h.run_for(100ms);
  ASSERT_EQ(h.puts.size(), 1u);
  h.answer_puts();
  ASSERT_EQ(h.gets.size(), 5u);
  h.answer_gets({{{w0, 0}, record_of(1, w0, {2})}});
  // Both are in their unreachable back-off: nothing to dial, so a poll.
  EXPECT_EQ(h.dials.size(), 2u);
  EXPECT_EQ(h.t.stats().dial_failures, 2u);
  EXPECT_EQ(h.timers_of<timers::poll>(), 1u);
  // After the back-off (30 s) they are dialled again.
  h.run_for(31s);
  for (int i = 0; i < 10 && h.dials.size() == 2u; ++i) {
    h.answer_gets({{{w0, 0}, record_of(1, w0, {2})}});
    h.run_for(20s);
  }
  EXPECT_GT(h.dials.size(), 2u);
}

TEST(Tracker, ADialThatNeverAnswersFailsAfterTheJoinPeerTimeout) {
  auto_discovery_config cfg;
  cfg.bootstrap.publish_record_on_startup = false;
  cfg.timeouts.join_peer_timeout = 2s;
  harness h(cfg);
  h.feed(in::start{});
  h.answer_gets({{{w0, 0}, record_of(1, w0)}});
  ASSERT_EQ(h.dials.size(), 1u);
  h.run_for(1900ms);
  EXPECT_EQ(h.t.stats().dial_failures, 0u);
  h.run_for(200ms);  // no answer by 2 s: a failed dial, then the settle time judges the round
  EXPECT_EQ(h.t.stats().dial_timeouts, 1u);
  EXPECT_EQ(h.t.stats().dial_failures, 1u);
  h.run_for(100ms);
  EXPECT_EQ(h.puts.size(), 1u);  // nobody reachable: publish (first time in this window)
  // A late answer is ignored.
  h.feed(in::dial_done{nid(1), true});
  EXPECT_TRUE(h.joins.empty());
}

TEST(Tracker, ConfirmationWaitAfterAJoinThenPollWithDiscoveryInterval) {
  auto_discovery_config cfg;
  cfg.bootstrap.publish_record_on_startup = false;
  harness h(cfg);
  h.feed(in::start{});
  h.answer_gets({{{w0, 0}, record_of(1, w0)}});
  h.feed(in::dial_done{nid(1), true});
  ASSERT_EQ(h.joins.size(), 1u);
  ASSERT_EQ(h.timers_of<timers::judge>(), 1u);
  EXPECT_EQ(h.first_delay_of<timers::judge>(h.now), std::chrono::duration_cast<core::duration>(500ms));
  h.run_for(500ms);  // no neighbour came: publish (first time this window) and reread
  ASSERT_EQ(h.puts.size(), 1u);
  h.answer_puts();
  h.answer_gets({{{w0, 0}, record_of(1, w0)}});
  // Still no neighbour: peer 1 is dialled and joined again, and after another
  // confirmation wait (this window's record is out already) the loop polls.
  EXPECT_EQ(h.t.stats().dials, 2u);
  h.feed(in::dial_done{nid(1), true});
  h.run_for(500ms);
  EXPECT_TRUE(h.puts.empty());
  EXPECT_EQ(h.timers_of<timers::poll>(), 1u);
  EXPECT_GE(h.first_delay_of<timers::poll>(h.now), std::chrono::duration_cast<core::duration>(1800ms));
}

TEST(Tracker, DisplacedRecordIsPublishedAgainInTheSameWindow) {
  auto_discovery_config cfg;
  cfg.bootstrap.publish_record_on_startup = false;
  harness h(cfg);
  h.feed(in::start{});
  h.answer_gets();
  ASSERT_EQ(h.puts.size(), 1u);
  const unsigned slot = h.puts[0].slot;
  h.answer_puts();
  // The reread finds our slot taken by a value we cannot open (a writer that
  // raced us, with another secret): we are invisible, so we publish again,
  // to another slot, although this window had our record already.
  auto pending = std::move(h.gets);
  h.gets.clear();
  for (const auto& g : pending)
    h.feed(in::get_done{g.request, g.slot == slot ? get_outcome::invalid : get_outcome::empty, std::nullopt});
  EXPECT_EQ(h.t.stats().displaced, 1u);
  ASSERT_EQ(h.puts.size(), 1u);
  EXPECT_NE(h.puts[0].slot, slot);
  EXPECT_EQ(h.t.stats().bootstrap_publishes, 2u);
}

TEST(Tracker, EmptySlotsArePreferredToValuesWeCannotOpen) {
  harness h;
  h.feed(in::start{});
  auto pending = std::move(h.gets);
  h.gets.clear();
  // Four slots hold values we cannot open, one is empty: that one is taken.
  for (const auto& g : pending)
    h.feed(in::get_done{g.request, g.window == w0 && g.slot != 4 ? get_outcome::invalid : get_outcome::empty,
                        std::nullopt});
  ASSERT_EQ(h.puts.size(), 1u);
  EXPECT_EQ(h.puts[0].slot, 4u);
}

TEST(Tracker, PerWindowCapStopsPublishing) {
  harness h;
  h.feed(in::start{});
  std::map<std::pair<std::uint64_t, unsigned>, topic_record> full;
  for (unsigned s = 0; s < 5; ++s) full[{w0, s}] = record_of(10 + s, w0);
  h.answer_gets(full);
  EXPECT_TRUE(h.puts.empty());
  EXPECT_EQ(h.t.stats().publishes_skipped_cap, 1u);
  EXPECT_EQ(h.t.status().records_seen, 5u);
}

TEST(Tracker, AfterAFullWindowThePublisherProbesOneSlotBeforeReadingAll) {
  auto_discovery_config cfg;
  cfg.merge.bubble.enabled = false;
  cfg.merge.message_overlap.enabled = false;
  cfg.bootstrap.post_join_check = 0ms;
  harness h(cfg);
  h.feed(in::start{});
  std::map<std::pair<std::uint64_t, unsigned>, topic_record> full;
  for (unsigned s = 0; s < 5; ++s) full[{w0, s}] = record_of(10 + s, w0, {}, {});
  h.answer_gets(full);  // window w0 is full: no put; dial the publishers
  EXPECT_TRUE(h.puts.empty());
  h.feed(in::dial_done{h.dials.front().id, true});
  h.feed(in::neighbor_up{h.dials.front().id});
  ASSERT_EQ(h.t.current_phase(), phase::joined);
  // Ticks left in w0 do nothing (it is full). The first tick in the next
  // window reads one slot, not five.
  std::map<std::pair<std::uint64_t, unsigned>, topic_record> next_full;
  for (unsigned s = 0; s < 5; ++s) next_full[{w0 + 1, s}] = record_of(20 + s, w0 + 1);
  for (int i = 0; i < 100 && h.gets.empty(); ++i) h.run_for(1s);
  ASSERT_EQ(h.gets.size(), 1u);
  EXPECT_EQ(h.gets[0].window, w0 + 1);
  h.answer_gets(next_full);  // taken: assume full, no more reads this tick
  EXPECT_TRUE(h.gets.empty());
  EXPECT_TRUE(h.puts.empty());
  EXPECT_EQ(h.t.stats().probes, 1u);
  EXPECT_EQ(h.t.stats().probes_taken, 1u);
  // A probe that finds its slot free reads all the slots, then publishes.
  for (int i = 0; i < 100 && h.gets.empty(); ++i) h.run_for(1s);
  ASSERT_EQ(h.gets.size(), 1u);
  const auto window = h.gets[0].window;
  h.answer_gets();  // empty
  ASSERT_EQ(h.gets.size(), 5u);
  for (const auto& g : h.gets) EXPECT_EQ(g.window, window);
  h.answer_gets();
  EXPECT_EQ(h.puts.size(), 1u);
}

TEST(Tracker, OlderCopyOfAPublisherInTwoSlotsIsFree) {
  harness h;
  h.feed(in::start{});
  std::map<std::pair<std::uint64_t, unsigned>, topic_record> slots;
  for (unsigned s = 0; s < 4; ++s) slots[{w0, s}] = record_of(10 + s, w0);
  auto older = record_of(10, w0);
  older.timestamp_ms -= 5000;
  slots[{w0, 4}] = older;
  h.answer_gets(slots);
  ASSERT_EQ(h.puts.size(), 1u);
  EXPECT_EQ(h.puts[0].slot, 4u);
}

TEST(Tracker, GarbageInASlotCountsAsFreeAndIsCounted) {
  harness h;
  h.feed(in::start{});
  auto pending = std::move(h.gets);
  h.gets.clear();
  for (const auto& g : pending) {
    if (g.window == w0 && g.slot != 3) {
      h.feed(in::get_done{g.request, get_outcome::record, record_of(20 + g.slot, w0)});
    } else if (g.window == w0) {
      h.feed(in::get_done{g.request, get_outcome::invalid, std::nullopt});
    } else {
      // A record opened for the wrong window is rejected as well.
      h.feed(in::get_done{g.request, get_outcome::record, record_of(40, w0)});
    }
  }
  ASSERT_EQ(h.puts.size(), 1u);
  EXPECT_EQ(h.puts[0].slot, 3u);
  EXPECT_EQ(h.t.stats().records_invalid, 6u);
}

TEST(Tracker, PublisherRefreshesItsSlotWithNeighboursAndRecentMessages) {
  auto_discovery_config cfg;
  cfg.merge.bubble.enabled = false;
  cfg.merge.message_overlap.enabled = false;
  harness h(cfg);
  h.feed(in::start{});
  h.answer_gets({{{w0, 1}, record_of(1, w0)}});  // startup put too
  ASSERT_EQ(h.puts.size(), 1u);
  const unsigned slot = h.puts[0].slot;
  h.answer_puts();
  h.feed(in::dial_done{nid(1), true});
  h.feed(in::neighbor_up{nid(1)});
  for (std::size_t m = 0; m < 8; ++m) h.feed(in::message_seen{mid(m)});
  EXPECT_EQ(h.timers_of<timers::publish>(), 1u);
  EXPECT_EQ(h.first_delay_of<timers::publish>(h.now), std::chrono::duration_cast<core::duration>(10s));
  h.run_for(10s);
  // Same window, our slot known: refreshed in place without a read.
  ASSERT_EQ(h.puts.size(), 1u);
  EXPECT_TRUE(h.gets.empty());
  EXPECT_EQ(h.puts[0].slot, slot);
  EXPECT_EQ(h.puts[0].neighbors, std::vector<node_id>{nid(1)});
  EXPECT_EQ(h.puts[0].recent_messages, (std::vector<message_id>{mid(3), mid(4), mid(5), mid(6), mid(7)}));
  h.answer_puts();
  // The next tick comes 10–60 s later.
  const auto d = h.first_delay_of<timers::publish>(h.now);
  EXPECT_GE(d, std::chrono::duration_cast<core::duration>(10s));
  EXPECT_LE(d, std::chrono::duration_cast<core::duration>(60s));
  // In a new window it reads that window's slots before writing.
  h.run_for(60s);
  h.run_for(std::chrono::seconds(60));
  EXPECT_GE(h.t.stats().publisher_publishes, 1u);
  EXPECT_FALSE(h.gets.empty());
  for (const auto& g : h.gets) EXPECT_GT(g.window, w0);
}

TEST(Tracker, AddressChangeRepublishesOnceAfterTheDelayWithoutASecondTickChain) {
  auto_discovery_config cfg;
  cfg.merge.bubble.enabled = false;
  cfg.merge.message_overlap.enabled = false;
  harness h(cfg);
  // Before joining, a change only counts: the bootstrap publishes anyway.
  h.feed(in::addresses_changed{});
  EXPECT_EQ(h.timers_of<timers::republish>(), 0u);
  h.feed(in::start{});
  h.answer_gets({{{w0, 1}, record_of(1, w0)}});
  ASSERT_EQ(h.puts.size(), 1u);
  const unsigned slot = h.puts[0].slot;
  h.answer_puts();
  h.feed(in::dial_done{nid(1), true});
  h.feed(in::neighbor_up{nid(1)});
  ASSERT_EQ(h.timers_of<timers::publish>(), 1u);
  // Two changes in a burst: two timers, but only the latest one publishes.
  h.feed(in::addresses_changed{});
  h.advance(500ms);
  h.feed(in::addresses_changed{});
  ASSERT_EQ(h.timers_of<timers::republish>(), 2u);
  EXPECT_EQ(h.first_delay_of<timers::republish>(h.now), std::chrono::duration_cast<core::duration>(1500ms));
  h.run_for(1900ms);
  EXPECT_TRUE(h.puts.empty()) << "the first (stale) change timer published";
  h.run_for(200ms);
  ASSERT_EQ(h.puts.size(), 1u) << "no publish 2 s after the last change";
  EXPECT_EQ(h.puts[0].slot, slot);  // our slot, refreshed in place
  EXPECT_EQ(h.t.stats().address_republishes, 1u);
  h.answer_puts();
  // The periodic publisher is still one chain.
  EXPECT_EQ(h.timers_of<timers::publish>(), 1u);
  EXPECT_EQ(h.timers_of<timers::republish>(), 0u);
}

TEST(Tracker, AddressChangeOnAReadOnlyOrSilentPublisherPublishesNothing) {
  auto_discovery_config cfg;
  cfg.publisher.enabled = false;
  cfg.merge.bubble.enabled = false;
  cfg.merge.message_overlap.enabled = false;
  harness h(cfg);
  h.feed(in::start{});
  h.answer_gets({{{w0, 1}, record_of(1, w0)}});
  h.answer_puts();
  h.feed(in::dial_done{nid(1), true});
  h.feed(in::neighbor_up{nid(1)});
  h.feed(in::addresses_changed{});
  EXPECT_EQ(h.timers_of<timers::republish>(), 0u);
  h.run_for(10s);
  EXPECT_TRUE(h.puts.empty());
}

TEST(Tracker, FailedPutIsRetriedWithJitteredBackoffWithinItsWindow) {
  harness h;
  h.feed(in::start{});
  h.answer_gets();
  ASSERT_EQ(h.puts.size(), 1u);
  const unsigned first_slot = h.puts[0].slot;
  h.answer_puts(false);
  EXPECT_EQ(h.t.stats().put_failures, 1u);
  ASSERT_EQ(h.timers_of<timers::put_retry>(), 1u);
  const auto d = h.first_delay_of<timers::put_retry>(h.now);
  EXPECT_GE(d, std::chrono::duration_cast<core::duration>(5s));
  EXPECT_LE(d, std::chrono::duration_cast<core::duration>(15s));
  // Bootstrap does not wait for the retry: a refused put means someone is
  // writing now, so it reads again at once (here: still nobody), then polls.
  ASSERT_EQ(h.gets.size(), 5u);
  h.answer_gets();
  EXPECT_EQ(h.timers_of<timers::poll>(), 1u);
  h.scheduled.erase(std::remove_if(h.scheduled.begin(), h.scheduled.end(),
                                   [](const auto& s) { return std::holds_alternative<timers::poll>(s.second); }),
                    h.scheduled.end());
  h.run_for(d);
  // The retry reads the window again and chooses a slot afresh: the one it
  // failed on now holds a newer record of someone else.
  ASSERT_EQ(h.gets.size(), 5u);
  h.answer_gets({{{w0, first_slot}, record_of(9, w0)}});
  ASSERT_EQ(h.puts.size(), 1u);
  EXPECT_NE(h.puts[0].slot, first_slot);
  EXPECT_EQ(h.t.stats().put_retries, 1u);
  // Failing again past the window's end: dropped instead of retried.
  h.advance(40s);
  h.answer_puts(false);
  h.run_for(20s);
  EXPECT_TRUE(h.puts.empty());
  EXPECT_EQ(h.t.pending_requests(), 0u);
}

TEST(Tracker, RetriesStopAfterTheConfiguredCount) {
  auto_discovery_config cfg;
  cfg.dht.retries = 2;
  cfg.dht.base_retry_interval = 1s;
  cfg.dht.max_retry_jitter = 0ms;
  harness h(cfg);
  h.unix_ms = w0 * 60'000;  // a whole window ahead
  h.feed(in::start{});
  h.answer_gets();
  for (int i = 0; i < 5; ++i) {
    h.answer_puts(false);
    h.scheduled.erase(std::remove_if(h.scheduled.begin(), h.scheduled.end(),
                                     [](const auto& s) { return std::holds_alternative<timers::poll>(s.second); }),
                      h.scheduled.end());
    h.run_for(1s);
    h.answer_gets();
  }
  EXPECT_EQ(h.t.stats().puts, 3u);  // the first try and 2 retries
  EXPECT_EQ(h.t.stats().put_retries, 2u);
}

namespace {
// A joined tracker with `n` neighbours (1..n) and its merge timers pending.
harness joined_with(std::size_t n, auto_discovery_config cfg = {}) {
  cfg.publisher.enabled = false;
  harness h(cfg);
  h.feed(in::neighbor_up{nid(1)});
  h.feed(in::start{});
  for (std::size_t i = 2; i <= n; ++i) h.feed(in::neighbor_up{nid(i)});
  return h;
}
}  // namespace

TEST(Tracker, JoinedBeforeStartSkipsBootstrap) {
  auto h = joined_with(1);
  EXPECT_EQ(h.joined, 1);
  EXPECT_TRUE(h.gets.empty());
  EXPECT_EQ(h.timers_of<timers::bubble>(), 1u);
  EXPECT_EQ(h.timers_of<timers::overlap>(), 1u);
  EXPECT_EQ(h.first_delay_of<timers::bubble>(h.now), std::chrono::duration_cast<core::duration>(30s));
}

TEST(Tracker, BubbleMergeJoinsAtMostTwoPeersWhenShortOfNeighbours) {
  auto h = joined_with(2);
  h.run_for(30s);
  ASSERT_EQ(h.gets.size(), 10u);
  h.answer_gets({{{w0, 0}, record_of(10, w0, {11, 12, 1})}, {{w0 - 1, 3}, record_of(13, w0 - 1, {14})}});
  ASSERT_EQ(h.dials.size(), 2u);
  for (const auto& d : h.dials) EXPECT_NE(d.id, nid(1));  // never a current neighbour
  h.feed(in::dial_done{h.dials[0].id, true});
  ASSERT_EQ(h.joins.size(), 1u);  // merges join even though we are joined
  EXPECT_EQ(h.t.stats().bubble_merges, 1u);
  // The next tick comes 60–180 s later.
  const auto d = h.first_delay_of<timers::bubble>(h.now);
  EXPECT_GE(d, std::chrono::duration_cast<core::duration>(60s));
  EXPECT_LE(d, std::chrono::duration_cast<core::duration>(180s));
}

TEST(Tracker, HealthyNodeCostsTheDhtNothingOnMergeTicks) {
  auto h = joined_with(4);  // min_neighbors reached, and no message seen
  h.run_for(200s);
  EXPECT_TRUE(h.gets.empty());
  EXPECT_EQ(h.t.stats().gets, 0u);
}

TEST(Tracker, MessageOverlapMergeJoinsPeersOfARecordWithOnlyUnknownMessages) {
  auto_discovery_config cfg;
  cfg.merge.bubble.enabled = false;
  auto h = joined_with(4, cfg);
  for (std::size_t m = 0; m < 5; ++m) h.feed(in::message_seen{mid(m)});
  h.run_for(30s);
  ASSERT_EQ(h.gets.size(), 10u);
  h.answer_gets({
      {{w0, 0}, record_of(10, w0, {11}, {1, 2, 3})},     // shares our messages: same overlay
      {{w0, 1}, record_of(20, w0, {21, 22}, {50, 51})},  // none of them known: a split
      {{w0, 2}, record_of(30, w0, {}, {})},              // no messages: no evidence
  });
  ASSERT_EQ(h.dials.size(), 2u);
  for (const auto& d : h.dials) EXPECT_TRUE(d.id == nid(20) || d.id == nid(21) || d.id == nid(22));
  EXPECT_EQ(h.t.stats().overlap_merges, 1u);
}

TEST(Tracker, QuietSmallIslandJoinsPeersItsViewsNeverShowed) {
  auto_discovery_config cfg;
  cfg.merge.bubble.enabled = false;
  auto h = joined_with(4, cfg);
  // No message at all, and views that hold only 4 peers: a small island.
  h.view = {nid(1), nid(2), nid(3), nid(4)};
  h.run_for(30s);
  ASSERT_EQ(h.view_requests, 2);  // the check 2 s after joining, and the first tick
  ASSERT_EQ(h.gets.size(), 10u);
  h.answer_gets({
      {{w0, 0}, record_of(2, w0, {1, 3})},     // one of us
      {{w0, 1}, record_of(40, w0, {41, 3})},   // lists one of us: the same island
      {{w0, 2}, record_of(50, w0, {51, 52})},  // nobody we know: another part of the overlay
  });
  ASSERT_EQ(h.dials.size(), 2u);
  for (const auto& d : h.dials) EXPECT_TRUE(d.id == nid(50) || d.id == nid(51) || d.id == nid(52));
  EXPECT_EQ(h.t.stats().island_merges, 1u);

  // A node with full views and no messages does not even read.
  auto big = joined_with(4, cfg);
  big.run_for(30s);
  EXPECT_EQ(big.view_requests, 2);
  EXPECT_TRUE(big.gets.empty());
}

TEST(Tracker, EarlyCheckAfterJoiningFindsASmallGroup) {
  auto h = joined_with(2);  // joined with two neighbours: fewer than min_neighbors
  EXPECT_EQ(h.first_delay_of<timers::settle_check>(h.now), std::chrono::duration_cast<core::duration>(2s));
  h.run_for(2s);
  ASSERT_EQ(h.gets.size(), 10u);  // read at 2 s, not at the first tick (30 s)
  h.answer_gets({{{w0, 0}, record_of(10, w0, {11})}});
  EXPECT_EQ(h.dials.size(), 2u);
  auto_discovery_config off;
  off.bootstrap.post_join_check = 0ms;
  auto q = joined_with(2, off);
  q.run_for(5s);
  EXPECT_TRUE(q.gets.empty());
}

TEST(Tracker, MergesCanBeDisabled) {
  auto_discovery_config cfg;
  cfg.merge.bubble.enabled = false;
  cfg.merge.message_overlap.enabled = false;
  auto h = joined_with(1, cfg);
  EXPECT_EQ(h.timers_of<timers::bubble>(), 0u);
  EXPECT_EQ(h.timers_of<timers::overlap>(), 0u);
  EXPECT_EQ(h.timers_of<timers::publish>(), 0u);
}

TEST(Tracker, IsolatedNodeBootstrapsAgainUnlessANeighbourReturns) {
  auto h = joined_with(1);
  h.feed(in::neighbor_down{nid(1)});
  h.feed(in::neighbor_up{nid(2)});  // HyParView refilled in time
  h.run_for(2s);
  EXPECT_EQ(h.t.current_phase(), phase::joined);
  EXPECT_EQ(h.t.stats().rebootstraps, 0u);
  h.feed(in::neighbor_down{nid(2)});
  h.run_for(2s);
  EXPECT_EQ(h.t.current_phase(), phase::bootstrapping);
  EXPECT_EQ(h.t.stats().rebootstraps, 1u);
  EXPECT_EQ(h.gets.size(), 10u);
  // Old merge timers of the joined phase no longer apply.
  h.answer_gets();
  h.answer_puts();
  h.answer_gets();
  h.feed(in::neighbor_up{nid(3)});
  EXPECT_EQ(h.joined, 2);
}

TEST(Tracker, OlderRecordsFirstReadsTheTwoPreviousWindows) {
  auto_discovery_config cfg;
  cfg.bootstrap.check_older_records_first_on_startup = true;
  harness h(cfg);
  h.feed(in::start{});
  ASSERT_EQ(h.gets.size(), 10u);
  for (const auto& g : h.gets) EXPECT_TRUE(g.window == w0 - 1 || g.window == w0 - 2);
}

TEST(Tracker, TimedOutReadsLeaveSlotsUnknownAndAreCounted) {
  harness h;
  h.feed(in::start{});
  auto pending = std::move(h.gets);
  h.gets.clear();
  for (const auto& g : pending) h.feed(in::get_done{g.request, get_outcome::timeout, std::nullopt});
  EXPECT_EQ(h.t.stats().get_timeouts, 10u);
  // Unknown slots may still be written (the cap is not proven reached).
  ASSERT_EQ(h.puts.size(), 1u);
  // Unanswered and unknown requests are ignored.
  h.feed(in::get_done{999999, get_outcome::empty, std::nullopt});
  h.feed(in::put_done{999999, true});
  h.feed(in::dial_done{nid(77), true});
  EXPECT_TRUE(h.joins.empty());
}

TEST(Tracker, KnownMessagesAreBounded) {
  auto_discovery_config cfg;
  cfg.known_message_capacity = 3;
  cfg.merge.bubble.enabled = false;
  auto h = joined_with(4, cfg);
  for (std::size_t m = 0; m < 10; ++m) h.feed(in::message_seen{mid(m)});
  h.run_for(30s);
  // Only 7, 8, 9 are remembered: a record listing 0 and 1 now looks foreign.
  h.answer_gets({{{w0, 0}, record_of(20, w0, {}, {0, 1})}});
  EXPECT_EQ(h.dials.size(), 1u);
}

TEST(AutoDiscoveryConfig, DefaultsAreTheCrateDefaultsAndValid) {
  auto_discovery_config c;
  EXPECT_TRUE(c.validate());
  EXPECT_EQ(c.bootstrap.max_bootstrap_records, 5u);
  EXPECT_EQ(c.bootstrap.no_peers_retry_interval, 1500ms);
  EXPECT_EQ(c.bootstrap.per_peer_join_settle_time, 100ms);
  EXPECT_EQ(c.bootstrap.join_confirmation_wait_time, 500ms);
  EXPECT_EQ(c.bootstrap.discovery_poll_interval, 2000ms);
  EXPECT_TRUE(c.bootstrap.publish_record_on_startup);
  EXPECT_FALSE(c.bootstrap.check_older_records_first_on_startup);
  EXPECT_EQ(c.dht.retries, 3u);
  EXPECT_EQ(c.dht.base_retry_interval, 5s);
  EXPECT_EQ(c.dht.max_retry_jitter, 10s);
  EXPECT_EQ(c.dht.get_timeout, 10s);
  EXPECT_EQ(c.dht.put_timeout, 10s);
  EXPECT_EQ(c.publisher.initial_delay, 10s);
  EXPECT_EQ(c.publisher.base_interval, 10s);
  EXPECT_EQ(c.publisher.max_jitter, 50s);
  EXPECT_EQ(c.merge.bubble.initial_interval, 30s);
  EXPECT_EQ(c.merge.bubble.base_interval, 60s);
  EXPECT_EQ(c.merge.bubble.max_jitter, 120s);
  EXPECT_EQ(c.merge.bubble.min_neighbors, 4u);
  EXPECT_EQ(c.merge.bubble.max_join_peers, 2u);
  EXPECT_EQ(c.merge.message_overlap.max_join_peers, 2u);
  EXPECT_EQ(c.timeouts.join_peer_timeout, 5s);
  EXPECT_EQ(c.timeouts.broadcast_timeout, 5s);
}

TEST(AutoDiscoveryConfig, BuilderValidatesAndNamesTheField) {
  auto ok = auto_discovery_config::builder().max_bootstrap_records(8).bubble_merge_enabled(false).build();
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->bootstrap.max_bootstrap_records, 8u);
  EXPECT_FALSE(ok->merge.bubble.enabled);

  auto zero = auto_discovery_config::builder().discovery_poll_interval(0ms).build();
  ASSERT_FALSE(zero);
  EXPECT_EQ(zero.error().code, make_error_code(errc::invalid_argument));
  EXPECT_NE(zero.error().message().find("discovery_poll_interval"), std::string::npos);

  // 0 is read-only (issue 12, as in the crate); beyond 64 slots is refused.
  EXPECT_TRUE(auto_discovery_config::builder().max_bootstrap_records(0).build());
  auto slots = auto_discovery_config::builder().max_bootstrap_records(65).build();
  ASSERT_FALSE(slots);
  EXPECT_NE(slots.error().message().find("max_bootstrap_records"), std::string::npos);

  auto neg = auto_discovery_config::builder().dht_max_retry_jitter(-1ms).build();
  ASSERT_FALSE(neg);
  EXPECT_NE(neg.error().message().find("dht.max_retry_jitter"), std::string::npos);

  auto poll = auto_discovery_config::builder().max_poll_interval(1s).build();
  ASSERT_FALSE(poll);
  EXPECT_NE(poll.error().message().find("max_poll_interval"), std::string::npos);

  bubble_merge_config b;
  b.max_join_peers = 0;
  auto joins = auto_discovery_config::builder().bubble_merge(b).build();
  ASSERT_FALSE(joins);
  b.enabled = false;  // disabled: its settings do not matter
  EXPECT_TRUE(auto_discovery_config::builder().bubble_merge(b).build());
}
