// Copyright (c) medchain developers.
#include "medchain/crypto/ed25519.h"

#include <sodium.h>

#include <algorithm>
#include <cassert>

#include "medchain/crypto/init.h"

namespace medchain::crypto {

static_assert(crypto_sign_SEEDBYTES == kEd25519SeedSize);
static_assert(crypto_sign_PUBLICKEYBYTES == kEd25519PublicKeySize);
static_assert(crypto_sign_SECRETKEYBYTES == 64);
static_assert(crypto_sign_BYTES == kEd25519SignatureSize);

SigningKey SigningKey::Generate() {
  Init();
  SigningKey key;
  crypto_sign_keypair(key.m_public.data(), key.m_secret.data());
  return key;
}

Result<SigningKey> SigningKey::FromSeed(ByteView seed) {
  if (seed.size() != kEd25519SeedSize) {
    return Status::InvalidArgument("ed25519 seed: expected " + std::to_string(kEd25519SeedSize) +
                                   " bytes, got " + std::to_string(seed.size()));
  }
  Init();
  SigningKey key;
  crypto_sign_seed_keypair(key.m_public.data(), key.m_secret.data(), seed.data());
  return key;
}

SigningKey::SigningKey(SigningKey&& other) noexcept
    : m_secret(other.m_secret), m_public(other.m_public) {
  other.Wipe();
}

SigningKey& SigningKey::operator=(SigningKey&& other) noexcept {
  if (this != &other) {
    m_secret = other.m_secret;
    m_public = other.m_public;
    other.Wipe();
  }
  return *this;
}

SigningKey::~SigningKey() {
  Wipe();
}

void SigningKey::Wipe() {
  sodium_memzero(m_secret.data(), m_secret.size());
  m_public.fill(0);
}

Signature SigningKey::Sign(ByteView msg) const {
  Signature sig;
  unsigned long long sig_len = 0;
  // Cannot fail for a well-formed secret key.
  int rc = crypto_sign_detached(sig.data(), &sig_len, msg.data(), msg.size(), m_secret.data());
  assert(rc == 0 && sig_len == sig.size());
  (void)rc;
  return sig;
}

bool Verify(const PublicKey& key, ByteView msg, const Signature& signature) {
  Init();
  return crypto_sign_verify_detached(signature.data(), msg.data(), msg.size(), key.data()) == 0;
}

bool VerifyBytes(const PublicKey& key, ByteView msg, ByteView signature) {
  if (signature.size() != kEd25519SignatureSize) return false;
  Signature sig;
  std::copy(signature.begin(), signature.end(), sig.begin());
  return Verify(key, msg, sig);
}

std::optional<PublicKey> PublicKeyFromBytes(ByteView bytes) {
  if (bytes.size() != kEd25519PublicKeySize) return std::nullopt;
  PublicKey key;
  std::copy(bytes.begin(), bytes.end(), key.begin());
  return key;
}

}  // namespace medchain::crypto
