// RFC 6298 §2 smoothing of round-trip samples (SRTT and RTTVAR), used for
// the RTT the network layer exposes per peer and for its max_rtt filter.
#pragma once

#include <topicswarm/network.hpp>

#include <chrono>
#include <cstdlib>

namespace topicswarm::discovery {

inline void add_rtt_sample(rtt_estimate& e, std::chrono::microseconds r) {
  if (r.count() < 0) r = std::chrono::microseconds(0);
  if (e.samples == 0) {
    // RFC 6298 (2.2): SRTT <- R, RTTVAR <- R/2.
    e.srtt = r;
    e.rttvar = r / 2;
  } else {
    // RFC 6298 (2.3), beta = 1/4 then alpha = 1/8, in that order.
    const auto dev = std::chrono::microseconds(std::llabs((e.srtt - r).count()));
    e.rttvar = (3 * e.rttvar + dev) / 4;
    e.srtt = (7 * e.srtt + r) / 8;
  }
  e.last = r;
  ++e.samples;
}

}  // namespace topicswarm::discovery
