// The node: wiring (DESIGN.md §3, issue 12). One thread, one io_context,
// the TLS transport, the DHT client, the address book, the one OS timer,
// and the drivers of the protocol cores (node/gossip_driver.hpp,
// node/auto_discovery_driver.hpp). It implements the shell the drivers use
// and fans transport events and timers out to them.
//
// Adding a core: a folder for the core, a driver beside the others here,
// and one line in create() that registers it.
//
// Everything below except post() and the mirrors is touched only on the
// node's thread.
#pragma once

#include "node/address_book.hpp"
#include "node/admission_driver.hpp"
#include "node/auto_discovery_driver.hpp"
#include "node/completion.hpp"
#include "node/discovery_driver.hpp"
#include "node/gossip_driver.hpp"
#include "node/lan_driver.hpp"
#include "node/nat_driver.hpp"
#include "node/receiver_state.hpp"
#include "node/shell.hpp"

#include <topicswarm/node.hpp>

#include <asio/associated_cancellation_slot.hpp>
#include <asio/associated_executor.hpp>
#include <asio/async_result.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/thread_pool.hpp>
#include <asio/use_awaitable.hpp>

#include <atomic>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <thread>

namespace topicswarm::detail {

class node_impl;

// The subscription held by every topic / sender / receiver handle; when the
// last one goes, its destructor tells the node, which leaves the topic.
struct topic_shared {
  topic_shared(std::shared_ptr<node_impl> n, topic_id t, topic_id w, std::shared_ptr<topic_mirror> m)
      : node(std::move(n)), id(t), wire(w), mirror(std::move(m)) {}
  ~topic_shared();
  std::shared_ptr<node_impl> node;
  topic_id id;    // from the name (what the user named)
  topic_id wire;  // on the wire: the node's own key for the topic
  std::shared_ptr<topic_mirror> mirror;
  bool released = false;  // never attached (a failed subscription): nothing to release
};

class node_impl final : public shell, public net::transport_handler, public std::enable_shared_from_this<node_impl> {
 public:
  // A frame kind besides the drivers' own, with its handler (tests of version
  // coexistence register one; a future core registers through its driver).
  struct extra_kind {
    net::frame_kind kind;
    net::frame_handler handler;
  };
  static result<std::shared_ptr<node_impl>> create(node_config cfg, std::vector<extra_kind> extra_kinds = {});
  ~node_impl() override;

  // From a user thread: leave topics, close connections, join the thread.
  void shutdown();

  const node_id& id() const noexcept { return me_.id; }
  std::vector<endpoint> listen_endpoints() const { return listen_; }
  std::vector<endpoint> dht_endpoints() const { return dht_endpoints_; }
  std::size_t max_message_size() const noexcept { return cfg_.gossip.max_message_size; }
  std::size_t event_queue_capacity() const noexcept { return cfg_.event_queue_capacity; }
  std::uint64_t next_waiter_id() { return ++waiter_ids_; }
  std::shared_ptr<topic_mirror> mirror_for(const topic_id& t);

  // Runs `job` on the node's hashing thread (Argon2id of topic secrets:
  // tens of milliseconds that must hold neither the node's thread nor the
  // caller's). Started on first use, joined by shutdown(). False once stopped.
  bool run_hashing(std::function<void()> job);

  // ---- node-thread operations (called from posted closures)
  // Topics are named by their wire id from here on (topic_shared::wire).
  void attach(const topic_id& wire, const secret_hash& key, std::shared_ptr<receiver_state> r,
              std::vector<peer_addr> bootstrap);
  // attach() plus auto-discovery; fails (and attaches nothing) if the DHT is
  // off or the topic runs auto-discovery already.
  result<void> attach_auto_discovery(const topic_id& t, std::shared_ptr<receiver_state> r, auto_discovery_setup setup);
  void add_receiver(std::shared_ptr<receiver_state> r) { gossip_->add_receiver(std::move(r)); }
  void release(const topic_id& t) { gossip_->release(t); }
  void broadcast(const topic_id& t, bytes content, gossip::scope sc, completion<result<void>> done) {
    gossip_->broadcast(t, std::move(content), sc, std::move(done));
  }
  void join_peers(const topic_id& t, std::vector<peer_addr> peers, completion<result<void>> done);
  void wait_joined(const topic_id& t, std::chrono::milliseconds timeout, completion<result<void>> done) {
    gossip_->wait_joined(t, timeout, std::move(done));
  }
  void add_addresses(const peer_addr& p);
  // Network discovery (node thread).
  result<void> join_network(const network_config& cfg, const secret_hash& key, std::shared_ptr<network_mirror> m) {
    return discovery_->join(cfg, key, std::move(m));
  }
  void leave_network() { discovery_->leave(); }
  void add_network_channel(std::shared_ptr<network_event_channel> c) { discovery_->add_channel(std::move(c)); }
  void set_network_tags(std::vector<std::string> tags) { discovery_->set_tags(std::move(tags)); }
  discovery_driver& discovery() { return *discovery_; }
  void wait_dht(int min_nodes, std::chrono::milliseconds timeout, completion<result<int>> done);
  node_stats stats() const;
  topicswarm::network_status network_status() const;
  // A node::events() cursor; closed at once once the node has stopped.
  void add_node_receiver(std::shared_ptr<node_event_channel> c);
  // Cancels a waiting operation (per-operation cancellation from the caller).
  void abort_waiter(std::uint64_t id);

  // ---- shell
  core::instant now() const override;
  std::uint64_t unix_ms() const override;
  asio::io_context& io() override { return io_; }
  net::transport& transport() override { return *transport_; }
  dht::client* dht() override { return dht_.get(); }
  address_book& book() override { return book_; }
  const core::peer_info& me() const override { return me_; }
  const identity& self() const override { return identity_; }
  std::vector<endpoint> record_addresses() const override;
  // Our advertised addresses, for the API (any thread).
  std::vector<endpoint> advertised() const {
    std::lock_guard lock(advertised_mu_);
    return advertised_;
  }
  void close(const node_id& peer, const char* why) override;
  bool post(std::function<void()> f) override;
  bool stopped() const override { return stopped_; }
  void timers_changed() override { arm_timer(); }
  void on_abort(std::uint64_t waiter, std::function<void()> abort) override { aborts_[waiter] = std::move(abort); }
  void forget_abort(std::uint64_t waiter) override { aborts_.erase(waiter); }

  // ---- transport_handler
  void on_connected(const node_id& peer) override;
  void on_link(const node_id& peer, const net::link_info& link) override;
  void on_upgrade_failed(const node_id& peer, const error& why) override;
  void on_disconnected(const node_id& peer, const error& why) override;
  void on_send_ready() override;
  // A peer whose addresses we hold (from the user, records, the catalog or
  // gossip): it may use the room kept for our own dials.
  bool known_peer(const node_id& peer) const override { return !book_.find(peer).empty(); }

 private:
  explicit node_impl(node_config cfg);
  void arm_timer();
  void on_timer();
  void begin_stop();
  void finish_stop();
  void emit(const node_event& ev);
  // What we advertise now: `advertise`, else the listen addresses that are
  // not unspecified, plus (advertise_interfaces) the interfaces' addresses.
  std::vector<endpoint> current_addresses() const;
  // Sets me_.addresses (and the dial policy, and the API's copy).
  void set_addresses(std::vector<endpoint> a);
  // What we advertise by our own choice: `advertise` when configured, else
  // the reachability core's choice (checked addresses), else our local ones.
  std::vector<endpoint> chosen_addresses() const;
  // The reachability core changed its mind: advertise anew and tell the user.
  void reachability_changed();
  // me_.addresses changed: gossip, the catalog and the records follow.
  void addresses_updated();
  // advertise_interfaces: reads the interfaces again; on a change, tells
  // the drivers. Re-arms itself until the node stops.
  void watch_interfaces();

  node_config cfg_;
  identity identity_;
  core::peer_info me_;
  std::vector<endpoint> listen_;

  asio::io_context io_{1};
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  std::thread thread_;
  std::promise<void> exited_;
  std::mutex post_mu_;
  bool accepting_posts_ = true;
  std::mutex hashing_mu_;
  std::unique_ptr<asio::thread_pool> hashing_;  // guarded by hashing_mu_; null until first used
  bool hashing_closed_ = false;
  std::mutex mirrors_mu_;
  std::map<topic_id, std::weak_ptr<topic_mirror>> mirrors_;  // shared across subscriptions of a topic
  std::atomic<std::uint64_t> waiter_ids_{0};

  std::chrono::steady_clock::time_point epoch_;
  std::unique_ptr<net::transport> transport_;
  std::unique_ptr<dht::client> dht_;  // when enabled; destroyed on the node thread
  std::vector<endpoint> dht_endpoints_;
  address_book book_;
  // The drivers, in registration order (events reach them in this order).
  std::unique_ptr<admission_driver> admission_;
  std::unique_ptr<gossip_driver> gossip_;
  std::unique_ptr<auto_discovery_driver> auto_discovery_;
  std::unique_ptr<discovery_driver> discovery_;
  std::unique_ptr<nat_driver> nat_;
  std::unique_ptr<lan_driver> lan_;  // null unless lan.enabled
  std::vector<driver*> drivers_;
  std::vector<endpoint> local_addresses_;  // current_addresses() at the last look
  std::map<std::string, events::port_mapping> mappings_;  // the gateway's last answer, by protocol
  void on_port_mapping(const dht::port_mapping_event& e);
  asio::steady_timer timer_;
  std::optional<core::instant> timer_armed_for_;
  asio::steady_timer interfaces_timer_;
  mutable std::mutex advertised_mu_;
  std::vector<endpoint> advertised_;  // me_.addresses, for other threads (guarded by advertised_mu_)
  std::map<std::uint64_t, std::function<void()>> aborts_;  // waiting operations, by waiter id
  std::vector<std::weak_ptr<node_event_channel>> node_receivers_;
  std::set<node_id> connected_;  // peers with an established connection (bounded by the transport's cap)
  std::uint64_t node_events_lagged_ = 0;
  bool stopped_ = false;
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
