// Admission on real nodes (TLS on loopback, docs/PROTOCOL.md §12): a peer
// takes part in a keyed topic only after proving the key on its connection.
// Hand-made peers (raw_peer.hpp) play the attackers: one that knows the wire
// id but sends no proof, one that proves with the wrong key, one that
// replays a proof made for another connection; and real nodes show that
// holders of the key get in and others do not.
#include "node_support.hpp"
#include "raw_peer.hpp"

#include <topicswarm/node.hpp>
#include <topicswarm/record.hpp>

#include <gtest/gtest.h>

namespace topicswarm {
namespace {

using namespace test_support;
using namespace std::chrono_literals;

// A random 32-byte topic key, as a caller that holds one passes it.
secret_hash random_key(std::uint8_t seed) {
  bytes raw(32);
  for (std::size_t i = 0; i < raw.size(); ++i) raw[i] = static_cast<std::byte>(seed * 31 + i * 7 + 1);
  return *secret_hash_from_key(raw);
}

node_config fast_admission(std::uint64_t seed) {
  auto c = loopback_config(seed);
  c.transport.admission_timeout = 700ms;
  return c;
}

TEST(node_admission, a_join_without_a_proof_is_dropped_counted_and_its_connection_closed) {
  asio::io_context io;
  const topic_id t = topic_id_from_name("admission-no-proof");
  const auto key = random_key(1);
  auto a = start_node(fast_admission(101));
  auto h = a.subscribe(t, key, {});
  ASSERT_TRUE(h);
  // Even knowing the wire id (which needs the key), a join without a proof is nothing.
  authenticated_client c(io, asio_endpoint(a.listen_endpoints().at(0)));
  c.send_join(h->wire_id());
  ASSERT_TRUE(eventually([&] { return a.stats_blocking().admission.frames_not_admitted >= 1; }));
  EXPECT_TRUE(h->neighbors().empty());
  EXPECT_TRUE(c.closed_by_peer()) << "a connection with no admitted topic must be closed";
  EXPECT_GE(a.stats_blocking().admission.closed_no_topic, 1u);
}

TEST(node_admission, a_proof_with_the_wrong_key_is_refused) {
  asio::io_context io;
  const topic_id t = topic_id_from_name("admission-wrong-key");
  auto a = start_node(fast_admission(102));
  auto h = a.subscribe(t, random_key(2), {});
  ASSERT_TRUE(h);
  authenticated_client c(io, asio_endpoint(a.listen_endpoints().at(0)));
  c.prove(h->wire_id(), random_key(3));  // the right wire id, another key
  c.send_join(h->wire_id());
  ASSERT_TRUE(eventually([&] {
    const auto s = a.stats_blocking().admission;
    return s.proofs_invalid >= 1 && s.refusals_sent >= 1 && s.frames_not_admitted >= 1;
  }));
  EXPECT_TRUE(h->neighbors().empty());
  EXPECT_EQ(a.stats_blocking().admission.proofs_accepted, 0u);
}

TEST(node_admission, a_proof_replayed_on_another_connection_is_refused) {
  asio::io_context io;
  const topic_id t = topic_id_from_name("admission-replay");
  const auto key = random_key(4);
  auto a = start_node(fast_admission(103));
  auto h = a.subscribe(t, key, {});
  ASSERT_TRUE(h);
  // The same identity on two connections: a proof made with the first
  // connection's exporter value does not verify on the second.
  const keypair me = keypair::generate();
  authenticated_client first(io, asio_endpoint(a.listen_endpoints().at(0)), me);
  const auto first_exporter = first.exporter();
  authenticated_client second(io, asio_endpoint(a.listen_endpoints().at(0)), me);
  ASSERT_NE(first_exporter, second.exporter()) << "two TLS connections must not share an exporter value";
  second.prove(h->wire_id(), key, first_exporter);
  second.send_join(h->wire_id());
  ASSERT_TRUE(eventually([&] { return a.stats_blocking().admission.proofs_invalid >= 1; }));
  EXPECT_TRUE(h->neighbors().empty());
  // The proof made for the connection it travels on is accepted.
  second.prove(h->wire_id(), key);
  second.send_join(h->wire_id());
  ASSERT_TRUE(eventually([&] { return h->neighbors().size() == 1; })) << "the valid proof did not admit the peer";
  EXPECT_EQ(a.stats_blocking().admission.proofs_accepted, 1u);
}

TEST(node_admission, nodes_with_the_same_key_talk_and_a_node_with_another_key_is_kept_out) {
  asio::io_context io;
  const topic_id t = topic_id_from_name("admission-three-nodes");
  auto a = start_node(fast_admission(104));
  auto b = start_node(fast_admission(105));
  auto c = start_node(fast_admission(106));
  auto [tx_a, rx_a] = subscribed(a, t, {});
  (void)tx_a;
  auto ha = a.subscribe(t, random_key(5), {});
  ASSERT_TRUE(ha);
  auto hb = b.subscribe(t, random_key(5), {a.address()});
  ASSERT_TRUE(hb);
  // c knows the name and a's address, not the key.
  auto hc = c.subscribe(t, random_key(6), {a.address()});
  ASSERT_TRUE(hc);
  EXPECT_NE(hb->wire_id(), hc->wire_id());
  ASSERT_TRUE(eventually([&] { return hb->neighbors().size() == 1; }));
  auto [txb, rxb] = std::move(*hb).split();
  auto [txc, rxc] = std::move(*hc).split();
  auto [txa, rxa] = std::move(*ha).split();
  ASSERT_TRUE(run_on(io, txb.broadcast(to_bytes("for members")), 10s));
  ASSERT_TRUE(run_on(io, txc.broadcast(to_bytes("from outside")), 10s));
  auto got_a = run_on(io, collect(rxa, 1, 5s), 10s);
  ASSERT_EQ(got_a, std::vector<std::string>{"for members"});
  auto got_c = run_on(io, collect(rxc, 1, 1500ms), 5s);
  EXPECT_TRUE(got_c.empty()) << "the node without the key received a member's broadcast";
  // The open topic on `a` (no key) is a topic of its own: nothing crossed into it.
  auto got_open = run_on(io, collect(rx_a, 1, 500ms), 5s);
  EXPECT_TRUE(got_open.empty());
  const auto sa = a.stats_blocking().admission;
  EXPECT_GE(sa.proofs_unknown_topic, 1u) << "a did not count c's proof for a topic it is not in";
  EXPECT_GE(sa.proofs_accepted, 1u);
  EXPECT_TRUE(rxc.neighbors().empty());
}

}  // namespace
}  // namespace topicswarm
