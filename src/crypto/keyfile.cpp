// Copyright (c) medchain developers.
#include "medchain/crypto/keyfile.h"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>

#include "medchain/core/codec.h"
#include "medchain/crypto/aead.h"
#include "medchain/crypto/init.h"

namespace medchain::crypto {

static_assert(crypto_pwhash_argon2id_OPSLIMIT_MIN == kMinKdfOpslimit);
static_assert(crypto_pwhash_argon2id_MEMLIMIT_MIN == kMinKdfMemlimit);
static_assert(crypto_pwhash_argon2id_MEMLIMIT_SENSITIVE == kMaxKdfMemlimit);

namespace {

constexpr std::string_view kKdfAlgorithm = "argon2id13";
constexpr std::string_view kCipherAlgorithm = "xchacha20poly1305-ietf";
constexpr size_t kSaltSize = crypto_pwhash_argon2id_SALTBYTES;  // 16
constexpr uint8_t kPayloadLayout = 1;
constexpr size_t kMinPayload = 1 + 32 + 32 + 1;
constexpr size_t kMaxPayload = 1 + 32 + 32 + 10 + 32 * kMaxPreviousEncryptionKeys;
constexpr std::string_view kWrongPassphrase = "wrong passphrase or corrupted key file";

// FromBase64, except that "" is the empty byte string. (core's FromBase64
// hands libsodium a null output buffer for "", which UBSan reports.)
std::optional<Bytes> DecodeBase64(std::string_view s) {
  if (s.empty()) return Bytes{};
  return FromBase64(s);
}

// Zeroes a buffer when it goes out of scope.
class Wipe {
 public:
  Wipe(void* p, size_t n) : m_p(p), m_n(n) {}
  explicit Wipe(Bytes& b) : m_bytes(&b) {}
  ~Wipe() {
    if (m_bytes != nullptr) SecureZero(*m_bytes);
    if (m_p != nullptr) SecureZero(m_p, m_n);
  }
  Wipe(const Wipe&) = delete;
  Wipe& operator=(const Wipe&) = delete;

 private:
  void* m_p = nullptr;
  size_t m_n = 0;
  Bytes* m_bytes = nullptr;
};

Status FieldError(std::string_view field, std::string_view why) {
  std::string msg = "key file: field '";
  msg += field;
  msg += "': ";
  msg += why;
  return Status::InvalidArgument(std::move(msg));
}

// A label or participant id: bounded, UTF-8, no control characters (it is
// printed on terminals).
Status CheckText(std::string_view field, std::string_view s, size_t max) {
  if (s.size() > max) {
    return FieldError(field,
                      std::to_string(s.size()) + " bytes exceeds limit " + std::to_string(max));
  }
  if (!IsValidUtf8(s)) return FieldError(field, "not valid UTF-8");
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) return FieldError(field, "contains a control character");
  }
  return Status::Ok();
}

// The associated data: every clear field except the nonce (which the AEAD
// uses directly) and the ciphertext itself.
Bytes AssociatedData(const PublicIdentity& id, ByteView salt) {
  Encoder e;
  e.Str(kKeyFileFormat)
      .U32(id.version)
      .Str(id.label)
      .Str(id.participant_id)
      .Fixed(id.signing_public_key)
      .Fixed(id.encryption_public_key)
      .Str(kKdfAlgorithm)
      .U64(id.kdf.opslimit)
      .U64(id.kdf.memlimit)
      .Fixed(salt)
      .Str(kCipherAlgorithm);
  return e.Take();
}

// Derives the file key into `out` (32 bytes).
Status DeriveKey(std::string_view passphrase, ByteView salt, const KdfParams& params,
                 std::array<uint8_t, kAeadKeySize>& out) {
  Init();
  if (crypto_pwhash(out.data(), out.size(), passphrase.data(), passphrase.size(), salt.data(),
                    params.opslimit, static_cast<size_t>(params.memlimit),
                    crypto_pwhash_ALG_ARGON2ID13) != 0) {
    return Status::ResourceExhausted("key file: Argon2id could not allocate " +
                                     std::to_string(params.memlimit) + " bytes");
  }
  return Status::Ok();
}

Status CheckPassphrase(std::string_view passphrase) {
  if (passphrase.empty()) return Status::InvalidArgument("key file: empty passphrase");
  if (passphrase.size() > kMaxPassphraseSize) {
    return Status::InvalidArgument("key file: passphrase longer than " +
                                   std::to_string(kMaxPassphraseSize) + " bytes");
  }
  return Status::Ok();
}

// ---- JSON reading ----

using Json = nlohmann::json;

// Parses strictly: rejects duplicate keys at any depth (nlohmann would keep
// the last one silently) and anything nlohmann rejects.
Result<Json> ParseJsonStrict(std::string_view text) {
  std::vector<std::set<std::string>> seen;
  std::string duplicate;
  auto callback = [&](int /*depth*/, Json::parse_event_t event, Json& parsed) {
    switch (event) {
      case Json::parse_event_t::object_start:
        seen.emplace_back();
        break;
      case Json::parse_event_t::object_end:
        if (!seen.empty()) seen.pop_back();
        break;
      case Json::parse_event_t::key:
        if (!seen.empty() && !seen.back().insert(parsed.get<std::string>()).second &&
            duplicate.empty()) {
          duplicate = parsed.get<std::string>();
        }
        break;
      default:
        break;
    }
    return true;
  };
  try {
    Json j = Json::parse(text.begin(), text.end(), callback);
    if (!duplicate.empty()) return FieldError(duplicate, "appears more than once");
    return j;
  } catch (const Json::exception& e) {
    return Status::InvalidArgument(std::string("key file: not valid JSON: ") + e.what());
  }
}

// Checks that `obj` has exactly the keys `required` plus any of `optional`.
Status CheckKeys(const Json& obj, std::string_view prefix,
                 std::initializer_list<const char*> required,
                 std::initializer_list<const char*> optional) {
  for (const char* k : required) {
    if (!obj.contains(k)) return FieldError(std::string(prefix) + k, "missing");
  }
  for (const auto& [k, v] : obj.items()) {
    bool known = false;
    for (const char* r : required) known = known || k == r;
    for (const char* o : optional) known = known || k == o;
    if (!known) return FieldError(std::string(prefix) + k, "unknown field");
  }
  return Status::Ok();
}

Result<std::string> GetString(const Json& obj, const char* key, std::string_view name) {
  const Json& v = obj.at(key);
  if (!v.is_string()) return FieldError(name, "must be a string");
  return v.get<std::string>();
}

Result<uint64_t> GetUnsigned(const Json& obj, const char* key, std::string_view name) {
  const Json& v = obj.at(key);
  if (!v.is_number_unsigned()) return FieldError(name, "must be a non-negative integer");
  return v.get<uint64_t>();
}

Result<Bytes> GetHex(const Json& obj, const char* key, std::string_view name, size_t size) {
  MC_ASSIGN_OR_RETURN(std::string s, GetString(obj, key, name));
  if (s.size() != 2 * size) {
    return FieldError(name, "expected " + std::to_string(size) + " bytes as " +
                                std::to_string(2 * size) + " lowercase hex characters");
  }
  auto b = FromHex(s);
  if (!b || ToHex(*b) != s) return FieldError(name, "not lowercase hex");
  return *b;
}

template <size_t N>
std::array<uint8_t, N> ToArray(const Bytes& b) {
  std::array<uint8_t, N> out{};
  std::copy_n(b.begin(), N, out.begin());
  return out;
}

// Everything a reader needs before the passphrase comes in.
struct ParsedFile {
  PublicIdentity id;
  Bytes salt;
  Bytes nonce;
  Bytes ciphertext;
};

Result<ParsedFile> ParseFile(std::string_view text) {
  if (text.size() > kMaxKeyFileSize) {
    return Status::InvalidArgument("key file: " + std::to_string(text.size()) +
                                   " bytes exceeds limit " + std::to_string(kMaxKeyFileSize));
  }
  MC_ASSIGN_OR_RETURN(Json j, ParseJsonStrict(text));
  if (!j.is_object()) return Status::InvalidArgument("key file: not a JSON object");
  // Format and version first, so a file from a later version gets a version
  // error rather than complaints about fields this build does not know.
  if (!j.contains("format")) return FieldError("format", "missing (not a medchain key file?)");
  MC_ASSIGN_OR_RETURN(std::string format, GetString(j, "format", "format"));
  if (format != kKeyFileFormat) {
    return FieldError("format", "is not \"" + std::string(kKeyFileFormat) + "\"");
  }
  if (!j.contains("version")) return FieldError("version", "missing");
  MC_ASSIGN_OR_RETURN(uint64_t version, GetUnsigned(j, "version", "version"));
  if (version != kKeyFileVersion) {
    return Status::InvalidArgument("key file: unsupported version " + std::to_string(version) +
                                   " (this build reads version " + std::to_string(kKeyFileVersion) +
                                   ")");
  }
  MC_RETURN_IF_ERROR(CheckKeys(j, "",
                               {"format", "version", "signing_public_key", "encryption_public_key",
                                "kdf", "cipher", "ciphertext"},
                               {"label", "participant_id"}));
  ParsedFile f;
  f.id.version = static_cast<uint32_t>(version);
  if (j.contains("label")) {
    MC_ASSIGN_OR_RETURN(f.id.label, GetString(j, "label", "label"));
    MC_RETURN_IF_ERROR(CheckText("label", f.id.label, kMaxKeyLabelSize));
  }
  if (j.contains("participant_id")) {
    MC_ASSIGN_OR_RETURN(f.id.participant_id, GetString(j, "participant_id", "participant_id"));
    MC_RETURN_IF_ERROR(CheckText("participant_id", f.id.participant_id, kMaxParticipantIdSize));
  }
  MC_ASSIGN_OR_RETURN(Bytes spk, GetHex(j, "signing_public_key", "signing_public_key", 32));
  f.id.signing_public_key = ToArray<32>(spk);
  MC_ASSIGN_OR_RETURN(Bytes epk, GetHex(j, "encryption_public_key", "encryption_public_key", 32));
  f.id.encryption_public_key = ToArray<32>(epk);

  const Json& kdf = j.at("kdf");
  if (!kdf.is_object()) return FieldError("kdf", "must be an object");
  MC_RETURN_IF_ERROR(CheckKeys(kdf, "kdf.", {"algorithm", "opslimit", "memlimit", "salt"}, {}));
  MC_ASSIGN_OR_RETURN(std::string kdf_alg, GetString(kdf, "algorithm", "kdf.algorithm"));
  if (kdf_alg != kKdfAlgorithm) {
    return FieldError("kdf.algorithm",
                      "unsupported (expected \"" + std::string(kKdfAlgorithm) + "\")");
  }
  MC_ASSIGN_OR_RETURN(f.id.kdf.opslimit, GetUnsigned(kdf, "opslimit", "kdf.opslimit"));
  MC_ASSIGN_OR_RETURN(f.id.kdf.memlimit, GetUnsigned(kdf, "memlimit", "kdf.memlimit"));
  MC_RETURN_IF_ERROR(ValidateKdfParams(f.id.kdf).Prefixed("key file"));
  MC_ASSIGN_OR_RETURN(f.salt, GetHex(kdf, "salt", "kdf.salt", kSaltSize));

  const Json& cipher = j.at("cipher");
  if (!cipher.is_object()) return FieldError("cipher", "must be an object");
  MC_RETURN_IF_ERROR(CheckKeys(cipher, "cipher.", {"algorithm", "nonce"}, {}));
  MC_ASSIGN_OR_RETURN(std::string cipher_alg, GetString(cipher, "algorithm", "cipher.algorithm"));
  if (cipher_alg != kCipherAlgorithm) {
    return FieldError("cipher.algorithm",
                      "unsupported (expected \"" + std::string(kCipherAlgorithm) + "\")");
  }
  MC_ASSIGN_OR_RETURN(f.nonce, GetHex(cipher, "nonce", "cipher.nonce", kAeadNonceSize));

  MC_ASSIGN_OR_RETURN(std::string ct64, GetString(j, "ciphertext", "ciphertext"));
  auto ct = DecodeBase64(ct64);
  if (!ct) return FieldError("ciphertext", "not canonical padded base64");
  if (ct->size() < kMinPayload + kAeadTagSize) {
    return FieldError("ciphertext", std::to_string(ct->size()) + " bytes is shorter than the " +
                                        std::to_string(kMinPayload + kAeadTagSize) +
                                        " a key file needs (truncated?)");
  }
  if (ct->size() > kMaxPayload + kAeadTagSize) {
    return FieldError("ciphertext", std::to_string(ct->size()) + " bytes exceeds limit " +
                                        std::to_string(kMaxPayload + kAeadTagSize));
  }
  f.ciphertext = std::move(*ct);
  return f;
}

}  // namespace

// ---- KdfParams ----

KdfParams KdfParams::Interactive() {
  return {crypto_pwhash_argon2id_OPSLIMIT_INTERACTIVE, crypto_pwhash_argon2id_MEMLIMIT_INTERACTIVE};
}

KdfParams KdfParams::Minimum() {
  return {kMinKdfOpslimit, kMinKdfMemlimit};
}

Status ValidateKdfParams(const KdfParams& params) {
  if (params.opslimit < kMinKdfOpslimit || params.opslimit > kMaxKdfOpslimit) {
    return Status::InvalidArgument("kdf.opslimit: " + std::to_string(params.opslimit) +
                                   " outside [" + std::to_string(kMinKdfOpslimit) + ", " +
                                   std::to_string(kMaxKdfOpslimit) + "]");
  }
  if (params.memlimit < kMinKdfMemlimit || params.memlimit > kMaxKdfMemlimit) {
    return Status::InvalidArgument("kdf.memlimit: " + std::to_string(params.memlimit) +
                                   " bytes outside [" + std::to_string(kMinKdfMemlimit) + ", " +
                                   std::to_string(kMaxKdfMemlimit) + "]");
  }
  return Status::Ok();
}

// ---- KeyMaterial ----

KeyMaterial KeyMaterial::Generate(std::string label, std::string participant_id) {
  return KeyMaterial{
      SigningKey::Generate(), BoxKey::Generate(), {}, std::move(label), std::move(participant_id)};
}

Status KeyMaterial::RotateEncryptionKey() {
  if (previous_encryption.size() >= kMaxPreviousEncryptionKeys) {
    return Status::FailedPrecondition(
        "key rotation: already " + std::to_string(previous_encryption.size()) +
        " previous encryption keys (limit " + std::to_string(kMaxPreviousEncryptionKeys) + ")");
  }
  previous_encryption.push_back(std::move(encryption));
  encryption = BoxKey::Generate();
  return Status::Ok();
}

Result<Bytes> KeyMaterial::OpenSealed(ByteView sealed) const {
  auto r = encryption.OpenSealed(sealed);
  if (r.ok() || r.status().code() != Code::kUnauthenticated) return r;
  for (auto it = previous_encryption.rbegin(); it != previous_encryption.rend(); ++it) {
    auto old = it->OpenSealed(sealed);
    if (old.ok()) return old;
  }
  return Status::Unauthenticated(
      "sealed box does not open with the current or any previous encryption key");
}

PublicIdentity KeyMaterial::Identity() const {
  PublicIdentity id;
  id.version = kKeyFileVersion;
  id.label = label;
  id.participant_id = participant_id;
  id.signing_public_key = signing.public_key();
  id.encryption_public_key = encryption.public_key();
  return id;
}

// ---- Encrypt / decrypt ----

struct KdfCache::State {
  std::mutex mu;
  bool valid = false;
  std::string passphrase;
  KdfParams params;
  Bytes salt;
  std::array<uint8_t, kAeadKeySize> key{};

  void Wipe() {
    if (!passphrase.empty()) sodium_memzero(passphrase.data(), passphrase.size());
    passphrase.clear();
    sodium_memzero(key.data(), key.size());
    valid = false;
  }
};

KdfCache::KdfCache() : m_state(std::make_unique<State>()) {}

KdfCache::~KdfCache() {
  std::lock_guard lock(m_state->mu);
  m_state->Wipe();
}

Result<std::string> EncryptKeyFile(const KeyMaterial& keys, std::string_view passphrase,
                                   const KdfParams& params) {
  return EncryptKeyFile(keys, passphrase, params, nullptr);
}

Result<std::string> EncryptKeyFile(const KeyMaterial& keys, std::string_view passphrase,
                                   const KdfParams& params, KdfCache* cache) {
  MC_RETURN_IF_ERROR(CheckPassphrase(passphrase));
  MC_RETURN_IF_ERROR(ValidateKdfParams(params));
  MC_RETURN_IF_ERROR(CheckText("label", keys.label, kMaxKeyLabelSize));
  MC_RETURN_IF_ERROR(CheckText("participant_id", keys.participant_id, kMaxParticipantIdSize));
  if (keys.previous_encryption.size() > kMaxPreviousEncryptionKeys) {
    return Status::InvalidArgument("key file: " + std::to_string(keys.previous_encryption.size()) +
                                   " previous encryption keys exceeds limit " +
                                   std::to_string(kMaxPreviousEncryptionKeys));
  }
  Init();
  PublicIdentity id = keys.Identity();
  id.kdf = params;

  Bytes salt(kSaltSize);
  randombytes_buf(salt.data(), salt.size());
  AeadNonce nonce = RandomNonce();  // always fresh, cache or not

  // The payload holds secrets: reserve its exact size so the encoder never
  // reallocates (which would leave an unwiped copy on the heap).
  const size_t payload_size = 1 + 32 + 32 + 10 + 32 * keys.previous_encryption.size();
  Encoder enc(payload_size);
  enc.U8(kPayloadLayout).Fixed(keys.signing.seed()).Fixed(keys.encryption.secret());
  enc.Varint(keys.previous_encryption.size());
  for (const BoxKey& old : keys.previous_encryption) enc.Fixed(old.secret());
  Bytes payload = enc.Take();
  Wipe wipe_payload(payload);

  std::array<uint8_t, kAeadKeySize> file_key{};
  Wipe wipe_key(file_key.data(), file_key.size());
  if (cache) {
    KdfCache::State& c = *cache->m_state;
    std::lock_guard lock(c.mu);
    const bool same = c.valid && c.params == params && c.passphrase.size() == passphrase.size() &&
                      sodium_memcmp(c.passphrase.data(), passphrase.data(), passphrase.size()) == 0;
    if (!same) {
      c.Wipe();
      MC_RETURN_IF_ERROR(DeriveKey(passphrase, salt, params, c.key));
      c.passphrase.assign(passphrase);
      c.params = params;
      c.salt = salt;
      c.valid = true;
    }
    salt = c.salt;
    file_key = c.key;
  } else {
    MC_RETURN_IF_ERROR(DeriveKey(passphrase, salt, params, file_key));
  }
  MC_ASSIGN_OR_RETURN(AeadKey aead_key, AeadKey::FromBytes(file_key));
  MC_ASSIGN_OR_RETURN(Bytes ct, Encrypt(aead_key, nonce, AssociatedData(id, salt), payload));

  nlohmann::ordered_json j;
  j["format"] = kKeyFileFormat;
  j["version"] = kKeyFileVersion;
  if (!id.label.empty()) j["label"] = id.label;
  if (!id.participant_id.empty()) j["participant_id"] = id.participant_id;
  j["signing_public_key"] = ToHex(id.signing_public_key);
  j["encryption_public_key"] = ToHex(id.encryption_public_key);
  j["kdf"] = {{"algorithm", kKdfAlgorithm},
              {"opslimit", params.opslimit},
              {"memlimit", params.memlimit},
              {"salt", ToHex(salt)}};
  j["cipher"] = {{"algorithm", kCipherAlgorithm}, {"nonce", ToHex(nonce)}};
  j["ciphertext"] = ToBase64(ct);
  std::string text = j.dump(2);
  text += '\n';
  if (text.size() > kMaxKeyFileSize) {
    return Status::Internal("key file: encoded size exceeds limit");
  }
  return text;
}

Result<PublicIdentity> ParsePublicIdentity(std::string_view text) {
  MC_ASSIGN_OR_RETURN(ParsedFile f, ParseFile(text));
  return std::move(f.id);
}

Result<KeyMaterial> DecryptKeyFile(std::string_view text, std::string_view passphrase) {
  MC_RETURN_IF_ERROR(CheckPassphrase(passphrase));
  MC_ASSIGN_OR_RETURN(ParsedFile f, ParseFile(text));

  std::array<uint8_t, kAeadKeySize> file_key{};
  Wipe wipe_key(file_key.data(), file_key.size());
  MC_RETURN_IF_ERROR(DeriveKey(passphrase, f.salt, f.id.kdf, file_key));
  MC_ASSIGN_OR_RETURN(AeadKey aead_key, AeadKey::FromBytes(file_key));
  auto opened = Decrypt(aead_key, f.nonce, AssociatedData(f.id, f.salt), f.ciphertext);
  if (!opened.ok()) {
    if (opened.status().code() == Code::kUnauthenticated) {
      return Status::Unauthenticated(std::string(kWrongPassphrase));
    }
    return opened.status().Prefixed("key file");
  }
  Bytes payload = std::move(opened).value();
  Wipe wipe_payload(payload);

  Decoder d(payload, "key file payload");
  uint8_t layout = d.U8("layout");
  if (d.ok() && layout != kPayloadLayout) d.Fail("layout", "unknown " + std::to_string(layout));
  ByteView seed = d.FixedView("signing_seed", kEd25519SeedSize);
  ByteView secret = d.FixedView("encryption_secret", kBoxSecretKeySize);
  uint64_t n_prev = d.Count("previous_count", kMaxPreviousEncryptionKeys);
  std::vector<ByteView> prev;
  for (uint64_t i = 0; i < n_prev && d.ok(); ++i) {
    prev.push_back(d.FixedView("previous_secret", kBoxSecretKeySize));
  }
  if (Status s = d.Finish(); !s.ok()) {
    return Status::Corruption(s.message());
  }
  MC_ASSIGN_OR_RETURN(SigningKey signing, SigningKey::FromSeed(seed));
  MC_ASSIGN_OR_RETURN(BoxKey encryption, BoxKey::FromSecret(secret));
  if (signing.public_key() != f.id.signing_public_key) {
    return Status::Corruption("key file: the signing key does not match signing_public_key");
  }
  if (encryption.public_key() != f.id.encryption_public_key) {
    return Status::Corruption("key file: the encryption key does not match encryption_public_key");
  }
  KeyMaterial keys{std::move(signing),
                   std::move(encryption),
                   {},
                   std::move(f.id.label),
                   std::move(f.id.participant_id)};
  keys.previous_encryption.reserve(prev.size());
  for (ByteView p : prev) {
    MC_ASSIGN_OR_RETURN(BoxKey old, BoxKey::FromSecret(p));
    keys.previous_encryption.push_back(std::move(old));
  }
  return keys;
}

// ---- Files ----

namespace {

std::string ErrnoText(int err) {
  return std::strerror(err);
}

std::string DirName(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

Status WriteAll(int fd, std::string_view text, const std::string& what) {
  size_t done = 0;
  while (done < text.size()) {
    ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::IOError("write " + what + ": " + ErrnoText(errno));
    }
    done += static_cast<size_t>(n);
  }
  return Status::Ok();
}

Result<std::string> ReadBounded(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    if (err == ENOENT) return Status::NotFound("key file " + path + " does not exist");
    return Status::IOError("open " + path + ": " + ErrnoText(err));
  }
  std::string text;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::close(fd);
      return Status::IOError("read " + path + ": " + ErrnoText(err));
    }
    if (n == 0) break;
    text.append(buf, static_cast<size_t>(n));
    if (text.size() > kMaxKeyFileSize) {
      ::close(fd);
      return Status::InvalidArgument("key file " + path + " is larger than " +
                                     std::to_string(kMaxKeyFileSize) + " bytes");
    }
  }
  ::close(fd);
  return text;
}

}  // namespace

Status WriteKeyFileText(const std::string& path, std::string_view text, Overwrite overwrite) {
  if (path.empty()) return Status::InvalidArgument("key file path is empty");
  std::string tmp = path + ".tmp-XXXXXX";
  // mkstemp creates the file with mode 0600 and O_EXCL.
  int fd = ::mkstemp(tmp.data());
  if (fd < 0) return Status::IOError("create temporary file for " + path + ": " + ErrnoText(errno));
  auto fail = [&](Status s) {
    if (fd >= 0) ::close(fd);
    ::unlink(tmp.c_str());
    return s;
  };
  if (::fchmod(fd, S_IRUSR | S_IWUSR) != 0) {
    return fail(Status::IOError("chmod " + tmp + ": " + ErrnoText(errno)));
  }
  if (Status s = WriteAll(fd, text, tmp); !s.ok()) return fail(s);
  if (::fsync(fd) != 0) return fail(Status::IOError("fsync " + tmp + ": " + ErrnoText(errno)));
  if (::close(fd) != 0) {
    fd = -1;
    return fail(Status::IOError("close " + tmp + ": " + ErrnoText(errno)));
  }
  fd = -1;
  if (overwrite == Overwrite::kYes) {
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
      return fail(Status::IOError("rename " + tmp + " to " + path + ": " + ErrnoText(errno)));
    }
  } else {
    // Atomic "create if absent": renameat2(RENAME_NOREPLACE) where the file
    // system supports it, else a hard link (which also fails on EEXIST).
    int rc = ::renameat2(AT_FDCWD, tmp.c_str(), AT_FDCWD, path.c_str(), RENAME_NOREPLACE);
    if (rc != 0 && (errno == EINVAL || errno == ENOSYS)) {
      rc = ::link(tmp.c_str(), path.c_str());
      if (rc == 0) ::unlink(tmp.c_str());
    }
    if (rc != 0) {
      int err = errno;
      if (err == EEXIST) {
        return fail(Status::AlreadyExists("key file " + path + " already exists"));
      }
      return fail(Status::IOError("rename " + tmp + " to " + path + ": " + ErrnoText(err)));
    }
  }
  // Make the rename itself durable.
  std::string dir = DirName(path);
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return Status::IOError("open directory " + dir + ": " + ErrnoText(errno));
  int rc = ::fsync(dfd);
  int err = errno;
  ::close(dfd);
  if (rc != 0) return Status::IOError("fsync directory " + dir + ": " + ErrnoText(err));
  return Status::Ok();
}

Status WriteKeyFile(const std::string& path, const KeyMaterial& keys, std::string_view passphrase,
                    const KdfParams& params, Overwrite overwrite) {
  MC_ASSIGN_OR_RETURN(std::string text, EncryptKeyFile(keys, passphrase, params));
  return WriteKeyFileText(path, text, overwrite);
}

Result<KeyMaterial> ReadKeyFile(const std::string& path, std::string_view passphrase) {
  MC_ASSIGN_OR_RETURN(std::string text, ReadBounded(path));
  auto keys = DecryptKeyFile(text, passphrase);
  if (!keys.ok()) return keys.status().Prefixed(path);
  return keys;
}

Result<PublicIdentity> ReadPublicIdentity(const std::string& path) {
  MC_ASSIGN_OR_RETURN(std::string text, ReadBounded(path));
  auto id = ParsePublicIdentity(text);
  if (!id.ok()) return id.status().Prefixed(path);
  return id;
}

}  // namespace medchain::crypto
