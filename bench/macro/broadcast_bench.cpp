// `topicswarm bench broadcast`: gossip throughput and latency over real nodes.
//
// N nodes run in this process, each on its own thread as node::start() makes
// them, and join one topic over TLS 1.3 on 127.0.0.1. Node 0 publishes; every
// other node has a receiver loop that checks each message's sequence number and
// takes its latency from the send time written into the message. Both times
// are steady_clock readings of the same process, so no clock sync is involved.
//
// Phases: warm-up (a few messages, excluded from the figures), full speed
// (broadcast() back to back, paced only by its back-pressure) and fixed rate
// (sends on an absolute schedule). Figures are read only after every receiver
// loop has ended, so nothing here races with the receiver threads except the
// atomic progress counters the main thread polls.
#include "bench/macro/broadcast_bench.hpp"

#include "bench/macro/figures.hpp"
#include "bench/macro/report.hpp"
#include "cli/support/coroutines.hpp"
#include "cli/support/local_swarm.hpp"

#include <topicswarm/node.hpp>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/use_future.hpp>

#include <nlohmann/json.hpp>

#include <sys/resource.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <variant>
#include <vector>

namespace topicswarm::bench {
namespace {

using cli::run_to_end;
using namespace std::chrono_literals;
using clock = std::chrono::steady_clock;
// Keys in insertion order: the report reads top-down (parameters, phases, machine).
using json = nlohmann::ordered_json;

// The overlay must have formed (every node has a neighbour) this long after the
// nodes started, and then carry the warm-up messages to everyone within
// warm_up_timeout; otherwise the benchmark fails instead of measuring a
// partial overlay.
constexpr auto overlay_timeout = 30s;
constexpr auto warm_up_timeout = 10s;
// HyParView keeps adjusting right after the joins (neighbour requests,
// PlumTree prunes); measuring starts once that has calmed down.
constexpr auto settle_time = 1s;
constexpr std::uint64_t warm_up_count = 20;
// A message not delivered this long after the last send is reported missing.
constexpr auto drain_timeout = 10s;
// A paced send this far behind its schedule counts as late.
constexpr auto late_threshold = 1ms;

// The benchmark cannot measure what it was asked to: the caller reports why.
[[noreturn]] void fail(const std::string& what) { throw std::runtime_error(what); }

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(clock::now().time_since_epoch()).count();
}

double seconds(std::int64_t ns) { return static_cast<double>(ns) / 1e9; }

// ------------------------------------------------------------- messages ---

// Content layout: [0, 8) phase << 56 | index, [8, 16) send time (ns of
// steady_clock), both little-endian; the rest is filler. Message ids are
// content hashes, so the header is what keeps every message distinct.
enum class phase : std::uint8_t { warm_up = 0, full_speed = 1, fixed_rate = 2 };
constexpr std::size_t phase_count = 3;
constexpr std::size_t header_bytes = broadcast_header_bytes;
constexpr int phase_shift = 56;
constexpr std::uint64_t index_mask = (std::uint64_t{1} << phase_shift) - 1;

const char* phase_name(phase p) {
  switch (p) {
    case phase::warm_up: return "warm_up";
    case phase::full_speed: return "full_speed";
    case phase::fixed_rate: return "fixed_rate";
  }
  return "?";
}

void put_u64(std::byte* p, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<std::byte>(v >> (8 * i));
}

std::uint64_t get_u64(const std::byte* p) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | std::to_integer<std::uint64_t>(p[i]);
  return v;
}

bytes make_message(phase p, std::uint64_t index, std::int64_t sent_ns, std::size_t size) {
  bytes m(size, std::byte{0x5a});
  put_u64(m.data(), (std::uint64_t{static_cast<std::uint8_t>(p)} << phase_shift) | index);
  put_u64(m.data() + 8, static_cast<std::uint64_t>(sent_ns));
  return m;
}

// ------------------------------------------------------------ receivers ---

// What one receiving node saw of one phase. Written only by its receiver
// loop; `unique` is also polled by the main thread to see when a phase ends.
struct phase_log {
  explicit phase_log(std::uint64_t n) : arrival_ns(n, 0) {}
  std::vector<std::int64_t> arrival_ns;  // first delivery per index; 0: none yet
  std::uint64_t duplicates = 0;
  std::atomic<std::uint64_t> unique{0};
};

struct receiver_log {
  explicit receiver_log(const std::array<std::uint64_t, phase_count>& sizes) {
    for (std::size_t p = 0; p < phase_count; ++p) phases[p] = std::make_unique<phase_log>(sizes[p]);
  }
  std::array<std::unique_ptr<phase_log>, phase_count> phases;
  // Read by the main thread at phase boundaries.
  std::atomic<std::uint64_t> lagged_events{0}, lagged_missed{0};
  std::uint64_t foreign = 0;  // contents this benchmark did not send
  std::string end;            // why next() stopped

  void on_message(byte_span c, std::int64_t at) {
    if (c.size() < header_bytes) {
      ++foreign;
      return;
    }
    const auto tagged = get_u64(c.data());
    const auto p = tagged >> phase_shift;
    const auto index = tagged & index_mask;
    if (p >= phase_count || index >= phases[p]->arrival_ns.size()) {
      ++foreign;
      return;
    }
    auto& log = *phases[p];
    if (log.arrival_ns[index] != 0) {
      ++log.duplicates;
      return;
    }
    log.arrival_ns[index] = at;
    log.unique.fetch_add(1, std::memory_order_release);
  }
};

// One receiving node's loop: records every event until next() fails (the node
// stopped). The arrival time is taken when the loop resumes, i.e. when a user
// of the API would see the message.
asio::awaitable<void> receive_loop(receiver rx, receiver_log& log, std::atomic<std::size_t>& ended) {
  for (;;) {
    auto next = rx.next();
    auto ev = co_await std::move(next);
    const auto at = now_ns();
    if (!ev) {
      log.end = ev.error().message();
      break;
    }
    if (auto* m = std::get_if<events::received>(&*ev)) {
      log.on_message(m->content, at);
    } else if (auto* l = std::get_if<events::lagged>(&*ev)) {
      log.lagged_events.fetch_add(1, std::memory_order_relaxed);
      log.lagged_missed.fetch_add(l->missed, std::memory_order_relaxed);
    }
  }
  ended.fetch_add(1);
}

// ------------------------------------------------------------ publisher ---

struct send_log {
  std::int64_t first_ns = 0;  // when the first broadcast() was called
  std::int64_t done_ns = 0;   // when the last one completed
  std::uint64_t sent = 0;
  std::uint64_t late = 0;        // paced sends more than late_threshold behind schedule
  std::int64_t max_late_ns = 0;  // the worst of them
  std::optional<std::string> error;
};

// Broadcasts sent_ns.size() messages through `tx`, recording each send time.
// rate > 0: message i is due at start + i / rate (an absolute schedule, so a
// late send does not push the later ones back); rate == 0: back to back.
asio::awaitable<send_log> publish(sender tx, phase p, std::size_t size, double rate,
                                  std::vector<std::int64_t>& sent_ns) {
  send_log log;
  asio::steady_timer pace(co_await asio::this_coro::executor);
  const auto start = clock::now();
  for (std::uint64_t i = 0; i < sent_ns.size(); ++i) {
    if (rate > 0) {
      const auto due = start + std::chrono::nanoseconds(std::llround(static_cast<double>(i) * 1e9 / rate));
      if (clock::now() < due) {
        pace.expires_at(due);
        co_await pace.async_wait(asio::use_awaitable);
      }
      const auto behind = std::chrono::duration_cast<std::chrono::nanoseconds>(clock::now() - due);
      if (behind > late_threshold) ++log.late;
      log.max_late_ns = std::max<std::int64_t>(log.max_late_ns, behind.count());
    }
    const auto t = now_ns();
    if (i == 0) log.first_ns = t;
    sent_ns[i] = t;
    auto send = tx.broadcast(make_message(p, i, t, size));
    auto r = co_await std::move(send);
    if (!r) {
      log.error = r.error().message();
      break;
    }
    ++log.sent;
  }
  log.done_ns = now_ns();
  co_return log;
}


// --------------------------------------------------------------- figures ---

struct cpu_times {
  double user_s = 0, sys_s = 0;
};

cpu_times process_cpu() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  auto s = [](const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6; };
  return {s(u.ru_utime), s(u.ru_stime)};
}

// Nearest-rank percentiles of latencies in ns, reported in ms. Sorts `ns`.
json latency_summary(std::vector<std::int64_t>& ns) {
  if (ns.empty()) return {{"samples", 0}};
  std::sort(ns.begin(), ns.end());
  auto ms = [](std::int64_t v) { return round3(static_cast<double>(v) / 1e6); };
  auto pct = [&](double p) { return ms(nearest_rank(ns, p)); };
  long double sum = 0;
  for (auto v : ns) sum += static_cast<long double>(v);
  return {{"samples", ns.size()},
          {"p50_ms", pct(0.50)},
          {"p90_ms", pct(0.90)},
          {"p99_ms", pct(0.99)},
          {"max_ms", ms(ns.back())},
          {"mean_ms", round3(static_cast<double>(sum / static_cast<long double>(ns.size())) / 1e6)}};
}

// Counters read at the start and end of a phase; the figures are differences.
struct snapshot {
  std::int64_t at_ns = 0;
  cpu_times cpu;
  transport_stats node0;
  std::uint64_t frames_out_all = 0, bytes_out_all = 0;
  // Trouble anywhere in the overlay, summed over the nodes.
  std::uint64_t send_queue_overflows = 0, dial_queue_drops = 0, idle_timeouts = 0, dials = 0, accepts = 0;
  // PlumTree repair traffic over the overlay: grafts (a message came by
  // announcement only), prunes and duplicate copies.
  std::uint64_t grafts = 0, prunes = 0, duplicates = 0, ihaves = 0;
  // PlumTree link states per node at the snapshot: a spanning tree of N nodes
  // has N-1 eager links, i.e. the eager counts sum to 2(N-1).
  std::vector<std::size_t> eager_links, lazy_links;
  std::vector<std::uint64_t> lagged_events, lagged_missed;  // per receiver
};

struct phase_run {
  phase p = phase::full_speed;
  double rate = 0;  // 0: full speed
  std::vector<std::int64_t> sent_ns;
  send_log send;
  bool drained = false;  // every receiver had every message before the drain timeout
  std::int64_t drain_end_ns = 0;
  snapshot before, after;
};

// ---------------------------------------------------------------- bench ---

class broadcast_bench {
 public:
  explicit broadcast_bench(const broadcast_options& o) : o_(o) {
    seed_ = o.seed != 0 ? o.seed : (std::uint64_t{std::random_device{}()} << 32) ^ std::random_device{}();
  }
  broadcast_bench(const broadcast_bench&) = delete;
  broadcast_bench& operator=(const broadcast_bench&) = delete;
  ~broadcast_bench() { shutdown(); }

  std::uint64_t seed() const noexcept { return seed_; }
  double overlay_ms() const noexcept { return overlay_ms_; }
  const std::vector<std::size_t>& neighbors() const noexcept { return neighbors_; }

  // Starts the nodes, joins them into one overlay and starts the receiver
  // loops. Fails (exit 1) when the overlay does not form in time.
  void form_overlay() {
    const auto started = clock::now();
    const auto n = static_cast<std::size_t>(o_.nodes);
    for (std::size_t i = 0; i < n; ++i) {
      auto c = cli::loopback_node_config();
      // Every node must accept what node 0 sends (receivers drop larger frames).
      c.gossip.max_message_size = std::max<std::size_t>(4096, o_.size);
      c.event_queue_capacity = o_.event_queue;
      c.transport.send_backpressure_bytes = o_.backpressure;
      c.gossip.graft_timeout_1 = std::chrono::milliseconds(o_.graft_timeout_ms);
      c.rng_seed = seed_ + i;
      auto started_node = node::start(std::move(c));
      if (!started_node) fail("node " + std::to_string(i) + " did not start: " + started_node.error().message());
      nodes_.push_back(std::move(*started_node));
    }
    // Node i > 0 joins through node 0 and one random earlier node, as a swarm
    // whose members learn of each other through a few known peers would.
    std::mt19937_64 rng(seed_);
    const auto t = topic_id_from_name("topicswarm-bench-broadcast");
    std::vector<topic> topics;
    for (std::size_t i = 0; i < n; ++i) {
      std::vector<peer_addr> boot;
      if (i > 0) boot.push_back(nodes_[0].address());
      if (i > 1) boot.push_back(nodes_[std::uniform_int_distribution<std::size_t>(1, i - 1)(rng)].address());
      auto sub = nodes_[i].subscribe(t, std::move(boot));
      if (!sub) fail("node " + std::to_string(i) + " could not subscribe: " + sub.error().message());
      topics.push_back(std::move(*sub));
    }
    const auto deadline = started + overlay_timeout;
    for (std::size_t i = 0; i < n; ++i) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now());
      auto joined = run_to_end(io_, topics[i].joined(std::max(left, std::chrono::milliseconds(1))));
      if (!joined)
        fail("the overlay did not form within " + std::to_string(overlay_timeout.count()) + " s: node " +
             std::to_string(i) + " has no neighbour (" + joined.error().message() + ")");
    }
    overlay_ms_ = std::chrono::duration<double, std::milli>(clock::now() - started).count();
    std::this_thread::sleep_for(settle_time);
    for (auto& tp : topics) neighbors_.push_back(tp.neighbors().size());

    // One receiver loop per receiving node, spread over receiver_threads
    // threads. Node 0's receiver is dropped: nothing reads it, and an unread
    // receiver would only fill its queue.
    const auto threads = std::min<std::size_t>(static_cast<std::size_t>(o_.receiver_threads), n - 1);
    for (std::size_t k = 0; k < threads; ++k) {
      rx_io_.push_back(std::make_unique<asio::io_context>(1));
      guards_.push_back(asio::make_work_guard(*rx_io_.back()));
    }
    const std::array<std::uint64_t, phase_count> sizes{warm_up_count, o_.count, o_.rate_count};
    for (std::size_t i = 0; i < n; ++i) {
      auto [tx, rx] = std::move(topics[i]).split();
      if (i == 0) {
        tx_.emplace(std::move(tx));
        continue;
      }
      logs_.push_back(std::make_unique<receiver_log>(sizes));
      asio::co_spawn(*rx_io_[(i - 1) % threads], receive_loop(std::move(rx), *logs_.back(), loops_ended_),
                     asio::detached);
    }
    for (auto& io : rx_io_) rx_threads_.emplace_back([&io = *io] { io.run(); });
  }

  // A few messages through the whole overlay: connections are warm and the
  // PlumTree has pruned its redundant eager links before anything is measured.
  void warm_up() {
    std::vector<std::int64_t> sent(warm_up_count, 0);
    auto pub = publish(*tx_, phase::warm_up, o_.size, 0, sent);
    auto log = run_to_end(io_, std::move(pub));
    if (log.error) fail("warm-up broadcast failed: " + *log.error);
    const auto deadline = clock::now() + warm_up_timeout;
    while (!all_received(phase::warm_up, warm_up_count) && clock::now() < deadline) std::this_thread::sleep_for(1ms);
    std::string short_nodes;
    for (std::size_t k = 0; k < logs_.size(); ++k) {
      const auto got = logs_[k]->phases[0]->unique.load();
      if (got < warm_up_count)
        short_nodes += " node " + std::to_string(k + 1) + " (" + std::to_string(got) + "/" +
                       std::to_string(warm_up_count) + ")";
    }
    if (!short_nodes.empty())
      fail("the overlay is incomplete: warm-up messages did not reach" + short_nodes + " within " +
           std::to_string(warm_up_timeout.count()) + " s");
    std::this_thread::sleep_for(200ms);  // IHAVEs and prunes of the warm-up settle
  }

  phase_run run_phase(phase p, std::uint64_t messages, double rate) {
    phase_run r;
    r.p = p;
    r.rate = rate;
    r.sent_ns.assign(messages, 0);
    r.before = take_snapshot();
    auto pub = publish(*tx_, p, o_.size, rate, r.sent_ns);
    r.send = run_to_end(io_, std::move(pub));
    const auto deadline = clock::now() + drain_timeout;
    while (!(r.drained = all_received(p, r.send.sent)) && clock::now() < deadline) std::this_thread::sleep_for(1ms);
    r.drain_end_ns = now_ns();
    r.after = take_snapshot();
    return r;
  }

  // Stops the nodes (their receivers then end with node_stopped) and joins the
  // receiver threads. Idempotent; after it the logs may be read.
  void shutdown() {
    if (stopped_) return;
    stopped_ = true;
    std::vector<node*> all;
    for (auto& n : nodes_) all.push_back(&n);
    cli::stop_all(all);
    for (auto& g : guards_) g.reset();
    // Every loop ends with node_stopped; should one not, stop its context
    // rather than hang.
    const auto deadline = clock::now() + 5s;
    while (loops_ended_.load() < logs_.size() && clock::now() < deadline) std::this_thread::sleep_for(1ms);
    for (auto& io : rx_io_) io->stop();
    for (auto& t : rx_threads_) t.join();
  }

  // The figures of a phase; call after shutdown().
  json report(const phase_run& r) const {
    const auto p = static_cast<std::size_t>(r.p);
    const auto n = r.send.sent;
    const auto receivers = logs_.size();
    std::vector<std::int64_t> latency;
    latency.reserve(n * receivers);
    std::vector<std::uint32_t> reached(n, 0);  // receivers that had message i by the drain's end
    std::int64_t last_arrival = r.send.first_ns;
    std::uint64_t deliveries = 0, duplicates = 0, missing = 0, late = 0, lagged_events = 0, lagged_missed = 0;
    json per_node = json::array();
    for (std::size_t k = 0; k < receivers; ++k) {
      const auto& log = *logs_[k]->phases[p];
      std::uint64_t got = 0, node_missing = 0, node_late = 0;
      const auto first_sample = latency.size();
      for (std::uint64_t i = 0; i < n; ++i) {
        const auto a = log.arrival_ns[i];
        if (a == 0 || a > r.drain_end_ns) {
          ++node_missing;
          if (a != 0) ++node_late;
          continue;
        }
        ++got;
        ++reached[i];
        latency.push_back(a - r.sent_ns[i]);
        last_arrival = std::max(last_arrival, a);
      }
      // Per node: a slow branch of the tree shows up here, not in the totals.
      std::vector<std::int64_t> node_latency(latency.begin() + static_cast<std::ptrdiff_t>(first_sample),
                                             latency.end());
      auto node_summary = latency_summary(node_latency);
      const auto le = r.after.lagged_events[k] - r.before.lagged_events[k];
      const auto lm = r.after.lagged_missed[k] - r.before.lagged_missed[k];
      per_node.push_back({{"node", k + 1},
                          {"delivered", got},
                          {"duplicates", log.duplicates},
                          {"missing", node_missing},
                          {"arrived_after_drain", node_late},
                          {"lagged_events", le},
                          {"lagged_missed", lm},
                          {"latency_p50_ms", node_summary.value("p50_ms", 0.0)},
                          {"latency_p99_ms", node_summary.value("p99_ms", 0.0)}});
      deliveries += got;
      duplicates += log.duplicates;
      missing += node_missing;
      late += node_late;
      lagged_events += le;
      lagged_missed += lm;
    }
    const auto to_all = static_cast<std::uint64_t>(std::count(reached.begin(), reached.end(), receivers));
    const double complete_s = seconds(last_arrival - r.send.first_ns);
    const double send_s = seconds(r.send.done_ns - r.send.first_ns);
    const double wall_s = seconds(r.after.at_ns - r.before.at_ns);
    const double cpu_user = r.after.cpu.user_s - r.before.cpu.user_s;
    const double cpu_sys = r.after.cpu.sys_s - r.before.cpu.sys_s;
    const double mib = 1024.0 * 1024.0;

    json j;
    j["messages"] = n;
    json send = {{"duration_s", round3(send_s)},
                           {"rate_per_s", round3(send_s > 0 ? static_cast<double>(n) / send_s : 0)}};
    if (r.rate > 0) {
      j["target_rate_per_s"] = r.rate;
      send["late_sends"] = r.send.late;
      send["max_behind_schedule_ms"] = round3(static_cast<double>(r.send.max_late_ns) / 1e6);
    }
    if (r.send.error) send["error"] = *r.send.error;
    j["send"] = send;
    j["drained"] = r.drained;
    j["complete_s"] = round3(complete_s);
    j["delivered_to_all"] = to_all;
    // Messages that reached every receiver, per second from the first send to
    // the last delivery: the rate the whole swarm sustains.
    j["throughput_msgs_per_s"] = round3(complete_s > 0 ? static_cast<double>(to_all) / complete_s : 0);
    j["throughput_mib_per_s_per_receiver"] =
        round3(complete_s > 0 ? static_cast<double>(to_all) * static_cast<double>(o_.size) / mib / complete_s : 0);
    j["latency"] = latency_summary(latency);
    j["totals"] = {{"expected", n * receivers},     {"delivered", deliveries},         {"duplicates", duplicates},
                   {"missing", missing},            {"arrived_after_drain", late},     {"lagged_events", lagged_events},
                   {"lagged_missed", lagged_missed}};
    j["receivers"] = per_node;
    j["node0_transport"] = {{"frames_out", r.after.node0.frames_out - r.before.node0.frames_out},
                            {"bytes_out", r.after.node0.bytes_out - r.before.node0.bytes_out}};
    // Bytes every node wrote (TLS included) per delivery: a little over the
    // message size when the PlumTree is a tree; eager duplicates and grafts
    // show up as more.
    const auto bytes_all = r.after.bytes_out_all - r.before.bytes_out_all;
    j["all_nodes_transport"] = {
        {"frames_out", r.after.frames_out_all - r.before.frames_out_all},
        {"bytes_out", bytes_all},
        {"bytes_per_delivery",
         round3(deliveries > 0 ? static_cast<double>(bytes_all) / static_cast<double>(deliveries) : 0)},
        // Connections closed as too slow (their queued frames are lost) and
        // connections made during the phase (the overlay repairing itself).
        {"send_queue_overflows", r.after.send_queue_overflows - r.before.send_queue_overflows},
        {"dial_queue_drops", r.after.dial_queue_drops - r.before.dial_queue_drops},
        {"idle_timeouts", r.after.idle_timeouts - r.before.idle_timeouts},
        {"new_connections", (r.after.dials + r.after.accepts) - (r.before.dials + r.before.accepts)}};
    j["plumtree"] = {{"grafts", r.after.grafts - r.before.grafts},
                     {"prunes", r.after.prunes - r.before.prunes},
                     {"duplicate_copies", r.after.duplicates - r.before.duplicates},
                     {"ihave_messages", r.after.ihaves - r.before.ihaves},
                     {"eager_links_per_node_at_end", r.after.eager_links},
                     {"lazy_links_per_node_at_end", r.after.lazy_links}};
    j["cpu"] = {{"user_s", round3(cpu_user)},
                {"sys_s", round3(cpu_sys)},
                {"wall_s", round3(wall_s)},
                {"cores_busy", round3(wall_s > 0 ? (cpu_user + cpu_sys) / wall_s : 0)},
                {"us_per_message", round3(n > 0 ? (cpu_user + cpu_sys) * 1e6 / static_cast<double>(n) : 0)}};
    return j;
  }

 private:
  bool all_received(phase p, std::uint64_t n) const {
    return std::all_of(logs_.begin(), logs_.end(), [&](const auto& l) {
      return l->phases[static_cast<std::size_t>(p)]->unique.load(std::memory_order_acquire) >= n;
    });
  }

  snapshot take_snapshot() const {
    snapshot s;
    s.at_ns = now_ns();
    s.cpu = process_cpu();
    for (std::size_t i = 0; i < nodes_.size(); ++i) {
      const auto st = nodes_[i].stats_blocking();
      if (i == 0) s.node0 = st.transport;
      s.frames_out_all += st.transport.frames_out;
      s.bytes_out_all += st.transport.bytes_out;
      s.send_queue_overflows += st.transport.send_queue_overflows;
      s.dial_queue_drops += st.transport.dial_queue_drops;
      s.idle_timeouts += st.transport.idle_timeouts;
      s.dials += st.transport.dialled;
      s.accepts += st.transport.accepted;
      s.grafts += st.gossip.graft_sent;
      s.prunes += st.gossip.prune_sent;
      s.duplicates += st.gossip.duplicates;
      s.ihaves += st.gossip.ihave_sent;
      s.eager_links.push_back(st.gossip.eager_links);
      s.lazy_links.push_back(st.gossip.lazy_links);
    }
    for (const auto& l : logs_) {
      s.lagged_events.push_back(l->lagged_events.load(std::memory_order_relaxed));
      s.lagged_missed.push_back(l->lagged_missed.load(std::memory_order_relaxed));
    }
    return s;
  }

  const broadcast_options& o_;
  std::uint64_t seed_ = 0;
  double overlay_ms_ = 0;
  std::vector<std::size_t> neighbors_;
  asio::io_context io_{1};  // the publisher's; run on the main thread
  std::vector<node> nodes_;
  std::optional<sender> tx_;
  // Declared before the receiver contexts: a context destroyed with a loop
  // still in it destroys that loop, which refers to its log.
  std::vector<std::unique_ptr<receiver_log>> logs_;
  std::atomic<std::size_t> loops_ended_{0};
  std::vector<std::unique_ptr<asio::io_context>> rx_io_;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards_;
  std::vector<std::thread> rx_threads_;
  bool stopped_ = false;
};

// ---------------------------------------------------------------- output ---

void print_phase(const char* title, const json& j, std::size_t receivers) {
  const auto& lat = j["latency"];
  const auto& tot = j["totals"];
  std::printf("%s: %llu messages", title, static_cast<unsigned long long>(j["messages"].get<std::uint64_t>()));
  if (j.contains("target_rate_per_s")) std::printf(" at %.0f/s", j["target_rate_per_s"].get<double>());
  std::printf("\n  sent in %.3f s (%.0f msgs/s", j["send"]["duration_s"].get<double>(),
              j["send"]["rate_per_s"].get<double>());
  if (j["send"].contains("late_sends"))
    std::printf(", %llu sends >1 ms behind schedule, worst %.3f ms",
                static_cast<unsigned long long>(j["send"]["late_sends"].get<std::uint64_t>()),
                j["send"]["max_behind_schedule_ms"].get<double>());
  std::printf(")\n");
  if (j["send"].contains("error")) std::printf("  send error: %s\n", j["send"]["error"].get<std::string>().c_str());
  std::printf("  delivered to all %zu receivers: %llu messages in %.3f s = %.0f msgs/s (%.2f MiB/s per receiver)\n",
              receivers, static_cast<unsigned long long>(j["delivered_to_all"].get<std::uint64_t>()),
              j["complete_s"].get<double>(), j["throughput_msgs_per_s"].get<double>(),
              j["throughput_mib_per_s_per_receiver"].get<double>());
  if (lat["samples"].get<std::uint64_t>() > 0)
    std::printf("  latency ms: p50 %.3f  p90 %.3f  p99 %.3f  max %.3f  mean %.3f  (%llu samples)\n",
                lat["p50_ms"].get<double>(), lat["p90_ms"].get<double>(), lat["p99_ms"].get<double>(),
                lat["max_ms"].get<double>(), lat["mean_ms"].get<double>(),
                static_cast<unsigned long long>(lat["samples"].get<std::uint64_t>()));
  std::printf("  deliveries %llu/%llu, duplicates %llu, missing %llu, lagged events %llu (%llu missed)\n",
              static_cast<unsigned long long>(tot["delivered"].get<std::uint64_t>()),
              static_cast<unsigned long long>(tot["expected"].get<std::uint64_t>()),
              static_cast<unsigned long long>(tot["duplicates"].get<std::uint64_t>()),
              static_cast<unsigned long long>(tot["missing"].get<std::uint64_t>()),
              static_cast<unsigned long long>(tot["lagged_events"].get<std::uint64_t>()),
              static_cast<unsigned long long>(tot["lagged_missed"].get<std::uint64_t>()));
  if (!j["drained"].get<bool>())
    std::printf("  not every message reached every receiver within the %lld s drain timeout\n",
                static_cast<long long>(drain_timeout.count()));
  const auto& all = j["all_nodes_transport"];
  if (all["send_queue_overflows"].get<std::uint64_t>() > 0 || all["dial_queue_drops"].get<std::uint64_t>() > 0 ||
      all["new_connections"].get<std::uint64_t>() > 0)
    std::printf("  overlay trouble: %llu connections closed as too slow, %llu dial-queue drops, %llu new connections\n",
                static_cast<unsigned long long>(all["send_queue_overflows"].get<std::uint64_t>()),
                static_cast<unsigned long long>(all["dial_queue_drops"].get<std::uint64_t>()),
                static_cast<unsigned long long>(all["new_connections"].get<std::uint64_t>()));
  for (const auto& r : j["receivers"])
    if (r["missing"].get<std::uint64_t>() > 0 || r["duplicates"].get<std::uint64_t>() > 0 ||
        r["lagged_events"].get<std::uint64_t>() > 0)
      std::printf("    node %llu: delivered %llu, duplicates %llu, missing %llu, lagged %llu\n",
                  static_cast<unsigned long long>(r["node"].get<std::uint64_t>()),
                  static_cast<unsigned long long>(r["delivered"].get<std::uint64_t>()),
                  static_cast<unsigned long long>(r["duplicates"].get<std::uint64_t>()),
                  static_cast<unsigned long long>(r["missing"].get<std::uint64_t>()),
                  static_cast<unsigned long long>(r["lagged_events"].get<std::uint64_t>()));
  const auto& cpu = j["cpu"];
  std::printf("  node 0 sent %llu frames, %.1f MiB (all nodes: %llu frames, %.1f MiB, %.0f bytes per delivery)\n",
              static_cast<unsigned long long>(j["node0_transport"]["frames_out"].get<std::uint64_t>()),
              static_cast<double>(j["node0_transport"]["bytes_out"].get<std::uint64_t>()) / (1024.0 * 1024.0),
              static_cast<unsigned long long>(j["all_nodes_transport"]["frames_out"].get<std::uint64_t>()),
              static_cast<double>(j["all_nodes_transport"]["bytes_out"].get<std::uint64_t>()) / (1024.0 * 1024.0),
              j["all_nodes_transport"]["bytes_per_delivery"].get<double>());
  std::printf("  cpu %.3f s user + %.3f s sys over %.3f s wall (%.2f cores busy), %.1f us per message\n\n",
              cpu["user_s"].get<double>(), cpu["sys_s"].get<double>(), cpu["wall_s"].get<double>(),
              cpu["cores_busy"].get<double>(), cpu["us_per_message"].get<double>());
}

bool clean(const json& phase) {
  return phase["totals"]["missing"].get<std::uint64_t>() == 0 &&
         phase["totals"]["duplicates"].get<std::uint64_t>() == 0 && !phase["send"].contains("error");
}

}  // namespace

int run_broadcast(const broadcast_options& o) {
  const double load = load_average_1m();
  broadcast_bench b(o);
  b.form_overlay();
  b.warm_up();
  auto full = b.run_phase(phase::full_speed, o.count, 0);
  std::optional<phase_run> fixed;
  if (o.rate_count > 0) fixed = b.run_phase(phase::fixed_rate, o.rate_count, o.rate);
  b.shutdown();

  auto j = report_frame("broadcast", {{"nodes", o.nodes},
                                      {"size", o.size},
                                      {"count", o.count},
                                      {"rate", o.rate},
                                      {"rate_count", o.rate_count},
                                      {"receiver_threads", std::min(o.receiver_threads, o.nodes - 1)},
                                      {"event_queue", o.event_queue},
                                      {"backpressure_bytes", o.backpressure},
                                      {"graft_timeout_ms", o.graft_timeout_ms},
                                      {"warm_up_messages", warm_up_count},
                                      {"drain_timeout_s", drain_timeout.count()},
                                      {"seed", b.seed()}});
  j["overlay"] = {{"form_ms", round3(b.overlay_ms())}, {"neighbors", b.neighbors()}};
  j["phases"][phase_name(phase::full_speed)] = b.report(full);
  if (fixed) j["phases"][phase_name(phase::fixed_rate)] = b.report(*fixed);
  j["machine"] = machine_json(load);

  const auto receivers = static_cast<std::size_t>(o.nodes - 1);
  if (o.json) {
    std::printf("%s\n", j.dump().c_str());
  } else {
    std::printf("broadcast benchmark: %d nodes on 127.0.0.1 (TLS 1.3), node 0 publishes %zu-byte messages\n",
                o.nodes, o.size);
    std::printf("machine: %u cpus, %s (load %.2f at start); %d receiver thread(s); seed %llu\n",
                std::thread::hardware_concurrency(), cpu_model().c_str(), load,
                std::min(o.receiver_threads, o.nodes - 1), static_cast<unsigned long long>(b.seed()));
    std::string nb;
    for (auto v : b.neighbors()) nb += (nb.empty() ? "" : " ") + std::to_string(v);
    std::printf("overlay formed in %.0f ms; neighbours per node: %s\n\n", b.overlay_ms(), nb.c_str());
    print_phase("full speed", j["phases"]["full_speed"], receivers);
    if (fixed) print_phase("fixed rate", j["phases"]["fixed_rate"], receivers);
  }
  std::fflush(stdout);
  bool ok = clean(j["phases"]["full_speed"]);
  if (fixed) ok = ok && clean(j["phases"]["fixed_rate"]);
  return ok ? 0 : 2;
}

}  // namespace topicswarm::bench
