// A member fills a topic's DHT slots with hostile values (issue 15, "Hostile
// input"): garbage, a format nobody reads, truncated records, forged
// signatures, records of another topic or window, replays of the previous
// window, oversized values. Honest members still join through the DHT alone,
// and their counters show every rejection under its reason. Real libtorrent
// DHT testnet, real nodes, real TLS on loopback.
#include "hostile_slots.hpp"
#include "node_support.hpp"

#include <topicswarm/dht_client.hpp>

#include <random>

namespace topicswarm {
namespace {

using namespace test_support;
using namespace std::chrono_literals;

using hostile_slots = testnet_writer_test;

std::uint64_t unix_ms_now() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                        std::chrono::system_clock::now().time_since_epoch())
                                        .count());
}

TEST_F(hostile_slots, honest_members_join_and_count_every_rejection_by_reason) {
  const std::string name = "hostile-slots";
  const std::string secret = "members only";
  const topic_id t = topic_id_from_name(name);
  auto cfg = quick_discovery();
  // Eight slots per window: the seven kinds a DHT node stores take slots 0-6
  // of the current window, so honest members still have room to publish.
  cfg.bootstrap.max_bootstrap_records = 8;
  // A window boundary during the writes would leave the values in a window
  // the members read only as "previous": wait for a fresh window if close.
  if (unix_ms_now() % 60'000 > 45'000) std::this_thread::sleep_for(std::chrono::milliseconds(60'500 - unix_ms_now() % 60'000));
  const std::uint64_t now_ms = unix_ms_now();
  const std::uint64_t w = now_ms / 60'000;
  const auto key = hash_secret(t, std::string_view(secret), cfg.secret_hashing);
  ASSERT_TRUE(key);
  const record_codec codec(t, *key);

  std::mt19937 gen(15);
  unsigned slot = 0;
  std::vector<hostile_kind> stored_kinds;
  for (auto k : all_hostile_kinds) {
    const unsigned s = k == hostile_kind::oversized ? 7 : slot++;
    auto v = make_hostile(k, codec, w, s, now_ms, [&] { return gen(); });
    ASSERT_TRUE(v) << to_string(k);
    const auto where = codec.slot(w, s);
    auto put = run_on(io_, writer_->put_mutable(where.signer, where.salt, v->value, v->seq), 20s);
    const bool stored = put && put->nodes_stored > 0;
    if (k == hostile_kind::oversized) {
      EXPECT_FALSE(stored) << "a DHT node stored a " << v->value.size() << "-byte value";
      continue;
    }
    ASSERT_TRUE(stored) << to_string(k) << ": " << (put ? "no node stored it" : put.error().message());
    stored_kinds.push_back(k);
  }

  // Members join afterwards, through the DHT only.
  auto a = start_dht_node(io_, *net_, 71);
  auto b = start_dht_node(io_, *net_, 72);
  auto ta = a.join_with_auto_discovery_no_wait(t, secret, cfg);
  auto tb = b.join_with_auto_discovery_no_wait(t, secret, cfg);
  ASSERT_TRUE(ta && tb);
  for (auto* h : {&*ta, &*tb}) {
    auto j = run_on(io_, h->joined(25s), 30s);
    ASSERT_TRUE(j) << "members did not meet: " << j.error().message();
  }
  auto [sa, ra] = std::move(*ta).split();
  auto rb = tb->subscribe_events();
  std::optional<std::string> got;
  for (int i = 0; i < 40 && !got; ++i) {
    ASSERT_TRUE(run_on(io_, sa.broadcast(to_bytes("past the hostile slots " + std::to_string(i))), 5s));
    auto g = run_on(io_, collect(rb, 1, 250ms), 5s);
    if (!g.empty()) got = g[0];
  }
  ASSERT_TRUE(got) << "no broadcast crossed";

  // Every kind a node stored was read and refused under its own reason.
  auto_discovery_stats sum;
  for (auto* n : {&a, &b}) {
    const auto s = n->stats_blocking().auto_discovery;
    for (auto k : stored_kinds) sum.*expected_counter(k) += s.*expected_counter(k);
    sum.records_invalid += s.records_invalid;
    sum.records_rejected_other += s.records_rejected_other;
  }
  for (auto k : stored_kinds) EXPECT_GE(sum.*expected_counter(k), 1u) << to_string(k) << " was not counted";
  EXPECT_EQ(sum.records_rejected_other, 0u);
  std::uint64_t by_reason = 0;
  for (auto k : stored_kinds) by_reason += sum.*expected_counter(k);
  EXPECT_EQ(by_reason, sum.records_invalid) << "a rejection was counted without its reason";
}

}  // namespace
}  // namespace topicswarm
