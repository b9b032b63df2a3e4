// Known dialling addresses of peers, bounded: when full, the peer learned
// longest ago is forgotten first. Sources: bootstrap peers given by the user,
// addresses carried in gossip messages (HyParView joins, forward-joins,
// shuffles), and records.
//
// Addresses are hints (docs/PROTOCOL.md §13): whoever dials one names the
// node id it expects and TLS proves it. The book keeps, per address, where
// it came from, and applies the node's address policy (core/address_policy)
// to everything it did not get from our user.
#pragma once

#include "core/address_policy.hpp"

#include <topicswarm/endpoint.hpp>
#include <topicswarm/ids.hpp>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <vector>

namespace topicswarm::detail {

enum class address_source : std::uint8_t {
  // Our user named it (subscribe bootstrap, join_peers, add_peer_addresses):
  // the user's decision, dialled whatever the policy says.
  user,
  // The peer itself said so over its own TLS connection (its own entry in a
  // gossip message it sent us).
  first_hand,
  // A third party said so: a forward-join, a shuffle, a record or its
  // neighbour list.
  hearsay,
};

class address_book {
 public:
  // Until set_policy(), hints to public addresses only are kept.
  explicit address_book(std::size_t capacity, std::size_t max_per_peer = 4)
      : capacity_(capacity), max_per_peer_(max_per_peer) {}

  void set_policy(const core::address_policy& p) noexcept { policy_ = p; }
  const core::address_policy& policy() const noexcept { return policy_; }

  // Adds addresses for `peer` (duplicates removed). Unless `from` is the
  // user, addresses the policy refuses are dropped and counted. The list is
  // kept in dialling order: first-hand addresses, then the user's, then
  // hearsay, newest first within each; at most max_per_peer, so hearsay
  // about a peer never pushes out what the peer said itself. An address
  // once first-hand stays so when a third party repeats it.
  void add(const node_id& peer, const std::vector<endpoint>& addresses, address_source from);
  // We dialled `peer` at `address` and TLS proved its id there: the address
  // is first-hand from now on (kept even if the policy would refuse it: we
  // reached it, so it was dialled on the user's word).
  void confirm(const node_id& peer, const endpoint& address);
  // The policy applied to a list about to be dialled at once (not through
  // the book): the allowed addresses, in order; the others are counted.
  std::vector<endpoint> admit(const std::vector<endpoint>& addresses) const;

  // Our own public addresses as others see us (observed, mapped; ports do
  // not matter). A peer that lists one of their IPs is behind our own NAT:
  // its private and link-local addresses are then dialled before the rest,
  // since reaching it through the NAT's public side needs hairpinning, which
  // many NATs do not do (issue 16: prefer LAN addresses when both sides
  // share an external IP).
  void set_external(std::vector<endpoint> own) { external_ = std::move(own); }
  // Where to dial `peer`, in order.
  std::vector<endpoint> find(const node_id& peer) const;
  // Only what `peer` itself told us (or a dial proved): what may go into our
  // own signed record as the peer's addresses.
  std::vector<endpoint> find_first_hand(const node_id& peer) const;
  void forget(const node_id& peer);
  std::size_t size() const noexcept { return entries_.size(); }
  // Addresses refused by the policy so far.
  std::uint64_t refused() const noexcept { return refused_; }

 private:
  struct known {
    endpoint at;
    address_source from;
  };
  using list = std::vector<known>;
  list& entry(const node_id& peer);
  void merge(list& stored, list fresh);
  // LAN addresses first when the list names our own external IP.
  void prefer_local(std::vector<endpoint>& addresses) const;

  std::size_t capacity_, max_per_peer_;
  core::address_policy policy_;
  std::map<node_id, list> entries_;
  std::deque<node_id> order_;  // insertion order of entries_ keys (for eviction)
  mutable std::uint64_t refused_ = 0;
  std::vector<endpoint> external_;
};

}  // namespace topicswarm::detail
