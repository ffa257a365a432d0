// Copyright (c) medchain developers.
#include "medchain/crypto/aead.h"

#include <sodium.h>

#include <algorithm>

#include "medchain/crypto/init.h"

namespace medchain::crypto {

static_assert(crypto_aead_xchacha20poly1305_ietf_KEYBYTES == kAeadKeySize);
static_assert(crypto_aead_xchacha20poly1305_ietf_NPUBBYTES == kAeadNonceSize);
static_assert(crypto_aead_xchacha20poly1305_ietf_ABYTES == kAeadTagSize);

AeadKey AeadKey::Generate() {
  Init();
  AeadKey key;
  crypto_aead_xchacha20poly1305_ietf_keygen(key.m_key.data());
  return key;
}

Result<AeadKey> AeadKey::FromBytes(ByteView key) {
  if (key.size() != kAeadKeySize) {
    return Status::InvalidArgument("aead key: expected " + std::to_string(kAeadKeySize) +
                                   " bytes, got " + std::to_string(key.size()));
  }
  AeadKey out;
  std::copy(key.begin(), key.end(), out.m_key.begin());
  return out;
}

AeadKey::AeadKey(AeadKey&& other) noexcept : m_key(other.m_key) {
  sodium_memzero(other.m_key.data(), other.m_key.size());
}

AeadKey& AeadKey::operator=(AeadKey&& other) noexcept {
  if (this != &other) {
    m_key = other.m_key;
    sodium_memzero(other.m_key.data(), other.m_key.size());
  }
  return *this;
}

AeadKey::~AeadKey() {
  sodium_memzero(m_key.data(), m_key.size());
}

namespace {
Status CheckNonce(ByteView nonce) {
  if (nonce.size() != kAeadNonceSize) {
    return Status::InvalidArgument("aead nonce: expected " + std::to_string(kAeadNonceSize) +
                                   " bytes, got " + std::to_string(nonce.size()));
  }
  return Status::Ok();
}
}  // namespace

Result<Bytes> Encrypt(const AeadKey& key, ByteView nonce, ByteView aad, ByteView plaintext) {
  MC_RETURN_IF_ERROR(CheckNonce(nonce));
  if (plaintext.size() > kMaxAeadPlaintext) {
    return Status::InvalidArgument("aead plaintext: " + std::to_string(plaintext.size()) +
                                   " bytes exceeds limit " + std::to_string(kMaxAeadPlaintext));
  }
  Init();
  Bytes out(plaintext.size() + kAeadTagSize);
  unsigned long long out_len = 0;
  crypto_aead_xchacha20poly1305_ietf_encrypt(out.data(), &out_len, plaintext.data(),
                                             plaintext.size(), aad.data(), aad.size(), nullptr,
                                             nonce.data(), key.bytes().data());
  out.resize(static_cast<size_t>(out_len));
  return out;
}

Result<Bytes> Decrypt(const AeadKey& key, ByteView nonce, ByteView aad, ByteView ciphertext) {
  MC_RETURN_IF_ERROR(CheckNonce(nonce));
  if (ciphertext.size() < kAeadTagSize) {
    return Status::InvalidArgument("aead ciphertext: " + std::to_string(ciphertext.size()) +
                                   " bytes is shorter than the " + std::to_string(kAeadTagSize) +
                                   "-byte tag");
  }
  Init();
  Bytes out(ciphertext.size() - kAeadTagSize);
  unsigned long long out_len = 0;
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(out.data(), &out_len, nullptr, ciphertext.data(),
                                                 ciphertext.size(), aad.data(), aad.size(),
                                                 nonce.data(), key.bytes().data()) != 0) {
    return Status::Unauthenticated(
        "aead: authentication tag does not match (wrong key, nonce or associated data, or the "
        "ciphertext was modified)");
  }
  out.resize(static_cast<size_t>(out_len));
  return out;
}

AeadNonce RandomNonce() {
  Init();
  AeadNonce nonce;
  randombytes_buf(nonce.data(), nonce.size());
  return nonce;
}

Result<Bytes> SealWithRandomNonce(const AeadKey& key, ByteView aad, ByteView plaintext) {
  AeadNonce nonce = RandomNonce();
  MC_ASSIGN_OR_RETURN(Bytes ct, Encrypt(key, nonce, aad, plaintext));
  Bytes out;
  out.reserve(nonce.size() + ct.size());
  out.insert(out.end(), nonce.begin(), nonce.end());
  out.insert(out.end(), ct.begin(), ct.end());
  return out;
}

Result<Bytes> OpenWithNonce(const AeadKey& key, ByteView aad, ByteView nonce_and_ciphertext) {
  if (nonce_and_ciphertext.size() < kAeadNonceSize + kAeadTagSize) {
    return Status::InvalidArgument(
        "aead sealed message: " + std::to_string(nonce_and_ciphertext.size()) +
        " bytes is shorter than nonce + tag (" + std::to_string(kAeadNonceSize + kAeadTagSize) +
        ")");
  }
  return Decrypt(key, nonce_and_ciphertext.first(kAeadNonceSize), aad,
                 nonce_and_ciphertext.subspan(kAeadNonceSize));
}

}  // namespace medchain::crypto
