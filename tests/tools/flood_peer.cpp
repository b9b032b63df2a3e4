// flood_peer: connection and frame floods against one node (issue 15,
// "Hostile input"), for tests/e2e/flood_cli_test.sh and manual runs.
//
//   flood_peer --target IP:PORT --mode MODE [--count N] [--hold SECONDS] [--sources A.B.C] [options]
//
// Modes:
//   tcp        N TCP connections that send nothing (TLS never starts)
//   tls        N connections that finish TLS and then stay silent (no hello)
//   hello      N connections that finish TLS and the hello, then stay silent
//   half       N connections that send the hello and half of a frame, then stall
//   random     one connection: TLS, hello, then --mib MiB of random frames
//   gossip     one member (--topic, --secret): proves the topic, joins, then
//              floods IHAVEs of unknown ids, GRAFTs and joins for --hold seconds
//
// With --sources A.B.C the connections come from A.B.C.1, A.B.C.2, ...,
// --per-prefix addresses per /24 before A.B.(C+1).1 (loopback addresses on
// Linux: 127.0.0.0/8 is all local), so per-IP and
// per-prefix limits apply when the target sets limit_loopback. Prints one
// JSON line: what was attempted, how many connections the target closed, and
// bytes sent. A test tool: built with the tests, never installed.
#include "../integration/raw_peer.hpp"

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <sodium.h>

#include <iostream>
#include <memory>
#include <random>

using namespace topicswarm;
using namespace topicswarm::test_support;

namespace {

struct options {
  std::string target, mode, sources, topic, secret;
  int count = 1;
  int per_prefix = 250;
  double hold_s = 10;
  int mib = 64;
};

std::optional<asio::ip::address> source_of(const options& o, int i) {
  if (o.sources.empty()) return std::nullopt;
  auto base = asio::ip::make_address_v4(o.sources + ".0").to_bytes();
  base[2] = static_cast<unsigned char>(base[2] + i / o.per_prefix);
  base[3] = static_cast<unsigned char>(1 + i % o.per_prefix);
  return asio::ip::address_v4(base);
}

// Whether the peer closed `s`: reads (and discards) whatever is waiting,
// raw, until the socket would block (open) or reports EOF or an error
// (closed). Only for the end of a run: it breaks the TLS stream.
bool closed(tcp::socket& s) {
  std::array<char, 4096> b{};
  std::error_code ec;
  s.non_blocking(true, ec);
  for (;;) {
    const auto n = s.receive(asio::buffer(b), 0, ec);
    if (ec == asio::error::would_block) return false;
    if (ec || n == 0) return true;
  }
}

void set_send_timeout(tcp::socket& s, int seconds) {
  timeval tv{seconds, 0};
  ::setsockopt(s.native_handle(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

bytes random_bytes(std::size_t n) {
  bytes b(n);
  randombytes_buf(b.data(), b.size());
  return b;
}

}  // namespace

int main(int argc, char** argv) {
  options o;
  CLI::App app{"Connection and frame floods against one node (a test tool)"};
  app.add_option("--target", o.target, "The node, IP:PORT")->required();
  app.add_option("--mode", o.mode, "tcp | tls | hello | half | random | gossip")->required();
  app.add_option("--count", o.count, "Connections (tcp, tls, hello, half)");
  app.add_option("--hold", o.hold_s, "Seconds to hold the connections (or to flood, for gossip)");
  app.add_option("--sources", o.sources, "Connect from A.B.C.1, A.B.C.2, ... (--per-prefix per /24, then A.B.C+1.1 ...)");
  app.add_option("--per-prefix", o.per_prefix, "Source addresses per /24")->check(CLI::Range(1, 250));
  app.add_option("--topic", o.topic, "gossip: the topic name");
  app.add_option("--secret", o.secret, "gossip: the topic's secret (empty: an open topic)");
  app.add_option("--mib", o.mib, "random: MiB of random frames to send");
  CLI11_PARSE(app, argc, argv);
  if (sodium_init() < 0) return 1;

  const auto ep = endpoint::parse(o.target);
  if (!ep) {
    std::cerr << "flood_peer: bad --target: " << ep.error().message() << "\n";
    return 1;
  }
  const tcp::endpoint to = asio_endpoint(*ep);
  asio::io_context io;
  nlohmann::json report{{"mode", o.mode}, {"count", o.count}};
  const auto hold_until = std::chrono::steady_clock::now() + std::chrono::milliseconds(static_cast<int>(o.hold_s * 1000));

  if (o.mode == "tcp") {
    std::vector<std::unique_ptr<tcp::socket>> held;
    int connected = 0;
    for (int i = 0; i < o.count; ++i) {
      auto s = std::make_unique<tcp::socket>(io);
      std::error_code ec;
      s->open(to.protocol(), ec);
      if (auto from = source_of(o, i)) s->bind(tcp::endpoint(*from, 0), ec);
      s->connect(to, ec);
      if (!ec) ++connected;
      held.push_back(std::move(s));
    }
    std::this_thread::sleep_until(hold_until);
    int closed_by_target = 0;
    for (auto& s : held) closed_by_target += s->is_open() && closed(*s) ? 1 : 0;
    report["connected"] = connected;
    report["closed_by_target"] = closed_by_target;
  } else if (o.mode == "tls" || o.mode == "hello" || o.mode == "half") {
    std::vector<std::unique_ptr<authenticated_client>> held;
    int failed = 0;
    for (int i = 0; i < o.count; ++i) {
      try {
        auto c = std::make_unique<authenticated_client>(io, to, keypair::generate(), source_of(o, i), o.mode != "tls");
        if (o.mode == "half") {
          // A frame header announcing 2,000 bytes (within any frame limit),
          // and 100 of them.
          bytes f{std::byte{0}, std::byte{0}, std::byte{0x07}, std::byte{0xd0}};
          auto body = random_bytes(100);
          f.insert(f.end(), body.begin(), body.end());
          c->write_raw(f);
        }
        held.push_back(std::move(c));
      } catch (const std::exception&) {
        ++failed;  // refused before or during TLS: what the limits do
      }
    }
    std::this_thread::sleep_until(hold_until);
    int closed_by_target = 0;
    for (auto& c : held) closed_by_target += closed(c->stream.next_layer()) ? 1 : 0;
    report["tls_established"] = held.size();
    report["refused_before_tls"] = failed;
    report["closed_by_target"] = closed_by_target;
  } else if (o.mode == "random") {
    // Well-framed frames of random kind and body, so the decoders behind the
    // framing see them; when the node closes the connection (a malformed
    // frame), a new one goes on, until --mib MiB were sent (at most 1,000
    // connections).
    std::uint64_t sent = 0;
    int connections = 0, refused = 0;
    const std::uint64_t total = static_cast<std::uint64_t>(o.mib) << 20;
    std::mt19937 gen(7);
    while (sent < total && connections < 1000) {
      ++connections;
      try {
        authenticated_client c(io, to, keypair::generate(), source_of(o, 0));
        set_send_timeout(c.stream.next_layer(), 10);
        while (sent < total) {
          const std::size_t n = 1 + gen() % 16'000;
          bytes f{std::byte(n >> 24), std::byte(n >> 16), std::byte(n >> 8), std::byte(n)};
          auto body = random_bytes(n);
          f.insert(f.end(), body.begin(), body.end());
          std::error_code ec;
          asio::write(c.stream, asio::buffer(f), ec);
          if (ec) break;
          sent += f.size();
        }
      } catch (const std::exception&) {
        ++refused;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
    }
    report["bytes_sent"] = sent;
    report["connections"] = connections;
    report["refused_before_tls"] = refused;
  } else if (o.mode == "gossip") {
    std::uint64_t frames = 0;
    bool refused = false;
    try {
      authenticated_client c(io, to, keypair::generate(), source_of(o, 0));
      set_send_timeout(c.stream.next_layer(), 10);
      const topic_id name = topic_id_from_name(o.topic);
      const auto key = o.secret.empty() ? result<secret_hash>(open_topic_key(name))
                                        : hash_secret(name, std::string_view(o.secret));
      if (!key) throw std::runtime_error(key.error().message());
      const topic_id wire = wire_topic_id(name, *key);
      c.join_topic(name, *key);
      while (std::chrono::steady_clock::now() < hold_until) {
        bytes f;
        for (int i = 0; i < 8; ++i) {
          gossip::wire::ihave ih;
          for (std::size_t e = 0; e < gossip::limits::max_ihave_entries; ++e)
            ih.entries.push_back({*message_id::from_span(random_bytes(32)), 1});
          auto start = net::begin_frame(f, net::frame_kind::gossip);
          gossip::encode_to(f, wire, ih);
          net::end_frame(f, start);
          start = net::begin_frame(f, net::frame_kind::gossip);
          gossip::encode_to(f, wire, gossip::wire::graft{*message_id::from_span(random_bytes(32)), 0});
          net::end_frame(f, start);
          start = net::begin_frame(f, net::frame_kind::gossip);
          gossip::encode_to(f, wire, gossip::wire::join{});
          net::end_frame(f, start);
          frames += 3;
        }
        std::error_code ec;
        asio::write(c.stream, asio::buffer(f), ec);
        if (ec) break;
      }
      report["closed_by_target"] = closed(c.stream.next_layer());
    } catch (const std::exception& e) {
      refused = true;
      report["error"] = e.what();
    }
    report["frames_sent"] = frames;
    report["refused_before_tls"] = refused;
  } else {
    std::cerr << "flood_peer: unknown --mode " << o.mode << "\n";
    return 1;
  }
  std::cout << report.dump() << std::endl;
  return 0;
}
