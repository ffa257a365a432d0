// Copyright (c) medchain developers.
// crypto_bench: fixed workloads over medchain::crypto (libsodium) and
// medchain::Sha256 (OpenSSL), one thread. Prints one line per figure.
// Figures go to docs/crypto.md; compare with ../shared/notes/performance.md.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>

#include "medchain/core/bytes.h"
#include "medchain/core/sha256.h"
#include "medchain/crypto/aead.h"
#include "medchain/crypto/box.h"
#include "medchain/crypto/ed25519.h"
#include "medchain/crypto/init.h"
#include "medchain/crypto/keyfile.h"

namespace {

using Clock = std::chrono::steady_clock;
using medchain::Bytes;
using medchain::ByteView;
namespace crypto = medchain::crypto;

volatile uint64_t g_sink = 0;
// Keeps results observable so the compiler cannot drop the work.
void Use(uint64_t v) {
  g_sink = g_sink + v;
}

// Runs `op` in batches until `min_seconds` have passed, three times, and
// returns the best of the three rates in ops/second (the machine is shared:
// the best round is the one least disturbed by other processes).
template <class Op>
double Rate(Op op, double min_seconds = 0.5, int batch = 16) {
  for (int i = 0; i < batch; ++i) op();  // warm-up
  double best = 0;
  for (int round = 0; round < 3; ++round) {
    uint64_t n = 0;
    auto start = Clock::now();
    double elapsed = 0;
    do {
      for (int i = 0; i < batch; ++i) op();
      n += static_cast<uint64_t>(batch);
      elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    } while (elapsed < min_seconds);
    best = std::max(best, static_cast<double>(n) / elapsed);
  }
  return best;
}

void Print(const char* what, double value, const char* unit) {
  std::printf("%-44s %12.1f %s\n", what, value, unit);
}

}  // namespace

int main() {
  crypto::Init();
  std::printf(
      "crypto_bench: one thread, best of 3 rounds; libsodium for signatures/boxes/AEAD/Argon2id, "
      "OpenSSL EVP for SHA-256\n");

  // SHA-256 through a reused medchain::Sha256.
  {
    medchain::Sha256 h;
    Bytes small(64, 0xab), large(1 << 20, 0xcd);
    double r64 = Rate([&] { Use(h.Update(small).Finish()[0]); }, 0.5, 1024);
    Print("sha256 64 B", r64 * 64 / 1e6, "MB/s");
    double r1m = Rate([&] { Use(h.Update(large).Finish()[0]); }, 0.5, 4);
    Print("sha256 1 MiB", r1m * (1 << 20) / 1e6, "MB/s");
  }

  // Ed25519 over a 128-byte message (about a transaction header).
  {
    crypto::SigningKey key = crypto::SigningKey::Generate();
    Bytes msg(128, 0x42);
    crypto::Signature sig = key.Sign(msg);
    Print("ed25519 sign (128 B)", Rate([&] { Use(key.Sign(msg)[0]); }), "ops/s");
    Print("ed25519 verify (128 B)", Rate([&] { Use(crypto::Verify(key.public_key(), msg, sig)); }),
          "ops/s");
  }

  // Sealed boxes of 256 bytes.
  {
    crypto::BoxKey key = crypto::BoxKey::Generate();
    Bytes pt(256, 0x17);
    Bytes sealed = *crypto::Seal(key.public_key(), pt);
    Print("sealed box seal (256 B)", Rate([&] { Use((*crypto::Seal(key.public_key(), pt))[0]); }),
          "ops/s");
    Print("sealed box open (256 B)", Rate([&] { Use((*key.OpenSealed(sealed))[0]); }), "ops/s");
  }

  // XChaCha20-Poly1305 on 4 KiB.
  {
    crypto::AeadKey key = crypto::AeadKey::Generate();
    crypto::AeadNonce nonce = crypto::RandomNonce();
    Bytes pt(4096, 0x99), aad(32, 1);
    Bytes ct = *crypto::Encrypt(key, nonce, aad, pt);
    double enc = Rate([&] { Use((*crypto::Encrypt(key, nonce, aad, pt))[0]); }, 0.5, 64);
    Print("xchacha20-poly1305 encrypt 4 KiB", enc * 4096 / 1e6, "MB/s");
    double dec = Rate([&] { Use((*crypto::Decrypt(key, nonce, aad, ct))[0]); }, 0.5, 64);
    Print("xchacha20-poly1305 decrypt 4 KiB", dec * 4096 / 1e6, "MB/s");
  }

  // Key-file open: Argon2id dominates.
  {
    crypto::KeyMaterial keys = crypto::KeyMaterial::Generate("bench");
    const std::string pass = "benchmark passphrase";
    std::string interactive = *crypto::EncryptKeyFile(keys, pass);
    std::string minimum = *crypto::EncryptKeyFile(keys, pass, crypto::KdfParams::Minimum());
    double r = Rate([&] { Use(crypto::DecryptKeyFile(interactive, pass).ok()); }, 1.0, 1);
    Print("key file open, argon2id interactive (2, 64 MiB)", 1e3 / r, "ms");
    double m = Rate([&] { Use(crypto::DecryptKeyFile(minimum, pass).ok()); }, 0.5, 8);
    Print("key file open, argon2id minimum (1, 8 KiB)", 1e3 / m, "ms");
  }
  return g_sink == 0xffffffffffffffffull ? 1 : 0;
}
