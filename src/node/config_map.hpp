// The one place where public settings become core settings and core
// counters become public statistics (issue 12: "one stats type mapped in one
// place"). Every public field reaches its core through here; the unit test
// config_map_test changes each one and checks the core's value.
#pragma once

#include "admission/admission.hpp"
#include "gossip/router.hpp"
#include "net/config.hpp"
#include "tracker/driver.hpp"
#include "tracker/tracker.hpp"

#include <topicswarm/node.hpp>

namespace topicswarm::detail {

// gossip_config (public) -> gossip::config (the HyParView/PlumTree core).
gossip::config to_core(const gossip_config& g);

// transport_config (public) -> net::config. The frame limit is not a public
// field: the node derives it from the largest message its layers send.
net::config to_net(const transport_config& t, std::size_t max_frame_payload);

// Refuses settings no core can work with; the message names the field.
result<void> validate(const node_config& c);
admission::config to_admission(const transport_config& t);

// Adds one topic's gossip counters and link counts to the public sums.
void add_to(gossip_stats& s, const gossip::topic_counters& c, std::size_t eager_links, std::size_t lazy_links);
// Adds one topic's auto-discovery counters to the public sums.
void add_to(auto_discovery_stats& s, const tracker::counters& c);
void add_to(auto_discovery_stats& s, const tracker::driver_counters& c);
// The transport's counters as public statistics.
transport_stats from_net(const net::stats& n);

}  // namespace topicswarm::detail
