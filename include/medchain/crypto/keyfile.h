// Copyright (c) medchain developers.
// Passphrase-protected key files: one participant's Ed25519 signing key, its
// current X25519 encryption key and the encryption keys it rotated out (so
// data keys wrapped for an old key still open).
//
// FORMAT (version 1; the full specification with an example is in
// docs/crypto.md). A small JSON object, UTF-8, at most kMaxKeyFileSize bytes:
//
//   {
//     "format": "medchain-keyfile",
//     "version": 1,
//     "label": "...",                       optional, <= 256 bytes
//     "participant_id": "...",              optional, <= 128 bytes
//     "signing_public_key": "<64 hex>",     Ed25519 public key
//     "encryption_public_key": "<64 hex>",  X25519 public key
//     "kdf": {"algorithm": "argon2id13", "opslimit": N, "memlimit": N,
//             "salt": "<32 hex>"},
//     "cipher": {"algorithm": "xchacha20poly1305-ietf", "nonce": "<48 hex>"},
//     "ciphertext": "<base64>"
//   }
//
// key = Argon2id(passphrase, salt, opslimit, memlimit) (crypto_pwhash,
// ALG_ARGON2ID13), 32 bytes. ciphertext = XChaCha20-Poly1305(key, nonce,
// aad, payload) where aad is the canonical encoding (core/codec.h) of every
// other field - format, version, label, participant id, both public keys, the
// KDF algorithm and parameters and salt, the cipher algorithm - so none of
// them can be changed or swapped without the file failing to open; and
// payload = u8 1 || fixed(32) Ed25519 seed || fixed(32) X25519 secret ||
// varint n || n x fixed(32) previous X25519 secrets (oldest first).
//
// Every secret (derived key, payload) is zeroed after use. Messages never
// contain the passphrase or any key material.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "medchain/core/bytes.h"
#include "medchain/core/status.h"
#include "medchain/crypto/box.h"
#include "medchain/crypto/ed25519.h"

namespace medchain::crypto {

inline constexpr std::string_view kKeyFileFormat = "medchain-keyfile";
inline constexpr uint32_t kKeyFileVersion = 1;
inline constexpr size_t kMaxKeyFileSize = 64 * 1024;
inline constexpr size_t kMaxKeyLabelSize = 256;
inline constexpr size_t kMaxParticipantIdSize = 128;
inline constexpr size_t kMaxPreviousEncryptionKeys = 256;
inline constexpr size_t kMaxPassphraseSize = 4096;

// Argon2id cost. Bounds (checked on write and on read, so a hostile or
// damaged file cannot make a reader allocate gigabytes or spin for hours):
// opslimit in [kMinKdfOpslimit, kMaxKdfOpslimit], memlimit in
// [kMinKdfMemlimit, kMaxKdfMemlimit] bytes.
struct KdfParams {
  uint64_t opslimit = 0;
  uint64_t memlimit = 0;  // bytes

  // crypto_pwhash_OPSLIMIT_INTERACTIVE / MEMLIMIT_INTERACTIVE (2 passes,
  // 64 MiB): the default for every real key.
  static KdfParams Interactive();
  // libsodium's minimums (1 pass, 8 KiB). For tests and throwaway dev keys
  // only: offers almost no resistance to passphrase guessing.
  static KdfParams Minimum();

  bool operator==(const KdfParams&) const = default;
};
inline constexpr uint64_t kMinKdfOpslimit = 1;           // crypto_pwhash_argon2id_OPSLIMIT_MIN
inline constexpr uint64_t kMaxKdfOpslimit = 16;          // 4x OPSLIMIT_SENSITIVE
inline constexpr uint64_t kMinKdfMemlimit = 8192;        // crypto_pwhash_argon2id_MEMLIMIT_MIN
inline constexpr uint64_t kMaxKdfMemlimit = 1ull << 30;  // MEMLIMIT_SENSITIVE, 1 GiB

// InvalidArgument naming the parameter and the bounds if out of range.
Status ValidateKdfParams(const KdfParams& params);

// What anyone may read from a key file without the passphrase.
struct PublicIdentity {
  uint32_t version = 0;
  std::string label;
  std::string participant_id;
  PublicKey signing_public_key{};
  BoxPublicKey encryption_public_key{};
  KdfParams kdf;
};

// A participant's secret keys. Move-only (holds move-only keys).
struct KeyMaterial {
  SigningKey signing;
  BoxKey encryption;
  // Keys rotated out, oldest first. Still used to open old wrapped keys.
  std::vector<BoxKey> previous_encryption;
  std::string label;
  std::string participant_id;

  // Fresh random keys.
  static KeyMaterial Generate(std::string label = {}, std::string participant_id = {});

  // Moves the current encryption key to previous_encryption and generates a
  // new one. FailedPrecondition if kMaxPreviousEncryptionKeys would be
  // exceeded.
  Status RotateEncryptionKey();

  // Opens a sealed box made for the current key or any previous one.
  // Unauthenticated if none opens it.
  Result<Bytes> OpenSealed(ByteView sealed) const;

  PublicIdentity Identity() const;
};

// Encrypts `keys` under `passphrase` and returns the key file text.
// InvalidArgument for an empty or over-long passphrase, params out of bounds,
// a label / participant id that is too long, not UTF-8 or holds control
// characters, or too many previous keys.
Result<std::string> EncryptKeyFile(const KeyMaterial& keys, std::string_view passphrase,
                                   const KdfParams& params = KdfParams::Interactive());

// Remembers one Argon2id result of EncryptKeyFile (passphrase, cost, salt,
// derived key) so that a process writing many key files under the same
// passphrase — a bulk FHIR import, the facade escrowing patients' keys —
// pays the KDF once instead of ~0.1 s per file. Those files share the salt
// and the file key; each still has its own random 24-byte nonce. Sharing a
// salt costs nothing here: files that share a passphrase fall together
// anyway once it is guessed, and a guess against one salt is still one full
// Argon2id run. A different passphrase or cost derives afresh (and replaces
// the remembered one). Thread-safe; the secrets are wiped on destruction.
class KdfCache {
 public:
  KdfCache();
  ~KdfCache();
  KdfCache(const KdfCache&) = delete;
  KdfCache& operator=(const KdfCache&) = delete;

 private:
  friend Result<std::string> EncryptKeyFile(const KeyMaterial&, std::string_view, const KdfParams&,
                                            KdfCache*);
  struct State;
  std::unique_ptr<State> m_state;
};

// EncryptKeyFile, reusing (or filling) `cache` when it is not null.
Result<std::string> EncryptKeyFile(const KeyMaterial& keys, std::string_view passphrase,
                                   const KdfParams& params, KdfCache* cache);

// Decrypts key file text. Errors:
//   InvalidArgument  malformed JSON, a missing/extra/ill-typed field (the
//                    message names it), unknown format or version, KDF
//                    parameters out of bounds, ciphertext too short
//                    (truncated) or too long;
//   Unauthenticated  "wrong passphrase or corrupted key file" (the AEAD tag
//                    does not match: wrong passphrase, or a ciphertext, nonce,
//                    salt or any clear field changed);
//   Corruption       the payload authenticated but is malformed or does not
//                    match the public keys in the clear (a writer bug);
//   ResourceExhausted the KDF could not get its memory.
Result<KeyMaterial> DecryptKeyFile(std::string_view text, std::string_view passphrase);

// The public part of key file text; needs no passphrase. Same InvalidArgument
// errors as DecryptKeyFile for the clear fields.
Result<PublicIdentity> ParsePublicIdentity(std::string_view text);

enum class Overwrite { kNo, kYes };

// Writes text to `path` atomically: a temporary file in the same directory,
// created with mode 0600, written, fsync'ed, then renamed over `path` (the
// directory is fsync'ed too). With Overwrite::kNo an existing `path` is left
// alone and AlreadyExists is returned. IOError on any system-call failure.
Status WriteKeyFileText(const std::string& path, std::string_view text,
                        Overwrite overwrite = Overwrite::kNo);

// EncryptKeyFile then WriteKeyFileText.
Status WriteKeyFile(const std::string& path, const KeyMaterial& keys, std::string_view passphrase,
                    const KdfParams& params = KdfParams::Interactive(),
                    Overwrite overwrite = Overwrite::kNo);

// Reads (at most kMaxKeyFileSize bytes) and decrypts. NotFound if the file
// does not exist, IOError if it cannot be read, else as DecryptKeyFile.
Result<KeyMaterial> ReadKeyFile(const std::string& path, std::string_view passphrase);

// Reads the public identity without a passphrase.
Result<PublicIdentity> ReadPublicIdentity(const std::string& path);

}  // namespace medchain::crypto
