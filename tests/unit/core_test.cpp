#include <topicswarm/bytes.hpp>
#include <topicswarm/endpoint.hpp>
#include <topicswarm/ids.hpp>

#include "core/codec.hpp"

#include <gtest/gtest.h>

#include <set>

using namespace topicswarm;

TEST(Hex, RoundTripsAndRejectsBadInput) {
  auto b = to_bytes(std::string("\x00\x01\xab\xff", 4));
  EXPECT_EQ(to_hex(b), "0001abff");
  auto back = from_hex("0001ABff");
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, b);
  auto odd = from_hex("abc");
  ASSERT_FALSE(odd);
  EXPECT_NE(odd.error().detail.find("odd"), std::string::npos);
  auto bad = from_hex("zz");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().detail.find("'z' at position 0"), std::string::npos);
}

TEST(NodeId, PrintsAndParsesBack) {
  auto t = topic_id_from_name("x");
  auto id = *node_id::from_span(t.span());
  auto text = id.to_string();
  EXPECT_EQ(text.size(), 64u);
  auto parsed = parse_node_id(text);
  ASSERT_TRUE(parsed);
  EXPECT_EQ(*parsed, id);
}

TEST(NodeId, ParseErrorsSayWhatIsWrong) {
  auto short_id = parse_node_id("abcd");
  ASSERT_FALSE(short_id);
  EXPECT_EQ(short_id.code(), make_error_code(errc::invalid_id));
  EXPECT_NE(short_id.error().message().find("expected 64 hex digits, got 4"), std::string::npos);
  std::string bad(64, 'a');
  bad[10] = 'g';
  auto r = parse_node_id(bad);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().detail.find("'g' at position 10"), std::string::npos);
  EXPECT_FALSE(parse_node_id(""));
}

TEST(TopicId, IsFirstHalfOfSha512) {
  // SHA-512("abc") from FIPS 180-2: ddaf35a193617aba cc417349ae204131 ...
  auto t = topic_id_from_name("abc");
  EXPECT_EQ(t.to_string(), "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a");
  EXPECT_NE(topic_id_from_name("abd"), t);
}

TEST(Endpoint, ParsesAndPrintsV4AndV6) {
  auto a = endpoint::parse("127.0.0.1:6881");
  ASSERT_TRUE(a);
  EXPECT_TRUE(a->is_v4());
  EXPECT_TRUE(a->is_loopback());
  EXPECT_EQ(a->to_string(), "127.0.0.1:6881");
  auto b = endpoint::parse("[::1]:443");
  ASSERT_TRUE(b);
  EXPECT_TRUE(b->is_v6());
  EXPECT_TRUE(b->is_loopback());
  EXPECT_EQ(b->to_string(), "[::1]:443");
  auto c = endpoint::parse("[2001:db8::7]:1");
  ASSERT_TRUE(c);
  EXPECT_EQ(*endpoint::parse(c->to_string()), *c);
}

TEST(Endpoint, RejectsBadInputClearly) {
  for (auto text : {"", "127.0.0.1", "127.0.0.1:", "127.0.0.1:70000", "127.0.0.1:12x", "::1:80", "[::1]80",
                    "[::1", "example.org:80", "300.1.1.1:5"}) {
    auto r = endpoint::parse(text);
    EXPECT_FALSE(r) << text;
    if (!r) {
      EXPECT_EQ(r.code(), make_error_code(errc::invalid_endpoint));
      EXPECT_NE(r.error().detail.find(text), std::string::npos) << r.error().detail;
    }
  }
}

TEST(ByteReader, LatchesFailureOnUnderflow) {
  bytes in = {std::byte{1}, std::byte{2}, std::byte{3}};
  core::byte_reader r(in);
  EXPECT_EQ(r.get_u16(), 0x0102);
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.get_u32(), 0u);
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.get_u8(), 0);  // stays failed
  EXPECT_FALSE(r.at_end());
}

TEST(ByteWriter, WritesBigEndian) {
  bytes out;
  core::byte_writer w(out);
  w.put_u16(0x0102);
  w.put_u64(0x0304050607080910ull);
  ASSERT_EQ(out.size(), 10u);
  EXPECT_EQ(to_hex(out), "01020304050607080910");
}

TEST(ErrorCategory, MessagesAreDistinct) {
  std::set<std::string> seen;
  for (int e = static_cast<int>(errc::invalid_id); e <= static_cast<int>(errc::testnet_not_ready); ++e) {
    auto m = make_error_code(static_cast<errc>(e)).message();
    EXPECT_EQ(m.find("unknown"), std::string::npos);
    EXPECT_TRUE(seen.insert(m).second) << m;
  }
}
