// Copyright (c) medchain developers.
#include "medchain/crypto/box.h"

#include <sodium.h>

#include <algorithm>

#include "medchain/crypto/init.h"

namespace medchain::crypto {

static_assert(crypto_box_PUBLICKEYBYTES == kBoxPublicKeySize);
static_assert(crypto_box_SECRETKEYBYTES == kBoxSecretKeySize);
static_assert(crypto_box_SEALBYTES == kSealOverhead);
static_assert(crypto_scalarmult_BYTES == 32 && crypto_scalarmult_SCALARBYTES == 32);

BoxKey BoxKey::Generate() {
  Init();
  BoxKey key;
  crypto_box_keypair(key.m_public.data(), key.m_secret.data());
  return key;
}

Result<BoxKey> BoxKey::FromSecret(ByteView secret) {
  if (secret.size() != kBoxSecretKeySize) {
    return Status::InvalidArgument("x25519 secret: expected " + std::to_string(kBoxSecretKeySize) +
                                   " bytes, got " + std::to_string(secret.size()));
  }
  Init();
  BoxKey key;
  std::copy(secret.begin(), secret.end(), key.m_secret.begin());
  // The public key of crypto_box is X25519(secret, basepoint); the base point
  // is never low order, so this cannot fail.
  if (crypto_scalarmult_base(key.m_public.data(), key.m_secret.data()) != 0) {
    return Status::Internal("x25519: scalarmult_base failed");
  }
  return key;
}

BoxKey::BoxKey(BoxKey&& other) noexcept : m_secret(other.m_secret), m_public(other.m_public) {
  other.Wipe();
}

BoxKey& BoxKey::operator=(BoxKey&& other) noexcept {
  if (this != &other) {
    m_secret = other.m_secret;
    m_public = other.m_public;
    other.Wipe();
  }
  return *this;
}

BoxKey::~BoxKey() {
  Wipe();
}

void BoxKey::Wipe() {
  sodium_memzero(m_secret.data(), m_secret.size());
  m_public.fill(0);
}

Result<Bytes> BoxKey::OpenSealed(ByteView sealed) const {
  if (sealed.size() < kSealOverhead) {
    return Status::InvalidArgument("sealed box: " + std::to_string(sealed.size()) +
                                   " bytes is shorter than the " + std::to_string(kSealOverhead) +
                                   "-byte overhead");
  }
  Init();
  Bytes out(sealed.size() - kSealOverhead);
  if (crypto_box_seal_open(out.data(), sealed.data(), sealed.size(), m_public.data(),
                           m_secret.data()) != 0) {
    return Status::Unauthenticated(
        "sealed box does not open with this key (sealed for another key, or modified)");
  }
  return out;
}

Result<Bytes> Seal(const BoxPublicKey& recipient, ByteView plaintext) {
  if (plaintext.size() > kMaxSealPlaintext) {
    return Status::InvalidArgument("sealed box: plaintext of " + std::to_string(plaintext.size()) +
                                   " bytes exceeds limit " + std::to_string(kMaxSealPlaintext));
  }
  Init();
  Bytes out(plaintext.size() + kSealOverhead);
  if (crypto_box_seal(out.data(), plaintext.data(), plaintext.size(), recipient.data()) != 0) {
    return Status::InvalidArgument(
        "sealed box: recipient public key is a low-order point (no secret shared key)");
  }
  return out;
}

Result<SharedSecret> X25519(ByteView secret, ByteView public_u) {
  if (secret.size() != crypto_scalarmult_SCALARBYTES) {
    return Status::InvalidArgument("x25519 secret: expected 32 bytes, got " +
                                   std::to_string(secret.size()));
  }
  if (public_u.size() != crypto_scalarmult_BYTES) {
    return Status::InvalidArgument("x25519 public key: expected 32 bytes, got " +
                                   std::to_string(public_u.size()));
  }
  Init();
  SharedSecret out;
  if (crypto_scalarmult(out.data(), secret.data(), public_u.data()) != 0) {
    sodium_memzero(out.data(), out.size());
    return Status::InvalidArgument(
        "x25519: public key is a low-order point (all-zero shared secret)");
  }
  return out;
}

std::optional<BoxPublicKey> BoxPublicKeyFromBytes(ByteView bytes) {
  if (bytes.size() != kBoxPublicKeySize) return std::nullopt;
  BoxPublicKey key;
  std::copy(bytes.begin(), bytes.end(), key.begin());
  return key;
}

}  // namespace medchain::crypto
