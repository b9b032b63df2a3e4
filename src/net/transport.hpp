// The connection manager: TLS 1.3 over TCP, one connection per peer.
//
// Runs entirely on one single-threaded io_context (the node's). It accepts
// and dials, authenticates peers by their certificate key (tls.hpp), frames
// the byte stream (frame.hpp), exchanges hellos (hello.hpp) and routes every
// frame to the handler registered for its kind; it knows no protocol above
// framing. It resolves simultaneous dials so that each pair of peers keeps
// exactly one connection: both sides keep the connection dialled by the
// smaller node id, the same rule on both ends (a connection dialled by the
// same side as an existing one replaces it: the peer restarted or
// redialled), except that a connection through a relay always gives way to
// one that is not. The loser is retired: it is read but no longer written for
// `duplicate_grace`, so frames already in flight on it arrive.
//
// A connection's life: TCP connect, TLS handshake (handshake_timeout), then
// both sides send a hello at once and wait for the peer's (again
// handshake_timeout). Only a connection whose peer sent a valid hello of our
// major version is established: on_connected, frames delivered, send() goes
// to it. Anything else first, a second hello, a malformed one or another
// major version closes it (docs/PROTOCOL.md §10.5).
//
// Every connection has a reader and a writer coroutine; all teardown goes
// through close_connection(). Limits: connection and pending-handshake caps,
// per-source caps on inbound connections (per IP, per /24 or /48, handshakes
// per IP), room kept for our own dials and known peers,
// handshake and idle timeouts, keepalives, a maximum frame size and a
// maximum send queue per connection.
#pragma once

#include "net/config.hpp"
#include "net/frame.hpp"

#include <topicswarm/endpoint.hpp>
#include <topicswarm/error.hpp>
#include <topicswarm/identity.hpp>
#include <topicswarm/ids.hpp>

#include <asio/io_context.hpp>

#include <array>
#include <functional>
#include <optional>
#include <string_view>
#include <memory>
#include <vector>

namespace topicswarm::net {

// One established TLS connection, as protocols above the transport see it:
// a number unique within this transport, and the connection's TLS exporter
// value (RFC 8446 §7.5, label exporter_label, no context, 32 bytes), which
// both ends compute and nobody else can: admission proofs are bound to it
// (docs/PROTOCOL.md §12).
// How a connection was made: an ordinary dial or accept, a TCP hole punch
// (docs/PROTOCOL.md §19.8), or through a relay that copies its bytes (TLS
// runs end to end through it, §19.9).
enum class link_path : std::uint8_t { direct, punched, relayed };

struct link_info {
  std::uint64_t id = 0;
  std::array<std::byte, 32> exporter{};
  // The address we dialled, on a connection we dialled: TLS proved there the
  // node id we expected (docs/PROTOCOL.md §13). Empty on accepted ones, and
  // on relayed ones (the address is the relay's).
  std::optional<endpoint> dialled;
  // The peer's address as TCP sees it (both directions): where the
  // connection really comes from, whatever the peer claims. On a relayed
  // connection: the relay's.
  endpoint remote;
  // Our end of it (which of our addresses and ports it uses).
  endpoint local;
  link_path path = link_path::direct;
  // Whether we were the TLS client (we dialled it; on a punched connection,
  // the side the preamble made client).
  bool client = false;
};
inline constexpr std::string_view exporter_label = "EXPORTER-topicswarm-admission-v2";

// What the transport tells its owner. Called on the io_context thread, from
// inside transport code: handlers may call back into the transport.
struct transport_handler {
  virtual ~transport_handler() = default;
  // A connection to `peer` is established (not called again when a duplicate
  // connection replaces the first one).
  virtual void on_connected(const node_id& peer) = 0;
  // A connection became `peer`'s active one: right after on_connected, and
  // again when a duplicate or a redial replaces it (frames sent from now on
  // go to this link).
  virtual void on_link(const node_id& /*peer*/, const link_info& /*link*/) {}
  // The connection to `peer` closed, or dialling it failed.
  virtual void on_disconnected(const node_id& peer, const error& why) = 0;
  // A punch to `peer`, whose connection runs through a relay, failed: the
  // relayed connection stays (docs/PROTOCOL.md §19.10). A punch that
  // succeeds replaces it (on_link).
  virtual void on_upgrade_failed(const node_id& /*peer*/, const error& /*why*/) {}
  // Queued bytes fell from above to below the backpressure level.
  virtual void on_send_ready() = 0;
  // Whether `peer` may use the room kept for outbound dials
  // (config::outbound_reserve) when it dials us: a peer we know (we hold
  // addresses for it, so we may well dial it ourselves).
  virtual bool known_peer(const node_id& /*peer*/) const { return false; }
};

// One frame's body (the payload after the kind byte) from `peer`; valid
// only during the call.
using frame_handler = std::function<void(const node_id& peer, byte_span body)>;
// The same, with the connection the frame arrived on (which may be a retired
// duplicate, not the peer's active link).
using link_frame_handler = std::function<void(const node_id& peer, const link_info& link, byte_span body)>;

// A dial-back probe that arrived (docs/PROTOCOL.md §19): who sent it (TLS
// proved the id), from where, and on which of our addresses it arrived.
struct probe_info {
  node_id peer;
  endpoint remote;
  endpoint local;
};
// The probe's one frame: its kind and body, valid only during the call.
using probe_handler = std::function<void(const probe_info& from, frame_kind kind, byte_span body)>;
// How a probe we sent ended: delivered, or why not.
using probe_done = std::function<void(result<void>)>;
// Asked when a dial has no address left to try (none given, or every
// connect failed): true if a connection reversal was started, i.e. the peer
// was asked, through others, to dial us (docs/PROTOCOL.md §19.7).
using reverse_handler = std::function<bool(const node_id& peer)>;
// Relaying (docs/PROTOCOL.md §19.9). A circuit's token, as both ends present it.
using relay_token = std::array<std::byte, 16>;
// Asked for each relay end that arrives at our listener: the circuit it
// belongs to (one we agreed to serve, `remote` being one of its two ends),
// or none (the connection is closed).
using relay_admit = std::function<std::optional<std::uint64_t>(const relay_token& token, const endpoint& remote)>;
// A circuit admitted by relay_admit ended: bytes copied (both directions),
// and whether both ends came.
using relay_done = std::function<void(std::uint64_t circuit, std::uint64_t bytes, bool paired)>;
// The largest probe frame body a node reads (kind byte included).
inline constexpr std::size_t max_probe_payload = 256;

class transport {
 public:
  // Binds every `listen` endpoint (errc::bind_failed names the one that
  // failed). Accepting starts with run().
  static result<std::unique_ptr<transport>> create(asio::io_context& io, const keypair& keys,
                                                   std::vector<endpoint> listen, config cfg,
                                                   transport_handler& handler);
  ~transport();

  // Routes frames of `kind` to `h` and lists the kind in our hello. Call
  // before run() (the hello is fixed then), once per kind, and not for the
  // transport's own kinds (hello, keepalive). Frames of a kind without a
  // handler are dropped and counted (stats::frames_unknown_kind).
  void handle_kind(frame_kind kind, frame_handler h);
  void handle_kind(frame_kind kind, link_frame_handler h);

  // Where probes that arrive go (before run(); none: they are dropped).
  void on_probe(probe_handler h);
  // Sends one frame to `peer` at `address` over a probe connection (ALPN
  // alpn_probe_protocol): connect from an ephemeral port, TLS must prove
  // `peer`, write the frame, close. It is not `peer`'s connection: nothing
  // is routed, an existing connection to `peer` is not touched. `done` runs
  // once (on the io thread), at the latest after connect_timeout plus
  // handshake_timeout. The frame must fit max_probe_payload.
  void probe(const node_id& peer, const endpoint& address, bytes frame, probe_done done);

  // Connection reversal (before run(); none: a dial with no address fails).
  // When a dial runs out of addresses and `h` says a reversal started, the
  // dial stays pending (frames queue for the peer) until the peer's own
  // connection arrives, reverse_failed() is called, or
  // config::reverse_timeout passes; then it succeeds or fails as a dial.
  void on_reverse(reverse_handler h);
  // Nobody could carry the reversal to `peer`: its dial fails now.
  void reverse_failed(const node_id& peer);
  // When a punch our dial waited for failed: true if a relay was asked
  // (docs/PROTOCOL.md §19.9); the dial then waits once more, for
  // relay_dial(). None: the dial fails with the punch.
  void on_punch_failed(reverse_handler h);

  // TCP hole punching (docs/PROTOCOL.md §19.8): dials `peer` at `address`
  // from our listen port and, when the connect fails (a NAT that had no
  // mapping for us yet dropped or refused it), again, until `window` has
  // passed; `peer` does the same towards us at about the same moment, so
  // the two SYNs open a mapping in each NAT (simultaneous open). Each side
  // then sends a one-byte preamble: on a simultaneous open both read the
  // other's and the smaller node id speaks TLS as client; a listener that
  // accepted the connect answers its own and is TLS server. TLS must prove
  // `peer`. A dial of ours that waits for a reversal takes the punch; a dial
  // at addresses of its own is left alone. False when nothing started
  // (connected, dialling otherwise, stopped, no listener in that family).
  // The end is reported like a dial's (on_connected / on_disconnected).
  // A peer connected through a relay can be punched too (an upgrade): the
  // punched connection replaces the relayed one (on_link), a failure is
  // reported by on_upgrade_failed and the relayed connection stays.
  bool punch(const node_id& peer, const endpoint& address, std::chrono::milliseconds window);

  // Serving relays (before run(); none: relay ends that arrive are closed).
  // A connection to our listener that starts with the relay preamble and a
  // token is an end of a circuit if `admit` says so; the first end waits
  // config::relay_pair_timeout for the second, then both get one byte and
  // the transport copies bytes between them, blindly, within
  // config::relay_max_bytes and relay_max_duration. `done` runs once per
  // admitted end pair (or lone end).
  void on_relay(relay_admit admit, relay_done done);
  // Connects to `peer` through a relay at `relay` that agreed to carry the
  // circuit `token`: TCP to the relay, the preamble and token, its byte when
  // the other end has come too (within `window`), then TLS to `peer` end to
  // end (the smaller node id is client). As punch(): a dial waiting for a
  // reversal takes it; false when nothing started. The link's path is
  // relayed; its `remote` is the relay's address.
  bool relay_dial(const node_id& peer, const endpoint& relay, const relay_token& token,
                  std::chrono::milliseconds window);

  // Starts the accept loops and the housekeeping tick. Call on the io thread.
  void run();
  // Closes listeners and every connection at once. Running coroutines end
  // soon after; the io_context runs dry once they have.
  void stop();

  std::vector<endpoint> local_endpoints() const;

  enum class send_status { sent, queued, no_route };
  // Queues a whole frame for `peer`: on its connection (sent), or while it
  // is being dialled (queued). no_route: neither; call dial() first.
  send_status send(const node_id& peer, byte_span frame);
  // Dials `peer` unless connected or dialling. With no address, the dial
  // starts only if a connection reversal does (on_reverse); else nothing
  // happens and dialling() stays false. Addresses are tried in order,
  // at most max_dial_addresses of them (the rest are ignored: no source of
  // hints carries more, and a longer list would only multiply the connect
  // timeouts one dial can cost). Failure is reported through on_disconnected.
  static constexpr std::size_t max_dial_addresses = 8;
  void dial(const node_id& peer, std::vector<endpoint> addresses);
  // Flush what is queued for `peer`, then close (graceful).
  void close_after_flush(const node_id& peer);

  // Closes every connection whose local address has left the machine (an
  // interface was readdressed): nothing sent on it can arrive, and the peer
  // would otherwise look connected until the idle timeout. Returns how many.
  std::size_t close_stranded();

  bool connected(const node_id& peer) const;
  // Connected, and not through a relay.
  bool direct_link(const node_id& peer) const;
  // The peer's active connection, if it has one.
  std::optional<link_info> link(const node_id& peer) const;
  // Whether `peer` is connected and listed `kind` in its hello: a driver
  // can skip sending what the peer would drop.
  bool peer_speaks(const node_id& peer, frame_kind kind) const;
  bool dialling(const node_id& peer) const;
  // Whether a dial to `peer` is waiting for a connection reversal (then
  // dial() with addresses ends the wait and tries them).
  bool awaiting_reversal(const node_id& peer) const;
  std::vector<node_id> connected_peers() const;
  // Whether every connection is below the backpressure level.
  bool send_ready() const;
  net::stats stats() const;
  std::size_t tasks() const;

  class impl;

 private:
  explicit transport(std::shared_ptr<impl> i);
  std::shared_ptr<impl> impl_;  // shared with its coroutines, which may outlive stop() briefly
};

}  // namespace topicswarm::net
