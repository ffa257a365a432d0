// Copyright (c) medchain developers.
// medchain verify --data-dir DIR: offline re-verification of a stored chain.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>

#include "cli/command.h"
#include "medchain/store/chain.h"
#include "medchain/store/checkpoint.h"

namespace medchain::cli {
namespace {

struct VerifyArgs {
  std::string data_dir;
  unsigned threads = 0;
  bool no_checkpoints = false;
};

// A node's data folder keeps its ledger in ledger/; a bare RocksDB folder works too.
std::string LedgerPath(const std::string& dir) {
  std::filesystem::path p(dir);
  if (std::filesystem::exists(p / "ledger" / "CURRENT")) return (p / "ledger").string();
  return dir;
}

int RunVerify(const VerifyArgs& args) {
  std::string path = LedgerPath(args.data_dir);
  if (!std::filesystem::exists(std::filesystem::path(path) / "CURRENT")) {
    return Fail("no medchain ledger in " + args.data_dir, kExitUsage);
  }
  store::StoreOptions opts;
  opts.path = path;
  opts.read_only = true;
  auto st = store::Store::Open(opts);
  if (!st.ok()) return Fail(st.status().message(), kExitUsage);
  store::Store& s = **st;

  store::VerifyOptions vo;
  vo.threads = args.threads;
  const bool tty = isatty(STDERR_FILENO);
  if (tty) {
    vo.progress = [](uint64_t h, uint64_t top) {
      std::fprintf(stderr, "\rverifying block %llu of %llu (%.0f%%)",
                   static_cast<unsigned long long>(h), static_cast<unsigned long long>(top),
                   top ? 100.0 * static_cast<double>(h) / static_cast<double>(top) : 100.0);
    };
  }
  std::string origin;
  if (!args.no_checkpoints) {
    auto genesis_doc = s.GetGenesis();
    if (genesis_doc.ok() && *genesis_doc) {
      auto g = ledger::DecodeBody<ledger::Genesis>(**genesis_doc, "genesis");
      if (g.ok()) origin = store::CheckpointOrigin(*g, ledger::MakeGenesisBlock(*g).hash());
    }
    vo.check_checkpoint = [&origin](
                              const std::string& note, const store::Tip& tip,
                              const std::vector<std::pair<std::string, ledger::PublicKey>>& nodes) {
      return store::CheckCheckpoint(note, origin, tip, nodes);
    };
  }
  auto start = std::chrono::steady_clock::now();
  auto r = store::VerifyChain(s, vo);
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (tty) std::fprintf(stderr, "\r\033[K");
  if (!r.ok()) return Fail(r.status().message(), kExitFail);
  if (!r->ok) {
    std::cout << "FAULT at height " << r->fault_height << ": " << r->fault << "\n";
    return kExitFail;
  }
  std::cout << "ok: " << r->blocks << " blocks, " << r->transactions << " transactions ("
            << r->invalid_transactions << " invalid or refused), " << r->checkpoints
            << " checkpoints checked, final root " << ToHex(r->final_root) << "\n";
  std::fprintf(stderr, "verified %.1f MB in %.2f s (%.0f blocks/s, %.1f MB/s)\n",
               static_cast<double>(r->bytes) / 1e6, secs, static_cast<double>(r->blocks) / secs,
               static_cast<double>(r->bytes) / 1e6 / secs);
  return kExitOk;
}

CommandGroup g_verify("verify", [](CLI::App& app, ExitCode& rc) {
  auto args = std::make_shared<VerifyArgs>();
  auto* cmd = app.add_subcommand(
      "verify",
      "Re-check every block, link, Merkle root, signature and checkpoint of a stored chain");
  cmd->add_option("--data-dir", args->data_dir, "node data folder (or its ledger/ folder)")
      ->required();
  cmd->add_option("--threads", args->threads, "signature-checking threads (default: one per core)");
  cmd->add_flag("--no-checkpoints", args->no_checkpoints, "skip the signed checkpoints");
  cmd->callback([args, &rc] { rc = RunVerify(*args); });
});

}  // namespace
}  // namespace medchain::cli
