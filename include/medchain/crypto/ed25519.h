// Copyright (c) medchain developers.
// Ed25519 signatures (RFC 8032, pure Ed25519: no context, no prehash) through
// libsodium's crypto_sign_* functions.
//
// VERIFICATION RULES. Every node must accept exactly the same signatures, or
// two honest nodes could disagree on whether a transaction is valid. Verify()
// is libsodium 1.0.18's crypto_sign_verify_detached, built without
// ED25519_COMPAT (Debian's build), which applies these rules in order:
//
//   1. S (the last 32 bytes of the signature) must be canonical: S < L, where
//      L = 2^252 + 27742317777372353535851937790883648493. This rejects the
//      classic malleability of adding L to S.
//   2. R (the first 32 bytes) must not be one of the small-order points of
//      edwards25519. The check is a blocklist compared with the sign bit
//      masked off, so it catches all 8 low-order points and every alternative
//      encoding of them (x = -0, y >= p).
//   3. A (the public key) must be a canonical encoding (y < p) and must not be
//      a small-order point (same blocklist).
//   4. A must decode to a point on the curve.
//   5. The equation is checked WITHOUT the cofactor: R' = [S]B - [k]A with
//      k = SHA-512(R || A || M) mod L, and the canonical encoding of R' must
//      equal the 32 bytes of R byte for byte. Hence a non-canonical R can never
//      verify, and a signature whose R and [k]A carry low-order components
//      that do not cancel ("low_order_residue") is rejected.
//
// Not checked: that A or R lie in the prime-order subgroup. A key with a
// low-order component that is not itself of low order (CCTV's
// "low_order_component_A") verifies when rule 5 holds exactly.
//
// The consequence for the C2SP CCTV edge-case vectors (pinned by
// tests/unit/crypto_ed25519_test.cpp): a vector verifies iff it is flagged
// none of low_order_A, low_order_R, low_order_residue (non_canonical_A/R
// vectors are all low-order encodings and so are rejected too).
//
// These rules are those of the libsodium version pinned by the project's
// setup (Debian bookworm, 1.0.18). A libsodium upgrade must re-run the CCTV
// test before it ships: a change in verdicts is a consensus change.
#pragma once

#include <array>
#include <cstdint>
#include <optional>

#include "medchain/core/bytes.h"
#include "medchain/core/status.h"

namespace medchain::crypto {

inline constexpr size_t kEd25519SeedSize = 32;
inline constexpr size_t kEd25519PublicKeySize = 32;
inline constexpr size_t kEd25519SignatureSize = 64;

using PublicKey = std::array<uint8_t, kEd25519PublicKeySize>;
using Signature = std::array<uint8_t, kEd25519SignatureSize>;

// An Ed25519 private key. Move-only; the secret is zeroed (sodium_memzero) on
// destruction and in a moved-from object, which must then only be destroyed
// or assigned to.
class SigningKey {
 public:
  // A fresh key from libsodium's CSPRNG.
  static SigningKey Generate();
  // The key whose RFC 8032 private key (seed) is `seed`.
  // InvalidArgument unless seed.size() == kEd25519SeedSize.
  static Result<SigningKey> FromSeed(ByteView seed);

  SigningKey(SigningKey&& other) noexcept;
  SigningKey& operator=(SigningKey&& other) noexcept;
  SigningKey(const SigningKey&) = delete;
  SigningKey& operator=(const SigningKey&) = delete;
  ~SigningKey();

  const PublicKey& public_key() const { return m_public; }

  // Deterministic RFC 8032 signature over `msg`.
  Signature Sign(ByteView msg) const;

  // The 32-byte seed, for writing key files. Secret: never log it. The view
  // points into *this and must not outlive it.
  ByteView seed() const { return ByteView(m_secret.data(), kEd25519SeedSize); }

 private:
  SigningKey() = default;
  void Wipe();

  // libsodium's secret-key layout: seed (32) || public key (32).
  std::array<uint8_t, 64> m_secret{};
  PublicKey m_public{};
};

// True iff `signature` is a valid signature of `msg` by `key` under the rules
// above. Never throws, never aborts on any input.
bool Verify(const PublicKey& key, ByteView msg, const Signature& signature);

// The same for a signature still in wire form: false unless it is exactly
// kEd25519SignatureSize bytes.
bool VerifyBytes(const PublicKey& key, ByteView msg, ByteView signature);

// A public key from exactly 32 bytes (no curve check: Verify() does that).
std::optional<PublicKey> PublicKeyFromBytes(ByteView bytes);

}  // namespace medchain::crypto
