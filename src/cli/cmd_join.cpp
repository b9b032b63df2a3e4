// `topicswarm join` and `topicswarm chat`: one node in one topic, driven from
// a terminal or a script.
//
// join: every event of the topic is printed as it happens (text, or one JSON
// object per line with --json) and every line read from stdin is broadcast.
// Peers come from --peer, or from the DHT with --auto-discovery.
// chat: the same for people: auto-discovery on the public DHT by default,
// messages shown as "peer> text", and a status line (neighbours, records).
// A thin client of the public API: it includes only <topicswarm/...> headers.
//
// Threads: the node runs on its own thread (the library's); this command runs
// one io_context on the main thread, where all printing happens (so lines
// never interleave), plus a stdin reader thread that only posts lines to it.
#include "cli/commands.hpp"
#include "cli/support/dht_options.hpp"
#include "cli/support/key_options.hpp"
#include "cli/support/stats_json.hpp"

#include <topicswarm/bytes.hpp>
#include <topicswarm/endpoint.hpp>
#include <topicswarm/error.hpp>
#include <topicswarm/identity.hpp>
#include <topicswarm/ids.hpp>
#include <topicswarm/node.hpp>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/signal_set.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <functional>
#include <optional>
#include <cstring>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <variant>
#include <vector>

namespace topicswarm::cli {
namespace {

using namespace std::chrono_literals;
using json = nlohmann::ordered_json;  // keeps "event" and "ts_ms" first: easier to read and grep
constexpr auto use_tuple = asio::experimental::as_tuple(asio::use_awaitable);

// Lines starting with this are sent to direct neighbours only.
constexpr std::string_view neighbors_prefix = "/n ";
// After stdin closes with --exit-on-eof: time for the last broadcasts to leave
// this node before it says goodbye to its neighbours.
constexpr auto eof_grace = 500ms;
// The reader keeps at most this much of one line. Anything above the gossip
// limit is refused anyway; the cap only bounds memory for a stream with no
// newline at all, and leaves the verdict on ordinary long lines to broadcast().
constexpr std::size_t max_buffered_line = 1u << 20;

struct join_options {
  std::string topic;
  std::vector<std::string> peers;
  std::vector<std::string> listen;
  bool json = false;
  std::string identity_file;
  bool exit_on_eof = false;
  bool limit_loopback = false;  // per-source connection limits for loopback sources too
  bool advertise_interfaces = false;
  bool no_port_mapping = false;
  bool no_reachability = false;
  bool no_reversal = false;
  bool no_punching = false;
  bool relay_serve = false;
  double relay_upgrade_after_s = 30;  // first punch to replace a relayed connection
  bool lan = false;
  std::uint16_t lan_port = 48654;
  std::size_t active_view = 0;  // 0: the default (gossip_config)
  // Auto-discovery.
  bool auto_discovery = false;
  // The topic key: from one of these (at most one), or open.
  key_options key;
  std::vector<std::string> bootstrap;  // DHT bootstrap nodes, HOST:PORT
  std::string dht_listen;              // empty: 127.0.0.1:0 if every bootstrap node is on loopback, else 0.0.0.0:0
  double join_timeout_s = 0;           // 0: keep looking until stopped
  bool chat = false;                   // chat presentation (set by the chat command)
  std::string command = "join";
};

// How often chat prints its status line when something changed.
constexpr auto status_interval = 5s;

std::string command_name = "join";

[[noreturn]] void fail(const std::string& what) {
  std::fprintf(stderr, "topicswarm %s: %s\n", command_name.c_str(), what.c_str());
  throw CLI::RuntimeError(1);
}

// The topic key from --key-hex, --secret-file or --secret (Argon2id), or
// the open key when none is given.
secret_hash topic_key(const join_options& o, const topic_id& tid) {
  auto k = make_key(o.key, tid);
  if (!k) fail(k.error().message());
  return *k;
}

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// True for well-formed UTF-8 (no overlongs, surrogates or code points above
// U+10FFFF) without control characters other than tab: such content can be
// printed and put in a JSON string as it is; anything else is shown as hex.
bool printable_text(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      if ((c < 0x20 && c != '\t') || c == 0x7f) return false;
      ++i;
      continue;
    }
    std::size_t len = 0;
    std::uint32_t cp = 0;
    if ((c & 0xe0) == 0xc0) {
      len = 2, cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
      len = 3, cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
      len = 4, cp = c & 0x07;
    } else {
      return false;
    }
    if (i + len > s.size()) return false;
    for (std::size_t k = 1; k < len; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3f);
    }
    constexpr std::uint32_t min_for_len[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min_for_len[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    if (cp >= 0x80 && cp < 0xa0) return false;  // C1 controls
    i += len;
  }
  return true;
}

// "content" when it reads as text, otherwise "content_hex".
void put_content(json& j, const bytes& content) {
  auto text = to_string(byte_span(content));
  if (printable_text(text))
    j["content"] = std::move(text);
  else
    j["content_hex"] = to_hex(content);
}

std::string show_content(const bytes& content) {
  auto text = to_string(byte_span(content));
  return printable_text(text) ? text : "(" + std::to_string(content.size()) + " bytes) hex:" + to_hex(content);
}

const char* scope_name(delivery_scope s) { return s == delivery_scope::neighbors ? "neighbors" : "swarm"; }

// One line of stdin. `size` is its full length; `text` holds at most
// max_buffered_line bytes of it.
struct input_line {
  std::string text;
  std::size_t size = 0;
};

// Reads stdin on a thread of its own. Asio cannot wait on every kind of stdin
// (epoll refuses regular files, and scripts redirect files as often as pipes),
// so a thread blocks in poll()/read() instead and hands complete lines over
// through callbacks; poll()'s short timeout lets stop() end it promptly.
class stdin_reader {
 public:
  stdin_reader(std::function<void(input_line)> on_line, std::function<void()> on_eof)
      : on_line_(std::move(on_line)), on_eof_(std::move(on_eof)) {}
  stdin_reader(const stdin_reader&) = delete;
  stdin_reader& operator=(const stdin_reader&) = delete;
  ~stdin_reader() { stop(); }

  void start() {
    thread_ = std::thread([this] { run(); });
  }
  // Idempotent; returns once the thread has ended (within ~100 ms).
  void stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }

 private:
  void run() {
    input_line cur;
    char buf[4096];
    while (!stop_) {
      pollfd p{STDIN_FILENO, POLLIN, 0};
      const int ready = ::poll(&p, 1, 100);
      if (ready < 0 && errno != EINTR) break;
      if (ready <= 0) continue;
      const ssize_t n = ::read(STDIN_FILENO, buf, sizeof buf);
      if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      if (n <= 0) break;  // EOF, or stdin is not readable at all (closed): the same to us
      for (ssize_t i = 0; i < n; ++i) {
        if (buf[i] == '\n') {
          on_line_(std::exchange(cur, {}));
          continue;
        }
        if (cur.text.size() < max_buffered_line) cur.text.push_back(buf[i]);
        ++cur.size;
      }
    }
    if (stop_) return;
    if (cur.size > 0) on_line_(std::move(cur));  // a last line without a newline
    on_eof_();
  }

  std::function<void(input_line)> on_line_;
  std::function<void()> on_eof_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

class join_session {
 public:
  join_session(const join_options& o, asio::io_context& io, asio::signal_set& signals, node& n, sender tx, receiver rx,
               node_events_receiver node_rx)
      : node_rx_(std::move(node_rx)),
        opts_(o),
        io_(io),
        signals_(signals),
        node_(n),
        tx_(std::move(tx)),
        rx_(std::move(rx)),
        stop_(io, std::chrono::steady_clock::time_point::max()),
        wake_(io, std::chrono::steady_clock::time_point::max()),
        started_(std::chrono::steady_clock::now()),
        reader_(
            [this](input_line l) { asio::post(io_, [this, l = std::move(l)]() mutable { on_line(std::move(l)); }); },
            [this] { asio::post(io_, [this] { on_eof(); }); }) {}

  // Runs until SIGINT/SIGTERM (or stdin EOF with --exit-on-eof); returns the exit code.
  int run() {
    print_ready();
    signals_.async_wait([this](std::error_code ec, int sig) {
      if (!ec) request_stop(0, sig == SIGINT ? "SIGINT" : "SIGTERM");
    });
    if (opts_.json) wait_usr1();
    asio::co_spawn(io_, print_events(), asio::detached);
    asio::co_spawn(io_, print_node_events(), asio::detached);
    asio::co_spawn(io_, send_lines(), asio::detached);
    if (opts_.chat) asio::co_spawn(io_, print_status(), asio::detached);
    if (opts_.auto_discovery && opts_.join_timeout_s > 0) asio::co_spawn(io_, join_watchdog(), asio::detached);
    reader_.start();
    io_.run();
    reader_.stop();
    const auto all = node_.stats_blocking();  // before stop(): a stopped node has no counters
    const auto& a = all.admission;
    node_.stop();  // leaves the topic: neighbours hear it before we exit
    if (opts_.json) {
      // The admission counters say who was let in and who was refused; the
      // rest, every refusal by reason.
      print_json(json{{"event", "stopped"},
                      {"ts_ms", now_ms()},
                      {"reason", stop_reason_},
                      {"stats", stats_json(all)},
                      {"admission",
                       {{"proofs_accepted", a.proofs_accepted},
                        {"proofs_invalid", a.proofs_invalid},
                        {"proofs_unknown_topic", a.proofs_unknown_topic},
                        {"refusals_sent", a.refusals_sent},
                        {"refusals_received", a.refusals_received},
                        {"frames_not_admitted", a.frames_not_admitted}}}});
    } else {
      print_line("stopped (" + stop_reason_ + ")");
    }
    return exit_code_;
  }

 private:
  void print_line(const std::string& s) {
    std::fputs(s.c_str(), stdout);
    std::fputc('\n', stdout);
    std::fflush(stdout);  // a script reading our output must see each line at once
  }
  void print_json(const json& j) { print_line(j.dump(-1, ' ', false, json::error_handler_t::replace)); }

  void print_error(const std::string& what) {
    if (opts_.json) {
      print_json(json{{"event", "error"}, {"ts_ms", now_ms()}, {"message", what}});
    } else {
      std::fprintf(stderr, "error: %s\n", what.c_str());
      std::fflush(stderr);
    }
  }

  // A "NODEID@HOST:PORT" that others can pass to --peer. A node listening on
  // a wildcard address advertises nothing (it cannot know which of its
  // addresses others reach), so the loopback address stands in: right for
  // peers on this host, and the port is what peers elsewhere need.
  std::string pasteable_address() const {
    auto me = node_.address();
    if (!me.addresses.empty()) return me.to_string();
    const auto listening = node_.listen_endpoints();
    if (listening.empty()) return me.to_string();
    const auto& first = listening.front();
    std::array<std::uint8_t, 16> loopback6{};
    loopback6[15] = 1;
    const auto local = first.is_v4() ? endpoint::v4({127, 0, 0, 1}, first.port) : endpoint::v6(loopback6, first.port);
    return peer_addr{me.id, {local}}.to_string();
  }

  void print_ready() {
    const auto id = node_.id().to_string();
    const auto address = pasteable_address();
    std::vector<std::string> listen;
    for (const auto& e : node_.listen_endpoints()) listen.push_back(e.to_string());
    std::vector<std::string> advertised;
    for (const auto& e : node_.address().addresses) advertised.push_back(e.to_string());
    std::vector<std::string> dht;
    for (const auto& e : node_.dht_endpoints()) dht.push_back(e.to_string());
    if (opts_.json) {
      json j{{"event", "ready"},
             {"ts_ms", now_ms()},
             {"node_id", id},
             {"address", address},
             {"listen", listen},
             {"advertised", advertised},
             {"topic", opts_.topic},
             {"topic_id", tx_.id().to_string()},
             {"wire_topic_id", tx_.wire_id().to_string()},
             {"auto_discovery", opts_.auto_discovery}};
      if (opts_.auto_discovery) j["dht"] = dht;
      print_json(j);
      return;
    }
    if (opts_.chat) {
      print_line("topicswarm chat: topic '" + opts_.topic + "', you are " + node_.id().short_string() +
                 ". Looking for peers through the DHT" + (dht.empty() ? "" : " (DHT on " + dht.front() + ")") +
                 "...");
      print_line("Type a line and press Enter to send it; Ctrl-C to leave.");
      return;
    }
    std::string on;
    for (const auto& l : listen) on += (on.empty() ? "" : ", ") + l;
    print_line("node " + id + " listening on " + on + " (topic '" + opts_.topic + "')");
    print_line("peer " + address);
    if (opts_.auto_discovery)
      print_line("auto-discovery through the DHT" + (dht.empty() ? std::string() : " (DHT on " + dht.front() + ")"));
    if (advertised.empty())
      print_line("(listening on all interfaces: peers on other hosts use this host's IP with the same port)");
  }

  // Completes when a stop is requested. The timer is set to expire (rather
  // than cancelled) on stop, so a wait that starts after the request also
  // completes at once.
  asio::awaitable<std::tuple<std::error_code>> stop_wait() { return stop_.async_wait(use_tuple); }

  void request_stop(int code, std::string reason) {
    if (stopping_) return;
    stopping_ = true;
    exit_code_ = code;
    stop_reason_ = std::move(reason);
    stop_.expires_after(0ns);
    wake_.cancel();
    signals_.cancel();
    usr1_.cancel();
  }

  // With --json, SIGUSR1 prints the node's counters as a "stats" event and
  // its network status (reachability, connections) as a "network" event.
  void wait_usr1() {
    usr1_.async_wait([this](std::error_code ec, int) {
      if (ec || stopping_) return;
      print_json(json{{"event", "stats"}, {"ts_ms", now_ms()}, {"stats", stats_json(node_.stats_blocking())}});
      const auto st = node_.network_status_blocking();
      json conns = json::array();
      for (const auto& c : st.connections)
        conns.push_back(json{{"peer", c.peer.to_string()},
                             {"remote", c.remote.to_string()},
                             {"local", c.local.to_string()},
                             {"path", c.path},
                             {"dialled", c.dialled}});
      json advertised = json::array();
      for (const auto& a : st.advertised) advertised.push_back(a.to_string());
      json circuits = json::array();
      for (const auto& c : st.relay_circuits)
        circuits.push_back(json{{"requester", c.requester.to_string()},
                                {"target", c.target.to_string()},
                                {"running", c.running}});
      print_json(json{{"event", "network"},
                      {"ts_ms", now_ms()},
                      {"reachability", std::string(to_string(st.reachability))},
                      {"nat_mapping", st.nat_mapping},
                      {"advertised", advertised},
                      {"connections", conns},
                      {"relay_circuits", circuits}});
      wait_usr1();
    });
  }

  asio::awaitable<void> print_events() {
    using namespace asio::experimental::awaitable_operators;
    while (!stopping_) {
      auto next = (rx_.next() || stop_wait());
      auto r = co_await std::move(next);
      if (r.index() == 1 || stopping_) break;
      auto& ev = std::get<0>(r);
      if (!ev) {
        // topic_closed / node_stopped: there will be no more events.
        print_error("event stream ended: " + ev.error().message());
        request_stop(1, "error");
        break;
      }
      print_event(*ev);
    }
  }

  // Node-wide events: reachability changes (connections are not printed:
  // neighbour events say what matters to a topic).
  asio::awaitable<void> print_node_events() {
    using namespace asio::experimental::awaitable_operators;
    auto& rx = node_rx_;
    while (!stopping_) {
      auto r = co_await (rx.next() || stop_wait());
      if (r.index() == 1 || stopping_) break;
      auto& ev = std::get<0>(r);
      if (!ev) break;  // node_stopped
      if (const auto* pm = std::get_if<events::port_mapping>(&*ev)) {
        print_port_mapping(*pm);
        continue;
      }
      const auto* rc = std::get_if<events::reachability_changed>(&*ev);
      if (!rc) continue;
      std::vector<std::string> advertised;
      for (const auto& e : rc->advertised) advertised.push_back(e.to_string());
      if (opts_.json) {
        print_json(json{{"event", "reachability"},
                        {"ts_ms", now_ms()},
                        {"reachability", std::string(to_string(rc->reachability))},
                        {"advertised", advertised}});
      } else {
        std::string list;
        for (const auto& a : advertised) list += (list.empty() ? "" : ", ") + a;
        print_line("* reachability: " + std::string(to_string(rc->reachability)) + " (advertising " +
                   (list.empty() ? std::string("nothing") : list) + ")");
      }
    }
  }

  void print_port_mapping(const events::port_mapping& pm) {
    const std::string external = pm.external ? pm.external->to_string() : std::string();
    if (opts_.json) {
      json j{{"event", "port_mapping"}, {"ts_ms", now_ms()}, {"ok", pm.ok}, {"via", pm.via}, {"local_port", pm.local_port}};
      if (pm.ok) j["external"] = external;
      if (!pm.ok) j["error"] = pm.error;
      print_json(j);
    } else if (pm.ok) {
      print_line("* port mapping (" + pm.via + "): " + external + " -> local port " + std::to_string(pm.local_port));
    } else {
      print_line("* port mapping (" + pm.via + ") failed: " + pm.error);
    }
  }

  // The first neighbour: the moment the topic is joined.
  void maybe_print_joined(const node_id& peer) {
    if (joined_) return;
    joined_ = true;
    const auto after = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started_);
    if (opts_.json) {
      print_json(json{{"event", "joined"}, {"ts_ms", now_ms()}, {"after_ms", after.count()}, {"peer", peer.to_string()}});
    } else {
      print_line("joined after " + std::to_string(after.count()) + " ms (first neighbour " + peer.short_string() + ")");
    }
  }

  void print_chat_event(const event& ev) {
    std::visit(
        [&](const auto& e) {
          using T = std::decay_t<decltype(e)>;
          if constexpr (std::is_same_v<T, events::neighbor_up>) {
            print_line("* " + e.peer.short_string() + " is now a neighbour");
            print_status_line();
          } else if constexpr (std::is_same_v<T, events::neighbor_down>) {
            print_line("* " + e.peer.short_string() + " is no longer a neighbour");
            print_status_line();
          } else if constexpr (std::is_same_v<T, events::received>) {
            print_line(e.delivered_from.short_string() + "> " + show_content(e.content));
          } else {
            print_line("* missed " + std::to_string(e.missed) + " events (this terminal is too slow)");
          }
        },
        ev);
  }

  void print_status_line() {
    const auto n = tx_.neighbors().size();
    const auto d = tx_.auto_discovery();
    last_status_ = {n, d.records_seen};
    print_line("[status] " + std::to_string(n) + (n == 1 ? " neighbour" : " neighbours") + ", " +
               std::to_string(d.records_seen) + " records seen in the DHT");
  }

  // --join-timeout: give up (exit 1) if no neighbour came in time.
  asio::awaitable<void> join_watchdog() {
    asio::steady_timer t(io_, std::chrono::milliseconds(static_cast<std::int64_t>(opts_.join_timeout_s * 1000)));
    using namespace asio::experimental::awaitable_operators;
    auto wait = (t.async_wait(use_tuple) || stop_wait());
    co_await std::move(wait);
    if (stopping_ || joined_) co_return;
    print_error("no neighbour within " + std::to_string(static_cast<long long>(opts_.join_timeout_s * 1000)) +
                " ms (--join-timeout)");
    request_stop(1, "join timeout");
  }

  // Chat: a status line every status_interval when something changed.
  asio::awaitable<void> print_status() {
    asio::steady_timer t(io_);
    while (!stopping_) {
      t.expires_after(status_interval);
      co_await t.async_wait(use_tuple);
      if (stopping_) break;
      if (std::pair{tx_.neighbors().size(), tx_.auto_discovery().records_seen} != last_status_) print_status_line();
    }
  }

  void print_event(const event& ev) {
    if (auto* up = std::get_if<events::neighbor_up>(&ev)) maybe_print_joined(up->peer);
    if (opts_.chat) return print_chat_event(ev);
    const bool js = opts_.json;
    json j{{"event", ""}, {"ts_ms", now_ms()}};
    std::visit(
        [&](const auto& e) {
          using T = std::decay_t<decltype(e)>;
          if constexpr (std::is_same_v<T, events::neighbor_up> || std::is_same_v<T, events::neighbor_down>) {
            const char* name = std::is_same_v<T, events::neighbor_up> ? "neighbor_up" : "neighbor_down";
            if (!js) return print_line(std::string(name) + " " + e.peer.short_string());
            j["event"] = name;
            j["peer"] = e.peer.to_string();
          } else if constexpr (std::is_same_v<T, events::received>) {
            if (!js) {
              const char* tag = e.scope == delivery_scope::neighbors ? " (neighbours only)" : "";
              return print_line("received from " + e.delivered_from.short_string() + tag + ": " +
                                show_content(e.content));
            }
            j["event"] = "received";
            put_content(j, e.content);
            j["size"] = e.content.size();
            j["from"] = e.delivered_from.to_string();
            j["scope"] = scope_name(e.scope);
          } else {
            static_assert(std::is_same_v<T, events::lagged>);
            if (!js) return print_line("lagged: missed " + std::to_string(e.missed) + " events");
            j["event"] = "lagged";
            j["missed"] = e.missed;
          }
          print_json(j);
        },
        ev);
  }

  void on_line(input_line l) {
    if (stopping_) return;
    pending_.push_back(std::move(l));
    wake_.cancel_one();
  }
  void on_eof() {
    stdin_eof_ = true;
    wake_.cancel_one();
  }

  // Broadcasts stdin lines one at a time, in order.
  asio::awaitable<void> send_lines() {
    using namespace asio::experimental::awaitable_operators;
    for (;;) {
      while (pending_.empty() && !stdin_eof_ && !stopping_) {
        wake_.expires_at(std::chrono::steady_clock::time_point::max());
        co_await wake_.async_wait(use_tuple);
      }
      if (stopping_) co_return;
      if (pending_.empty()) break;  // stdin is done
      auto line = std::move(pending_.front());
      pending_.pop_front();
      if (!line.text.empty() && line.text.back() == '\r') {  // a line from a Windows-style file
        line.text.pop_back();
        --line.size;
      }
      auto scope = delivery_scope::swarm;
      if (line.text.starts_with(neighbors_prefix)) {
        scope = delivery_scope::neighbors;
        line.text.erase(0, neighbors_prefix.size());
        line.size -= neighbors_prefix.size();
      }
      if (line.size == 0) continue;  // blank lines are not worth a message
      if (line.size > line.text.size()) {
        print_error("line of " + std::to_string(line.size) + " bytes not sent: it exceeds the maximum message size");
        continue;
      }
      auto content = to_bytes(line.text);
      auto op = scope == delivery_scope::neighbors ? tx_.broadcast_neighbors(std::move(content))
                                                   : tx_.broadcast(std::move(content));
      auto sending = (std::move(op) || stop_wait());
      auto r = co_await std::move(sending);
      if (r.index() == 1) co_return;  // stopping
      if (auto& sent = std::get<0>(r); !sent) {
        // Typically message_too_large; the node keeps running either way.
        print_error("line of " + std::to_string(line.size) + " bytes not sent: " + sent.error().message());
        continue;
      }
      if (opts_.json) {
        json j{{"event", "sent"}, {"ts_ms", now_ms()}, {"scope", scope_name(scope)}};
        put_content(j, to_bytes(line.text));
        j["size"] = line.size;
        print_json(j);
      } else if (opts_.chat) {
        if (tx_.neighbors().empty()) print_line("(nobody has joined yet: this message reached no one)");
      } else {
        print_line(std::string(scope == delivery_scope::neighbors ? "sent (neighbours only): " : "sent: ") +
                   show_content(to_bytes(line.text)));
      }
    }
    if (!opts_.exit_on_eof) co_return;  // keep printing events until a signal
    asio::steady_timer grace(io_, eof_grace);
    co_await grace.async_wait(use_tuple);
    request_stop(0, "stdin closed");
  }

  node_events_receiver node_rx_;  // opened right after the node started
  const join_options& opts_;
  asio::io_context& io_;
  asio::signal_set& signals_;
  node& node_;
  sender tx_;
  receiver rx_;
  asio::steady_timer stop_;  // expires when a stop is requested
  asio::steady_timer wake_;  // cancelled when a line (or EOF) arrives
  asio::signal_set usr1_{io_, SIGUSR1};
  std::deque<input_line> pending_;
  bool stdin_eof_ = false;
  bool stopping_ = false;
  std::chrono::steady_clock::time_point started_;
  bool joined_ = false;
  std::pair<std::size_t, std::size_t> last_status_{~std::size_t{0}, 0};
  int exit_code_ = 0;
  std::string stop_reason_;
  stdin_reader reader_;  // last: its thread posts into the members above
};

void run_join(const join_options& o) {
  if (o.topic.empty()) fail("--topic must not be empty");

  node_config cfg;
  cfg.listen.clear();
  for (const auto& l : o.listen.empty() ? std::vector<std::string>{"0.0.0.0:0"} : o.listen) {
    auto ep = endpoint::parse(l);
    if (!ep) fail("bad --listen \"" + l + "\" (expected IP:PORT or [IPv6]:PORT): " + ep.error().message());
    cfg.listen.push_back(*ep);
  }
  cfg.transport.limit_loopback = o.limit_loopback;
  cfg.advertise_interfaces = o.advertise_interfaces;
  cfg.reachability.enabled = !o.no_reachability;
  cfg.reachability.port_mapping = !o.no_port_mapping;
  cfg.reachability.connection_reversal = !o.no_reversal;
  cfg.reachability.hole_punching = !o.no_punching;
  cfg.reachability.relay_serve = o.relay_serve;
  cfg.lan.enabled = o.lan;
  cfg.lan.port = o.lan_port;
  cfg.reachability.relay_upgrade_after =
      std::chrono::milliseconds(static_cast<std::int64_t>(o.relay_upgrade_after_s * 1000));
  if (o.active_view != 0) cfg.gossip.active_view_capacity = o.active_view;
  std::vector<peer_addr> peers;
  for (const auto& p : o.peers) {
    auto pa = peer_addr::parse(p);
    if (!pa) fail("bad --peer (expected NODEID@HOST:PORT): " + pa.error().message());
    if (pa->addresses.empty()) fail("bad --peer \"" + p + "\": no address to dial (expected NODEID@HOST:PORT)");
    peers.push_back(std::move(*pa));
  }
  if (!o.identity_file.empty()) {
    auto id = identity::load_or_generate(o.identity_file);
    if (!id) fail("--identity " + o.identity_file + ": " + id.error().message());
    cfg.id = std::move(*id);
  }

  // If stdin was closed (`<&-`), the node's first socket would become fd 0
  // and the reader would read from it: give fd 0 an empty stdin instead.
  if (::fcntl(STDIN_FILENO, F_GETFD) < 0 && errno == EBADF) {
    const int fd = ::open("/dev/null", O_RDONLY);
    if (fd > STDIN_FILENO) ::close(fd);
  }

  // Signals are caught from before the node's thread exists, so a SIGTERM
  // during start-up is handled by the session (queued until it waits) instead
  // of killing the process.
  asio::io_context io;
  asio::signal_set signals(io, SIGINT, SIGTERM);

  auto_discovery_config adc;
  if (o.auto_discovery) {
    if (auto d = enable_dht(cfg, o.bootstrap, o.dht_listen); !d) fail(d.error().detail);
    // No deadline by default: a node on a quiet topic waits for company.
    adc.join_timeout = o.join_timeout_s > 0 ? std::chrono::milliseconds(static_cast<std::int64_t>(o.join_timeout_s * 1000))
                                            : std::chrono::hours(24 * 365);
    if (auto v = adc.validate(); !v) fail(v.error().message());
  }

  auto started = node::start(std::move(cfg));
  if (!started) fail(started.error().message());
  auto& n = *started;
  // Node events from the start: a port mapping can be answered before the
  // session below runs.
  auto node_rx = n.events();
  const topic_id tid = topic_id_from_name(o.topic);
  const secret_hash key = topic_key(o, tid);
  auto sub = o.auto_discovery ? n.auto_discovery().topic(tid).key(key).config(adc).join_no_wait()
                              : n.subscribe(tid, key, peers);
  if (!sub) fail("cannot subscribe to '" + o.topic + "': " + sub.error().message());
  auto [tx, rx] = std::move(*sub).split();
  if (o.auto_discovery && !peers.empty()) {
    // Known peers as well: join through them at once, the DHT does the rest.
    asio::co_spawn(io, tx.join_peers(peers), asio::detached);
  }

  int code = 0;
  {
    join_session session(o, io, signals, n, std::move(tx), std::move(rx), std::move(node_rx));
    code = session.run();
  }
  if (code != 0) throw CLI::RuntimeError(code);
}

}  // namespace

void register_join_command(CLI::App& app) {
  static join_options o;
  auto* cmd = app.add_subcommand(
      "join", "Join a topic: print its events as they happen and broadcast every line read from stdin");
  cmd->add_option("--topic", o.topic, "Topic name (its id is SHA-512(name)[0..32])")->required();
  cmd->add_option("--peer", o.peers, "Peer to join through, NODEID@HOST:PORT as printed by another node (repeatable)");
  cmd->add_option("--listen", o.listen, "Address to listen on, IP:PORT or [IPv6]:PORT (repeatable; default 0.0.0.0:0)");
  cmd->add_flag("--json", o.json, "Print one JSON object per line (each with \"event\" and \"ts_ms\")");
  cmd->add_option("--identity", o.identity_file,
                  "Identity file: loaded if it exists, otherwise created (mode 0600); default: a fresh identity");
  cmd->add_flag("--auto-discovery", o.auto_discovery,
                "Find the topic's peers through the Mainline DHT (records signed and encrypted with the topic key)");
  add_key_options(cmd, o.key, "topic");
  cmd->add_option("--bootstrap", o.bootstrap,
                  "With --auto-discovery: DHT node to bootstrap from, HOST:PORT (repeatable; default: the public "
                  "Mainline routers)");
  cmd->add_option("--dht-listen", o.dht_listen,
                  "With --auto-discovery: UDP address of the DHT client (default 0.0.0.0:0, or 127.0.0.1:0 when "
                  "every --bootstrap is local)");
  cmd->add_option("--join-timeout", o.join_timeout_s,
                  "With --auto-discovery: exit 1 if no neighbour within this many seconds (default: wait)")
      ->check(CLI::Range(0.0, 86400.0));
  cmd->add_flag("--no-port-mapping", o.no_port_mapping,
                "Do not ask the gateway (NAT-PMP/PCP, UPnP) to forward the listen port (asked by default with "
                "--auto-discovery off loopback)");
  cmd->add_flag("--no-reachability", o.no_reachability,
                "Do not check our addresses by dial-back; advertise the listen (or interface) addresses unchecked");
  cmd->add_flag("--no-reversal", o.no_reversal,
                "Neither ask neighbours to have a peer we cannot dial dial us, nor carry or act on such requests "
                "(connection reversal, docs/PROTOCOL.md section 19.7); implies --no-punching");
  cmd->add_flag("--no-punching", o.no_punching,
                "Ask for connection reversals only, even when this node is not known to be reachable, and answer "
                "no TCP hole punches (docs/PROTOCOL.md section 19.8)");
  cmd->add_flag("--relay-serve", o.relay_serve,
                "Relay connections between connected peers that cannot reach each other otherwise (up to 16 "
                "circuits, 64 MiB and 10 minutes each; the relay copies bytes it cannot read: docs/PROTOCOL.md "
                "section 19.9)");
  cmd->add_flag("--lan", o.lan,
                "Find members on the local link with no DHT: send a UDP multicast beacon (239.255.84.83, TTL 1) with "
                "this node's id, port and a tag per topic only members can recognise, and join members whose beacons "
                "carry this topic's tag (docs/PROTOCOL.md section 20). Needs an IPv4 --listen address that is not "
                "loopback (or 0.0.0.0: every interface)");
  cmd->add_option("--lan-port", o.lan_port, "With --lan: the beacons' UDP port (default 48654; all members alike)")
      ->check(CLI::Range(1, 65535));
  cmd->add_option("--relay-upgrade-after", o.relay_upgrade_after_s,
                  "Seconds after a relayed connection we asked for came up before a first hole punch tries to "
                  "replace it with a direct one (then twice as long each time, up to 10 minutes; 0: never; "
                  "default 30; docs/PROTOCOL.md section 19.10)")
      ->check(CLI::Range(0.0, 86400.0));
  cmd->add_option("--active-view", o.active_view,
                  "Neighbours per topic (HyParView active view; default 5): a node with a full view asks no one "
                  "else, but still accepts peers that must join it")
      ->check(CLI::Range(1, 64));
  cmd->add_flag("--advertise-interfaces", o.advertise_interfaces,
                "With --listen 0.0.0.0:PORT: advertise the addresses of this host's interfaces, and follow "
                "them when they change (records and gossip carry the new ones)");
  cmd->add_flag("--limit-loopback", o.limit_loopback,
                "Apply the per-source connection limits (8 per IP, 32 per /24) to loopback sources too "
                "(for tests: everything local comes from 127.0.0.0/8)");
  cmd->add_flag("--exit-on-eof", o.exit_on_eof,
                "Exit (after a 500 ms grace) when stdin closes; by default keep running until SIGINT/SIGTERM");
  cmd->footer(
      "Each stdin line is broadcast to the whole topic; a line starting with \"/n \" is sent to direct\n"
      "neighbours only (without the prefix). Blank lines are ignored; a line above the maximum message\n"
      "size (4096 bytes) is reported as an error and not sent. With --json, SIGUSR1 prints the node's\n"
      "counters as a \"stats\" event (also part of the \"stopped\" event) and its connections (peer,\n"
      "addresses, \"direct\" or \"punched\") as a \"network\" event.");
  cmd->callback([] {
    if (!o.auto_discovery && (!o.bootstrap.empty() || !o.dht_listen.empty() || o.join_timeout_s > 0))
      fail("--bootstrap, --dht-listen and --join-timeout need --auto-discovery");
    run_join(o);
  });
}

void register_chat_command(CLI::App& app) {
  static join_options o;
  o.chat = true;
  o.auto_discovery = true;
  o.exit_on_eof = true;  // Ctrl-D leaves the chat
  o.command = "chat";
  auto* cmd = app.add_subcommand("chat",
                                 "Chat on a topic with whoever else runs it: peers are found through the Mainline "
                                 "DHT (public by default), no server and no addresses needed");
  cmd->add_option("--topic", o.topic, "Topic name: everyone who uses the same name (and secret) meets")->required();
  add_key_options(cmd, o.key, "topic");
  cmd->add_option("--bootstrap", o.bootstrap,
                  "DHT node to bootstrap from, HOST:PORT (repeatable; default: the public Mainline routers)");
  cmd->add_option("--listen", o.listen, "Address to listen on, IP:PORT (repeatable; default 0.0.0.0:0)");
  cmd->add_option("--dht-listen", o.dht_listen,
                  "UDP address of the DHT client (default 0.0.0.0:0, or 127.0.0.1:0 when every --bootstrap is local)");
  cmd->add_option("--identity", o.identity_file, "Identity file: loaded if it exists, otherwise created");
  cmd->footer(
      "Lines you type are sent to everyone on the topic; Ctrl-D or Ctrl-C leaves. A status line shows your\n"
      "neighbours and the records seen in the DHT. On a local testnet: topicswarm testnet --json prints a\n"
      "bootstrap address.");
  cmd->callback([] {
    command_name = "chat";
    run_join(o);
  });
}

}  // namespace topicswarm::cli
