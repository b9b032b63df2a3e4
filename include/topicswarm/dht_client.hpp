// dht::client: one Mainline DHT node (libtorrent, DHT-only) behind an
// Asio-friendly, coroutine-first API. libtorrent itself stays inside src/dht.
//
// All results complete on the executor given at construction. Every operation
// takes a deadline; when it expires the caller gets what was found so far.
#pragma once

#include <topicswarm/bytes.hpp>
#include <topicswarm/endpoint.hpp>
#include <topicswarm/error.hpp>
#include <topicswarm/export.hpp>
#include <topicswarm/identity.hpp>

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>

#include <chrono>
#include <functional>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace topicswarm::dht {

struct info_hash_tag {};
// A BEP 5 info-hash (SHA-1 sized).
using info_hash = fixed_bytes<20, info_hash_tag>;

// The public Mainline bootstrap routers, used unless a config overrides them.
TOPICSWARM_API std::vector<std::string> default_bootstrap_nodes();

struct client_config {
  // Addresses to bind, each "IP:PORT" (port 0 picks a free port). Loopback
  // testnets use "127.0.0.1:0"; real use binds all interfaces.
  std::vector<std::string> listen{"0.0.0.0:0", "[::]:0"};
  // "HOST:PORT" of nodes to bootstrap from. Default: the public routers.
  std::vector<std::string> bootstrap = default_bootstrap_nodes();
  // Default deadline for operations that are not given one.
  std::chrono::milliseconds default_timeout{10'000};
  // A private testnet off loopback (nodes in network namespaces a test
  // created): apply the settings a loopback testnet gets (no one-node-per-/24
  // rule, no per-IP query rate limit, a silent node dropped at its first
  // timeout, a random lookup every second). Those rules protect a node on the
  // public DHT; in a testnet of a handful of nodes they kept routing tables
  // at 0-2 nodes for 40 s and more. Loopback listen addresses imply it.
  bool testnet = false;
  // Ask the gateway (NAT-PMP/PCP, UPnP) to forward the ports given to
  // map_tcp_port() and the DHT's own port. Never on loopback or a testnet.
  // The mappings are removed when the client stops.
  bool port_mapping = false;
};

// What the gateway did with a port we asked it to forward (map_tcp_port).
struct port_mapping_event {
  bool ok = false;
  std::string via;               // "natpmp" (NAT-PMP or PCP) or "upnp"
  std::uint16_t local_port = 0;
  std::optional<endpoint> external;  // ok: the external address and port
  std::string error;             // !ok: why not
};

// A BEP 44 mutable item as read from the DHT.
struct mutable_item {
  public_key key;
  bytes salt;
  bytes value;  // the content of the bencoded byte string `v`
  std::int64_t seq = 0;
  signature sig;
};

struct get_result {
  std::optional<mutable_item> item;  // the highest seq seen; empty if none
  bool complete = false;             // the lookup finished before the deadline
  std::chrono::microseconds elapsed{0};
};

struct put_result {
  int nodes_stored = 0;  // nodes that acknowledged the store
  std::chrono::microseconds elapsed{0};
};

struct peers_result {
  std::vector<endpoint> peers;
  bool complete = false;
  std::chrono::microseconds elapsed{0};
};

// Latency summary of one kind of operation (completed ones only).
struct latency_stats {
  std::uint64_t count = 0;
  std::chrono::microseconds total{0};
  std::chrono::microseconds max{0};
};

struct counters {
  std::uint64_t gets = 0, puts = 0, get_peers = 0, announces = 0;
  std::uint64_t get_timeouts = 0, put_timeouts = 0, get_peers_timeouts = 0;
  std::uint64_t put_failures = 0;    // completed with zero nodes storing
  std::uint64_t invalid_items = 0;   // items dropped: not a byte string, too large, or badly signed
  std::uint64_t network_changes = 0;  // network_changed() calls
  std::uint64_t sockets_opened = 0;   // listen sockets (re)opened after start: new interface addresses
  std::uint64_t listen_failures = 0;  // listen sockets that failed to open after start
  int routing_nodes = 0;              // routing table size at the last stats round
  std::uint64_t port_mappings = 0, port_mapping_failures = 0;  // gateway answers (map_tcp_port)
  latency_stats get_latency, put_latency, get_peers_latency;
};

// Signature check of a BEP 44 mutable item (key, salt, seq, value).
TOPICSWARM_API bool verify_mutable_item(const mutable_item& item);

// The version of the DHT engine (libtorrent-rasterbar), e.g. "2.0.8.0", for reports.
TOPICSWARM_API std::string dht_engine_version();

// Use a client (and destroy it) only on its executor, which must not run
// handlers concurrently (a single-threaded io_context, or a strand).
// Destroying it completes pending operations: gets and get_peers as
// incomplete, puts with errc::dht_stopped.
class TOPICSWARM_API client {
 public:
  // Starts the DHT node: binds, then bootstraps in the background. Fails if
  // nothing can be bound or an address is malformed.
  static result<std::unique_ptr<client>> start(asio::any_io_executor ex, client_config config);
  ~client();
  client(const client&) = delete;
  client& operator=(const client&) = delete;

  // Waits until the routing table holds at least `min_nodes` nodes (or the
  // timeout passes); returns the routing table size reached.
  asio::awaitable<int> wait_bootstrapped(int min_nodes, std::chrono::milliseconds timeout);

  asio::awaitable<get_result> get_mutable(public_key key, bytes salt,
                                          std::optional<std::chrono::milliseconds> timeout = {});
  asio::awaitable<result<put_result>> put_mutable(keypair signer, bytes salt, bytes value, std::int64_t seq,
                                                  std::optional<std::chrono::milliseconds> timeout = {});
  asio::awaitable<peers_result> get_peers(info_hash ih, std::optional<std::chrono::milliseconds> timeout = {});
  // Announces that we serve `ih` on `port` (0: our DHT port). Fire and forget:
  // libtorrent reports no completion for announces.
  void announce(info_hash ih, std::uint16_t port = 0);

  // Tells the client the machine's addresses changed: the listen sockets are
  // reopened (a wildcard address expands to the addresses there are now) and
  // the routing table is filled again from the bootstrap nodes.
  void network_changed();

  // Asks the gateway to forward TCP `local_port` (the same external port if
  // it can) when config.port_mapping is on; each answer (per protocol, and
  // again when a mapping is renewed) goes to the port-mapping handler.
  void map_tcp_port(std::uint16_t local_port);
  // Where port-mapping answers go (runs on the client's executor).
  void on_port_mapping(std::function<void(const port_mapping_event&)> handler);

  // Our address as reported by other DHT nodes, once known.
  std::optional<endpoint> external_address() const;
  // The addresses actually bound (ports resolved).
  std::vector<endpoint> listen_endpoints() const;
  counters stats() const;

  class impl;

 private:
  explicit client(std::shared_ptr<impl> i);
  std::shared_ptr<impl> impl_;
};

}  // namespace topicswarm::dht
