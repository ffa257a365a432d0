// Copyright (c) medchain developers.
// Passphrase-protected key files: round trip, rotation, every field
// corrupted, parameter bounds, truncation, and the file-system contract.
#include <gtest/gtest.h>
#include <sodium.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>

#include "medchain/core/bytes.h"
#include "medchain/crypto/keyfile.h"

namespace medchain::crypto {
namespace {

using OJson = nlohmann::ordered_json;
constexpr std::string_view kPass = "correct horse battery staple";

// Key files for these tests use libsodium's minimum Argon2id cost: fast.
std::string MakeFile(const KeyMaterial& keys, std::string_view pass = kPass) {
  auto text = EncryptKeyFile(keys, pass, KdfParams::Minimum());
  EXPECT_TRUE(text.ok()) << text.status().ToString();
  return text.ok() ? *text : std::string();
}

KeyMaterial SampleKeys() {
  KeyMaterial keys = KeyMaterial::Generate("St Olav radiology", "org:st-olav/node-1");
  EXPECT_TRUE(keys.RotateEncryptionKey().ok());
  EXPECT_TRUE(keys.RotateEncryptionKey().ok());
  return keys;
}

// Applies `edit` to the parsed file and returns the re-serialised text.
std::string Edit(const std::string& text, const std::function<void(OJson&)>& edit) {
  OJson j = OJson::parse(text);
  edit(j);
  return j.dump(2);
}

std::string FlipHexChar(const OJson& value, size_t i) {
  std::string hex = value.get<std::string>();
  if (i < hex.size()) hex.at(i) = hex.at(i) == '0' ? '1' : '0';
  return hex;
}

TEST(KeyFile, RoundTripKeepsEveryKeyAndField) {
  KeyMaterial keys = SampleKeys();
  std::string text = MakeFile(keys);
  auto back = DecryptKeyFile(text, kPass);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->signing.public_key(), keys.signing.public_key());
  EXPECT_EQ(ToBytes(back->signing.seed()), ToBytes(keys.signing.seed()));
  EXPECT_EQ(back->encryption.public_key(), keys.encryption.public_key());
  EXPECT_EQ(ToBytes(back->encryption.secret()), ToBytes(keys.encryption.secret()));
  ASSERT_EQ(back->previous_encryption.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(back->previous_encryption[i].public_key(), keys.previous_encryption[i].public_key());
  }
  EXPECT_EQ(back->label, "St Olav radiology");
  EXPECT_EQ(back->participant_id, "org:st-olav/node-1");
  // The text holds no secret in the clear.
  EXPECT_EQ(text.find(ToHex(keys.signing.seed())), std::string::npos);
  EXPECT_EQ(text.find(ToHex(keys.encryption.secret())), std::string::npos);
  EXPECT_EQ(text.find(ToBase64(keys.signing.seed())), std::string::npos);
  // Two encryptions of the same keys differ (fresh salt and nonce).
  EXPECT_NE(MakeFile(keys), text);
}

TEST(KeyFile, KdfCacheSharesTheSaltOnlyForTheSamePassphraseAndCost) {
  KdfCache cache;
  KeyMaterial a = KeyMaterial::Generate("a", "pat-a"), b = KeyMaterial::Generate("b", "pat-b");
  auto field = [](const std::string& text, const char* obj, const char* key) {
    return OJson::parse(text)[obj][key].get<std::string>();
  };
  auto fa = EncryptKeyFile(a, kPass, KdfParams::Minimum(), &cache);
  auto fb = EncryptKeyFile(b, kPass, KdfParams::Minimum(), &cache);
  ASSERT_TRUE(fa.ok() && fb.ok());
  EXPECT_EQ(field(*fa, "kdf", "salt"), field(*fb, "kdf", "salt"));
  EXPECT_NE(field(*fa, "cipher", "nonce"), field(*fb, "cipher", "nonce"));
  for (const auto& [text, keys] : {std::pair{*fa, &a}, std::pair{*fb, &b}}) {
    auto back = DecryptKeyFile(text, kPass);
    ASSERT_TRUE(back.ok()) << back.status().ToString();
    EXPECT_EQ(ToBytes(back->signing.seed()), ToBytes(keys->signing.seed()));
    EXPECT_EQ(DecryptKeyFile(text, "another passphrase").status().code(), Code::kUnauthenticated);
  }
  // Another passphrase (same length too) or another cost: a fresh salt.
  auto fc = EncryptKeyFile(a, "correct horse battery stapLe", KdfParams::Minimum(), &cache);
  ASSERT_TRUE(fc.ok());
  EXPECT_NE(field(*fc, "kdf", "salt"), field(*fa, "kdf", "salt"));
  EXPECT_TRUE(DecryptKeyFile(*fc, "correct horse battery stapLe").ok());
  EXPECT_FALSE(DecryptKeyFile(*fc, kPass).ok());
  KdfParams other = KdfParams::Minimum();
  other.opslimit = 2;
  auto fd = EncryptKeyFile(a, "correct horse battery stapLe", other, &cache);
  ASSERT_TRUE(fd.ok());
  EXPECT_NE(field(*fd, "kdf", "salt"), field(*fc, "kdf", "salt"));
  EXPECT_TRUE(DecryptKeyFile(*fd, "correct horse battery stapLe").ok());
  // Without a cache every file has its own salt.
  EXPECT_NE(field(MakeFile(a), "kdf", "salt"), field(MakeFile(a), "kdf", "salt"));
  // Bad input is refused before the cache is touched.
  EXPECT_EQ(EncryptKeyFile(a, "", KdfParams::Minimum(), &cache).status().code(),
            Code::kInvalidArgument);
}

TEST(KeyFile, RotatedKeysStillOpenOldWrappedKeys) {
  KeyMaterial keys = KeyMaterial::Generate();
  auto old_box = Seal(keys.encryption.public_key(), AsBytes("data key v1"));
  ASSERT_TRUE(old_box.ok());
  ASSERT_TRUE(keys.RotateEncryptionKey().ok());
  auto new_box = Seal(keys.encryption.public_key(), AsBytes("data key v2"));
  ASSERT_TRUE(new_box.ok());
  auto back = DecryptKeyFile(MakeFile(keys), kPass);
  ASSERT_TRUE(back.ok());
  // The current key alone cannot open the old box; the key set can.
  EXPECT_FALSE(back->encryption.OpenSealed(*old_box).ok());
  auto v1 = back->OpenSealed(*old_box);
  ASSERT_TRUE(v1.ok());
  EXPECT_EQ(AsString(*v1), "data key v1");
  auto v2 = back->OpenSealed(*new_box);
  ASSERT_TRUE(v2.ok());
  EXPECT_EQ(AsString(*v2), "data key v2");
  KeyMaterial stranger = KeyMaterial::Generate();
  EXPECT_EQ(stranger.OpenSealed(*old_box).status().code(), Code::kUnauthenticated);
}

TEST(KeyFile, DefaultParamsAreLibsodiumInteractive) {
  EXPECT_EQ(KdfParams::Interactive().opslimit, crypto_pwhash_OPSLIMIT_INTERACTIVE);
  EXPECT_EQ(KdfParams::Interactive().memlimit, crypto_pwhash_MEMLIMIT_INTERACTIVE);
  KeyMaterial keys = KeyMaterial::Generate();
  auto text = EncryptKeyFile(keys, kPass);  // default params
  ASSERT_TRUE(text.ok());
  auto id = ParsePublicIdentity(*text);
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(id->kdf, KdfParams::Interactive());
  EXPECT_TRUE(DecryptKeyFile(*text, kPass).ok());
}

TEST(KeyFile, WrongPassphraseIsUnauthenticated) {
  std::string text = MakeFile(KeyMaterial::Generate());
  auto r = DecryptKeyFile(text, "correct horse battery stapler");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kUnauthenticated);
  EXPECT_EQ(r.status().message(), "wrong passphrase or corrupted key file");
  EXPECT_EQ(DecryptKeyFile(text, "").status().code(), Code::kInvalidArgument);
}

TEST(KeyFile, PublicIdentityNeedsNoPassphrase) {
  KeyMaterial keys = SampleKeys();
  auto id = ParsePublicIdentity(MakeFile(keys));
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(id->version, kKeyFileVersion);
  EXPECT_EQ(id->signing_public_key, keys.signing.public_key());
  EXPECT_EQ(id->encryption_public_key, keys.encryption.public_key());
  EXPECT_EQ(id->label, keys.label);
  EXPECT_EQ(id->participant_id, keys.participant_id);
  EXPECT_EQ(id->kdf, KdfParams::Minimum());
}

struct Corruption {
  const char* name;
  std::function<void(OJson&)> edit;
  Code code;
  const char* message_part;  // must appear in the error message
};

// Every clear field is either validated (InvalidArgument naming it) or bound
// into the AEAD (Unauthenticated when changed).
TEST(KeyFile, EveryFieldCorrupted) {
  KeyMaterial keys = SampleKeys();
  KeyMaterial other = KeyMaterial::Generate();
  const std::string text = MakeFile(keys);
  const std::string other_spk = ToHex(other.signing.public_key());
  const std::string other_epk = ToHex(other.encryption.public_key());
  const std::string kWrong = "wrong passphrase or corrupted key file";
  std::vector<Corruption> cases = {
      {"format", [](OJson& j) { j["format"] = "medchain-keyfilx"; }, Code::kInvalidArgument,
       "'format'"},
      {"format type", [](OJson& j) { j["format"] = 1; }, Code::kInvalidArgument, "'format'"},
      {"version 2", [](OJson& j) { j["version"] = 2; }, Code::kInvalidArgument,
       "unsupported version 2"},
      {"version 0", [](OJson& j) { j["version"] = 0; }, Code::kInvalidArgument,
       "unsupported version 0"},
      {"version string", [](OJson& j) { j["version"] = "1"; }, Code::kInvalidArgument, "'version'"},
      {"version float", [](OJson& j) { j["version"] = 1.5; }, Code::kInvalidArgument, "'version'"},
      {"label changed", [](OJson& j) { j["label"] = "St Olav radiologY"; }, Code::kUnauthenticated,
       kWrong.c_str()},
      {"label removed", [](OJson& j) { j.erase("label"); }, Code::kUnauthenticated, kWrong.c_str()},
      {"label control char", [](OJson& j) { j["label"] = "a\nb"; }, Code::kInvalidArgument,
       "'label'"},
      {"label too long", [](OJson& j) { j["label"] = std::string(kMaxKeyLabelSize + 1, 'x'); },
       Code::kInvalidArgument, "'label'"},
      {"participant_id changed", [](OJson& j) { j["participant_id"] = "org:st-olav/node-2"; },
       Code::kUnauthenticated, kWrong.c_str()},
      {"signing_public_key swapped", [&](OJson& j) { j["signing_public_key"] = other_spk; },
       Code::kUnauthenticated, kWrong.c_str()},
      {"signing_public_key short", [&](OJson& j) { j["signing_public_key"] = other_spk.substr(2); },
       Code::kInvalidArgument, "'signing_public_key'"},
      {"signing_public_key uppercase",
       [&](OJson& j) {
         std::string s = j["signing_public_key"];
         for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
         j["signing_public_key"] = s;
       },
       Code::kInvalidArgument, "'signing_public_key'"},
      {"encryption_public_key swapped", [&](OJson& j) { j["encryption_public_key"] = other_epk; },
       Code::kUnauthenticated, kWrong.c_str()},
      {"encryption_public_key not hex",
       [](OJson& j) { j["encryption_public_key"] = std::string(64, 'g'); }, Code::kInvalidArgument,
       "'encryption_public_key'"},
      {"kdf.algorithm", [](OJson& j) { j["kdf"]["algorithm"] = "argon2i13"; },
       Code::kInvalidArgument, "'kdf.algorithm'"},
      {"kdf.opslimit in bounds", [](OJson& j) { j["kdf"]["opslimit"] = 2; }, Code::kUnauthenticated,
       kWrong.c_str()},
      {"kdf.memlimit in bounds", [](OJson& j) { j["kdf"]["memlimit"] = 16384; },
       Code::kUnauthenticated, kWrong.c_str()},
      {"kdf.opslimit zero", [](OJson& j) { j["kdf"]["opslimit"] = 0; }, Code::kInvalidArgument,
       "kdf.opslimit"},
      {"kdf.opslimit huge", [](OJson& j) { j["kdf"]["opslimit"] = 1000000; },
       Code::kInvalidArgument, "kdf.opslimit"},
      {"kdf.memlimit 1 TiB", [](OJson& j) { j["kdf"]["memlimit"] = uint64_t{1} << 40; },
       Code::kInvalidArgument, "kdf.memlimit"},
      {"kdf.memlimit below minimum", [](OJson& j) { j["kdf"]["memlimit"] = 4096; },
       Code::kInvalidArgument, "kdf.memlimit"},
      {"kdf.memlimit negative", [](OJson& j) { j["kdf"]["memlimit"] = -1; }, Code::kInvalidArgument,
       "'kdf.memlimit'"},
      {"kdf.salt flipped", [](OJson& j) { j["kdf"]["salt"] = FlipHexChar(j["kdf"]["salt"], 5); },
       Code::kUnauthenticated, kWrong.c_str()},
      {"kdf.salt short", [](OJson& j) { j["kdf"]["salt"] = "00"; }, Code::kInvalidArgument,
       "'kdf.salt'"},
      {"kdf not object", [](OJson& j) { j["kdf"] = "argon2id13"; }, Code::kInvalidArgument,
       "'kdf'"},
      {"kdf extra field", [](OJson& j) { j["kdf"]["parallelism"] = 1; }, Code::kInvalidArgument,
       "'kdf.parallelism'"},
      {"cipher.algorithm", [](OJson& j) { j["cipher"]["algorithm"] = "aes256gcm"; },
       Code::kInvalidArgument, "'cipher.algorithm'"},
      {"cipher.nonce flipped",
       [](OJson& j) { j["cipher"]["nonce"] = FlipHexChar(j["cipher"]["nonce"], 40); },
       Code::kUnauthenticated, kWrong.c_str()},
      {"cipher.nonce 12 bytes", [](OJson& j) { j["cipher"]["nonce"] = std::string(24, 'a'); },
       Code::kInvalidArgument, "'cipher.nonce'"},
      {"ciphertext byte flipped",
       [](OJson& j) {
         Bytes ct = *FromBase64(j["ciphertext"].get<std::string>());
         ct[ct.size() / 2] ^= 0x01;
         j["ciphertext"] = ToBase64(ct);
       },
       Code::kUnauthenticated, kWrong.c_str()},
      {"ciphertext tag flipped",
       [](OJson& j) {
         Bytes ct = *FromBase64(j["ciphertext"].get<std::string>());
         ct.back() ^= 0x80;
         j["ciphertext"] = ToBase64(ct);
       },
       Code::kUnauthenticated, kWrong.c_str()},
      {"ciphertext one 32-byte key dropped",
       [](OJson& j) {
         Bytes ct = *FromBase64(j["ciphertext"].get<std::string>());
         ct.resize(ct.size() - 32);
         j["ciphertext"] = ToBase64(ct);
       },
       Code::kUnauthenticated, kWrong.c_str()},
      {"ciphertext truncated below minimum",
       [](OJson& j) {
         Bytes ct = *FromBase64(j["ciphertext"].get<std::string>());
         ct.resize(40);
         j["ciphertext"] = ToBase64(ct);
       },
       Code::kInvalidArgument, "truncated"},
      {"ciphertext empty", [](OJson& j) { j["ciphertext"] = ""; }, Code::kInvalidArgument,
       "truncated"},
      {"ciphertext not base64", [](OJson& j) { j["ciphertext"] = "%%%%"; }, Code::kInvalidArgument,
       "'ciphertext'"},
      {"unknown top-level field", [](OJson& j) { j["comment"] = "hi"; }, Code::kInvalidArgument,
       "'comment'"},
      {"not an object", [](OJson& j) { j = OJson::array(); }, Code::kInvalidArgument,
       "not a JSON object"},
  };
  for (const char* field : {"signing_public_key", "encryption_public_key", "kdf", "cipher",
                            "ciphertext", "format", "version"}) {
    cases.push_back(
        {field, [field](OJson& j) { j.erase(field); }, Code::kInvalidArgument, "missing"});
  }
  for (const char* field : {"algorithm", "opslimit", "memlimit", "salt"}) {
    cases.push_back(
        {field, [field](OJson& j) { j["kdf"].erase(field); }, Code::kInvalidArgument, "missing"});
  }
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    std::string bad = Edit(text, c.edit);
    auto r = DecryptKeyFile(bad, kPass);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), c.code) << r.status().ToString();
    EXPECT_NE(r.status().message().find(c.message_part), std::string::npos)
        << r.status().ToString();
    if (c.code == Code::kInvalidArgument) {
      // Clear-field errors are found without the passphrase as well.
      EXPECT_FALSE(ParsePublicIdentity(bad).ok());
    }
  }
  // The unedited text, re-serialised the same way, still opens: the edits
  // above are what broke each case.
  EXPECT_TRUE(DecryptKeyFile(Edit(text, [](OJson&) {}), kPass).ok());
}

TEST(KeyFile, DuplicateFieldRejected) {
  std::string text = MakeFile(KeyMaterial::Generate());
  size_t pos = text.find("\"version\"");
  ASSERT_NE(pos, std::string::npos);
  std::string dup = text;
  dup.insert(pos, "\"version\": 1,\n  ");
  auto r = DecryptKeyFile(dup, kPass);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_NE(r.status().message().find("more than once"), std::string::npos);
}

TEST(KeyFile, TruncatedOrEmptyTextIsInvalidJson) {
  std::string text = MakeFile(KeyMaterial::Generate());
  for (size_t len : {size_t{0}, size_t{1}, text.size() / 2, text.size() - 3}) {
    auto r = DecryptKeyFile(text.substr(0, len), kPass);
    ASSERT_FALSE(r.ok()) << len;
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument) << len;
    EXPECT_NE(r.status().message().find("not valid JSON"), std::string::npos)
        << r.status().ToString();
  }
  std::string huge(kMaxKeyFileSize + 1, ' ');
  EXPECT_EQ(DecryptKeyFile(huge, kPass).status().code(), Code::kInvalidArgument);
}

TEST(KeyFile, ParamsOutOfBoundsRefusedOnWrite) {
  KeyMaterial keys = KeyMaterial::Generate();
  const KdfParams bad[] = {
      {0, kMinKdfMemlimit},
      {kMaxKdfOpslimit + 1, kMinKdfMemlimit},
      {1, kMinKdfMemlimit - 1},
      {1, kMaxKdfMemlimit + 1},
  };
  for (const auto& p : bad) {
    auto r = EncryptKeyFile(keys, kPass, p);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument) << r.status().ToString();
  }
  EXPECT_TRUE(ValidateKdfParams({kMinKdfOpslimit, kMinKdfMemlimit}).ok());
  EXPECT_TRUE(ValidateKdfParams({kMaxKdfOpslimit, kMaxKdfMemlimit}).ok());
  EXPECT_EQ(EncryptKeyFile(keys, "", KdfParams::Minimum()).status().code(), Code::kInvalidArgument);
  KeyMaterial bad_label = KeyMaterial::Generate("tab\there");
  EXPECT_EQ(EncryptKeyFile(bad_label, kPass, KdfParams::Minimum()).status().code(),
            Code::kInvalidArgument);
}

class KeyFileOnDisk : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "mc-keyfile-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    m_dir = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(m_dir); }
  std::string Path(const char* name) const { return (m_dir / name).string(); }
  size_t EntriesInDir() const {
    size_t n = 0;
    for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(m_dir)) ++n;
    return n;
  }
  std::filesystem::path m_dir;
};

TEST_F(KeyFileOnDisk, WriteReadModeAndNoOverwrite) {
  KeyMaterial keys = SampleKeys();
  const std::string path = Path("node.key");
  ASSERT_TRUE(WriteKeyFile(path, keys, kPass, KdfParams::Minimum()).ok());
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(EntriesInDir(), 1u);  // no temporary file left behind

  auto back = ReadKeyFile(path, kPass);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->signing.public_key(), keys.signing.public_key());
  auto id = ReadPublicIdentity(path);
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(id->encryption_public_key, keys.encryption.public_key());

  // A second key must not replace the first unless asked to.
  KeyMaterial other = KeyMaterial::Generate();
  Status s = WriteKeyFile(path, other, kPass, KdfParams::Minimum());
  EXPECT_EQ(s.code(), Code::kAlreadyExists);
  EXPECT_EQ(EntriesInDir(), 1u);
  EXPECT_EQ(ReadPublicIdentity(path)->signing_public_key, keys.signing.public_key());
  ASSERT_TRUE(WriteKeyFile(path, other, kPass, KdfParams::Minimum(), Overwrite::kYes).ok());
  EXPECT_EQ(ReadPublicIdentity(path)->signing_public_key, other.signing.public_key());
  EXPECT_EQ(EntriesInDir(), 1u);

  auto wrong = ReadKeyFile(path, "nope");
  EXPECT_EQ(wrong.status().code(), Code::kUnauthenticated);
}

TEST_F(KeyFileOnDisk, MissingTruncatedAndOversizeFiles) {
  EXPECT_EQ(ReadKeyFile(Path("absent.key"), kPass).status().code(), Code::kNotFound);
  EXPECT_EQ(ReadPublicIdentity(Path("absent.key")).status().code(), Code::kNotFound);

  std::string text = MakeFile(KeyMaterial::Generate());
  ASSERT_TRUE(WriteKeyFileText(Path("cut.key"), text.substr(0, text.size() - 40)).ok());
  EXPECT_EQ(ReadKeyFile(Path("cut.key"), kPass).status().code(), Code::kInvalidArgument);

  {
    std::ofstream big(Path("big.key"));
    big << std::string(kMaxKeyFileSize + 10, ' ');
  }
  auto r = ReadPublicIdentity(Path("big.key"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);

  EXPECT_EQ(WriteKeyFileText(Path("no-such-dir/x.key"), text).code(), Code::kIOError);
}

}  // namespace
}  // namespace medchain::crypto
