// Copyright (c) medchain developers.
// medchain backup / restore (docs/operations.md, "Backup and restore").
//   backup --node URL --key FILE [--out DIR]   a running node writes a backup
//                                              into its backup.dir (signed ask)
//   backup --data-dir DIR --out OUT            a stopped node's folder
//   restore --from DIR --data-dir NEW          a node folder from a backup
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>

#include <httplib.h>

#include "cli/client.h"
#include "cli/command.h"
#include "medchain/api/json.h"
#include "medchain/node/backup.h"
#include "medchain/store/chain.h"
#include "medchain/store/checkpoint.h"

namespace medchain::cli {
namespace {

namespace fs = std::filesystem;

// Progress on stderr: a line rewritten in place on a terminal, one line per
// update (at most every 0.5 s) otherwise.
node::BackupProgressFn ProgressPrinter() {
  const bool tty = isatty(STDERR_FILENO);
  return [tty](const node::BackupProgress& p) {
    if (p.stage == "verifying") {
      std::fprintf(stderr, "%sverifying block %llu of %llu%s", tty ? "\r\033[K" : "",
                   static_cast<unsigned long long>(p.files_done),
                   static_cast<unsigned long long>(p.files_total), tty ? "" : "\n");
    } else {
      const double pct = p.bytes_total ? 100.0 * static_cast<double>(p.bytes_done) /
                                             static_cast<double>(p.bytes_total)
                                       : 100.0;
      std::fprintf(stderr, "%s%s: %llu/%llu files, %.1f/%.1f MB (%.0f%%)%s", tty ? "\r\033[K" : "",
                   p.stage.c_str(), static_cast<unsigned long long>(p.files_done),
                   static_cast<unsigned long long>(p.files_total),
                   static_cast<double>(p.bytes_done) / 1e6,
                   static_cast<double>(p.bytes_total) / 1e6, pct, tty ? "" : "\n");
    }
    std::fflush(stderr);
  };
}

void EndProgress() {
  if (isatty(STDERR_FILENO)) std::fprintf(stderr, "\r\033[K");
}

void PrintSummary(const std::string& what, const std::string& path, const node::BackupManifest& m,
                  double secs) {
  std::cout << "ok: " << what << " " << path << ": node " << m.node_id << ", height " << m.height
            << " (tip " << ToHex(m.tip_hash).substr(0, 16) << "), " << m.files.size() << " files, "
            << m.TotalBytes() << " bytes, verified";
  if (m.raft) std::cout << "; Raft index " << m.applied_index;
  std::cout << "\n";
  std::fprintf(stderr, "%s took %.2f s\n", what.c_str(), secs);
}

double Since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

struct BackupArgs {
  std::string node;
  std::string key;
  std::string data_dir;
  std::string config;
  std::string out;
};

int BackupFromNode(const BackupArgs& a) {
  const auto start = std::chrono::steady_clock::now();
  if (a.key.empty()) return Fail("--key is required with --node", kExitUsage);
  auto key = LoadKey(a.key);
  if (!key.ok()) return Fail(key.status().ToString(), kExitUsage);
  NodeClient client(a.node);
  auto info = client.GetJson("/v1/node");
  if (!info.ok()) return Fail(info.status().ToString());
  std::string signer = key->participant_id;
  if (signer.empty()) {
    auto p = client.GetJson("/v1/participants?key=" + ToHex(key->signing.public_key()));
    if (!p.ok()) return Fail("the key " + a.key + " is no participant's: " + p.status().ToString());
    signer = p->value("id", "");
  }
  const std::string origin = info->value("origin", "");
  const uint64_t t = NowMs();
  auto sig = key->signing.Sign(node::BackupRequestMessage(origin, signer, t));
  httplib::Client http(a.node);
  http.set_read_timeout(3600, 0);  // a large store takes a while to hash
  httplib::Headers headers = {{"X-Medchain-Signer", signer},
                              {"X-Medchain-Time", std::to_string(t)},
                              {"X-Medchain-Signature", ToHex(sig)}};
  std::fprintf(stderr, "asking %s for a backup (as %s)...\n", a.node.c_str(), signer.c_str());
  auto res = http.Post("/v1/admin/backup", headers, "", "application/json");
  if (!res) return Fail("no answer from " + a.node + ": " + httplib::to_string(res.error()));
  auto body = api::ParseJson(res->body, "the node's answer");
  if (res->status != 200 || !body.ok()) {
    std::string msg = body.ok() ? body->value("message", res->body) : res->body;
    return Fail("the node refused (HTTP " + std::to_string(res->status) + "): " + msg);
  }
  const std::string path = body->value("path", "");
  std::fprintf(stderr, "the node wrote %s in %.2f s\n", path.c_str(), body->value("seconds", 0.0));
  if (a.out.empty()) {
    // Check it where the node put it, when this machine can read it.
    if (!fs::exists(fs::path(path) / "backup.json")) {
      std::cout << "ok: backup " << path << " (on the node's machine; check it there with "
                << "medchain backup --check " << path << ")\n";
      return kExitOk;
    }
    auto m = node::CheckBackup(path, ProgressPrinter());
    EndProgress();
    if (!m.ok()) return Fail(m.status().ToString());
    PrintSummary("backup", path, *m, Since(start));
    return kExitOk;
  }
  auto m = node::CopyBackup(path, a.out, ProgressPrinter());
  EndProgress();
  if (!m.ok()) return Fail("copying " + path + " to " + a.out + ": " + m.status().ToString());
  PrintSummary("backup", a.out, *m, Since(start));
  return kExitOk;
}

int BackupFromFolder(const BackupArgs& a) {
  const auto start = std::chrono::steady_clock::now();
  if (a.out.empty()) return Fail("--out is required with --data-dir", kExitUsage);
  std::string config_path = a.config;
  if (config_path.empty() && fs::exists(fs::path(a.data_dir) / "medchaind.toml")) {
    config_path = (fs::path(a.data_dir) / "medchaind.toml").string();
  }
  if (config_path.empty()) {
    return Fail("no medchaind.toml in " + a.data_dir + ": give the node's --config", kExitUsage);
  }
  auto check = node::CheckConfig(config_path);
  if (!check.ok()) return Fail(check.status().ToString(), kExitUsage);
  node::NodeConfig config = check->config;
  config.data_dir = a.data_dir;
  store::StoreOptions so;
  so.path = (fs::path(a.data_dir) / "ledger").string();
  if (!fs::exists(fs::path(so.path) / "CURRENT")) {
    return Fail("no medchain ledger in " + a.data_dir, kExitUsage);
  }
  // Opening it takes RocksDB's lock: a running node's folder is refused here.
  auto st = store::Store::Open(so);
  if (!st.ok()) {
    return Fail(st.status().message() + " (if the node is running, use --node URL --key FILE)");
  }
  auto genesis_doc = (*st)->GetGenesis();
  std::string origin;
  if (genesis_doc.ok() && *genesis_doc) {
    auto g = ledger::DecodeBody<ledger::Genesis>(**genesis_doc, "genesis");
    if (g.ok()) origin = store::CheckpointOrigin(*g, ledger::MakeGenesisBlock(*g).hash());
  }
  auto written = node::WriteBackup(**st, config, origin, a.out, ProgressPrinter());
  st->reset();
  EndProgress();
  if (!written.ok()) return Fail(written.status().ToString());
  auto m = node::CheckBackup(a.out, ProgressPrinter());
  EndProgress();
  if (!m.ok()) return Fail(m.status().ToString());
  PrintSummary("backup", a.out, *m, Since(start));
  return kExitOk;
}

struct RestoreArgs {
  node::RestoreOptions options;
};

CommandGroup g_backup("backup", [](CLI::App& app, ExitCode& rc) {
  auto args = std::make_shared<BackupArgs>();
  auto check = std::make_shared<std::string>();
  auto* cmd = app.add_subcommand(
      "backup",
      "Take a consistent copy of a node (running: --node URL --key FILE; stopped: --data-dir DIR "
      "--out OUT), or check one (--check DIR)");
  auto* node_opt = cmd->add_option("--node", args->node, "the running node's API URL");
  cmd->add_option("--key", args->key,
                  "key file of an admin or of the node itself, to sign the request");
  auto* dir_opt = cmd->add_option("--data-dir", args->data_dir, "a stopped node's data folder");
  cmd->add_option("--config", args->config,
                  "the stopped node's config (default: DATA_DIR/medchaind.toml)");
  cmd->add_option("--out", args->out,
                  "where the backup goes (a new folder); with --node, the node's backup is "
                  "copied there and checked");
  auto* check_opt = cmd->add_option("--check", *check, "check a backup folder and say ok");
  node_opt->excludes(dir_opt)->excludes(check_opt);
  dir_opt->excludes(check_opt);
  cmd->callback([args, check, &rc] {
    if (!check->empty()) {
      const auto start = std::chrono::steady_clock::now();
      auto m = node::CheckBackup(*check, ProgressPrinter());
      EndProgress();
      rc = m.ok() ? (PrintSummary("check", *check, *m, Since(start)), kExitOk)
                  : Fail(m.status().ToString());
    } else if (!args->node.empty()) {
      rc = BackupFromNode(*args);
    } else if (!args->data_dir.empty()) {
      rc = BackupFromFolder(*args);
    } else {
      rc = Fail("give --node URL --key FILE, --data-dir DIR --out OUT, or --check DIR", kExitUsage);
    }
  });
});

CommandGroup g_restore("restore", [](CLI::App& app, ExitCode& rc) {
  auto args = std::make_shared<RestoreArgs>();
  auto* cmd = app.add_subcommand(
      "restore", "Make a node folder from a backup (refuses a non-empty folder), checked");
  cmd->add_option("--from", args->options.from, "the backup folder")->required();
  cmd->add_option("--data-dir", args->options.data_dir, "the new node folder")->required();
  cmd->add_option("--listen", args->options.listen,
                  "api.listen of the restored node (default: the backed-up node's)");
  cmd->add_option("--public-url", args->options.public_url, "api.public_url of the restored node");
  cmd->add_option("--passphrase-file", args->options.passphrase_file,
                  "node.passphrase_file of the restored node (default: $MEDCHAIN_PASSPHRASE)");
  cmd->callback([args, &rc] {
    const auto start = std::chrono::steady_clock::now();
    auto m = node::RestoreBackup(args->options, ProgressPrinter());
    EndProgress();
    if (!m.ok()) {
      rc = Fail(m.status().ToString());
      return;
    }
    PrintSummary("restore", args->options.data_dir, *m, Since(start));
    std::cout << "start it with: medchaind --config "
              << (fs::path(args->options.data_dir) / "medchaind.toml").string() << "\n";
    if (m->raft) {
      std::cout << "it starts with an empty Raft log and catches up from its peers "
                   "(docs/operations.md)\n";
    }
    rc = kExitOk;
  });
});

}  // namespace
}  // namespace medchain::cli
