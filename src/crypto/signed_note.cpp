// Copyright (c) medchain developers.
#include "medchain/crypto/signed_note.h"

#include <algorithm>
#include <charconv>

#include "medchain/core/codec.h"
#include "medchain/core/sha256.h"

namespace medchain::crypto {

namespace {

// FromBase64, except that "" is the empty byte string. (core's FromBase64
// hands libsodium a null output buffer for "", which UBSan reports.)
std::optional<Bytes> DecodeBase64(std::string_view s) {
  if (s.empty()) return Bytes{};
  return FromBase64(s);
}

// U+2014 EM DASH, then a space.
constexpr std::string_view kSigPrefix = "\xE2\x80\x94 ";

// Decodes one code point of valid UTF-8 at s[i], advancing i.
uint32_t NextCodePoint(std::string_view s, size_t& i) {
  auto c = static_cast<uint8_t>(s[i]);
  size_t len = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : 4;
  uint32_t cp = len == 1 ? c : len == 2 ? (c & 0x1f) : len == 3 ? (c & 0x0f) : (c & 0x07);
  for (size_t k = 1; k < len; ++k) cp = (cp << 6) | (static_cast<uint8_t>(s[i + k]) & 0x3f);
  i += len;
  return cp;
}

// Unicode White_Space (the set Go's unicode.IsSpace uses).
bool IsUnicodeSpace(uint32_t cp) {
  return (cp >= 0x09 && cp <= 0x0d) || cp == 0x20 || cp == 0x85 || cp == 0xa0 || cp == 0x1680 ||
         (cp >= 0x2000 && cp <= 0x200a) || cp == 0x2028 || cp == 0x2029 || cp == 0x202f ||
         cp == 0x205f || cp == 0x3000;
}

// UTF-8 without ASCII controls other than "\n".
Status CheckNoteChars(std::string_view s, std::string_view what) {
  if (!IsValidUtf8(s)) return Status::InvalidArgument(std::string(what) + ": not valid UTF-8");
  for (char c : s) {
    auto u = static_cast<uint8_t>(c);
    if (u < 0x20 && c != '\n') {
      return Status::InvalidArgument(std::string(what) + ": contains control character 0x" +
                                     ToHex(ByteView(&u, 1)));
    }
  }
  return Status::Ok();
}

std::string HashHex(uint32_t h) {
  uint8_t b[4] = {static_cast<uint8_t>(h >> 24), static_cast<uint8_t>(h >> 16),
                  static_cast<uint8_t>(h >> 8), static_cast<uint8_t>(h)};
  return ToHex(ByteView(b, 4));
}

std::string SignatureLine(const NoteSignature& sig) {
  Bytes blob;
  blob.reserve(4 + sig.signature.size());
  for (int shift = 24; shift >= 0; shift -= 8)
    blob.push_back(static_cast<uint8_t>(sig.key_hash >> shift));
  blob.insert(blob.end(), sig.signature.begin(), sig.signature.end());
  std::string line(kSigPrefix);
  line += sig.name;
  line += ' ';
  line += ToBase64(blob);
  line += '\n';
  return line;
}

Status NoteError(std::string why) {
  return Status::InvalidArgument("signed note: " + why);
}

}  // namespace

bool IsValidNoteKeyName(std::string_view name) {
  if (name.empty() || !IsValidUtf8(name)) return false;
  size_t i = 0;
  while (i < name.size()) {
    uint32_t cp = NextCodePoint(name, i);
    if (cp < 0x20 || cp == '+' || IsUnicodeSpace(cp)) return false;
  }
  return true;
}

uint32_t NoteKeyHash(std::string_view name, const PublicKey& key) {
  Sha256 h;
  h.Update(name).UpdateByte(0x0A).UpdateByte(kNoteAlgEd25519).Update(key);
  Hash d = h.Finish();
  return (uint32_t{d[0]} << 24) | (uint32_t{d[1]} << 16) | (uint32_t{d[2]} << 8) | d[3];
}

Result<NoteVerifierKey> MakeNoteVerifierKey(std::string name, const PublicKey& key) {
  if (!IsValidNoteKeyName(name)) {
    return Status::InvalidArgument(
        "note key name is empty or contains a space, '+' or control "
        "character");
  }
  NoteVerifierKey v;
  v.key_hash = NoteKeyHash(name, key);
  v.name = std::move(name);
  v.key = key;
  return v;
}

std::string FormatNoteVerifierKey(const NoteVerifierKey& key) {
  Bytes typed;
  typed.reserve(1 + key.key.size());
  typed.push_back(kNoteAlgEd25519);
  typed.insert(typed.end(), key.key.begin(), key.key.end());
  return key.name + "+" + HashHex(key.key_hash) + "+" + ToBase64(typed);
}

Result<NoteVerifierKey> ParseNoteVerifierKey(std::string_view text) {
  auto bad = [](std::string why) { return Status::InvalidArgument("note verifier key: " + why); };
  // The name cannot contain '+', so the first two '+' split the fields; the
  // base64 part may contain '+' itself.
  size_t p1 = text.find('+');
  if (p1 == std::string_view::npos) return bad("expected <name>+<hash>+<key>");
  size_t p2 = text.find('+', p1 + 1);
  if (p2 == std::string_view::npos) return bad("expected <name>+<hash>+<key>");
  std::string_view name = text.substr(0, p1);
  std::string_view hash_hex = text.substr(p1 + 1, p2 - p1 - 1);
  std::string_view key64 = text.substr(p2 + 1);
  if (!IsValidNoteKeyName(name)) return bad("invalid key name");
  auto hash_bytes = FromHex(hash_hex);
  if (hash_hex.size() != 8 || !hash_bytes || ToHex(*hash_bytes) != hash_hex) {
    return bad("key hash must be 8 lowercase hex characters");
  }
  auto typed = DecodeBase64(key64);
  if (!typed || typed->empty()) return bad("key is not canonical padded base64");
  if ((*typed)[0] != kNoteAlgEd25519) {
    return bad("unsupported signature type 0x" + ToHex(ByteView(typed->data(), 1)) +
               " (only 0x01, Ed25519)");
  }
  if (typed->size() != 1 + kEd25519PublicKeySize) {
    return bad("Ed25519 key must be 32 bytes, got " + std::to_string(typed->size() - 1));
  }
  NoteVerifierKey v;
  v.name = std::string(name);
  std::copy(typed->begin() + 1, typed->end(), v.key.begin());
  v.key_hash = (uint32_t{(*hash_bytes)[0]} << 24) | (uint32_t{(*hash_bytes)[1]} << 16) |
               (uint32_t{(*hash_bytes)[2]} << 8) | (*hash_bytes)[3];
  if (v.key_hash != NoteKeyHash(v.name, v.key)) {
    return bad("key hash does not match the name and key");
  }
  return v;
}

Status CheckNoteText(std::string_view text) {
  if (text.empty()) return NoteError("text is empty");
  if (text.size() > kMaxNoteSize) {
    return NoteError("text of " + std::to_string(text.size()) + " bytes exceeds limit " +
                     std::to_string(kMaxNoteSize));
  }
  if (text.back() != '\n') return NoteError("text does not end with a newline");
  return CheckNoteChars(text, "signed note text");
}

Result<NoteSigner> NoteSigner::Create(std::string name, SigningKey key) {
  MC_ASSIGN_OR_RETURN(NoteVerifierKey v, MakeNoteVerifierKey(std::move(name), key.public_key()));
  return NoteSigner(std::move(v), std::move(key));
}

Result<NoteSignature> NoteSigner::Sign(std::string_view text) const {
  MC_RETURN_IF_ERROR(CheckNoteText(text));
  Signature sig = m_key.Sign(AsBytes(text));
  return NoteSignature{m_verifier.name, m_verifier.key_hash, Bytes(sig.begin(), sig.end())};
}

Result<Note> AddNoteSignature(Note note, const NoteSigner& signer) {
  MC_ASSIGN_OR_RETURN(NoteSignature sig, signer.Sign(note.text));
  std::erase_if(note.signatures, [&](const NoteSignature& s) {
    return s.name == sig.name && s.key_hash == sig.key_hash;
  });
  note.signatures.push_back(std::move(sig));
  if (note.signatures.size() > kMaxNoteSignatures) {
    return NoteError(std::to_string(note.signatures.size()) + " signatures exceed limit " +
                     std::to_string(kMaxNoteSignatures));
  }
  if (FormatNote(note).size() > kMaxNoteSize) {
    return NoteError("note would exceed " + std::to_string(kMaxNoteSize) + " bytes");
  }
  return note;
}

std::string FormatNote(const Note& note) {
  std::string out = note.text;
  out += '\n';
  for (const auto& sig : note.signatures) out += SignatureLine(sig);
  return out;
}

Result<Note> ParseNote(std::string_view s) {
  if (s.size() > kMaxNoteSize) {
    return NoteError(std::to_string(s.size()) + " bytes exceeds limit " +
                     std::to_string(kMaxNoteSize));
  }
  MC_RETURN_IF_ERROR(CheckNoteChars(s, "signed note"));
  if (s.empty() || s.back() != '\n') return NoteError("does not end with a newline");
  size_t split = s.rfind("\n\n");
  if (split == std::string_view::npos) return NoteError("no blank line before the signatures");
  Note note;
  note.text = std::string(s.substr(0, split + 1));
  std::string_view sigs = s.substr(split + 2);
  if (sigs.empty()) return NoteError("no signature lines");
  size_t line_no = 0;
  while (!sigs.empty()) {
    size_t nl = sigs.find('\n');  // sigs ends with '\n', so found
    std::string_view line = sigs.substr(0, nl);
    sigs.remove_prefix(nl + 1);
    ++line_no;
    if (line_no > kMaxNoteSignatures) {
      return NoteError("more than " + std::to_string(kMaxNoteSignatures) + " signature lines");
    }
    const std::string where = "signature line " + std::to_string(line_no);
    if (!line.starts_with(kSigPrefix)) {
      return NoteError(where + " does not start with an em dash (U+2014) and a space");
    }
    line.remove_prefix(kSigPrefix.size());
    size_t sp = line.find(' ');
    if (sp == std::string_view::npos) return NoteError(where + ": expected <name> <signature>");
    std::string_view name = line.substr(0, sp);
    std::string_view b64 = line.substr(sp + 1);
    if (!IsValidNoteKeyName(name)) return NoteError(where + ": invalid key name");
    auto blob = DecodeBase64(b64);
    if (!blob) return NoteError(where + ": signature is not canonical padded base64");
    if (blob->size() < 5) return NoteError(where + ": signature shorter than 5 bytes");
    NoteSignature sig;
    sig.name = std::string(name);
    sig.key_hash = (uint32_t{(*blob)[0]} << 24) | (uint32_t{(*blob)[1]} << 16) |
                   (uint32_t{(*blob)[2]} << 8) | (*blob)[3];
    sig.signature.assign(blob->begin() + 4, blob->end());
    note.signatures.push_back(std::move(sig));
  }
  return note;
}

Result<Note> OpenNote(std::string_view signed_note, std::span<const NoteVerifierKey> known) {
  MC_ASSIGN_OR_RETURN(Note note, ParseNote(signed_note));
  Note verified;
  verified.text = note.text;
  for (auto& sig : note.signatures) {
    auto key = std::find_if(known.begin(), known.end(), [&](const NoteVerifierKey& k) {
      return k.name == sig.name && k.key_hash == sig.key_hash;
    });
    if (key == known.end()) continue;  // unknown key: ignored
    bool seen = std::any_of(
        verified.signatures.begin(), verified.signatures.end(),
        [&](const NoteSignature& v) { return v.name == sig.name && v.key_hash == sig.key_hash; });
    if (seen) continue;  // a repeated signature by one key counts once
    if (!VerifyBytes(key->key, AsBytes(note.text), sig.signature)) {
      return Status::Unauthenticated("signed note: signature by " + sig.name + "+" +
                                     HashHex(sig.key_hash) + " does not verify");
    }
    verified.signatures.push_back(std::move(sig));
  }
  if (verified.signatures.empty()) {
    return Status::Unauthenticated("signed note: no signature by a known key");
  }
  return verified;
}

// ---- Checkpoints ----

std::string FormatCheckpointBody(const Checkpoint& c) {
  std::string out = c.origin;
  out += '\n';
  out += std::to_string(c.size);
  out += '\n';
  out += ToBase64(c.root);
  out += '\n';
  for (const auto& ext : c.extensions) {
    out += ext;
    out += '\n';
  }
  return out;
}

Result<Checkpoint> ParseCheckpointBody(std::string_view body) {
  auto bad = [](std::string why) { return Status::InvalidArgument("checkpoint: " + why); };
  MC_RETURN_IF_ERROR(CheckNoteText(body).Prefixed("checkpoint"));
  std::vector<std::string_view> lines;
  std::string_view rest = body.substr(0, body.size() - 1);  // drop the final "\n"
  for (;;) {
    size_t nl = rest.find('\n');
    lines.push_back(rest.substr(0, nl));
    if (nl == std::string_view::npos) break;
    rest.remove_prefix(nl + 1);
  }
  if (lines.size() < 3) {
    return bad("needs origin, size and root hash lines, got " + std::to_string(lines.size()));
  }
  Checkpoint c;
  if (lines[0].empty()) return bad("origin line is empty");
  c.origin = std::string(lines[0]);

  std::string_view size = lines[1];
  if (size.empty()) return bad("tree size line is empty");
  if (!std::all_of(size.begin(), size.end(), [](char ch) { return ch >= '0' && ch <= '9'; })) {
    return bad("tree size is not a decimal number");
  }
  if (size.size() > 1 && size[0] == '0') return bad("tree size has a leading zero");
  auto [ptr, ec] = std::from_chars(size.data(), size.data() + size.size(), c.size);
  if (ec != std::errc() || ptr != size.data() + size.size()) {
    return bad("tree size does not fit in 64 bits");
  }

  auto root = DecodeBase64(lines[2]);
  if (!root) return bad("root hash is not canonical padded base64");
  if (root->size() != c.root.size()) {
    return bad("root hash is " + std::to_string(root->size()) + " bytes, expected 32");
  }
  std::copy(root->begin(), root->end(), c.root.begin());

  for (size_t i = 3; i < lines.size(); ++i) {
    if (lines[i].empty()) return bad("extension line " + std::to_string(i - 2) + " is empty");
    c.extensions.emplace_back(lines[i]);
  }
  return c;
}

Result<std::string> SignCheckpoint(const Checkpoint& checkpoint, const NoteSigner& signer) {
  std::string body = FormatCheckpointBody(checkpoint);
  // Refuse to sign what a verifier would not parse back to the same value.
  MC_ASSIGN_OR_RETURN(Checkpoint back, ParseCheckpointBody(body));
  if (!(back == checkpoint)) {
    return Status::InvalidArgument("checkpoint: origin or an extension contains a newline");
  }
  MC_ASSIGN_OR_RETURN(Note note, AddNoteSignature(Note{std::move(body), {}}, signer));
  return FormatNote(note);
}

Result<Checkpoint> OpenCheckpoint(std::string_view signed_note,
                                  std::span<const NoteVerifierKey> known) {
  MC_ASSIGN_OR_RETURN(Note note, OpenNote(signed_note, known));
  return ParseCheckpointBody(note.text);
}

}  // namespace medchain::crypto
