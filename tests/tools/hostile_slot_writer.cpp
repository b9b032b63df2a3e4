// hostile_slot_writer: writes the hostile values of
// tests/integration/hostile_slots.hpp into a topic's DHT slots, as a member
// holding the secret could, and prints one JSON line per value (kind, slot,
// size, seq, how many DHT nodes stored it). For manual runs and the fault
// suite; the integration test uses the same values in process.
//
//   hostile_slot_writer --bootstrap 127.0.0.1:PORT --topic NAME --secret S [--first-slot 0] [--seed 1]
//
// A test tool: it is built with the tests and never installed.
#include "../integration/hostile_slots.hpp"

#include <topicswarm/dht_client.hpp>

#include "cli/support/coroutines.hpp"

#include <asio/io_context.hpp>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <iostream>
#include <random>

using namespace topicswarm;
using namespace topicswarm::test_support;

namespace {

// Runs one coroutine to its end (bounded: every DHT operation has a deadline).
template <class T>
T run(asio::io_context& io, asio::awaitable<T> aw) {
  auto r = cli::run_for(io, std::move(aw), std::chrono::seconds(60));
  if (!r) throw std::runtime_error("a DHT operation did not finish within 60 s");
  return std::move(*r);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Write hostile values into a topic's DHT slots (a test tool)"};
  std::vector<std::string> bootstrap;
  std::string topic, secret;
  unsigned first_slot = 0;
  std::uint64_t seed = 1;
  app.add_option("--bootstrap", bootstrap, "DHT node to join through, HOST:PORT (repeatable)")->required();
  app.add_option("--topic", topic, "Topic name")->required();
  app.add_option("--secret", secret, "The topic's secret (a member's knowledge)")->required();
  app.add_option("--first-slot", first_slot, "Slot of the first value; one slot per kind after it");
  app.add_option("--seed", seed, "Seed of the random bytes");
  CLI11_PARSE(app, argc, argv);

  asio::io_context io;
  dht::client_config cc;
  cc.listen = {"127.0.0.1:0"};
  cc.bootstrap = bootstrap;
  auto client = dht::client::start(io.get_executor(), cc);
  if (!client) {
    std::cerr << "hostile_slot_writer: " << client.error().message() << "\n";
    return 1;
  }
  (void)run(io, (*client)->wait_bootstrapped(2, std::chrono::seconds(10)));
  const topic_id t = topic_id_from_name(topic);
  const auto key = hash_secret(t, std::string_view(secret));
  if (!key) {
    std::cerr << "hostile_slot_writer: " << key.error().message() << "\n";
    return 1;
  }
  const record_codec codec(t, *key);
  const auto now_ms = static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                                     std::chrono::system_clock::now().time_since_epoch())
                                                     .count());
  const std::uint64_t w = now_ms / 60'000;
  std::mt19937 gen(static_cast<std::mt19937::result_type>(seed));
  unsigned slot = first_slot;
  int failures = 0;
  for (auto k : all_hostile_kinds) {
    auto v = make_hostile(k, codec, w, slot, now_ms, [&] { return gen(); });
    if (!v) return 1;
    const auto where = codec.slot(w, slot);
    auto put = run(io, (*client)->put_mutable(where.signer, where.salt, v->value, v->seq));
    nlohmann::json line{{"kind", std::string(to_string(k))}, {"window", w},        {"slot", slot},
                        {"bytes", v->value.size()},           {"seq", v->seq},
                        {"nodes_stored", put ? put->nodes_stored : 0}};
    if (!put) line["error"] = put.error().message();
    if (k != hostile_kind::oversized && (!put || put->nodes_stored == 0)) ++failures;
    std::cout << line.dump() << std::endl;
    ++slot;
  }
  return failures == 0 ? 0 : 2;
}
