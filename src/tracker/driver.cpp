#include "tracker/driver.hpp"

#include <deque>

namespace topicswarm::tracker {
namespace {

// Slot keys of this many (window, slot) pairs are kept; a read round needs
// 2 x max_bootstrap_records of them (at most 128).
constexpr std::size_t max_cached_slots = 256;
// Gets in flight remembered for opening their answers (a round issues at
// most 2 x 64).
constexpr std::size_t max_pending_gets = 1024;

}  // namespace

result<topic_record> opened_values::open(const record_codec& codec, byte_span value, std::uint64_t window,
                                         unsigned slot, std::int64_t seq) {
  auto key = std::make_tuple(window, slot, seq, bytes(value.begin(), value.end()));
  auto it = cache_.find(key);
  if (it == cache_.end()) {
    if (cache_.size() >= limit_) cache_.clear();
    it = cache_.emplace(std::move(key), codec.open(value, window, slot, seq)).first;
  }
  return it->second;
}

namespace {

std::uint64_t driver_counters::*rejection_counter(errc e) {
  switch (e) {
    case errc::record_bad_length:
    case errc::record_too_large: return &driver_counters::rejected_length;
    case errc::record_unsupported_version:
    case errc::record_format_obsolete: return &driver_counters::rejected_format;
    case errc::record_seq_out_of_range: return &driver_counters::rejected_seq;
    case errc::record_decryption_failed: return &driver_counters::rejected_decryption;
    case errc::record_wrong_topic: return &driver_counters::rejected_topic;
    case errc::record_wrong_window: return &driver_counters::rejected_window;
    case errc::record_bad_signature: return &driver_counters::rejected_signature;
    default: return &driver_counters::rejected_other;
  }
}

}  // namespace

driver::driver(const identity& me, record_codec codec, const auto_discovery_config& cfg, std::uint64_t seed,
               const directory& dir, std::shared_ptr<opened_values> cache)
    : me_(me), codec_(std::move(codec)), dir_(dir), cache_(std::move(cache)), core_(me.id(), cfg, seed) {}

const record_slot& driver::slot(std::uint64_t window, unsigned index) {
  auto it = slots_.find({window, index});
  if (it == slots_.end()) {
    if (slots_.size() >= max_cached_slots) slots_.erase(slots_.begin());  // the oldest window first
    it = slots_.emplace(std::make_pair(window, index), codec_.slot(window, index)).first;
  }
  return it->second;
}

void driver::handle(in::input input, const clock& c, std::vector<effect::effect>& out) {
  run(std::move(input), c, out);
}

get_outcome driver::on_get(std::uint64_t request, std::optional<stored_value> value, bool complete, const clock& c,
                           std::vector<effect::effect>& out) {
  auto w = get_windows_.find(request);
  if (w == get_windows_.end()) {
    ++c_.answers_unknown;
    return get_outcome::timeout;
  }
  const auto [window, slot_index] = w->second;
  get_windows_.erase(w);
  in::get_done done{request, get_outcome::empty, std::nullopt};
  if (!value) {
    // A lookup that ended found nothing; one cut short by its deadline knows nothing.
    done.outcome = complete ? get_outcome::empty : get_outcome::timeout;
  } else {
    auto r = cache_ ? cache_->open(codec_, value->value, window, slot_index, value->seq)
                    : codec_.open(value->value, window, slot_index, value->seq);
    if (r) {
      done.record = std::move(*r);
      done.outcome = get_outcome::record;
    } else {
      ++(c_.*rejection_counter(static_cast<errc>(r.error().code.value())));
      done.outcome = get_outcome::invalid;
    }
  }
  const auto outcome = done.outcome;
  run(std::move(done), c, out);
  return outcome;
}

void driver::on_put(std::uint64_t request, bool stored, const clock& c, std::vector<effect::effect>& out) {
  run(in::put_done{request, stored}, c, out);
}

std::optional<bytes> driver::seal(const out::dht_put& p) {
  topic_record rec;
  rec.topic = codec_.topic();
  rec.window = p.window;
  rec.publisher = me_.id();
  rec.addresses = dir_.own_addresses();
  if (rec.addresses.size() > max_record_addresses) rec.addresses.resize(max_record_addresses);
  for (const auto& id : p.neighbors) {
    auto addrs = dir_.addresses_of(id);
    if (addrs.empty()) continue;  // a neighbour nobody can dial is no use to a reader
    if (addrs.size() > max_record_addresses) addrs.resize(max_record_addresses);
    rec.neighbors.push_back(record_neighbor{id, std::move(addrs)});
  }
  rec.recent_messages = p.recent_messages;
  rec.timestamp_ms = static_cast<std::uint64_t>(p.seq);
  auto sealed = codec_.seal(rec, me_, p.slot);
  if (!sealed) return std::nullopt;
  return std::move(*sealed);
}

void driver::run(in::input first, const clock& c, std::vector<effect::effect>& out) {
  std::deque<in::input> inputs;
  inputs.push_back(std::move(first));
  std::vector<out::output> outs;
  while (!inputs.empty()) {
    outs.clear();
    core_.handle(std::move(inputs.front()), c, outs);
    inputs.pop_front();
    for (auto& o : outs) {
      if (auto* g = std::get_if<out::dht_get>(&o)) {
        const record_slot& sl = slot(g->window, g->slot);
        // Bounded even if a shell never answered: the oldest requests go first.
        if (get_windows_.size() >= max_pending_gets) get_windows_.erase(get_windows_.begin());
        get_windows_[g->request] = {g->window, g->slot};
        out.push_back(effect::dht_get{g->request, sl.key(), sl.salt, g->timeout});
      } else if (auto* p = std::get_if<out::dht_put>(&o)) {
        auto value = seal(*p);
        if (!value) {
          // Only if our own lists broke the format's limits: a failed put.
          ++c_.seal_failures;
          inputs.push_back(in::put_done{p->request, false});
          continue;
        }
        const record_slot& sl = slot(p->window, p->slot);
        out.push_back(effect::dht_put{p->request, sl.signer, sl.salt, std::move(*value), p->seq, p->timeout});
      } else if (auto* d = std::get_if<out::dial>(&o)) {
        out.push_back(std::move(*d));
      } else if (auto* s = std::get_if<out::schedule>(&o)) {
        out.push_back(std::move(*s));
      } else if (auto* j = std::get_if<out::join>(&o)) {
        out.push_back(std::move(*j));
      } else if (std::holds_alternative<out::joined>(o)) {
        out.push_back(out::joined{});
      } else if (std::holds_alternative<out::view_wanted>(o)) {
        inputs.push_back(in::view{dir_.gossip_views()});
      }
    }
  }
}

}  // namespace topicswarm::tracker
