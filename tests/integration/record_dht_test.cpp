// Topic records through a real libtorrent DHT testnet: what one client seals
// and puts, another client with the same secret gets and opens; a client with
// another secret gets the same bytes and cannot open them.
//
// The clients live for the whole suite: a stopped libtorrent node stays in
// routing tables and stalls later puts for 15 s (docs/DHT.md).
#include <topicswarm/dht_client.hpp>
#include <topicswarm/dht_testnet.hpp>
#include <topicswarm/record.hpp>

#include <gtest/gtest.h>

#include <limits>

#include "io_runner.hpp"

using namespace topicswarm;
using namespace std::chrono_literals;

namespace {

class RecordThroughDht : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dht::testnet_config tc;
    tc.nodes = 16;
    auto n = dht::testnet::start(tc);
    ASSERT_TRUE(n) << n.error().message();
    net_ = std::move(*n).release();
    io_ = new asio::io_context;
    for (auto** c : {&writer_, &reader_, &outsider_}) {
      dht::client_config cc;
      cc.listen = {"127.0.0.1:0"};
      cc.bootstrap = net_->bootstrap_list();
      cc.default_timeout = 10s;
      auto made = dht::client::start(io_->get_executor(), cc);
      ASSERT_TRUE(made) << made.error().message();
      *c = made->release();
      EXPECT_GE(run((*c)->wait_bootstrapped(8, 10s)), 8);
    }
  }
  static void TearDownTestSuite() {
    for (auto** c : {&writer_, &reader_, &outsider_}) {
      delete *c;
      *c = nullptr;
    }
    delete io_;  // after the clients that use it
    delete net_;
    io_ = nullptr;
    net_ = nullptr;
  }

  template <class T>
  static T run(asio::awaitable<T> aw) {
    return test_support::run_on(*io_, std::move(aw), 30s);
  }

  static inline dht::testnet* net_ = nullptr;
  static inline asio::io_context* io_ = nullptr;
  static inline dht::client* writer_ = nullptr;
  static inline dht::client* reader_ = nullptr;
  static inline dht::client* outsider_ = nullptr;
};

}  // namespace

TEST_F(RecordThroughDht, SameSecretReadsOtherSecretCannot) {
  auto topic = topic_id_from_name("integration-topic");
  auto now = std::chrono::system_clock::now();
  auto window = window_at(now);
  auto publisher = identity::generate();
  // The real Argon2id path, with the default cost.
  auto key = hash_secret(topic, std::string_view("shared secret"));
  ASSERT_TRUE(key) << key.error().message();
  record_codec codec(topic, *key);

  topic_record rec;
  rec.topic = topic;
  rec.window = window;
  rec.publisher = publisher.id();
  rec.addresses = writer_->listen_endpoints();
  rec.neighbors.push_back({identity::generate().id(), {*endpoint::parse("[::1]:4000")}});
  rec.recent_messages.push_back(message_id{});
  rec.timestamp_ms = window * 60'000 + 30'000;
  const unsigned index = 3;
  auto sealed = codec.seal(rec, publisher, index);
  ASSERT_TRUE(sealed) << sealed.error().message();

  auto slot = codec.slot(window, index);
  const auto seq = static_cast<std::int64_t>(rec.timestamp_ms);
  auto put = run(writer_->put_mutable(slot.signer, slot.salt, *sealed, seq));
  ASSERT_TRUE(put) << put.error().message();
  EXPECT_GT(put->nodes_stored, 0);

  auto got = run(reader_->get_mutable(slot.key(), slot.salt));
  ASSERT_TRUE(got.item);
  EXPECT_TRUE(dht::verify_mutable_item(*got.item));
  EXPECT_EQ(got.item->seq, seq);
  auto opened = record_codec(topic, *hash_secret(topic, std::string_view("shared secret")))
                    .open(got.item->value, window, index, got.item->seq);
  ASSERT_TRUE(opened) << opened.error().message();
  EXPECT_EQ(*opened, rec);

  // An outsider with another secret does not even know where to look: its
  // slot for the same (window, index) is another DHT key.
  record_codec wrong(topic, *hash_secret(topic, std::string_view("wrong secret")));
  EXPECT_NE(wrong.slot(window, index).key(), slot.key());
  // Handed the bytes all the same, it cannot open them.
  auto seen = run(outsider_->get_mutable(slot.key(), slot.salt));
  ASSERT_TRUE(seen.item);
  EXPECT_EQ(seen.item->value, *sealed);
  auto refused = wrong.open(seen.item->value, window, index, seen.item->seq);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.code(), make_error_code(errc::record_decryption_failed));
}

TEST_F(RecordThroughDht, GarbageInASlotIsRejectedNotFatal) {
  // Only a holder of the secret can compute a slot now; one that writes junk
  // (an insider, or a bug) gets it refused cheaply, by reason.
  auto topic = topic_id_from_name("garbage-topic");
  auto window = window_at(std::chrono::system_clock::now());
  record_codec codec(topic, *secret_hash_from_key(std::array<std::byte, 32>{std::byte{7}}));
  auto slot = codec.slot(window, 0);
  auto put = run(writer_->put_mutable(slot.signer, slot.salt, to_bytes("not a record at all"), 1));
  ASSERT_TRUE(put) << put.error().message();
  auto got = run(reader_->get_mutable(slot.key(), slot.salt));
  ASSERT_TRUE(got.item);
  auto r = codec.open(got.item->value, window, 0, got.item->seq);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.code(), make_error_code(errc::record_unsupported_version));  // 'n' is not version 2

  // A format-2-looking value with the largest seq: the BEP 44 nodes store it
  // (its signature is the slot's), readers refuse it before any crypto.
  auto lock = codec.slot(window, 1);
  bytes junk(300, std::byte{0x02});
  const std::int64_t huge = std::numeric_limits<std::int64_t>::max();
  ASSERT_TRUE(run(writer_->put_mutable(lock.signer, lock.salt, junk, huge)));
  auto locked = run(reader_->get_mutable(lock.key(), lock.salt));
  ASSERT_TRUE(locked.item);
  EXPECT_EQ(locked.item->seq, huge);
  EXPECT_EQ(codec.open(locked.item->value, window, 1, locked.item->seq).code(),
            make_error_code(errc::record_seq_out_of_range));
}
