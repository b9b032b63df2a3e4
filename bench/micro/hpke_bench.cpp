// HPKE base mode (X25519 / HKDF-SHA256 / ChaCha20-Poly1305), single-shot seal
// and open of a 750-byte message: about the size of an encrypted topic record
// (DESIGN.md §6, encoded value <= 1000 bytes). The context-only benchmarks
// show how much of the single-shot cost is the KEM (two X25519 operations
// per seal, one per open) versus the AEAD.
#include "crypto/hpke.hpp"

#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdlib>
#include <vector>

namespace {

using namespace topicswarm;
using namespace topicswarm::crypto;

constexpr std::size_t message_size = 750;

bytes message() {
  bytes m(message_size);
  for (std::size_t i = 0; i < m.size(); ++i) m[i] = std::byte(i * 31 + 7);
  return m;
}

const bytes info = to_bytes("topicswarm bench info");
const bytes aad = to_bytes("topicswarm bench aad");

template <class R>
void require(const R& r) {
  if (!r) std::abort();  // a benchmark of a failing operation would be meaningless
}

void BM_hpke_seal_base_750(benchmark::State& state) {
  const auto kR = hpke::generate_key_pair();
  const auto pt = message();
  for (auto _ : state) {
    auto sealed = hpke::seal_base(kR.pk, info, aad, pt);
    require(sealed);
    benchmark::DoNotOptimize(sealed->data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * message_size));
}
BENCHMARK(BM_hpke_seal_base_750);

void BM_hpke_open_base_750(benchmark::State& state) {
  const auto kR = hpke::generate_key_pair();
  const auto sealed = hpke::seal_base(kR.pk, info, aad, message());
  require(sealed);
  for (auto _ : state) {
    auto pt = hpke::open_base(kR, info, aad, *sealed);
    require(pt);
    benchmark::DoNotOptimize(pt->data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * message_size));
}
BENCHMARK(BM_hpke_open_base_750);

// AEAD only: one established context, one message per iteration.
void BM_hpke_context_seal_750(benchmark::State& state) {
  const auto kR = hpke::generate_key_pair();
  auto s = hpke::setup_base_sender(kR.pk, info);
  require(s);
  const auto pt = message();
  for (auto _ : state) {
    auto ct = s->ctx.seal(aad, pt);
    require(ct);
    benchmark::DoNotOptimize(ct->data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * message_size));
}
BENCHMARK(BM_hpke_context_seal_750);

void BM_hpke_context_open_750(benchmark::State& state) {
  // Opening advances the sequence number, so pre-seal a batch and open it
  // in order; re-establish the pair (outside timing) when it runs out.
  const auto kR = hpke::generate_key_pair();
  const auto pt = message();
  constexpr int batch = 1024;
  std::vector<bytes> cts;
  hpke::context r;
  auto refill = [&] {
    auto s = hpke::setup_base_sender(kR.pk, info);
    require(s);
    cts.clear();
    for (int i = 0; i < batch; ++i) {
      auto ct = s->ctx.seal(aad, pt);
      require(ct);
      cts.push_back(std::move(*ct));
    }
    auto rr = hpke::setup_base_receiver(s->enc, kR, info);
    require(rr);
    r = std::move(*rr);
  };
  refill();
  std::size_t next = 0;
  for (auto _ : state) {
    if (next == cts.size()) {
      state.PauseTiming();
      refill();
      next = 0;
      state.ResumeTiming();
    }
    auto out = r.open(aad, cts[next++]);
    require(out);
    benchmark::DoNotOptimize(out->data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * message_size));
}
BENCHMARK(BM_hpke_context_open_750);

}  // namespace
