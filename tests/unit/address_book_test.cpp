// The address book's provenance and policy filter (docs/PROTOCOL.md §13).
#include "node/address_book.hpp"

#include "endpoint_support.hpp"

#include <gtest/gtest.h>

#include <array>
#include <string>
#include <vector>

using namespace topicswarm;
using test_support::ep;
using test_support::eps;
using detail::address_book;
using detail::address_source;

namespace {

node_id peer(unsigned char n) {
  std::array<std::byte, 32> b{};
  b[0] = std::byte{n};
  return node_id(b);
}

// A book of a node on loopback (a testnet).
address_book loopback_book(std::size_t capacity = 16, std::size_t per_peer = 4) {
  address_book b(capacity, per_peer);
  const auto own = eps({"127.0.0.1:4000"});
  b.set_policy(core::address_policy(own, {}));
  return b;
}

}  // namespace

TEST(AddressBook, HintsOutsideTheNodesScopeAreRefusedAndCounted) {
  auto b = loopback_book();
  b.add(peer(1), eps({"192.168.1.1:80", "127.0.0.1:5001", "0.0.0.0:5001"}), address_source::hearsay);
  EXPECT_EQ(b.find(peer(1)), eps({"127.0.0.1:5001"}));
  EXPECT_EQ(b.refused(), 2u);
  // First-hand claims are filtered too: we cannot reach a LAN we are not on.
  b.add(peer(2), eps({"10.0.0.2:5002"}), address_source::first_hand);
  EXPECT_TRUE(b.find(peer(2)).empty());
  EXPECT_EQ(b.size(), 1u);  // nothing stored for peer 2
  EXPECT_EQ(b.refused(), 3u);
}

TEST(AddressBook, TheUsersAddressesAreDialledWhateverThePolicy) {
  address_book b(16);  // default policy: public only
  b.add(peer(1), eps({"127.0.0.1:5001", "192.168.1.1:5001"}), address_source::user);
  EXPECT_EQ(b.find(peer(1)), eps({"127.0.0.1:5001", "192.168.1.1:5001"}));
  EXPECT_EQ(b.refused(), 0u);
  b.add(peer(1), eps({"127.0.0.1:6001"}), address_source::hearsay);
  EXPECT_EQ(b.find(peer(1)), eps({"127.0.0.1:5001", "192.168.1.1:5001"}));
  EXPECT_EQ(b.refused(), 1u);
  // Gossip repeating the user's address does not refuse (or demote) it; it
  // is now the most recently heard of the user's addresses.
  b.add(peer(1), eps({"192.168.1.1:5001"}), address_source::hearsay);
  EXPECT_EQ(b.refused(), 1u);
  EXPECT_EQ(b.find(peer(1)), eps({"192.168.1.1:5001", "127.0.0.1:5001"}));
  b.add(peer(1), eps({"127.0.0.1:7001"}), address_source::user);
  EXPECT_EQ(b.find(peer(1)), eps({"127.0.0.1:7001", "192.168.1.1:5001", "127.0.0.1:5001"}));
}

TEST(AddressBook, OnlyFirstHandAddressesAreReportedAsFirstHand) {
  auto b = loopback_book();
  b.add(peer(1), eps({"127.0.0.1:5001"}), address_source::hearsay);
  EXPECT_TRUE(b.find_first_hand(peer(1)).empty());
  b.add(peer(1), eps({"127.0.0.1:5002"}), address_source::first_hand);
  EXPECT_EQ(b.find_first_hand(peer(1)), eps({"127.0.0.1:5002"}));
  // The user's word is not the peer's either.
  b.add(peer(1), eps({"127.0.0.1:5003"}), address_source::user);
  EXPECT_EQ(b.find_first_hand(peer(1)), eps({"127.0.0.1:5002"}));
  // First-hand first, then the user's, then hearsay.
  EXPECT_EQ(b.find(peer(1)), eps({"127.0.0.1:5002", "127.0.0.1:5003", "127.0.0.1:5001"}));
  EXPECT_TRUE(b.find_first_hand(peer(9)).empty());
}

TEST(AddressBook, HearsayRepeatingAFirstHandAddressDoesNotDemoteIt) {
  auto b = loopback_book();
  b.add(peer(1), eps({"127.0.0.1:5001"}), address_source::first_hand);
  b.add(peer(1), eps({"127.0.0.1:5001"}), address_source::hearsay);
  EXPECT_EQ(b.find_first_hand(peer(1)), eps({"127.0.0.1:5001"}));
  // ...and the peer repeating a hearsay address promotes it.
  b.add(peer(1), eps({"127.0.0.1:5002"}), address_source::hearsay);
  b.add(peer(1), eps({"127.0.0.1:5002"}), address_source::first_hand);
  EXPECT_EQ(b.find_first_hand(peer(1)), eps({"127.0.0.1:5002", "127.0.0.1:5001"}));
}

TEST(AddressBook, AConfirmedDialMakesTheAddressFirstHand) {
  auto b = loopback_book();
  b.add(peer(1), eps({"127.0.0.1:5001", "127.0.0.1:5002"}), address_source::hearsay);
  b.confirm(peer(1), ep("127.0.0.1:5002"));
  EXPECT_EQ(b.find_first_hand(peer(1)), eps({"127.0.0.1:5002"}));
  EXPECT_EQ(b.find(peer(1)), eps({"127.0.0.1:5002", "127.0.0.1:5001"}));
}

TEST(AddressBook, HearsayNeverPushesOutWhatThePeerSaidItself) {
  auto b = loopback_book(16, 3);
  b.add(peer(1), eps({"127.0.0.1:5001", "127.0.0.1:5002"}), address_source::first_hand);
  // A third party floods the peer's entry with addresses of its choice.
  for (int port = 6000; port < 6010; ++port)
    b.add(peer(1), {ep("127.0.0.1:" + std::to_string(port))}, address_source::hearsay);
  const auto found = b.find(peer(1));
  ASSERT_EQ(found.size(), 3u);
  EXPECT_EQ(found[0], ep("127.0.0.1:5001"));
  EXPECT_EQ(found[1], ep("127.0.0.1:5002"));
  EXPECT_EQ(found[2], ep("127.0.0.1:6009"));  // the newest hearsay fills the rest
  EXPECT_EQ(b.find_first_hand(peer(1)), eps({"127.0.0.1:5001", "127.0.0.1:5002"}));
}

TEST(AddressBook, AdmitFiltersAListAboutToBeDialled) {
  auto b = loopback_book();
  EXPECT_EQ(b.admit(eps({"127.0.0.1:1", "10.0.0.1:1", "[::1]:2", "224.0.0.1:3"})), eps({"127.0.0.1:1", "[::1]:2"}));
  EXPECT_EQ(b.refused(), 2u);
  EXPECT_EQ(b.size(), 0u);  // admit() stores nothing
}

TEST(AddressBook, BoundedPeersOldestForgottenFirst) {
  auto b = loopback_book(2);
  b.add(peer(1), eps({"127.0.0.1:1"}), address_source::hearsay);
  b.add(peer(2), eps({"127.0.0.1:2"}), address_source::hearsay);
  b.add(peer(3), eps({"127.0.0.1:3"}), address_source::hearsay);
  EXPECT_EQ(b.size(), 2u);
  EXPECT_TRUE(b.find(peer(1)).empty());
  EXPECT_EQ(b.find(peer(3)), eps({"127.0.0.1:3"}));
  b.forget(peer(3));
  EXPECT_TRUE(b.find(peer(3)).empty());
  EXPECT_EQ(b.size(), 1u);
}

namespace {
// Peers behind our own NAT list our external IP: their LAN addresses go
// first (hairpinning through the NAT's public side often fails); others'
// order stays.
TEST(AddressBook, APeerBehindOurOwnNatIsDialledAtItsLanAddressFirst) {
  address_book b(16, 4);
  b.set_policy(core::address_policy(eps({"192.168.1.10:7000"}), {}));
  b.add(peer(1), eps({"203.0.113.5:40001", "192.168.1.20:7000"}), address_source::hearsay);
  b.add(peer(2), eps({"198.51.100.9:7000", "192.168.7.20:7000"}), address_source::hearsay);
  EXPECT_EQ(b.find(peer(1)), eps({"203.0.113.5:40001", "192.168.1.20:7000"}));  // nothing known of us yet
  b.set_external(eps({"203.0.113.5:7000"}));  // the port does not matter
  EXPECT_EQ(b.find(peer(1)), eps({"192.168.1.20:7000", "203.0.113.5:40001"}));
  EXPECT_EQ(b.find(peer(2)), eps({"198.51.100.9:7000", "192.168.7.20:7000"}));  // another network: as it was
  EXPECT_EQ(b.admit(eps({"203.0.113.5:40001", "10.0.0.4:7000"})), eps({"10.0.0.4:7000", "203.0.113.5:40001"}));
}
}  // namespace
