// The only place the client's DHT talks to libtorrent (see lt_session.hpp).
// libtorrent headers (and so Boost.Asio) only; never standalone Asio here.
#include "dht/lt_session.hpp"

#include "dht/bep44.hpp"

#include <libtorrent/alert_types.hpp>
#include <libtorrent/bdecode.hpp>
#include <libtorrent/disabled_disk_io.hpp>
#include <libtorrent/entry.hpp>
#include <libtorrent/hasher.hpp>
#include <libtorrent/session.hpp>
#include <libtorrent/session_params.hpp>
#include <libtorrent/settings_pack.hpp>
#include <libtorrent/version.hpp>

#include <sodium.h>

#include <algorithm>
#include <cstring>
#include <exception>
#include <optional>
#include <span>
#include <string_view>

namespace topicswarm::dht::detail {
namespace {

namespace lt = libtorrent;

endpoint from_lt(const lt::address& a, std::uint16_t port) {
  if (a.is_v4()) {
    auto b = a.to_v4().to_bytes();
    return endpoint::v4({b[0], b[1], b[2], b[3]}, port);
  }
  auto b = a.to_v6().to_bytes();
  std::array<std::uint8_t, 16> ip{};
  std::copy(b.begin(), b.end(), ip.begin());
  return endpoint::v6(ip, port);
}

std::array<char, 32> to_lt_key(const public_key& k) {
  std::array<char, 32> a{};
  std::memcpy(a.data(), k.data(), a.size());
  return a;
}

lt::sha1_hash to_lt_hash(const lookup_target& t) { return lt::sha1_hash(reinterpret_cast<const char*>(t.data())); }

lookup_target from_lt_hash(const lt::sha1_hash& h) {
  lookup_target t;
  std::memcpy(t.data(), h.data(), t.size());
  return t;
}

std::string as_string(byte_span b) { return {reinterpret_cast<const char*>(b.data()), b.size()}; }

std::string join(const std::vector<std::string>& parts) {
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : ",") + p;
  return out;
}

// The one conversion of a received mutable item into an item_event: from a
// dht_mutable_item_alert in poll(), and from wire bytes in
// item_event_from_wire(). `value` is libtorrent's decoded "v" (undefined when
// the lookup found nothing).
item_event to_item_event(const lt::entry& value, std::span<const char, 32> key, std::span<const char, 64> sig,
                         std::int64_t seq, std::string_view salt, bool authoritative) {
  item_event e;
  std::memcpy(e.key.data(), key.data(), e.key.size());
  auto salt_bytes = as_bytes(salt);
  e.salt.assign(salt_bytes.begin(), salt_bytes.end());
  e.seq = seq;
  std::memcpy(e.sig.data(), sig.data(), e.sig.size());
  e.authoritative = authoritative;
  switch (value.type()) {
    case lt::entry::undefined_t:
      e.kind = item_event::value_kind::none;
      break;
    case lt::entry::string_t: {
      e.kind = item_event::value_kind::byte_string;
      auto v = as_bytes(value.string());
      e.value.assign(v.begin(), v.end());
      break;
    }
    default:
      e.kind = item_event::value_kind::other;
      break;
  }
  return e;
}

// Alerts the client consumes. dht_log / dht_operation noise stays off except
// get_peers replies, which libtorrent files under dht_operation.
lt::alert_category_t working_mask(bool peer_replies, bool port_mapping) {
  auto m = lt::alert_category::status | lt::alert_category::dht;
  if (peer_replies) m |= lt::alert_category::dht_operation;
  if (port_mapping) m |= lt::alert_category::port_mapping;
  return m;
}

std::string transport_name(lt::portmap_transport t) {
  return t == lt::portmap_transport::natpmp ? "natpmp" : "upnp";
}

int mask_value(lt::alert_category_t m) { return static_cast<int>(static_cast<std::uint32_t>(m)); }

void set_mask(lt::session& ses, lt::alert_category_t m) {
  lt::settings_pack sp;
  sp.set_int(lt::settings_pack::alert_mask, mask_value(m));
  ses.apply_settings(std::move(sp));
}

lt::settings_pack make_settings(const session_options& o) {
  lt::settings_pack sp;
  std::vector<std::string> listen;
  for (const auto& ep : o.listen) listen.push_back(ep.to_string());  // literal "IP:PORT", never a device name
  sp.set_str(lt::settings_pack::listen_interfaces, join(listen));
  // Bind exactly what was asked: no "try the next port", no silent fallback to
  // an OS-chosen port (a testnet's port_base must mean what it says).
  sp.set_int(lt::settings_pack::max_retry_port_bind, 0);
  sp.set_bool(lt::settings_pack::listen_system_port_fallback, false);

  // DHT only: no peers, no local discovery, no port mapping. libtorrent turns
  // a wildcard listen address (0.0.0.0, ::) into one socket per interface
  // address; its netlink watcher reopens them when the addresses change (a
  // new network, a DHCP renewal), so it runs for wildcard addresses only
  // (the client then adds its bootstrap nodes again, client.cpp). A literal
  // address (every testnet node) needs no watcher.
  const bool wildcard = std::any_of(o.listen.begin(), o.listen.end(), [](const endpoint& e) {
    return std::all_of(e.ip.begin(), e.ip.end(), [](std::uint8_t b) { return b == 0; });
  });
  sp.set_bool(lt::settings_pack::enable_dht, true);
  sp.set_bool(lt::settings_pack::enable_lsd, false);
  // Port mapping only when asked (a node on a real network); a testnet's
  // gateway is nobody's.
  sp.set_bool(lt::settings_pack::enable_upnp, o.port_mapping && !o.loopback);
  sp.set_bool(lt::settings_pack::enable_natpmp, o.port_mapping && !o.loopback);
  sp.set_bool(lt::settings_pack::enable_ip_notifier, wildcard);
  sp.set_bool(lt::settings_pack::enable_incoming_tcp, false);
  sp.set_bool(lt::settings_pack::enable_outgoing_tcp, false);
  sp.set_bool(lt::settings_pack::enable_incoming_utp, false);
  sp.set_bool(lt::settings_pack::enable_outgoing_utp, false);
  // The default list names a public router; an empty string means none.
  sp.set_str(lt::settings_pack::dht_bootstrap_nodes, join(o.routers));
  // The default 8000 B/s stalls puts for ~15 s under load (DESIGN.md §5); we
  // are a light client whose own traffic is small, so lift it everywhere.
  sp.set_int(lt::settings_pack::dht_upload_rate_limit, 50'000'000);
  // One UDP socket carries every lookup. With the OS default receive buffer
  // (212 kB, ~90 small datagrams at kernel accounting) 16 concurrent gets
  // overflowed it on loopback (RcvbufErrors in /proc/net/snmp), and each lost
  // answer stalls its lookup until the timeouts. The kernel caps this at
  // net.core.rmem_max.
  sp.set_int(lt::settings_pack::recv_socket_buffer_size, 1 << 20);
  sp.set_int(lt::settings_pack::send_socket_buffer_size, 1 << 20);
  if (o.loopback) {
    // Every testnet node shares 127.0.0.1: with the defaults a routing table
    // holds one of them and 50 messages in 10 s from "one IP" get it banned.
    sp.set_bool(lt::settings_pack::dht_restrict_routing_ips, false);
    sp.set_bool(lt::settings_pack::dht_restrict_search_ips, false);
    sp.set_int(lt::settings_pack::dht_block_ratelimit, 1'000'000);
    // libtorrent 2.0.8 ignores ICMP "port unreachable", so a node that has gone
    // (a stopped client) is only noticed by timeouts, and every lookup that
    // queries it waits the full 15 s RPC timeout. On loopback a node that
    // misses the 1 s short timeout is gone: drop it from the routing table at
    // the first failure (default 20) so it stops being handed out. A live node
    // dropped by mistake is re-added the next time it talks to us.
    sp.set_int(lt::settings_pack::dht_max_fail_count, 1);
  }
  sp.set_str(lt::settings_pack::user_agent, "topicswarm/0.1");
  // Results (mutable items, puts, stats) are critical or requested; a roomy
  // queue keeps bursts of incoming-query alerts from crowding them out.
  sp.set_int(lt::settings_pack::alert_queue_size, 20'000);
  sp.set_int(lt::settings_pack::alert_mask, mask_value(working_mask(o.peer_replies, o.port_mapping) | lt::alert_category::error));
  return sp;
}

}  // namespace

class lt_session::impl {
 public:
  std::unique_ptr<lt::session> ses;
  std::optional<lt::session_proxy> proxy;  // set by begin_shutdown()
  std::vector<endpoint> bound;
  bool peer_replies = true;
  // request_stats() posts a dht-stats request (one dht_stats_alert per DHT
  // node, possibly zero) followed by a session-stats request (exactly one
  // session_stats_alert). libtorrent serves them in order on its thread, so the
  // session_stats_alert closes the snapshot that the dht_stats_alerts before it
  // make up.
  int stats_outstanding = 0;
  stats_event partial;
  std::vector<lt::alert*> alerts;

  void convert(lt::alert* a, std::vector<event>& out) {
    if (auto* m = lt::alert_cast<lt::dht_mutable_item_alert>(a)) {
      out.emplace_back(to_item_event(m->item, m->key, m->signature, m->seq, m->salt, m->authoritative));
    } else if (auto* p = lt::alert_cast<lt::dht_put_alert>(a)) {
      put_event e;
      std::memcpy(e.key.data(), p->public_key.data(), e.key.size());
      auto salt = as_bytes(p->salt);
      e.salt.assign(salt.begin(), salt.end());
      e.seq = p->seq;
      e.nodes_stored = p->num_success;
      out.emplace_back(std::move(e));
    } else if (auto* r = lt::alert_cast<lt::dht_get_peers_reply_alert>(a)) {
      peers_event e;
      e.target = from_lt_hash(r->info_hash);
      for (const auto& ep : r->peers()) e.peers.push_back(from_lt(ep.address(), ep.port()));
      out.emplace_back(std::move(e));
    } else if (auto* s = lt::alert_cast<lt::dht_stats_alert>(a)) {
      if (stats_outstanding == 0) return;
      for (const auto& b : s->routing_table) partial.routing_nodes += b.num_nodes;
      for (const auto& l : s->active_requests) {
        lookup_info info;
        // Names from libtorrent's traversal classes: get_item::name() is
        // "get", get_peers::name() (also used by announces) is "get_peers".
        if (l.type != nullptr && std::strcmp(l.type, "get") == 0)
          info.type = lookup_info::kind::get;
        else if (l.type != nullptr && std::strcmp(l.type, "get_peers") == 0)
          info.type = lookup_info::kind::get_peers;
        info.target = from_lt_hash(l.target);
        info.outstanding = l.outstanding_requests;
        info.short_timeouts = l.first_timeout;
        info.responses = l.responses;
        partial.lookups.push_back(info);
      }
    } else if (lt::alert_cast<lt::session_stats_alert>(a)) {
      if (stats_outstanding == 0) return;
      --stats_outstanding;
      out.emplace_back(std::exchange(partial, stats_event{}));
    } else if (auto* x = lt::alert_cast<lt::external_ip_alert>(a)) {
      out.emplace_back(external_address_event{from_lt(x->external_address, 0)});
    } else if (auto* pm = lt::alert_cast<lt::portmap_alert>(a)) {
      if (pm->map_protocol == lt::portmap_protocol::tcp)
        out.emplace_back(portmap_event{static_cast<int>(pm->mapping), true, transport_name(pm->map_transport),
                                       static_cast<std::uint16_t>(pm->external_port), {}});
    } else if (auto* pe = lt::alert_cast<lt::portmap_error_alert>(a)) {
      out.emplace_back(portmap_event{static_cast<int>(pe->mapping), false, transport_name(pe->map_transport), 0,
                                     pe->error.message()});
    } else if (auto* ok = lt::alert_cast<lt::listen_succeeded_alert>(a)) {
      if (ok->socket_type == lt::socket_type_t::utp)
        out.emplace_back(listen_event{from_lt(ok->address, static_cast<std::uint16_t>(ok->port)), true});
    } else if (auto* f = lt::alert_cast<lt::listen_failed_alert>(a)) {
      if (f->socket_type == lt::socket_type_t::utp)
        out.emplace_back(listen_event{from_lt(f->address, static_cast<std::uint16_t>(f->port)), false});
    }
    // Everything else (incoming-query notices, listen reports after start)
    // carries nothing the client acts on.
  }
};

result<std::unique_ptr<lt_session>> lt_session::open(const session_options& options) {
  if (options.listen.empty()) return error{errc::dht_start_failed, "no listen address given"};
  auto i = std::make_unique<impl>();
  i->peer_replies = options.peer_replies;
  try {
    lt::session_params params(make_settings(options));
    // No torrents: no disk threads either.
    params.disk_io_constructor = lt::disabled_disk_io_constructor;
    i->ses = std::make_unique<lt::session>(std::move(params));
  } catch (const std::exception& e) {
    return error{errc::dht_start_failed, std::string("libtorrent session: ") + e.what()};
  }

  // Each listen address ends in one UDP listen_succeeded_alert or at least one
  // listen_failed_alert (TCP and UDP are opened together; either may fail).
  std::vector<std::string> failures;
  std::vector<endpoint> failed_eps;
  auto deadline = std::chrono::steady_clock::now() + options.bind_timeout;
  auto settled = [&] { return i->bound.size() + failed_eps.size() >= options.listen.size(); };
  while (!settled()) {
    auto now = std::chrono::steady_clock::now();
    if (now >= deadline) break;
    i->ses->wait_for_alert(std::chrono::duration_cast<lt::time_duration>(deadline - now));
    i->ses->pop_alerts(&i->alerts);
    for (auto* a : i->alerts) {
      if (auto* ok = lt::alert_cast<lt::listen_succeeded_alert>(a)) {
        if (ok->socket_type == lt::socket_type_t::utp)
          i->bound.push_back(from_lt(ok->address, static_cast<std::uint16_t>(ok->port)));
      } else if (auto* f = lt::alert_cast<lt::listen_failed_alert>(a)) {
        auto ep = from_lt(f->address, static_cast<std::uint16_t>(f->port));
        if (std::find(failed_eps.begin(), failed_eps.end(), ep) == failed_eps.end()) {
          failed_eps.push_back(ep);
          failures.push_back(ep.to_string() + ": " + f->error.message() + " (" + lt::operation_name(f->op) + ")");
        }
      }
    }
  }
  if (!failures.empty() || i->bound.empty()) {
    std::string why = "could not listen on ";
    for (std::size_t k = 0; k < failures.size(); ++k) why += (k ? "; " : "") + failures[k];
    if (failures.empty()) why += "any address (no answer from libtorrent in time)";
    { auto stopping = i->ses->abort(); }  // the proxy's destructor waits for libtorrent's thread
    return error{errc::dht_start_failed, why};
  }
  set_mask(*i->ses, working_mask(options.peer_replies, options.port_mapping));
  return std::unique_ptr<lt_session>(new lt_session(std::move(i)));
}

lt_session::lt_session(std::unique_ptr<impl> i) : impl_(std::move(i)) {}

lt_session::~lt_session() {
  if (impl_->ses) {
    impl_->ses->set_alert_notify({});
    begin_shutdown();
  }
  impl_->proxy.reset();  // joins libtorrent's thread
}

const std::vector<endpoint>& lt_session::listen_endpoints() const noexcept { return impl_->bound; }

void lt_session::set_notify(std::function<void()> notify) {
  if (impl_->ses) impl_->ses->set_alert_notify(notify);
}

void lt_session::poll(std::vector<event>& out) {
  if (!impl_->ses) return;
  impl_->ses->pop_alerts(&impl_->alerts);
  for (auto* a : impl_->alerts) impl_->convert(a, out);
  impl_->alerts.clear();  // the pointers die at the next pop_alerts
}

bool lt_session::wait(std::chrono::milliseconds max_wait) {
  if (!impl_->ses) return false;
  return impl_->ses->wait_for_alert(std::chrono::duration_cast<lt::time_duration>(max_wait)) != nullptr;
}

void lt_session::add_node(const endpoint& node) {
  if (impl_->ses) impl_->ses->add_dht_node({node.address_string(), node.port});
}

void lt_session::reopen_sockets() {
  // New sockets get their port mappings again (reopen_map_ports).
  if (impl_->ses) impl_->ses->reopen_network_sockets(lt::session_handle::reopen_map_ports);
}

std::vector<int> lt_session::add_tcp_mapping(std::uint16_t port) {
  std::vector<int> out;
  if (!impl_->ses) return out;
  for (auto h : impl_->ses->add_port_mapping(lt::portmap_protocol::tcp, port, port)) out.push_back(static_cast<int>(h));
  return out;
}

void lt_session::delete_mappings(const std::vector<int>& handles) {
  if (!impl_->ses) return;
  for (int h : handles) impl_->ses->delete_port_mapping(lt::port_mapping_t{h});
}

void lt_session::random_lookups(int n) {
  if (!impl_->ses) return;
  for (int k = 0; k < n; ++k) {
    lookup_target t;
    ::randombytes_buf(t.data(), t.size());
    impl_->ses->dht_get_peers(to_lt_hash(t));
  }
}

void lt_session::get_mutable(const public_key& key, byte_span salt) {
  if (impl_->ses) impl_->ses->dht_get_item(to_lt_key(key), as_string(salt));
}

void lt_session::put_mutable(const keypair& signer, bytes salt, bytes value, std::int64_t seq) {
  if (!impl_->ses) return;
  auto key = to_lt_key(signer.public_key());
  auto salt_text = as_string(salt);
  // Runs on libtorrent's thread once the lookup before the store has finished.
  // It owns copies of everything: the caller may be long gone by then.
  auto fill = [signer, value = std::move(value), seq](lt::entry& v, std::array<char, 64>& sig, std::int64_t& s,
                                                      std::string const& item_salt) {
    v = lt::entry(as_string(value));
    s = seq;
    auto signed_sig = signer.sign(signed_buffer(as_bytes(item_salt), seq, value));
    std::memcpy(sig.data(), signed_sig.data(), sig.size());
  };
  impl_->ses->dht_put_item(key, std::move(fill), salt_text);
}

void lt_session::get_peers(const lookup_target& target) {
  if (impl_->ses) impl_->ses->dht_get_peers(to_lt_hash(target));
}

void lt_session::announce(const lookup_target& target, std::uint16_t port) {
  if (impl_->ses) impl_->ses->dht_announce(to_lt_hash(target), port);
}

void lt_session::request_stats() {
  if (!impl_->ses) return;
  ++impl_->stats_outstanding;
  impl_->ses->post_dht_stats();
  impl_->ses->post_session_stats();
}

void lt_session::quiet_alerts() {
  if (impl_->ses) set_mask(*impl_->ses, lt::alert_category_t{});
}

void lt_session::begin_shutdown() {
  if (!impl_->ses) return;
  impl_->ses->set_alert_notify({});
  impl_->proxy.emplace(impl_->ses->abort());
  impl_->ses.reset();  // does not block while a proxy is held
}

result<item_event> item_event_from_wire(const public_key& key, byte_span salt, std::int64_t seq, const signature& sig,
                                        byte_span bencoded_value, bool authoritative) {
  lt::entry value;  // undefined: no item
  if (!bencoded_value.empty()) {
    lt::error_code ec;
    int error_pos = 0;
    // libtorrent's defaults for both limits, as for a whole DHT message.
    const lt::bdecode_node n = lt::bdecode(
        {reinterpret_cast<const char*>(bencoded_value.data()), static_cast<std::ptrdiff_t>(bencoded_value.size())}, ec,
        &error_pos);
    if (ec)
      return error{errc::malformed_message,
                   "bencoded value: " + ec.message() + " at byte " + std::to_string(error_pos)};
    value = n;
  }
  const auto* k = reinterpret_cast<const char*>(key.data());
  const auto* s = reinterpret_cast<const char*>(sig.data());
  return to_item_event(value, std::span<const char, 32>(k, 32), std::span<const char, 64>(s, 64), seq,
                       std::string_view(reinterpret_cast<const char*>(salt.data()), salt.size()), authoritative);
}

lookup_target mutable_item_target(const public_key& key, byte_span salt) {
  lt::hasher h(reinterpret_cast<const char*>(key.data()), static_cast<int>(key.size()));
  if (!salt.empty()) h.update(reinterpret_cast<const char*>(salt.data()), static_cast<int>(salt.size()));
  return from_lt_hash(h.final());
}

std::string libtorrent_version() { return LIBTORRENT_VERSION; }

}  // namespace topicswarm::dht::detail
