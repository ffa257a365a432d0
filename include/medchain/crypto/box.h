// Copyright (c) medchain developers.
// X25519 keys and anonymous sealed boxes (libsodium crypto_box_seal), used to
// wrap a record's data key for each reader.
//
// A sealed box is  ephemeral_pk (32) || crypto_box(ciphertext + 16-byte MAC),
// kSealOverhead = 48 bytes longer than the plaintext. The sender is anonymous;
// only the holder of the recipient's secret key can open it, and any change
// to any byte makes OpenSealed fail.
#pragma once

#include <array>
#include <cstdint>
#include <optional>

#include "medchain/core/bytes.h"
#include "medchain/core/status.h"

namespace medchain::crypto {

inline constexpr size_t kBoxPublicKeySize = 32;
inline constexpr size_t kBoxSecretKeySize = 32;
inline constexpr size_t kSealOverhead = 48;
// Largest plaintext Seal accepts (a wrapped key is 32 bytes; this only keeps
// an accidental multi-gigabyte call from reaching libsodium).
inline constexpr size_t kMaxSealPlaintext = size_t{1} << 30;

using BoxPublicKey = std::array<uint8_t, kBoxPublicKeySize>;
using SharedSecret = std::array<uint8_t, 32>;

// An X25519 key pair. Move-only; the secret is zeroed on destruction and in a
// moved-from object, which must then only be destroyed or assigned to.
class BoxKey {
 public:
  // A fresh key pair from libsodium's CSPRNG.
  static BoxKey Generate();
  // The key pair of a 32-byte X25519 secret (public = X25519(secret, 9)).
  // InvalidArgument unless secret.size() == kBoxSecretKeySize.
  static Result<BoxKey> FromSecret(ByteView secret);

  BoxKey(BoxKey&& other) noexcept;
  BoxKey& operator=(BoxKey&& other) noexcept;
  BoxKey(const BoxKey&) = delete;
  BoxKey& operator=(const BoxKey&) = delete;
  ~BoxKey();

  const BoxPublicKey& public_key() const { return m_public; }

  // The 32-byte secret, for writing key files. Secret: never log it. The view
  // points into *this and must not outlive it.
  ByteView secret() const { return ByteView(m_secret.data(), m_secret.size()); }

  // Opens a box made by Seal() for this key's public key.
  // InvalidArgument if `sealed` is shorter than kSealOverhead; Unauthenticated
  // if it was sealed for another key or any byte was changed.
  // The plaintext may be secret (a data key): the caller zeroes it.
  Result<Bytes> OpenSealed(ByteView sealed) const;

 private:
  BoxKey() = default;
  void Wipe();

  std::array<uint8_t, kBoxSecretKeySize> m_secret{};
  BoxPublicKey m_public{};
};

// Seals `plaintext` for `recipient` with a fresh ephemeral key.
// InvalidArgument if the recipient key is a low-order point (libsodium
// refuses: the shared secret would be all zeros, known to everyone) or the
// plaintext exceeds kMaxSealPlaintext.
Result<Bytes> Seal(const BoxPublicKey& recipient, ByteView plaintext);

// Raw X25519 (RFC 7748) through crypto_scalarmult: the shared secret of a
// 32-byte secret scalar and a 32-byte u-coordinate. The scalar is clamped and
// the top bit of u is ignored, as RFC 7748 prescribes; a non-canonical u
// (>= 2^255 - 19) is reduced mod p. InvalidArgument for wrong sizes, and when
// the result is all zeros (u is a low-order point, or a non-canonical
// encoding of one): libsodium returns an error there and so do we, so no
// caller can derive a key everyone can guess.
Result<SharedSecret> X25519(ByteView secret, ByteView public_u);

std::optional<BoxPublicKey> BoxPublicKeyFromBytes(ByteView bytes);

}  // namespace medchain::crypto
