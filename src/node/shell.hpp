// What a driver may use of the node (DESIGN.md §3, issue 12). The node is
// wiring: it owns the executor, the transport, the DHT client, the address
// book and the one OS timer, and hands each driver this interface. A driver
// turns its core's effects (core/effects.hpp) into calls on it.
//
// Everything here runs on the node's thread; nothing may be called from
// elsewhere except where a comment says so.
#pragma once

#include "core/peer_info.hpp"
#include "core/time.hpp"
#include "net/transport.hpp"
#include "node/address_book.hpp"

#include <topicswarm/dht_client.hpp>
#include <topicswarm/node.hpp>
#include <topicswarm/identity.hpp>

#include <asio/io_context.hpp>

#include <cstdint>
#include <functional>
#include <optional>

namespace topicswarm::detail {

class shell {
 public:
  virtual ~shell() = default;

  // Monotonic time of the cores (microseconds since the node started).
  virtual core::instant now() const = 0;
  // Wall-clock unix milliseconds (DHT record windows).
  virtual std::uint64_t unix_ms() const = 0;

  virtual asio::io_context& io() = 0;
  virtual net::transport& transport() = 0;
  // Null when the DHT is off.
  virtual dht::client* dht() = 0;
  virtual address_book& book() = 0;
  virtual const core::peer_info& me() const = 0;
  virtual const identity& self() const = 0;
  // Our own addresses for our record: advertised, else listened on (never
  // unspecified, never one a third party told us: docs/PROTOCOL.md §13).
  virtual std::vector<endpoint> record_addresses() const = 0;

  // Closes the connection to `peer` once what is queued for it is written
  // (the close effect). `why` is the cause node events report.
  virtual void close(const node_id& peer, const char* why) = 0;

  // Runs `f` on a later turn of the node's loop; false once stopped.
  // (Any thread.)
  virtual bool post(std::function<void()> f) = 0;
  virtual bool stopped() const = 0;
  // A driver added timers: the node re-arms its OS timer if needed.
  virtual void timers_changed() = 0;

  // Waiting API operations, by waiter id: `abort` runs when the caller
  // cancels its operation (per-operation cancellation).
  virtual void on_abort(std::uint64_t waiter, std::function<void()> abort) = 0;
  virtual void forget_abort(std::uint64_t waiter) = 0;
};

// The contract every driver keeps with the node. The node calls these on
// its thread; a driver performs its core's effects through the shell.
class driver {
 public:
  virtual ~driver() = default;
  // The earliest timer this driver has queued (core::timer_queue).
  virtual std::optional<core::instant> next_timer() const = 0;
  // Feeds the timers due at `now` to the core.
  virtual void fire_timers(core::instant now) = 0;
  // Connection events from the transport.
  virtual void on_connected(const node_id&) {}
  virtual void on_disconnected(const node_id&, const error&) {}
  virtual void on_send_ready() {}
  // Shutdown: first tell peers (begin), then release every waiter (finish).
  virtual void begin_stop() {}
  virtual void finish_stop() {}
  virtual void add_stats(node_stats&) const {}
  virtual std::size_t timers() const = 0;
};

}  // namespace topicswarm::detail
