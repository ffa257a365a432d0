// Copyright (c) medchain developers.
// `medchain init`: create a new network (genesis, key files, one config per node).
//
//   medchain init --dir DIR [--consortium NAME] [--orgs a,b] [--nodes N]
//                 [--host H] [--base-port P] [--raft-base-port P] [--raft] [--fast-kdf]
//
// A thin front end over node::InitNetwork (include/medchain/node/config.h).
// The passphrase of every key file comes from $MEDCHAIN_PASSPHRASE or a
// prompt (asked twice). Prints what it wrote, each node's checkpoint verifier
// key (what `medchain proof --vkey` trusts) and how to start each node.
//
// Exit codes: 0 written; 1 refused (DIR already holds a network, a write
// failed); 2 malformed arguments or no passphrase.
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "cli/command.h"
#include "medchain/api/json.h"
#include "medchain/crypto/signed_note.h"
#include "medchain/node/config.h"

namespace medchain::cli {
namespace {

namespace fs = std::filesystem;

struct InitArgs {
  std::string dir;
  std::string consortium = "medchain dev consortium";
  std::vector<std::string> orgs = {"org-1"};
  unsigned nodes = 1;
  std::string host = "127.0.0.1";
  int base_port = 7070;
  int raft_base_port = 17070;
  bool raft = false;
  bool fast_kdf = false;
};

// The nodes of the genesis just written, with their verifier keys.
std::vector<std::pair<std::string, std::string>> NodeVerifierKeys(const fs::path& genesis_path) {
  std::vector<std::pair<std::string, std::string>> out;
  std::ifstream in(genesis_path);
  std::stringstream text;
  text << in.rdbuf();
  auto j = api::ParseJson(text.str(), genesis_path.string());
  if (!j.ok()) return out;
  auto g = api::GenesisFromJson(*j);
  if (!g.ok()) return out;
  for (const auto& p : g->participants) {
    if (p.role != ledger::Role::kNode) continue;
    auto vk = crypto::MakeNoteVerifierKey(p.id, p.sign_key);
    if (vk.ok()) out.emplace_back(p.id, crypto::FormatNoteVerifierKey(*vk));
  }
  return out;
}

int RunInit(const InitArgs& a) {
  if (a.nodes == 0 || a.nodes > 64) return Fail("--nodes must be between 1 and 64", kExitUsage);
  if (a.nodes > 1 && !a.raft) {
    // Without Raft each node would order blocks alone: N chains forked from one genesis.
    return Fail("--nodes " + std::to_string(a.nodes) + " needs --raft (nodes order through Raft)",
                kExitUsage);
  }
  if (a.base_port <= 0 || a.base_port + static_cast<int>(a.nodes) - 1 > 65535) {
    return Fail("--base-port: the API ports must lie in 1..65535", kExitUsage);
  }
  if (a.raft &&
      (a.raft_base_port <= 0 || a.raft_base_port + static_cast<int>(a.nodes) - 1 > 65535)) {
    return Fail("--raft-base-port: the Raft ports must lie in 1..65535", kExitUsage);
  }
  for (const auto& org : a.orgs) {
    if (!ledger::IsValidId(org)) {
      return Fail("--orgs: \"" + org +
                      "\" is not a valid id (1..128 of A-Z a-z 0-9 . _ : @ -, not starting "
                      "with . or -)",
                  kExitUsage);
    }
  }
  if (a.consortium.empty()) return Fail("--consortium must not be empty", kExitUsage);
  if (fs::exists(fs::path(a.dir) / "genesis.json")) {
    return Fail(a.dir + " already holds a network (genesis.json); choose another --dir", kExitFail);
  }
  node::InitOptions o;
  o.dir = a.dir;
  o.consortium = a.consortium;
  o.organisations = a.orgs;
  o.nodes = a.nodes;
  o.host = a.host;
  o.base_port = a.base_port;
  o.raft_base_port = a.raft_base_port;
  o.raft = a.raft;
  o.fast_kdf = a.fast_kdf;
  if (!ReadPassphrase("Passphrase for the new key files: ", /*confirm=*/true, o.passphrase)) {
    return Fail("no passphrase: set MEDCHAIN_PASSPHRASE or run on a terminal", kExitUsage);
  }
  Status s = node::InitNetwork(o);
  SecureZero(o.passphrase);
  if (!s.ok()) {
    return Fail(s.ToString(), s.code() == Code::kInvalidArgument ? kExitUsage : kExitFail);
  }

  fs::path dir(a.dir);
  std::cout << "created network \"" << a.consortium << "\" in " << a.dir << "\n"
            << "  " << (dir / "genesis.json").string() << "  genesis (admin, " << a.orgs.size()
            << " organisation" << (a.orgs.size() == 1 ? "" : "s") << ", " << a.nodes << " node"
            << (a.nodes == 1 ? "" : "s") << ")\n";
  std::vector<std::string> key_ids = {"admin"};
  key_ids.insert(key_ids.end(), a.orgs.begin(), a.orgs.end());
  for (unsigned k = 1; k <= a.nodes; ++k) key_ids.push_back("node-" + std::to_string(k));
  for (const auto& id : key_ids) {
    std::cout << "  " << (dir / "keys" / (id + ".key")).string() << "  key file of " << id << "\n";
  }
  std::cout << "  " << (dir / "passphrase").string()
            << "  the key files' passphrase (mode 0600), read by the nodes at start\n";
  for (unsigned k = 1; k <= a.nodes; ++k) {
    std::cout << "  " << (dir / ("node" + std::to_string(k)) / "medchaind.toml").string()
              << "  config of node-" << k << " (API " << a.host << ":"
              << a.base_port + static_cast<int>(k) - 1 << ")\n";
  }
  if (a.fast_kdf) {
    std::cout << "the key files use the minimum Argon2id cost: for tests and dev networks only\n";
  }
  auto vkeys = NodeVerifierKeys(dir / "genesis.json");
  if (!vkeys.empty()) {
    std::cout << "checkpoint verifier keys (medchain proof --vkey ...):\n";
    for (const auto& [id, vk] : vkeys) std::cout << "  " << id << "  " << vk << "\n";
  }
  std::cout << "start each node with:\n";
  for (unsigned k = 1; k <= a.nodes; ++k) {
    std::cout << "  medchaind --config "
              << (dir / ("node" + std::to_string(k)) / "medchaind.toml").string() << "\n";
  }
  if (a.raft && a.nodes > 1) {
    std::cout << "the nodes elect a Raft leader once a majority of them runs\n";
  }
  return kExitOk;
}

CommandGroup g_init("init", [](CLI::App& app, ExitCode& rc) {
  auto args = std::make_shared<InitArgs>();
  auto* cmd = app.add_subcommand(
      "init",
      "Create a new network: genesis.json, key files (passphrase from $MEDCHAIN_PASSPHRASE "
      "or a prompt) and one medchaind.toml per node");
  cmd->add_option("--dir", args->dir, "folder to create the network in")->required();
  cmd->add_option("--consortium", args->consortium, "consortium name")->capture_default_str();
  cmd->add_option("--orgs", args->orgs, "founding organisations' ids, comma-separated")
      ->delimiter(',')
      ->capture_default_str();
  cmd->add_option("--nodes", args->nodes, "number of nodes (node-1 .. node-N)")
      ->capture_default_str();
  cmd->add_option("--host", args->host, "address the nodes listen on")->capture_default_str();
  cmd->add_option("--base-port", args->base_port, "API port of node-1 (node-k: +k-1)")
      ->capture_default_str();
  cmd->add_option("--raft-base-port", args->raft_base_port, "Raft port of node-1 (node-k: +k-1)")
      ->capture_default_str();
  cmd->add_flag("--raft", args->raft, "order blocks through Raft (several nodes)");
  cmd->add_flag("--fast-kdf", args->fast_kdf,
                "minimum Argon2id cost for the key files (tests and dev networks only)");
  cmd->callback([args, &rc] { rc = RunInit(*args); });
});

}  // namespace
}  // namespace medchain::cli
