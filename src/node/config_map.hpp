// The one place where public settings become core settings and core
// counters become public statistics (issue 12: "one stats type mapped in one
// place"). Every public field reaches its core through here; the unit test
// config_map_test changes each one and checks the core's value.
#pragma once

#include "gossip/router.hpp"
#include "tracker/tracker.hpp"

#include <topicswarm/node.hpp>

namespace topicswarm::detail {

// gossip_config (public) -> gossip::config (the HyParView/PlumTree core).
gossip::config to_core(const gossip_config& g);

// Refuses settings no core can work with; the message names the field.
result<void> validate(const node_config& c);

// Adds one topic's gossip counters and link counts to the public sums.
void add_to(gossip_stats& s, const gossip::topic_counters& c, std::size_t eager_links, std::size_t lazy_links);
// Adds one topic's auto-discovery counters to the public sums.
void add_to(auto_discovery_stats& s, const tracker::counters& c);

}  // namespace topicswarm::detail
