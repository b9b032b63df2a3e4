// Micro benchmarks of topic records (format 2): seal (encode + sign + HPKE
// seal) and open (HPKE open + decode + verify) of a full-size record, the
// cheap rejection paths for garbage values, slot derivation, and the
// Argon2id secret hash a node pays once per join.
#include <topicswarm/record.hpp>

#include <benchmark/benchmark.h>

#include <limits>

using namespace topicswarm;

namespace {

secret_hash key_of(std::uint8_t b) { return *secret_hash_from_key(std::array<std::byte, 32>{std::byte{b}}); }

struct setup {
  topic_id topic = topic_id_from_name("bench");
  record_codec codec{topic, key_of(1)};
  identity me = identity::generate();
  topic_record rec;
  unsigned slot = 2;
  std::int64_t seq = 0;
  setup() {
    rec.topic = topic;
    rec.window = 29'000'000;
    rec.publisher = me.id();
    rec.timestamp_ms = rec.window * 60'000 + 30'000;
    seq = static_cast<std::int64_t>(rec.timestamp_ms);
    for (int i = 0; i < 4; ++i) rec.addresses.push_back(*endpoint::parse("[2001:db8::1]:4433"));
    for (int n = 0; n < 5; ++n) {
      record_neighbor nb{identity::generate().id(), {}};
      for (int i = 0; i < 4; ++i) nb.addresses.push_back(*endpoint::parse("[2001:db8::2]:4433"));
      rec.neighbors.push_back(nb);
    }
    rec.recent_messages.resize(5);
  }
};

void record_seal(benchmark::State& state) {
  setup s;
  for (auto _ : state) benchmark::DoNotOptimize(s.codec.seal(s.rec, s.me, s.slot));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(record_seal);

void record_open(benchmark::State& state) {
  setup s;
  auto sealed = *s.codec.seal(s.rec, s.me, s.slot);
  for (auto _ : state) benchmark::DoNotOptimize(s.codec.open(sealed, s.rec.window, s.slot, s.seq));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(record_open);

void record_open_wrong_secret(benchmark::State& state) {
  setup s;
  auto sealed = *s.codec.seal(s.rec, s.me, s.slot);
  record_codec other(s.topic, key_of(2));
  for (auto _ : state) benchmark::DoNotOptimize(other.open(sealed, s.rec.window, s.slot, s.seq));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(record_open_wrong_secret);

void record_open_garbage(benchmark::State& state) {
  setup s;
  bytes garbage(400, std::byte{0x42});
  for (auto _ : state) benchmark::DoNotOptimize(s.codec.open(garbage, s.rec.window, s.slot, s.seq));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(record_open_garbage);

// The slot lock of format 1: a value with the largest seq. Refused before
// any crypto.
void record_open_seq_out_of_range(benchmark::State& state) {
  setup s;
  bytes garbage(400, std::byte{0x02});
  for (auto _ : state)
    benchmark::DoNotOptimize(
        s.codec.open(garbage, s.rec.window, s.slot, std::numeric_limits<std::int64_t>::max()));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(record_open_seq_out_of_range);

void record_slot_derivation(benchmark::State& state) {
  setup s;
  unsigned i = 0;
  for (auto _ : state) benchmark::DoNotOptimize(s.codec.slot(s.rec.window, i++ % 64));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(record_slot_derivation);

// Argon2id with the default cost (t = 2, m = 19 MiB): once per join.
void secret_hash_argon2id_default(benchmark::State& state) {
  const auto topic = topic_id_from_name("bench");
  for (auto _ : state) benchmark::DoNotOptimize(hash_secret(topic, std::string_view("correct horse battery")));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(secret_hash_argon2id_default)->Unit(benchmark::kMillisecond);

}  // namespace
