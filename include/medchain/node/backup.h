// Copyright (c) medchain developers.
// Online backup and restore of a node (docs/operations.md, "Backup and
// restore").
//
// A backup is a folder:
//   backup.json     the manifest (written last: a folder without it is not a
//                   backup): node, chain, tip, Raft index, every file's size
//                   and SHA-256
//   ledger/         a consistent copy of the node's store (Store::WriteCopy)
//   genesis.json    the network's genesis (public)
//   medchaind.toml  the node's config as a restored node uses it: data_dir
//                   ".", genesis "genesis.json", key files by absolute path.
//                   Never a passphrase or the FHIR bearer token.
// Not in it: the key files and their passphrase (kept as keys are kept), the
// Raft log (a restored Raft node starts with an empty one and catches up
// from its peers), membership.json (rebuilt from the ledger).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "medchain/core/bytes.h"
#include "medchain/core/status.h"
#include "medchain/node/config.h"
#include "medchain/store/store.h"

namespace medchain::node {

struct BackupFile {
  std::string path;  // relative to the backup folder, '/'-separated
  uint64_t size = 0;
  Hash sha256{};
};

struct BackupManifest {
  static constexpr uint32_t kFormat = 1;
  uint32_t format = kFormat;
  std::string node_id;
  std::string origin;  // the chain's checkpoint origin
  uint64_t height = 0;
  Hash tip_hash{};
  uint64_t log_size = 0;
  Hash log_root{};
  uint64_t applied_index = 0;  // Raft index of the tip block (0: none)
  bool raft = false;           // the node orders through Raft
  uint64_t created_ms = 0;
  std::vector<BackupFile> files;

  uint64_t TotalBytes() const;
  std::string ToJson() const;
  static Result<BackupManifest> FromJson(std::string_view text);
};

// Work done so far, for progress lines.
struct BackupProgress {
  std::string stage;  // "hashing", "copying", "verifying"
  uint64_t files_done = 0, files_total = 0;
  uint64_t bytes_done = 0, bytes_total = 0;
};
using BackupProgressFn = std::function<void(const BackupProgress&)>;

// Writes a backup of `store` into `dir`, which must not exist (its parent is
// created). `config` is the node's (its passphrase is never written);
// `origin` the chain's checkpoint origin. Commits may go on meanwhile. On
// failure nothing is left at `dir`.
Result<BackupManifest> WriteBackup(const store::Store& store, const NodeConfig& config,
                                   const std::string& origin, const std::string& dir,
                                   const BackupProgressFn& progress = {});

// Checks a backup (or a folder restored from one) against its manifest:
// every file's size and SHA-256, then the chain as `medchain verify` does
// (blocks, links, Merkle roots, signatures, signed checkpoints), and that the
// ledger's tip is the manifest's.
Result<BackupManifest> CheckBackup(const std::string& dir, const BackupProgressFn& progress = {});

struct RestoreOptions {
  std::string from;      // a backup folder
  std::string data_dir;  // the new node folder: absent or empty
  // Optional changes to the restored medchaind.toml.
  std::string listen;           // api.listen (and api.public_url unless given)
  std::string public_url;       // api.public_url
  std::string passphrase_file;  // node.passphrase_file (absolute path written)
};

// Makes a node folder from a backup: copies the files (never hard links:
// the backup stays as it was), checks the copy (CheckBackup), and writes
// backup.json into it too. Refuses a non-empty data_dir; on failure removes
// what it made.
Result<BackupManifest> RestoreBackup(const RestoreOptions& options,
                                     const BackupProgressFn& progress = {});

// Copies backup `from` into a new folder `to` (e.g. off the node's disk)
// and checks the copy (CheckBackup). On failure nothing is left at `to`.
Result<BackupManifest> CopyBackup(const std::string& from, const std::string& to,
                                  const BackupProgressFn& progress = {});

// What a client signs to ask a node for a backup: POST /v1/admin/backup with
// X-Medchain-Signer (participant id), X-Medchain-Time (ms since the epoch)
// and X-Medchain-Signature (hex Ed25519 signature of this message).
Bytes BackupRequestMessage(std::string_view origin, std::string_view signer, uint64_t time_ms);

// The node's side of POST /v1/admin/backup: who may ask, one backup at a
// time, the folder (config.backup_dir). Thread-safe.
class BackupService {
 public:
  // REQUIRES: `store` outlives the service.
  BackupService(NodeConfig config, const store::Store& store, std::string origin);

  // Checks the signature (a registered admin, or this node's own key; within
  // five minutes of the node's clock; never the same signature twice), then
  // writes BACKUP_DIR/backup-<height>-<time> and returns the manifest with
  // its path as JSON text ({"path": ..., "manifest": {...}}).
  // Unauthenticated / PermissionDenied: nothing was written.
  Result<std::string> Handle(std::string_view signer, std::string_view time_ms,
                             std::string_view signature_hex);

 private:
  Status Authenticate(std::string_view signer, std::string_view time_ms,
                      std::string_view signature_hex);

  const NodeConfig m_config;
  const store::Store& m_store;
  const std::string m_origin;
  std::mutex m_run_mu;  // one backup at a time
  std::mutex m_seen_mu;
  std::vector<std::pair<uint64_t, std::string>> m_seen;  // (time, signature), guarded
};

}  // namespace medchain::node
