// Settings of auto-discovery: how a node finds the other members of a topic
// through the Mainline DHT (bootstrap), keeps the topic findable (publisher)
// and heals a split overlay (merges). docs/PROTOCOL.md §11 explains each one.
//
// Every field has the default of distributed-topic-tracker 0.3 where that
// crate has the setting (the README lists them all); the few settings it does
// not have are marked "(topicswarm)".
//
//   auto cfg = topicswarm::auto_discovery_config::builder()
//                  .max_bootstrap_records(5)
//                  .bubble_merge_enabled(false)
//                  .build();                       // result<auto_discovery_config>
//
// build() and validate() refuse settings that cannot work (a zero interval,
// a timeout of zero, more slots than a window may hold) with
// errc::invalid_argument and a message naming the field.
#pragma once

#include <topicswarm/error.hpp>
#include <topicswarm/export.hpp>
#include <topicswarm/record.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>

namespace topicswarm {

// DHT operations: deadlines, and how failed puts are retried.
struct dht_op_config {
  std::chrono::milliseconds get_timeout{10'000};
  std::chrono::milliseconds put_timeout{10'000};
  // A failed put is tried again up to `retries` times, each after
  // base_retry_interval + uniform [0, max_retry_jitter). Gets are not retried:
  // the loop that issued them reads again on its own schedule.
  unsigned retries = 3;
  std::chrono::milliseconds base_retry_interval{5'000};
  std::chrono::milliseconds max_retry_jitter{10'000};
};

// Finding the first neighbour.
struct bootstrap_config {
  // Slots per window: the per-window cap on records (DHT slots are read and
  // written per window; docs/PROTOCOL.md §7). At most 64. 0: read-only, as in
  // distributed-topic-tracker: the node reads the default 5 slots and never
  // publishes a record (it finds publishing peers; two read-only peers never
  // find each other).
  std::size_t max_bootstrap_records = 5;
  // Wait before reading again when a read round found no record.
  std::chrono::milliseconds no_peers_retry_interval{1'500};
  // After the last dial of a round has failed, wait this long for a peer that
  // may be dialling us before judging the round.
  std::chrono::milliseconds per_peer_join_settle_time{100};
  // After a reachable candidate was asked to join us, wait this long for the
  // first neighbour before the round counts as failed.
  std::chrono::milliseconds join_confirmation_wait_time{500};
  // Wait before reading again when candidates were found but none joined.
  std::chrono::milliseconds discovery_poll_interval{2'000};
  // (topicswarm) The waits above double after each fruitless round, up to
  // this, so a node alone on a topic does not keep the DHT busy.
  std::chrono::milliseconds max_poll_interval{15'000};
  // (topicswarm) This long after joining, run the merges' checks once
  // (bubble: too few neighbours; message overlap: a quiet small island).
  // Peers that start together sometimes join in small groups nobody else
  // joined; this finds them long before the first merge tick. 0: off.
  std::chrono::milliseconds post_join_check{2'000};
  // Publish our record in the first round even if candidates were found
  // (peers starting at the same moment then find each other at once).
  bool publish_record_on_startup = true;
  // The first round reads the two windows before the current one instead of
  // the current and the previous (favours long-running topics).
  bool check_older_records_first_on_startup = false;
};

// Refreshing our record once joined.
struct publisher_config {
  bool enabled = true;
  std::chrono::milliseconds initial_delay{10'000};
  std::chrono::milliseconds base_interval{10'000};
  std::chrono::milliseconds max_jitter{50'000};
  // (topicswarm) When our own addresses change (node_config::
  // advertise_interfaces saw a new interface address), publish once this
  // long after, instead of at the next tick: the DHT client first rejoins
  // from its new socket (about 1.5 s on a testnet, DESIGN.md §5).
  std::chrono::milliseconds address_change_delay{2'000};
};

// Bubble merge: with fewer than min_neighbors neighbours, join up to
// max_join_peers random peers taken from the current records.
struct bubble_merge_config {
  bool enabled = true;
  std::chrono::milliseconds initial_interval{30'000};
  std::chrono::milliseconds base_interval{60'000};
  std::chrono::milliseconds max_jitter{120'000};
  std::size_t min_neighbors = 4;
  std::size_t max_join_peers = 2;
};

// Message-overlap merge: a record whose message hashes are all unknown to us
// comes from another part of a split overlay; join up to max_join_peers of
// its peers.
struct message_overlap_merge_config {
  bool enabled = true;
  std::chrono::milliseconds initial_interval{30'000};
  std::chrono::milliseconds base_interval{60'000};
  std::chrono::milliseconds max_jitter{120'000};
  std::size_t max_join_peers = 2;
  // (topicswarm) A quiet island has no messages to compare. A node whose
  // gossip views (active and passive) hold fewer than this many peers also
  // treats a record as foreign when neither its publisher nor any neighbour
  // it lists is in those views. A passive view fills to 30 peers in any
  // overlay larger than about 35, so only small islands qualify. 0: off.
  std::size_t island_known_peers = 15;
};

struct merge_config {
  bubble_merge_config bubble;
  message_overlap_merge_config message_overlap;
};

// Per-operation timeouts (as in the crate): a dial to a candidate that has
// not answered within join_peer_timeout counts as failed; a broadcast on an
// auto-discovery topic that back-pressure holds longer than
// broadcast_timeout (broadcast_neighbors_timeout) fails with errc::timeout.
struct timeout_config {
  std::chrono::milliseconds join_peer_timeout{5'000};
  std::chrono::milliseconds broadcast_timeout{5'000};
  std::chrono::milliseconds broadcast_neighbors_timeout{5'000};
};

struct TOPICSWARM_API auto_discovery_config {
  bootstrap_config bootstrap;
  dht_op_config dht;
  publisher_config publisher;
  merge_config merge;
  timeout_config timeouts;
  // (topicswarm) How long join_with_auto_discovery() waits for the first
  // neighbour before it fails with errc::timeout (the crate waits forever).
  std::chrono::milliseconds join_timeout{60'000};
  // (topicswarm) Argon2id cost of hashing the secret passphrase once per join
  // (record.hpp, secret_hash_params); every member must use the same values.
  secret_hash_params secret_hashing;
  // (topicswarm) A candidate whose dial failed is not dialled again for this long.
  std::chrono::milliseconds unreachable_backoff{30'000};
  // (topicswarm) Message ids remembered for the message-overlap test.
  std::size_t known_message_capacity = 1024;

  // Ok, or errc::invalid_argument naming the first field that cannot work.
  result<void> validate() const;

  class builder;
};

// Chained setters over the defaults; build() validates.
class TOPICSWARM_API auto_discovery_config::builder {
 public:
  using ms = std::chrono::milliseconds;
  builder() = default;

  builder& max_bootstrap_records(std::size_t v) {
    c_.bootstrap.max_bootstrap_records = v;
    return *this;
  }
  builder& no_peers_retry_interval(ms v) {
    c_.bootstrap.no_peers_retry_interval = v;
    return *this;
  }
  builder& per_peer_join_settle_time(ms v) {
    c_.bootstrap.per_peer_join_settle_time = v;
    return *this;
  }
  builder& join_confirmation_wait_time(ms v) {
    c_.bootstrap.join_confirmation_wait_time = v;
    return *this;
  }
  builder& discovery_poll_interval(ms v) {
    c_.bootstrap.discovery_poll_interval = v;
    return *this;
  }
  builder& max_poll_interval(ms v) {
    c_.bootstrap.max_poll_interval = v;
    return *this;
  }
  builder& post_join_check(ms v) {
    c_.bootstrap.post_join_check = v;
    return *this;
  }
  builder& publish_record_on_startup(bool v) {
    c_.bootstrap.publish_record_on_startup = v;
    return *this;
  }
  builder& check_older_records_first_on_startup(bool v) {
    c_.bootstrap.check_older_records_first_on_startup = v;
    return *this;
  }
  builder& bootstrap(const bootstrap_config& v) {
    c_.bootstrap = v;
    return *this;
  }

  builder& dht_get_timeout(ms v) {
    c_.dht.get_timeout = v;
    return *this;
  }
  builder& dht_put_timeout(ms v) {
    c_.dht.put_timeout = v;
    return *this;
  }
  builder& dht_retries(unsigned v) {
    c_.dht.retries = v;
    return *this;
  }
  builder& dht_base_retry_interval(ms v) {
    c_.dht.base_retry_interval = v;
    return *this;
  }
  builder& dht_max_retry_jitter(ms v) {
    c_.dht.max_retry_jitter = v;
    return *this;
  }
  builder& dht(const dht_op_config& v) {
    c_.dht = v;
    return *this;
  }

  builder& publisher(const publisher_config& v) {
    c_.publisher = v;
    return *this;
  }
  builder& publisher_enabled(bool v) {
    c_.publisher.enabled = v;
    return *this;
  }
  builder& bubble_merge(const bubble_merge_config& v) {
    c_.merge.bubble = v;
    return *this;
  }
  builder& bubble_merge_enabled(bool v) {
    c_.merge.bubble.enabled = v;
    return *this;
  }
  builder& message_overlap_merge(const message_overlap_merge_config& v) {
    c_.merge.message_overlap = v;
    return *this;
  }
  builder& island_known_peers(std::size_t v) {
    c_.merge.message_overlap.island_known_peers = v;
    return *this;
  }
  builder& message_overlap_merge_enabled(bool v) {
    c_.merge.message_overlap.enabled = v;
    return *this;
  }
  builder& timeouts(const timeout_config& v) {
    c_.timeouts = v;
    return *this;
  }

  builder& join_timeout(ms v) {
    c_.join_timeout = v;
    return *this;
  }
  builder& unreachable_backoff(ms v) {
    c_.unreachable_backoff = v;
    return *this;
  }
  builder& known_message_capacity(std::size_t v) {
    c_.known_message_capacity = v;
    return *this;
  }

  result<auto_discovery_config> build() const;

 private:
  auto_discovery_config c_;
};

}  // namespace topicswarm
