// Copyright (c) medchain developers.
// XChaCha20-Poly1305 authenticated encryption with associated data
// (libsodium crypto_aead_xchacha20poly1305_ietf_*; draft-irtf-cfrg-xchacha).
//
// Ciphertext layout: encrypted plaintext || 16-byte Poly1305 tag. The 24-byte
// nonce is long enough to be drawn at random for every message
// (SealWithRandomNonce) with no practical risk of reuse under one key.
#pragma once

#include <array>
#include <cstdint>

#include "medchain/core/bytes.h"
#include "medchain/core/status.h"

namespace medchain::crypto {

inline constexpr size_t kAeadKeySize = 32;
inline constexpr size_t kAeadNonceSize = 24;
inline constexpr size_t kAeadTagSize = 16;
// Largest plaintext Encrypt accepts (records are far smaller; this keeps a
// runaway size from reaching libsodium).
inline constexpr size_t kMaxAeadPlaintext = size_t{1} << 32;

using AeadNonce = std::array<uint8_t, kAeadNonceSize>;

// A 256-bit XChaCha20-Poly1305 key. Move-only; zeroed on destruction and in a
// moved-from object.
class AeadKey {
 public:
  // A fresh random key (crypto_aead_xchacha20poly1305_ietf_keygen).
  static AeadKey Generate();
  // InvalidArgument unless key.size() == kAeadKeySize.
  static Result<AeadKey> FromBytes(ByteView key);

  AeadKey(AeadKey&& other) noexcept;
  AeadKey& operator=(AeadKey&& other) noexcept;
  AeadKey(const AeadKey&) = delete;
  AeadKey& operator=(const AeadKey&) = delete;
  ~AeadKey();

  // Secret: never log it. Points into *this.
  ByteView bytes() const { return ByteView(m_key.data(), m_key.size()); }

 private:
  AeadKey() = default;
  std::array<uint8_t, kAeadKeySize> m_key{};
};

// Encrypts `plaintext`, authenticating it and `aad`. Returns
// ciphertext || tag (plaintext.size() + kAeadTagSize bytes).
// InvalidArgument if nonce.size() != kAeadNonceSize or the plaintext is
// larger than kMaxAeadPlaintext.
// REQUIRES: a nonce is never used twice with one key.
Result<Bytes> Encrypt(const AeadKey& key, ByteView nonce, ByteView aad, ByteView plaintext);

// Inverse of Encrypt. InvalidArgument if the nonce has the wrong size or the
// ciphertext is shorter than the tag; Unauthenticated if the tag does not
// match (wrong key, nonce or aad, or any byte modified) - then no plaintext is
// released.
Result<Bytes> Decrypt(const AeadKey& key, ByteView nonce, ByteView aad, ByteView ciphertext);

// Encrypts under a fresh random nonce; returns nonce (24) || ciphertext || tag.
// InvalidArgument only for a plaintext above kMaxAeadPlaintext.
Result<Bytes> SealWithRandomNonce(const AeadKey& key, ByteView aad, ByteView plaintext);

// Inverse of SealWithRandomNonce. InvalidArgument if shorter than
// nonce + tag; Unauthenticated as for Decrypt.
Result<Bytes> OpenWithNonce(const AeadKey& key, ByteView aad, ByteView nonce_and_ciphertext);

// A fresh random nonce.
AeadNonce RandomNonce();

}  // namespace medchain::crypto
