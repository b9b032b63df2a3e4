#include <topicswarm/auto_discovery.hpp>

#include <string>

namespace topicswarm {
namespace {

// Slots of one window are read concurrently on every round; past this the
// round costs the DHT more than a window's cap is worth.
constexpr std::size_t max_slots = 64;

using ms = std::chrono::milliseconds;

result<void> positive(ms v, const char* field) {
  if (v.count() <= 0)
    return error(errc::invalid_argument,
                 std::string(field) + " must be greater than zero (got " + std::to_string(v.count()) + " ms)");
  return {};
}

result<void> not_negative(ms v, const char* field) {
  if (v.count() < 0)
    return error(errc::invalid_argument,
                 std::string(field) + " must not be negative (got " + std::to_string(v.count()) + " ms)");
  return {};
}

}  // namespace

result<void> auto_discovery_config::validate() const {
  const auto& b = bootstrap;
  if (b.max_bootstrap_records > max_slots)
    return error(errc::invalid_argument, "bootstrap.max_bootstrap_records must be between 0 (read-only) and " +
                                             std::to_string(max_slots) + " (got " +
                                             std::to_string(b.max_bootstrap_records) + ")");
  // Each check names the field as the README and the builder spell it.
  // Durations that must be positive, and those that may be zero (off / none).
  enum class least : bool { positive, zero };
  struct duration_rule {
    ms value;
    const char* name;
    least lowest;
  };
  // Every value as alias.field, so the table reads alike row by row.
  const auto& top = *this;
  const auto& d = dht;
  const auto& p = publisher;
  const auto& mb = merge.bubble;
  const auto& mo = merge.message_overlap;
  const auto& t = timeouts;
  const duration_rule rules[] = {
      {b.no_peers_retry_interval, "bootstrap.no_peers_retry_interval", least::positive},
      {b.join_confirmation_wait_time, "bootstrap.join_confirmation_wait_time", least::positive},
      {b.discovery_poll_interval, "bootstrap.discovery_poll_interval", least::positive},
      {b.max_poll_interval, "bootstrap.max_poll_interval", least::positive},
      {d.get_timeout, "dht.get_timeout", least::positive},
      {d.put_timeout, "dht.put_timeout", least::positive},
      {d.base_retry_interval, "dht.base_retry_interval", least::positive},
      {p.base_interval, "publisher.base_interval", least::positive},
      {mb.base_interval, "merge.bubble.base_interval", least::positive},
      {mo.base_interval, "merge.message_overlap.base_interval", least::positive},
      {t.join_peer_timeout, "timeouts.join_peer_timeout", least::positive},
      {t.broadcast_timeout, "timeouts.broadcast_timeout", least::positive},
      {t.broadcast_neighbors_timeout, "timeouts.broadcast_neighbors_timeout", least::positive},
      {top.join_timeout, "join_timeout", least::positive},
      {b.per_peer_join_settle_time, "bootstrap.per_peer_join_settle_time", least::zero},
      {b.post_join_check, "bootstrap.post_join_check", least::zero},
      {d.max_retry_jitter, "dht.max_retry_jitter", least::zero},
      {p.initial_delay, "publisher.initial_delay", least::zero},
      {p.max_jitter, "publisher.max_jitter", least::zero},
      {p.address_change_delay, "publisher.address_change_delay", least::zero},
      {mb.initial_interval, "merge.bubble.initial_interval", least::zero},
      {mb.max_jitter, "merge.bubble.max_jitter", least::zero},
      {mo.initial_interval, "merge.message_overlap.initial_interval", least::zero},
      {mo.max_jitter, "merge.message_overlap.max_jitter", least::zero},
      {top.unreachable_backoff, "unreachable_backoff", least::zero},
  };
  for (const auto& r : rules)
    if (auto ok = r.lowest == least::positive ? positive(r.value, r.name) : not_negative(r.value, r.name); !ok)
      return ok;
  if (b.max_poll_interval < b.no_peers_retry_interval || b.max_poll_interval < b.discovery_poll_interval)
    return error(errc::invalid_argument,
                 "bootstrap.max_poll_interval must be at least no_peers_retry_interval and discovery_poll_interval");
  if (merge.bubble.enabled && merge.bubble.max_join_peers == 0)
    return error(errc::invalid_argument,
                 "merge.bubble.max_join_peers must be at least 1 (or disable the bubble merge)");
  if (merge.message_overlap.enabled && merge.message_overlap.max_join_peers == 0)
    return error(errc::invalid_argument,
                 "merge.message_overlap.max_join_peers must be at least 1 (or disable the message-overlap merge)");
  if (merge.message_overlap.enabled && known_message_capacity == 0)
    return error(errc::invalid_argument,
                 "known_message_capacity must be at least 1 for the message-overlap merge (or disable it)");
  return {};
}

result<auto_discovery_config> auto_discovery_config::builder::build() const {
  if (auto r = c_.validate(); !r) return r.error();
  return c_;
}

}  // namespace topicswarm
