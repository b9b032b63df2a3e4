#include "net/transport.hpp"

#include "net/hello.hpp"
#include "net/local_address.hpp"
#include "net/tls.hpp"

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/ip/v6_only.hpp>
#include <asio/read.hpp>
#include <asio/ssl.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cassert>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <set>
#include <string>
#include <tuple>

namespace topicswarm::net {
namespace {

using tcp = asio::ip::tcp;
using ssl_stream = asio::ssl::stream<tcp::socket>;
using steady = std::chrono::steady_clock;
constexpr auto use_tuple = asio::experimental::as_tuple(asio::use_awaitable);

// One TLS record is at most 16 KiB of plaintext; asio's SSL stream hands out
// at most one record per read, so this is the read granularity.
constexpr std::size_t read_chunk = 17 * 1024;
// Largest single write handed to the TLS stream (see write_loop).
constexpr std::size_t write_chunk = 256 * 1024;

tcp::endpoint to_asio(const endpoint& e) {
  if (e.is_v4()) {
    asio::ip::address_v4::bytes_type b{};
    std::copy_n(e.ip.begin(), 4, b.begin());
    return {asio::ip::address_v4(b), e.port};
  }
  asio::ip::address_v6::bytes_type b{};
  std::copy_n(e.ip.begin(), 16, b.begin());
  return {asio::ip::address_v6(b), e.port};
}

endpoint from_asio(const tcp::endpoint& e) {
  if (e.address().is_v4()) return endpoint::v4(e.address().to_v4().to_bytes(), e.port());
  const auto b = e.address().to_v6().to_bytes();
  std::array<std::uint8_t, 16> a{};
  std::copy(b.begin(), b.end(), a.begin());
  return endpoint::v6(a, e.port());
}

std::error_code set_reuse_port(int fd) {
  const int one = 1;
  if (::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0)
    return std::error_code(errno, std::system_category());
  return {};
}

// A connect from the listen port that fails for a reason an ephemeral port
// would not have: the four-tuple is taken (a connection to the same peer
// address exists, or lingers in TIME_WAIT).
// The one-byte preambles of a punch connection (docs/PROTOCOL.md §19.8):
// each punch socket sends punch_preamble first; a listener that accepted one
// answers listener_preamble. Neither can start a TLS record (content types
// 20-24), which is all a listener otherwise reads first.
constexpr std::uint8_t punch_preamble = 0x50;     // 'P'
constexpr std::uint8_t listener_preamble = 0x4c;  // 'L'
// A relay end starts with this and its 16-byte token; the relay answers it
// (once both ends came) before copying (docs/PROTOCOL.md §19.9).
constexpr std::uint8_t relay_preamble = 0x52;  // 'R'
// How a dial connects: ordinarily, by a hole punch, or through a relay.
struct dial_mode {
  enum class kind : std::uint8_t { normal, punch, relay } k = kind::normal;
  steady::time_point until{};  // punch: the window; relay: the wait for the other end
  relay_token token{};
};
// A punch redoes a failed connect after this (bounded by its window).
constexpr std::chrono::milliseconds punch_retry_gap{50};

bool tuple_taken(const std::error_code& ec) {
  return ec.category() == asio::error::get_system_category() && (ec.value() == EADDRNOTAVAIL || ec.value() == EADDRINUSE);
}

// An inbound connection's source, for the per-source limits: the address
// (IPv4 as its v4-mapped IPv6 form, so both families share one key space)
// and its prefix (/24 for IPv4, /48 for IPv6).
using address_key = std::array<std::uint8_t, 16>;
struct source {
  address_key ip{}, prefix{};
};

source source_of(const tcp::endpoint& e) {
  source s;
  asio::ip::address_v6 a6;
  if (e.address().is_v4())
    a6 = asio::ip::make_address_v6(asio::ip::v4_mapped, e.address().to_v4());
  else
    a6 = e.address().to_v6();
  const auto b = a6.to_bytes();
  std::copy(b.begin(), b.end(), s.ip.begin());
  s.prefix = s.ip;
  const std::size_t keep = a6.is_v4_mapped() ? 15 : 6;  // 12 + 3 bytes = /24; 6 bytes = /48
  std::fill(s.prefix.begin() + static_cast<std::ptrdiff_t>(keep), s.prefix.end(), 0);
  return s;
}

struct task_count {
  explicit task_count(std::size_t& n) : n_(n) { ++n_; }
  ~task_count() { --n_; }
  task_count(const task_count&) = delete;
  task_count& operator=(const task_count&) = delete;
  std::size_t& n_;
};

// handshaking: TCP connect and TLS. greeting: TLS is up, our hello is
// queued, the peer's has not arrived; nothing else is read or sent yet.
// active: the peer's connection, written and read. retired / flushing: read,
// no longer written (a losing duplicate; a connection being closed).
enum class conn_state { handshaking, greeting, active, retired, flushing, relaying, closed };

// A relay circuit we serve: two accepted ends copied into each other.
struct relay_circuit {
  std::uint64_t id = 0;
  std::uint64_t bytes = 0;
  bool ended = false;
};

struct connection {
  ssl_stream stream;
  asio::steady_timer wake;      // wakes the idle writer (cancelled by enqueue)
  asio::steady_timer deadline;  // connect / handshake timeout: closes the socket
  conn_state st = conn_state::handshaking;
  node_id peer;
  node_id dialer;  // who dialled: decides which duplicate survives
  bool outbound = false;
  bool established = false;           // the peer's hello arrived and was accepted
  // A dial's second round (addresses a reversal delivered): its flag, set
  // once when a connection of that round is established (run_dial's frame
  // outlives the connection's read loop, which clears this first).
  bool* reversal_reached = nullptr;
  bool punched = false;  // made by punch_connect (counted as punches_connected when established)
  bool relayed = false;  // made by relay_connect (counted as relay_dials_connected when established)
  // A relay end we serve: the wait for its partner (first end only), the
  // partner, and the circuit.
  asio::steady_timer* relay_wait = nullptr;
  std::weak_ptr<connection> relay_partner;
  std::shared_ptr<relay_circuit> relay;
  bool holds_handshake_slot = false;  // counted in inbound_handshakes_ (until established or closed)
  std::optional<source> src;          // inbound from a limited source: counted in the per-source tables
  bool holds_ip_handshake = false;    // counted in handshakes_by_ip_ (until established or closed)
  bool over_share = false;            // accepted beyond the inbound share: only a known peer may stay
  bool counted_inbound = false;       // counted in inbound_
  bool writer_waiting = false;
  bool write_in_progress = false;
  steady::time_point write_started{};
  bytes out;      // frames queued, not yet handed to the socket
  bytes writing;  // frames being written
  std::size_t written = 0;  // bytes of `writing` already handed to the socket
  steady::time_point last_rx{}, last_tx{}, close_at{};
  steady::time_point hello_deadline{};  // greeting: closed if the peer's hello is not in by then
  kind_set peer_kinds;                  // from the peer's hello
  link_info link;                       // id and TLS exporter, set once TLS is up
  error close_reason;                   // set by close_connection (a failed dial reports it)
  frame_reader reader;

  explicit connection(asio::io_context& io, asio::ssl::context& ctx, std::size_t max_payload)
      : stream(io, ctx), wake(io), deadline(io), reader(max_payload) {}
  std::size_t queued() const noexcept { return out.size() + writing.size() - written; }
};

}  // namespace

class transport::impl : public std::enable_shared_from_this<transport::impl> {
 public:
  impl(asio::io_context& io, asio::ssl::context ctx, node_id me, config cfg, transport_handler& handler)
      : io_(io), ctx_(std::move(ctx)), me_(me), cfg_(cfg), handler_(handler), tick_(io) {}

  result<void> bind(const std::vector<endpoint>& listen) {
    for (const auto& l : listen) {
      tcp::acceptor a(io_);
      std::error_code ec;
      const auto ep = to_asio(l);
      // With SO_REUSEPORT (needed to dial from the listen port) a second
      // listener of the same user could share an explicit port, and the
      // kernel would split our inbound connections with it: make sure
      // nobody holds the port first, with a plain bind.
      if (cfg_.dial_from_listen_port && l.port != 0) {
        tcp::acceptor probe(io_);
        probe.open(ep.protocol(), ec);
        if (!ec) probe.set_option(tcp::acceptor::reuse_address(true), ec);
        if (!ec && l.is_v6()) probe.set_option(asio::ip::v6_only(true), ec);
        if (!ec) probe.bind(ep, ec);
        if (ec) return error{errc::bind_failed, l.to_string() + ": " + ec.message()};
      }
      a.open(ep.protocol(), ec);
      if (!ec) a.set_option(tcp::acceptor::reuse_address(true), ec);
      if (!ec && cfg_.dial_from_listen_port) ec = set_reuse_port(a.native_handle());
      if (!ec && l.is_v6()) a.set_option(asio::ip::v6_only(true), ec);
      if (!ec) a.bind(ep, ec);
      if (!ec) a.listen(asio::socket_base::max_listen_connections, ec);
      if (ec) return error{errc::bind_failed, l.to_string() + ": " + ec.message()};
      acceptors_.push_back(std::move(a));
    }
    return {};
  }

  void handle_kind(frame_kind kind, frame_handler h) {
    handle_kind(kind, link_frame_handler([h = std::move(h)](const node_id& p, const link_info&, byte_span b) { h(p, b); }));
  }

  void on_probe(probe_handler h) {
    assert(!running_ && "on_probe() after run()");
    probe_handler_ = std::move(h);
  }

  void on_reverse(reverse_handler h) {
    assert(!running_ && "on_reverse() after run()");
    reverse_handler_ = std::move(h);
  }

  void reverse_failed(const node_id& peer) {
    if (auto w = reverse_waits_.find(peer); w != reverse_waits_.end()) w->second->cancel();
  }

  bool punch(const node_id& peer, const endpoint& address, std::chrono::milliseconds window) {
    if (stopped_ || direct_link(peer) || peer == me_ || !listener_for(to_asio(address))) return false;
    if (active_.contains(peer) && dialling_.contains(peer)) return false;  // an upgrade punch runs already
    const auto until = steady::now() + window;
    if (dialling_.contains(peer)) {
      // Our own dial waits for the peer (it asked for this punch, or asked
      // for one that crossed the peer's): it takes the punch.
      auto w = reverse_waits_.find(peer);
      if (w == reverse_waits_.end()) return false;  // dialling addresses of its own
      reverse_delivered_[peer] = {address};
      mode_delivered_[peer] = dial_mode{dial_mode::kind::punch, until, {}};
      w->second->cancel();
      return true;
    }
    dialling_.emplace(peer, bytes{});
    asio::co_spawn(io_, run_dial(shared_from_this(), peer, {address}, false, dial_mode{dial_mode::kind::punch, until, {}}),
                   asio::detached);
    return true;
  }

  void on_punch_failed(reverse_handler h) {
    assert(!running_ && "on_punch_failed() after run()");
    punch_failed_handler_ = std::move(h);
  }

  void on_relay(relay_admit admit, relay_done done) {
    assert(!running_ && "on_relay() after run()");
    relay_admit_ = std::move(admit);
    relay_done_ = std::move(done);
  }

  bool relay_dial(const node_id& peer, const endpoint& relay, const relay_token& token,
                  std::chrono::milliseconds window) {
    if (stopped_ || active_.contains(peer) || peer == me_) return false;
    const dial_mode mode{dial_mode::kind::relay, steady::now() + window, token};
    if (dialling_.contains(peer)) {
      auto w = reverse_waits_.find(peer);
      if (w == reverse_waits_.end()) return false;  // dialling addresses of its own
      reverse_delivered_[peer] = {relay};
      mode_delivered_[peer] = mode;
      w->second->cancel();
      return true;
    }
    dialling_.emplace(peer, bytes{});
    asio::co_spawn(io_, run_dial(shared_from_this(), peer, {relay}, false, mode), asio::detached);
    return true;
  }

  void handle_kind(frame_kind kind, link_frame_handler h) {
    // Programming errors, not input: the hello is built once in run(), and
    // the transport's own kinds are answered here.
    assert(!running_ && "handle_kind() after run(): the hello is already fixed");
    assert(kind != frame_kind::hello && kind != frame_kind::keepalive);
    assert(!handlers_[static_cast<std::uint8_t>(kind)] && "one handler per kind");
    handlers_[static_cast<std::uint8_t>(kind)] = std::move(h);
  }

  void run() {
    running_ = true;
    hello ours{protocol_version_current, {frame_kind::keepalive, frame_kind::hello}};
    for (std::size_t k = 0; k < handlers_.size(); ++k)
      if (handlers_[k]) ours.kinds.insert(static_cast<frame_kind>(k));
    assert(ours.kinds.size() <= max_hello_kinds);
    append_hello(hello_frame_, ours);
    auto self = shared_from_this();
    for (std::size_t i = 0; i < acceptors_.size(); ++i)
      asio::co_spawn(io_, accept_loop(self, i), asio::detached);
    asio::co_spawn(io_, tick_loop(self), asio::detached);
  }

  void stop() {
    if (stopped_) return;
    stopped_ = true;
    std::error_code ec;
    for (auto& a : acceptors_) a.close(ec);
    tick_.cancel();
    for (auto& c : std::vector<std::shared_ptr<connection>>(all_.begin(), all_.end()))
      close_connection(c, error{errc::node_stopped});
    dialling_.clear();
    queued_total_ = 0;
    for (auto& [peer, t] : reverse_waits_) t->cancel();
    reverse_waits_.clear();
    reverse_delivered_.clear();
    mode_delivered_.clear();
    for (auto& [tok, c] : relay_waiting_)
      if (c->relay_wait) c->relay_wait->cancel();
    relay_waiting_.clear();
  }

  std::vector<endpoint> local_endpoints() const {
    std::vector<endpoint> out;
    for (const auto& a : acceptors_) {
      std::error_code ec;
      auto ep = a.local_endpoint(ec);
      if (!ec) out.push_back(from_asio(ep));
    }
    return out;
  }

  send_status send(const node_id& peer, byte_span frame) {
    if (auto it = active_.find(peer); it != active_.end()) {
      enqueue(it->second, frame);
      return send_status::sent;
    }
    if (auto d = dialling_.find(peer); d != dialling_.end()) {
      if (d->second.size() + frame.size() > cfg_.max_dial_queue_bytes) {
        ++stats_.dial_queue_drops;
      } else if (make_room(nullptr, frame.size()) && (d = dialling_.find(peer)) != dialling_.end()) {
        // (found again: closing a slow peer ran handlers that may dial)
        d->second.insert(d->second.end(), frame.begin(), frame.end());
        queued_total_ += frame.size();
      } else {
        ++stats_.dial_queue_drops;
      }
      return send_status::queued;
    }
    return send_status::no_route;
  }

  void dial(const node_id& peer, std::vector<endpoint> addresses) {
    if (stopped_ || active_.contains(peer)) return;
    if (dialling_.contains(peer)) {
      // A dial waiting for a reversal takes addresses it learns meanwhile
      // (the peer's own reverse frame when both sides asked for one): the
      // wait ends and they are tried (once per dial).
      if (auto w = reverse_waits_.find(peer); w != reverse_waits_.end() && !addresses.empty()) {
        if (addresses.size() > transport::max_dial_addresses) addresses.resize(transport::max_dial_addresses);
        reverse_delivered_[peer] = std::move(addresses);
        w->second->cancel();
      }
      return;
    }
    bool reversing = false;
    if (addresses.empty()) {
      // Nothing to dial: only a connection reversal can bring the peer.
      if (!reverse_handler_ || !reverse_handler_(peer)) return;
      // (Asking the helpers wrote to their connections, which may have run
      // handlers that dialled the peer meanwhile.)
      if (stopped_ || active_.contains(peer) || dialling_.contains(peer)) return;
      reversing = true;
    }
    if (addresses.size() > transport::max_dial_addresses) addresses.resize(transport::max_dial_addresses);
    dialling_.emplace(peer, bytes{});
    asio::co_spawn(io_, run_dial(shared_from_this(), peer, std::move(addresses), reversing, dial_mode{}),
                   asio::detached);
  }

  void close_after_flush(const node_id& peer) {
    auto it = active_.find(peer);
    if (it == active_.end()) return;
    auto c = it->second;
    active_.erase(it);
    c->st = conn_state::flushing;
    c->close_at = steady::now() + cfg_.duplicate_grace;
    if (c->writer_waiting) c->wake.cancel();
  }

  std::size_t close_stranded() {
    std::size_t n = 0;
    for (auto& c : std::vector<conn_ptr>(all_.begin(), all_.end())) {
      if (c->st == conn_state::closed) continue;
      std::error_code ec;
      const auto local = c->stream.lowest_layer().local_endpoint(ec);
      if (ec || address_is_local(from_asio(local))) continue;  // not connected yet, or still ours
      ++stats_.stranded_closes;
      ++n;
      close_connection(c, error{errc::connection_closed,
                                "our address " + local.address().to_string() + " left the machine"});
    }
    return n;
  }

  bool connected(const node_id& peer) const { return active_.contains(peer); }
  // Connected, and not through a relay.
  bool direct_link(const node_id& peer) const {
    auto a = active_.find(peer);
    return a != active_.end() && !a->second->relayed;
  }
  std::optional<link_info> link(const node_id& peer) const {
    auto it = active_.find(peer);
    if (it == active_.end()) return std::nullopt;
    return it->second->link;
  }
  bool peer_speaks(const node_id& peer, frame_kind kind) const {
    auto it = active_.find(peer);
    return it != active_.end() && it->second->peer_kinds.contains(kind);
  }
  bool dialling(const node_id& peer) const { return dialling_.contains(peer); }
  bool awaiting_reversal(const node_id& peer) const { return reverse_waits_.contains(peer); }
  std::vector<node_id> connected_peers() const {
    std::vector<node_id> out;
    for (const auto& [id, c] : active_) out.push_back(id);
    return out;
  }

  bool send_ready() const {
    for (const auto& [id, c] : active_)
      if (c->queued() > cfg_.send_backpressure_bytes) return false;
    return true;
  }

  net::stats stats() const {
    net::stats s = stats_;
    s.connections = 0;
    s.handshakes_in_progress = 0;
    s.queued_bytes = 0;
    for (const auto& c : all_) {
      if (!c->established)
        ++s.handshakes_in_progress;
      else
        ++s.connections;
      s.queued_bytes += c->queued();
    }
    for (const auto& [id, q] : dialling_) s.queued_bytes += q.size();
    assert(s.queued_bytes == queued_total_);
    return s;
  }

  std::size_t tasks() const { return tasks_; }

 private:
  using conn_ptr = std::shared_ptr<connection>;

  conn_ptr make_connection() { return std::make_shared<connection>(io_, ctx_, cfg_.max_frame_payload); }

  // Closes the socket when `after` passes before the operation in progress
  // ends (the caller cancels the timer when it does).
  void arm_deadline(const conn_ptr& c, std::chrono::milliseconds after) {
    c->deadline.expires_after(after);
    c->deadline.async_wait([c](std::error_code ec) {
      if (!ec) {
        std::error_code ignored;
        c->stream.lowest_layer().close(ignored);
      }
    });
  }

  static void tune_socket(const conn_ptr& c) {
    std::error_code ignored;
    c->stream.lowest_layer().set_option(tcp::no_delay(true), ignored);
  }

  asio::awaitable<void> accept_loop(std::shared_ptr<impl> self, std::size_t index) {
    task_count live(tasks_);
    asio::steady_timer backoff(io_);
    while (!stopped_) {
      auto [ec, sock] = co_await acceptors_[index].async_accept(use_tuple);
      if (stopped_) co_return;
      if (ec) {
        if (ec == asio::error::operation_aborted) co_return;
        // e.g. out of file descriptors: pause instead of spinning.
        backoff.expires_after(std::chrono::milliseconds(100));
        co_await backoff.async_wait(use_tuple);
        continue;
      }
      std::error_code ignored;
      if (all_.size() >= cfg_.max_connections) {
        ++stats_.refused_connection_cap;
        sock.close(ignored);
        continue;
      }
      // Per source first: one address that fills the handshake slots must
      // not stop everyone else's handshakes.
      std::error_code ec_remote;
      const auto remote = sock.remote_endpoint(ec_remote);
      if (ec_remote) {
        sock.close(ignored);
        continue;
      }
      std::optional<source> src;
      if (cfg_.limit_loopback || !remote.address().is_loopback()) {
        src = source_of(remote);
        if (count(inbound_by_ip_, src->ip) >= cfg_.max_inbound_per_ip) {
          ++stats_.refused_per_ip;
          sock.close(ignored);
          continue;
        }
        if (count(inbound_by_prefix_, src->prefix) >= cfg_.max_inbound_per_prefix) {
          ++stats_.refused_per_prefix;
          sock.close(ignored);
          continue;
        }
        if (count(handshakes_by_ip_, src->ip) >= cfg_.max_handshakes_per_ip) {
          ++stats_.refused_handshakes_per_ip;
          sock.close(ignored);
          continue;
        }
      }
      if (inbound_handshakes_ >= cfg_.max_pending_handshakes) {
        ++stats_.refused_handshake_cap;
        sock.close(ignored);
        continue;
      }
      auto c = make_connection();
      c->stream.lowest_layer() = std::move(sock);
      // Beyond the inbound share only a peer we know may stay (decided once
      // TLS names it); the rest of the table is kept for our own dials.
      const std::size_t share =
          cfg_.max_connections > cfg_.outbound_reserve ? cfg_.max_connections - cfg_.outbound_reserve : 0;
      c->over_share = inbound_ >= share;
      if (src) {
        c->src = src;
        ++inbound_by_ip_[src->ip];
        ++inbound_by_prefix_[src->prefix];
        ++handshakes_by_ip_[src->ip];
        c->holds_ip_handshake = true;
      }
      ++inbound_;
      c->counted_inbound = true;
      asio::co_spawn(io_, run_inbound(self, c), asio::detached);
    }
  }

  asio::awaitable<void> run_inbound(std::shared_ptr<impl> /*keep alive*/, conn_ptr c) {
    task_count live(tasks_);
    all_.insert(c);
    tune_socket(c);
    // The slot is held through the hello too: a peer that completes TLS
    // (any fresh key does) but never says hello must not escape the cap.
    ++inbound_handshakes_;
    c->holds_handshake_slot = true;
    arm_deadline(c, cfg_.handshake_timeout);
    // Another node's punch that reached our listener (docs/PROTOCOL.md
    // §19.8) starts with its preamble, not a TLS record: answer that we are
    // a listener (so it speaks TLS as client) and go on as TLS server.
    {
      std::array<std::uint8_t, 1> first{0};
      auto [pec, pn] = co_await c->stream.next_layer().async_receive(asio::buffer(first),
                                                                       asio::socket_base::message_peek, use_tuple);
      if (!pec && pn == 1 && first[0] == relay_preamble && relay_admit_) co_return co_await run_relay_end(c);
      if (!pec && pn == 1 && first[0] == punch_preamble) {
        auto [rec, rn] = co_await asio::async_read(c->stream.next_layer(), asio::buffer(first), use_tuple);
        std::error_code wec;
        if (!rec) {
          first[0] = listener_preamble;
          std::tie(wec, std::ignore) = co_await asio::async_write(c->stream.next_layer(), asio::buffer(first), use_tuple);
        }
        if (c->st == conn_state::closed) co_return;
        if (stopped_) co_return close_connection(c, error{errc::node_stopped});
        if (rec || wec) {
          ++stats_.handshake_failures;
          co_return close_connection(c, error{errc::handshake_failed, "punch preamble: " + (rec ? rec : wec).message()});
        }
        ++stats_.punches_accepted;
        c->link.path = link_path::punched;  // the other side's punch: a hole it opened in its NAT
      }
    }
    auto [ec] = co_await c->stream.async_handshake(asio::ssl::stream_base::server, use_tuple);
    c->deadline.cancel();
    if (c->st == conn_state::closed) co_return;
    if (stopped_) co_return close_connection(c, error{errc::node_stopped});
    if (ec) {
      ++stats_.handshake_failures;
      co_return close_connection(c, error{errc::handshake_failed, ec.message()});
    }
    if (negotiated_probe(c->stream.native_handle())) co_return co_await run_probe_inbound(c);
    auto peer = authenticated_peer(c->stream.native_handle());
    if (!peer || *peer == me_) {
      ++stats_.handshake_failures;
      co_return close_connection(c, peer ? error{errc::handshake_failed, "peer has our own id"} : peer.error());
    }
    // A peer we are dialling (or waiting for: a reversal) is no stranger.
    if (c->over_share && !handler_.known_peer(*peer) && !dialling_.contains(*peer)) {
      ++stats_.refused_inbound_share;
      co_return close_connection(c, error{errc::connection_closed, "inbound connections are at their share of the "
                                                                    "table and the peer is not one we know"});
    }
    c->peer = *peer;
    c->dialer = *peer;
    c->outbound = false;
    if (!set_link(c)) co_return;
    begin_greeting(c);
    co_await read_loop(c);
  }

 public:
  // ---- dial-back probes (docs/PROTOCOL.md §19)

  // An accepted connection that negotiated the probe protocol: read one
  // frame (kind and a body of at most max_probe_payload bytes) within the
  // handshake timeout, hand it over, close. It keeps its inbound slots (per
  // source, pending handshakes) until then, like any handshake.
  asio::awaitable<void> run_probe_inbound(conn_ptr c) {
    auto peer = authenticated_peer(c->stream.native_handle(), alpn_probe_protocol);
    if (!peer || *peer == me_) {
      ++stats_.handshake_failures;
      co_return close_connection(c, peer ? error{errc::handshake_failed, "peer has our own id"} : peer.error());
    }
    probe_info info;
    info.peer = *peer;
    std::error_code ec;
    if (auto r = c->stream.lowest_layer().remote_endpoint(ec); !ec) info.remote = from_asio(r);
    if (auto l = c->stream.lowest_layer().local_endpoint(ec); !ec) info.local = from_asio(l);
    frame_reader reader(max_probe_payload);
    arm_deadline(c, cfg_.handshake_timeout);
    for (;;) {
      auto got = reader.next();
      if (!got) break;  // oversized or empty: dropped below
      if (*got) {
        c->deadline.cancel();
        const byte_span payload = **got;
        ++stats_.probes_received;
        if (probe_handler_) {
          probe_handler_(info, static_cast<frame_kind>(payload[0]), payload.subspan(1));
        } else {
          ++stats_.probes_dropped;
        }
        co_return close_connection(c, error{errc::connection_closed, "probe delivered"});
      }
      auto buf = reader.prepare(max_probe_payload + frame_header_size);
      auto [rec, n] = co_await c->stream.async_read_some(asio::buffer(buf.data(), buf.size()), use_tuple);
      if (rec || c->st == conn_state::closed) break;
      reader.commit(n);
    }
    c->deadline.cancel();
    ++stats_.probes_dropped;
    close_connection(c, error{errc::malformed_message, "probe connection sent no frame in time"});
  }

  void probe(const node_id& peer, const endpoint& address, bytes frame, probe_done done) {
    if (stopped_) return done(error{errc::node_stopped});
    if (all_.size() >= cfg_.max_connections) {
      ++stats_.refused_connection_cap;
      ++stats_.probes_failed;
      return done(error{errc::dial_failed, "connection cap reached"});
    }
    asio::co_spawn(io_, run_probe(shared_from_this(), peer, address, std::move(frame), std::move(done)),
                   asio::detached);
  }

  // Connects to `address` from an ephemeral port, proves by TLS that `peer`
  // is there, writes `frame`, and waits (briefly) for the peer to close:
  // its EOF says the frame was read.
  asio::awaitable<void> run_probe(std::shared_ptr<impl> /*keep alive*/, node_id peer, endpoint address, bytes frame,
                                  probe_done done) {
    task_count live(tasks_);
    auto c = make_connection();
    all_.insert(c);
    c->outbound = true;
    auto fail = [&](error e) {
      ++stats_.probes_failed;
      close_connection(c, e);
      done(std::move(e));
    };
    if (auto r = offer_probe_protocol(c->stream.native_handle()); !r) co_return fail(r.error());
    arm_deadline(c, cfg_.connect_timeout);
    auto [ec] = co_await c->stream.lowest_layer().async_connect(to_asio(address), use_tuple);
    c->deadline.cancel();
    if (stopped_ || c->st == conn_state::closed) co_return fail(error{errc::node_stopped});
    if (ec) co_return fail(error{errc::dial_failed, address.to_string() + ": " + ec.message()});
    tune_socket(c);
    arm_deadline(c, cfg_.handshake_timeout);
    auto [hec] = co_await c->stream.async_handshake(asio::ssl::stream_base::client, use_tuple);
    if (stopped_ || c->st == conn_state::closed) co_return fail(error{errc::node_stopped});
    if (hec) {
      ++stats_.handshake_failures;
      co_return fail(error{errc::handshake_failed, address.to_string() + ": " + hec.message()});
    }
    auto got = authenticated_peer(c->stream.native_handle(), alpn_probe_protocol);
    if (!got) co_return fail(error{got.error().code, address.to_string() + ": " + got.error().detail});
    if (*got != peer) {
      ++stats_.identity_mismatches;
      co_return fail(error{errc::peer_identity_mismatch,
                           address.to_string() + " is " + got->to_string() + ", not " + peer.to_string()});
    }
    auto [wec, wn] = co_await asio::async_write(c->stream, asio::buffer(frame.data(), frame.size()), use_tuple);
    (void)wn;
    if (stopped_ || c->st == conn_state::closed) co_return fail(error{errc::node_stopped});
    if (wec) co_return fail(error{errc::dial_failed, address.to_string() + ": writing the probe: " + wec.message()});
    // The peer sends nothing on a probe connection: a read ends with its close.
    std::array<std::byte, 64> sink{};
    auto [rec, rn] = co_await c->stream.async_read_some(asio::buffer(sink.data(), sink.size()), use_tuple);
    (void)rec;
    (void)rn;
    c->deadline.cancel();
    if (stopped_) co_return fail(error{errc::node_stopped});
    ++stats_.probes_sent;
    close_connection(c, error{errc::connection_closed, "probe delivered"});
    done({});
  }

 private:
  // Our listening address of `to`'s family, if any.
  std::optional<tcp::endpoint> listener_for(const tcp::endpoint& to) const {
    for (const auto& a : acceptors_) {
      std::error_code ec;
      auto l = a.local_endpoint(ec);
      if (!ec && l.protocol() == to.protocol()) return l;
    }
    return std::nullopt;
  }

  // Opens c's socket bound to our listen address and port (SO_REUSEADDR +
  // SO_REUSEPORT, as the listener). An error leaves the socket closed.
  std::error_code bind_to_listen_port(const conn_ptr& c, const tcp::endpoint& to) {
    auto l = listener_for(to);
    if (!l) return std::make_error_code(std::errc::address_family_not_supported);
    auto& s = c->stream.lowest_layer();
    std::error_code ec;
    s.open(l->protocol(), ec);
    if (!ec) s.set_option(tcp::socket::reuse_address(true), ec);
    if (!ec) ec = set_reuse_port(s.native_handle());
    if (!ec && l->address().is_v6()) s.set_option(asio::ip::v6_only(true), ec);
    if (!ec) s.bind(*l, ec);
    if (ec) {
      std::error_code ignored;
      s.close(ignored);
    }
    return ec;
  }

  // The TCP connect of a punch, redone on failure until `until`, then the
  // preambles and TLS in the role they decide (docs/PROTOCOL.md §19.8). The
  // connection, TLS-proved to be `peer`, or null (`last` says why).
  asio::awaitable<conn_ptr> punch_connect(node_id peer, endpoint address, steady::time_point until, error& last) {
    ++stats_.punches;
    asio::steady_timer gap(io_);
    for (;;) {
      if (stopped_ || direct_link(peer)) co_return nullptr;  // e.g. its connect reached our listener
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - steady::now());
      if (left.count() <= 0) {
        ++stats_.punches_timed_out;
        last = error{errc::dial_failed, "punching " + address.to_string() + ": no TCP connection within the window (" +
                                            last.detail + ")"};
        co_return nullptr;
      }
      if (all_.size() >= cfg_.max_connections) {
        ++stats_.refused_connection_cap;
        last = error{errc::dial_failed, "connection cap reached"};
        co_return nullptr;
      }
      auto c = make_connection();
      all_.insert(c);
      c->outbound = true;
      if (auto ec = bind_to_listen_port(c, to_asio(address))) {
        last = error{errc::dial_failed, "punching needs the listen port: " + ec.message()};
        close_connection(c, last);
        ++stats_.punches_failed_handshake;
        co_return nullptr;
      }
      ++stats_.punch_connects;
      arm_deadline(c, left);
      auto [ec] = co_await c->stream.lowest_layer().async_connect(to_asio(address), use_tuple);
      c->deadline.cancel();
      if (c->st == conn_state::closed || stopped_) {
        close_connection(c, error{errc::node_stopped});
        co_return nullptr;
      }
      if (ec) {
        // Refused (the other NAT had no mapping for us yet and answered with
        // a reset), unreachable, or the tuple is taken (its connect reached
        // our listener): try again shortly, while the window lasts.
        ++stats_.punch_connects_failed;
        last = error{errc::dial_failed, ec.message()};
        close_connection(c, last);
        gap.expires_after(std::min<std::chrono::milliseconds>(punch_retry_gap, left));
        co_await gap.async_wait(use_tuple);
        continue;
      }
      tune_socket(c);
      // Preambles: who is TLS client.
      arm_deadline(c, cfg_.handshake_timeout);
      std::array<std::uint8_t, 1> mine{punch_preamble}, theirs{0};
      auto [wec, wn] = co_await asio::async_write(c->stream.next_layer(), asio::buffer(mine), use_tuple);
      std::error_code rec;
      if (!wec) std::tie(rec, std::ignore) = co_await asio::async_read(c->stream.next_layer(), asio::buffer(theirs), use_tuple);
      bool client = false;
      if (!wec && !rec && theirs[0] == punch_preamble) {
        ++stats_.punch_simultaneous_opens;
        client = me_ < peer;  // the same rule on both ends
      } else if (!wec && !rec && theirs[0] == listener_preamble) {
        ++stats_.punch_listener_answers;
        client = true;  // its listener took our connect: it is the TLS server
      } else {
        c->deadline.cancel();
        if (c->st == conn_state::closed || stopped_) {
          close_connection(c, error{errc::node_stopped});
          co_return nullptr;
        }
        ++stats_.punches_failed_handshake;
        last = error{errc::handshake_failed, "punching " + address.to_string() + ": " +
                                                 (wec ? wec.message() : rec ? rec.message() : "no punch preamble")};
        close_connection(c, last);
        co_return nullptr;
      }
      auto [hec] = co_await c->stream.async_handshake(
          client ? asio::ssl::stream_base::client : asio::ssl::stream_base::server, use_tuple);
      c->deadline.cancel();
      if (c->st == conn_state::closed || stopped_) {
        close_connection(c, error{errc::node_stopped});
        co_return nullptr;
      }
      auto got = hec ? result<node_id>(error{errc::handshake_failed, hec.message()})
                     : authenticated_peer(c->stream.native_handle());
      if (!got || *got != peer) {
        ++stats_.punches_failed_handshake;
        if (!got) {
          ++stats_.handshake_failures;
          last = error{got.error().code, "punching " + address.to_string() + ": " + got.error().detail};
        } else {
          ++stats_.identity_mismatches;
          last = error{errc::peer_identity_mismatch,
                       address.to_string() + " is " + got->to_string() + ", not the punched " + peer.to_string()};
        }
        close_connection(c, last);
        co_return nullptr;
      }
      c->peer = peer;
      c->dialer = client ? me_ : peer;  // the duplicate rule's "dialled by": the TLS client, on both ends
      c->link.dialled = address;
      c->link.path = link_path::punched;
      c->link.client = client;
      c->punched = true;
      co_return c;
    }
  }

  // An end of a relay circuit (docs/PROTOCOL.md §19.9): TCP to the relay
  // (an ephemeral port), the preamble and token, the relay's byte once the
  // other end came (until `until`), then TLS to `peer` through it (smaller
  // id is client). The connection, TLS-proved to be `peer`, or null.
  asio::awaitable<conn_ptr> relay_connect(node_id peer, endpoint relay, relay_token token, steady::time_point until,
                                          error& last) {
    ++stats_.relay_dials;
    const auto fail = [&](error e) -> conn_ptr {
      ++stats_.relay_dials_failed;
      last = std::move(e);
      return nullptr;
    };
    if (all_.size() >= cfg_.max_connections) {
      ++stats_.refused_connection_cap;
      co_return fail(error{errc::dial_failed, "connection cap reached"});
    }
    auto c = make_connection();
    all_.insert(c);
    c->outbound = true;
    const auto left = [&] {
      return std::max(std::chrono::milliseconds(1),
                      std::chrono::duration_cast<std::chrono::milliseconds>(until - steady::now()));
    };
    arm_deadline(c, std::min(cfg_.connect_timeout, left()));
    auto [ec] = co_await c->stream.lowest_layer().async_connect(to_asio(relay), use_tuple);
    c->deadline.cancel();
    const auto gone = [&] { return c->st == conn_state::closed || stopped_; };
    if (gone()) {
      close_connection(c, error{errc::node_stopped});
      co_return nullptr;
    }
    if (ec) {
      close_connection(c, error{errc::dial_failed, ec.message()});
      co_return fail(error{errc::dial_failed, "relay " + relay.to_string() + ": " + ec.message()});
    }
    tune_socket(c);
    arm_deadline(c, left());
    std::array<std::uint8_t, 1 + std::tuple_size_v<relay_token>> head{};
    head[0] = relay_preamble;
    std::memcpy(head.data() + 1, token.data(), token.size());
    auto [wec, wn] = co_await asio::async_write(c->stream.next_layer(), asio::buffer(head), use_tuple);
    std::array<std::uint8_t, 1> answer{0};
    std::error_code rec;
    if (!wec) std::tie(rec, std::ignore) = co_await asio::async_read(c->stream.next_layer(), asio::buffer(answer), use_tuple);
    c->deadline.cancel();
    if (gone()) {
      close_connection(c, error{errc::node_stopped});
      co_return nullptr;
    }
    if (wec || rec || answer[0] != relay_preamble) {
      const std::string why = wec ? wec.message() : rec ? rec.message() : "not a relay answer";
      close_connection(c, error{errc::dial_failed, why});
      co_return fail(error{errc::dial_failed, "relay " + relay.to_string() + ": no circuit to " + peer.to_string() +
                                                  " (" + why + ")"});
    }
    const bool client = me_ < peer;
    arm_deadline(c, cfg_.handshake_timeout);
    auto [hec] = co_await c->stream.async_handshake(
        client ? asio::ssl::stream_base::client : asio::ssl::stream_base::server, use_tuple);
    c->deadline.cancel();
    if (gone()) {
      close_connection(c, error{errc::node_stopped});
      co_return nullptr;
    }
    auto got = hec ? result<node_id>(error{errc::handshake_failed, hec.message()})
                   : authenticated_peer(c->stream.native_handle());
    if (!got || *got != peer) {
      error e = !got ? error{got.error().code, "through relay " + relay.to_string() + ": " + got.error().detail}
                     : error{errc::peer_identity_mismatch, "through relay " + relay.to_string() + ": " +
                                                               got->to_string() + ", not " + peer.to_string()};
      if (!got) ++stats_.handshake_failures; else ++stats_.identity_mismatches;
      close_connection(c, e);
      co_return fail(std::move(e));
    }
    c->peer = peer;
    c->dialer = client ? me_ : peer;
    c->link.path = link_path::relayed;
    c->link.client = client;
    c->relayed = true;
    co_return c;
  }

  // A relay end that arrived at our listener (its first byte is the relay
  // preamble): its token, the circuit it belongs to, the wait for the other
  // end, then copying.
  asio::awaitable<void> run_relay_end(conn_ptr c) {
    std::array<std::uint8_t, 1 + std::tuple_size_v<relay_token>> head{};
    auto [rec, rn] = co_await asio::async_read(c->stream.next_layer(), asio::buffer(head), use_tuple);
    if (c->st == conn_state::closed) co_return;
    if (stopped_) co_return close_connection(c, error{errc::node_stopped});
    if (rec) {
      ++stats_.relay_refused;
      co_return close_connection(c, error{errc::connection_closed, "relay end: " + rec.message()});
    }
    relay_token token{};
    std::memcpy(token.data(), head.data() + 1, token.size());
    std::error_code ec;
    const auto remote = c->stream.lowest_layer().remote_endpoint(ec);
    const auto circuit = ec ? std::nullopt : relay_admit_(token, from_asio(remote));
    if (!circuit) {
      ++stats_.relay_refused;
      co_return close_connection(c, error{errc::connection_closed, "relay end for no circuit we serve"});
    }
    c->deadline.cancel();
    release_handshake_slot(c);  // no TLS here: it holds no handshake slot while it waits
    c->st = conn_state::relaying;
    auto w = relay_waiting_.find(token);
    if (w == relay_waiting_.end() || w->second->st == conn_state::closed) {
      // The first end: wait for the other.
      relay_waiting_[token] = c;
      c->relay = std::make_shared<relay_circuit>();
      c->relay->id = *circuit;
      asio::steady_timer wait(io_);
      wait.expires_after(cfg_.relay_pair_timeout);
      c->relay_wait = &wait;
      co_await wait.async_wait(use_tuple);
      c->relay_wait = nullptr;
      if (auto again = relay_waiting_.find(token); again != relay_waiting_.end() && again->second == c)
        relay_waiting_.erase(again);
      auto partner = c->relay_partner.lock();
      if (!partner || c->st == conn_state::closed || stopped_) {
        if (!partner) {
          ++stats_.relay_unpaired;
          if (relay_done_ && !c->relay->ended) relay_done_(c->relay->id, 0, false);
          c->relay->ended = true;
        }
        co_return close_connection(c, error{errc::connection_closed, "relay end: the other end never came"});
      }
      co_return co_await relay_copy(c, partner);
    }
    // The second end: pair, answer both, copy.
    auto first = w->second;
    relay_waiting_.erase(w);
    c->relay = first->relay;
    c->relay_partner = first;
    first->relay_partner = c;
    ++stats_.relay_circuits;
    const std::array<std::uint8_t, 1> go{relay_preamble};
    auto [e1, n1] = co_await asio::async_write(first->stream.next_layer(), asio::buffer(go), use_tuple);
    auto [e2, n2] = co_await asio::async_write(c->stream.next_layer(), asio::buffer(go), use_tuple);
    if (first->relay_wait) first->relay_wait->cancel();  // the first end copies its way from now on
    if (e1 || e2 || c->st == conn_state::closed || first->st == conn_state::closed || stopped_) {
      end_circuit(c, first);
      co_return;
    }
    arm_deadline(c, cfg_.relay_max_duration);  // its close ends both directions
    co_await relay_copy(c, first);
  }

  // Copies what `from` sends to `to` until either closes or a limit is hit.
  asio::awaitable<void> relay_copy(conn_ptr from, conn_ptr to) {
    std::vector<std::uint8_t> buf(16 * 1024);
    while (from->st != conn_state::closed && to->st != conn_state::closed && !stopped_) {
      auto [rec, n] = co_await from->stream.next_layer().async_read_some(asio::buffer(buf), use_tuple);
      if (rec || from->st == conn_state::closed || to->st == conn_state::closed || stopped_) break;
      from->relay->bytes += n;
      if (from->relay->bytes > cfg_.relay_max_bytes) {
        ++stats_.relay_limit_closes;
        break;
      }
      auto [wec, wn] = co_await asio::async_write(to->stream.next_layer(), asio::buffer(buf.data(), n), use_tuple);
      if (wec) break;
      stats_.relay_bytes += n;
    }
    end_circuit(from, to);
  }

  // Both ends close; the owner hears once how much the circuit carried.
  void end_circuit(const conn_ptr& a, const conn_ptr& b) {
    auto circuit = a->relay;
    if (circuit && !circuit->ended) {
      circuit->ended = true;
      if (relay_done_) relay_done_(circuit->id, circuit->bytes, true);
    }
    a->relay_partner.reset();
    b->relay_partner.reset();
    close_connection(a, error{errc::connection_closed, "relay circuit ended"});
    close_connection(b, error{errc::connection_closed, "relay circuit ended"});
  }

  asio::awaitable<void> run_dial(std::shared_ptr<impl> /*keep alive*/, node_id peer, std::vector<endpoint> addresses,
                                 bool reversing, dial_mode mode) {
    task_count live(tasks_);
    error last{errc::dial_failed, "no address known for " + peer.to_string()};
    bool give_up = false;
    // Whether every address failed at the TCP connect (refused, timed out,
    // unreachable): then the peer may well be behind a NAT, and a reversal
    // can still reach it. Not after TLS or the hello failed (someone else
    // answers there, or the peer itself refused us).
    bool connect_failures_only = true;
    bool waited = false;  // at most one reversal wait per dial...
    bool relay_asked = false;  // ...and one more for a relay after a failed punch
    bool reversal_reached = false;
    for (;;) {
      for (const auto& address : addresses) {
        if (give_up) break;
        if (mode.k != dial_mode::kind::normal) {
          // A punch (only from the listen port, again until the window
          // ends), or an end of a relay circuit.
          connect_failures_only = false;
          if (stopped_ || direct_link(peer)) break;
          // (No co_await inside a conditional expression: GCC 12 destroys
          // the result's temporaries too early there.)
          conn_ptr c;
          if (mode.k == dial_mode::kind::punch) {
            c = co_await punch_connect(peer, address, mode.until, last);
          } else {
            c = co_await relay_connect(peer, address, mode.token, mode.until, last);
          }
          if (stopped_) co_return;
          if (!c) continue;
          if (!set_link(c)) {
            last = c->close_reason;
            break;
          }
          begin_greeting(c);
          if (waited) c->reversal_reached = &reversal_reached;
          co_await read_loop(c);
          c->reversal_reached = nullptr;
          if (c->established || stopped_) co_return;
          last = c->close_reason;
          break;
        }
        // First from our listen port (a NAT that keeps one external port per
        // local port then shows peers a dialable address, docs/PROTOCOL.md
        // §10.7), then, where that failed for a reason of its own, from an
        // ephemeral port.
        const bool port_first = cfg_.dial_from_listen_port && listener_for(to_asio(address)).has_value();
        for (int pass = port_first ? 0 : 1; pass < 2 && !give_up; ++pass) {
          const bool from_port = pass == 0;
          if (stopped_ || active_.contains(peer)) {  // e.g. the peer dialled us meanwhile
            give_up = true;
            break;
          }
          if (all_.size() >= cfg_.max_connections) {
            ++stats_.refused_connection_cap;
            last = error{errc::dial_failed, "connection cap reached"};
            connect_failures_only = false;
            give_up = true;
            break;
          }
          auto c = make_connection();
          all_.insert(c);
          c->outbound = true;
          if (from_port) {
            if (auto ec = bind_to_listen_port(c, to_asio(address))) {
              ++stats_.listen_port_fallbacks;
              close_connection(c, error{errc::dial_failed, "binding the listen port: " + ec.message()});
              continue;  // an ephemeral port
            }
          }
          arm_deadline(c, cfg_.connect_timeout);
          auto [ec] = co_await c->stream.lowest_layer().async_connect(to_asio(address), use_tuple);
          c->deadline.cancel();
          if (c->st == conn_state::closed || stopped_) {
            close_connection(c, error{errc::node_stopped});
            co_return;
          }
          if (ec) {
            last = error{errc::dial_failed, address.to_string() + ": " + ec.message()};
            close_connection(c, last);
            if (from_port && tuple_taken(ec)) {
              ++stats_.listen_port_fallbacks;
              continue;
            }
            break;  // the next address
          }
          tune_socket(c);
          arm_deadline(c, cfg_.handshake_timeout);
          auto [hec] = co_await c->stream.async_handshake(asio::ssl::stream_base::client, use_tuple);
          c->deadline.cancel();
          if (c->st == conn_state::closed || stopped_) {
            close_connection(c, error{errc::node_stopped});
            co_return;
          }
          if (hec) {
            ++stats_.handshake_failures;
            connect_failures_only = false;
            last = error{errc::handshake_failed, address.to_string() + ": " + hec.message()};
            close_connection(c, last);
            // Two nodes that dial each other at the same instant from their
            // listen ports get one TCP connection (simultaneous open) on which
            // both speak as TLS client: each tries again from an ephemeral
            // port, and the duplicate rule keeps one of the two connections.
            // (A refusal ends as EOF or a reset, not as a TLS protocol error.)
            if (from_port && hec.category() == asio::error::get_ssl_category()) {
              ++stats_.listen_port_fallbacks;
              continue;
            }
            break;
          }
          auto got = authenticated_peer(c->stream.native_handle());
          connect_failures_only = false;
          if (!got) {
            ++stats_.handshake_failures;
            last = error{got.error().code, address.to_string() + ": " + got.error().detail};
            close_connection(c, last);
            break;
          }
          if (*got != peer) {
            ++stats_.identity_mismatches;
            last = error{errc::peer_identity_mismatch,
                         address.to_string() + " is " + got->to_string() + ", not the dialled " + peer.to_string()};
            close_connection(c, last);
            break;
          }
          c->peer = peer;
          c->dialer = me_;
          c->link.dialled = address;
          c->link.client = true;
          if (!set_link(c)) {
            last = c->close_reason;
            break;
          }
          begin_greeting(c);
          if (waited) c->reversal_reached = &reversal_reached;
          co_await read_loop(c);  // on the peer's hello: adopt(), which takes the frames queued while dialling
          c->reversal_reached = nullptr;
          if (c->established || stopped_) co_return;
          // The peer is who we dialled but the hello exchange failed (another
          // major version, a bad hello, none in time): its other addresses lead
          // to the same node, so the dial fails here.
          last = c->close_reason;
          give_up = true;
        }
      }
      if (stopped_) co_return;
      if (active_.contains(peer)) break;
      if (waited) {
        // A punch that failed: ask for a relay and wait once more (once per dial).
        if (mode.k != dial_mode::kind::punch || relay_asked || !punch_failed_handler_) break;
        relay_asked = true;
        if (!punch_failed_handler_(peer) || active_.contains(peer) || stopped_) break;
        mode = dial_mode{};
      } else {
        if (!reversing && !addresses.empty() && connect_failures_only && reverse_handler_)
          reversing = reverse_handler_(peer);
        if (!reversing || active_.contains(peer) || stopped_) break;
        ++stats_.reversals_waited;
        waited = true;
      }
      // Frames keep queuing for the peer meanwhile; adopt() of its
      // connection (or reverse_failed(), dial() with new addresses, or
      // stop()) ends the wait early.
      asio::steady_timer wait(io_);
      wait.expires_after(cfg_.reverse_timeout);
      reverse_waits_[peer] = &wait;
      co_await wait.async_wait(use_tuple);
      if (auto w = reverse_waits_.find(peer); w != reverse_waits_.end() && w->second == &wait) reverse_waits_.erase(w);
      if (stopped_) co_return;
      auto delivered = reverse_delivered_.extract(peer);
      if (auto m = mode_delivered_.extract(peer)) mode = m.mapped();
      if (active_.contains(peer) || !delivered) break;
      // The peer asked for a reversal too and a helper told us where it saw
      // it: dial that address (our dials to it end up where its own would).
      addresses = std::move(delivered.mapped());
      give_up = false;
    }
    if (waited && !reversal_reached) {
      if (active_.contains(peer)) {
        ++stats_.reversals_connected;
      } else {
        ++stats_.reversals_failed;
        last = error{errc::dial_failed, (addresses.empty() ? "no address we may dial for " + peer.to_string()
                                                           : last.detail) +
                                            "; a connection reversal did not bring it either"};
      }
    }
    auto d = dialling_.find(peer);
    if (d != dialling_.end()) {
      if (!d->second.empty()) ++stats_.dial_queue_drops;
      queued_total_ -= d->second.size();
      dialling_.erase(d);
    }
    if (auto a = active_.find(peer); a != active_.end()) {
      // Reached through an inbound connection instead; or this was a punch
      // to upgrade a relayed connection, which stays.
      if (mode.k == dial_mode::kind::punch && a->second->relayed) {
        ++stats_.upgrades_failed;
        handler_.on_upgrade_failed(peer, last);
      }
      co_return;
    }
    ++stats_.dial_failures;
    handler_.on_disconnected(peer, last);
  }

  // A connection finished its handshake: make it the peer's connection, or
  // resolve a duplicate (see the header comment).
  void adopt(const conn_ptr& c) {
    const auto now = steady::now();
    c->last_rx = c->last_tx = now;
    auto it = active_.find(c->peer);
    if (it == active_.end()) {
      c->st = conn_state::active;
      active_.emplace(c->peer, c);
      // A dial waiting for this peer's reversed connection: here it is.
      if (auto w = reverse_waits_.find(c->peer); w != reverse_waits_.end()) w->second->cancel();
      if (auto d = dialling_.find(c->peer); d != dialling_.end() && !d->second.empty()) {
        // Behind our hello, if that is still queued.
        c->out.insert(c->out.end(), d->second.begin(), d->second.end());
        d->second.clear();
        if (c->writer_waiting) c->wake.cancel();
      }
      handler_.on_connected(c->peer);
      if (c->st == conn_state::active) handler_.on_link(c->peer, c->link);
      return;
    }
    ++stats_.duplicate_connections;
    conn_ptr old = it->second;
    // A direct (or punched) connection beats a relayed one, on both ends
    // alike; between two of a kind the one the smaller id dialled wins.
    const bool keep_new = old->relayed != c->relayed ? old->relayed
                                                      : old->dialer == c->dialer || c->dialer < old->dialer;
    if (keep_new && old->relayed && !c->relayed) ++stats_.upgrades;
    if (keep_new) {
      c->st = conn_state::active;
      it->second = c;
      retire(old);
      handler_.on_link(c->peer, c->link);
    } else {
      retire(c);
    }
  }

  // Numbers the connection and derives its exporter value (both ends get
  // the same 32 bytes). False (the connection closed) if OpenSSL fails.
  bool set_link(const conn_ptr& c) {
    c->link.id = ++link_ids_;
    std::error_code ec;
    const auto remote = c->stream.lowest_layer().remote_endpoint(ec);
    if (!ec) c->link.remote = from_asio(remote);
    const auto local = c->stream.lowest_layer().local_endpoint(ec);
    if (!ec) c->link.local = from_asio(local);
    auto* out = reinterpret_cast<unsigned char*>(c->link.exporter.data());
    if (SSL_export_keying_material(c->stream.native_handle(), out, c->link.exporter.size(), exporter_label.data(),
                                   exporter_label.size(), nullptr, 0, 1) != 1) {
      ++stats_.handshake_failures;
      close_connection(c, error{errc::handshake_failed, "TLS exporter unavailable"});
      return false;
    }
    return true;
  }

  void retire(const conn_ptr& c) {
    c->st = conn_state::retired;
    c->close_at = steady::now() + cfg_.duplicate_grace;
  }

  // TLS is up and the peer authenticated: send our hello and start the
  // writer; the reader waits for the peer's hello (see on_first_frame).
  void begin_greeting(const conn_ptr& c) {
    c->st = conn_state::greeting;
    c->hello_deadline = steady::now() + cfg_.handshake_timeout;
    enqueue(c, hello_frame_);
    asio::co_spawn(io_, write_loop(shared_from_this(), c), asio::detached);
  }

  // The first frame of a greeting connection: it must be an acceptable
  // hello. False when the connection was closed instead.
  bool on_first_frame(const conn_ptr& c, frame_kind kind, byte_span body) {
    if (kind != frame_kind::hello) {
      ++stats_.hello_violations;
      close_connection(c,
                       error{errc::handshake_failed, "peer sent a frame of " + describe(kind) + " before its hello"});
      return false;
    }
    auto h = decode_hello(body);
    if (!h) {
      ++stats_.hello_malformed;
      close_connection(c, error{h.error().code, "peer's hello: " + h.error().detail});
      return false;
    }
    if (h->version.major != protocol_version_current.major) {
      ++stats_.version_mismatches;
      close_connection(c, error{errc::handshake_failed, "peer speaks protocol version " + version_string(h->version) +
                                                            ", we speak " + version_string(protocol_version_current) +
                                                            " (major versions must match)"});
      return false;
    }
    c->peer_kinds = h->kinds;
    c->established = true;
    release_handshake_slot(c);
    if (c->outbound) {
      ++stats_.dialled;
      if (c->punched) ++stats_.punches_connected;
      if (c->relayed) ++stats_.relay_dials_connected;
      if (c->reversal_reached && !*c->reversal_reached) {
        *c->reversal_reached = true;
        ++stats_.reversals_connected;
      }
      adopt(c);  // takes the frames queued while dialling
      if (auto d = dialling_.find(c->peer); d != dialling_.end()) {
        queued_total_ -= d->second.size();  // not taken (a duplicate won): dropped
        dialling_.erase(d);
      }
    } else {
      ++stats_.accepted;
      adopt(c);
    }
    return c->st != conn_state::closed;
  }

  static std::string version_string(protocol_version v) {
    return std::to_string(v.major) + "." + std::to_string(v.minor);
  }

  void release_handshake_slot(const conn_ptr& c) {
    if (c->holds_ip_handshake) {
      c->holds_ip_handshake = false;
      uncount(handshakes_by_ip_, c->src->ip);
    }
    if (!c->holds_handshake_slot) return;
    c->holds_handshake_slot = false;
    --inbound_handshakes_;
  }

  static std::size_t count(const std::map<address_key, std::size_t>& m, const address_key& k) {
    auto it = m.find(k);
    return it == m.end() ? 0 : it->second;
  }
  static void uncount(std::map<address_key, std::size_t>& m, const address_key& k) {
    auto it = m.find(k);
    if (it != m.end() && --it->second == 0) m.erase(it);
  }

  // Whether `n` more bytes fit in the node's total send budget, after closing
  // the connections with the longest queues (the slowest peers) while they
  // do not. False when `self` (the connection the bytes are for, or null for
  // a dial queue) itself got closed or nothing else can be freed.
  bool make_room(const conn_ptr& self, std::size_t n) {
    while (queued_total_ + n > cfg_.max_total_send_queue_bytes) {
      conn_ptr longest;
      for (const auto& c : all_)
        if (c->st != conn_state::closed && c->queued() > 0 && (!longest || c->queued() > longest->queued()))
          longest = c;
      if (!longest) return false;  // only dial queues hold the budget
      if (self && self->queued() >= longest->queued()) longest = self;
      ++stats_.send_budget_closes;
      close_connection(longest, error{errc::connection_closed,
                                      "peer too slow: the node's send queues reached " +
                                          std::to_string(cfg_.max_total_send_queue_bytes) +
                                          " bytes and this peer's was the longest"});
      if (longest == self) return false;
    }
    return true;
  }

  // By value: `c` may be the map entry of active_ that closing it erases.
  void enqueue(conn_ptr c, byte_span frame) {
    if (c->st == conn_state::closed) return;
    if (c->queued() + frame.size() > cfg_.max_send_queue_bytes) {
      ++stats_.send_queue_overflows;
      close_connection(c, error{errc::connection_closed, "peer too slow: send queue over " +
                                                             std::to_string(cfg_.max_send_queue_bytes) + " bytes"});
      return;
    }
    // (closing a slower peer runs handlers, which may close this one too)
    if (!make_room(c, frame.size()) || c->st == conn_state::closed) return;
    queued_total_ += frame.size();
    c->out.insert(c->out.end(), frame.begin(), frame.end());
    ++stats_.frames_out;
    if (c->writer_waiting) c->wake.cancel();
  }

  asio::awaitable<void> write_loop(std::shared_ptr<impl> /*keep alive*/, conn_ptr c) {
    task_count live(tasks_);
    for (;;) {
      if (c->st == conn_state::closed) co_return;
      if (c->out.empty()) {
        if (c->st == conn_state::flushing) {
          // Everything is written: half-close; the reader waits for the peer's close.
          std::error_code ignored;
          c->stream.lowest_layer().shutdown(tcp::socket::shutdown_send, ignored);
          co_return;
        }
        if (c->st == conn_state::retired) co_return;
        c->writer_waiting = true;
        c->wake.expires_at(steady::time_point::max());
        co_await c->wake.async_wait(use_tuple);
        c->writer_waiting = false;
        continue;
      }
      std::swap(c->out, c->writing);
      // Written in bounded chunks so that a stalled peer (one chunk taking
      // longer than send_stall_timeout) is told apart from a long queue.
      for (std::size_t off = 0; off < c->writing.size();) {
        const std::size_t n = std::min(write_chunk, c->writing.size() - off);
        c->write_started = steady::now();
        c->write_in_progress = true;
        auto [ec, written] = co_await asio::async_write(c->stream, asio::buffer(c->writing.data() + off, n), use_tuple);
        c->write_in_progress = false;
        if (c->st == conn_state::closed) co_return;
        if (ec) co_return close_connection(c, error{errc::connection_closed, "write: " + ec.message()});
        off += written;
        c->written = off;
        queued_total_ -= written;
        stats_.bytes_out += written;
        c->last_tx = steady::now();
        // Per chunk, so a publisher waiting on back-pressure resumes as soon
        // as this connection is below the level, not after the whole batch.
        if (c->queued() <= cfg_.send_backpressure_bytes && !stopped_) handler_.on_send_ready();
        if (c->st == conn_state::closed) co_return;
      }
      c->writing.clear();
      c->written = 0;
    }
  }

  asio::awaitable<void> read_loop(conn_ptr c) {
    for (;;) {
      auto buf = c->reader.prepare(read_chunk);
      auto [ec, n] = co_await c->stream.async_read_some(asio::buffer(buf.data(), buf.size()), use_tuple);
      if (c->st == conn_state::closed) co_return;
      if (ec) co_return close_connection(c, error{errc::connection_closed, ec.message()});
      c->reader.commit(n);
      stats_.bytes_in += n;
      const auto now = steady::now();
      for (;;) {
        auto f = c->reader.next();
        if (!f) {
          if (f.error() == errc::message_too_large)
            ++stats_.oversized_frames;
          else
            ++stats_.malformed_frames;
          co_return close_connection(c, f.error());
        }
        if (!*f) break;
        const byte_span payload = **f;
        ++stats_.frames_in;
        // Only whole frames count as a sign of life: a peer trickling one
        // byte at a time cannot hold a connection open forever.
        c->last_rx = now;
        const auto kind = static_cast<frame_kind>(payload[0]);
        const byte_span body = payload.subspan(1);
        if (!c->established) {
          if (!on_first_frame(c, kind, body)) co_return;
        } else if (kind == frame_kind::hello) {
          ++stats_.hello_violations;
          co_return close_connection(c, error{errc::malformed_message, "peer sent a second hello"});
        } else if (kind == frame_kind::keepalive) {
          if (!body.empty()) {
            ++stats_.malformed_frames;
            co_return close_connection(c, error{errc::malformed_message, "keepalive frame with a body"});
          }
        } else if (const auto& handler = handlers_[static_cast<std::uint8_t>(kind)]) {
          if (!stopped_) handler(c->peer, c->link, body);
        } else {
          // A kind of a later version or an experiment: the peer may send
          // what we do not speak (docs/PROTOCOL.md §10.5).
          ++stats_.frames_unknown_kind;
        }
        if (c->st == conn_state::closed || stopped_) co_return;
      }
    }
  }

  // The one teardown path of a connection.
  void close_connection(const conn_ptr& c, const error& why) {
    if (c->st == conn_state::closed) return;
    c->st = conn_state::closed;
    c->close_reason = why;
    release_handshake_slot(c);
    if (c->counted_inbound) {
      c->counted_inbound = false;
      --inbound_;
      if (c->src) {
        uncount(inbound_by_ip_, c->src->ip);
        uncount(inbound_by_prefix_, c->src->prefix);
      }
    }
    // Its queue leaves the node's budget now; the bytes of a write in flight
    // are freed with the connection when the writer returns.
    queued_total_ -= c->queued();
    c->out = bytes{};
    c->written = c->writing.size();
    std::error_code ignored;
    c->stream.lowest_layer().close(ignored);
    c->wake.cancel();
    c->deadline.cancel();
    if (c->relay_wait) c->relay_wait->cancel();
    all_.erase(c);
    auto it = active_.find(c->peer);
    if (it != active_.end() && it->second == c) {
      active_.erase(it);
      if (!stopped_) handler_.on_disconnected(c->peer, why);
    }
  }

  asio::awaitable<void> tick_loop(std::shared_ptr<impl> /*keep alive*/) {
    task_count live(tasks_);
    const auto period = std::clamp(cfg_.keepalive_interval / 4, std::chrono::milliseconds(10),
                                   std::chrono::milliseconds(250));
    bytes keepalive;
    append_frame(keepalive, frame_kind::keepalive, {});
    while (!stopped_) {
      tick_.expires_after(period);
      co_await tick_.async_wait(use_tuple);  // cancelled only by stop()
      if (stopped_) co_return;
      const auto now = steady::now();
      for (auto& c : std::vector<conn_ptr>(all_.begin(), all_.end())) {
        if (c->st == conn_state::handshaking || c->st == conn_state::relaying || c->st == conn_state::closed) continue;
        if (c->st == conn_state::greeting) {
          if (now >= c->hello_deadline) {
            ++stats_.hello_timeouts;
            close_connection(c, error{errc::timeout, "no hello from the peer within " +
                                                         std::to_string(cfg_.handshake_timeout.count()) +
                                                         " ms of the TLS handshake"});
          }
          continue;
        }
        if ((c->st == conn_state::retired || c->st == conn_state::flushing) && now >= c->close_at) {
          close_connection(c, error{errc::connection_closed, "retired"});
        } else if (c->write_in_progress && now - c->write_started > cfg_.send_stall_timeout) {
          ++stats_.stalled_connections;
          close_connection(c, error{errc::connection_closed, "peer stalled: a write made no progress for " +
                                                                 std::to_string(cfg_.send_stall_timeout.count()) +
                                                                 " ms (it stopped reading)"});
        } else if (now - c->last_rx > cfg_.idle_timeout) {
          ++stats_.idle_timeouts;
          close_connection(c, error{errc::timeout, "nothing received for " +
                                                       std::to_string(cfg_.idle_timeout.count()) + " ms"});
        } else if (c->st == conn_state::active && now - c->last_tx >= cfg_.keepalive_interval && c->queued() == 0) {
          enqueue(c, keepalive);
          c->last_tx = now;
        }
      }
    }
  }

  asio::io_context& io_;
  asio::ssl::context ctx_;
  node_id me_;
  config cfg_;
  transport_handler& handler_;
  std::array<link_frame_handler, 256> handlers_;  // by kind byte; empty: not spoken here
  probe_handler probe_handler_;                   // empty: probes are read and dropped
  reverse_handler reverse_handler_;               // empty: a dial with no address fails
  // Dials waiting for a reversed connection: their timers (in the dial's
  // coroutine frame), to cancel when the peer connects.
  std::map<node_id, asio::steady_timer*> reverse_waits_;
  std::map<node_id, std::vector<endpoint>> reverse_delivered_;  // for a waiting dial (dial(), punch())
  std::map<node_id, dial_mode> mode_delivered_;                 // ... to punch or relay (punch(), relay_dial())
  reverse_handler punch_failed_handler_;  // empty: a failed punch fails its dial
  relay_admit relay_admit_;  // empty: we serve no relays
  relay_done relay_done_;
  std::map<relay_token, conn_ptr> relay_waiting_;  // first ends, by token
  std::uint64_t link_ids_ = 0;
  bytes hello_frame_;                        // ours, built by run()
  bool running_ = false;
  std::vector<tcp::acceptor> acceptors_;
  asio::steady_timer tick_;
  std::set<conn_ptr> all_;                       // every connection not yet closed
  std::map<node_id, conn_ptr> active_;           // the one written connection per peer
  std::map<node_id, bytes> dialling_;            // frames queued while dialling
  std::size_t queued_total_ = 0;                 // all connections' queued() plus the dial queues
  std::size_t inbound_handshakes_ = 0;
  std::size_t inbound_ = 0;  // inbound connections not yet closed
  // Per-source counts of inbound connections from limited sources (entries
  // removed at zero, so bounded by the connections themselves).
  std::map<address_key, std::size_t> inbound_by_ip_, inbound_by_prefix_, handshakes_by_ip_;
  std::size_t tasks_ = 0;
  bool stopped_ = false;
  net::stats stats_;
};

transport::transport(std::shared_ptr<impl> i) : impl_(std::move(i)) {}
transport::~transport() { impl_->stop(); }

void transport::run() { impl_->run(); }
void transport::stop() { impl_->stop(); }
std::vector<endpoint> transport::local_endpoints() const { return impl_->local_endpoints(); }
transport::send_status transport::send(const node_id& peer, byte_span frame) { return impl_->send(peer, frame); }
void transport::dial(const node_id& peer, std::vector<endpoint> addresses) { impl_->dial(peer, std::move(addresses)); }
void transport::close_after_flush(const node_id& peer) { impl_->close_after_flush(peer); }
std::size_t transport::close_stranded() { return impl_->close_stranded(); }

bool transport::connected(const node_id& peer) const { return impl_->connected(peer); }
bool transport::direct_link(const node_id& peer) const { return impl_->direct_link(peer); }
bool transport::peer_speaks(const node_id& peer, frame_kind kind) const { return impl_->peer_speaks(peer, kind); }
void transport::handle_kind(frame_kind kind, frame_handler h) { impl_->handle_kind(kind, std::move(h)); }
void transport::handle_kind(frame_kind kind, link_frame_handler h) { impl_->handle_kind(kind, std::move(h)); }
void transport::on_probe(probe_handler h) { impl_->on_probe(std::move(h)); }
void transport::on_reverse(reverse_handler h) { impl_->on_reverse(std::move(h)); }
void transport::reverse_failed(const node_id& peer) { impl_->reverse_failed(peer); }
void transport::on_relay(relay_admit admit, relay_done done) { impl_->on_relay(std::move(admit), std::move(done)); }
void transport::on_punch_failed(reverse_handler h) { impl_->on_punch_failed(std::move(h)); }
bool transport::relay_dial(const node_id& peer, const endpoint& relay, const relay_token& token,
                           std::chrono::milliseconds window) {
  return impl_->relay_dial(peer, relay, token, window);
}
bool transport::punch(const node_id& peer, const endpoint& address, std::chrono::milliseconds window) {
  return impl_->punch(peer, address, window);
}
void transport::probe(const node_id& peer, const endpoint& address, bytes frame, probe_done done) {
  impl_->probe(peer, address, std::move(frame), std::move(done));
}
std::optional<link_info> transport::link(const node_id& peer) const { return impl_->link(peer); }
bool transport::dialling(const node_id& peer) const { return impl_->dialling(peer); }
bool transport::awaiting_reversal(const node_id& peer) const { return impl_->awaiting_reversal(peer); }
std::vector<node_id> transport::connected_peers() const { return impl_->connected_peers(); }
bool transport::send_ready() const { return impl_->send_ready(); }
net::stats transport::stats() const { return impl_->stats(); }
std::size_t transport::tasks() const { return impl_->tasks(); }

result<std::unique_ptr<transport>> transport::create(asio::io_context& io, const keypair& keys,
                                                     std::vector<endpoint> listen, config cfg,
                                                     transport_handler& handler) {
  // Every peer's hello must fit in a frame, or no connection could start.
  constexpr std::size_t largest_hello = 1 + hello_header_size + max_hello_kinds;
  if (cfg.max_frame_payload < largest_hello)
    return error{errc::invalid_argument, "max_frame_payload of " + std::to_string(cfg.max_frame_payload) +
                                             " bytes is below the largest hello (" + std::to_string(largest_hello) +
                                             " bytes)"};
  auto ctx = make_tls_context(keys);
  if (!ctx) return ctx.error();
  auto i = std::make_shared<impl>(io, std::move(*ctx), *node_id::from_span(keys.public_key().span()), cfg, handler);
  if (auto r = i->bind(listen); !r) return r.error();
  return std::unique_ptr<transport>(new transport(std::move(i)));
}

}  // namespace topicswarm::net
