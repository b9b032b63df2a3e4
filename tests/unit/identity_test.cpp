#include <topicswarm/identity.hpp>

#include <gtest/gtest.h>

#include <sys/stat.h>

#include <filesystem>
#include <fstream>

using namespace topicswarm;
namespace fs = std::filesystem;

namespace {

struct temp_dir {
  fs::path path;
  temp_dir() {
    char tmpl[] = "/tmp/topicswarm-test-XXXXXX";
    path = ::mkdtemp(tmpl);
  }
  ~temp_dir() { fs::remove_all(path); }
};

void write_file(const fs::path& p, const std::string& text, fs::perms perms) {
  std::ofstream(p) << text;
  fs::permissions(p, perms);
}

}  // namespace

TEST(Keypair, SignsAndVerifies) {
  auto k = keypair::generate();
  auto msg = to_bytes("hello");
  auto sig = k.sign(msg);
  EXPECT_TRUE(verify_signature(k.public_key(), msg, sig));
  msg[0] = std::byte{'j'};
  EXPECT_FALSE(verify_signature(k.public_key(), msg, sig));
  EXPECT_FALSE(verify_signature(keypair::generate().public_key(), to_bytes("hello"), sig));
}

TEST(Keypair, Rfc8032Vector1) {
  // RFC 8032 §7.1 TEST 1: empty message.
  auto seed = *ed25519_seed::parse("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60");
  auto k = keypair::from_seed(seed);
  EXPECT_EQ(k.public_key().to_string(), "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
  EXPECT_EQ(k.sign({}).to_string(),
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f05"
            "95bbe24655141438e7a100b");
  EXPECT_EQ(k.seed(), seed);
}

TEST(Identity, SavesWithMode0600AndLoadsBack) {
  temp_dir d;
  auto p = d.path / "id";
  auto ident = identity::generate();
  ASSERT_TRUE(ident.save(p));
  struct stat st {};
  ASSERT_EQ(::stat(p.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto loaded = identity::load(p);
  ASSERT_TRUE(loaded) << loaded.error().message();
  EXPECT_EQ(loaded->id(), ident.id());
  auto msg = to_bytes("m");
  EXPECT_TRUE(verify_signature(to_public_key(ident.id()), msg, loaded->sign(msg)));
  EXPECT_FALSE(fs::exists(d.path / "id.tmp"));
}

TEST(Identity, OverwritesAnExistingFileSafely) {
  temp_dir d;
  auto p = d.path / "id";
  write_file(p, "old", fs::perms::owner_read | fs::perms::owner_write | fs::perms::others_read);
  auto ident = identity::generate();
  ASSERT_TRUE(ident.save(p));
  struct stat st {};
  ASSERT_EQ(::stat(p.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(identity::load(p)->id(), ident.id());
}

TEST(Identity, LoadOrGenerateIsStable) {
  temp_dir d;
  auto p = d.path / "id";
  auto a = identity::load_or_generate(p);
  ASSERT_TRUE(a);
  auto b = identity::load_or_generate(p);
  ASSERT_TRUE(b);
  EXPECT_EQ(a->id(), b->id());
}

TEST(Identity, RefusesFilesOthersCanRead) {
  temp_dir d;
  auto p = d.path / "id";
  ASSERT_TRUE(identity::generate().save(p));
  fs::permissions(p, fs::perms::group_read, fs::perm_options::add);
  auto r = identity::load(p);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.code(), make_error_code(errc::identity_insecure_permissions));
  EXPECT_NE(r.error().detail.find("chmod 600"), std::string::npos);
}

TEST(Identity, RejectsMalformedFiles) {
  temp_dir d;
  const auto owner = fs::perms::owner_read | fs::perms::owner_write;
  auto good = identity::generate();
  auto seed_hex = good.keys().seed().to_string();
  struct tc {
    std::string text;
    std::string expect;
  } cases[] = {
      {"", "first line"},
      {"something else\nseed " + seed_hex + "\n", "first line"},
      {"topicswarm-identity v1\n", "no seed"},
      {"topicswarm-identity v1\nseed abcd\n", "expected 64 hex digits"},
      {"topicswarm-identity v1\nseed " + seed_hex + "\ncolour blue\n", "unknown field"},
      {"topicswarm-identity v1\nseed " + seed_hex + "\nid " + identity::generate().id().to_string() + "\n",
       "does not match"},
      {std::string(600, 'x'), "too large"},
  };
  int i = 0;
  for (auto& c : cases) {
    auto p = d.path / ("bad" + std::to_string(i++));
    write_file(p, c.text, owner);
    auto r = identity::load(p);
    ASSERT_FALSE(r) << c.text;
    EXPECT_EQ(r.code(), make_error_code(errc::identity_malformed)) << r.error().message();
    EXPECT_NE(r.error().detail.find(c.expect), std::string::npos) << r.error().detail;
  }
  auto missing = identity::load(d.path / "nope");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.code(), make_error_code(errc::identity_io));
}
