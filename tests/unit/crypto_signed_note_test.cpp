// Copyright (c) medchain developers.
// Signed notes and checkpoints against a real Sigstore Rekor v2 checkpoint
// (shared testdata) and the golang.org/x/mod/sumdb/note documentation
// example (PeterNeumann key, published in that package's doc comment and
// tests), plus strict-parsing cases.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "medchain/core/bytes.h"
#include "medchain/crypto/signed_note.h"

namespace medchain::crypto {
namespace {

using nlohmann::json;

json LoadJson(const std::string& rel) {
  std::ifstream in(std::string(MEDCHAIN_TESTDATA) + "/" + rel);
  EXPECT_TRUE(in.good()) << "missing test data " << rel;
  return json::parse(in);
}

PublicKey PkFromHex(const std::string& hex) {
  auto b = FromHex(hex);
  EXPECT_TRUE(b.has_value());
  auto pk = PublicKeyFromBytes(b.value_or(Bytes{}));
  EXPECT_TRUE(pk.has_value());
  return pk.value_or(PublicKey{});
}

// ---- The real Rekor v2 checkpoint ----

class RekorCheckpoint : public ::testing::Test {
 protected:
  void SetUp() override {
    json doc = LoadJson("crypto/signed_checkpoints_ed25519.json");
    ASSERT_EQ(doc["checkpoints"].size(), 1u);
    m_v = doc["checkpoints"][0];
    m_text = m_v["note_text"];
    m_note = m_text + "\n" + m_v["signature_line"].get<std::string>() + "\n";
    auto key = MakeNoteVerifierKey(m_v["signer_name"], PkFromHex(m_v["public_key_hex"]));
    ASSERT_TRUE(key.ok());
    m_key = *key;
  }
  json m_v;
  std::string m_text, m_note;
  NoteVerifierKey m_key;
};

TEST_F(RekorCheckpoint, KeyHashMatches) {
  EXPECT_EQ(m_key.key_hash, 0xf30d5a99u);
  uint32_t expected = std::stoul(m_v["key_hash_hex"].get<std::string>(), nullptr, 16);
  EXPECT_EQ(m_key.key_hash, expected);
  auto back = ParseNoteVerifierKey(FormatNoteVerifierKey(m_key));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->name, m_key.name);
  EXPECT_EQ(back->key, m_key.key);
  EXPECT_EQ(back->key_hash, m_key.key_hash);
}

TEST_F(RekorCheckpoint, BodyParsesAndRoundTrips) {
  auto c = ParseCheckpointBody(m_text);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->origin, m_v["origin"].get<std::string>());
  EXPECT_EQ(c->size, m_v["tree_size"].get<uint64_t>());
  EXPECT_EQ(ToHex(c->root), m_v["root_hash_hex"].get<std::string>());
  EXPECT_TRUE(c->extensions.empty());
  EXPECT_EQ(FormatCheckpointBody(*c), m_text);
}

TEST_F(RekorCheckpoint, SignatureVerifies) {
  auto parsed = ParseNote(m_note);
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  ASSERT_EQ(parsed->signatures.size(), 1u);
  EXPECT_EQ(parsed->text, m_text);
  EXPECT_EQ(parsed->signatures[0].name, m_v["signer_name"].get<std::string>());
  EXPECT_EQ(parsed->signatures[0].key_hash, 0xf30d5a99u);
  EXPECT_EQ(ToHex(parsed->signatures[0].signature), m_v["signature_hex"].get<std::string>());
  EXPECT_EQ(FormatNote(*parsed), m_note);

  std::vector<NoteVerifierKey> known = {m_key};
  auto opened = OpenNote(m_note, known);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  EXPECT_EQ(opened->signatures.size(), 1u);
  auto c = OpenCheckpoint(m_note, known);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->size, 646u);
}

TEST_F(RekorCheckpoint, AnyFlippedByteFails) {
  std::vector<NoteVerifierKey> known = {m_key};
  size_t rejected = 0;
  for (size_t i = 0; i < m_note.size(); ++i) {
    std::string bad = m_note;
    bad[i] = static_cast<char>(bad[i] ^ 0x01);
    auto r = OpenNote(bad, known);
    EXPECT_FALSE(r.ok()) << "byte " << i;
    if (!r.ok()) ++rejected;
  }
  EXPECT_EQ(rejected, m_note.size());
  // Tree size 646 -> 647: parses, but the signature no longer matches.
  std::string forged = m_note;
  forged.replace(forged.find("\n646\n"), 5, "\n647\n");
  auto r = OpenCheckpoint(forged, known);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kUnauthenticated);
}

TEST_F(RekorCheckpoint, UnknownKeyIsNotEnough) {
  SigningKey other = SigningKey::Generate();
  auto other_key = MakeNoteVerifierKey("someone.else/log", other.public_key());
  ASSERT_TRUE(other_key.ok());
  std::vector<NoteVerifierKey> known = {*other_key};
  auto r = OpenNote(m_note, known);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kUnauthenticated);
  EXPECT_NE(r.status().message().find("no signature by a known key"), std::string::npos);
  // Same name, different key (so a different hash): still unknown.
  auto same_name = MakeNoteVerifierKey(m_key.name, other.public_key());
  ASSERT_TRUE(same_name.ok());
  known = {*same_name};
  EXPECT_EQ(OpenNote(m_note, known).status().code(), Code::kUnauthenticated);
}

// ---- golang.org/x/mod/sumdb/note documentation example ----

constexpr std::string_view kGoVerifierKey =
    "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
constexpr std::string_view kGoSignerKeyB64 = "AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
constexpr std::string_view kGoText =
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n";
constexpr std::string_view kGoSigLine =
    "\xE2\x80\x94 PeterNeumann "
    "x08go/ZJkuBS9UG/"
    "SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";

TEST(SignedNote, GoExampleOpens) {
  auto key = ParseNoteVerifierKey(kGoVerifierKey);
  ASSERT_TRUE(key.ok()) << key.status().ToString();
  EXPECT_EQ(key->name, "PeterNeumann");
  EXPECT_EQ(key->key_hash, 0xc74f20a3u);
  EXPECT_EQ(FormatNoteVerifierKey(*key), kGoVerifierKey);
  std::string note = std::string(kGoText) + "\n" + std::string(kGoSigLine);
  std::vector<NoteVerifierKey> known = {*key};
  auto opened = OpenNote(note, known);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  EXPECT_EQ(opened->text, kGoText);
  std::string bad = note;
  bad.replace(bad.find("cryptography"), 12, "cryptographY");
  EXPECT_EQ(OpenNote(bad, known).status().code(), Code::kUnauthenticated);
}

TEST(SignedNote, GoExampleSignsByteExact) {
  auto typed = FromBase64(kGoSignerKeyB64);
  ASSERT_TRUE(typed.has_value());
  ASSERT_EQ(typed->size(), 33u);
  ASSERT_EQ((*typed)[0], kNoteAlgEd25519);
  auto sk = SigningKey::FromSeed(ByteView(*typed).subspan(1));
  ASSERT_TRUE(sk.ok());
  auto signer = NoteSigner::Create("PeterNeumann", std::move(*sk));
  ASSERT_TRUE(signer.ok());
  EXPECT_EQ(FormatNoteVerifierKey(signer->verifier_key()), kGoVerifierKey);
  auto note = AddNoteSignature(Note{std::string(kGoText), {}}, *signer);
  ASSERT_TRUE(note.ok());
  EXPECT_EQ(FormatNote(*note), std::string(kGoText) + "\n" + std::string(kGoSigLine));
  // Re-signing replaces rather than duplicates.
  auto again = AddNoteSignature(*note, *signer);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->signatures.size(), 1u);
}

TEST(SignedNote, VerifierKeyManglingsRejected) {
  const std::string vkey(kGoVerifierKey);
  // Every proper substring, as in the Go package's own test.
  for (size_t i = 0; i <= vkey.size(); ++i) {
    for (size_t j = i + 1; j <= vkey.size(); ++j) {
      if (i == 0 && j == vkey.size()) continue;
      EXPECT_FALSE(ParseNoteVerifierKey(vkey.substr(i, j - i)).ok()) << vkey.substr(i, j - i);
    }
  }
  // Every single byte changed.
  for (size_t i = 0; i < vkey.size(); ++i) {
    std::string bad = vkey;
    bad[i] = static_cast<char>(bad[i] + 1);
    EXPECT_FALSE(ParseNoteVerifierKey(bad).ok()) << bad;
  }
  EXPECT_FALSE(ParseNoteVerifierKey("PeterNeumann+C74F20A3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/"
                                    "LDE4izWy10TW")
                   .ok());  // hash must be lowercase
  EXPECT_FALSE(ParseNoteVerifierKey("Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/"
                                    "LDE4izWy10TW")
                   .ok());
}

TEST(SignedNote, KeyNames) {
  EXPECT_TRUE(IsValidNoteKeyName("example.com/log42"));
  EXPECT_TRUE(IsValidNoteKeyName("h\xC3\xB4pital.example/n\xC5\x93ud"));
  EXPECT_FALSE(IsValidNoteKeyName(""));
  EXPECT_FALSE(IsValidNoteKeyName("a b"));
  EXPECT_FALSE(IsValidNoteKeyName("a+b"));
  EXPECT_FALSE(IsValidNoteKeyName("a\tb"));
  EXPECT_FALSE(IsValidNoteKeyName("a\xC2\xA0z"));      // U+00A0 no-break space
  EXPECT_FALSE(IsValidNoteKeyName("a\xE3\x80\x80z"));  // U+3000 ideographic space
  EXPECT_FALSE(IsValidNoteKeyName("a\xE2\x80\xA8z"));  // U+2028 line separator
  EXPECT_FALSE(IsValidNoteKeyName("\xFF"));
}

struct NoteKeys {
  std::vector<NoteSigner> signers;
  std::vector<NoteVerifierKey> verifiers;
};

NoteKeys MakeSigners(int n) {
  NoteKeys k;
  for (int i = 0; i < n; ++i) {
    auto s = NoteSigner::Create("node" + std::to_string(i) + ".medchain.example/log",
                                SigningKey::Generate());
    EXPECT_TRUE(s.ok());
    k.verifiers.push_back(s->verifier_key());
    k.signers.push_back(std::move(*s));
  }
  return k;
}

TEST(SignedNote, CosignedNoteAndUnknownOrBadSignatures) {
  NoteKeys k = MakeSigners(3);
  Note note{"medchain.example/log\n10\n" + ToBase64(Hash{}) + "\n", {}};
  for (const auto& s : k.signers) {
    auto n = AddNoteSignature(note, s);
    ASSERT_TRUE(n.ok());
    note = *n;
  }
  std::string text = FormatNote(note);
  // All known: all three verify.
  auto all = OpenNote(text, k.verifiers);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->signatures.size(), 3u);
  // Only node2 known: the others are ignored.
  std::vector<NoteVerifierKey> only2 = {k.verifiers[2]};
  auto one = OpenNote(text, only2);
  ASSERT_TRUE(one.ok());
  ASSERT_EQ(one->signatures.size(), 1u);
  EXPECT_EQ(one->signatures[0].name, k.signers[2].name());

  // A known key's signature that fails rejects the whole note, even though
  // another known key signed correctly.
  Note broken = note;
  broken.signatures[1].signature[0] ^= 1;
  auto r = OpenNote(FormatNote(broken), k.verifiers);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kUnauthenticated);
  // ... but if that key is unknown, the bad signature is just ignored.
  std::vector<NoteVerifierKey> known02 = {k.verifiers[0], k.verifiers[2]};
  EXPECT_TRUE(OpenNote(FormatNote(broken), known02).ok());

  // A repeated signature by one key counts once; the first one decides.
  Note dup = note;
  dup.signatures.push_back(broken.signatures[1]);
  auto d = OpenNote(FormatNote(dup), k.verifiers);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->signatures.size(), 3u);
}

TEST(SignedNote, AcceptsSixteenSignaturesAndBoundsTheCount) {
  NoteKeys k = MakeSigners(16);
  Note note{"text\n", {}};
  for (const auto& s : k.signers) note = *AddNoteSignature(note, s);
  auto opened = OpenNote(FormatNote(note), k.verifiers);
  ASSERT_TRUE(opened.ok());
  EXPECT_EQ(opened->signatures.size(), 16u);

  // 101 signature lines (limit 100) are refused before any verification.
  std::string many = "text\n\n";
  std::string line = FormatNote(Note{"text\n", {note.signatures[0]}}).substr(6);
  for (size_t i = 0; i <= kMaxNoteSignatures; ++i) many += line;
  auto r = ParseNote(many);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_NE(r.status().message().find("more than 100"), std::string::npos);
}

TEST(SignedNote, MalformedNotesRejected) {
  NoteKeys k = MakeSigners(1);
  std::string good = FormatNote(*AddNoteSignature(Note{"hello\nworld\n", {}}, k.signers[0]));
  ASSERT_TRUE(OpenNote(good, k.verifiers).ok());
  const std::string sig_line = good.substr(good.find("\xE2\x80\x94"));
  const std::string blob = sig_line.substr(sig_line.rfind(' ') + 1);
  std::vector<std::pair<std::string, std::string>> bad = {
      {"no final newline", good.substr(0, good.size() - 1)},
      {"no blank line", "hello\nworld\n" + sig_line},
      {"no signature", "hello\nworld\n\n"},
      {"empty", ""},
      {"hyphen instead of em dash", "hello\n\n- " + sig_line.substr(4)},
      {"em dash without space", "hello\n\n\xE2\x80\x94" + sig_line.substr(4)},
      {"name with plus", "hello\n\n\xE2\x80\x94 a+b " + blob},
      {"no signature field", "hello\n\n\xE2\x80\x94 name\n"},
      {"bad base64", "hello\n\n\xE2\x80\x94 name abc!\n"},
      {"unpadded base64", "hello\n\n\xE2\x80\x94 name AAAAAAA\n"},
      {"blob under 5 bytes", "hello\n\n\xE2\x80\x94 name AAAAAA==\n"},
      {"control character", "hel\x01lo\n\n" + sig_line},
      {"carriage return", "hello\r\n\n" + sig_line},
      {"not UTF-8", "hel\xFFlo\n\n" + sig_line},
      {"too large", std::string(kMaxNoteSize, 'a') + "\n\n" + sig_line},
  };
  for (const auto& [name, text] : bad) {
    auto r = OpenNote(text, k.verifiers);
    ASSERT_FALSE(r.ok()) << name;
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument) << name << ": " << r.status().ToString();
  }
  // Text may contain blank lines: the split is at the last one.
  std::string multi =
      FormatNote(*AddNoteSignature(Note{"para one\n\npara two\n", {}}, k.signers[0]));
  auto m = OpenNote(multi, k.verifiers);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->text, "para one\n\npara two\n");
  // Signing refuses text a verifier would refuse.
  EXPECT_FALSE(k.signers[0].Sign("no newline").ok());
  EXPECT_FALSE(k.signers[0].Sign("").ok());
  EXPECT_FALSE(k.signers[0].Sign("tab\there\n").ok());
  EXPECT_FALSE(NoteSigner::Create("bad name", SigningKey::Generate()).ok());
}

// ---- Checkpoint bodies ----

TEST(Checkpoint, OwnRoundTripWithExtensionsAndSignature) {
  Hash root{};
  for (size_t i = 0; i < root.size(); ++i) root[i] = static_cast<uint8_t>(i * 7);
  Checkpoint c{"medchain.example/ledger-1", 123456789, root, {"Timestamp: 1700000000", "x"}};
  std::string body = FormatCheckpointBody(c);
  EXPECT_EQ(body, "medchain.example/ledger-1\n123456789\n" + ToBase64(root) +
                      "\nTimestamp: 1700000000\nx\n");
  auto back = ParseCheckpointBody(body);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, c);

  auto signer = NoteSigner::Create("medchain.example/ledger-1", SigningKey::Generate());
  ASSERT_TRUE(signer.ok());
  auto note = SignCheckpoint(c, *signer);
  ASSERT_TRUE(note.ok());
  std::vector<NoteVerifierKey> known = {signer->verifier_key()};
  auto opened = OpenCheckpoint(*note, known);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  EXPECT_EQ(*opened, c);

  Checkpoint empty{"o", 0, Hash{}, {}};
  auto e = ParseCheckpointBody(FormatCheckpointBody(empty));
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(*e, empty);
  Checkpoint max{"o", UINT64_MAX, root, {}};
  auto mx = ParseCheckpointBody(FormatCheckpointBody(max));
  ASSERT_TRUE(mx.ok());
  EXPECT_EQ(mx->size, UINT64_MAX);

  Checkpoint bad_origin{"two\nlines", 1, root, {}};
  EXPECT_FALSE(SignCheckpoint(bad_origin, *signer).ok());
  Checkpoint bad_ext{"o", 1, root, {""}};
  EXPECT_FALSE(SignCheckpoint(bad_ext, *signer).ok());
}

TEST(Checkpoint, StrictParsing) {
  const std::string root = ToBase64(Hash{});
  const std::string root31 = ToBase64(Bytes(31, 0));
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"no final newline", "o\n1\n" + root},
      {"two lines", "o\n1\n"},
      {"empty origin", "\n1\n" + root + "\n"},
      {"leading zero", "o\n01\n" + root + "\n"},
      {"plus sign", "o\n+1\n" + root + "\n"},
      {"minus sign", "o\n-1\n" + root + "\n"},
      {"space", "o\n 1\n" + root + "\n"},
      {"empty size", "o\n\n" + root + "\n"},
      {"hex size", "o\n0x10\n" + root + "\n"},
      {"overflow", "o\n18446744073709551616\n" + root + "\n"},
      {"root 31 bytes", "o\n1\n" + root31 + "\n"},
      {"root unpadded", "o\n1\n" + root.substr(0, root.size() - 1) + "\n"},
      {"root hex", "o\n1\n" + ToHex(Hash{}) + "\n"},
      {"empty root", "o\n1\n\n"},
      {"empty extension", "o\n1\n" + root + "\n\n"},
      {"empty extension between", "o\n1\n" + root + "\na\n\nb\n"},
      {"control char", "o\x02\n1\n" + root + "\n"},
  };
  for (const auto& [name, body] : bad) {
    auto r = ParseCheckpointBody(body);
    ASSERT_FALSE(r.ok()) << name;
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument) << name;
  }
  EXPECT_TRUE(ParseCheckpointBody("o\n0\n" + root + "\n").ok());
  EXPECT_TRUE(ParseCheckpointBody("o\n18446744073709551615\n" + root + "\n").ok());
}

}  // namespace
}  // namespace medchain::crypto
