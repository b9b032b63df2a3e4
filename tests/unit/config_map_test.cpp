// Every public gossip_config field reaches the gossip core (issue 12): a table
// names, for each public field, a non-default value and the core field that
// must carry it. Compile-time field counts tie the table to both structs, so
// a field added on either side without a mapping and a table row breaks the
// build here. Validation names the field it refuses, and a few settings are
// checked in the core's behaviour too.
#include "gossip_pump.hpp"

#include "node/config_map.hpp"

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <string>

using namespace gossip_test;
using topicswarm::gossip_config;
using topicswarm::node_config;

namespace {

// ---------------------------------------------------- aggregate field count --

// Converts to anything: T{any_field{}, ...} compiles for as many initialisers
// as the aggregate T has fields, and no more.
struct any_field {
  template <class T>
  operator T() const;  // only named in unevaluated contexts
};

template <class T, class... Fields>
consteval std::size_t field_count() {
  if constexpr (requires { T{Fields{}..., any_field{}}; })
    return field_count<T, Fields..., any_field>();
  else
    return sizeof...(Fields);
}

// ------------------------------------------------------------- the mapping --

std::int64_t us(duration d) { return d.count(); }

struct field_case {
  const char* name;
  void (*set)(gossip_config&);                        // a value other than the default
  std::int64_t (*core_value)(const gossip::config&);  // the core field it must reach
  std::int64_t expected;                              // that field's value after set()
};

// One row per public field, in declaration order.
constexpr std::array<field_case, 23> fields{{
    {"active_view_capacity", [](gossip_config& g) { g.active_view_capacity = 7; },
     [](const gossip::config& c) -> std::int64_t { return c.membership.active_view_capacity; }, 7},
    {"passive_view_capacity", [](gossip_config& g) { g.passive_view_capacity = 41; },
     [](const gossip::config& c) -> std::int64_t { return c.membership.passive_view_capacity; }, 41},
    {"active_random_walk_length", [](gossip_config& g) { g.active_random_walk_length = 9; },
     [](const gossip::config& c) -> std::int64_t { return c.membership.active_random_walk_length; }, 9},
    {"passive_random_walk_length", [](gossip_config& g) { g.passive_random_walk_length = 2; },
     [](const gossip::config& c) -> std::int64_t { return c.membership.passive_random_walk_length; }, 2},
    {"shuffle_random_walk_length", [](gossip_config& g) { g.shuffle_random_walk_length = 4; },
     [](const gossip::config& c) -> std::int64_t { return c.membership.shuffle_random_walk_length; }, 4},
    {"shuffle_interval", [](gossip_config& g) { g.shuffle_interval = std::chrono::milliseconds(45'000); },
     [](const gossip::config& c) { return us(c.membership.shuffle_interval); }, 45'000'000},
    {"shuffle_active_view_count", [](gossip_config& g) { g.shuffle_active_view_count = 2; },
     [](const gossip::config& c) -> std::int64_t { return c.membership.shuffle_active_view_count; }, 2},
    {"shuffle_passive_view_count", [](gossip_config& g) { g.shuffle_passive_view_count = 6; },
     [](const gossip::config& c) -> std::int64_t { return c.membership.shuffle_passive_view_count; }, 6},
    {"neighbor_request_timeout", [](gossip_config& g) { g.neighbor_request_timeout = std::chrono::milliseconds(750); },
     [](const gossip::config& c) { return us(c.membership.neighbor_request_timeout); }, 750'000},
    {"max_active_per_range", [](gossip_config& g) { g.max_active_per_range = 3; },
     [](const gossip::config& c) -> std::int64_t { return static_cast<std::int64_t>(c.membership.max_active_per_range); },
     3},
    {"max_passive_per_range", [](gossip_config& g) { g.max_passive_per_range = 9; },
     [](const gossip::config& c) -> std::int64_t { return static_cast<std::int64_t>(c.membership.max_passive_per_range); },
     9},
    {"limit_local_ranges", [](gossip_config& g) { g.limit_local_ranges = true; },
     [](const gossip::config& c) -> std::int64_t { return c.membership.limit_local_ranges ? 1 : 0; }, 1},
    {"lazy_push_interval", [](gossip_config& g) { g.lazy_push_interval = std::chrono::milliseconds(9); },
     [](const gossip::config& c) { return us(c.broadcast.lazy_push_interval); }, 9'000},
    {"graft_timeout_1", [](gossip_config& g) { g.graft_timeout_1 = std::chrono::milliseconds(120); },
     [](const gossip::config& c) { return us(c.broadcast.graft_timeout_1); }, 120'000},
    {"graft_timeout_2", [](gossip_config& g) { g.graft_timeout_2 = std::chrono::milliseconds(55); },
     [](const gossip::config& c) { return us(c.broadcast.graft_timeout_2); }, 55'000},
    {"optimization_threshold", [](gossip_config& g) { g.optimization_threshold = 11; },
     [](const gossip::config& c) -> std::int64_t { return c.broadcast.optimization_threshold; }, 11},
    {"message_cache_retention", [](gossip_config& g) { g.message_cache_retention = std::chrono::milliseconds(12'000); },
     [](const gossip::config& c) { return us(c.broadcast.message_cache_retention); }, 12'000'000},
    {"message_id_retention", [](gossip_config& g) { g.message_id_retention = std::chrono::milliseconds(70'000); },
     [](const gossip::config& c) { return us(c.broadcast.message_id_retention); }, 70'000'000},
    {"cache_evict_interval", [](gossip_config& g) { g.cache_evict_interval = std::chrono::milliseconds(2'500); },
     [](const gossip::config& c) { return us(c.broadcast.cache_evict_interval); }, 2'500'000},
    {"message_cache_capacity", [](gossip_config& g) { g.message_cache_capacity = 1000; },
     [](const gossip::config& c) -> std::int64_t { return static_cast<std::int64_t>(c.broadcast.message_cache_capacity); },
     1000},
    {"message_cache_bytes", [](gossip_config& g) { g.message_cache_bytes = 1u << 20; },
     [](const gossip::config& c) -> std::int64_t { return static_cast<std::int64_t>(c.broadcast.message_cache_bytes); },
     1 << 20},
    {"message_id_capacity", [](gossip_config& g) { g.message_id_capacity = 2000; },
     [](const gossip::config& c) -> std::int64_t { return static_cast<std::int64_t>(c.broadcast.message_id_capacity); },
     2000},
    {"max_message_size", [](gossip_config& g) { g.max_message_size = 8192; },
     [](const gossip::config& c) -> std::int64_t { return static_cast<std::int64_t>(c.max_message_size); }, 8192},
}};

// A new public field needs a row (and a mapping in to_core)...
static_assert(field_count<gossip_config>() == fields.size(),
              "gossip_config changed: map the field in to_core() and add a row to `fields`");
// ... and so does a new core field (then a public field for it, too).
static_assert(field_count<gossip::config>() == 3, "gossip::config changed: expose and map the new part");
static_assert(field_count<gossip::membership_config>() + field_count<gossip::broadcast_config>() + 1 == fields.size(),
              "a core setting has no public field (or a row is missing)");

}  // namespace

TEST(ConfigMap, DefaultsAreTheCoresDefaults) {
  const auto mapped = topicswarm::detail::to_core(gossip_config{});
  const gossip::config core{};
  for (const auto& f : fields) EXPECT_EQ(f.core_value(mapped), f.core_value(core)) << f.name;
}

// Each field alone: it reaches its core field, and no other core field moves
// (two rows reading one core field, or a public field mapped to the wrong
// core field, fail here).
TEST(ConfigMap, EveryPublicFieldReachesItsCoreField) {
  const gossip::config core{};
  for (const auto& f : fields) {
    SCOPED_TRACE(f.name);
    gossip_config g;
    f.set(g);
    const auto mapped = topicswarm::detail::to_core(g);
    EXPECT_NE(f.expected, f.core_value(core)) << "the row must use a value other than the default";
    EXPECT_EQ(f.core_value(mapped), f.expected);
    for (const auto& other : fields) {
      if (&other != &f) {
        EXPECT_EQ(other.core_value(mapped), other.core_value(core)) << "moved: " << other.name;
      }
    }
    node_config n;
    n.gossip = g;
    EXPECT_TRUE(topicswarm::detail::validate(n)) << "the row's value must be valid";
  }
}

// ---------------------------------------------------------------- validation --

namespace {

std::string refusal(void (*set)(gossip_config&)) {
  node_config n;
  set(n.gossip);
  auto r = topicswarm::detail::validate(n);
  if (r) return "accepted";
  EXPECT_TRUE(r.error() == errc::invalid_argument);
  return r.error().message();
}

}  // namespace

TEST(ConfigMap, ValidationNamesTheField) {
  EXPECT_TRUE(topicswarm::detail::validate(node_config{}));
  const std::pair<const char*, void (*)(gossip_config&)> bad[] = {
      {"gossip.max_message_size", [](gossip_config& g) { g.max_message_size = 0; }},
      {"gossip.max_message_size", [](gossip_config& g) { g.max_message_size = limits::max_content_size + 1; }},
      {"gossip.active_view_capacity", [](gossip_config& g) { g.active_view_capacity = 0; }},
      {"gossip.active_random_walk_length", [](gossip_config& g) { g.active_random_walk_length = 33; }},
      {"gossip.passive_random_walk_length", [](gossip_config& g) { g.passive_random_walk_length = 33; }},
      {"gossip.shuffle_random_walk_length", [](gossip_config& g) { g.shuffle_random_walk_length = 33; }},
      {"gossip.shuffle_active_view_count", [](gossip_config& g) { g.shuffle_active_view_count = 64; }},
      {"gossip.shuffle_active_view_count + shuffle_passive_view_count",
       [](gossip_config& g) {
         g.shuffle_active_view_count = 40;
         g.shuffle_passive_view_count = 24;
       }},
      {"gossip.shuffle_interval", [](gossip_config& g) { g.shuffle_interval = {}; }},
      {"gossip.neighbor_request_timeout", [](gossip_config& g) { g.neighbor_request_timeout = {}; }},
      {"gossip.lazy_push_interval", [](gossip_config& g) { g.lazy_push_interval = {}; }},
      {"gossip.graft_timeout_1", [](gossip_config& g) { g.graft_timeout_1 = std::chrono::milliseconds(-1); }},
      {"gossip.graft_timeout_2", [](gossip_config& g) { g.graft_timeout_2 = {}; }},
      {"gossip.message_cache_retention", [](gossip_config& g) { g.message_cache_retention = {}; }},
      {"gossip.message_id_retention", [](gossip_config& g) { g.message_id_retention = {}; }},
      {"gossip.cache_evict_interval", [](gossip_config& g) { g.cache_evict_interval = {}; }},
  };
  for (const auto& [name, set] : bad) {
    const auto why = refusal(set);
    EXPECT_NE(why.find(name), std::string::npos) << "expected a refusal naming " << name << ", got: " << why;
  }
  // The bounds themselves are fine.
  EXPECT_EQ(refusal([](gossip_config& g) {
              g.shuffle_random_walk_length = 32;
              g.shuffle_active_view_count = 40;
              g.shuffle_passive_view_count = 23;
            }),
            "accepted");
}

// ----------------------------------------------------- the core uses them --

namespace {

// A node with 5 neighbours and a dozen passive peers; its next periodic
// shuffle (the first one after `now`).
wire::shuffle next_shuffle(const gossip_config& g) {
  single x(0, topicswarm::detail::to_core(g));
  for (std::size_t p = 1; p <= 5; ++p) x.connect(p);
  std::vector<peer_info> many;
  for (std::size_t p = 10; p < 22; ++p) many.push_back(make_peer(p));
  x.recv(1, wire::shuffle{make_peer(30), 0, many});  // a walk that ends here fills the passive view
  x.now += std::chrono::duration_cast<duration>(g.shuffle_interval);
  auto sh = x.timer(timers::shuffle{}).sends<wire::shuffle>();
  EXPECT_EQ(sh.size(), 1u);
  return sh.empty() ? wire::shuffle{} : sh[0].second;
}

}  // namespace

TEST(ConfigMap, ShuffleSettingsBoundTheShuffleTheCoreSends) {
  gossip_config g;
  auto sh = next_shuffle(g);
  EXPECT_EQ(sh.nodes.size(), 1u + 3u + 4u);  // ourselves, 3 neighbours, 4 passive peers
  EXPECT_EQ(sh.ttl, 6);
  g.shuffle_active_view_count = 1;
  g.shuffle_passive_view_count = 2;
  g.shuffle_random_walk_length = 2;
  sh = next_shuffle(g);
  EXPECT_EQ(sh.nodes.size(), 1u + 1u + 2u);
  EXPECT_EQ(sh.ttl, 2);
}

TEST(ConfigMap, CacheEvictIntervalSchedulesTheEvictionTimer) {
  for (auto every : {std::chrono::milliseconds(1'000), std::chrono::milliseconds(2'500)}) {
    gossip_config g;
    g.cache_evict_interval = every;
    single x(0, topicswarm::detail::to_core(g));
    x.connect(1);
    auto b = x.recv(1, make_gossip("m", 0));
    std::vector<duration> afters;
    for (const auto& s : b.all<out::schedule>())
      if (std::holds_alternative<timers::evict_cache>(s.t)) afters.push_back(s.after);
    ASSERT_EQ(afters.size(), 1u);
    EXPECT_EQ(afters[0], std::chrono::duration_cast<duration>(every));
  }
}

// ---------------------------------------------------------------- counters --

TEST(ConfigMap, TopicCountersAddUpToThePublicStatistics) {
  gossip::topic_counters c;
  c.membership.messages_sent = 3;
  c.broadcast.messages_sent = 4;
  c.messages_received = 5;
  c.malformed_messages = 1;
  c.broadcast.invalid_messages = 2;
  c.broadcast.gossip_delivered = 6;
  c.membership.shuffles = 7;
  topicswarm::gossip_stats s;
  topicswarm::detail::add_to(s, c, 2, 3);
  topicswarm::detail::add_to(s, c, 1, 0);
  EXPECT_EQ(s.messages_sent, 14u);
  EXPECT_EQ(s.messages_received, 10u);
  EXPECT_EQ(s.invalid_messages, 6u);
  EXPECT_EQ(s.delivered, 12u);
  EXPECT_EQ(s.shuffles, 14u);
  EXPECT_EQ(s.eager_links, 3u);
  EXPECT_EQ(s.lazy_links, 3u);
}
