// dht::client on standalone Asio, on top of lt_session (which hides libtorrent).
//
// Threading: everything below runs on the client's executor, which must not
// run handlers concurrently (one thread, or a strand). libtorrent's thread only
// ever posts "process alerts" to that executor, through a weak_ptr, so a post
// that arrives after the client is gone does nothing. No locks.
//
// Matching results to operations. libtorrent tags results with the key and
// salt (items, puts) or the info-hash (peers), never with the request, so:
//  - gets of one (key, salt) form a FIFO of tickets: every get starts one
//    lookup, every lookup ends in exactly one authoritative item alert, lookups
//    end roughly in start order. An authoritative alert retires the oldest
//    ticket. A get that timed out leaves its ticket behind (an "orphan") so its
//    lookup's late alert does not retire a newer get. Every item seen on the
//    way improves the best item of every pending get of that slot.
//  - puts of one (key, salt) likewise, except a put alert retires the oldest
//    ticket with the same seq (puts of different seqs can be told apart).
//  - a get_peers lookup reports peers as nodes answer but never reports its
//    end; it is over once a stats snapshot taken after it started shows no
//    get_peers lookup for its info-hash still waiting for an answer. So while
//    get_peers are pending we poll stats (every 10 ms).
//
// Stragglers. libtorrent 2.0.8 ignores ICMP "port unreachable", so a lookup
// that has queried a node which is gone (a stopped client still listed in
// routing tables) waits the full 15 s RPC timeout before it ends, although
// libtorrent itself gives up hope after its 1 s "short timeout". We treat a
// lookup whose every outstanding request has passed the short timeout, with no
// new answer for stall_grace, as finished: gets and get_peers then complete
// with what was found (while gets or puts are pending we poll stats every
// 250 ms for this). A put cannot be hurried so (libtorrent stores only after
// its lookup ends), so a stalled put is issued again, at most every
// put_retry_interval: the same item under the same seq, so storing it twice is
// harmless, and whichever attempt ends first completes the operation. A retry
// starts without the straggler (our own routing table has dropped it) and
// often meets nobody who still lists it (see docs/dht-notes.md).
#include <topicswarm/dht_client.hpp>

#include "dht/bep44.hpp"
#include "dht/lt_session.hpp"
#include "net/local_address.hpp"

#include <asio/experimental/as_tuple.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>

#include <algorithm>
#include <deque>
#include <map>
#include <utility>

namespace topicswarm::dht {

std::vector<std::string> default_bootstrap_nodes() {
  // The routers libtorrent and most Mainline clients use.
  return {"router.bittorrent.com:6881", "dht.transmissionbt.com:6881", "dht.libtorrent.org:25401"};
}

std::string dht_engine_version() { return detail::libtorrent_version(); }

bool verify_mutable_item(const mutable_item& item) {
  return detail::verify_item_signature(item.key, item.salt, item.seq, item.value, item.sig);
}

namespace {

using clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using namespace std::chrono_literals;
constexpr auto use_tuple = asio::experimental::as_tuple(asio::use_awaitable);

// How often running get_peers lookups are checked for their end. A lookup on a
// loopback testnet takes a few milliseconds; the check is two cheap requests.
constexpr auto peers_poll_interval = 10ms;
// Stall checks (gets, puts) need not be fast: a stall takes at least 1 s to appear.
constexpr auto stall_poll_interval = 250ms;
// How long a lookup must sit with only short-timed-out requests outstanding
// and no new answer before we stop waiting for it.
constexpr auto stall_grace = 500ms;
// Stalled puts are issued again at most this often, this many times in all.
constexpr auto put_retry_interval = 2s;
constexpr int max_put_attempts = 4;
// Joining: random lookups this often, this many times, until the routing table
// holds join_target nodes (DESIGN.md §5: add_dht_node alone does not fill it).
constexpr auto join_interval = 250ms;
constexpr int join_max_rounds = 12;
constexpr int join_target = 8;  // one full Kademlia bucket (k = 8, BEP 5)
// On loopback, after joining, one random lookup this often: it queries the
// nodes near a random target, so a node that has stopped (and would make our
// lookups wait 15 s for it) is found out and dropped within a few seconds.
// libtorrent's own refresh pings one node per 5 s, far too slow for a testnet
// whose clients come and go. The real DHT is left to libtorrent's pace.
constexpr auto loopback_refresh_interval = 1s;
// After joining, the routing table is checked this often; when it holds
// fewer than rejoin_below nodes (every node we knew went away, or our
// address changed and libtorrent reopened its sockets with an empty table)
// the bootstrap nodes are added again and the join rounds start over.
constexpr auto rejoin_check_interval = 10s;
constexpr int rejoin_below = 2;
// A ticket left by a timed-out get/put is dropped after this long even if its
// lookup never reported (libtorrent's RPC timeout is 15 s; lookups end well
// within a minute), so a lost alert cannot shift matching forever.
constexpr auto orphan_lifetime = 120s;

enum class op_state { pending, done, timed_out, stopped };

struct op_base {
  explicit op_base(const asio::any_io_executor& ex) : timer(ex) {}
  // Doubles as the deadline and the wake-up: completing an op cancels it.
  asio::steady_timer timer;
  clock::time_point started = clock::now();
  op_state state = op_state::pending;

  void finish(op_state s) {
    state = s;
    timer.cancel();
  }
  std::chrono::microseconds elapsed() const {
    return std::chrono::duration_cast<std::chrono::microseconds>(clock::now() - started);
  }
};

struct get_op : op_base {
  using op_base::op_base;
  std::optional<mutable_item> best;
  std::uint64_t first_round = 0;  // the first stats round requested after this lookup started
};

struct put_op : op_base {
  using op_base::op_base;
  std::int64_t seq = 0;
  int nodes_stored = 0;
  // What a retry needs to issue the put again.
  std::optional<keypair> signer;
  bytes salt, value;
  std::uint64_t first_round = 0;  // the first stats round requested after the last attempt started
  int attempts = 1;
  int tickets = 1;  // attempts whose alert is still to come
  clock::time_point last_attempt = clock::now();
};

struct peers_op : op_base {
  using op_base::op_base;
  std::vector<endpoint> peers;
  std::uint64_t first_round = 0;  // the first stats round requested after this lookup started
};

void record(latency_stats& s, std::chrono::microseconds d) {
  ++s.count;
  s.total += d;
  s.max = std::max(s.max, d);
}

detail::lookup_target to_target(const info_hash& ih) {
  detail::lookup_target t;
  std::copy(ih.span().begin(), ih.span().end(), t.data());
  return t;
}

info_hash to_info_hash(const detail::lookup_target& t) {
  info_hash ih;
  std::copy(t.span().begin(), t.span().end(), ih.data());
  return ih;
}

// Drops orphaned tickets at the front of a queue once they are too old.
template <class Op>
void prune_orphans(std::deque<std::shared_ptr<Op>>& q) {
  auto now = clock::now();
  while (!q.empty() && q.front()->state != op_state::pending && now - q.front()->started > orphan_lifetime)
    q.pop_front();
}

// "HOST:PORT" with a host name (not an IP literal): a router for libtorrent.
bool looks_like_host_port(const std::string& s) {
  auto colon = s.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == s.size()) return false;
  if (s.find(':') != colon) return false;  // IPv6 literals are handled by endpoint::parse
  auto port = s.substr(colon + 1);
  if (port.size() > 5 || !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return false;
  return std::stoul(port) <= 65535;
}

// What a stats snapshot says about the lookups for one target: still working,
// waiting only for stragglers (for longer than stall_grace), or over.
enum class lookup_verdict { running, stalled, finished };

// Tracks how long the lookups for one target have been stalled.
struct stall_watch {
  bool stalled = false;
  clock::time_point since{};
  int responses = 0;
};

lookup_verdict judge(const detail::stats_event& e, detail::lookup_info::kind kind, const detail::lookup_target& target,
                     stall_watch& watch, clock::time_point now) {
  bool any_waiting = false, any_stalled = false;
  int responses = 0;
  for (const auto& l : e.lookups) {
    if (l.type != kind || l.target != target) continue;
    responses += l.responses;
    // outstanding == 0: finished, merely kept alive by a straggler's late timeout.
    if (l.outstanding == 0) continue;
    if (l.outstanding <= l.short_timeouts)
      any_stalled = true;
    else
      any_waiting = true;
  }
  if (any_waiting) {
    watch.stalled = false;
    return lookup_verdict::running;
  }
  if (!any_stalled) return lookup_verdict::finished;
  if (!watch.stalled || watch.responses != responses) {
    watch = {true, now, responses};
    return lookup_verdict::running;
  }
  return now - watch.since >= stall_grace ? lookup_verdict::stalled : lookup_verdict::running;
}

}  // namespace

class client::impl : public std::enable_shared_from_this<impl> {
 public:
  using slot = std::pair<public_key, bytes>;

  impl(asio::any_io_executor ex, client_config config, std::unique_ptr<detail::lt_session> lt,
       std::vector<endpoint> nodes, bool loopback)
      : loopback_(loopback),
        ex_(std::move(ex)),
        config_(std::move(config)),
        lt_(std::move(lt)),
        bootstrap_nodes_(std::move(nodes)),
        listen_(lt_->listen_endpoints()),
        poll_timer_(ex_),
        join_timer_(ex_) {}

  void start() {
    // The only thing libtorrent's thread does with us: post a wake-up.
    lt_->set_notify([w = weak_from_this(), ex = ex_] {
      asio::post(ex, [w] {
        if (auto self = w.lock()) self->process_alerts();
      });
    });
    for (const auto& n : bootstrap_nodes_) lt_->add_node(n);
    schedule_join(100ms);
  }

  // Idempotent. Pending operations resume with `stopped`; libtorrent's thread
  // is joined before this returns.
  void stop() {
    if (stopped_) return;
    stopped_ = true;
    if (lt_) lt_->set_notify({});
    // Tell the gateway before the session goes (it sends the deletions as
    // it shuts down).
    if (lt_ && !mapping_handles_.empty()) lt_->delete_mappings(mapping_handles_);
    on_mapping_ = nullptr;
    for (auto& [k, q] : gets_)
      for (auto& op : q)
        if (op->state == op_state::pending) op->finish(op_state::stopped);
    for (auto& [k, q] : puts_)
      for (auto& op : q)
        if (op->state == op_state::pending) op->finish(op_state::stopped);
    for (auto& [k, v] : peer_ops_)
      for (auto& op : v)
        if (op->state == op_state::pending) op->finish(op_state::stopped);
    gets_.clear();
    puts_.clear();
    peer_ops_.clear();
    poll_timer_.cancel();
    join_timer_.cancel();
    lt_.reset();
  }

  // ---- operations (coroutines own a reference to the impl) ----

  static asio::awaitable<int> wait_bootstrapped(std::shared_ptr<impl> self, int min_nodes, milliseconds timeout) {
    auto deadline = clock::now() + timeout;
    asio::steady_timer t(self->ex_);
    for (;;) {
      if (self->stopped_ || self->routing_nodes_ >= min_nodes) co_return self->routing_nodes_;
      auto now = clock::now();
      if (now >= deadline) co_return self->routing_nodes_;
      if (self->rounds_posted_ == self->rounds_done_) self->post_stats_round();
      t.expires_after(std::min<clock::duration>(50ms, deadline - now));
      co_await t.async_wait(use_tuple);
    }
  }

  static asio::awaitable<get_result> get(std::shared_ptr<impl> self, public_key key, bytes salt, milliseconds timeout) {
    get_result r;
    if (self->stopped_) co_return r;
    auto op = std::make_shared<get_op>(self->ex_);
    op->timer.expires_after(timeout);
    op->first_round = self->rounds_posted_ + 1;
    ++self->counters_.gets;
    auto& q = self->gets_[slot{key, salt}];
    prune_orphans(q);
    q.push_back(op);
    self->lt_->get_mutable(key, salt);
    self->arm_poll();

    co_await op->timer.async_wait(use_tuple);

    r.item = op->best;
    r.elapsed = op->elapsed();
    switch (op->state) {
      case op_state::done:
        r.complete = true;
        record(self->counters_.get_latency, r.elapsed);
        break;
      case op_state::pending:  // the deadline passed; the ticket stays as an orphan
        op->state = op_state::timed_out;
        ++self->counters_.get_timeouts;
        break;
      default:
        break;
    }
    co_return r;
  }

  static asio::awaitable<result<put_result>> put(std::shared_ptr<impl> self, keypair signer, bytes salt, bytes value,
                                                 std::int64_t seq, milliseconds timeout) {
    if (salt.size() > detail::max_salt_size)
      co_return error{errc::invalid_argument, "salt is " + std::to_string(salt.size()) +
                                                  " bytes; BEP 44 allows at most " +
                                                  std::to_string(detail::max_salt_size)};
    if (detail::bencoded_string_size(value.size()) > detail::max_encoded_value_size)
      co_return error{errc::invalid_argument, "value is " + std::to_string(value.size()) +
                                                  " bytes; BEP 44 allows at most " +
                                                  std::to_string(detail::max_encoded_value_size) +
                                                  " bytes once bencoded (996 bytes of content)"};
    if (seq < 0) co_return error{errc::invalid_argument, "seq must not be negative"};
    if (self->stopped_) co_return error{errc::dht_stopped, "put after the client was stopped"};

    auto op = std::make_shared<put_op>(self->ex_);
    op->seq = seq;
    op->timer.expires_after(timeout);
    op->first_round = self->rounds_posted_ + 1;
    ++self->counters_.puts;
    auto& q = self->puts_[slot{signer.public_key(), salt}];
    prune_orphans(q);
    q.push_back(op);
    self->lt_->put_mutable(signer, salt, value, seq);
    op->signer = std::move(signer);
    op->salt = std::move(salt);
    op->value = std::move(value);
    self->arm_poll();

    co_await op->timer.async_wait(use_tuple);

    auto elapsed = op->elapsed();
    switch (op->state) {
      case op_state::done:
        if (op->nodes_stored == 0) {
          ++self->counters_.put_failures;
          co_return error{
              errc::dht_put_failed,
              "no node stored the item (none reachable, or they hold a higher seq than " + std::to_string(seq) + ")"};
        }
        record(self->counters_.put_latency, elapsed);
        co_return put_result{op->nodes_stored, elapsed};
      case op_state::pending:
        op->state = op_state::timed_out;
        ++self->counters_.put_timeouts;
        co_return error{errc::dht_timeout, "put did not finish within " + std::to_string(timeout.count()) + " ms"};
      default:
        co_return error{errc::dht_stopped, "the client was stopped during the put"};
    }
  }

  static asio::awaitable<peers_result> get_peers(std::shared_ptr<impl> self, info_hash ih, milliseconds timeout) {
    peers_result r;
    if (self->stopped_) co_return r;
    auto op = std::make_shared<peers_op>(self->ex_);
    op->timer.expires_after(timeout);
    op->first_round = self->rounds_posted_ + 1;
    ++self->counters_.get_peers;
    self->peer_ops_[ih].push_back(op);
    self->lt_->get_peers(to_target(ih));
    self->arm_poll();

    co_await op->timer.async_wait(use_tuple);

    r.peers = std::move(op->peers);
    r.elapsed = op->elapsed();
    switch (op->state) {
      case op_state::done:
        r.complete = true;
        record(self->counters_.get_peers_latency, r.elapsed);
        break;
      case op_state::pending: {
        op->state = op_state::timed_out;
        ++self->counters_.get_peers_timeouts;
        auto it = self->peer_ops_.find(ih);
        if (it != self->peer_ops_.end()) {
          std::erase(it->second, op);
          if (it->second.empty()) self->peer_ops_.erase(it);
        }
        break;
      }
      default:
        break;
    }
    co_return r;
  }

  void announce(const info_hash& ih, std::uint16_t port) {
    if (stopped_) return;
    ++counters_.announces;
    lt_->announce(to_target(ih), port);
  }

  // ---- alerts ----

  void process_alerts() {
    if (stopped_ || !lt_) return;
    events_.clear();
    lt_->poll(events_);
    for (auto& e : events_) std::visit([this](auto& ev) { on_event(ev); }, e);
    events_.clear();
  }

  void on_event(detail::item_event& e) {
    std::optional<mutable_item> item;
    // The same judgement fuzz/dht_item_fuzz.cpp puts untrusted items through.
    switch (detail::check_item(e)) {
      case detail::item_verdict::absent:
        break;
      case detail::item_verdict::accepted:
        item = mutable_item{e.key, e.salt, std::move(e.value), e.seq, e.sig};
        break;
      case detail::item_verdict::not_a_byte_string:
      case detail::item_verdict::salt_too_long:
      case detail::item_verdict::value_too_large:
      case detail::item_verdict::bad_signature:
        ++counters_.invalid_items;
        break;
    }
    auto it = gets_.find(slot{e.key, e.salt});
    if (it == gets_.end()) return;
    auto& q = it->second;
    if (item)
      for (auto& op : q)
        if (op->state == op_state::pending && (!op->best || op->best->seq < item->seq)) op->best = item;
    if (e.authoritative) {
      auto op = q.front();
      q.pop_front();
      if (op->state == op_state::pending) op->finish(op_state::done);
      if (q.empty()) gets_.erase(it);
    }
  }

  void on_event(detail::put_event& e) {
    auto it = puts_.find(slot{e.key, e.salt});
    if (it == puts_.end()) return;
    auto& q = it->second;
    auto match = std::find_if(q.begin(), q.end(), [&](const auto& op) { return op->seq == e.seq; });
    if (match == q.end()) match = q.begin();
    auto op = *match;
    q.erase(match);
    --op->tickets;
    // A retry that stored nowhere does not speak for the attempts still out.
    if (op->state == op_state::pending && (e.nodes_stored > 0 || op->tickets == 0)) {
      op->nodes_stored = e.nodes_stored;
      op->finish(op_state::done);
    }
    if (q.empty()) puts_.erase(it);
  }

  void on_event(detail::peers_event& e) {
    auto it = peer_ops_.find(to_info_hash(e.target));
    if (it == peer_ops_.end()) return;
    for (auto& op : it->second)
      for (const auto& p : e.peers)
        if (std::find(op->peers.begin(), op->peers.end(), p) == op->peers.end()) op->peers.push_back(p);
  }

  void on_event(detail::stats_event& e) {
    ++rounds_done_;
    routing_nodes_ = e.routing_nodes;
    auto now = clock::now();
    using kind = detail::lookup_info::kind;
    // A snapshot speaks only for lookups started before it was requested.
    auto eligible = [&](const auto& op) { return op->state == op_state::pending && op->first_round <= rounds_done_; };

    std::vector<detail::lookup_target> watched;  // targets some get still waits for
    for (auto& [s, q] : gets_) {
      if (std::none_of(q.begin(), q.end(), eligible)) continue;
      auto target = detail::mutable_item_target(s.first, s.second);
      watched.push_back(target);
      if (judge(e, kind::get, target, get_stalls_[target], now) == lookup_verdict::running) continue;
      // Finished or hopelessly stalled: what has been seen is all there is.
      // The tickets stay so the lookups' late alerts retire them.
      for (auto& op : q)
        if (eligible(op)) op->finish(op_state::done);
    }
    for (auto it = peer_ops_.begin(); it != peer_ops_.end();) {
      auto target = to_target(it->first);
      auto& ops = it->second;
      if (std::any_of(ops.begin(), ops.end(), eligible) &&
          judge(e, kind::get_peers, target, peer_stalls_[target], now) != lookup_verdict::running) {
        std::erase_if(ops, [&](const auto& op) {
          if (!eligible(op)) return false;
          op->finish(op_state::done);
          return true;
        });
      }
      it = ops.empty() ? peer_ops_.erase(it) : std::next(it);
    }
    std::vector<detail::lookup_target> watched_puts;
    for (auto& [s, q] : puts_) {
      if (std::none_of(q.begin(), q.end(), eligible)) continue;
      auto target = detail::mutable_item_target(s.first, s.second);
      watched_puts.push_back(target);
      // A put's first phase is a get lookup of the same target.
      if (judge(e, kind::get, target, put_stalls_[target], now) != lookup_verdict::stalled) continue;
      std::vector<std::shared_ptr<put_op>> retry;  // a queue may hold an op once per attempt
      for (auto& op : q)
        if (eligible(op) && op->attempts < max_put_attempts && now - op->last_attempt >= put_retry_interval &&
            std::find(retry.begin(), retry.end(), op) == retry.end())
          retry.push_back(op);
      for (auto& op : retry) {
        lt_->put_mutable(*op->signer, op->salt, op->value, op->seq);
        ++op->attempts;
        ++op->tickets;
        op->last_attempt = now;
        op->first_round = rounds_posted_ + 1;
        q.push_back(op);
      }
      if (!retry.empty()) put_stalls_.erase(target);
    }
    // Forget the stall records of targets nobody waits for any more.
    auto unwatched = [](const std::vector<detail::lookup_target>& w) {
      return [&w](const auto& kv) { return std::find(w.begin(), w.end(), kv.first) == w.end(); };
    };
    std::erase_if(get_stalls_, unwatched(watched));
    std::erase_if(put_stalls_, unwatched(watched_puts));
    std::erase_if(peer_stalls_, [&](const auto& kv) { return !peer_ops_.contains(to_info_hash(kv.first)); });
    arm_poll();
  }

  bool any_pending_get_or_put() const {
    auto pending = [](const auto& op) { return op->state == op_state::pending; };
    for (const auto& [s, q] : gets_)
      if (std::any_of(q.begin(), q.end(), pending)) return true;
    for (const auto& [s, q] : puts_)
      if (std::any_of(q.begin(), q.end(), pending)) return true;
    return false;
  }

  void on_event(detail::external_address_event& e) {
    // libtorrent reports the address only; the port others reach us on is our
    // DHT port of the same family.
    auto ep = e.address;
    for (const auto& l : listen_)
      if (l.fam == ep.fam) {
        ep.port = l.port;
        break;
      }
    external_ = ep;
    release_pending_mappings();
  }

  void on_event(detail::portmap_event& e) {
    if (std::find(mapping_handles_.begin(), mapping_handles_.end(), e.mapping) == mapping_handles_.end()) return;
    port_mapping_event ev;
    ev.ok = e.ok;
    ev.via = e.via;
    ev.local_port = mapped_port_;
    ev.error = e.error;
    if (e.ok) {
      ++counters_.port_mappings;
      // The gateway tells the external address separately (it becomes our
      // external address, as the DHT's reports do): hold the answer until
      // that is known.
      if (!external_) {
        pending_mappings_.push_back({e.via, e.external_port});
        return;
      }
      ev.external = *external_;
      ev.external->port = e.external_port;
    } else {
      ++counters_.port_mapping_failures;
    }
    if (on_mapping_) on_mapping_(ev);
  }

  void map_tcp_port(std::uint16_t port) {
    if (stopped_ || !config_.port_mapping || loopback_ || port == 0) return;
    mapped_port_ = port;
    auto h = lt_->add_tcp_mapping(port);
    mapping_handles_.insert(mapping_handles_.end(), h.begin(), h.end());
  }

  void release_pending_mappings() {
    if (!external_ || pending_mappings_.empty()) return;
    auto pending = std::exchange(pending_mappings_, {});
    for (const auto& [via, port] : pending) {
      port_mapping_event ev;
      ev.ok = true;
      ev.via = via;
      ev.local_port = mapped_port_;
      ev.external = *external_;
      ev.external->port = port;
      if (on_mapping_) on_mapping_(ev);
    }
  }

  void on_event(detail::listen_event& e) {
    if (!e.ok) {
      ++counters_.listen_failures;
      return;
    }
    ++counters_.sockets_opened;
    if (std::find(listen_.begin(), listen_.end(), e.address) == listen_.end()) listen_.push_back(e.address);
    // A new socket has port mappers of its own (its network's gateway): ask
    // them too. (A socket that stayed asks its gateway again: harmless.)
    if (mapped_port_ != 0) {
      auto h = lt_->add_tcp_mapping(mapped_port_);
      mapping_handles_.insert(mapping_handles_.end(), h.begin(), h.end());
    }
    // A fresh socket is a DHT node with an empty routing table: join again
    // at once rather than at the next rejoin check.
    rejoin();
  }

  // The machine's addresses changed (the node's interface watcher saw it).
  // libtorrent's own netlink watcher may have reopened the sockets already;
  // reopening again is harmless, and it is the only path where that watcher
  // is off or missed the change.
  void network_changed() {
    if (stopped_) return;
    ++counters_.network_changes;
    // Sockets on addresses that left the machine are closed by the reopen
    // (silently); new ones are reported by listen events.
    std::erase_if(listen_, [](const endpoint& e) { return !net::address_is_local(e); });
    lt_->reopen_sockets();
    rejoin();
  }

  void rejoin() {
    if (stopped_) return;
    // The external address was voted by nodes that saw our old one.
    external_.reset();
    for (const auto& n : bootstrap_nodes_) lt_->add_node(n);
    join_rounds_ = 0;
    routing_nodes_ = 0;
    next_rejoin_ = clock::now() + rejoin_check_interval;
    schedule_join(join_interval);
  }

  // ---- polling ----

  void post_stats_round() {
    ++rounds_posted_;
    lt_->request_stats();
  }

  // Keeps one stats round coming while lookups wait for their end: often for
  // get_peers (that is how they end), seldom for gets and puts (only stalls
  // need it).
  void arm_poll() {
    if (stopped_) return;
    clock::duration interval;
    if (!peer_ops_.empty())
      interval = peers_poll_interval;
    else if (any_pending_get_or_put())
      interval = stall_poll_interval;
    else
      return;
    auto due = clock::now() + interval;
    if (poll_armed_ && poll_due_ <= due) return;
    poll_armed_ = true;
    poll_due_ = due;
    poll_timer_.expires_at(due);  // cancels a later wait, whose handler then sees an old generation
    poll_timer_.async_wait([w = weak_from_this(), gen = ++poll_generation_](std::error_code) {
      auto self = w.lock();
      if (!self || self->stopped_ || gen != self->poll_generation_) return;
      self->poll_armed_ = false;
      if (self->rounds_posted_ == self->rounds_done_)
        self->post_stats_round();  // its answer re-arms while anything still waits
      else
        self->arm_poll();  // a round is still out; look again later
    });
  }

  void schedule_join(clock::duration after) {
    join_timer_.expires_after(after);
    join_timer_.async_wait([w = weak_from_this()](std::error_code ec) {
      auto self = w.lock();
      if (!self || ec || self->stopped_) return;
      bool joined = self->routing_nodes_ >= join_target || self->join_rounds_ >= join_max_rounds;
      if (joined && self->routing_nodes_ < rejoin_below && !self->bootstrap_nodes_.empty() &&
          clock::now() >= self->next_rejoin_) {
        for (const auto& n : self->bootstrap_nodes_) self->lt_->add_node(n);
        self->join_rounds_ = 0;
        self->next_rejoin_ = clock::now() + rejoin_check_interval;
        joined = false;
      }
      if (joined) {
        if (self->rounds_posted_ == self->rounds_done_) self->post_stats_round();  // a fresh routing_nodes_
        if (!self->loopback_) return self->schedule_join(rejoin_check_interval);
        self->lt_->random_lookups(1);
        self->schedule_join(loopback_refresh_interval);
        return;
      }
      ++self->join_rounds_;
      self->lt_->random_lookups(2);
      if (self->rounds_posted_ == self->rounds_done_) self->post_stats_round();
      self->schedule_join(join_interval);
    });
  }

  bool loopback_;
  std::function<void(const port_mapping_event&)> on_mapping_;
  asio::any_io_executor ex_;
  client_config config_;
  std::unique_ptr<detail::lt_session> lt_;
  std::vector<endpoint> bootstrap_nodes_;
  std::vector<endpoint> listen_;
  bool stopped_ = false;
  counters counters_;
  std::optional<endpoint> external_;
  std::vector<int> mapping_handles_;
  std::uint16_t mapped_port_ = 0;
  std::vector<std::pair<std::string, std::uint16_t>> pending_mappings_;  // mapped before the external address was known

  std::map<slot, std::deque<std::shared_ptr<get_op>>> gets_;
  std::map<slot, std::deque<std::shared_ptr<put_op>>> puts_;
  std::map<info_hash, std::vector<std::shared_ptr<peers_op>>> peer_ops_;

  std::uint64_t rounds_posted_ = 0, rounds_done_ = 0;
  int routing_nodes_ = 0;
  clock::time_point next_rejoin_{};  // bootstrap nodes are added again at most this often
  std::map<detail::lookup_target, stall_watch> get_stalls_, put_stalls_, peer_stalls_;
  asio::steady_timer poll_timer_;
  bool poll_armed_ = false;
  clock::time_point poll_due_{};
  std::uint64_t poll_generation_ = 0;
  asio::steady_timer join_timer_;
  int join_rounds_ = 0;
  std::vector<detail::event> events_;
};

result<std::unique_ptr<client>> client::start(asio::any_io_executor ex, client_config config) {
  detail::session_options opts;
  for (const auto& l : config.listen) {
    auto ep = endpoint::parse(l);
    if (!ep) return error{errc::invalid_endpoint, "listen address " + ep.error().detail};
    opts.listen.push_back(*ep);
  }
  if (opts.listen.empty()) return error{errc::invalid_argument, "no listen address given"};
  opts.port_mapping = config.port_mapping;
  opts.loopback = config.testnet || std::all_of(opts.listen.begin(), opts.listen.end(),
                                                [](const endpoint& e) { return e.is_loopback(); });

  std::vector<endpoint> nodes;
  for (const auto& b : config.bootstrap) {
    if (auto ep = endpoint::parse(b)) {
      if (ep->port == 0) return error{errc::invalid_endpoint, "bootstrap node '" + b + "' has port 0"};
      nodes.push_back(*ep);
    } else if (looks_like_host_port(b)) {
      opts.routers.push_back(b);
    } else {
      return error{errc::invalid_endpoint, "bootstrap node '" + b + "': expected HOST:PORT or IP:PORT"};
    }
  }

  auto lt = detail::lt_session::open(opts);
  if (!lt) return lt.error();
  auto i = std::make_shared<impl>(std::move(ex), std::move(config), std::move(*lt), std::move(nodes), opts.loopback);
  i->start();
  return std::unique_ptr<client>(new client(std::move(i)));
}

client::client(std::shared_ptr<impl> i) : impl_(std::move(i)) {}

client::~client() {
  if (impl_) impl_->stop();
}

// These are plain functions returning the impl's coroutines, so the impl is
// owned by the coroutine frame from the moment of the call: destroying the
// client before the awaitable runs is safe (it then completes as stopped).
asio::awaitable<int> client::wait_bootstrapped(int min_nodes, std::chrono::milliseconds timeout) {
  return impl::wait_bootstrapped(impl_, min_nodes, timeout);
}

asio::awaitable<get_result> client::get_mutable(public_key key, bytes salt,
                                                std::optional<std::chrono::milliseconds> timeout) {
  return impl::get(impl_, key, std::move(salt), timeout.value_or(impl_->config_.default_timeout));
}

asio::awaitable<result<put_result>> client::put_mutable(keypair signer, bytes salt, bytes value, std::int64_t seq,
                                                        std::optional<std::chrono::milliseconds> timeout) {
  return impl::put(impl_, std::move(signer), std::move(salt), std::move(value), seq,
                   timeout.value_or(impl_->config_.default_timeout));
}

asio::awaitable<peers_result> client::get_peers(info_hash ih, std::optional<std::chrono::milliseconds> timeout) {
  return impl::get_peers(impl_, ih, timeout.value_or(impl_->config_.default_timeout));
}

void client::announce(info_hash ih, std::uint16_t port) { impl_->announce(ih, port); }

std::optional<endpoint> client::external_address() const { return impl_->external_; }

void client::map_tcp_port(std::uint16_t local_port) { impl_->map_tcp_port(local_port); }

void client::on_port_mapping(std::function<void(const port_mapping_event&)> handler) {
  impl_->on_mapping_ = std::move(handler);
}

std::vector<endpoint> client::listen_endpoints() const { return impl_->listen_; }

counters client::stats() const {
  auto c = impl_->counters_;
  c.routing_nodes = impl_->routing_nodes_;
  return c;
}

void client::network_changed() { impl_->network_changed(); }

}  // namespace topicswarm::dht
