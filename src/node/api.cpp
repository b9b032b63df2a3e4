// The public handles (node, topic, sender, receiver): thin forwarders that
// hop onto the node thread through call_on_node() or post().
#include "crypto/sodium.hpp"
#include "discovery/wire.hpp"
#include "nat/reachability.hpp"
#include "node/node_impl.hpp"

#include <topicswarm/dht_testnet.hpp>

#include <algorithm>
#include <future>

namespace topicswarm {

using detail::call_on_node;
using detail::completion;
using detail::node_impl;
using detail::receiver_state;
using detail::topic_shared;

// ---------------------------------------------------------------- peer_addr --

result<peer_addr> peer_addr::parse(std::string_view text) {
  const auto at = text.find('@');
  auto id = parse_node_id(text.substr(0, at));
  if (!id) return error{errc::invalid_argument, "peer \"" + std::string(text) + "\": " + id.error().message()};
  peer_addr p{*id, {}};
  if (at != std::string_view::npos) {
    auto ep = endpoint::parse(text.substr(at + 1));
    if (!ep) return error{errc::invalid_argument, "peer \"" + std::string(text) + "\": " + ep.error().message()};
    p.addresses.push_back(*ep);
  }
  return p;
}

std::string peer_addr::to_string() const {
  return addresses.empty() ? id.to_string() : id.to_string() + "@" + addresses.front().to_string();
}

// --------------------------------------------------------------- internals --

namespace {

asio::awaitable<result<void>> send_on(std::shared_ptr<topic_shared> s, bytes content, gossip::scope sc) {
  const std::size_t max = s->node->max_message_size();
  if (content.size() > max) co_return error::too_large(errc::message_too_large, "message", content.size(), max);
  auto op = [t = s->wire, content = std::move(content), sc](node_impl& n, completion<result<void>> done) mutable {
    n.broadcast(t, std::move(content), sc, std::move(done));
  };
  auto aw = call_on_node<result<void>>(s->node, result<void>{errc::node_stopped}, std::move(op));
  co_return co_await std::move(aw);
}

asio::awaitable<result<void>> join_on(std::shared_ptr<topic_shared> s, std::vector<peer_addr> peers) {
  auto op = [t = s->wire, peers = std::move(peers)](node_impl& n, completion<result<void>> done) mutable {
    n.join_peers(t, std::move(peers), std::move(done));
  };
  auto aw = call_on_node<result<void>>(s->node, result<void>{errc::node_stopped}, std::move(op));
  co_return co_await std::move(aw);
}

asio::awaitable<result<void>> joined_on(std::shared_ptr<topic_shared> s, std::chrono::milliseconds timeout) {
  auto op = [t = s->wire, timeout](node_impl& n, completion<result<void>> done) { n.wait_joined(t, timeout, done); };
  auto aw = call_on_node<result<void>>(s->node, result<void>{errc::node_stopped}, std::move(op));
  co_return co_await std::move(aw);
}

// Waits for a channel's next result; completes on the caller's executor.
// The node thread (event_channel::push / close) or a cancellation completes it.
template <class Channel>
asio::awaitable<result<typename Channel::event_type>> wait_event(std::shared_ptr<Channel> r, std::uint64_t id) {
  using value = result<typename Channel::event_type>;
  auto init = [r, id](auto handler) {
    auto work = asio::prefer(asio::get_associated_executor(handler), asio::execution::outstanding_work.tracked);
    auto slot = asio::get_associated_cancellation_slot(handler);
    auto h = std::make_shared<decltype(handler)>(std::move(handler));
    auto complete = [h, work, slot](value v) mutable {
      asio::post(work, [h, slot, v = std::move(v)]() mutable {
        if (slot.is_connected()) slot.clear();
        (*h)(std::move(v));
      });
    };
    for (;;) {
      if (auto ready = r->try_take()) return complete(std::move(*ready));
      if (r->set_waiter(complete, id)) break;
      // Either something arrived between the two calls (take it) or another
      // next() is already waiting on this receiver.
      if (r->waiting()) return complete(error{errc::invalid_argument, "next() is already waiting on this receiver"});
    }
    if (slot.is_connected()) {
      std::weak_ptr<Channel> weak = r;
      slot.assign([weak, id](asio::cancellation_type) {
        if (auto s = weak.lock()) s->cancel(id);
      });
    }
  };
  return asio::async_initiate<const asio::use_awaitable_t<>&, void(value)>(std::move(init), asio::use_awaitable);
}

// A channel's next result: a queued one is taken here, without a trip
// through the node thread.
template <class Channel>
asio::awaitable<result<typename Channel::event_type>> next_from(std::shared_ptr<node_impl> n,
                                                                std::shared_ptr<Channel> r) {
  if (auto ready = r->try_take()) co_return std::move(*ready);
  auto aw = wait_event(r, n->next_waiter_id());
  co_return co_await std::move(aw);
}

asio::awaitable<result<event>> next_on(std::shared_ptr<topic_shared> s, std::shared_ptr<receiver_state> r) {
  if (!r) co_return error{errc::topic_closed, "this handle has no events (it was split or moved from)"};
  auto aw = next_from(s->node, std::move(r));
  co_return co_await std::move(aw);
}

std::shared_ptr<detail::node_event_channel> new_node_channel(const std::shared_ptr<node_impl>& n) {
  auto c = std::make_shared<detail::node_event_channel>(n->event_queue_capacity());
  if (!n->post([n, c] { n->add_node_receiver(c); })) c->close(error{errc::node_stopped});
  return c;
}

std::shared_ptr<detail::network_event_channel> new_network_channel(const std::shared_ptr<detail::network_shared>& s) {
  auto c = std::make_shared<detail::network_event_channel>(s->event_capacity);
  auto n = s->node;
  if (!n->post([n, c] { n->add_network_channel(c); })) c->close(error{errc::node_stopped});
  return c;
}

std::shared_ptr<receiver_state> new_receiver(const std::shared_ptr<topic_shared>& s) {
  auto r = std::make_shared<receiver_state>(s->wire, s->node->event_queue_capacity());
  auto n = s->node;
  if (!n->post([n, r] { n->add_receiver(r); })) r->close(error{errc::node_stopped});
  return r;
}

}  // namespace

// ------------------------------------------------------ shared handle parts --

namespace detail {

const topic_id& topic_handle::id() const noexcept { return shared_->id; }
const topic_id& topic_handle::wire_id() const noexcept { return shared_->wire; }

std::vector<node_id> topic_handle::neighbors() const {
  if (!shared_) return {};
  std::lock_guard lock(shared_->mirror->mu);
  return shared_->mirror->neighbors;
}

bool topic_handle::is_joined() const { return !neighbors().empty(); }

auto_discovery_status topic_handle::auto_discovery() const {
  if (!shared_) return {};
  std::lock_guard lock(shared_->mirror->mu);
  return auto_discovery_status{shared_->mirror->auto_discovery, shared_->mirror->records_seen};
}

asio::awaitable<result<void>> topic_handle::joined(std::chrono::milliseconds timeout) const {
  return joined_on(shared_, timeout);
}

asio::awaitable<result<void>> sending_handle::broadcast(bytes content) const {
  return send_on(shared_, std::move(content), gossip::scope::swarm);
}
asio::awaitable<result<void>> sending_handle::broadcast_neighbors(bytes content) const {
  return send_on(shared_, std::move(content), gossip::scope::neighbors);
}
asio::awaitable<result<void>> sending_handle::join_peers(std::vector<peer_addr> peers) const {
  return join_on(shared_, std::move(peers));
}

}  // namespace detail

// -------------------------------------------------------------------- topic --

namespace detail {
std::shared_ptr<receiver_state> open_cursor(const std::shared_ptr<topic_shared>& s) { return new_receiver(s); }
std::shared_ptr<node_event_channel> open_cursor(const std::shared_ptr<node_impl>& n) { return new_node_channel(n); }
std::shared_ptr<network_event_channel> open_cursor(const std::shared_ptr<network_shared>& n) {
  return new_network_channel(n);
}
}  // namespace detail

topic::topic(std::shared_ptr<topic_shared> s, std::shared_ptr<receiver_state> r)
    : sending_handle(s), events_(std::move(s), std::move(r)) {}

asio::awaitable<result<event>> topic::next() { return next_on(shared_, events_.channel()); }

std::pair<sender, receiver> topic::split() && {
  auto r = events_.channel() ? events_.release() : new_receiver(shared_);
  sender s(shared_);
  return {std::move(s), receiver(std::move(shared_), std::move(r))};
}
receiver topic::subscribe_events() const { return receiver(shared_, new_receiver(shared_)); }
sender topic::make_sender() const { return sender(shared_); }

// ----------------------------------------------------------------- receiver --

asio::awaitable<result<event>> receiver::next() { return next_on(shared_, state_.channel()); }

// ------------------------------------------------------------- node events --

asio::awaitable<result<node_event>> node_events_receiver::next() {
  if (!cursor_.channel()) co_return error{errc::invalid_argument, "this node events receiver was moved from"};
  auto aw = next_from(cursor_.owner(), cursor_.channel());
  co_return co_await std::move(aw);
}

node_events_receiver node::events() const {
  return node_events_receiver(detail::cursor<node_impl, detail::node_event_channel>(impl_, new_node_channel(impl_)));
}

// --------------------------------------------------------------------- node --

result<node> node::start(node_config config) {
  auto n = node_impl::create(std::move(config));
  if (!n) return n.error();
  return node(std::move(*n));
}

node::node(node&&) noexcept = default;
node& node::operator=(node&& other) noexcept {
  if (this != &other) {
    stop();
    impl_ = std::move(other.impl_);
  }
  return *this;
}
node::~node() { stop(); }

void node::stop() {
  if (impl_) impl_->shutdown();
}

node_id node::id() const { return impl_->id(); }
peer_addr node::address() const { return peer_addr{impl_->id(), impl_->advertised()}; }
std::vector<endpoint> node::listen_endpoints() const { return impl_->listen_endpoints(); }
std::size_t node::max_message_size() const { return impl_->max_message_size(); }
std::vector<endpoint> node::dht_endpoints() const { return impl_->dht_endpoints(); }

asio::awaitable<result<int>> node::wait_dht_bootstrapped(int min_nodes, std::chrono::milliseconds timeout) {
  auto op = [min_nodes, timeout](node_impl& n, completion<result<int>> done) { n.wait_dht(min_nodes, timeout, done); };
  return call_on_node<result<int>>(impl_, result<int>{errc::node_stopped}, op);
}

node_config& node_config::attach_testnet(const dht::testnet& net) {
  dht.enabled = true;
  dht.client.listen = {"127.0.0.1:0"};
  dht.client.bootstrap = net.bootstrap_list();
  return *this;
}

result<topic> node::subscribe(const topic_id& t, std::vector<peer_addr> bootstrap) {
  return subscribe(t, open_topic_key(t), std::move(bootstrap));
}

result<topic> node::subscribe(const topic_id& t, const secret_hash& key, std::vector<peer_addr> bootstrap) {
  const topic_id wire = wire_topic_id(t, key);
  auto shared = std::make_shared<topic_shared>(impl_, t, wire, impl_->mirror_for(wire));
  auto r = std::make_shared<receiver_state>(wire, impl_->event_queue_capacity());
  auto n = impl_;
  if (!n->post([n, wire, key, r, bootstrap = std::move(bootstrap)]() mutable {
        n->attach(wire, key, r, std::move(bootstrap));
      })) {
    shared->released = true;
    return error{errc::node_stopped, "cannot subscribe: the node has stopped"};
  }
  return topic(std::move(shared), std::move(r));
}

asio::awaitable<result<topic>> node::subscribe_and_join(topic_id t, std::vector<peer_addr> bootstrap,
                                                        std::chrono::milliseconds timeout) {
  auto aw = subscribe_and_join(t, open_topic_key(t), std::move(bootstrap), timeout);
  co_return co_await std::move(aw);
}

asio::awaitable<result<topic>> node::subscribe_and_join(topic_id t, secret_hash key, std::vector<peer_addr> bootstrap,
                                                        std::chrono::milliseconds timeout) {
  auto sub = subscribe(t, key, std::move(bootstrap));
  if (!sub) co_return sub.error();
  auto aw = sub->joined(timeout);
  auto j = co_await std::move(aw);
  if (!j) co_return j.error();
  co_return std::move(*sub);
}

namespace {

// Argon2id on the node's hashing thread; completes on the caller's executor.
asio::awaitable<result<secret_hash>> hash_on_worker(std::shared_ptr<node_impl> n, topic_id t, std::string secret,
                                                    secret_hash_params params) {
  using value = result<secret_hash>;
  auto init = [n, t, secret = std::move(secret), params](auto handler) mutable {
    auto work = asio::prefer(asio::get_associated_executor(handler), asio::execution::outstanding_work.tracked);
    auto h = std::make_shared<decltype(handler)>(std::move(handler));
    auto job = [h, work, t, secret = std::move(secret), params]() mutable {
      value v = hash_secret(t, secret, params);
      sodium_memzero(secret.data(), secret.size());
      asio::post(work, [h, v = std::move(v)]() mutable { (*h)(std::move(v)); });
    };
    if (!n->run_hashing(std::move(job))) asio::post(work, [h]() mutable { (*h)(value{error{errc::node_stopped}}); });
  };
  return asio::async_initiate<const asio::use_awaitable_t<>&, void(value)>(std::move(init), asio::use_awaitable);
}

}  // namespace

asio::awaitable<result<secret_hash>> node::hash_secret(topic_id topic, std::string secret, secret_hash_params params) {
  if (secret.empty()) co_return open_topic_key(topic);
  auto aw = hash_on_worker(impl_, topic, std::move(secret), params);
  co_return co_await std::move(aw);
}

asio::awaitable<result<topic>> node::auto_discovery_builder::join() const { return run_join(*this); }

asio::awaitable<result<topic>> node::auto_discovery_builder::run_join(auto_discovery_builder self) {
  if (!self.topic_) co_return error{errc::invalid_argument, "auto-discovery needs a topic (topic() or topic_name())"};
  auto n = self.node_->impl_;
  const topic_id id = *self.topic_;
  const auto timeout = self.config_.join_timeout;
  secret_hash key;
  if (const auto* k = std::get_if<secret_hash>(&self.secret_)) {
    key = *k;
  } else {
    auto hashed = self.node_->hash_secret(id, std::get<std::string>(self.secret_), self.config_.secret_hashing);
    auto h = co_await std::move(hashed);
    if (!h) co_return h.error();
    key = *h;
  }
  const topic_id wire = wire_topic_id(id, key);
  auto shared = std::make_shared<topic_shared>(n, id, wire, n->mirror_for(wire));
  auto events = std::make_shared<receiver_state>(wire, n->event_queue_capacity());
  auto op = [wire, events, setup = detail::auto_discovery_setup{id, key, self.rotation_, self.config_}](
                node_impl& impl, completion<result<void>> done) mutable {
    done(impl.attach_auto_discovery(wire, events, std::move(setup)));
  };
  auto attach = call_on_node<result<void>>(n, result<void>{errc::node_stopped}, std::move(op));
  auto ok = co_await std::move(attach);
  if (!ok) {
    shared->released = true;  // nothing was attached: nothing to leave
    co_return ok.error();
  }
  std::optional<::topicswarm::topic> t(::topicswarm::topic(std::move(shared), std::move(events)));
  auto wait = t->joined(timeout);
  auto j = co_await std::move(wait);
  if (!j) co_return j.error();  // dropping `t` leaves the topic and stops its discovery
  co_return std::move(*t);
}

result<topic> node::auto_discovery_builder::join_no_wait() {
  if (!topic_) return error{errc::invalid_argument, "auto-discovery needs a topic (topic() or topic_name())"};
  auto n = node_->impl_;
  const topic_id id = *topic_;
  secret_hash key;
  if (const auto* k = std::get_if<secret_hash>(&secret_)) {
    key = *k;
  } else {
    // On the calling thread (documented): the caller chose not to wait.
    auto h = ::topicswarm::hash_secret(id, std::get<std::string>(secret_), config_.secret_hashing);
    if (!h) return h.error();
    key = *h;
  }
  const topic_id wire = wire_topic_id(id, key);
  auto shared = std::make_shared<topic_shared>(n, id, wire, n->mirror_for(wire));
  auto events = std::make_shared<receiver_state>(wire, n->event_queue_capacity());
  auto p = std::make_shared<std::promise<result<void>>>();
  auto f = p->get_future();
  if (!n->post([n, wire, events, p, setup = detail::auto_discovery_setup{id, key, rotation_, config_}]() mutable {
        p->set_value(n->attach_auto_discovery(wire, events, std::move(setup)));
      })) {
    shared->released = true;
    return error{errc::node_stopped, "cannot subscribe: the node has stopped"};
  }
  // A short hop to the node thread: the handle is returned only once the
  // subscription exists (or the reason it cannot).
  auto ok = f.get();
  if (!ok) {
    shared->released = true;
    return ok.error();
  }
  return ::topicswarm::topic(std::move(shared), std::move(events));
}

node::auto_discovery_builder node::auto_discovery() { return auto_discovery_builder(*this); }

asio::awaitable<result<topic>> node::join_with_auto_discovery(topic_id t, std::string initial_secret,
                                                              auto_discovery_config config) {
  auto b = auto_discovery();
  b.topic(t).secret(initial_secret).config(std::move(config));
  auto j = b.join();
  co_return co_await std::move(j);
}

result<topic> node::join_with_auto_discovery_no_wait(const topic_id& t, std::string_view initial_secret,
                                                     auto_discovery_config config) {
  auto b = auto_discovery();
  b.topic(t).secret(initial_secret).config(std::move(config));
  return b.join_no_wait();
}

void node::add_peer_addresses(const peer_addr& peer) {
  auto n = impl_;
  n->post([n, peer] { n->add_addresses(peer); });
}

asio::awaitable<node_stats> node::stats() const {
  auto op = [](node_impl& n, completion<node_stats> done) { done(n.stats()); };
  return call_on_node<node_stats>(impl_, node_stats{}, op);
}

asio::awaitable<topicswarm::network_status> node::network_status() const {
  auto op = [](node_impl& n, completion<topicswarm::network_status> done) { done(n.network_status()); };
  return call_on_node<topicswarm::network_status>(impl_, topicswarm::network_status{}, op);
}

topicswarm::network_status node::network_status_blocking() const {
  auto p = std::make_shared<std::promise<topicswarm::network_status>>();
  auto f = p->get_future();
  auto n = impl_;
  if (!n->post([n, p] { p->set_value(n->network_status()); })) return {};
  return f.get();
}

// The core's enum has the same values (static_assert below): one table of names.
static_assert(static_cast<int>(reachability::reachable) == static_cast<int>(nat::reachability::reachable) &&
              static_cast<int>(reachability::unreachable) == static_cast<int>(nat::reachability::unreachable) &&
              static_cast<int>(reachability::unknown) == static_cast<int>(nat::reachability::unknown));
std::string_view to_string(reachability r) noexcept { return nat::to_string(static_cast<nat::reachability>(r)); }

node_stats node::stats_blocking() const {
  auto p = std::make_shared<std::promise<node_stats>>();
  auto f = p->get_future();
  auto n = impl_;
  if (!n->post([n, p] { p->set_value(n->stats()); })) return {};
  return f.get();
}

// ------------------------------------------------------------------ network --

namespace {
std::optional<std::string> bad_tags(const std::vector<std::string>& tags) {
  if (tags.size() > peer_entry_limits::max_tags)
    return std::to_string(tags.size()) + " tags (at most " + std::to_string(peer_entry_limits::max_tags) + ")";
  for (std::size_t i = 0; i < tags.size(); ++i) {
    const auto& t = tags[i];
    if (t.empty() || t.size() > peer_entry_limits::max_tag_bytes ||
        !std::all_of(t.begin(), t.end(), [](char c) { return c >= 0x21 && c <= 0x7e; }))
      return "tag \"" + t + "\" is not 1 to " + std::to_string(peer_entry_limits::max_tag_bytes) +
             " printable ASCII characters";
    for (std::size_t j = 0; j < i; ++j)
      if (tags[j] == t) return "tag \"" + t + "\" appears twice";
  }
  return std::nullopt;
}
}  // namespace

result<void> validate(const network_config& c) {
  auto bad = [](std::string what) { return error{errc::invalid_argument, "network_config: " + std::move(what)}; };
  if (c.name.empty()) return bad("name is empty");
  if (c.key && !c.secret.empty()) return bad("give a secret or a key, not both");
  if (auto t = bad_tags(c.tags)) return bad(*t);
  using std::chrono::milliseconds;
  if (c.purge_after < milliseconds(1'000)) return bad("purge_after below 1 s");
  if (c.announce_interval < milliseconds(100)) return bad("announce_interval below 100 ms");
  if (!(c.announce_jitter >= 0.0 && c.announce_jitter <= 1.0)) return bad("announce_jitter outside [0, 1]");
  // The longest gap between two announces must stay below purge_after, or
  // live peers are purged between them.
  if (std::chrono::duration<double, std::milli>(c.announce_interval).count() * (1.0 + c.announce_jitter) >=
      static_cast<double>(c.purge_after.count()))
    return bad("announce_interval * (1 + announce_jitter) must be below purge_after (or live peers are purged "
               "between their announces)");
  if (c.max_clock_drift < milliseconds(0)) return bad("max_clock_drift is negative");
  if (c.max_peers == 0 || c.max_peers > 1'000'000) return bad("max_peers outside [1, 1000000]");
  if (c.ping_interval < milliseconds(100)) return bad("ping_interval below 100 ms");
  if (c.chain_poll_alone < milliseconds(100) || c.chain_poll_relaxed < milliseconds(100))
    return bad("chain poll intervals below 100 ms");
  if (c.chain_record_ttl < milliseconds(1'000)) return bad("chain_record_ttl below 1 s");
  if (c.event_queue_capacity == 0) return bad("event_queue_capacity is 0");
  for (const auto& p : c.bootstrap)
    if (p.addresses.empty()) return bad("bootstrap peer " + p.id.short_string() + " has no address");
  return {};
}

asio::awaitable<result<network>> node::join_network(network_config config) {
  if (auto v = validate(config); !v) co_return v.error();
  auto n = impl_;
  if (n->max_message_size() < discovery::wire::limits::max_announce_bytes)
    co_return error{errc::invalid_argument, "gossip_config::max_message_size is below the largest announce (" +
                                                std::to_string(discovery::wire::limits::max_announce_bytes) +
                                                " bytes)"};
  const network_id id = network_id_from_name(config.name);
  const topic_id topic = network_topic_id(id);
  secret_hash key = open_topic_key(topic);
  if (config.key) {
    key = *config.key;
  } else if (!config.secret.empty()) {
    auto hashed = hash_secret(topic, config.secret, config.secret_hashing);
    auto h = co_await std::move(hashed);
    if (!h) co_return h.error();
    key = *h;
  }
  sodium_memzero(config.secret.data(), config.secret.size());
  auto mirror = std::make_shared<detail::network_mirror>();
  auto shared = std::make_shared<detail::network_shared>(n, id, wire_topic_id(topic, key), mirror);
  shared->event_capacity = config.event_queue_capacity;
  auto events = std::make_shared<detail::network_event_channel>(config.event_queue_capacity);
  auto op = [config = std::move(config), key, mirror, events](node_impl& impl, completion<result<void>> done) mutable {
    auto r = impl.join_network(config, key, mirror);
    if (r) impl.add_network_channel(events);
    done(std::move(r));
  };
  auto join = call_on_node<result<void>>(n, result<void>{errc::node_stopped}, std::move(op));
  auto ok = co_await std::move(join);
  if (!ok) {
    // Nothing was joined: the handle must not leave the network another
    // join holds. A dummy node reference that posts nothing.
    shared->node = nullptr;
    co_return ok.error();
  }
  co_return network(
      detail::cursor<detail::network_shared, detail::network_event_channel>(std::move(shared), std::move(events)));
}

network_id network::id() const { return cursor_.owner()->id; }
topic_id network::wire_id() const { return cursor_.owner()->wire; }

asio::awaitable<result<network_event>> network::next() {
  if (!cursor_.channel()) co_return error{errc::invalid_argument, "this network handle was moved from"};
  auto aw = next_from(cursor_.owner()->node, cursor_.channel());
  co_return co_await std::move(aw);
}

std::vector<peer_entry> network::snapshot() const {
  const auto& m = *cursor_.owner()->mirror;
  std::lock_guard lock(m.mu);
  std::vector<peer_entry> v;
  v.reserve(m.peers.size());
  for (const auto& [id, e] : m.peers) v.push_back(e);
  return v;
}

std::size_t network::size() const {
  const auto& m = *cursor_.owner()->mirror;
  std::lock_guard lock(m.mu);
  return m.peers.size();
}

peer_entry network::local() const {
  const auto& m = *cursor_.owner()->mirror;
  std::lock_guard lock(m.mu);
  return m.local;
}

std::optional<rtt_estimate> network::rtt(const node_id& peer) const {
  const auto& m = *cursor_.owner()->mirror;
  std::lock_guard lock(m.mu);
  auto it = m.rtt.find(peer);
  if (it == m.rtt.end()) return std::nullopt;
  return it->second;
}

result<void> network::set_tags(std::vector<std::string> tags) {
  if (auto t = bad_tags(tags)) return error{errc::invalid_argument, *t};
  auto n = cursor_.owner()->node;
  if (!n->post([n, tags = std::move(tags)]() mutable { n->set_network_tags(std::move(tags)); }))
    return error{errc::node_stopped};
  return {};
}

}  // namespace topicswarm
