#include "discovery/chain_record.hpp"

#include "chain_record_fixture.hpp"
#include "discovery/address_codec.hpp"

#include <gtest/gtest.h>
#include <sodium.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <map>
#include <set>
#include <string>

using namespace topicswarm;
using namespace topicswarm::discovery;
namespace cf = topicswarm::discovery::chain_format;

namespace {

// ----------------------------------------------- an independent derivation --
// The spec (issue 14 §1 and §5) computed with libsodium directly, so a slip
// in the code's labels, order or truncation cannot hide behind itself.

std::array<std::byte, 64> spec_sha512(std::initializer_list<byte_span> parts) {
  EXPECT_GE(::sodium_init(), 0);
  crypto_hash_sha512_state st;
  ::crypto_hash_sha512_init(&st);
  for (auto p : parts) ::crypto_hash_sha512_update(&st, reinterpret_cast<const unsigned char*>(p.data()), p.size());
  std::array<std::byte, 64> out;
  ::crypto_hash_sha512_final(&st, reinterpret_cast<unsigned char*>(out.data()));
  return out;
}

std::array<std::byte, 8> spec_be64(std::uint64_t v) {
  std::array<std::byte, 8> b;
  for (int i = 0; i < 8; ++i) b[static_cast<std::size_t>(i)] = std::byte(v >> (56 - 8 * i));
  return b;
}

template <std::size_t N>
std::array<std::byte, N> first(const std::array<std::byte, 64>& d) {
  std::array<std::byte, N> a;
  std::copy_n(d.begin(), N, a.begin());
  return a;
}

secret_hash key_of(std::uint8_t b) {
  std::array<std::byte, 32> a;
  a.fill(std::byte{b});
  return *secret_hash_from_key(a);
}

topic_id wire_of(std::uint8_t b) {
  std::array<std::byte, 32> a;
  a.fill(std::byte{b});
  return topic_id(a);
}

endpoint v6(std::uint8_t last, std::uint16_t port) {
  std::array<std::uint8_t, 16> a{0x20, 0x01, 0x0d, 0xb8};
  a[15] = last;
  return endpoint::v6(a, port);
}

std::array<std::byte, chain_nonce_size> nonce_of(std::uint8_t b) {
  std::array<std::byte, chain_nonce_size> n;
  n.fill(std::byte{b});
  return n;
}

std::error_code code(errc e) { return make_error_code(e); }

struct ChainRecord : ::testing::Test {
  std::array<std::byte, 32> network_id = first<32>(spec_sha512({as_bytes("topicswarm/network/v1"), as_bytes("chain")}));
  secret_hash network_key = key_of(0x5e);
  topic_id network_wire = wire_of(0x3c);
  chain_secrets chain = chain_from(network_id, network_key);
  std::int64_t epoch = 480'123;
  std::uint32_t slot = 3;
  chain_slot keys = chain_slot_for(chain[slot], epoch);
  identity node = identity::generate();
  std::array<std::byte, chain_nonce_size> nonce = nonce_of(0xa1);
  std::int64_t ts = epoch * chain_epoch_ms + 1'234'567;

  chain_contact small() const { return {node.id(), ts, {*endpoint::parse("127.0.0.1:7000")}}; }
  // The largest contact the format allows: eight IPv6 addresses.
  chain_contact full() const {
    chain_contact c{node.id(), ts, {}};
    for (std::uint8_t i = 0; i < chain_max_addresses; ++i) c.addresses.push_back(v6(i + 1, 7000 + i));
    return c;
  }
  bytes seal(const chain_contact& c) const {
    return *seal_chain_record(c, node, network_wire, epoch, slot, keys, nonce);
  }
  result<chain_contact> open(byte_span v, std::int64_t seq) const {
    return open_chain_record(v, seq, network_wire, epoch, slot, keys);
  }
  // body || signature, signed by `by` for this network, epoch and slot.
  bytes signed_plain(bytes body, const identity& by) const {
    auto sig = by.sign(cf::signing_message(network_wire, epoch, slot, body));
    body.insert(body.end(), sig.span().begin(), sig.span().end());
    return body;
  }
  bytes seal_plain(byte_span plain) const { return cf::seal_plain(plain, network_wire, epoch, slot, keys, nonce); }
};

}  // namespace

// ------------------------------------------------------------- derivation --

TEST_F(ChainRecord, DerivationMatchesTheSpec) {
  auto c0 = first<32>(spec_sha512({as_bytes("topicswarm/chain/v1"), network_id, network_key.span()}));
  auto c1 = first<32>(spec_sha512({as_bytes("topicswarm/chain-next/v1"), c0}));
  EXPECT_EQ(chain[0], chain_secret(c0));
  EXPECT_EQ(chain[1], chain_secret(c1));
  auto ci = c0;
  for (std::size_t i = 1; i < chain_depth; ++i) ci = first<32>(spec_sha512({as_bytes("topicswarm/chain-next/v1"), ci}));
  EXPECT_EQ(chain[chain_depth - 1], chain_secret(ci));

  // Slot 1 of the epoch.
  auto e = spec_be64(static_cast<std::uint64_t>(epoch));
  auto seed = first<32>(spec_sha512({as_bytes("topicswarm/chain-slot/v1"), c1, e}));
  auto salt = first<16>(spec_sha512({as_bytes("topicswarm/chain-salt/v1"), c1, e}));
  auto key = first<32>(spec_sha512({as_bytes("topicswarm/chain-key/v1"), c1, e}));
  std::array<unsigned char, crypto_sign_PUBLICKEYBYTES> pk;
  std::array<unsigned char, crypto_sign_SECRETKEYBYTES> sk;
  ::crypto_sign_seed_keypair(pk.data(), sk.data(), reinterpret_cast<const unsigned char*>(seed.data()));

  auto s = chain_slot_for(chain[1], epoch);
  EXPECT_EQ(s.signer.seed(), ed25519_seed(seed));
  EXPECT_TRUE(std::equal(pk.begin(), pk.end(), reinterpret_cast<const unsigned char*>(s.signer.public_key().data())));
  EXPECT_EQ(s.salt, bytes(salt.begin(), salt.end()));
  EXPECT_EQ(s.key, key);
}

TEST_F(ChainRecord, LinksSlotsAndEpochsAllDiffer) {
  std::set<chain_secret> links(chain.begin(), chain.end());
  EXPECT_EQ(links.size(), chain_depth);
  std::set<public_key> signers;
  std::set<bytes> salts;
  for (std::int64_t e : {epoch, epoch + 1})
    for (auto& c : chain) {
      auto s = chain_slot_for(c, e);
      signers.insert(s.signer.public_key());
      salts.insert(s.salt);
      EXPECT_EQ(s.salt.size(), 16u);
    }
  EXPECT_EQ(signers.size(), 2 * chain_depth);
  EXPECT_EQ(salts.size(), 2 * chain_depth);
  // Deterministic.
  EXPECT_EQ(chain_from(network_id, network_key), chain);
  EXPECT_EQ(chain_slot_for(chain[4], epoch).signer.public_key(), chain_slot_for(chain[4], epoch).signer.public_key());
}

TEST_F(ChainRecord, DifferentNetworkKeysOrIdsGiveDisjointSlots) {
  // The point of keying the chain: without the key, a stranger who knows the
  // network's name can neither find the slots nor write them.
  auto slots_of = [&](byte_span id, const secret_hash& k) {
    std::set<std::pair<public_key, bytes>> out;
    for (auto& c : chain_from(id, k)) {
      auto s = chain_slot_for(c, epoch);
      out.insert({s.signer.public_key(), s.salt});
    }
    return out;
  };
  auto ours = slots_of(network_id, network_key);
  auto other_id = network_id;
  other_id[0] ^= std::byte{1};
  for (auto& theirs : {slots_of(network_id, key_of(0x5f)), slots_of(other_id, network_key)}) {
    EXPECT_EQ(theirs.size(), chain_depth);
    for (auto& [pk, salt] : theirs)
      for (auto& [our_pk, our_salt] : ours) {
        EXPECT_NE(pk, our_pk);
        EXPECT_NE(salt, our_salt);
      }
  }
}

TEST(ChainEpoch, IsTheUnixHourFlooredWithSkewedRange) {
  EXPECT_EQ(epoch_of(0), 0);
  EXPECT_EQ(epoch_of(3'599'999), 0);
  EXPECT_EQ(epoch_of(3'600'000), 1);
  EXPECT_EQ(epoch_of(1'728'000'000'000), 480'000);
  EXPECT_EQ(epoch_of(-1), -1);  // floor, not truncation
  EXPECT_EQ(epoch_of(-3'600'000), -1);
  EXPECT_EQ(epoch_of(-3'600'001), -2);

  auto r = epoch_range(480'000);
  EXPECT_EQ(r.first, 1'728'000'000'000 - 60'000);
  EXPECT_EQ(r.last, 1'728'003'599'999 + 60'000);
  EXPECT_TRUE(r.contains(r.first));
  EXPECT_TRUE(r.contains(r.last));
  EXPECT_FALSE(r.contains(r.first - 1));
  EXPECT_FALSE(r.contains(r.last + 1));
  auto z = epoch_range(0);
  EXPECT_EQ(z.first, -60'000);
  EXPECT_EQ(z.last, 3'659'999);
  // Absurd epochs clamp instead of overflowing.
  for (auto e : {std::numeric_limits<std::int64_t>::max(), std::numeric_limits<std::int64_t>::min()}) {
    auto x = epoch_range(e);
    EXPECT_LT(x.first, x.last);
    EXPECT_EQ(x.last - x.first, chain_epoch_ms - 1 + 2 * chain_skew_ms);
  }
}

// ------------------------------------------------------------ round trips --

TEST_F(ChainRecord, SmallContactRoundTrips) {
  auto v = seal(small());
  EXPECT_EQ(v.size(), cf::min_value_size);
  EXPECT_EQ(v[0], std::byte{chain_record_format});
  EXPECT_TRUE(std::equal(nonce.begin(), nonce.end(), v.begin() + 1));
  auto o = open(v, ts);
  ASSERT_TRUE(o) << o.error().message();
  EXPECT_EQ(*o, small());
}

TEST_F(ChainRecord, MaxSizeContactRoundTripsWithinBep44Limit) {
  auto v = seal(full());
  EXPECT_EQ(v.size(), cf::max_value_size);
  EXPECT_LE(v.size(), chain_max_value_bytes);
  // Bencoded as a BEP 44 value "NNN:<bytes>" it stays within 1000 bytes.
  EXPECT_LE(v.size() + std::to_string(v.size()).size() + 1, 1000u);
  auto o = open(v, ts);
  ASSERT_TRUE(o) << o.error().message();
  EXPECT_EQ(*o, full());
}

TEST_F(ChainRecord, MixedFamiliesRoundTripInOrder) {
  chain_contact c{node.id(), ts, {v6(9, 1), *endpoint::parse("10.1.2.3:65535"), *endpoint::parse("[::1]:2")}};
  auto o = open(seal(c), ts);
  ASSERT_TRUE(o) << o.error().message();
  EXPECT_EQ(*o, c);
}

TEST_F(ChainRecord, TheNonceIsTheCallersAndDecidesTheBytes) {
  auto a = seal(small());
  EXPECT_EQ(a, seal(small()));  // sans-IO: no hidden randomness
  auto b = *seal_chain_record(small(), node, network_wire, epoch, slot, keys, nonce_of(0xa2));
  EXPECT_NE(a, b);
  EXPECT_TRUE(open(a, ts));
  EXPECT_TRUE(open(b, ts));
}

TEST_F(ChainRecord, EpochEdgesWithSkewSealAndOpen) {
  auto r = epoch_range(epoch);
  for (std::int64_t t : {r.first, epoch * chain_epoch_ms, r.last}) {
    auto c = small();
    c.timestamp_ms = t;
    auto v = seal_chain_record(c, node, network_wire, epoch, slot, keys, nonce);
    ASSERT_TRUE(v) << t;
    auto o = open(*v, t);
    ASSERT_TRUE(o) << t << ": " << o.error().message();
    EXPECT_EQ(o->timestamp_ms, t);
  }
}

// ------------------------------------------------------------ seal refuses --

TEST_F(ChainRecord, SealRefusesWhatNoReaderWouldAccept) {
  auto seal_code = [&](const chain_contact& c, const identity& by = identity::generate(), std::uint32_t i = 3) {
    return seal_chain_record(c, by, network_wire, epoch, i, keys, nonce).code();
  };
  // Signed by someone other than the node it names.
  EXPECT_EQ(seal_code(small()), code(errc::invalid_argument));
  auto c = small();
  c.addresses.clear();
  EXPECT_EQ(seal_code(c, node), code(errc::invalid_argument));
  c = full();
  c.addresses.push_back(v6(99, 1));
  EXPECT_EQ(seal_code(c, node), code(errc::chain_record_too_large));
  for (const char* bad : {"0.0.0.0:7000", "[::]:7000", "127.0.0.1:0", "[2001:db8::1]:0"}) {
    c = small();
    c.addresses.push_back(*endpoint::parse(bad));
    EXPECT_EQ(seal_code(c, node), code(errc::invalid_argument)) << bad;
  }
  auto r = epoch_range(epoch);
  for (std::int64_t t : {r.first - 1, r.last + 1, std::int64_t{0}, std::numeric_limits<std::int64_t>::max()}) {
    c = small();
    c.timestamp_ms = t;
    EXPECT_EQ(seal_code(c, node), code(errc::chain_record_seq_out_of_range)) << t;
  }
  EXPECT_EQ(seal_code(small(), node, static_cast<std::uint32_t>(chain_depth)), code(errc::invalid_argument));
}

// ------------------------------------------------------------ open refuses --

TEST_F(ChainRecord, SizeIsCheckedFirst) {
  // Over the bound, whatever else is wrong (format byte, seq).
  for (std::size_t n : {chain_max_value_bytes + 1, std::size_t{1001}, std::size_t{4096}}) {
    bytes big(n, std::byte{0x07});
    auto o = open(big, std::numeric_limits<std::int64_t>::min());
    ASSERT_FALSE(o);
    EXPECT_EQ(o.code(), code(errc::chain_record_too_large)) << n;
    ASSERT_TRUE(o.error().exceeded);
    EXPECT_EQ(o.error().exceeded->limit, chain_max_value_bytes);
  }
  // Under the smallest record, likewise.
  auto v = seal(small());
  for (std::size_t n : {std::size_t{0}, std::size_t{1}, std::size_t{25}, cf::min_value_size - 1})
    EXPECT_EQ(open(byte_span(v).first(n), -1).code(), code(errc::chain_record_truncated)) << n;
  // A valid value cut short but still long enough breaks the tag.
  auto longer = seal(full());
  EXPECT_EQ(open(byte_span(longer).first(longer.size() - 1), ts).code(), code(errc::chain_record_decryption_failed));
  EXPECT_EQ(open(byte_span(longer).first(cf::min_value_size), ts).code(), code(errc::chain_record_decryption_failed));
}

TEST_F(ChainRecord, FormatByteBeforeSeq) {
  auto v = seal(small());
  for (std::uint8_t f : {0, 2, 0xff}) {
    auto t = v;
    t[0] = std::byte{f};
    auto o = open(t, std::numeric_limits<std::int64_t>::max());
    ASSERT_FALSE(o);
    EXPECT_EQ(o.code(), code(errc::chain_record_bad_format)) << int(f);
    EXPECT_NE(o.error().detail.find("format " + std::to_string(f)), std::string::npos);
  }
}

TEST_F(ChainRecord, SeqOutsideTheEpochIsRefusedBeforeAnyCrypto) {
  auto v = seal(small());
  auto r = epoch_range(epoch);
  for (std::int64_t bad : {r.first - 1, r.last + 1, std::int64_t{0}, std::int64_t{-1},
                           std::numeric_limits<std::int64_t>::max(), std::numeric_limits<std::int64_t>::min()})
    EXPECT_EQ(open(v, bad).code(), code(errc::chain_record_seq_out_of_range)) << bad;
  // Garbage of a plausible size with a locking seq costs no AEAD either.
  bytes garbage(200, std::byte{chain_record_format});
  EXPECT_EQ(open(garbage, std::numeric_limits<std::int64_t>::max()).code(), code(errc::chain_record_seq_out_of_range));
}

TEST_F(ChainRecord, OnlyTheRightKeyNetworkEpochAndSlotDecrypt) {
  // A timestamp near the end of the epoch lies in the next epoch's range too,
  // so reading it as the next epoch gets past the seq check to the AEAD.
  auto c = small();
  c.timestamp_ms = (epoch + 1) * chain_epoch_ms - 1'000;
  auto v = *seal_chain_record(c, node, network_wire, epoch, slot, keys, nonce);
  auto t = c.timestamp_ms;
  ASSERT_TRUE(open(v, t));
  auto failed = code(errc::chain_record_decryption_failed);
  // Another network key: other slot keys.
  auto other_chain = chain_from(network_id, key_of(0x5f));
  EXPECT_EQ(open_chain_record(v, t, network_wire, epoch, slot, chain_slot_for(other_chain[slot], epoch)).code(),
            failed);
  // Another slot: its key, or this key read as another index (the AAD binds it).
  EXPECT_EQ(open_chain_record(v, t, network_wire, epoch, slot + 1, chain_slot_for(chain[slot + 1], epoch)).code(),
            failed);
  for (std::uint32_t i : {0u, slot + 1, 15u})
    EXPECT_EQ(open_chain_record(v, t, network_wire, epoch, i, keys).code(), failed);
  // Another epoch: its key, or this key read as another epoch.
  EXPECT_EQ(open_chain_record(v, t, network_wire, epoch + 1, slot, chain_slot_for(chain[slot], epoch + 1)).code(),
            failed);
  EXPECT_EQ(open_chain_record(v, t, network_wire, epoch + 1, slot, keys).code(), failed);
  // Another network wire id (same key): the AAD binds it.
  EXPECT_EQ(open_chain_record(v, t, wire_of(0x3d), epoch, slot, keys).code(), failed);
}

TEST_F(ChainRecord, TamperedBytesFailDecryption) {
  auto v = seal(full());
  for (std::size_t pos : {std::size_t{1}, std::size_t{24}, std::size_t{25}, std::size_t{100}, v.size() - 17,
                          v.size() - 16, v.size() - 1}) {
    auto t = v;
    t[pos] ^= std::byte{0x01};
    EXPECT_EQ(open(t, ts).code(), code(errc::chain_record_decryption_failed)) << pos;
  }
}

TEST_F(ChainRecord, ContactSignedByAnotherKeyIsRefused) {
  // An insider (it holds the network key, so it can encrypt) names another
  // node and signs with its own key: it decrypts, the signature fails.
  auto victim = identity::generate();
  chain_contact c{victim.id(), ts, {*endpoint::parse("127.0.0.1:7000")}};
  auto o = open(seal_plain(signed_plain(cf::encode_contact_body(c), node)), ts);
  ASSERT_FALSE(o);
  EXPECT_EQ(o.code(), code(errc::chain_record_bad_signature));

  // A flipped signature bit.
  auto p = signed_plain(cf::encode_contact_body(small()), node);
  p.back() ^= std::byte{0x80};
  EXPECT_EQ(open(seal_plain(p), ts).code(), code(errc::chain_record_bad_signature));

  // A signature made for another slot, epoch or network does not carry over
  // (a member cannot move someone's contact into other slots).
  auto body = cf::encode_contact_body(small());
  for (auto msg : {cf::signing_message(network_wire, epoch, slot + 1, body),
                   cf::signing_message(network_wire, epoch + 1, slot, body),
                   cf::signing_message(wire_of(0x3d), epoch, slot, body)}) {
    auto sig = node.sign(msg);
    auto q = body;
    q.insert(q.end(), sig.span().begin(), sig.span().end());
    EXPECT_EQ(open(seal_plain(q), ts).code(), code(errc::chain_record_bad_signature));
  }
  // The honest one opens (the helpers above are right).
  EXPECT_TRUE(open(seal_plain(signed_plain(body, node)), ts));
}

TEST_F(ChainRecord, TimestampMustBeTheSeq) {
  auto v = seal(small());
  auto r = epoch_range(epoch);
  for (std::int64_t other : {ts + 1, ts - 1, r.first, r.last}) {
    auto o = open(v, other);
    ASSERT_FALSE(o) << other;
    EXPECT_EQ(o.code(), code(errc::chain_record_timestamp_mismatch)) << other;
  }
  // A validly signed contact with a timestamp outside the epoch, stored with
  // an in-range seq: the mismatch catches it (the signature was checked first).
  auto c = small();
  c.timestamp_ms = r.last + 10'000'000;
  EXPECT_EQ(open(seal_plain(signed_plain(cf::encode_contact_body(c), node)), ts).code(),
            code(errc::chain_record_timestamp_mismatch));
}

TEST_F(ChainRecord, MalformedContactsInsideValidEnvelopes) {
  auto malformed = code(errc::chain_record_malformed);
  auto good = cf::encode_contact_body(small());
  // Trailing bytes inside the plaintext (signed, so only the decoder can object).
  auto trailing = good;
  trailing.push_back(std::byte{0});
  EXPECT_EQ(open(seal_plain(signed_plain(trailing, node)), ts).code(), malformed);
  // Address counts 0 and 9.
  constexpr std::size_t n_at = 32 + 8;
  auto zero = good;
  zero[n_at] = std::byte{0};
  zero.resize(n_at + 1);
  zero.resize(cf::min_body_size, std::byte{0});  // padded so the value is not merely short
  EXPECT_EQ(open(seal_plain(signed_plain(zero, node)), ts).code(), malformed);
  auto nine = cf::encode_contact_body(full());
  nine[n_at] = std::byte{9};
  EXPECT_EQ(open(seal_plain(signed_plain(nine, node)), ts).code(), malformed);
  // Count says two, one follows.
  auto two = good;
  two[n_at] = std::byte{2};
  EXPECT_EQ(open(seal_plain(signed_plain(two, node)), ts).code(), malformed);
  // Unknown family, port 0, unspecified ip.
  auto fam = good;
  fam[n_at + 1] = std::byte{5};
  EXPECT_EQ(open(seal_plain(signed_plain(fam, node)), ts).code(), malformed);
  auto port0 = good;
  port0[port0.size() - 1] = port0[port0.size() - 2] = std::byte{0};
  EXPECT_EQ(open(seal_plain(signed_plain(port0, node)), ts).code(), malformed);
  auto unspec = good;
  std::fill(unspec.begin() + n_at + 2, unspec.begin() + n_at + 6, std::byte{0});
  EXPECT_EQ(open(seal_plain(signed_plain(unspec, node)), ts).code(), malformed);
  // Malformed is decided before the signature: garbage costs no Ed25519
  // (64 zero bytes where the signature goes would never verify).
  auto unsigned_trailing = trailing;
  unsigned_trailing.resize(trailing.size() + cf::signature_size);
  EXPECT_EQ(open(seal_plain(unsigned_trailing), ts).code(), malformed);
}

TEST_F(ChainRecord, DecoderRejectsEveryTruncation) {
  auto good = cf::encode_contact_body(full());
  ASSERT_TRUE(cf::decode_contact_body(good));
  for (std::size_t cut = 0; cut < good.size(); ++cut)
    EXPECT_EQ(cf::decode_contact_body(byte_span(good).first(cut)).code(), code(errc::chain_record_malformed)) << cut;
}

TEST(AddressCodec, EncodesFamilyIpAndBigEndianPort) {
  bytes out;
  core::byte_writer w(out);
  encode_endpoint(w, *endpoint::parse("127.0.0.1:7000"));
  encode_endpoint(w, *endpoint::parse("[::1]:258"));
  const bytes expect{std::byte{4}, std::byte{127},  std::byte{0},    std::byte{0},
                     std::byte{1}, std::byte{0x1b}, std::byte{0x58}, std::byte{6}};
  ASSERT_EQ(out.size(), 7u + 19u);
  EXPECT_TRUE(std::equal(expect.begin(), expect.end(), out.begin()));
  EXPECT_EQ(out[7 + 16], std::byte{1});
  EXPECT_EQ(out[7 + 17], std::byte{1});
  EXPECT_EQ(out[7 + 18], std::byte{2});
  core::byte_reader r(out);
  EXPECT_EQ(decode_endpoint(r), endpoint::parse("127.0.0.1:7000").value());
  EXPECT_EQ(decode_endpoint(r), endpoint::parse("[::1]:258").value());
  EXPECT_TRUE(r.at_end());
  EXPECT_FALSE(encodable(*endpoint::parse("0.0.0.0:1")));
  EXPECT_FALSE(encodable(*endpoint::parse("[::]:1")));
  EXPECT_FALSE(encodable(*endpoint::parse("1.2.3.4:0")));
  EXPECT_TRUE(encodable(*endpoint::parse("1.2.3.4:1")));
}

// ---------------------------------------------------------- the fuzz seeds --
// The seed corpus of fuzz/chain_record_fuzz.cpp, built here from the fixture
// the fuzzer reads with (deterministic: fixed nonce, Ed25519 signatures are
// deterministic). Each seed is be64 seq || rest. The test checks the committed
// files are exactly these; TOPICSWARM_WRITE_CORPUS=1 rewrites them.

namespace {

std::map<std::string, bytes> chain_corpus_seeds() {
  const auto& fx = chain_fuzz::the_fixture();
  const auto epoch = chain_fuzz::epoch;
  const auto slot = chain_fuzz::slot;
  const std::int64_t ts = epoch * chain_epoch_ms + 1'234'567;
  auto seed = [](std::int64_t seq, byte_span rest) {
    auto s = spec_be64(static_cast<std::uint64_t>(seq));
    bytes b(s.begin(), s.end());
    b.insert(b.end(), rest.begin(), rest.end());
    return b;
  };
  auto sealed = [&](const chain_contact& c) {
    return *seal_chain_record(c, fx.signer, fx.network_wire, epoch, slot, fx.keys, fx.nonce);
  };
  auto plain = [&](bytes body) {
    auto sig = fx.signer.sign(cf::signing_message(fx.network_wire, epoch, slot, body));
    body.insert(body.end(), sig.span().begin(), sig.span().end());
    return body;
  };
  const chain_contact one{fx.signer.id(), ts, {*endpoint::parse("127.0.0.1:7000")}};
  chain_contact full{fx.signer.id(), ts, {}};
  for (std::uint8_t i = 0; i < chain_max_addresses; ++i) full.addresses.push_back(v6(i + 1, 7000 + i));
  const chain_contact mixed{fx.signer.id(), ts, {*endpoint::parse("127.0.0.1:7000"), *endpoint::parse("[::1]:7001")}};
  auto range = epoch_range(epoch);

  std::map<std::string, bytes> out;
  // Depth 1: stored values.
  auto v = sealed(one);
  out["value_one_v4"] = seed(ts, v);
  out["value_full_v6"] = seed(ts, sealed(full));
  out["value_mixed"] = seed(ts, sealed(mixed));
  out["value_seq_mismatch"] = seed(ts + 1, v);
  out["value_seq_before_epoch"] = seed(range.first - 1, v);
  out["value_seq_after_epoch"] = seed(range.last + 1, v);
  for (std::uint8_t f : {0, 2}) {
    auto t = v;
    t[0] = std::byte{f};
    out["value_format_" + std::to_string(f)] = seed(ts, t);
  }
  for (auto [name, pos] :
       {std::pair{"nonce", std::size_t{1}}, std::pair{"ciphertext", std::size_t{40}}, std::pair{"tag", v.size() - 1}}) {
    auto t = v;
    t[pos] ^= std::byte{0x01};
    out[std::string("value_flipped_") + name] = seed(ts, t);
  }
  out["value_cut_below_min"] = seed(ts, byte_span(v).first(cf::min_value_size - 1));
  auto f = sealed(full);
  out["value_cut_one"] = seed(ts, byte_span(f).first(f.size() - 1));
  out["seq_only"] = seed(ts, {});
  out["value_too_large"] = seed(ts, bytes(chain_max_value_bytes + 1, std::byte{chain_record_format}));
  // Depth 2: plaintexts (body || signature) the fuzzer seals under the real key.
  auto body = cf::encode_contact_body(one);
  out["plain_valid"] = seed(ts, plain(body));
  out["plain_full_valid"] = seed(ts, plain(cf::encode_contact_body(full)));
  auto trailing = body;
  trailing.push_back(std::byte{0});
  out["plain_trailing_byte"] = seed(ts, plain(trailing));
  auto port0 = body;
  port0[port0.size() - 1] = port0[port0.size() - 2] = std::byte{0};
  out["plain_port_0"] = seed(ts, plain(port0));
  auto fam = body;
  fam[32 + 8 + 1] = std::byte{5};
  out["plain_bad_family"] = seed(ts, plain(fam));
  auto bad_sig = plain(body);
  bad_sig.back() ^= std::byte{0x80};
  out["plain_bad_signature"] = seed(ts, bad_sig);
  auto late = one;
  late.timestamp_ms = range.last + 1;
  out["plain_timestamp_outside_epoch"] = seed(ts, plain(cf::encode_contact_body(late)));
  return out;
}

}  // namespace

TEST(ChainRecordCorpus, CommittedSeedsAreTheCurrentFormat) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::path(TOPICSWARM_FUZZ_DIR) / "corpus" / "chain_record";
  const auto seeds = chain_corpus_seeds();
  if (std::getenv("TOPICSWARM_WRITE_CORPUS")) {
    fs::create_directories(dir);
    for (auto& [name, b] : seeds) {
      std::ofstream out(dir / name, std::ios::binary | std::ios::trunc);
      out.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
    }
  }
  std::set<std::string> on_disk;
  for (auto& e : fs::directory_iterator(dir)) on_disk.insert(e.path().filename().string());
  for (auto& [name, b] : seeds) {
    EXPECT_TRUE(on_disk.count(name)) << name << " is missing; rerun with TOPICSWARM_WRITE_CORPUS=1";
    std::ifstream in(dir / name, std::ios::binary);
    bytes got;
    std::transform(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>(), std::back_inserter(got),
                   [](char c) { return static_cast<std::byte>(c); });
    EXPECT_EQ(got, b) << name << " is stale; rerun with TOPICSWARM_WRITE_CORPUS=1";
  }

  // The valid seeds reach all the way through, at both depths.
  const auto& fx = chain_fuzz::the_fixture();
  auto seq_of = [](const bytes& s) {
    std::uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<std::uint8_t>(s[static_cast<std::size_t>(i)]);
    return static_cast<std::int64_t>(v);
  };
  for (auto name : {"value_one_v4", "value_full_v6", "value_mixed"}) {
    auto& s = seeds.at(name);
    auto o = open_chain_record(byte_span(s).subspan(8), seq_of(s), fx.network_wire, chain_fuzz::epoch, chain_fuzz::slot,
                               fx.keys);
    EXPECT_TRUE(o) << name << ": " << o.error().message();
  }
  for (auto name : {"plain_valid", "plain_full_valid"}) {
    auto& s = seeds.at(name);
    auto v = cf::seal_plain(byte_span(s).subspan(8), fx.network_wire, chain_fuzz::epoch, chain_fuzz::slot, fx.keys,
                            fx.nonce);
    auto o = open_chain_record(v, seq_of(s), fx.network_wire, chain_fuzz::epoch, chain_fuzz::slot, fx.keys);
    EXPECT_TRUE(o) << name << ": " << o.error().message();
  }
}
