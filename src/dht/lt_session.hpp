// lt_session: one DHT-only libtorrent session behind a plain C++ interface.
//
// Why this seam exists: libtorrent's headers pull in Boost.Asio, which cannot
// share a translation unit with standalone Asio (DESIGN.md §2). So this header
// names neither: the client (standalone Asio) and the testnet talk to
// libtorrent only through the calls and event structs below, and libtorrent is
// included in lt_session.cpp alone.
//
// Threading: libtorrent runs its own network thread. Every member function here
// except the notify callback is called from one consumer thread (the client's
// executor, or the testnet's caller, which serialises its own threads). Requests are queued to libtorrent's
// thread in call order; results come back as alerts, which poll() converts into
// the events below (so no libtorrent object outlives a poll() call).
#pragma once

#include <topicswarm/bytes.hpp>
#include <topicswarm/endpoint.hpp>
#include <topicswarm/error.hpp>
#include <topicswarm/identity.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <variant>
#include <vector>

namespace topicswarm::dht::detail {

struct lookup_target_tag {};
// A 20-byte DHT target (an info-hash or a node id). dht::info_hash has the same
// bytes; it is not named here because its header includes Asio.
using lookup_target = fixed_bytes<20, lookup_target_tag>;

struct session_options {
  // Addresses to bind, as IP literals with ports (port 0 picks a free port).
  std::vector<endpoint> listen;
  // Bootstrap *routers* given by host name ("router.bittorrent.com:6881"),
  // handed to libtorrent's dht_bootstrap_nodes. libtorrent never puts a router
  // into its routing table, so nodes given as IP literals are added with
  // add_node() instead (a testnet passes none here: DESIGN.md §5).
  std::vector<std::string> routers;
  // Relax the DHT's anti-Sybil limits (one node per IP, per-IP rate bans) that
  // make a loopback testnet unusable. Set when every listen address is loopback,
  // or for a testnet off loopback (client_config::testnet).
  bool loopback = false;
  // Report get_peers replies (alert category dht_operation). The testnet does
  // not need them.
  bool peer_replies = true;
  // NAT-PMP/PCP and UPnP on the listen sockets' networks: the gateway is
  // asked to map the ports given to add_tcp_mapping() (and libtorrent's own
  // listen ports). Off for testnets and loopback.
  bool port_mapping = false;
  // How long open() waits for every listen address to be bound or refused.
  std::chrono::milliseconds bind_timeout{5'000};
};

// A BEP 44 mutable item (or the end of a lookup) reported by a get.
struct item_event {
  enum class value_kind { none, byte_string, other };
  public_key key;
  bytes salt;
  value_kind kind = value_kind::none;  // none: the lookup found nothing (yet)
  bytes value;                         // set when kind == byte_string
  std::int64_t seq = 0;
  signature sig;
  bool authoritative = false;  // the lookup has finished
};

// The end of a put: how many nodes stored the item.
struct put_event {
  public_key key;
  bytes salt;
  std::int64_t seq = 0;
  int nodes_stored = 0;
};

// Peers some node returned for a get_peers (or announce) lookup. One event per
// replying node; a lookup reports no end of its own (see stats_event).
struct peers_event {
  lookup_target target;
  std::vector<endpoint> peers;
};

// One lookup (traversal) running in a DHT node, from a stats snapshot.
struct lookup_info {
  enum class kind { get, get_peers, other };  // "get" also covers a put's first phase
  kind type = kind::other;
  lookup_target target;
  int outstanding = 0;     // requests in flight
  int short_timeouts = 0;  // queried nodes that missed libtorrent's 1 s short timeout
  int responses = 0;       // answers received so far
};

// The answer to request_stats(): one snapshot over all DHT nodes of the session.
struct stats_event {
  int routing_nodes = 0;  // live nodes over all routing-table buckets
  // The lookups still running when the snapshot was taken. A lookup leaves the
  // list once it has finished and its last request has been answered or has
  // timed out.
  std::vector<lookup_info> lookups;
};

// Our address as other DHT nodes see it (port 0: not known).
struct external_address_event {
  endpoint address;
};

// A listen socket libtorrent opened (ok) or failed to open after start: a
// wildcard address expanded again because the machine's addresses changed.
struct listen_event {
  endpoint address;
  bool ok = false;
};

// A port mapping our gateway made (ok) or refused, for a port we asked for
// (add_tcp_mapping). `via`: "natpmp" (NAT-PMP or PCP) or "upnp".
struct portmap_event {
  int mapping = -1;
  bool ok = false;
  std::string via;
  std::uint16_t external_port = 0;
  std::string error;
};

using event = std::variant<item_event, put_event, peers_event, stats_event, external_address_event, listen_event,
                           portmap_event>;

class lt_session {
 public:
  // Creates the session and blocks (at most options.bind_timeout) until every
  // listen address has been bound or refused. Fails with dht_start_failed if
  // any address could not be bound, naming it and the reason.
  static result<std::unique_ptr<lt_session>> open(const session_options& options);
  ~lt_session();  // stops libtorrent's thread (waits for it)
  lt_session(const lt_session&) = delete;
  lt_session& operator=(const lt_session&) = delete;

  // The bound UDP (DHT) endpoints, ports resolved.
  const std::vector<endpoint>& listen_endpoints() const noexcept;

  // `notify` runs on libtorrent's thread whenever alerts become pending; it
  // must only wake the consumer (which then calls poll()). Clearing it
  // (passing {}) guarantees it is not running and will not run again.
  void set_notify(std::function<void()> notify);
  // Moves the pending results into `out` (appends). Never blocks.
  void poll(std::vector<event>& out);
  // Blocks until something is pending or `max_wait` passed; true if pending.
  bool wait(std::chrono::milliseconds max_wait);

  // Pings `node`; when it answers it joins our routing table.
  void add_node(const endpoint& node);
  // Closes and reopens the listen sockets (a wildcard address expands to the
  // interface addresses there are now). Each new socket gets a DHT node with
  // an empty routing table.
  void reopen_sockets();
  // Starts `n` lookups of random targets: they walk the DHT and fill the
  // routing table with the nodes they meet.
  void random_lookups(int n);

  void get_mutable(const public_key& key, byte_span salt);
  // The item is signed on libtorrent's thread with a copy of `signer`.
  void put_mutable(const keypair& signer, bytes salt, bytes value, std::int64_t seq);
  void get_peers(const lookup_target& target);
  void announce(const lookup_target& target, std::uint16_t port);
  // Asks the gateway (NAT-PMP/PCP, UPnP; session_options::port_mapping) to
  // forward TCP `port` to us; results come as portmap_events. Returns the
  // mapping handles (none when port mapping is off).
  std::vector<int> add_tcp_mapping(std::uint16_t port);
  // Removes the mappings (the gateway is told; also done at shutdown).
  void delete_mappings(const std::vector<int>& handles);
  // Asks for a stats_event. Results come in request order.
  void request_stats();

  // Stops reporting everything but requested stats (a testnet node nobody
  // polls any more must not fill its alert queue).
  void quiet_alerts();
  // Starts shutting down without waiting; the destructor then waits. Calling
  // this on many sessions first lets them stop in parallel.
  void begin_shutdown();

  class impl;

 private:
  explicit lt_session(std::unique_ptr<impl> i);
  std::unique_ptr<impl> impl_;
};

// A mutable item as another DHT node sends it in a get response (BEP 44):
// `bencoded_value` is the "v" field exactly as it arrived on the wire (empty:
// the lookup found no item). libtorrent decodes it with its own bencode
// decoder before raising the alert; this decodes it the same way and then
// converts it with the one conversion poll() applies to every mutable-item
// alert. Fails if `bencoded_value` is not one well-formed bencoded value (a
// response libtorrent drops). For fuzz/dht_item_fuzz.cpp and tests: the
// untrusted bytes reach the same code as in production, no session needed.
result<item_event> item_event_from_wire(const public_key& key, byte_span salt, std::int64_t seq, const signature& sig,
                                        byte_span bencoded_value, bool authoritative);

// The DHT target of a mutable item: SHA-1(key || salt) (BEP 44).
lookup_target mutable_item_target(const public_key& key, byte_span salt);

// libtorrent's version, "2.0.8.0".
std::string libtorrent_version();

}  // namespace topicswarm::dht::detail
