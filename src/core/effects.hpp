// The effect vocabulary shared by every protocol core and its driver
// (DESIGN.md §3, issue 12). A core is driven the same way whatever it does:
// inputs and the current time go in, a list of effects comes out, and a
// driver in src/node/ (or the simulator) performs them:
//
//   send<M>       send one message of the core's own frame kind to a peer
//   dial          connect to a peer at these addresses (hints: TLS proves the id)
//   close         close the connection to a peer once its queue is written
//   schedule<T>   feed the token back as a fired timer after `after`
//   dht_get       read a BEP 44 mutable item (key, salt)
//   dht_put       store one, signed by `signer`, with `seq`
//
// plus the core's own events (neighbour up, message received, joined ...),
// which the driver hands to subscribers or to another core. Each core's
// output variant is made of these types and its events; the cores alias
// them (gossip::out::send is core::effect::send<gossip::wire::message>) so
// nothing but this header defines what an effect is.
#pragma once

#include "core/peer_info.hpp"
#include "core/time.hpp"

#include <topicswarm/bytes.hpp>
#include <topicswarm/identity.hpp>
#include <topicswarm/ids.hpp>

#include <cstdint>

namespace topicswarm::core::effect {

template <class Message>
struct send {
  node_id to;
  Message msg;
};

struct dial {
  peer_info peer;
};

struct close {
  node_id peer;
};

template <class Token>
struct schedule {
  duration after;
  Token t;
};

// Answered with the item of the highest seq found (or none), and whether
// the lookup finished before `timeout`.
struct dht_get {
  std::uint64_t request = 0;
  public_key key;
  bytes salt;
  duration timeout{};
};

// Answered with whether at least one DHT node stored the item.
struct dht_put {
  std::uint64_t request = 0;
  keypair signer;
  bytes salt;
  bytes value;
  std::int64_t seq = 0;
  duration timeout{};
};

}  // namespace topicswarm::core::effect
