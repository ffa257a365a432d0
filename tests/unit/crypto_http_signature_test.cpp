// Copyright (c) medchain developers.
// HTTP Message Signatures (RFC 9421) against the RFC's own Ed25519 example:
// appendix B.2.6 ("Signing a Request Using ed25519"), which signs parts of
// the test request of appendix B.2 with the key test-key-ed25519 of
// appendix B.1.4. The key, the signature base and the signature below are
// values published in RFC 9421; Ed25519 is deterministic, so signing the
// base with that key must give the RFC's signature byte for byte.
#include <gtest/gtest.h>

#include <map>
#include <string>

#include "medchain/core/bytes.h"
#include "medchain/crypto/http_signature.h"

namespace medchain::crypto {
namespace {

// RFC 9421 B.1.4: test-key-ed25519. The private key is the PKCS#8 document
// MC4CAQAwBQYDK2VwBCIEIJ+DYvh6SEqVTm50DFtMDoQikTmiCqirVv9mWG9qfSnF, whose
// last 32 bytes are the RFC 8032 seed; the public key is the SPKI document
// MCowBQYDK2VwAyEAJrQLj5P/89iXES9+vFgrIy29clF9CC/oPPsw3c5D0bs=.
constexpr const char* kPkcs8 = "MC4CAQAwBQYDK2VwBCIEIJ+DYvh6SEqVTm50DFtMDoQikTmiCqirVv9mWG9qfSnF";
constexpr const char* kSpki = "MCowBQYDK2VwAyEAJrQLj5P/89iXES9+vFgrIy29clF9CC/oPPsw3c5D0bs=";

// RFC 9421 B.2.6: the signature base, and the two fields it results in.
constexpr const char* kBase =
    "\"date\": Tue, 20 Apr 2021 02:07:55 GMT\n"
    "\"@method\": POST\n"
    "\"@path\": /foo\n"
    "\"@authority\": example.com\n"
    "\"content-type\": application/json\n"
    "\"content-length\": 18\n"
    "\"@signature-params\": (\"date\" \"@method\" \"@path\" \"@authority\" \"content-type\" "
    "\"content-length\");created=1618884473;keyid=\"test-key-ed25519\"";
constexpr const char* kSignatureInput =
    "sig-b26=(\"date\" \"@method\" \"@path\" \"@authority\" \"content-type\" "
    "\"content-length\");created=1618884473;keyid=\"test-key-ed25519\"";
constexpr const char* kSignature =
    "sig-b26=:"
    "wqcAqbmYJ2ji2glfAMaRy4gruYYnx2nEFN2HN6jrnDnQCK1u02Gb04v9EDgwUPiu4A0w6vuQv5lIp5WPpBKRCw==:";

SigningKey TestKey() {
  auto der = FromBase64(kPkcs8);
  EXPECT_TRUE(der && der->size() == 48);
  auto k = SigningKey::FromSeed(ByteView(*der).last(32));
  EXPECT_TRUE(k.ok());
  return std::move(*k);
}

PublicKey TestPublicKey() {
  auto der = FromBase64(kSpki);
  EXPECT_TRUE(der && der->size() == 44);
  return *PublicKeyFromBytes(ByteView(*der).last(32));
}

// The test request of RFC 9421 B.2:
//   POST /foo?param=Value&Pet=dog HTTP/1.1
//   Host: example.com
//   Date: Tue, 20 Apr 2021 02:07:55 GMT
//   Content-Type: application/json
//   Content-Digest: sha-512=:...:
//   Content-Length: 18
RequestView TestRequest() {
  RequestView r;
  r.method = "POST";
  r.scheme = "https";
  r.authority = "example.com";
  r.target = "/foo?param=Value&Pet=dog";
  auto fields = std::make_shared<std::map<std::string, std::string, std::less<>>>(
      std::map<std::string, std::string, std::less<>>{{"date", "Tue, 20 Apr 2021 02:07:55 GMT"},
                                                      {"content-type", "application/json"},
                                                      {"content-length", "18"}});
  r.field = [fields](std::string_view name) -> std::optional<std::string> {
    auto it = fields->find(name);
    if (it == fields->end()) return std::nullopt;
    return it->second;
  };
  return r;
}

TEST(HttpSignatureRfc9421, KeyIsTheRfcKey) {
  EXPECT_EQ(TestKey().public_key(), TestPublicKey());
}

TEST(HttpSignatureRfc9421, B26SignatureBaseFromTheParsedInput) {
  auto inputs = ParseSignatureInputField(kSignatureInput);
  ASSERT_TRUE(inputs.ok()) << inputs.status().ToString();
  ASSERT_EQ(inputs->size(), 1u);
  const SignatureInput& in = (*inputs)[0];
  EXPECT_EQ(in.label, "sig-b26");
  EXPECT_EQ(in.Int("created"), 1618884473);
  EXPECT_EQ(in.Str("keyid"), "test-key-ed25519");
  auto base = SignatureBase(in, TestRequest());
  ASSERT_TRUE(base.ok()) << base.status().ToString();
  EXPECT_EQ(*base, kBase);
}

TEST(HttpSignatureRfc9421, B26SigningGivesTheRfcSignature) {
  SignatureInput in;
  in.label = "sig-b26";
  in.components = {"date", "@method", "@path", "@authority", "content-type", "content-length"};
  in.params = {{"created", int64_t{1618884473}}, {"keyid", std::string("test-key-ed25519")}};
  auto h = SignRequest(in, TestRequest(), TestKey());
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  EXPECT_EQ(h->signature_input, kSignatureInput);
  EXPECT_EQ(h->signature, kSignature);
}

TEST(HttpSignatureRfc9421, B26VerifiesAndAnyChangeBreaksIt) {
  auto sr = ParseRequestSignature(kSignatureInput, kSignature, "sig-b26");
  ASSERT_TRUE(sr.ok()) << sr.status().ToString();
  EXPECT_TRUE(VerifyRequestSignature(*sr, TestRequest(), TestPublicKey()).ok());

  RequestView other_path = TestRequest();
  other_path.target = "/bar?param=Value&Pet=dog";
  EXPECT_EQ(VerifyRequestSignature(*sr, other_path, TestPublicKey()).code(),
            Code::kUnauthenticated);
  RequestView other_method = TestRequest();
  other_method.method = "GET";
  EXPECT_FALSE(VerifyRequestSignature(*sr, other_method, TestPublicKey()).ok());
  // The query is not covered by this signature, so changing it still verifies.
  RequestView other_query = TestRequest();
  other_query.target = "/foo?param=other";
  EXPECT_TRUE(VerifyRequestSignature(*sr, other_query, TestPublicKey()).ok());

  SignedRequest later = *sr;
  later.input.params[0].value = int64_t{1618884474};  // created moved by a second
  EXPECT_FALSE(VerifyRequestSignature(later, TestRequest(), TestPublicKey()).ok());
  PublicKey wrong = TestPublicKey();
  wrong[0] ^= 1;
  EXPECT_FALSE(VerifyRequestSignature(*sr, TestRequest(), wrong).ok());
}

// Derived components, section 2.2 (the values of the RFC's own examples
// for the request POST /path?param=value HTTP/1.1, Host: www.example.com).
TEST(HttpSignatureRfc9421, DerivedComponentValues) {
  RequestView r;
  r.method = "POST";
  r.scheme = "https";
  r.authority = "www.example.com";
  r.target = "/path?param=value";
  EXPECT_EQ(*ComponentValue("@method", r), "POST");
  EXPECT_EQ(*ComponentValue("@target-uri", r), "https://www.example.com/path?param=value");
  EXPECT_EQ(*ComponentValue("@authority", r), "www.example.com");
  EXPECT_EQ(*ComponentValue("@scheme", r), "https");
  EXPECT_EQ(*ComponentValue("@path", r), "/path");
  EXPECT_EQ(*ComponentValue("@query", r), "?param=value");
  r.target = "/path";
  EXPECT_EQ(*ComponentValue("@query", r), "?");  // section 2.2.7: no query gives "?"
  // Host in lower case, default port left out (section 2.2.3).
  r.authority = "WWW.Example.com:443";
  EXPECT_EQ(*ComponentValue("@authority", r), "www.example.com");
  r.scheme = "http";
  r.authority = "127.0.0.1:7070";
  EXPECT_EQ(*ComponentValue("@target-uri", r), "http://127.0.0.1:7070/path");
  EXPECT_FALSE(ComponentValue("@request-target", r).ok());
  EXPECT_FALSE(ComponentValue("@status", r).ok());
  EXPECT_FALSE(ComponentValue("x-missing", r).ok());
  r.target = "*";
  EXPECT_FALSE(ComponentValue("@path", r).ok());
}

TEST(HttpSignature, MedchainProfileRoundTrip) {
  auto view = RequestViewFor("GET", "http://127.0.0.1:7070", "/v1/patients/pat-1/audit?proofs=1");
  ASSERT_TRUE(view.ok());
  SigningKey key = SigningKey::Generate();
  auto h = SignApiRequest(*view, "dr-demo", 1700000000, key);
  ASSERT_TRUE(h.ok());
  auto sr = ParseRequestSignature(h->signature_input, h->signature, "");
  ASSERT_TRUE(sr.ok()) << sr.status().ToString();
  EXPECT_EQ(sr->input.components, (std::vector<std::string>{"@method", "@target-uri"}));
  EXPECT_EQ(sr->input.Int("created"), 1700000000);
  EXPECT_EQ(sr->input.Str("keyid"), "dr-demo");
  EXPECT_EQ(sr->input.Str("alg"), "ed25519");
  ASSERT_TRUE(sr->input.Str("nonce").has_value());
  EXPECT_EQ(sr->input.Str("nonce")->size(), 32u);
  EXPECT_TRUE(VerifyRequestSignature(*sr, *view, key.public_key()).ok());
  // Two signatures of the same request differ by their nonce.
  auto h2 = SignApiRequest(*view, "dr-demo", 1700000000, key);
  EXPECT_NE(h->signature_input, h2->signature_input);
  // The same signature over another path, query or node does not verify.
  for (const char* target : {"/v1/patients/pat-2/audit?proofs=1", "/v1/patients/pat-1/audit"}) {
    RequestView v = *view;
    v.target = target;
    EXPECT_FALSE(VerifyRequestSignature(*sr, v, key.public_key()).ok()) << target;
  }
  RequestView other_node = *view;
  other_node.authority = "127.0.0.1:7071";
  EXPECT_FALSE(VerifyRequestSignature(*sr, other_node, key.public_key()).ok());
}

TEST(HttpSignature, ParsingIsStrict) {
  // Whitespace the RFC 8941 grammar allows is accepted.
  auto ok = ParseSignatureInputField(
      "  a=( \"@method\"  \"@path\" );created=1;keyid=\"k\" ,\tb=();nonce=\"x\"  ");
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  ASSERT_EQ(ok->size(), 2u);
  EXPECT_EQ((*ok)[0].components.size(), 2u);
  EXPECT_EQ((*ok)[1].Str("nonce"), "x");
  // A repeated key: the last one wins (RFC 8941 section 4.2.2).
  auto dup = ParseSignatureInputField("a=(\"@path\"), a=(\"@method\")");
  ASSERT_TRUE(dup.ok());
  ASSERT_EQ(dup->size(), 1u);
  EXPECT_EQ((*dup)[0].components, std::vector<std::string>{"@method"});

  for (const char* bad : {
           "",
           "a",                                         // no value
           "A=(\"@method\")",                           // keys are lower case
           "a=\"@method\"",                             // not an inner list
           "a=(@method)",                               // a token, not a string
           "a=(\"@method\";req)",                       // component parameters
           "a=(\"@method\");created",                   // a parameter without a value
           "a=(\"@method\");created=1.5",               // a decimal
           "a=(\"@method\");keyid=tok",                 // a token value
           "a=(\"@method\");created=1234567890123456",  // 16 digits
           "a=(\"@method\"\"@path\")",                  // no space between items
           "a=(\"@method\"),",                          // trailing comma
           "a=(\"@me\\thod\")",                         // a bad escape
           "a=(\"@method\"",                            // unterminated
       }) {
    EXPECT_FALSE(ParseSignatureInputField(bad).ok()) << bad;
  }
  for (const char* bad : {"", "a=abc", "a=:not base64!:", "a=:AAAA", "a=:AAAA:,"}) {
    EXPECT_FALSE(ParseSignatureField(bad).ok()) << bad;
  }
  // A component listed twice makes the signature base invalid (section 2.5).
  auto twice = ParseSignatureInputField("a=(\"@method\" \"@method\")");
  ASSERT_TRUE(twice.ok());
  RequestView r;
  r.method = "GET";
  r.scheme = "http";
  r.authority = "h";
  r.target = "/";
  EXPECT_FALSE(SignatureBase((*twice)[0], r).ok());
  // A missing header or member is "not authenticated".
  EXPECT_EQ(ParseRequestSignature("", "", "").status().code(), Code::kUnauthenticated);
  EXPECT_EQ(ParseRequestSignature("a=()", "b=:AAAA:", "").status().code(), Code::kUnauthenticated);
}

}  // namespace
}  // namespace medchain::crypto
