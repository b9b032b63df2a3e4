// The slot lock of record format 1, and why format 2 survives it (issue 13;
// docs/PROTOCOL.md §7, SECURITY.md). Real libtorrent DHT testnet, real nodes.
//
// An attacker who knows only the topic name writes, with the largest BEP 44
// seq, a garbage value into every slot it can compute for the current and
// the next window: the format 1 slots (keys from the name), and the format 2
// slots of the open topic and of a secret it guessed. BEP 44 nodes then refuse
// any lower seq in those slots, so an honest writer there is locked out for
// as long as the nodes keep the item. The members, joined with the real
// secret, write and read slots the attacker cannot compute, and still find
// each other within the usual bound.
#include "node_support.hpp"

#include "crypto/hash.hpp"

#include <topicswarm/dht_client.hpp>
#include <topicswarm/dht_testnet.hpp>
#include <topicswarm/record.hpp>

#include <limits>
#include <set>

namespace topicswarm {
namespace {

using namespace test_support;
using namespace std::chrono_literals;

constexpr std::int64_t largest_seq = std::numeric_limits<std::int64_t>::max();
// Slots per window the attacker fills: more than any reader uses by
// default (auto_discovery_config: 5).
constexpr unsigned attacked_slots = 16;

template <std::size_t N>
std::array<std::byte, N> be(std::uint64_t v) {
  std::array<std::byte, N> b;
  for (std::size_t i = 0; i < N; ++i) b[i] = static_cast<std::byte>(v >> (8 * (N - 1 - i)));
  return b;
}

// The format 1 slot (keys from the topic name alone): what anyone who knew
// the name could compute before format 2.
record_slot format1_slot(const topic_id& t, std::uint64_t window, unsigned index) {
  auto w = be<8>(window);
  auto i = be<4>(index);
  auto seed = crypto::sha512({as_bytes(std::string_view("topicswarm/slot-key/v1")), t.span(), w, i});
  auto salt = crypto::sha512({as_bytes(std::string_view("topicswarm/slot-salt/v1")), t.span(), w, i});
  return record_slot{keypair::from_seed(*ed25519_seed::from_span(byte_span(seed).first(32))),
                     bytes(salt.begin(), salt.begin() + 16)};
}

class slot_flood : public testnet_writer_test {
 protected:
  // Writes the lock; returns how many of the puts some DHT node stored.
  int lock(const record_slot& s) {
    bytes garbage(400, std::byte{0x02});  // looks like format 2 at a glance
    auto put = run_on(io_, writer_->put_mutable(s.signer, s.salt, garbage, largest_seq), 20s);
    return put && put->nodes_stored > 0 ? 1 : 0;
  }

};

TEST_F(slot_flood, members_meet_although_every_slot_the_attacker_can_compute_is_locked) {
  const std::string name = "slot-flood";
  const topic_id t = topic_id_from_name(name);
  const auto cfg = quick_discovery();
  const std::uint64_t now = window_at(std::chrono::system_clock::now());

  // What the attacker can compute from the name: the format 1 slots, the
  // open topic's format 2 slots, and those of a secret it guessed wrong.
  std::vector<record_slot> targets;
  const record_codec open_codec(t, open_topic_key(t));
  const record_codec guessed(t, *hash_secret(t, std::string_view("password123"), cfg.secret_hashing));
  for (std::uint64_t w : {now, now + 1})
    for (unsigned i = 0; i < attacked_slots; ++i) {
      targets.push_back(format1_slot(t, w, i));
      targets.push_back(open_codec.slot(w, i));
      targets.push_back(guessed.slot(w, i));
    }
  int stored = 0;
  for (const auto& s : targets) stored += lock(s);
  ASSERT_GE(stored, static_cast<int>(targets.size()) * 9 / 10) << "the attacker's puts did not reach the DHT";

  // The lock is real: an honest record written into a locked slot (here the
  // open topic's slot 0, as a member of the open topic would) is refused by
  // the DHT nodes, and a reader still gets the attacker's value.
  {
    auto me = identity::generate();
    topic_record r;
    r.topic = t;
    r.window = now;
    r.publisher = me.id();
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::system_clock::now().time_since_epoch())
                        .count();
    r.timestamp_ms = std::min<std::uint64_t>(static_cast<std::uint64_t>(ms), now * 60'000 + 59'999);
    auto sealed = open_codec.seal(r, me, 0);
    ASSERT_TRUE(sealed) << sealed.error().message();
    auto slot0 = open_codec.slot(now, 0);
    (void)run_on(io_, writer_->put_mutable(slot0.signer, slot0.salt, *sealed,
                                             static_cast<std::int64_t>(r.timestamp_ms)),
                 20s);
    auto got = run_on(io_, writer_->get_mutable(slot0.key(), slot0.salt), 20s);
    ASSERT_TRUE(got.item);
    EXPECT_EQ(got.item->seq, largest_seq);
    EXPECT_NE(got.item->value, *sealed);
    // And a reader refuses the lock before any crypto.
    EXPECT_EQ(open_codec.open(got.item->value, now, 0, got.item->seq).code(),
              make_error_code(errc::record_seq_out_of_range));
  }

  // The members' slots are none of the attacked ones.
  const auto key = hash_secret(t, std::string_view("the real secret"), cfg.secret_hashing);
  ASSERT_TRUE(key);
  const record_codec members(t, *key);
  std::set<public_key> attacked;
  for (const auto& s : targets) attacked.insert(s.key());
  for (std::uint64_t w : {now, now + 1})
    for (unsigned i = 0; i < attacked_slots; ++i) EXPECT_FALSE(attacked.count(members.slot(w, i).key()));

  // Members join afterwards, through the DHT only, within the usual bound.
  auto a = start_dht_node(io_, *net_, 61);
  auto b = start_dht_node(io_, *net_, 62);
  auto ta = a.join_with_auto_discovery_no_wait(t, "the real secret", cfg);
  auto tb = b.join_with_auto_discovery_no_wait(t, "the real secret", cfg);
  ASSERT_TRUE(ta && tb);
  for (auto* h : {&*ta, &*tb}) {
    auto j = run_on(io_, h->joined(20s), 25s);
    ASSERT_TRUE(j) << "members did not meet: " << j.error().message();
  }
  // They talk.
  auto [sa, ra] = std::move(*ta).split();
  auto rb = tb->subscribe_events();
  std::optional<std::string> got;
  for (int i = 0; i < 40 && !got; ++i) {
    ASSERT_TRUE(run_on(io_, sa.broadcast(to_bytes("through the flood " + std::to_string(i))), 5s));
    auto g = run_on(io_, collect(rb, 1, 250ms), 5s);
    if (!g.empty()) got = g[0];
  }
  ASSERT_TRUE(got) << "no broadcast crossed";
  // They never read a locked value: their slots are not the attacked ones.
  EXPECT_EQ(a.stats_blocking().auto_discovery.records_invalid, 0u);
  EXPECT_EQ(b.stats_blocking().auto_discovery.records_invalid, 0u);
}

}  // namespace
}  // namespace topicswarm
