// dht::client and dht::testnet against real libtorrent nodes on 127.0.0.1.
//
// One 16-node testnet serves the whole suite; every test makes its own
// clients (listening on 127.0.0.1:0). Every wait is bounded; nothing asserts
// speed beyond "well before a generous deadline".
#include <topicswarm/dht_client.hpp>
#include <topicswarm/dht_testnet.hpp>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/udp.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/use_future.hpp>

#include <gtest/gtest.h>

#include "io_runner.hpp"

#include <sodium.h>

#include <algorithm>
#include <future>
#include <optional>

using namespace topicswarm;
using namespace std::chrono_literals;

namespace {

bytes random_bytes(std::size_t n) {
  bytes b(n);
  ::randombytes_buf(b.data(), b.size());
  return b;
}

dht::info_hash random_info_hash() {
  dht::info_hash ih;
  ::randombytes_buf(ih.data(), ih.size());
  return ih;
}

asio::awaitable<void> sleep_for(std::chrono::milliseconds d) {
  asio::steady_timer t(co_await asio::this_coro::executor, d);
  co_await t.async_wait(asio::use_awaitable);
}

// A testnet of `Nodes` nodes per test suite, and two long-lived clients on it.
// Clients that stop stay in the testnet's routing tables for a while (see
// docs/dht-notes.md), so tests that destroy clients get a suite of their own.
template <int Nodes>
class dht_suite : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ASSERT_GE(::sodium_init(), 0);
    dht::testnet_config tc;
    tc.nodes = Nodes;
    tc.port_base = 0;
    tc.ready_timeout = 30s;
    auto n = dht::testnet::start(tc);
    ASSERT_TRUE(n) << n.error().message();
    net_ = std::move(*n).release();
    io_ = new asio::io_context;
    a_ = make_client(*io_).release();
    b_ = make_client(*io_).release();
  }
  static void TearDownTestSuite() {
    delete a_;
    delete b_;
    a_ = b_ = nullptr;
    delete io_;  // after the clients that use it
    io_ = nullptr;
    delete net_;
    net_ = nullptr;
  }
  void SetUp() override {
    ASSERT_NE(net_, nullptr) << "the testnet did not start";
    ASSERT_TRUE(a_ && b_) << "the suite's clients did not start";
    bootstrap(*a_);
    bootstrap(*b_);
  }

  static std::unique_ptr<dht::client> make_client(asio::io_context& io) {
    dht::client_config cc;
    cc.listen = {"127.0.0.1:0"};
    cc.bootstrap = net_->bootstrap_list();
    cc.default_timeout = 10s;
    auto c = dht::client::start(io.get_executor(), cc);
    EXPECT_TRUE(c) << c.error().message();
    return c ? std::move(*c) : nullptr;
  }

  // Runs one coroutine on io_ to its end, or fails the test after `limit`.
  template <class T>
  static T run(asio::awaitable<T> aw, std::chrono::seconds limit = 25s) {
    return test_support::run_on(*io_, std::move(aw), limit);
  }

  static void bootstrap(dht::client& c) {
    EXPECT_GE(run(c.wait_bootstrapped(std::min(Nodes, 8), 10s)), std::min(Nodes, 8));
  }

  static inline dht::testnet* net_ = nullptr;
  static inline asio::io_context* io_ = nullptr;
  static inline dht::client* a_ = nullptr;  // writer / announcer
  static inline dht::client* b_ = nullptr;  // reader / seeker
};

using DhtClient = dht_suite<16>;
using DhtClientLifetime = dht_suite<8>;

}  // namespace

TEST_F(DhtClient, TestnetIsFilled) {
  auto sizes = net_->routing_table_sizes();
  ASSERT_EQ(sizes.size(), 16u);
  for (int s : sizes) EXPECT_GE(s, 8);
  EXPECT_EQ(net_->nodes().front(), net_->bootstrap());
  EXPECT_TRUE(net_->bootstrap().is_loopback());
  EXPECT_EQ(net_->bootstrap_list().size(), 16u);
  EXPECT_TRUE(a_->listen_endpoints().front().is_loopback());
  EXPECT_NE(a_->listen_endpoints().front().port, 0);
}

TEST_F(DhtClient, PutIsReadByAnotherClientAndHigherSeqReplacesIt) {
  auto& writer = *a_;
  auto& reader = *b_;
  auto before_w = writer.stats();
  auto before_r = reader.stats();

  auto signer = keypair::generate();
  auto salt = to_bytes("slot-1");
  auto v1 = random_bytes(700);
  auto put = run(writer.put_mutable(signer, salt, v1, 1));
  ASSERT_TRUE(put) << put.error().message();
  EXPECT_GT(put->nodes_stored, 0);

  auto got = run(reader.get_mutable(signer.public_key(), salt));
  EXPECT_TRUE(got.complete);
  ASSERT_TRUE(got.item);
  EXPECT_EQ(got.item->key, signer.public_key());
  EXPECT_EQ(got.item->salt, salt);
  EXPECT_EQ(got.item->value, v1);
  EXPECT_EQ(got.item->seq, 1);
  EXPECT_TRUE(dht::verify_mutable_item(*got.item));

  auto v2 = random_bytes(500);
  auto put2 = run(writer.put_mutable(signer, salt, v2, 2));
  ASSERT_TRUE(put2) << put2.error().message();
  auto got2 = run(reader.get_mutable(signer.public_key(), salt));
  EXPECT_TRUE(got2.complete);
  ASSERT_TRUE(got2.item);
  EXPECT_EQ(got2.item->value, v2);
  EXPECT_EQ(got2.item->seq, 2);
  EXPECT_TRUE(dht::verify_mutable_item(*got2.item));

  // An unsalted item is another slot of the same key.
  auto put3 = run(writer.put_mutable(signer, {}, to_bytes("no salt"), 7));
  ASSERT_TRUE(put3) << put3.error().message();
  auto got3 = run(reader.get_mutable(signer.public_key(), {}));
  ASSERT_TRUE(got3.item);
  EXPECT_EQ(got3.item->value, to_bytes("no salt"));
  EXPECT_EQ(got3.item->seq, 7);
  EXPECT_TRUE(dht::verify_mutable_item(*got3.item));
  auto salted = run(reader.get_mutable(signer.public_key(), salt));
  ASSERT_TRUE(salted.item);
  EXPECT_EQ(salted.item->value, v2);

  auto w = writer.stats();
  auto r = reader.stats();
  EXPECT_EQ(w.puts - before_w.puts, 3u);
  EXPECT_EQ(w.put_latency.count - before_w.put_latency.count, 3u);
  EXPECT_EQ(r.gets - before_r.gets, 4u);
  EXPECT_EQ(r.get_latency.count - before_r.get_latency.count, 4u);
  EXPECT_EQ(r.invalid_items, 0u);
}

TEST_F(DhtClient, LowerSeqPutIsRefusedAndBadArgumentsRejected) {
  auto& c = *a_;
  auto signer = keypair::generate();
  auto salt = to_bytes("seq-order");
  auto first = run(c.put_mutable(signer, salt, to_bytes("new"), 5));
  ASSERT_TRUE(first) << first.error().message();
  auto failures_before = c.stats().put_failures;
  auto older = run(c.put_mutable(signer, salt, to_bytes("old"), 4));
  // Every node that holds seq 5 refuses seq 4 (BEP 44). While the testnet's
  // routing tables still fill, the second lookup can reach a close node the
  // first one missed, which stores it, and the put then counts as stored.
  if (older) {
    EXPECT_EQ(c.stats().put_failures, failures_before);
  } else {
    EXPECT_EQ(older.code(), make_error_code(errc::dht_put_failed)) << older.error().message();
    EXPECT_EQ(c.stats().put_failures, failures_before + 1);
  }
  // Either way a reader gets the newer item: a get keeps the highest seq.
  auto got = run(b_->get_mutable(signer.public_key(), salt));
  ASSERT_TRUE(got.item);
  EXPECT_EQ(got.item->seq, 5);
  EXPECT_EQ(got.item->value, to_bytes("new"));

  auto big = run(c.put_mutable(signer, salt, bytes(997), 6));  // 1001 bytes once bencoded
  ASSERT_FALSE(big);
  EXPECT_EQ(big.code(), make_error_code(errc::invalid_argument));
  auto long_salt = run(c.put_mutable(signer, bytes(65), to_bytes("x"), 1));
  EXPECT_EQ(long_salt.code(), make_error_code(errc::invalid_argument));
  auto negative = run(c.put_mutable(signer, salt, to_bytes("x"), -1));
  EXPECT_EQ(negative.code(), make_error_code(errc::invalid_argument));
  auto largest = run(c.put_mutable(signer, salt, bytes(996), 6));  // exactly 1000 bencoded
  EXPECT_TRUE(largest) << largest.error().message();
}

TEST_F(DhtClient, EmptySlotReturnsEmptyPromptly) {
  auto nobody = keypair::generate();
  auto timeouts_before = b_->stats().get_timeouts;
  auto got = run(b_->get_mutable(nobody.public_key(), to_bytes("empty"), 30s), 40s);
  EXPECT_TRUE(got.complete);  // the lookup ended; the deadline did not
  EXPECT_FALSE(got.item);
  EXPECT_LT(got.elapsed, 10s);  // well before the 30 s deadline
  EXPECT_EQ(b_->stats().get_timeouts, timeouts_before);
}

TEST_F(DhtClient, DeadlineShorterThanLookupReturnsIncomplete) {
  auto& writer = *a_;
  auto& reader = *b_;
  auto signer = keypair::generate();
  auto salt = to_bytes("short");
  ASSERT_TRUE(run(writer.put_mutable(signer, salt, to_bytes("value"), 1)));

  // A zero deadline usually ends before any node can answer. The deadline
  // races the lookup's completion, which libtorrent posts from its own
  // thread, so on a loaded machine a loopback lookup can win; either way the
  // result and the timeout counter must agree.
  auto timeouts_before = reader.stats().get_timeouts;
  auto quick = run(reader.get_mutable(signer.public_key(), salt, 0ms));
  EXPECT_EQ(reader.stats().get_timeouts, timeouts_before + (quick.complete ? 0 : 1));
  // A put's deadline races its completion, which libtorrent posts from its
  // own thread: on a loaded machine the (quick, loopback) store can be
  // handled before the expired 0 ms timer. Either outcome is correct; any
  // other error, or a timeout that is not counted, is not.
  const auto put_timeouts_before = writer.stats().put_timeouts;
  auto quick_put = run(writer.put_mutable(signer, salt, to_bytes("value 2"), 2, 0ms));
  if (!quick_put) {
    EXPECT_EQ(quick_put.code(), make_error_code(errc::dht_timeout)) << quick_put.error().message();
    EXPECT_EQ(writer.stats().put_timeouts, put_timeouts_before + 1);
  } else {
    EXPECT_EQ(writer.stats().put_timeouts, put_timeouts_before);
  }
  const auto peer_timeouts_before = reader.stats().get_peers_timeouts;
  auto quick_peers = run(reader.get_peers(random_info_hash(), 0ms));
  EXPECT_EQ(reader.stats().get_peers_timeouts, peer_timeouts_before + (quick_peers.complete ? 0 : 1));

  // The abandoned lookups' late results must not confuse the next ones.
  auto full = run(reader.get_mutable(signer.public_key(), salt));
  EXPECT_TRUE(full.complete);
  ASSERT_TRUE(full.item);
  EXPECT_GE(full.item->seq, 1);
  auto again = run(reader.get_mutable(signer.public_key(), salt));
  EXPECT_TRUE(again.complete);
  ASSERT_TRUE(again.item);
  EXPECT_GE(again.item->seq, full.item->seq);
  auto peers = run(reader.get_peers(random_info_hash()));
  EXPECT_TRUE(peers.complete);
}

TEST_F(DhtClient, ConcurrentGetsOfOneKeyAllComplete) {
  auto signer = keypair::generate();
  auto salt = to_bytes("busy");
  auto value = random_bytes(300);
  ASSERT_TRUE(run(a_->put_mutable(signer, salt, value, 3)));

  constexpr int n = 12;
  auto all = [&]() -> asio::awaitable<std::vector<dht::get_result>> {
    std::vector<std::future<dht::get_result>> futs;
    auto ex = co_await asio::this_coro::executor;
    for (int k = 0; k < n; ++k)
      futs.push_back(asio::co_spawn(ex, (k % 2 ? b_ : a_)->get_mutable(signer.public_key(), salt), asio::use_future));
    std::vector<dht::get_result> out;
    for (auto& f : futs) {
      while (f.wait_for(0s) != std::future_status::ready) co_await sleep_for(5ms);
      out.push_back(f.get());
    }
    co_return out;
  };
  auto results = run(all());
  ASSERT_EQ(results.size(), static_cast<std::size_t>(n));
  for (const auto& r : results) {
    EXPECT_TRUE(r.complete);
    ASSERT_TRUE(r.item);
    EXPECT_EQ(r.item->value, value);
    EXPECT_EQ(r.item->seq, 3);
  }
}

TEST_F(DhtClient, GetPeersFindsTheAnnouncer) {
  auto& announcer = *a_;
  auto& seeker = *b_;
  auto ih = random_info_hash();
  auto me = announcer.listen_endpoints().front();
  ASSERT_TRUE(me.is_loopback());
  auto announces_before = announcer.stats().announces;
  announcer.announce(ih);
  EXPECT_EQ(announcer.stats().announces, announces_before + 1);

  // An announce reports no completion: look until it has landed (bounded).
  auto look = [&]() -> asio::awaitable<dht::peers_result> {
    dht::peers_result last;
    for (int attempt = 0; attempt < 40; ++attempt) {
      last = co_await seeker.get_peers(ih, 5s);
      if (std::find(last.peers.begin(), last.peers.end(), me) != last.peers.end()) co_return last;
      co_await sleep_for(100ms);
    }
    co_return last;
  };
  auto found = run(look(), 30s);
  EXPECT_TRUE(found.complete);
  EXPECT_NE(std::find(found.peers.begin(), found.peers.end(), me), found.peers.end())
      << "announcer " << me.to_string() << " not among " << found.peers.size() << " peers";

  // Nobody announced this one: the lookup ends, empty, well before its deadline.
  auto none = run(seeker.get_peers(random_info_hash(), 30s), 40s);
  EXPECT_TRUE(none.complete);
  EXPECT_TRUE(none.peers.empty());
  EXPECT_LT(none.elapsed, 10s);
}

TEST_F(DhtClient, TestnetFailsClearlyWhenAPortIsTaken) {
  asio::io_context io;
  asio::ip::udp::socket squatter(io, asio::ip::udp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  auto port = squatter.local_endpoint().port();
  dht::testnet_config tc;
  tc.nodes = 2;
  tc.port_base = port;  // node 0 wants the squatter's port
  tc.ready_timeout = 10s;
  auto n = dht::testnet::start(tc);
  ASSERT_FALSE(n);
  EXPECT_EQ(n.code(), make_error_code(errc::dht_start_failed));
  EXPECT_NE(n.error().message().find("127.0.0.1:" + std::to_string(port)), std::string::npos) << n.error().message();
  EXPECT_NE(n.error().message().find("node 0"), std::string::npos) << n.error().message();
}

TEST_F(DhtClient, BadInputIsRefusedClearly) {
  dht::testnet_config tc;
  tc.nodes = 0;
  auto n = dht::testnet::start(tc);
  ASSERT_FALSE(n);
  EXPECT_EQ(n.code(), make_error_code(errc::invalid_argument));

  tc.nodes = 4;
  tc.port_base = 65534;
  auto over = dht::testnet::start(tc);
  ASSERT_FALSE(over);
  EXPECT_EQ(over.code(), make_error_code(errc::invalid_argument));

  asio::io_context io;
  dht::client_config cc;
  cc.listen = {"lo:6881"};  // an interface name: the DHT never attaches to one (DESIGN.md §5)
  cc.bootstrap = {};
  auto c = dht::client::start(io.get_executor(), cc);
  ASSERT_FALSE(c);
  EXPECT_EQ(c.code(), make_error_code(errc::invalid_endpoint));

  cc.listen = {"127.0.0.1:0"};
  cc.bootstrap = {"not a node"};
  auto b = dht::client::start(io.get_executor(), cc);
  ASSERT_FALSE(b);
  EXPECT_EQ(b.code(), make_error_code(errc::invalid_endpoint));
}

// ---- clients that stop: a suite (and testnet) of their own ----

TEST_F(DhtClientLifetime, StoppedClientsDoNotStallGets) {
  // A client that stops stays in routing tables for a while, and libtorrent
  // waits 15 s for each unanswered request to it (it ignores ICMP "port
  // unreachable"). Gets stop waiting for such stragglers after about 2 s.
  // (First in its suite, so that the passing clients' puts meet nobody who
  // has stopped: puts cannot be hurried, libtorrent stores only once its
  // lookup has ended.)
  {
    std::vector<std::unique_ptr<dht::client>> passing;
    for (int k = 0; k < 3; ++k) {
      passing.push_back(make_client(*io_));
      ASSERT_TRUE(passing.back());
      bootstrap(*passing.back());
    }
    for (auto& c : passing) {
      auto put = run(c->put_mutable(keypair::generate(), {}, to_bytes("v"), 1, 20s), 30s);
      ASSERT_TRUE(put) << put.error().message();  // it has talked to the nodes near its item
    }
  }  // all three stop here, listed in the routing tables of the nodes they met

  for (int k = 0; k < 4; ++k) {
    auto got = run(b_->get_mutable(keypair::generate().public_key(), to_bytes("nothing"), 30s), 40s);
    EXPECT_TRUE(got.complete);
    EXPECT_FALSE(got.item);
    EXPECT_LT(got.elapsed, 10s) << "get " << k << " waited the full 15 s for a stopped client";
  }
}

TEST_F(DhtClientLifetime, DestroyingClientWithOperationsInFlightIsClean) {
  auto c = make_client(*io_);
  ASSERT_TRUE(c);
  bootstrap(*c);
  auto signer = keypair::generate();
  std::vector<std::future<dht::get_result>> gets;
  std::vector<std::future<std::optional<result<dht::put_result>>>> puts;
  std::vector<std::future<dht::peers_result>> peers;
  for (int k = 0; k < 4; ++k) {
    gets.push_back(asio::co_spawn(*io_, c->get_mutable(signer.public_key(), to_bytes("x"), 30s), asio::use_future));
    puts.push_back(asio::co_spawn(*io_, test_support::optional_of(c->put_mutable(signer, to_bytes("x"), to_bytes("v"), k, 30s)),
                                  asio::use_future));
    peers.push_back(asio::co_spawn(*io_, c->get_peers(random_info_hash(), 30s), asio::use_future));
  }
  // An operation created but not yet started when the client dies.
  auto late = c->get_mutable(signer.public_key(), to_bytes("late"), 30s);
  io_->restart();
  io_->poll();  // the operations are now issued to libtorrent
  c.reset();    // ... and the client is gone while they run

  auto late_result = run(std::move(late));
  EXPECT_FALSE(late_result.complete);
  EXPECT_FALSE(late_result.item);
  auto deadline = std::chrono::steady_clock::now() + 10s;
  auto ready = [](auto& f) { return f.wait_for(0s) == std::future_status::ready; };
  auto all_ready = [&] {
    return std::all_of(gets.begin(), gets.end(), ready) && std::all_of(puts.begin(), puts.end(), ready) &&
           std::all_of(peers.begin(), peers.end(), ready);
  };
  while (!all_ready() && std::chrono::steady_clock::now() < deadline) io_->run_one_for(10ms);
  ASSERT_TRUE(all_ready()) << "operations of a destroyed client did not complete";
  for (auto& f : puts) {
    auto r = f.get();
    ASSERT_TRUE(r);
    if (!*r) {
      EXPECT_EQ(r->code(), make_error_code(errc::dht_stopped)) << r->error().message();
    }
  }
  for (auto& f : gets) (void)f.get();
  for (auto& f : peers) (void)f.get();
}

TEST_F(DhtClientLifetime, NetworkChangeReopensAndRejoinsAndTheClientKeepsWorking) {
  // What the node does when its interface addresses change. On loopback the
  // address stays, so this shows the reopen and rejoin are safe mid-run
  // (the namespace fault test tests/faults/address_change_test.sh shows the
  // case where the old address is gone).
  auto c = make_client(*io_);
  ASSERT_TRUE(c);
  bootstrap(*c);
  auto signer = keypair::generate();
  // A put in flight across the change still completes (stored or failed, never hung).
  auto pending = asio::co_spawn(*io_, test_support::optional_of(c->put_mutable(signer, to_bytes("nc"), to_bytes("v1"), 1, 20s)),
                                asio::use_future);
  io_->restart();
  io_->poll();
  c->network_changed();
  EXPECT_EQ(c->stats().network_changes, 1u);
  EXPECT_EQ(c->stats().routing_nodes, 0) << "the rejoin starts from an empty table";
  EXPECT_FALSE(c->external_address()) << "an external address voted before the change was kept";
  auto deadline = std::chrono::steady_clock::now() + 25s;
  while (pending.wait_for(0s) != std::future_status::ready && std::chrono::steady_clock::now() < deadline)
    io_->run_one_for(10ms);
  ASSERT_EQ(pending.wait_for(0s), std::future_status::ready) << "a put in flight across the change never completed";
  (void)pending.get();
  // The table fills again from the bootstrap nodes, and puts and gets work.
  bootstrap(*c);
  EXPECT_GE(c->stats().routing_nodes, 8);
  auto put = run(c->put_mutable(signer, to_bytes("nc"), to_bytes("v2"), 2));
  ASSERT_TRUE(put) << put.error().message();
  EXPECT_GT(put->nodes_stored, 0);
  auto got = run(b_->get_mutable(signer.public_key(), to_bytes("nc")));
  ASSERT_TRUE(got.item);
  EXPECT_EQ(got.item->value, to_bytes("v2"));
  EXPECT_FALSE(c->listen_endpoints().empty());
}

TEST_F(DhtClientLifetime, DestroyingClientAndContextWithoutRunningIsClean) {
  // The other teardown order: the client dies, then its io_context dies with
  // suspended operations it never ran again.
  auto io = std::make_unique<asio::io_context>();
  auto c = make_client(*io);
  ASSERT_TRUE(c);
  auto signer = keypair::generate();
  for (int k = 0; k < 3; ++k) {
    asio::co_spawn(*io, c->get_mutable(signer.public_key(), {}, 30s), asio::detached);
    asio::co_spawn(*io, test_support::optional_of(c->put_mutable(signer, {}, to_bytes("v"), k, 30s)), asio::detached);
    asio::co_spawn(*io, c->get_peers(random_info_hash(), 30s), asio::detached);
  }
  io->poll();
  c.reset();
  io.reset();
  SUCCEED();
}
