// `topicswarm demo`: the main job on an embedded local DHT testnet.
//
// N peers run in this process, each a full node: TLS 1.3 on 127.0.0.1 and its
// own DHT client on 127.0.0.1, bootstrapped from a testnet of real libtorrent
// DHT nodes (also in this process). Every peer joins one topic with
// auto-discovery and is given no peer address at all: it finds the others
// only through the signed, encrypted records they write into the DHT. The
// demo then checks that the overlay is one component, that a broadcast from
// one peer reaches all the others, and that one more peer, which knows the
// topic name but not the secret, finds nobody, and is refused admission
// when it dials a member's address directly.
//
// Everything runs on one io_context on the main thread (the nodes have their
// own threads); each wait has a deadline, so the demo ends within about a
// minute even when something fails, and the nodes and the testnet are always
// stopped (nodes first: their DHT clients talk to the testnet until then).
#include "cli/commands.hpp"
#include "cli/support/coroutines.hpp"
#include "cli/support/local_swarm.hpp"
#include "cli/support/stopwatch.hpp"

#include <topicswarm/dht_testnet.hpp>
#include <topicswarm/node.hpp>

#include <CLI/CLI.hpp>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <exception>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace topicswarm::cli {
namespace {

using namespace std::chrono_literals;

struct demo_options {
  int peers = 8;
  int dht_nodes = 16;
  std::string topic = "topicswarm-demo";
  std::string secret = "demo-secret";
};

// The secret of the extra peer that must stay alone. Any other value would do.
constexpr const char* wrong_secret = "not-the-secret";

// Bounds of every wait. A run that works takes a few seconds; one where every
// wait runs to its end still ends within about a minute (15 + 10 + 20 + 10 +
// 5 s).
constexpr auto testnet_timeout = 15s;
constexpr auto dht_ready_timeout = 10s;
constexpr auto join_timeout = 15s;     // each peer's wait for its first neighbour, from its join call
constexpr auto overlay_timeout = 20s;  // until the overlay is one component, from the join calls
constexpr auto broadcast_timeout = 10s;
// A broadcast sent while the overlay is still rearranging itself can miss a
// peer; after this long without full delivery a fresh message is sent.
constexpr auto attempt_wait = 2500ms;
constexpr int max_attempts = 4;
// The right-secret peers join within a fraction of a second on loopback; the
// wrong-secret peer is watched at least this long after the join calls (many
// of its poll rounds) before "it stayed alone" is claimed.
constexpr auto wrong_secret_watch = 3s;
constexpr auto poll_step = 10ms;
constexpr auto status_every = 2s;
constexpr const char* message_prefix = "topicswarm demo broadcast #";

// Auto-discovery for loopback. The defaults are tuned for the public DHT
// (10 s DHT deadlines, 1.5 s / 2 s polls); on a local testnet a get takes
// milliseconds, so short deadlines and polls show joining at its real speed.
// The values of the integration tests' quick() (and `topicswarm bench join`),
// except the join timeout, which is the demo's own bound.
auto_discovery_config loopback_auto_discovery() { return loopback_discovery_config(join_timeout); }

void say(const char* fmt, auto... args) {
  std::printf(fmt, args...);
  std::printf("\n");
  std::fflush(stdout);
}

struct peer {
  std::string name;
  bool wrong_secret = false;
  std::optional<node> n;
  std::optional<topic> t;
  std::optional<receiver> rx;  // made before the broadcast, so it sees it
  int dht_table = 0;
  double dht_ready_ms = 0;
  clock_type::time_point join_called{};
  std::optional<double> first_neighbor_ms;  // from the join call
  std::optional<double> received_ms;        // from the first broadcast attempt
  std::size_t neighbors = 0, records_seen = 0;
  auto_discovery_stats disc;
};

asio::awaitable<void> wait_until_done(const live_count& live) { return cli::wait_until_done(live, poll_step); }

asio::awaitable<void> bootstrap_dht(peer& p, int min_nodes, live_count& live) {
  const auto t0 = clock_type::now();
  auto r = co_await p.n->wait_dht_bootstrapped(min_nodes, dht_ready_timeout);
  p.dht_ready_ms = ms_since(t0);
  p.dht_table = r ? *r : -1;
  --live.n;
}

asio::awaitable<void> await_first_neighbor(peer& p, const std::size_t& total, std::size_t& joined, live_count& live) {
  auto r = co_await p.t->joined(join_timeout);
  if (r) {
    p.first_neighbor_ms = ms_since(p.join_called);
    ++joined;
    say("  %-8s has its first neighbour after %7.1f ms   (%zu/%zu joined)", p.name.c_str(), *p.first_neighbor_ms,
        joined, total);
  }
  --live.n;
}

// Reads p's events until one of the demo's broadcasts arrives or `deadline`.
asio::awaitable<void> await_broadcast(peer& p, clock_type::time_point first_send, clock_type::time_point deadline,
                                      live_count& live) {
  using namespace asio::experimental::awaitable_operators;
  auto ex = co_await asio::this_coro::executor;
  while (clock_type::now() < deadline) {
    // Expiring (not cancelling) the timer ends the wait: see node.hpp.
    asio::steady_timer timer(ex, deadline);
    auto r = co_await (p.rx->next() || timer.async_wait(asio::use_awaitable));
    if (r.index() == 1) break;
    auto& ev = std::get<0>(r);
    if (!ev) break;  // the node stopped
    if (auto* m = std::get_if<events::received>(&*ev); m && to_string(m->content).starts_with(message_prefix)) {
      p.received_ms = ms_since(first_send);
      break;
    }
  }
  --live.n;
}

// Components of the graph whose edges are the peers' current neighbours
// (either end counts: a link one side already reports is a link).
std::vector<std::size_t> components(const std::vector<peer>& peers, std::size_t count, std::size_t& foreign_links) {
  std::vector<node_id> ids;
  std::vector<std::vector<node_id>> neighbors;
  for (std::size_t i = 0; i < count; ++i) {
    ids.push_back(peers[i].n->id());
    neighbors.push_back(peers[i].t->neighbors());
  }
  auto c = components_of(ids, neighbors);
  foreign_links = c.outside_links;  // neighbours that are not right-secret peers
  return c.sizes;
}

// Links between right-secret peers, and how many of them only one end
// reports yet (or still): HyParView is still settling while there are any.
struct link_count {
  std::size_t links = 0, one_sided = 0;
};

link_count count_links(const std::vector<peer>& peers, std::size_t count) {
  std::map<node_id, std::size_t> index;
  for (std::size_t i = 0; i < count; ++i) index[peers[i].n->id()] = i;
  std::map<std::pair<std::size_t, std::size_t>, int> ends;
  for (std::size_t i = 0; i < count; ++i)
    for (const auto& id : peers[i].t->neighbors())
      if (auto it = index.find(id); it != index.end()) ++ends[std::minmax(i, it->second)];
  link_count c;
  c.links = ends.size();
  for (const auto& [pair, n] : ends) c.one_sided += n == 1;
  return c;
}

std::string names_without_broadcast(const std::vector<peer>& peers, std::size_t count) {
  std::string s;
  for (std::size_t i = 1; i < count; ++i)
    if (!peers[i].received_ms)
      s += (s.empty() ? "" : ", ") + peers[i].name + " (" + std::to_string(peers[i].t->neighbors().size()) +
           " neighbours)";
  return s;
}

// "5+3": the sizes of the components.
std::string sizes_text(const std::vector<std::size_t>& sizes) {
  std::string s;
  for (auto n : sizes) s += (s.empty() ? "" : "+") + std::to_string(n);
  return s;
}

struct demo_outcome {
  bool all_joined = false;
  bool connected = false;
  double connected_ms = 0;
  bool broadcast_ok = false;
  int attempts = 0;
  bool eve_alone = false;
  bool eve_refused = false;  // a member refused her direct dial (admission), and counted it
  std::vector<std::string> failures;
};

asio::awaitable<demo_outcome> run_demo(const demo_options& o, std::vector<peer>& peers) {
  demo_outcome out;
  auto ex = co_await asio::this_coro::executor;
  const std::size_t count = static_cast<std::size_t>(o.peers);  // right-secret peers; eve is peers.back()
  peer& eve = peers.back();
  live_count live;

  // Step 2b: every DHT client knows a few DHT nodes (all peers at once).
  const int min_nodes = dht_ready_nodes(o.dht_nodes);
  for (auto& p : peers) {
    ++live.n;
    asio::co_spawn(ex, bootstrap_dht(p, min_nodes, live), asio::detached);
  }
  co_await wait_until_done(live);
  for (const auto& p : peers) {
    say("  %-8s node %s  TLS %s  DHT %s  routing table %d nodes (%.0f ms)%s", p.name.c_str(),
        p.n->id().short_string().c_str(), p.n->listen_endpoints().at(0).to_string().c_str(),
        p.n->dht_endpoints().empty() ? "-" : p.n->dht_endpoints().at(0).to_string().c_str(), p.dht_table,
        p.dht_ready_ms, p.wrong_secret ? "  <- wrong secret" : "");
    if (p.dht_table < min_nodes)
      say("  warning: %s's DHT client knows only %d DHT nodes; joining anyway", p.name.c_str(), p.dht_table);
  }

  // Step 3: everyone joins at once, knowing only the topic name and a secret.
  const auto cfg = loopback_auto_discovery();
  const auto topic = topic_id_from_name(o.topic);
  say("\n[3/6] all %zu peers join topic '%s' (%s) with auto-discovery; nobody is given a peer address", count,
      o.topic.c_str(), topic.short_string().c_str());
  say("      %s joins the same topic with the secret '%s'", eve.name.c_str(), wrong_secret);
  const auto join_start = clock_type::now();
  for (auto& p : peers) {
    p.join_called = clock_type::now();
    auto pcfg = cfg;
    // Eve's direct dial in step 6 gives up after this (she is refused at once,
    // but a join waits for a neighbour that will never come).
    if (p.wrong_secret) pcfg.timeouts.join_peer_timeout = 1500ms;
    auto t = p.n->join_with_auto_discovery_no_wait(topic, p.wrong_secret ? std::string(wrong_secret) : o.secret, pcfg);
    if (!t) {
      out.failures.push_back(p.name + " could not join: " + t.error().message());
      co_return out;
    }
    p.t = std::move(*t);
  }
  std::size_t joined = 0;
  for (std::size_t i = 0; i < count; ++i) {
    ++live.n;
    asio::co_spawn(ex, await_first_neighbor(peers[i], count, joined, live), asio::detached);
  }

  // Step 4: wait until the right-secret peers form one overlay.
  bool eve_ever_joined = false;
  std::vector<std::size_t> parts(count, 1);
  std::optional<double> all_joined_ms;           // every peer had a neighbour
  std::vector<std::size_t> islands_when_joined;  // the components at that moment
  std::size_t foreign = 0;
  auto next_status = clock_type::now() + status_every;
  const auto overlay_deadline = join_start + overlay_timeout;
  while (clock_type::now() < overlay_deadline) {
    eve_ever_joined = eve_ever_joined || eve.t->is_joined();
    parts = components(peers, count, foreign);
    if (joined == count && !all_joined_ms) {
      all_joined_ms = ms_since(join_start);
      islands_when_joined = parts;
    }
    if (parts.size() == 1 && joined == count) break;
    if (clock_type::now() >= next_status) {
      say("  ... %zu/%zu joined, %zu components (%s peers) after %.0f ms", joined, count, parts.size(),
          sizes_text(parts).c_str(), ms_since(join_start));
      next_status += status_every;
    }
    co_await sleep_for(poll_step);
  }
  out.all_joined = joined == count;
  out.connected = parts.size() == 1 && out.all_joined;
  out.connected_ms = ms_since(join_start);
  // The first-neighbour waiters end by join_timeout (< overlay_timeout).
  co_await wait_until_done(live);
  if (out.connected) {
    const auto links = count_links(peers, count);
    say("\n[4/6] the overlay is connected after %.0f ms: one component of %zu peers, %zu neighbour links (%zu of "
        "them reported by one end only)",
        out.connected_ms, count, links.links, links.one_sided);
    if (islands_when_joined.size() > 1)
      say("  note: every peer had a neighbour after %.0f ms, but in %zu islands (%s peers): auto-discovery's merges "
          "joined them (their first check runs post_join_check = %lld ms after a peer joins)",
          *all_joined_ms, islands_when_joined.size(), sizes_text(islands_when_joined).c_str(),
          static_cast<long long>(cfg.bootstrap.post_join_check.count()));
  } else {
    say("\n[4/6] the overlay is NOT connected after %.0f ms: %zu/%zu peers joined, %zu components (%s peers)",
        out.connected_ms, joined, count, parts.size(), sizes_text(parts).c_str());
    if (!out.all_joined) out.failures.push_back("not every peer found a neighbour within the join timeout");
    out.failures.push_back("the overlay was not connected within " + std::to_string(overlay_timeout.count()) + " s");
  }
  if (foreign > 0) out.failures.push_back("a right-secret peer has a neighbour that is not one of them");

  // Step 5: one broadcast reaches everyone (receivers exist before it is sent).
  if (out.connected) {
    peer& from = peers.front();
    for (std::size_t i = 1; i < count; ++i) peers[i].rx = peers[i].t->subscribe_events();
    const auto first_send = clock_type::now();
    const auto deadline = first_send + broadcast_timeout;
    for (std::size_t i = 1; i < count; ++i) {
      ++live.n;
      asio::co_spawn(ex, await_broadcast(peers[i], first_send, deadline, live), asio::detached);
    }
    auto received = [&] {
      std::size_t r = 0;
      for (std::size_t i = 1; i < count; ++i) r += peers[i].received_ms.has_value();
      return r;
    };
    for (int attempt = 1; attempt <= max_attempts && received() < count - 1 && clock_type::now() < deadline;
         ++attempt) {
      out.attempts = attempt;
      const std::string content = message_prefix + std::to_string(attempt) + " from " + from.name;
      auto sent = co_await from.t->broadcast(to_bytes(content));
      if (!sent) {
        out.failures.push_back("broadcast failed: " + sent.error().message());
        break;
      }
      if (attempt == 1)
        say("\n[5/6] %s broadcasts \"%s\"", from.name.c_str(), content.c_str());
      else
        say("  only %zu/%zu peers had it after %.0f ms (missing: %s): sending a fresh one, \"%s\"", received(),
            count - 1, ms_since(first_send), names_without_broadcast(peers, count).c_str(), content.c_str());
      const auto attempt_end = std::min(clock_type::now() + attempt_wait, deadline);
      while (received() < count - 1 && clock_type::now() < attempt_end) co_await sleep_for(1ms);
    }
    co_await wait_until_done(live);
    out.broadcast_ok = received() == count - 1;
    double slowest = 0;
    for (std::size_t i = 1; i < count; ++i)
      if (peers[i].received_ms) slowest = std::max(slowest, *peers[i].received_ms);
    if (out.broadcast_ok)
      say("  all %zu other peers received it; the last after %.1f ms%s", count - 1, slowest,
          out.attempts > 1 ? " (counted from the first attempt)" : "");
    else
      out.failures.push_back("the broadcast reached only " + std::to_string(received()) + " of " +
                             std::to_string(count - 1) + " peers within " + std::to_string(broadcast_timeout.count()) +
                             " s");
    if (out.attempts > 1)
      say("  note: %d broadcasts were needed: the overlay was still settling when the first was sent", out.attempts);
  } else {
    say("\n[5/6] no broadcast: the overlay is not connected");
  }

  // Step 6: the peer with the wrong secret cannot even find the others'
  // slots (they derive from the topic key), and dialling a member directly
  // gets her nothing: her proof is for another wire topic, so it is refused.
  while (clock_type::now() < join_start + wrong_secret_watch) {
    eve_ever_joined = eve_ever_joined || eve.t->is_joined();
    co_await sleep_for(100ms);
  }
  auto& member = peers.front();
  const auto refused_before = (co_await member.n->stats()).admission.proofs_unknown_topic;
  auto direct = eve.t->join_peers({member.n->address()});
  const auto direct_result = co_await std::move(direct);
  auto eve_stats = co_await eve.n->stats();
  const auto member_admission = (co_await member.n->stats()).admission;
  say("\n[6/6] %s (wrong secret), %.1f s after the join calls (%llu DHT read rounds):", eve.name.c_str(),
      ms_since(join_start) / 1000.0, static_cast<unsigned long long>(eve_stats.auto_discovery.rounds));
  // The gossip layer counts every neighbour it ever had in the topic: zero
  // means none, not even one that came and went between two polls.
  eve_ever_joined = eve_ever_joined || eve.t->is_joined() || eve_stats.gossip.neighbor_up > 0;
  const auto& ed = eve_stats.auto_discovery;
  out.eve_alone = !eve_ever_joined && ed.records_valid == 0 && !direct_result;
  out.eve_refused = member_admission.proofs_unknown_topic > refused_before && eve_stats.admission.refusals_received > 0;
  say("  neighbours %zu (never had one: %s); records it could open %llu; DHT slots it reads are not the others'",
      eve.t->neighbors().size(), eve_ever_joined ? "NO" : "yes", static_cast<unsigned long long>(ed.records_valid));
  say("  dialled %s directly: %s; %s refused her admission proof (%s)", member.name.c_str(),
      direct_result ? "JOINED" : direct_result.error().message().c_str(), member.name.c_str(),
      out.eve_refused ? "counted" : "NOT counted");
  if (!out.eve_alone) out.failures.push_back(eve.name + " (wrong secret) got a neighbour or opened a record");
  if (!out.eve_refused)
    out.failures.push_back(member.name + " did not refuse and count " + eve.name + "'s admission proof");

  for (auto& p : peers) {
    const auto s = co_await p.n->stats();
    p.disc = s.auto_discovery;
    p.neighbors = p.t->neighbors().size();
    p.records_seen = p.t->auto_discovery().records_seen;
  }
  co_return out;
}

void print_summary(const std::vector<peer>& peers, std::size_t count) {
  say("\nsummary (first neighbour: ms from the join call; gets and puts: DHT operations of auto-discovery)");
  say("  %-8s  %-8s  %15s  %10s  %12s  %5s  %5s  %s", "peer", "node", "first neighbour", "neighbours", "records seen",
      "gets", "puts", "broadcast");
  for (std::size_t i = 0; i < peers.size(); ++i) {
    const auto& p = peers[i];
    char first[32];
    if (p.first_neighbor_ms)
      std::snprintf(first, sizeof first, "%.1f", *p.first_neighbor_ms);
    else
      std::snprintf(first, sizeof first, "never");
    const char* got = i == 0 ? "sent" : i >= count ? "-" : p.received_ms ? "yes" : "NO";
    say("  %-8s  %-8s  %15s  %10zu  %12zu  %5llu  %5llu  %s%s", p.name.c_str(), p.n->id().short_string().c_str(), first,
        p.neighbors, p.records_seen, static_cast<unsigned long long>(p.disc.gets),
        static_cast<unsigned long long>(p.disc.puts), got, p.wrong_secret ? "  (wrong secret)" : "");
  }
}

void run_demo_command(const demo_options& o) {
  const auto started = clock_type::now();
  say("topicswarm demo: %d peers find each other by topic name through a local Mainline DHT testnet\n", o.peers);
  say("[1/6] starting %d DHT nodes (libtorrent) on 127.0.0.1", o.dht_nodes);
  dht::testnet_config tc;
  tc.nodes = o.dht_nodes;
  tc.ready_timeout = testnet_timeout;
  // One line that grows as nodes become ready (readable on a terminal and in a log).
  std::printf("  ready:");
  std::fflush(stdout);
  tc.progress = [](const std::string& s) {
    std::printf(" %s", s.substr(0, s.find(' ')).c_str());
    std::fflush(stdout);
  };
  auto t0 = clock_type::now();
  auto net = dht::testnet::start(tc);
  std::printf("\n");
  if (!net) {
    say("error: the DHT testnet did not start: %s", net.error().message().c_str());
    throw CLI::RuntimeError(1);
  }
  say("  testnet ready in %.0f ms; bootstrap node %s", ms_since(t0), (*net)->bootstrap().to_string().c_str());

  say("\n[2/6] starting %d peers and 1 with the wrong secret (TLS and DHT on 127.0.0.1); each waits until its DHT "
      "client knows %d DHT nodes",
      o.peers, dht_ready_nodes(o.dht_nodes));
  std::vector<peer> peers(static_cast<std::size_t>(o.peers) + 1);
  demo_outcome out;
  bool started_all = true;
  for (std::size_t i = 0; i < peers.size(); ++i) {
    auto& p = peers[i];
    p.wrong_secret = i + 1 == peers.size();
    p.name = p.wrong_secret ? "eve" : "peer " + std::to_string(i + 1);
    auto c = loopback_node_config();
    c.attach_testnet(**net);
    auto n = node::start(std::move(c));
    if (!n) {
      say("error: %s did not start: %s", p.name.c_str(), n.error().message().c_str());
      started_all = false;
      break;
    }
    p.n = std::move(*n);
  }
  if (started_all) {
    asio::io_context io;
    asio::co_spawn(io, run_demo(o, peers), [&](std::exception_ptr e, demo_outcome r) {
      out = std::move(r);
      if (e) {
        try {
          std::rethrow_exception(e);
        } catch (const std::exception& ex) {
          out.failures.push_back(std::string("unexpected error: ") + ex.what());
        }
      }
    });
    io.run();
    print_summary(peers, static_cast<std::size_t>(o.peers));
  } else {
    out.failures.push_back("not every peer started");
  }

  std::vector<node*> running;
  for (auto& p : peers)
    if (p.n) running.push_back(&*p.n);
  stop_all(running);
  peers.clear();  // handles of stopped nodes; nothing left to tell anyone
  net->reset();

  say("\nchecks");
  say("  every peer found a neighbour through the DHT:  %s", out.all_joined ? "yes" : "NO");
  say("  the overlay is one component:                 %s", out.connected ? "yes" : "NO");
  say("  the broadcast reached every peer:             %s", out.broadcast_ok ? "yes" : "NO");
  say("  the wrong-secret peer stayed alone:           %s", out.eve_alone ? "yes" : "NO");
  say("  ... and a member refused her direct dial:     %s", out.eve_refused ? "yes" : "NO");
  const bool ok = out.failures.empty() && out.all_joined && out.connected && out.broadcast_ok && out.eve_alone &&
                  out.eve_refused;
  for (const auto& f : out.failures) say("  failed: %s", f.c_str());
  say("\ndemo %s in %.1f s", ok ? "succeeded" : "FAILED", ms_since(started) / 1000.0);
  if (!ok) throw CLI::RuntimeError(1);
}

}  // namespace

void register_demo_command(CLI::App& app) {
  static demo_options o;
  auto* cmd = app.add_subcommand(
      "demo", "Run the main job on an embedded local DHT testnet: peers find each other by topic name alone");
  const std::string what =
      "Starts a local DHT testnet and N peers (in this process, TLS and DHT on 127.0.0.1) that join one topic with "
      "auto-discovery and no peer addresses, checks that they form one gossip overlay and that a broadcast reaches "
      "every peer, and that one more peer with the wrong secret stays alone. Exit status 0 only if all of that "
      "holds.";
  cmd->footer(what + "\n\n" + describe_loopback_timings(loopback_auto_discovery()) +
              "; every other setting is the default. Bounds: overlay connected within 20 s of the join calls, "
              "broadcast delivered within 10 s (a fresh message is sent after 2.5 s without full delivery, at most 4 "
              "in all).");
  cmd->add_option("--peers", o.peers, "Peers with the right secret")->check(CLI::Range(2, 50));
  cmd->add_option("--dht-nodes", o.dht_nodes, "DHT nodes in the testnet")->check(CLI::Range(4, 128));
  cmd->add_option("--topic", o.topic, "Topic name");
  cmd->add_option("--secret", o.secret, "Shared secret of the topic")->check([](const std::string& s) {
    return s == wrong_secret ? std::string("the wrong-secret peer uses that one") : std::string();
  });
  cmd->callback([] { run_demo_command(o); });
}

}  // namespace topicswarm::cli
