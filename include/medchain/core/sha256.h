// Copyright (c) medchain developers.
// SHA-256 through OpenSSL's EVP interface (uses SHA-NI where the CPU has it).
#pragma once

#include <memory>

#include "medchain/core/bytes.h"

namespace medchain {

// Incremental hasher. Reusing one object for many digests avoids OpenSSL's
// per-call context setup (about 2.5x faster for 64-byte inputs).
// Not thread-safe: one object per thread.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  Sha256& Update(ByteView data);
  Sha256& Update(std::string_view data) { return Update(AsBytes(data)); }
  Sha256& UpdateByte(uint8_t b) { return Update(ByteView(&b, 1)); }
  // Writes the digest and resets the object for the next message.
  Hash Finish();

 private:
  struct Impl;
  std::unique_ptr<Impl> m_impl;
};

// One-shot digest (uses a thread-local Sha256).
Hash Sha256Digest(ByteView data);
inline Hash Sha256Digest(std::string_view data) { return Sha256Digest(AsBytes(data)); }

}  // namespace medchain
