// `topicswarm records`: read a topic's records from the DHT once and print
// what they say (publisher, addresses, listed neighbours, recent messages).
//
// A holder of the topic's secret can compute its slots (docs/PROTOCOL.md §7),
// so this needs the same key options as `join`. It starts a DHT client of its
// own, reads every slot of the current and previous windows (by default), and
// prints one line per record that opens and verifies; nothing is written.
// Used by the fault tests (tests/faults) to check what a node publishes, e.g.
// its new address after the address of its host changed.
// A thin client of the public API: it includes only <topicswarm/...> headers.
#include "cli/commands.hpp"
#include "cli/support/key_options.hpp"

#include <topicswarm/dht_client.hpp>
#include <topicswarm/endpoint.hpp>
#include <topicswarm/ids.hpp>
#include <topicswarm/record.hpp>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/use_awaitable.hpp>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

namespace topicswarm::cli {
namespace {

using json = nlohmann::ordered_json;

struct records_options {
  std::string topic;
  key_options key;
  std::vector<std::string> bootstrap;
  std::string dht_listen = "0.0.0.0:0";
  unsigned slots = 5;    // max_bootstrap_records: the slots a window has
  unsigned windows = 2;  // the current one and those before it
  int min_routing_nodes = 2;
  double timeout_s = 10;
  bool json_out = false;
};

[[noreturn]] void fail(const std::string& what) {
  std::fprintf(stderr, "topicswarm records: %s\n", what.c_str());
  throw CLI::RuntimeError(1);
}

json record_json(const topic_record& r, unsigned slot) {
  json j{{"event", "record"}, {"window", r.window}, {"slot", slot}, {"publisher", r.publisher.to_string()}};
  std::vector<std::string> addrs;
  for (const auto& a : r.addresses) addrs.push_back(a.to_string());
  j["addresses"] = addrs;
  json nbs = json::array();
  for (const auto& n : r.neighbors) {
    std::vector<std::string> na;
    for (const auto& a : n.addresses) na.push_back(a.to_string());
    nbs.push_back(json{{"id", n.id.to_string()}, {"addresses", na}});
  }
  j["neighbors"] = nbs;
  std::vector<std::string> msgs;
  for (const auto& m : r.recent_messages) msgs.push_back(m.to_string());
  j["recent_messages"] = msgs;
  j["timestamp_ms"] = r.timestamp_ms;
  return j;
}

void print(const records_options& o, const json& j) {
  if (o.json_out) {
    std::printf("%s\n", j.dump(-1, ' ', false, json::error_handler_t::replace).c_str());
    return;
  }
  if (j["event"] == "record") {
    std::string addrs;
    for (const auto& a : j["addresses"]) addrs += (addrs.empty() ? "" : " ") + a.get<std::string>();
    std::printf("window %llu slot %u: %s at %s (%zu neighbours listed)\n",
                static_cast<unsigned long long>(j["window"].get<std::uint64_t>()), j["slot"].get<unsigned>(),
                j["publisher"].get<std::string>().c_str(), addrs.empty() ? "(no address)" : addrs.c_str(),
                j["neighbors"].size());
  } else {
    std::printf("%s\n", j.dump().c_str());
  }
}

void run_records(const records_options& o) {
  if (o.topic.empty()) fail("--topic must not be empty");
  const topic_id tid = topic_id_from_name(o.topic);
  auto key = make_key(o.key, tid);
  if (!key) fail(key.error().message());
  const record_codec codec(tid, *key);

  dht::client_config cfg;
  cfg.listen = {o.dht_listen};
  if (!o.bootstrap.empty()) cfg.bootstrap = o.bootstrap;
  asio::io_context io;
  auto started = dht::client::start(io.get_executor(), cfg);
  if (!started) fail(started.error().message());
  auto client = std::move(*started);
  const auto timeout = std::chrono::milliseconds(static_cast<std::int64_t>(o.timeout_s * 1000));

  int exit_code = 0;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        const int table = co_await client->wait_bootstrapped(o.min_routing_nodes, timeout);
        const auto current = window_at(std::chrono::system_clock::now());
        std::size_t found = 0, empty = 0, invalid = 0, incomplete = 0;
        for (unsigned w = 0; w < o.windows && w <= current; ++w) {
          const std::uint64_t window = current - w;
          for (unsigned s = 0; s < o.slots; ++s) {
            const auto slot = codec.slot(window, s);
            auto got = co_await client->get_mutable(slot.key(), slot.salt, timeout);
            if (!got.complete) ++incomplete;
            if (!got.item) {
              ++empty;
              continue;
            }
            auto rec = codec.open(got.item->value, window, s, got.item->seq);
            if (!rec) {
              ++invalid;
              continue;
            }
            ++found;
            print(o, record_json(*rec, s));
          }
        }
        print(o, json{{"event", "done"},
                      {"routing_nodes", table},
                      {"records", found},
                      {"empty_slots", empty},
                      {"invalid", invalid},
                      {"incomplete_lookups", incomplete}});
        if (table == 0) exit_code = 1;  // no DHT reached at all: say so by the exit code too
        client.reset();
      },
      asio::detached);
  io.run();
  std::fflush(stdout);
  if (exit_code != 0) throw CLI::RuntimeError(exit_code);
}

}  // namespace

void register_records_command(CLI::App& app) {
  static records_options o;
  auto* cmd = app.add_subcommand(
      "records", "Read a topic's records from the DHT once and print them (publisher, addresses, neighbours)");
  cmd->add_option("--topic", o.topic, "Topic name")->required();
  add_key_options(cmd, o.key, "topic");
  cmd->add_option("--bootstrap", o.bootstrap,
                  "DHT node to bootstrap from, HOST:PORT (repeatable; default: the public Mainline routers)");
  cmd->add_option("--dht-listen", o.dht_listen, "UDP address of this command's DHT client (default 0.0.0.0:0)");
  cmd->add_option("--slots", o.slots, "Slots per window to read (default 5, the default max_bootstrap_records)")
      ->check(CLI::Range(1u, 64u));
  cmd->add_option("--windows", o.windows, "Windows to read: the current one and those before it (default 2)")
      ->check(CLI::Range(1u, 60u));
  cmd->add_option("--timeout", o.timeout_s, "Seconds per DHT lookup and for bootstrapping (default 10)")
      ->check(CLI::Range(0.1, 600.0));
  cmd->add_flag("--json", o.json_out,
                "One JSON object per record ({\"event\":\"record\",...}), then {\"event\":\"done\",...}");
  cmd->footer("Reads only: nothing is published. Exit 1 if no DHT node could be reached.");
  cmd->callback([] { run_records(o); });
}

}  // namespace topicswarm::cli
