// `topicswarm network`: join a network and print its catalog events as they
// happen (docs/PROTOCOL.md §14-18). With --json, one JSON object per line:
// "ready" (our address and ids), then "peer_discovered" / "peer_updated" /
// "peer_departed" (with the cause), and "stopped" with the counters.
#include "cli/commands.hpp"
#include "cli/support/dht_options.hpp"
#include "cli/support/key_options.hpp"

#include <topicswarm/node.hpp>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/signal_set.hpp>
#include <asio/use_awaitable.hpp>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <string>
#include <vector>

namespace topicswarm::cli {
namespace {

using json = nlohmann::ordered_json;

struct network_options {
  std::string name;
  key_options key;
  std::vector<std::string> tags;
  std::vector<std::string> bootstrap;  // DHT bootstrap nodes
  std::vector<std::string> peers;      // network members to join through
  std::vector<std::string> listen;
  std::string dht_listen;
  std::string identity_file;
  bool no_chain = false;
  bool no_dht = false;
  double chain_poll_alone_s = 5;
  double purge_after_s = 300;
  double announce_interval_s = 45;
  bool json = false;
};

[[noreturn]] void fail(const std::string& what) {
  std::fprintf(stderr, "topicswarm network: %s\n", what.c_str());
  throw CLI::RuntimeError(1);
}

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void print(const json& j) {
  std::printf("%s\n", j.dump().c_str());
  std::fflush(stdout);
}

json entry_json(const peer_entry& e) {
  json addrs = json::array();
  for (const auto& a : e.addresses) addrs.push_back(a.to_string());
  json topics = json::array();
  for (const auto& t : e.topics) topics.push_back(t.to_string());
  return json{{"peer", e.node.to_string()},
              {"addresses", addrs},
              {"tags", e.tags},
              {"topics", topics},
              {"version", {{"start_ms", e.version.start_ms}, {"update_ms", e.version.update_ms}}}};
}

asio::awaitable<void> print_events(network& net, const network_options& o) {
  for (;;) {
    auto ev = co_await net.next();
    if (!ev) co_return;
    std::visit(
        [&](const auto& e) {
          using T = std::decay_t<decltype(e)>;
          json j;
          if constexpr (std::is_same_v<T, network_events::peer_discovered> ||
                        std::is_same_v<T, network_events::peer_updated>) {
            const char* name = std::is_same_v<T, network_events::peer_discovered> ? "peer_discovered" : "peer_updated";
            if (!o.json) {
              std::printf("%s %s (%zu addresses, tags:", name, e.entry.node.short_string().c_str(),
                          e.entry.addresses.size());
              for (const auto& t : e.entry.tags) std::printf(" %s", t.c_str());
              std::printf(")\n");
              std::fflush(stdout);
              return;
            }
            j = json{{"event", name}, {"ts_ms", now_ms()}};
            j.update(entry_json(e.entry));
          } else if constexpr (std::is_same_v<T, network_events::peer_departed>) {
            if (!o.json) {
              std::printf("peer_departed %s (%s)\n", e.peer.short_string().c_str(), to_string(e.cause));
              std::fflush(stdout);
              return;
            }
            j = json{{"event", "peer_departed"},
                     {"ts_ms", now_ms()},
                     {"peer", e.peer.to_string()},
                     {"cause", to_string(e.cause)}};
          } else {
            if (!o.json) {
              std::printf("lagged: %llu events dropped\n", static_cast<unsigned long long>(e.missed));
              return;
            }
            j = json{{"event", "lagged"}, {"ts_ms", now_ms()}, {"missed", e.missed}};
          }
          print(j);
        },
        *ev);
  }
}

void run_network(const network_options& o) {
  node_config cfg;
  cfg.listen.clear();
  for (const auto& l : o.listen.empty() ? std::vector<std::string>{"0.0.0.0:0"} : o.listen) {
    auto ep = endpoint::parse(l);
    if (!ep) fail("bad --listen \"" + l + "\": " + ep.error().message());
    cfg.listen.push_back(*ep);
  }
  if (!o.identity_file.empty()) {
    auto id = identity::load_or_generate(o.identity_file);
    if (!id) fail("--identity " + o.identity_file + ": " + id.error().message());
    cfg.id = std::move(*id);
  }
  network_config nc;
  nc.name = o.name;
  nc.tags = o.tags;
  nc.chain = !o.no_chain && !o.no_dht;
  nc.chain_poll_alone = std::chrono::milliseconds(static_cast<std::int64_t>(o.chain_poll_alone_s * 1000));
  nc.purge_after = std::chrono::milliseconds(static_cast<std::int64_t>(o.purge_after_s * 1000));
  nc.announce_interval = std::chrono::milliseconds(static_cast<std::int64_t>(o.announce_interval_s * 1000));
  for (const auto& p : o.peers) {
    auto pa = peer_addr::parse(p);
    if (!pa || pa->addresses.empty()) fail("bad --peer \"" + p + "\" (expected NODEID@HOST:PORT)");
    nc.bootstrap.push_back(std::move(*pa));
  }
  if (!o.no_dht) {
    if (auto d = enable_dht(cfg, o.bootstrap, o.dht_listen); !d) fail(d.error().detail);
  }
  if (auto v = validate(nc); !v) fail(v.error().message());
  const auto key = make_key(o.key, network_topic_id(network_id_from_name(o.name)));
  if (!key) fail(key.error().message());
  nc.key = *key;

  asio::io_context io;
  asio::signal_set signals(io, SIGINT, SIGTERM);
  auto started = node::start(std::move(cfg));
  if (!started) fail(started.error().message());
  auto& n = *started;
  std::optional<network> net;
  std::string stop_reason;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        auto j = co_await n.join_network(nc);
        if (!j) {
          std::fprintf(stderr, "topicswarm network: cannot join \"%s\": %s\n", o.name.c_str(),
                       j.error().message().c_str());
          stop_reason = "error";
          io.stop();
          co_return;
        }
        net.emplace(std::move(*j));
        const auto addr = n.address();
        if (net->local().addresses.empty())
          std::fprintf(
              stderr,
              "topicswarm network: warning: we listen only on unspecified addresses (0.0.0.0 / ::), so our "
              "entry names no address: peers cannot dial us and we claim no chain slot; give --listen IP:PORT\n");
        if (o.json) {
          print(json{{"event", "ready"},
                     {"ts_ms", now_ms()},
                     {"node_id", n.id().to_string()},
                     {"address", addr.to_string()},
                     {"network_id", net->id().to_string()},
                     {"wire_id", net->wire_id().to_string()}});
        } else {
          std::printf("in network \"%s\" as %s\n", o.name.c_str(), addr.to_string().c_str());
          std::fflush(stdout);
        }
        co_await print_events(*net, o);
      },
      asio::detached);
  signals.async_wait([&](std::error_code ec, int sig) {
    if (ec) return;
    stop_reason = sig == SIGINT ? "SIGINT" : "SIGTERM";
    io.stop();
  });
  io.run();
  const auto s = n.stats_blocking().network;
  const std::size_t known = net ? net->size() : 0;
  net.reset();
  n.stop();  // announces our departure to the network
  if (o.json)
    print(json{{"event", "stopped"},
               {"ts_ms", now_ms()},
               {"reason", stop_reason},
               {"peers", known},
               {"network",
                {{"announces_sent", s.announces_sent},
                 {"announces_received", s.announces_received},
                 {"syncs_completed", s.syncs_completed},
                 {"entries_invalid", s.entries_invalid},
                 {"clock_ahead", s.clock_ahead},
                 {"purged", s.purged},
                 {"departures_honoured", s.departures_honoured},
                 {"chain_claims", s.chain_claims},
                 {"chain_records_valid", s.chain_records_valid},
                 {"frames_not_admitted", s.frames_not_admitted}}}});
  if (stop_reason == "error") throw CLI::RuntimeError(1);
}

}  // namespace

void register_network_command(CLI::App& app) {
  static network_options o;
  auto* cmd = app.add_subcommand("network",
                                 "Join a network: keep its signed peer catalog and print who comes, changes and goes");
  cmd->add_option("--name", o.name, "Network name: everyone who uses the same name (and secret) meets")->required();
  add_key_options(cmd, o.key, "network");
  cmd->add_option("--tag", o.tags, "A tag in our catalog entry (repeatable; 1-32 printable ASCII characters)");
  cmd->add_option("--bootstrap", o.bootstrap,
                  "DHT node to bootstrap from, HOST:PORT (repeatable; default: the public Mainline routers)");
  cmd->add_option("--peer", o.peers, "A network member to join through, NODEID@HOST:PORT (repeatable)");
  cmd->add_option("--listen", o.listen, "Address to listen on, IP:PORT (repeatable; default 0.0.0.0:0)");
  cmd->add_option("--dht-listen", o.dht_listen,
                  "UDP address of the DHT client (default 0.0.0.0:0, or 127.0.0.1:0 when every --bootstrap is local)");
  cmd->add_option("--identity", o.identity_file, "Identity file: loaded if it exists, otherwise created");
  cmd->add_flag("--no-chain", o.no_chain, "Do not read or write the DHT bootstrap chain (join through --peer only)");
  cmd->add_flag("--no-dht", o.no_dht, "No DHT client at all (implies --no-chain)");
  cmd->add_option("--chain-poll-alone", o.chain_poll_alone_s, "Seconds between chain reads while alone (default 5)")
      ->check(CLI::Range(0.1, 3600.0));
  cmd->add_option("--purge-after", o.purge_after_s,
                  "Seconds without an update after which a peer leaves our catalog (default 300; every member "
                  "should announce well within it)")
      ->check(CLI::Range(1.0, 86400.0));
  cmd->add_option("--announce-interval", o.announce_interval_s,
                  "Seconds between our announces, +-50 % jitter (default 45; must be below --purge-after)")
      ->check(CLI::Range(0.1, 86400.0));
  cmd->add_flag("--json", o.json,
                "One JSON object per line: ready, peer_discovered, peer_updated, peer_departed (with its cause: "
                "graceful, purged, evicted), stopped; each with \"event\" and \"ts_ms\"");
  cmd->footer(
      "SIGINT or SIGTERM leaves the network with a signed departure: the others report it at once\n"
      "(cause graceful). A member that vanishes is reported after purge_after (300 s, cause purged).");
  cmd->callback([] { run_network(o); });
}

}  // namespace topicswarm::cli
