// Copyright (c) medchain developers.
// Signed notes (c2sp.org/signed-note) with Ed25519 signatures, and
// transparency-log checkpoints (c2sp.org/tlog-checkpoint), the form in which
// every node signs the (size, root) of the transaction log.
//
// A signed note is
//
//   <text: one or more lines, each ending in "\n">
//   "\n"                                  a blank line
//   "— <key name> <base64(key hash (4, big-endian) || signature)>\n"   1..n times
//
// where "—" is the em dash U+2014 (bytes E2 80 94). The whole note must be
// valid UTF-8 with no ASCII control character other than "\n"; the text is
// split from the signatures at the LAST blank line. For Ed25519 (signature
// type 0x01) the signature is over the text bytes, including the final
// newline, and
//
//   key hash = SHA-256(key name || 0x0A || 0x01 || 32-byte public key)[:4]
//
// A verifier key is written "<name>+<8 lowercase hex key hash>+<base64(0x01
// || public key)>" (the golang.org/x/mod/sumdb/note form).
//
// VERIFICATION (OpenNote): signatures whose (name, key hash) matches no known
// key are ignored. A signature from a known key is verified with Verify()
// (ed25519.h rules); if it fails, the whole note is rejected. A repeated
// signature from the same known key is ignored after the first. At least one
// known key must have signed, else the note is rejected.
//
// LIMITS: a note is at most kMaxNoteSize bytes with at most
// kMaxNoteSignatures signature lines (the spec requires accepting 16).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "medchain/core/bytes.h"
#include "medchain/core/status.h"
#include "medchain/crypto/ed25519.h"

namespace medchain::crypto {

inline constexpr size_t kMaxNoteSize = 1 << 20;
inline constexpr size_t kMaxNoteSignatures = 100;
inline constexpr uint8_t kNoteAlgEd25519 = 0x01;

// True if `name` can name a note key: non-empty, valid UTF-8, no Unicode
// space (White_Space property), no '+', no control character.
bool IsValidNoteKeyName(std::string_view name);

// SHA-256(name || 0x0A || 0x01 || key)[:4], as a big-endian integer.
uint32_t NoteKeyHash(std::string_view name, const PublicKey& key);

struct NoteVerifierKey {
  std::string name;
  uint32_t key_hash = 0;
  PublicKey key{};
};

// InvalidArgument for an invalid name.
Result<NoteVerifierKey> MakeNoteVerifierKey(std::string name, const PublicKey& key);
// "<name>+<hex hash>+<base64(0x01 || key)>".
std::string FormatNoteVerifierKey(const NoteVerifierKey& key);
// Strict inverse of FormatNoteVerifierKey. InvalidArgument if any part is
// malformed, the algorithm byte is not 0x01, the key is not 32 bytes, or the
// hash does not match the name and key.
Result<NoteVerifierKey> ParseNoteVerifierKey(std::string_view text);

// One signature line, decoded.
struct NoteSignature {
  std::string name;
  uint32_t key_hash = 0;
  Bytes signature;  // the bytes after the key hash (64 for Ed25519)
};

struct Note {
  std::string text;                       // ends with "\n"
  std::vector<NoteSignature> signatures;  // in note order
};

// InvalidArgument unless `text` can be the text of a note: non-empty, ends in
// "\n", valid UTF-8, no control character other than "\n", at most
// kMaxNoteSize bytes.
Status CheckNoteText(std::string_view text);

// Signs note texts under one key name. Move-only (owns a SigningKey).
class NoteSigner {
 public:
  // InvalidArgument for an invalid key name.
  static Result<NoteSigner> Create(std::string name, SigningKey key);

  const std::string& name() const { return m_verifier.name; }
  uint32_t key_hash() const { return m_verifier.key_hash; }
  const NoteVerifierKey& verifier_key() const { return m_verifier; }

  // The signature of `text` (CheckNoteText errors).
  Result<NoteSignature> Sign(std::string_view text) const;

 private:
  NoteSigner(NoteVerifierKey verifier, SigningKey key)
      : m_verifier(std::move(verifier)), m_key(std::move(key)) {}
  NoteVerifierKey m_verifier;
  SigningKey m_key;
};

// The note with `signer`'s signature added (replacing an earlier signature
// with the same name and key hash, so re-signing is idempotent).
// InvalidArgument if the text is not valid or the note would exceed a limit.
Result<Note> AddNoteSignature(Note note, const NoteSigner& signer);

// The text form: text, blank line, signature lines.
// REQUIRES: note.text passes CheckNoteText, every signature name is valid.
std::string FormatNote(const Note& note);

// Parses the syntax only (no signature is checked): InvalidArgument for a
// note over the limits, not UTF-8 or with control characters, not ending in
// "\n", without a blank line, with no signature line, or with a malformed
// signature line (wrong prefix, invalid name, non-canonical base64, fewer
// than 5 decoded bytes).
Result<Note> ParseNote(std::string_view signed_note);

// Parses and verifies against `known` (see VERIFICATION above). Returns the
// note with only the signatures that verified. InvalidArgument for syntax;
// Unauthenticated if a known key's signature is invalid or no known key
// signed.
Result<Note> OpenNote(std::string_view signed_note, std::span<const NoteVerifierKey> known);

// ---- Checkpoints (c2sp.org/tlog-checkpoint) ----
//
//   <origin>\n
//   <tree size, decimal, no leading zeros>\n
//   <base64 of the 32-byte RFC 6962 root hash>\n
//   [<extension line>\n ...]
struct Checkpoint {
  std::string origin;
  uint64_t size = 0;
  Hash root{};
  std::vector<std::string> extensions;

  bool operator==(const Checkpoint&) const = default;
};

// REQUIRES: origin and every extension non-empty, without "\n" or other
// control characters (ParseCheckpointBody of the result then succeeds).
std::string FormatCheckpointBody(const Checkpoint& checkpoint);

// Strict: InvalidArgument unless the body is valid note text made of a
// non-empty origin line, a size in canonical decimal that fits 64 bits, a
// canonical base64 root of exactly 32 bytes, and non-empty extension lines.
Result<Checkpoint> ParseCheckpointBody(std::string_view body);

// FormatCheckpointBody, signed by `signer`, as a full signed note.
Result<std::string> SignCheckpoint(const Checkpoint& checkpoint, const NoteSigner& signer);

// OpenNote then ParseCheckpointBody of its text.
Result<Checkpoint> OpenCheckpoint(std::string_view signed_note,
                                  std::span<const NoteVerifierKey> known);

}  // namespace medchain::crypto
