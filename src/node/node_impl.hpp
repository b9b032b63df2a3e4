// The node's IO shell (DESIGN.md §3): one thread, one io_context, the gossip
// router, the TLS transport, protocol timers, the address book and the
// subscriptions. Everything below except post() and the handle structs'
// mutex-guarded mirrors is touched only on the node's thread.
#pragma once

#include "gossip/router.hpp"
#include "net/transport.hpp"
#include "node/address_book.hpp"
#include "tracker/tracker.hpp"

#include <topicswarm/node.hpp>

#include <asio/associated_cancellation_slot.hpp>
#include <asio/associated_executor.hpp>
#include <asio/async_result.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>

#include <atomic>
#include <deque>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <thread>

namespace topicswarm::detail {

// Neighbours of a topic as last seen by the node thread, for the handles'
// synchronous neighbors() / is_joined().
struct topic_mirror {
  mutable std::mutex mu;
  std::vector<node_id> neighbors;
  bool auto_discovery = false;
  std::size_t records_seen = 0;
};

// What attach_auto_discovery() needs: everything but the topic.
struct auto_discovery_setup {
  secret_hash secret;
  secret_rotation rotation;
  auto_discovery_config config;
};

// One end of an asynchronous API call: completes once, on the caller's
// executor. Created by call_on_node(); used on the node thread.
template <class T>
class completion {
 public:
  completion() = default;
  explicit completion(std::function<void(T)> fn, std::uint64_t id)
      : s_(std::make_shared<state>(state{std::move(fn), false, id})) {}
  void operator()(T v) const {
    if (!s_ || s_->done) return;
    s_->done = true;
    auto fn = std::move(s_->fn);
    fn(std::move(v));
  }
  bool done() const noexcept { return !s_ || s_->done; }
  std::uint64_t id() const noexcept { return s_ ? s_->id : 0; }

 private:
  struct state {
    std::function<void(T)> fn;
    bool done;
    std::uint64_t id;
  };
  std::shared_ptr<state> s_;
};

// A receiver's cursor: a bounded queue that the node thread fills and the
// receiver's owner drains on its own executor. It is a hand-off channel, not
// protocol state, so it has its own mutex: next() takes a queued event
// without a trip through the node thread, and only an empty queue costs a
// wait (the node thread then completes it). Owned by the handles; the node
// keeps weak references.
struct receiver_state {
  using waiter_fn = std::function<void(result<event>)>;

  receiver_state(topic_id t, std::size_t cap) : topic(t), capacity(cap) {}

  // Node thread: hand `ev` to a waiting next(), or queue it (dropping the
  // oldest when full; `lagged` counts drops).
  void push(const event& ev, std::uint64_t& lagged);
  // Node thread (or a failed registration): no more events after the queued ones.
  void close(const error& why);
  bool waiting() const;

  // Owner: the next queued result (lagged first, then events, then the
  // close reason), or nothing when next() has to wait.
  std::optional<result<event>> try_take();
  // Owner: registers the single waiting next(); false if one already waits
  // or something arrived meanwhile (then call try_take again).
  bool set_waiter(waiter_fn w, std::uint64_t id);
  // Owner: cancels the waiter `id` if it still waits.
  void cancel(std::uint64_t id);

  const topic_id topic;
  const std::size_t capacity;

 private:
  std::optional<result<event>> take_locked();
  mutable std::mutex mu_;
  std::deque<event> queue_;
  std::uint64_t missed_ = 0;
  std::optional<error> closed_;
  waiter_fn waiter_;
  std::uint64_t waiter_id_ = 0;
};

class node_impl;

// The subscription held by every topic / sender / receiver handle; when the
// last one goes, its destructor tells the node, which leaves the topic.
struct topic_shared {
  topic_shared(std::shared_ptr<node_impl> n, topic_id t, std::shared_ptr<topic_mirror> m)
      : node(std::move(n)), id(t), mirror(std::move(m)) {}
  ~topic_shared();
  std::shared_ptr<node_impl> node;
  topic_id id;
  std::shared_ptr<topic_mirror> mirror;
  bool released = false;  // never attached (a failed subscription): nothing to release
};

class node_impl final : public net::transport_handler, public std::enable_shared_from_this<node_impl> {
 public:
  static result<std::shared_ptr<node_impl>> create(node_config cfg);
  ~node_impl() override;

  // Runs `f` on the node thread; false (and `f` dropped) once the node has stopped.
  bool post(std::function<void()> f);
  // From a user thread: leave topics, close connections, join the thread.
  void shutdown();

  const node_id& id() const noexcept { return me_.id; }
  const core::peer_info& me() const noexcept { return me_; }
  std::vector<endpoint> listen_endpoints() const { return listen_; }
  std::vector<endpoint> dht_endpoints() const { return dht_endpoints_; }
  std::size_t max_message_size() const noexcept { return cfg_.gossip.max_message_size; }
  std::uint64_t next_waiter_id() { return ++waiter_ids_; }
  std::shared_ptr<topic_mirror> mirror_for(const topic_id& t);

  // ---- node-thread operations (called from posted closures) ----
  void attach(const topic_id& t, std::shared_ptr<receiver_state> r, std::vector<peer_addr> bootstrap);
  // attach() plus auto-discovery; fails (and attaches nothing) if the DHT is
  // off or the topic runs auto-discovery already.
  result<void> attach_auto_discovery(const topic_id& t, std::shared_ptr<receiver_state> r, auto_discovery_setup setup);
  void add_receiver(std::shared_ptr<receiver_state> r);
  void release(const topic_id& t);
  void broadcast(const topic_id& t, bytes content, gossip::scope sc, completion<result<void>> done);
  void join_peers(const topic_id& t, std::vector<peer_addr> peers);
  std::size_t event_queue_capacity() const noexcept { return cfg_.event_queue_capacity; }
  void wait_joined(const topic_id& t, std::chrono::milliseconds timeout, completion<result<void>> done);
  void add_addresses(const peer_addr& p);
  void wait_dht(int min_nodes, std::chrono::milliseconds timeout, completion<result<int>> done);
  node_stats stats() const;
  // Cancels a waiting operation (per-operation cancellation from the caller).
  void abort_waiter(std::uint64_t id);
  bool stopped() const noexcept { return stopped_; }

  // ---- transport_handler ----
  void on_connected(const node_id& peer) override;
  void on_gossip(const node_id& peer, byte_span body);  // frames of kind gossip (registered in create())
  void on_disconnected(const node_id& peer, const error& why) override;
  void on_send_ready() override;

 private:
  struct join_waiter {
    completion<result<void>> done;
    std::shared_ptr<asio::steady_timer> timer;
  };
  struct pending_broadcast {
    topic_id topic;
    bytes content;
    gossip::scope sc;
    completion<result<void>> done;
    std::shared_ptr<asio::steady_timer> deadline;  // auto-discovery topics: timeouts.broadcast_timeout
  };
  // Auto-discovery of one topic: the tracker core and what the shell needs
  // to perform its outputs (docs/PROTOCOL.md §11).
  struct auto_discovery_state {
    auto_discovery_state(tracker::tracker c, record_codec k, std::uint64_t inc, timeout_config t)
        : core(std::move(c)), codec(std::move(k)), incarnation(inc), timeouts(t) {}
    tracker::tracker core;
    record_codec codec;
    std::uint64_t incarnation;  // answers for an earlier incarnation are dropped
    timeout_config timeouts;
    std::map<std::pair<std::uint64_t, unsigned>, record_slot> slots;  // derived keys, current windows only
    const record_slot& slot(std::uint64_t window, unsigned index);
  };
  struct topic_entry {
    std::size_t handles = 0;
    std::vector<std::weak_ptr<receiver_state>> receivers;
    std::shared_ptr<topic_mirror> mirror;
    std::set<node_id> neighbors;
    std::map<std::uint64_t, join_waiter> join_waiters;
    std::unique_ptr<auto_discovery_state> disc;
  };
  // A tracker-dialled connection that no topic may end up using: closed
  // unless a topic has the peer in its views by then.
  struct sweep_peer {
    node_id peer;
  };
  struct timer_entry {
    topic_id topic;
    std::variant<gossip::timers::timer, tracker::timers::timer, sweep_peer> t;
  };

  explicit node_impl(node_config cfg);
  core::instant now() const;
  void process();  // performs the router's outputs accumulated in out_
  void deliver(topic_entry& e, const event& ev);
  // Neighbour bookkeeping, events, and (when up) waking joined() waiters.
  void neighbor_changed(const topic_id& t, const node_id& peer, bool up);
  void arm_timer();
  void on_timer();
  // ---- auto-discovery
  tracker::clock tracker_clock() const;
  void feed_tracker(const topic_id& t, tracker::in::input in);
  void perform_tracker(const topic_id& t, std::vector<tracker::out::output>& outs);
  void tracker_get(const topic_id& t, const tracker::out::dht_get& g);
  void tracker_put(const topic_id& t, const tracker::out::dht_put& p);
  void tracker_dial(const topic_id& t, const core::peer_info& peer);
  void probe_answered(const node_id& peer, bool ok);
  void sweep(const node_id& peer);
  // Our addresses for records: the advertised ones, else the address the DHT
  // reports for us with our listening port.
  std::vector<endpoint> record_addresses() const;
  void drain_broadcasts();
  void close_receivers(topic_entry& e, const error& why);
  void begin_stop();
  void finish_stop();

  node_config cfg_;
  gossip::config gcfg_;
  identity identity_;
  core::peer_info me_;
  std::vector<endpoint> listen_;

  asio::io_context io_{1};
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  std::thread thread_;
  std::promise<void> exited_;
  std::mutex post_mu_;
  bool accepting_posts_ = true;
  std::mutex mirrors_mu_;
  std::map<topic_id, std::weak_ptr<topic_mirror>> mirrors_;  // shared across subscriptions of a topic
  std::atomic<std::uint64_t> waiter_ids_{0};

  std::chrono::steady_clock::time_point epoch_;
  std::unique_ptr<net::transport> transport_;
  std::unique_ptr<dht::client> dht_;  // when enabled; destroyed on the node thread
  std::vector<endpoint> dht_endpoints_;
  std::optional<gossip::router> router_;
  address_book book_;
  std::map<topic_id, topic_entry> topics_;
  std::multimap<core::instant, timer_entry> timers_;
  asio::steady_timer timer_;
  std::optional<core::instant> timer_armed_for_;
  std::deque<pending_broadcast> backlog_;  // broadcasts waiting for send queues to drain
  std::map<std::uint64_t, std::function<void()>> aborts_;  // waiting operations, by waiter id
  std::vector<gossip::routed> out_;
  bytes frame_;
  bool stopped_ = false;
  bool processing_ = false;
  bool draining_ = false;
  std::uint64_t unknown_topic_ = 0, undecodable_ = 0, lagged_ = 0;
  std::uint64_t rng_seed_ = 0;
  std::uint64_t discovery_incarnations_ = 0;
  std::size_t dht_ops_ = 0;                         // tracker gets and puts in flight
  std::map<node_id, std::set<topic_id>> probes_;    // tracker dials waiting for connect or failure
};

// Runs `f(node, completion)` on the node thread and awaits the value it
// completes with, on the caller's executor. If the node has stopped, the
// result is `stopped`. Callers keep lambdas and arguments in named locals,
// never temporaries inside the co_await expression: GCC 12 destroys such
// temporaries twice in coroutines. Cancelling the awaiting operation calls
// node.abort_waiter(id) on the node thread.
template <class T, class F>
asio::awaitable<T> call_on_node(std::shared_ptr<node_impl> n, T stopped, F f) {
  auto init = [n, f = std::move(f), stopped = std::move(stopped)](auto handler) mutable {
    auto ex = asio::get_associated_executor(handler);
    auto work = asio::prefer(ex, asio::execution::outstanding_work.tracked);
    auto slot = asio::get_associated_cancellation_slot(handler);
    auto h = std::make_shared<decltype(handler)>(std::move(handler));
    const std::uint64_t id = n->next_waiter_id();
    completion<T> done(
        [h, work, slot](T v) mutable {
          asio::post(work, [h, slot, v = std::move(v)]() mutable {
            if (slot.is_connected()) slot.clear();
            (*h)(std::move(v));
          });
        },
        id);
    if (slot.is_connected()) {
      std::weak_ptr<node_impl> weak = n;
      slot.assign([weak, id](asio::cancellation_type) {
        if (auto node = weak.lock()) node->post([node, id] { node->abort_waiter(id); });
      });
    }
    if (!n->post([n, f = std::move(f), done]() mutable { f(*n, done); })) done(std::move(stopped));
  };
  // Not a coroutine itself: the awaitable of async_initiate is returned as is.
  return asio::async_initiate<const asio::use_awaitable_t<>&, void(T)>(std::move(init), asio::use_awaitable);
}

}  // namespace topicswarm::detail
