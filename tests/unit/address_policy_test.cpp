// The address policy (docs/PROTOCOL.md §13): classification, the node's
// scope, and the modes that force a rule on or off.
#include "core/address_policy.hpp"

#include "endpoint_support.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

using namespace topicswarm;
using test_support::ep;
using test_support::eps;
using core::address_class;
using core::address_policy;

namespace {

}  // namespace

TEST(AddressPolicy, ClassifiesTheTable) {
  struct row {
    const char* address;
    address_class want;
  };
  const row table[] = {
      // IPv4, with the edges of each range.
      {"0.0.0.0:1", address_class::unspecified},
      {"0.255.255.255:1", address_class::unspecified},
      {"1.0.0.0:1", address_class::public_network},
      {"126.255.255.255:1", address_class::public_network},
      {"127.0.0.0:1", address_class::loopback},
      {"127.0.0.1:1", address_class::loopback},
      {"127.255.255.255:1", address_class::loopback},
      {"128.0.0.0:1", address_class::public_network},
      {"9.255.255.255:1", address_class::public_network},
      {"10.0.0.0:1", address_class::private_network},
      {"10.255.255.255:1", address_class::private_network},
      {"11.0.0.0:1", address_class::public_network},
      {"172.15.255.255:1", address_class::public_network},
      {"172.16.0.0:1", address_class::private_network},
      {"172.31.255.255:1", address_class::private_network},
      {"172.32.0.0:1", address_class::public_network},
      {"192.167.255.255:1", address_class::public_network},
      {"192.168.0.0:1", address_class::private_network},
      {"192.168.255.255:1", address_class::private_network},
      {"192.169.0.0:1", address_class::public_network},
      {"100.63.255.255:1", address_class::public_network},
      {"100.64.0.0:1", address_class::private_network},
      {"100.127.255.255:1", address_class::private_network},
      {"100.128.0.0:1", address_class::public_network},
      {"169.253.255.255:1", address_class::public_network},
      {"169.254.0.0:1", address_class::link_local},
      {"169.254.255.255:1", address_class::link_local},
      {"169.255.0.0:1", address_class::public_network},
      {"223.255.255.255:1", address_class::public_network},
      {"224.0.0.0:1", address_class::multicast},
      {"239.255.255.255:1", address_class::multicast},
      {"240.0.0.0:1", address_class::reserved},
      {"255.255.255.254:1", address_class::reserved},
      {"255.255.255.255:1", address_class::broadcast},
      {"8.8.8.8:53", address_class::public_network},
      // IPv6.
      {"[::]:1", address_class::unspecified},
      {"[::1]:1", address_class::loopback},
      {"[::2]:1", address_class::public_network},
      {"[fe80::]:1", address_class::link_local},
      {"[febf:ffff::1]:1", address_class::link_local},
      {"[fe7f::1]:1", address_class::public_network},
      {"[fc00::]:1", address_class::private_network},
      {"[fdff:ffff::1]:1", address_class::private_network},
      {"[fbff::1]:1", address_class::public_network},
      {"[fec0::1]:1", address_class::private_network},  // deprecated site-local
      {"[ff02::1]:1", address_class::multicast},
      {"[ff00::]:1", address_class::multicast},
      {"[2001:db8::1]:1", address_class::public_network},
      {"[2606:4700::1111]:1", address_class::public_network},
      // IPv4-mapped IPv6: as the IPv4 address.
      {"[::ffff:127.0.0.1]:1", address_class::loopback},
      {"[::ffff:10.1.2.3]:1", address_class::private_network},
      {"[::ffff:169.254.1.1]:1", address_class::link_local},
      {"[::ffff:0.0.0.0]:1", address_class::unspecified},
      {"[::ffff:255.255.255.255]:1", address_class::broadcast},
      {"[::ffff:224.0.0.1]:1", address_class::multicast},
      {"[::ffff:8.8.8.8]:1", address_class::public_network},
      // Not mapped (::fffe:...): an ordinary (public) IPv6 address.
      {"[::fffe:7f00:1]:1", address_class::public_network},
  };
  for (const auto& r : table)
    EXPECT_EQ(core::classify(ep(r.address)), r.want)
        << r.address << " is " << core::to_string(core::classify(ep(r.address))) << ", want "
        << core::to_string(r.want);
}

TEST(AddressPolicy, ScopeComesFromTheNodesOwnSpecificAddresses) {
  auto s = core::scope_of(eps({"127.0.0.1:4000"}));
  EXPECT_TRUE(s.loopback);
  EXPECT_FALSE(s.local_network);
  s = core::scope_of(eps({"192.168.1.5:4000"}));
  EXPECT_FALSE(s.loopback);
  EXPECT_TRUE(s.local_network);
  s = core::scope_of(eps({"[fe80::1]:4000"}));
  EXPECT_TRUE(s.local_network);
  s = core::scope_of(eps({"[::ffff:127.0.0.1]:4000"}));
  EXPECT_TRUE(s.loopback);
  // Unspecified listen addresses say nothing about the networks we are on.
  s = core::scope_of(eps({"0.0.0.0:4000", "[::]:4000"}));
  EXPECT_FALSE(s.loopback);
  EXPECT_FALSE(s.local_network);
  s = core::scope_of(eps({"203.0.113.7:4000"}));
  EXPECT_FALSE(s.loopback);
  EXPECT_FALSE(s.local_network);
}

TEST(AddressPolicy, LoopbackNodeDialsLoopbackAndPublicButNotPrivate) {
  address_policy p(eps({"127.0.0.1:4000"}), {});
  EXPECT_TRUE(p.allows(ep("127.0.0.1:5000")));
  EXPECT_TRUE(p.allows(ep("127.0.0.2:5000")));
  EXPECT_TRUE(p.allows(ep("[::1]:5000")));
  EXPECT_TRUE(p.allows(ep("8.8.8.8:5000")));
  // A loopback-only node is on no LAN: private and link-local addresses
  // would leave the machine.
  EXPECT_FALSE(p.allows(ep("10.0.0.1:5000")));
  EXPECT_FALSE(p.allows(ep("192.168.1.1:80")));
  EXPECT_FALSE(p.allows(ep("169.254.169.254:80")));
  EXPECT_FALSE(p.allows(ep("[fd00::1]:5000")));
}

TEST(AddressPolicy, PrivateNodeDialsLocalNetworksButNotLoopback) {
  address_policy p(eps({"10.0.0.7:4000"}), {});
  EXPECT_TRUE(p.allows(ep("10.0.0.1:5000")));
  EXPECT_TRUE(p.allows(ep("172.20.0.1:5000")));
  EXPECT_TRUE(p.allows(ep("[fe80::1]:5000")));
  EXPECT_TRUE(p.allows(ep("1.1.1.1:5000")));
  EXPECT_FALSE(p.allows(ep("127.0.0.1:22")));
  EXPECT_FALSE(p.allows(ep("[::ffff:127.0.0.1]:22")));
}

TEST(AddressPolicy, PublicNodeDialsPublicOnly) {
  for (const auto& own : {eps({"203.0.113.7:4000"}), eps({"0.0.0.0:4000"}), std::vector<endpoint>{}}) {
    address_policy p(own, {});
    EXPECT_TRUE(p.allows(ep("198.51.100.1:5000")));
    EXPECT_TRUE(p.allows(ep("[2001:db8::5]:5000")));
    EXPECT_FALSE(p.allows(ep("127.0.0.1:5000")));
    EXPECT_FALSE(p.allows(ep("[::1]:5000")));
    EXPECT_FALSE(p.allows(ep("192.168.0.1:5000")));
    EXPECT_FALSE(p.allows(ep("100.64.0.1:5000")));
    EXPECT_FALSE(p.allows(ep("[::ffff:192.168.0.1]:5000")));
  }
  EXPECT_FALSE(address_policy{}.allows(ep("127.0.0.1:5000")));
  EXPECT_TRUE(address_policy{}.allows(ep("198.51.100.1:5000")));
}

TEST(AddressPolicy, NeverDialsWhatNamesNoHostOrPortZero) {
  // Even with every rule forced on.
  address_policy p(eps({"127.0.0.1:1", "10.0.0.1:1"}), {true, true});
  for (const char* a : {"0.0.0.0:5000", "[::]:5000", "224.0.0.1:5000", "[ff02::1]:5000", "255.255.255.255:5000",
                        "240.0.0.1:5000", "[::ffff:0.0.0.0]:5000"})
    EXPECT_FALSE(p.allows(ep(a))) << a;
  EXPECT_FALSE(p.allows(ep("127.0.0.1:0")));
  EXPECT_FALSE(p.allows(ep("8.8.8.8:0")));
  EXPECT_TRUE(p.allows(ep("127.0.0.1:1")));
}

TEST(AddressPolicy, ModesForceEachRuleOnOrOff) {
  const auto public_node = eps({"203.0.113.7:4000"});
  address_policy always(public_node, {true, true});
  EXPECT_TRUE(always.allows(ep("127.0.0.1:5000")));
  EXPECT_TRUE(always.allows(ep("192.168.0.1:5000")));
  EXPECT_TRUE(always.allows(ep("[fe80::1]:5000")));

  const auto everywhere = eps({"127.0.0.1:4000", "192.168.0.2:4000"});
  address_policy never(everywhere, {false, false});
  EXPECT_FALSE(never.allows(ep("127.0.0.1:5000")));
  EXPECT_FALSE(never.allows(ep("192.168.0.1:5000")));
  EXPECT_TRUE(never.allows(ep("198.51.100.1:5000")));  // public is always dialled

  // One rule forced, the other automatic.
  address_policy mixed(eps({"127.0.0.1:4000"}), {std::nullopt, true});
  EXPECT_TRUE(mixed.allows(ep("127.0.0.1:5000")));
  EXPECT_TRUE(mixed.allows(ep("10.1.1.1:5000")));
  address_policy no_loop(eps({"127.0.0.1:4000"}), {false, std::nullopt});
  EXPECT_FALSE(no_loop.allows(ep("127.0.0.1:5000")));
  EXPECT_FALSE(no_loop.allows(ep("10.1.1.1:5000")));
  EXPECT_FALSE(no_loop.allows_loopback());
  EXPECT_FALSE(no_loop.allows_private_networks());
}
