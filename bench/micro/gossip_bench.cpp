// Micro benchmarks of the gossip cores: how many protocol events per second
// one router handles (items/s = events/s). Each benchmark drives a router
// whose topic has a full active view of 5 neighbours, as in a settled overlay.
#include "gossip/codec.hpp"
#include "gossip/plumtree.hpp"
#include "gossip/router.hpp"

#include <benchmark/benchmark.h>

#include <string>

using namespace topicswarm;
using namespace topicswarm::gossip;

namespace {

node_id nid(std::uint64_t i) {
  std::array<std::byte, 32> a{};
  for (int k = 0; k < 8; ++k) a[k] = static_cast<std::byte>((i >> (8 * (7 - k))) & 0xff);
  a[31] = std::byte{1};
  return node_id(a);
}

peer_info pinfo(std::uint64_t i) { return {nid(i), {endpoint::v4({127, 0, 0, 1}, static_cast<std::uint16_t>(i))}}; }

struct fixture {
  topic_id topic = topic_id_from_name("bench");
  router r{pinfo(0), config{}, 1};
  instant now{};
  std::vector<routed> out;

  fixture() {
    for (std::uint64_t p = 1; p <= 5; ++p)
      r.handle(topic, in::received{nid(p), wire::neighbor{priority::high, pinfo(p).addresses}}, now, out);
    // Two of the five are lazy, as after PlumTree has pruned redundant links.
    r.handle(topic, in::received{nid(4), wire::prune{}}, now, out);
    r.handle(topic, in::received{nid(5), wire::prune{}}, now, out);
    out.clear();
  }
  void feed(in::input i) {
    out.clear();
    r.handle(topic, std::move(i), now, out);
  }
};

wire::gossip message(std::uint64_t k, std::size_t size) {
  std::string s = "message " + std::to_string(k) + " ";
  s.resize(size, 'x');
  wire::gossip g;
  g.content = to_bytes(s);
  g.id = plumtree::id_of(g.content);
  g.round = 2;
  return g;
}

// A new message from an eager neighbour: hash check, delivery, cache, eager
// push to 2 peers, IHAVE queued for 2.
void gossip_receive_new(benchmark::State& state) {
  const std::size_t size = static_cast<std::size_t>(state.range(0));
  std::vector<wire::gossip> msgs;
  for (std::uint64_t k = 0; k < 4096; ++k) msgs.push_back(message(k, size));
  auto f = std::make_unique<fixture>();
  std::size_t i = 0;
  for (auto _ : state) {
    if (i == msgs.size()) {
      state.PauseTiming();
      f = std::make_unique<fixture>();
      i = 0;
      state.ResumeTiming();
    }
    f->feed(in::received{nid(1), msgs[i++]});
    benchmark::DoNotOptimize(f->out.data());
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(size));
}
BENCHMARK(gossip_receive_new)->Arg(64)->Arg(1024)->Arg(4096);

// The same message again: hash check, duplicate, PRUNE.
void gossip_receive_duplicate(benchmark::State& state) {
  fixture f;
  const auto g = message(0, 256);
  f.feed(in::received{nid(1), g});
  for (auto _ : state) {
    f.feed(in::received{nid(2), g});
    benchmark::DoNotOptimize(f.out.data());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(gossip_receive_duplicate);

// IHAVE batches of 16 announcements of unknown messages (each starts a graft wait).
void ihave_receive(benchmark::State& state) {
  std::vector<wire::ihave> batches;
  for (std::uint64_t b = 0; b < 200; ++b) {
    wire::ihave ih;
    for (std::uint64_t e = 0; e < 16; ++e) ih.entries.push_back({message(b * 16 + e, 16).id, 3});
    batches.push_back(std::move(ih));
  }
  auto f = std::make_unique<fixture>();
  std::size_t i = 0;
  for (auto _ : state) {
    if (i == batches.size()) {  // stay below the missing-id bound
      state.PauseTiming();
      f = std::make_unique<fixture>();
      i = 0;
      state.ResumeTiming();
    }
    f->feed(in::received{nid(4), batches[i++]});
    benchmark::DoNotOptimize(f->out.data());
  }
  state.SetItemsProcessed(state.iterations() * 16);
}
BENCHMARK(ihave_receive);

// A join from a new peer at a full node: evict a neighbour, accept, 4 forward_joins.
void join_receive(benchmark::State& state) {
  fixture f;
  std::uint64_t next = 1000;
  for (auto _ : state) {
    f.feed(in::received{nid(next), wire::join{pinfo(next).addresses}});
    ++next;
    benchmark::DoNotOptimize(f.out.data());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(join_receive);

// A forward_join passing through (random walk step).
void forward_join_receive(benchmark::State& state) {
  fixture f;
  std::uint64_t next = 1000;
  for (auto _ : state) {
    f.feed(in::received{nid(1), wire::forward_join{pinfo(next++), 5}});
    benchmark::DoNotOptimize(f.out.data());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(forward_join_receive);

// Our own broadcast of 256 bytes: hash, cache, push to eager peers, IHAVE queued.
void broadcast_send(benchmark::State& state) {
  std::vector<bytes> contents;
  for (std::uint64_t k = 0; k < 4096; ++k) contents.push_back(message(k, 256).content);
  auto f = std::make_unique<fixture>();
  std::size_t i = 0;
  for (auto _ : state) {
    if (i == contents.size()) {
      state.PauseTiming();
      f = std::make_unique<fixture>();
      i = 0;
      state.ResumeTiming();
    }
    f->feed(in::broadcast{contents[i++], scope::swarm});
    benchmark::DoNotOptimize(f->out.data());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(broadcast_send);

void codec_encode_gossip(benchmark::State& state) {
  const topic_id topic = topic_id_from_name("bench");
  const wire::message m = message(1, 1024);
  bytes buf;
  for (auto _ : state) {
    buf.clear();
    encode_to(buf, topic, m);
    benchmark::DoNotOptimize(buf.data());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(codec_encode_gossip);

void codec_decode_gossip(benchmark::State& state) {
  const bytes b = encode(topic_id_from_name("bench"), message(1, 1024));
  for (auto _ : state) benchmark::DoNotOptimize(decode(b));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(codec_decode_gossip);

void codec_decode_shuffle(benchmark::State& state) {
  wire::shuffle s{pinfo(1), 3, {}};
  for (std::uint64_t i = 0; i < 8; ++i) s.nodes.push_back(pinfo(i + 10));
  const bytes b = encode(topic_id_from_name("bench"), s);
  for (auto _ : state) benchmark::DoNotOptimize(decode(b));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(codec_decode_shuffle);

}  // namespace
