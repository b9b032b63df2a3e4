// Micro benchmarks of topic records: seal (encode + sign + HPKE seal) and
// open (HPKE open + decode + verify) of a full-size record, and the cheap
// rejection path for garbage values.
#include <topicswarm/record.hpp>

#include <benchmark/benchmark.h>

using namespace topicswarm;

namespace {

struct setup {
  topic_id topic = topic_id_from_name("bench");
  record_codec codec{topic, secret_hash_from(std::string_view("secret"))};
  identity me = identity::generate();
  topic_record rec;
  setup() {
    rec.topic = topic;
    rec.window = 29'000'000;
    rec.publisher = me.id();
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
  for (auto _ : state) benchmark::DoNotOptimize(s.codec.seal(s.rec, s.me));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(record_seal);

void record_open(benchmark::State& state) {
  setup s;
  auto sealed = *s.codec.seal(s.rec, s.me);
  for (auto _ : state) benchmark::DoNotOptimize(s.codec.open(sealed, s.rec.window));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(record_open);

void record_open_wrong_secret(benchmark::State& state) {
  setup s;
  auto sealed = *s.codec.seal(s.rec, s.me);
  record_codec other(s.topic, secret_hash_from(std::string_view("other")));
  for (auto _ : state) benchmark::DoNotOptimize(other.open(sealed, s.rec.window));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(record_open_wrong_secret);

void record_open_garbage(benchmark::State& state) {
  setup s;
  bytes garbage(400, std::byte{0x42});
  for (auto _ : state) benchmark::DoNotOptimize(s.codec.open(garbage, s.rec.window));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(record_open_garbage);

}  // namespace
