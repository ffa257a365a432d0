// Copyright (c) medchain developers.
#include "medchain/node/backup.h"

#include <sys/stat.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <spdlog/spdlog.h>

#include "medchain/api/json.h"
#include "medchain/core/codec.h"
#include "medchain/core/sha256.h"
#include "medchain/crypto/ed25519.h"
#include "medchain/ledger/state.h"
#include "medchain/store/chain.h"
#include "medchain/store/checkpoint.h"

namespace medchain::node {

namespace fs = std::filesystem;
using api::Json;

namespace {

constexpr uint64_t kWindowMs = 300000;  // signed requests: +-5 minutes
constexpr const char* kManifestName = "backup.json";

uint64_t NowMs() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

Status WriteFile(const fs::path& p, std::string_view text) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  if (!out) return Status::IOError("cannot write " + p.string());
  out.write(text.data(), static_cast<std::streamsize>(text.size()));
  out.close();
  if (!out) return Status::IOError("cannot write " + p.string());
  ::chmod(p.c_str(), 0600);
  return Status::Ok();
}

Result<std::string> ReadFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) return Status::NotFound("cannot read " + p.string());
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// SHA-256 of a file, read in 1 MiB pieces; `done` grows by what was read.
Result<Hash> HashFile(const fs::path& p, uint64_t& done, const std::function<void()>& tick) {
  std::ifstream in(p, std::ios::binary);
  if (!in) return Status::NotFound("cannot read " + p.string());
  Sha256 h;
  std::vector<char> buf(1 << 20);
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    const auto n = static_cast<size_t>(in.gcount());
    if (n == 0) break;
    h.Update(ByteView(reinterpret_cast<const uint8_t*>(buf.data()), n));
    done += n;
    if (tick) tick();
  }
  if (in.bad()) return Status::IOError("reading " + p.string() + " failed");
  return h.Finish();
}

// Every regular file below `root`, relative, sorted.
std::vector<std::string> ListFiles(const fs::path& root) {
  std::vector<std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(root)) {
    if (e.is_regular_file()) out.push_back(fs::relative(e.path(), root).generic_string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

// Calls `progress` at most every 0.5 s, and always when `force`.
class Throttle {
 public:
  explicit Throttle(const BackupProgressFn& fn) : m_fn(fn) {}
  void operator()(const BackupProgress& p, bool force = false) {
    if (!m_fn) return;
    auto now = std::chrono::steady_clock::now();
    if (!force && now - m_last < std::chrono::milliseconds(500)) return;
    m_last = now;
    m_fn(p);
  }

 private:
  const BackupProgressFn& m_fn;
  std::chrono::steady_clock::time_point m_last{};
};

// Sizes and hashes of every file below `root` except the manifest.
Result<std::vector<BackupFile>> HashTree(const fs::path& root, const BackupProgressFn& progress) {
  std::vector<BackupFile> files;
  BackupProgress p;
  p.stage = "hashing";
  std::vector<std::string> names = ListFiles(root);
  names.erase(std::remove(names.begin(), names.end(), kManifestName), names.end());
  for (const auto& n : names) p.bytes_total += fs::file_size(root / n);
  p.files_total = names.size();
  Throttle tick(progress);
  for (const auto& n : names) {
    BackupFile f;
    f.path = n;
    f.size = fs::file_size(root / n);
    MC_ASSIGN_OR_RETURN(f.sha256, HashFile(root / n, p.bytes_done, [&] { tick(p); }));
    files.push_back(std::move(f));
    p.files_done++;
    tick(p);
  }
  tick(p, true);
  return files;
}

// The node's config as a restored node uses it: everything in the node
// folder except the key files, which stay where they are (absolute paths).
// FormatConfig never writes a passphrase; the FHIR bearer token is dropped too.
std::string RestoredConfig(NodeConfig c) {
  auto absolute = [](const std::string& p) {
    return p.empty() ? p : fs::absolute(p).lexically_normal().string();
  };
  c.data_dir = ".";
  c.genesis_file = "genesis.json";
  c.key_file = absolute(c.key_file);
  c.fhir_key_file = absolute(c.fhir_key_file);
  const bool had_token = !c.fhir_token.empty();
  c.fhir_token.clear();
  std::string text = FormatConfig(c, "");
  if (had_token) {
    text +=
        "# fhir.token was set on the node; it is a secret and is not in backups: set it "
        "again\n";
  }
  return text;
}

Status VerifyLedger(const std::string& path, const BackupManifest& m,
                    const BackupProgressFn& progress) {
  store::StoreOptions so;
  so.path = path;
  so.read_only = true;
  MC_ASSIGN_OR_RETURN(auto st, store::Store::Open(so));
  const store::Tip tip = st->GetTip();
  if (tip.height != m.height || tip.hash != m.tip_hash || tip.log_root != m.log_root) {
    return Status::Corruption("the ledger's tip (height " + std::to_string(tip.height) +
                              ") is not the manifest's (height " + std::to_string(m.height) + ")");
  }
  store::VerifyOptions vo;
  BackupProgress p;
  p.stage = "verifying";
  Throttle tick(progress);
  vo.progress = [&](uint64_t h, uint64_t top) {
    p.files_done = h;
    p.files_total = top;
    tick(p);
  };
  vo.check_checkpoint = [&m](const std::string& note, const store::Tip& t,
                             const std::vector<std::pair<std::string, ledger::PublicKey>>& nodes) {
    return store::CheckCheckpoint(note, m.origin, t, nodes);
  };
  MC_ASSIGN_OR_RETURN(auto report, store::VerifyChain(*st, vo));
  if (!report.ok) {
    return Status::Corruption("FAULT at height " + std::to_string(report.fault_height) + ": " +
                              report.fault);
  }
  if (report.final_root != m.log_root) {
    return Status::Corruption("the verified chain ends at a root that is not the manifest's");
  }
  return Status::Ok();
}

// TOML basic string.
std::string TomlString(std::string_view v) {
  std::string out = "\"";
  for (char ch : v) {
    if (ch == '"' || ch == '\\') out += '\\';
    out += ch;
  }
  return out + "\"";
}

// Sets `key` of [section] in a config written by FormatConfig (one key per
// line): replaces its line, or adds one after the section's header.
void SetConfigLine(std::string& text, std::string_view section, std::string_view key,
                   std::string_view value) {
  const std::string line = std::string(key) + " = " + TomlString(value);
  const std::string header = "[" + std::string(section) + "]\n";
  size_t start = text.rfind(header, 0) == 0 ? 0 : text.find("\n" + header);
  if (start == std::string::npos) {
    text += "\n" + header + line + "\n";
    return;
  }
  start = text.find('\n', start + (start == 0 ? 0 : 1)) + 1;  // the line after the header
  size_t end = text.find("\n[", start);
  if (end == std::string::npos) end = text.size();
  for (size_t pos = start; pos < end;) {
    size_t eol = text.find('\n', pos);
    if (eol == std::string::npos) eol = text.size();
    std::string_view l(text.data() + pos, eol - pos);
    if (l.starts_with(std::string(key) + " =") || l.starts_with(std::string(key) + "=")) {
      text.replace(pos, eol - pos, line);
      return;
    }
    pos = eol + 1;
  }
  text.insert(start, line + "\n");
}

// Runs f; a filesystem exception (a file vanished, a folder unreadable)
// becomes an IOError.
template <class F>
Result<BackupManifest> Guarded(F& f) {
  try {
    return f();
  } catch (const std::exception& e) {
    return Status::IOError(e.what());
  }
}

Result<BackupManifest> CheckBackupUnguarded(const fs::path& root,
                                            const BackupProgressFn& progress) {
  const std::string dir = root.string();
  auto text = ReadFile(root / kManifestName);
  if (!text.ok()) return Status::NotFound(dir + " is not a backup (no " + kManifestName + ")");
  MC_ASSIGN_OR_RETURN(auto m, BackupManifest::FromJson(*text));
  BackupProgress p;
  p.stage = "hashing";
  p.files_total = m.files.size();
  p.bytes_total = m.TotalBytes();
  Throttle tick(progress);
  for (const auto& f : m.files) {
    const fs::path path = root / f.path;
    std::error_code ec;
    const auto size = fs::file_size(path, ec);
    if (ec) return Status::Corruption(dir + ": " + f.path + " is missing");
    if (size != f.size) {
      return Status::Corruption(dir + ": " + f.path + " has " + std::to_string(size) +
                                " bytes, the manifest says " + std::to_string(f.size));
    }
    MC_ASSIGN_OR_RETURN(auto h, HashFile(path, p.bytes_done, [&] { tick(p); }));
    if (h != f.sha256) return Status::Corruption(dir + ": " + f.path + " is damaged (SHA-256)");
    p.files_done++;
    tick(p);
  }
  tick(p, true);
  MC_RETURN_IF_ERROR(VerifyLedger((root / "ledger").string(), m, progress).Prefixed(dir));
  return m;
}

// Copies the files of backup `from` (manifest `m`) into the existing empty
// folder `to`, then checks the copy.
Result<BackupManifest> CopyChecked(const fs::path& from, const fs::path& to,
                                   const BackupManifest& m, const BackupProgressFn& progress) {
  BackupProgress p;
  p.stage = "copying";
  p.files_total = m.files.size() + 1;
  std::error_code size_ec;
  p.bytes_total = m.TotalBytes() + fs::file_size(from / kManifestName, size_ec);
  Throttle tick(progress);
  std::vector<char> buf(1 << 20);
  auto copy = [&](const std::string& rel) -> Status {
    const fs::path src = from / rel, dst = to / rel;
    std::error_code e;
    fs::create_directories(dst.parent_path(), e);
    std::ifstream in(src, std::ios::binary);
    std::ofstream out(dst, std::ios::binary | std::ios::trunc);
    if (!in) return Status::NotFound("cannot read " + src.string());
    if (!out) return Status::IOError("cannot write " + dst.string());
    while (in) {
      in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
      const auto n = in.gcount();
      if (n <= 0) break;
      out.write(buf.data(), n);
      p.bytes_done += static_cast<uint64_t>(n);
      tick(p);
    }
    out.close();
    if (in.bad() || !out) return Status::IOError("copying " + src.string() + " failed");
    ::chmod(dst.c_str(), 0600);
    p.files_done++;
    tick(p);
    return Status::Ok();
  };
  for (const auto& f : m.files) MC_RETURN_IF_ERROR(copy(f.path));
  MC_RETURN_IF_ERROR(copy(kManifestName));
  tick(p, true);
  if (!fs::exists(to / "ledger" / "CURRENT")) {
    return Status::Corruption(from.string() + ": the backup has no ledger");
  }
  // The copy, not the backup, is what will be used: check it.
  return CheckBackupUnguarded(to, progress);
}

}  // namespace

uint64_t BackupManifest::TotalBytes() const {
  uint64_t n = 0;
  for (const auto& f : files) n += f.size;
  return n;
}

std::string BackupManifest::ToJson() const {
  Json files_json = Json::array();
  for (const auto& f : files) {
    files_json.push_back(Json{{"path", f.path}, {"size", f.size}, {"sha256", ToHex(f.sha256)}});
  }
  Json j = {{"format", format},
            {"node_id", node_id},
            {"origin", origin},
            {"height", height},
            {"tip_hash", ToHex(tip_hash)},
            {"log_size", log_size},
            {"log_root", ToHex(log_root)},
            {"applied_index", applied_index},
            {"raft", raft},
            {"created_ms", created_ms},
            {"files", files_json}};
  return j.dump(2) + "\n";
}

Result<BackupManifest> BackupManifest::FromJson(std::string_view text) {
  MC_ASSIGN_OR_RETURN(Json j, api::ParseJson(text, kManifestName));
  BackupManifest m;
  try {
    m.format = j.at("format").get<uint32_t>();
    if (m.format != kFormat) {
      return Status::InvalidArgument(std::string(kManifestName) + ": format " +
                                     std::to_string(m.format) + " is not known here");
    }
    m.node_id = j.at("node_id").get<std::string>();
    m.origin = j.at("origin").get<std::string>();
    m.height = j.at("height").get<uint64_t>();
    m.log_size = j.at("log_size").get<uint64_t>();
    m.applied_index = j.at("applied_index").get<uint64_t>();
    m.raft = j.at("raft").get<bool>();
    m.created_ms = j.at("created_ms").get<uint64_t>();
    auto hash = [&](const char* key) -> Result<Hash> {
      auto h = HashFromHex(j.at(key).get<std::string>());
      if (!h) return Status::InvalidArgument(std::string(kManifestName) + ": " + key);
      return *h;
    };
    MC_ASSIGN_OR_RETURN(m.tip_hash, hash("tip_hash"));
    MC_ASSIGN_OR_RETURN(m.log_root, hash("log_root"));
    for (const auto& f : j.at("files")) {
      BackupFile bf;
      bf.path = f.at("path").get<std::string>();
      const fs::path rel(bf.path);
      if (bf.path.empty() || rel.is_absolute() ||
          std::any_of(rel.begin(), rel.end(), [](const fs::path& c) { return c == ".."; })) {
        return Status::InvalidArgument(std::string(kManifestName) + ": bad file path " + bf.path);
      }
      bf.size = f.at("size").get<uint64_t>();
      auto h = HashFromHex(f.at("sha256").get<std::string>());
      if (!h) return Status::InvalidArgument(std::string(kManifestName) + ": " + bf.path);
      bf.sha256 = *h;
      m.files.push_back(std::move(bf));
    }
  } catch (const std::exception& e) {
    return Status::InvalidArgument(std::string(kManifestName) + ": " + e.what());
  }
  return m;
}

Result<BackupManifest> WriteBackup(const store::Store& store, const NodeConfig& config,
                                   const std::string& origin, const std::string& dir,
                                   const BackupProgressFn& progress) {
  const fs::path root(dir);
  std::error_code ec;
  if (fs::exists(root, ec)) return Status::AlreadyExists("backup folder " + dir + " exists");
  if (root.has_parent_path()) {
    fs::create_directories(root.parent_path(), ec);
    if (ec) return Status::IOError("cannot create " + root.parent_path().string());
  }
  fs::create_directory(root, ec);
  if (ec) return Status::IOError("cannot create " + dir + ": " + ec.message());
  fs::permissions(root, fs::perms::owner_all, fs::perm_options::replace, ec);
  auto body = [&]() -> Result<BackupManifest> {
    MC_RETURN_IF_ERROR(store.WriteCopy((root / "ledger").string()));
    BackupManifest m;
    {
      // What the copy holds (commits went on while it was made).
      store::StoreOptions so;
      so.path = (root / "ledger").string();
      so.read_only = true;
      MC_ASSIGN_OR_RETURN(auto copy, store::Store::Open(so));
      const store::Tip tip = copy->GetTip();
      m.height = tip.height;
      m.tip_hash = tip.hash;
      m.log_size = tip.log_size;
      m.log_root = tip.log_root;
      m.applied_index = copy->AppliedIndex();
      MC_ASSIGN_OR_RETURN(auto genesis_doc, copy->GetGenesis());
      if (!genesis_doc) return Status::FailedPrecondition("the store has no genesis yet");
    }
    m.node_id = config.node_id;
    m.origin = origin;
    m.raft = config.raft.enabled;
    m.created_ms = NowMs();
    MC_ASSIGN_OR_RETURN(auto genesis_text, ReadFile(config.genesis_file));
    MC_RETURN_IF_ERROR(WriteFile(root / "genesis.json", genesis_text));
    MC_RETURN_IF_ERROR(WriteFile(root / "medchaind.toml", RestoredConfig(config)));
    MC_ASSIGN_OR_RETURN(m.files, HashTree(root, progress));
    // Last: a folder with a manifest is a whole backup.
    MC_RETURN_IF_ERROR(WriteFile(root / "backup.json.tmp", m.ToJson()));
    fs::rename(root / "backup.json.tmp", root / kManifestName, ec);
    if (ec) return Status::IOError("cannot write the manifest: " + ec.message());
    return m;
  };
  auto made = Guarded(body);
  if (!made.ok()) fs::remove_all(root, ec);
  return made;
}

Result<BackupManifest> CheckBackup(const std::string& dir, const BackupProgressFn& progress) {
  const fs::path root(dir);
  auto body = [&]() -> Result<BackupManifest> { return CheckBackupUnguarded(root, progress); };
  return Guarded(body);
}

Result<BackupManifest> RestoreBackup(const RestoreOptions& o, const BackupProgressFn& progress) {
  const fs::path from(o.from), to(o.data_dir);
  auto text = ReadFile(from / kManifestName);
  if (!text.ok()) return Status::NotFound(o.from + " is not a backup (no " + kManifestName + ")");
  MC_ASSIGN_OR_RETURN(auto m, BackupManifest::FromJson(*text));
  std::error_code ec;
  if (fs::exists(to, ec)) {
    if (!fs::is_directory(to, ec)) return Status::AlreadyExists(o.data_dir + " is not a folder");
    if (!fs::is_empty(to, ec)) {
      return Status::AlreadyExists(o.data_dir + " is not empty: restore only into a new folder");
    }
  }
  const bool existed = fs::exists(to, ec);
  fs::create_directories(to, ec);
  if (ec) return Status::IOError("cannot create " + o.data_dir + ": " + ec.message());
  fs::permissions(to, fs::perms::owner_all, fs::perm_options::replace, ec);
  auto body = [&]() -> Result<BackupManifest> {
    MC_ASSIGN_OR_RETURN(auto checked, CopyChecked(from, to, m, progress));
    // From here on the folder is a node's, not a backup: its manifest says
    // where it came from.
    std::error_code e;
    fs::rename(to / kManifestName, to / "restored-from.json", e);
    if (e) return Status::IOError("cannot rename the manifest: " + e.message());
    if (!o.listen.empty() || !o.public_url.empty() || !o.passphrase_file.empty()) {
      const fs::path cfg = to / "medchaind.toml";
      MC_ASSIGN_OR_RETURN(std::string cfg_text, ReadFile(cfg));
      if (!o.listen.empty()) {
        SetConfigLine(cfg_text, "api", "listen", o.listen);
        if (o.public_url.empty())
          SetConfigLine(cfg_text, "api", "public_url", "http://" + o.listen);
      }
      if (!o.public_url.empty()) SetConfigLine(cfg_text, "api", "public_url", o.public_url);
      if (!o.passphrase_file.empty()) {
        SetConfigLine(cfg_text, "node", "passphrase_file",
                      fs::absolute(o.passphrase_file).lexically_normal().string());
      }
      MC_RETURN_IF_ERROR(WriteFile(cfg, cfg_text));
    }
    return checked;
  };
  auto done = Guarded(body);
  if (!done.ok()) {
    if (existed) {
      for (const auto& e : fs::directory_iterator(to, ec)) fs::remove_all(e.path(), ec);
    } else {
      fs::remove_all(to, ec);
    }
  }
  return done;
}

Result<BackupManifest> CopyBackup(const std::string& from, const std::string& to,
                                  const BackupProgressFn& progress) {
  auto text = ReadFile(fs::path(from) / kManifestName);
  if (!text.ok()) return Status::NotFound(from + " is not a backup (no " + kManifestName + ")");
  MC_ASSIGN_OR_RETURN(auto m, BackupManifest::FromJson(*text));
  std::error_code ec;
  if (fs::exists(to, ec)) return Status::AlreadyExists(to + " exists");
  fs::create_directories(to, ec);
  if (ec) return Status::IOError("cannot create " + to + ": " + ec.message());
  fs::permissions(to, fs::perms::owner_all, fs::perm_options::replace, ec);
  auto body = [&]() { return CopyChecked(from, to, m, progress); };
  auto done = Guarded(body);
  if (!done.ok()) fs::remove_all(to, ec);
  return done;
}

Bytes BackupRequestMessage(std::string_view origin, std::string_view signer, uint64_t time_ms) {
  Encoder e;
  e.Fixed(AsBytes("medchain/backup/v1\n")).Str(origin).Str(signer).U64(time_ms);
  return e.Take();
}

BackupService::BackupService(NodeConfig config, const store::Store& store, std::string origin)
    : m_config([&] {
        // The service never needs the passphrase: do not keep a second copy.
        NodeConfig c = std::move(config);
        c.passphrase.clear();
        return c;
      }()),
      m_store(store),
      m_origin(std::move(origin)) {}

Status BackupService::Authenticate(std::string_view signer, std::string_view time_text,
                                   std::string_view signature_hex) {
  auto sig = FromHex(signature_hex);
  if (signer.empty() || time_text.empty() || !sig) {
    return Status::Unauthenticated(
        "a backup request must be signed (X-Medchain-Signer, X-Medchain-Time, "
        "X-Medchain-Signature)");
  }
  uint64_t t = 0;
  auto [ptr, err] = std::from_chars(time_text.data(), time_text.data() + time_text.size(), t);
  if (err != std::errc() || ptr != time_text.data() + time_text.size()) {
    return Status::Unauthenticated("X-Medchain-Time must be milliseconds since the epoch");
  }
  const uint64_t now = NowMs();
  if (t + kWindowMs < now || t > now + kWindowMs) {
    return Status::Unauthenticated("stale request (X-Medchain-Time is over 5 minutes off)");
  }
  auto p = ledger::StateView(m_store.State()).GetParticipant(std::string(signer));
  if (!p.ok() || !*p) return Status::Unauthenticated("not a registered participant");
  if (!crypto::VerifyBytes((*p)->sign_key, BackupRequestMessage(m_origin, signer, t), *sig)) {
    return Status::Unauthenticated("bad signature");
  }
  const bool admin = (*p)->role == ledger::Role::kAdmin;
  const bool self = (*p)->role == ledger::Role::kNode && (*p)->id == m_config.node_id;
  if ((!admin && !self) || (*p)->suspended) {
    return Status::PermissionDenied("only an admin or this node's own key may ask for a backup");
  }
  std::lock_guard lock(m_seen_mu);
  std::erase_if(m_seen, [&](const auto& e) { return e.first + kWindowMs < now; });
  const std::string key(signature_hex);
  for (const auto& e : m_seen) {
    if (e.second == key) return Status::Unauthenticated("replayed request");
  }
  m_seen.emplace_back(t, key);
  return Status::Ok();
}

Result<std::string> BackupService::Handle(std::string_view signer, std::string_view time_ms,
                                          std::string_view signature_hex) {
  MC_RETURN_IF_ERROR(Authenticate(signer, time_ms, signature_hex));
  std::unique_lock run(m_run_mu, std::try_to_lock);
  if (!run.owns_lock()) return Status::Unavailable("a backup is already in progress");
  const store::Tip tip = m_store.GetTip();
  const uint64_t now = NowMs();
  const std::string dir = (fs::path(m_config.backup_dir) /
                           ("backup-" + std::to_string(tip.height) + "-" + std::to_string(now)))
                              .string();
  spdlog::info("backup: {} asked for a backup; writing {} (tip at height {})", signer, dir,
               tip.height);
  const auto start = std::chrono::steady_clock::now();
  auto m = WriteBackup(m_store, m_config, m_origin, dir, [](const BackupProgress& p) {
    spdlog::info("backup: {} {}/{} files, {:.1f}/{:.1f} MB", p.stage, p.files_done, p.files_total,
                 static_cast<double>(p.bytes_done) / 1e6, static_cast<double>(p.bytes_total) / 1e6);
  });
  if (!m.ok()) {
    spdlog::error("backup: failed: {}", m.status().ToString());
    return m.status();
  }
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  spdlog::info("backup: done: {} at height {}, {} files, {:.1f} MB in {:.2f} s", dir, m->height,
               m->files.size(), static_cast<double>(m->TotalBytes()) / 1e6, secs);
  Json j = {{"path", fs::absolute(dir).string()},
            {"seconds", secs},
            {"manifest", Json::parse(m->ToJson())}};
  return j.dump();
}

}  // namespace medchain::node
