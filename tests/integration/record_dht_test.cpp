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
  auto window = window_at(std::chrono::system_clock::now());
  auto publisher = identity::generate();
  record_codec codec(topic, secret_hash_from(std::string_view("shared secret")));

  topic_record rec;
  rec.topic = topic;
  rec.window = window;
  rec.publisher = publisher.id();
  rec.addresses = writer_->listen_endpoints();
  rec.neighbors.push_back({identity::generate().id(), {*endpoint::parse("[::1]:4000")}});
  rec.recent_messages.push_back(message_id{});
  rec.timestamp_ms = 1;
  auto sealed = codec.seal(rec, publisher);
  ASSERT_TRUE(sealed);

  auto slot = record_slot_for(topic, window, 3);
  auto put = run(writer_->put_mutable(slot.signer, slot.salt, *sealed, 1));
  ASSERT_TRUE(put) << put.error().message();
  EXPECT_GT(put->nodes_stored, 0);

  auto got = run(reader_->get_mutable(slot.key(), slot.salt));
  ASSERT_TRUE(got.item);
  EXPECT_TRUE(dht::verify_mutable_item(*got.item));
  auto opened = record_codec(topic, secret_hash_from(std::string_view("shared secret"))).open(got.item->value, window);
  ASSERT_TRUE(opened) << opened.error().message();
  EXPECT_EQ(*opened, rec);

  auto seen = run(outsider_->get_mutable(slot.key(), slot.salt));
  ASSERT_TRUE(seen.item);
  EXPECT_EQ(seen.item->value, *sealed);  // the same bytes reach the outsider...
  auto refused = record_codec(topic, secret_hash_from(std::string_view("wrong secret"))).open(seen.item->value, window);
  ASSERT_FALSE(refused);  // ...who cannot open them
  EXPECT_EQ(refused.code(), make_error_code(errc::record_decryption_failed));
}

TEST_F(RecordThroughDht, GarbageInASlotIsRejectedNotFatal) {
  auto topic = topic_id_from_name("garbage-topic");
  auto window = window_at(std::chrono::system_clock::now());
  auto slot = record_slot_for(topic, window, 0);
  // Anyone who knows the topic name can write a slot: here, junk.
  auto put = run(writer_->put_mutable(slot.signer, slot.salt, to_bytes("not a record at all"), 1));
  ASSERT_TRUE(put) << put.error().message();
  auto got = run(reader_->get_mutable(slot.key(), slot.salt));
  ASSERT_TRUE(got.item);
  auto r = record_codec(topic, secret_hash_from(std::string_view("s"))).open(got.item->value, window);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.code(), make_error_code(errc::record_unsupported_version));  // 'n' is not version 1
}
