#include "gossip/router.hpp"

#include "core/rng.hpp"
#include "gossip/topic_state.hpp"

#include <algorithm>

namespace topicswarm::gossip {
namespace {

// Each topic gets its own RNG stream derived from (router seed, topic id), so
// a topic's behaviour does not depend on which other topics exist or the
// order they were joined in.
std::uint64_t topic_seed(std::uint64_t seed, const topic_id& topic) {
  std::uint64_t h = core::mix_seed(seed);
  for (std::size_t w = 0; w < topic_id::size(); w += 8) {
    std::uint64_t v = 0;
    for (std::size_t i = 0; i < 8; ++i) v = (v << 8) | static_cast<std::uint8_t>(topic.data()[w + i]);
    h = core::mix_seed(h ^ v);
  }
  return h;
}

}  // namespace

router::router(peer_info me, config cfg, std::uint64_t rng_seed)
    : me_(std::move(me)), cfg_(std::move(cfg)), seed_(rng_seed) {}
router::~router() = default;
router::router(router&&) noexcept = default;
router& router::operator=(router&&) noexcept = default;

bool router::has_topic(const topic_id& topic) const { return topics_.count(topic) != 0; }

std::vector<topic_id> router::topics() const {
  std::vector<topic_id> v;
  for (const auto& kv : topics_) v.push_back(kv.first);
  return v;
}

const topic_state* router::find(const topic_id& topic) const {
  auto it = topics_.find(topic);
  return it == topics_.end() ? nullptr : it->second.get();
}

std::vector<node_id> router::active_view(const topic_id& topic) const {
  const auto* s = find(topic);
  return s ? s->membership().active_ids() : std::vector<node_id>{};
}

std::vector<node_id> router::passive_view(const topic_id& topic) const {
  const auto* s = find(topic);
  return s ? s->membership().passive_ids() : std::vector<node_id>{};
}

topic_counters router::counters(const topic_id& topic) const {
  const auto* s = find(topic);
  return s ? s->counters() : topic_counters{};
}

namespace {

// Tags a topic's outputs and keeps a drop_peer only if no topic (including
// the one that emitted it, in its final state) still needs the peer.
template <class Map>
void forward(const Map& topics, const topic_id& topic, std::vector<out::output>& batch, std::vector<routed>& out,
             const node_id* gone) {
  std::vector<node_id> dropped;
  for (auto& o : batch) {
    if (auto* d = std::get_if<out::drop_peer>(&o)) {
      if (gone && d->peer == *gone) continue;  // the connection is already closed
      if (std::find(dropped.begin(), dropped.end(), d->peer) != dropped.end()) continue;
      const bool used =
          std::any_of(topics.begin(), topics.end(), [&](const auto& kv) { return kv.second->uses(d->peer); });
      if (used) continue;
      dropped.push_back(d->peer);
    }
    out.push_back(routed{topic, std::move(o)});
  }
}

// Inputs that start a topic. Timers, disconnects and answers for a topic we
// are not in are stale (typically from before a leave) and must not
// resurrect it. Unsolicited requests do create it: that is how a bootstrap
// node that never called join learns of the topic; the shell passes only
// topics the user has joined.
bool creates_topic(const in::input& input) {
  if (std::holds_alternative<in::join_peers>(input) || std::holds_alternative<in::broadcast>(input)) return true;
  auto* r = std::get_if<in::received>(&input);
  if (!r) return false;
  return std::holds_alternative<wire::join>(r->msg) || std::holds_alternative<wire::neighbor>(r->msg);
}

}  // namespace

void router::handle(const topic_id& topic, in::input input, instant now, std::vector<routed>& out) {
  if (std::holds_alternative<in::quit>(input)) return leave(topic, now, out);
  auto it = topics_.find(topic);
  if (it == topics_.end()) {
    if (!creates_topic(input)) return;
    // Attempt numbers of each incarnation live in their own 2^40 range.
    const std::uint64_t attempt_base = ++incarnations_ << 40;
    it = topics_.emplace(topic, std::make_unique<topic_state>(me_, cfg_, topic_seed(seed_, topic), attempt_base, sources_)).first;
  }
  std::vector<out::output> batch;
  it->second->handle(std::move(input), now, batch);
  forward(topics_, topic, batch, out, nullptr);
}

void router::peer_source(const node_id& peer, const endpoint& remote) { (*sources_)[peer] = remote; }

void router::set_my_addresses(const std::vector<endpoint>& a) {
  me_.addresses = a;
  for (auto& [topic, state] : topics_) state->set_my_addresses(a);
}

void router::peer_disconnected(const node_id& peer, instant now, std::vector<routed>& out) {
  sources_->erase(peer);
  for (auto& [topic, state] : topics_) {
    std::vector<out::output> batch;
    state->handle(in::peer_disconnected{peer}, now, batch);
    forward(topics_, topic, batch, out, &peer);
  }
}

void router::leave(const topic_id& topic_ref, instant now, std::vector<routed>& out) {
  const topic_id topic = topic_ref;  // the caller's reference may point into topics_
  auto it = topics_.find(topic);
  if (it == topics_.end()) return;
  std::vector<out::output> batch;
  it->second->leave(now, batch);
  topics_.erase(it);  // before filtering: the left topic no longer holds peers
  forward(topics_, topic, batch, out, nullptr);
}

}  // namespace topicswarm::gossip
