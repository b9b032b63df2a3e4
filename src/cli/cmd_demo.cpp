// `topicswarm demo`: the main job on an embedded local DHT testnet.
//
// At this stage: start a testnet of real DHT nodes, publish an encrypted,
// signed topic record through one DHT client and find and read it through
// another, while a third client with the wrong secret cannot read it.
#include "cli/commands.hpp"

#include <topicswarm/dht_client.hpp>
#include <topicswarm/dht_testnet.hpp>
#include <topicswarm/record.hpp>

#include <CLI/CLI.hpp>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/experimental/awaitable_operators.hpp>

#include <chrono>
#include <cstdio>
#include <random>

namespace topicswarm::cli {
namespace {

struct demo_options {
  int dht_nodes = 16;
  std::string topic = "topicswarm-demo";
  std::string secret = "demo-secret";
  unsigned slots = 5;
};

using clock_type = std::chrono::steady_clock;

double ms_since(clock_type::time_point t) {
  return std::chrono::duration<double, std::milli>(clock_type::now() - t).count();
}

void say(const char* fmt, auto... args) {
  std::printf(fmt, args...);
  std::printf("\n");
  std::fflush(stdout);
}

asio::awaitable<bool> run_demo(const demo_options& o, const dht::testnet& net) {
  auto ex = co_await asio::this_coro::executor;
  dht::client_config cc;
  cc.listen = {"127.0.0.1:0"};
  cc.bootstrap = net.bootstrap_list();
  cc.default_timeout = std::chrono::seconds(10);

  struct peer {
    peer(const char* n, std::string s) : name(n), secret(std::move(s)) {}
    const char* name;
    std::string secret;
    identity ident = identity::generate();
    std::unique_ptr<dht::client> dht;
  };
  peer peers[] = {{"alice", o.secret}, {"bob", o.secret}, {"eve", "not-the-secret"}};
  for (auto& p : peers) {
    auto c = dht::client::start(ex, cc);
    if (!c) {
      say("error: %s could not start a DHT client: %s", p.name, c.error().message().c_str());
      co_return false;
    }
    p.dht = std::move(*c);
    auto t0 = clock_type::now();
    int table = co_await p.dht->wait_bootstrapped(std::min(o.dht_nodes - 1, 8), std::chrono::seconds(15));
    say("  %-5s  node %s  DHT on %s  routing table %d nodes (%.0f ms)", p.name,
        p.ident.id().short_string().c_str(), p.dht->listen_endpoints().at(0).to_string().c_str(), table, ms_since(t0));
  }
  auto& alice = peers[0];
  auto& bob = peers[1];
  auto& eve = peers[2];

  auto topic = topic_id_from_name(o.topic);
  auto window = window_at(std::chrono::system_clock::now());
  say("\n[2/4] alice publishes her record for topic '%s' (%s), window %llu", o.topic.c_str(),
      topic.short_string().c_str(), static_cast<unsigned long long>(window));

  record_codec alice_codec(topic, secret_hash_from(std::string_view(alice.secret)));
  topic_record rec;
  rec.topic = topic;
  rec.window = window;
  rec.publisher = alice.ident.id();
  rec.addresses = alice.dht->listen_endpoints();
  rec.timestamp_ms = static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count());
  auto sealed = alice_codec.seal(rec, alice.ident);
  if (!sealed) {
    say("error: sealing the record failed: %s", sealed.error().message().c_str());
    co_return false;
  }
  std::mt19937 rng(std::random_device{}());
  unsigned slot_index = std::uniform_int_distribution<unsigned>(0, o.slots - 1)(rng);
  auto slot = record_slot_for(topic, window, slot_index);
  auto t0 = clock_type::now();
  auto put = co_await alice.dht->put_mutable(slot.signer, slot.salt, *sealed, static_cast<std::int64_t>(rec.timestamp_ms));
  if (!put) {
    say("error: put failed: %s", put.error().message().c_str());
    co_return false;
  }
  say("  sealed %zu bytes (signed by alice, HPKE-encrypted to the topic's window key)", sealed->size());
  say("  put into slot %u of %u (BEP 44 key %s): stored on %d DHT nodes in %.1f ms", slot_index, o.slots,
      slot.key().short_string().c_str(), put->nodes_stored, ms_since(t0));

  // Readers know only the topic name and (for bob) the secret: they scan every slot.
  auto scan = [&](peer& reader) -> asio::awaitable<std::pair<int, std::optional<topic_record>>> {
    record_codec codec(topic, secret_hash_from(std::string_view(reader.secret)));
    int undecryptable = 0;
    std::optional<topic_record> found;
    for (unsigned i = 0; i < o.slots; ++i) {
      auto s = record_slot_for(topic, window, i);
      auto t = clock_type::now();
      auto got = co_await reader.dht->get_mutable(s.key(), s.salt);
      if (!got.item) {
        say("  %-5s  slot %u: empty (%.1f ms)", reader.name, i, ms_since(t));
        continue;
      }
      auto opened = codec.open(got.item->value, window);
      if (!opened) {
        ++undecryptable;
        say("  %-5s  slot %u: %zu bytes, rejected: %s", reader.name, i, got.item->value.size(),
            opened.error().message().c_str());
        continue;
      }
      say("  %-5s  slot %u: record from %s at %s, verified (%.1f ms)", reader.name, i,
          opened->publisher.short_string().c_str(),
          opened->addresses.empty() ? "?" : opened->addresses[0].to_string().c_str(), ms_since(t));
      found = *opened;
    }
    co_return std::pair{undecryptable, found};
  };

  say("\n[3/4] bob, who knows the topic and the secret, reads every slot");
  auto [bob_bad, bob_found] = co_await scan(bob);
  say("\n[4/4] eve, who knows the topic but not the secret, reads every slot");
  auto [eve_bad, eve_found] = co_await scan(eve);

  bool ok = bob_found && *bob_found == rec && !eve_found && eve_bad >= 1;
  say("\nsummary");
  say("  bob read alice's record:       %s", bob_found && *bob_found == rec ? "yes" : "NO");
  say("  eve could not read it:         %s", !eve_found && eve_bad >= 1 ? "yes" : "NO");
  co_return ok;
}

}  // namespace

void register_demo_command(CLI::App& app) {
  static demo_options o;
  auto* cmd = app.add_subcommand("demo", "Run the main job on an embedded local DHT testnet and report what happens");
  cmd->add_option("--dht-nodes", o.dht_nodes, "DHT nodes in the testnet")->check(CLI::Range(4, 128));
  cmd->add_option("--topic", o.topic, "Topic name");
  cmd->add_option("--secret", o.secret, "Shared secret of the topic");
  cmd->callback([] {
    say("topicswarm demo: topic records through a local Mainline DHT testnet\n");
    say("[1/4] starting %d DHT nodes on 127.0.0.1", o.dht_nodes);
    auto t0 = clock_type::now();
    dht::testnet_config tc;
    tc.nodes = o.dht_nodes;
    tc.progress = [](const std::string& s) { say("  %s", s.c_str()); };
    auto net = dht::testnet::start(tc);
    if (!net) {
      say("error: %s", net.error().message().c_str());
      throw CLI::RuntimeError(1);
    }
    say("  testnet ready in %.0f ms; bootstrap %s", ms_since(t0), (*net)->bootstrap().to_string().c_str());

    asio::io_context io;
    bool ok = false;
    asio::co_spawn(io, run_demo(o, **net), [&](std::exception_ptr e, bool r) {
      if (e) {
        try {
          std::rethrow_exception(e);
        } catch (const std::exception& ex) {
          say("error: %s", ex.what());
        }
      }
      ok = r;
    });
    io.run();
    say("\ndemo %s", ok ? "succeeded" : "FAILED");
    if (!ok) throw CLI::RuntimeError(1);
  });
}

}  // namespace topicswarm::cli
