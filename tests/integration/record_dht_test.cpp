// Topic records through a real libtorrent DHT testnet: what one client seals
// and puts, another client with the same secret gets and opens; a client with
// another secret gets the same bytes and cannot open them.
#include <topicswarm/dht_client.hpp>
#include <topicswarm/dht_testnet.hpp>
#include <topicswarm/record.hpp>

#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>
#include <asio/use_future.hpp>

#include <gtest/gtest.h>

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
  }
  static void TearDownTestSuite() {
    delete net_;
    net_ = nullptr;
  }

  std::unique_ptr<dht::client> make_client() {
    dht::client_config cc;
    cc.listen = {"127.0.0.1:0"};
    cc.bootstrap = net_->bootstrap_list();
    cc.default_timeout = 10s;
    auto c = dht::client::start(io_.get_executor(), cc);
    EXPECT_TRUE(c) << c.error().message();
    return c ? std::move(*c) : nullptr;
  }

  // Runs a coroutine on io_ to completion (bounded by the operations' own deadlines).
  template <class T>
  T run(asio::awaitable<T> aw) {
    auto fut = asio::co_spawn(io_, std::move(aw), asio::use_future);
    io_.restart();
    io_.run();
    return fut.get();
  }

  static dht::testnet* net_;
  asio::io_context io_;
};

dht::testnet* RecordThroughDht::net_ = nullptr;

}  // namespace

TEST_F(RecordThroughDht, SameSecretReadsOtherSecretCannot) {
  auto writer = make_client();
  auto reader = make_client();
  auto outsider = make_client();
  ASSERT_TRUE(writer && reader && outsider);
  run(writer->wait_bootstrapped(4, 10s));
  run(reader->wait_bootstrapped(4, 10s));
  run(outsider->wait_bootstrapped(4, 10s));

  auto topic = topic_id_from_name("integration-topic");
  auto window = window_at(std::chrono::system_clock::now());
  auto publisher = identity::generate();
  record_codec codec(topic, secret_hash_from(std::string_view("shared secret")));

  topic_record rec;
  rec.topic = topic;
  rec.window = window;
  rec.publisher = publisher.id();
  rec.addresses = writer->listen_endpoints();
  rec.neighbors.push_back({identity::generate().id(), {*endpoint::parse("[::1]:4000")}});
  rec.recent_messages.push_back(message_id{});
  rec.timestamp_ms = 1;
  auto sealed = codec.seal(rec, publisher);
  ASSERT_TRUE(sealed);

  auto slot = record_slot_for(topic, window, 3);
  auto put = run(writer->put_mutable(slot.signer, slot.salt, *sealed, 1));
  ASSERT_TRUE(put) << put.error().message();
  EXPECT_GT(put->nodes_stored, 0);

  auto got = run(reader->get_mutable(slot.key(), slot.salt));
  ASSERT_TRUE(got.item);
  EXPECT_TRUE(dht::verify_mutable_item(*got.item));
  auto opened = record_codec(topic, secret_hash_from(std::string_view("shared secret"))).open(got.item->value, window);
  ASSERT_TRUE(opened) << opened.error().message();
  EXPECT_EQ(*opened, rec);

  auto seen = run(outsider->get_mutable(slot.key(), slot.salt));
  ASSERT_TRUE(seen.item);
  EXPECT_EQ(seen.item->value, *sealed);  // the same bytes reach the outsider...
  auto refused = record_codec(topic, secret_hash_from(std::string_view("wrong secret"))).open(seen.item->value, window);
  ASSERT_FALSE(refused);  // ...who cannot open them
  EXPECT_EQ(refused.code(), make_error_code(errc::record_decryption_failed));
}

TEST_F(RecordThroughDht, GarbageInASlotIsRejectedNotFatal) {
  auto writer = make_client();
  auto reader = make_client();
  ASSERT_TRUE(writer && reader);
  run(writer->wait_bootstrapped(4, 10s));
  run(reader->wait_bootstrapped(4, 10s));

  auto topic = topic_id_from_name("garbage-topic");
  auto window = window_at(std::chrono::system_clock::now());
  auto slot = record_slot_for(topic, window, 0);
  // Anyone who knows the topic name can write a slot: here, junk.
  auto put = run(writer->put_mutable(slot.signer, slot.salt, to_bytes("not a record at all"), 1));
  ASSERT_TRUE(put) << put.error().message();
  auto got = run(reader->get_mutable(slot.key(), slot.salt));
  ASSERT_TRUE(got.item);
  auto r = record_codec(topic, secret_hash_from(std::string_view("s"))).open(got.item->value, window);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.code(), make_error_code(errc::record_unsupported_version));  // 'n' is not version 1
}
