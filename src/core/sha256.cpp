// Copyright (c) medchain developers.
#include "medchain/core/sha256.h"

#include <openssl/evp.h>

#include <cstdlib>
#include <cstdio>

namespace medchain {

namespace {
// Fetched once: EVP_MD_fetch per digest costs more than the digest itself for
// small inputs (see ../shared/notes/performance.md).
const EVP_MD* Sha256Md() {
  static EVP_MD* md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  return md;
}
[[noreturn]] void Die(const char* what) {
  std::fprintf(stderr, "medchain: OpenSSL SHA-256 failure in %s\n", what);
  std::abort();
}
}  // namespace

struct Sha256::Impl {
  EVP_MD_CTX* ctx = nullptr;
};

Sha256::Sha256() : m_impl(std::make_unique<Impl>()) {
  m_impl->ctx = EVP_MD_CTX_new();
  if (m_impl->ctx == nullptr || Sha256Md() == nullptr ||
      EVP_DigestInit_ex(m_impl->ctx, Sha256Md(), nullptr) != 1) {
    Die("init");
  }
}

Sha256::~Sha256() { EVP_MD_CTX_free(m_impl->ctx); }

Sha256& Sha256::Update(ByteView data) {
  if (!data.empty() && EVP_DigestUpdate(m_impl->ctx, data.data(), data.size()) != 1) {
    Die("update");
  }
  return *this;
}

Hash Sha256::Finish() {
  Hash out;
  unsigned int len = 0;
  if (EVP_DigestFinal_ex(m_impl->ctx, out.data(), &len) != 1 || len != out.size() ||
      EVP_DigestInit_ex(m_impl->ctx, nullptr, nullptr) != 1) {
    Die("final");
  }
  return out;
}

Hash Sha256Digest(ByteView data) {
  thread_local Sha256 hasher;
  return hasher.Update(data).Finish();
}

}  // namespace medchain
