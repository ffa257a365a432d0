// Copyright (c) medchain developers.
// Cluster membership and cross-node audit (docs/cluster.md).
//
//   medchain cluster register --node URL --key ADMIN.key --id ID --subject-key NODE.key
//                             --org ORG --raft-id N --raft-address H:P --api-url URL
//   medchain cluster add      --node URL --key ADMIN.key --id ID [--role voter|standby|spare]
//   medchain cluster remove   --node URL --key ADMIN.key --id ID
//   medchain cluster list     --node URL [--json]
//   medchain audit-cluster    --nodes URL,URL,... [--json]
//
// Membership lives on the ledger: `add` and `remove` commit an admin-signed
// membership transaction, and the leader then changes the Raft configuration
// to match (a new leader finishes what its predecessor did not). Both wait
// until GET /v1/cluster shows the change (--timeout).
//
// audit-cluster trusts no node: it verifies every node's latest signed
// checkpoint with that node's key from the genesis (or, for nodes added
// later, the key every reachable node reports), checks a consistency proof
// between each pair of checkpoints against their signed roots, and reports a
// fork (two validly signed checkpoints of the same size with different roots,
// or of the same height naming different blocks) with both notes as evidence.
//
// Exit codes: 0 done / consistent; 1 refused, timed out, a fork, a bad
// signature or a bad proof; 2 malformed arguments or a node unreachable.
#include <algorithm>
#include <chrono>
#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <thread>

#include "cli/client.h"
#include "cli/command.h"
#include "medchain/api/json.h"
#include "medchain/core/merkle.h"
#include "medchain/crypto/init.h"
#include "medchain/crypto/signed_note.h"
#include "medchain/ledger/block.h"
#include "medchain/store/checkpoint.h"

namespace medchain::cli {
namespace {

struct ClusterArgs {
  std::string node = DefaultNodeUrl();
  std::string key;
  std::string id;
  std::string role = "voter";
  std::string subject_key;
  std::string org;
  std::string name;
  uint64_t raft_id = 0;
  std::string raft_address;
  std::string api_url;
  unsigned timeout_s = 120;
  bool json = false;
  std::string nodes;  // audit-cluster
};

std::optional<uint8_t> LedgerRole(const std::string& role) {
  if (role == "voter") return 0;
  if (role == "standby") return 1;
  if (role == "spare") return 2;
  return std::nullopt;
}

// What GET /v1/cluster shows for a member of each role.
bool RoleShown(const std::string& want, const std::string& shown) {
  if (want == "voter") return shown == "leader" || shown == "follower";
  return shown == want;
}

int SubmitAdminTx(const ClusterArgs& a, ledger::TxType type, Bytes body) {
  auto key = LoadKey(a.key);
  if (!key.ok()) return Fail(key.status().message(), kExitUsage);
  NodeClient node(a.node);
  auto tx = MakeTx(*key, type, std::move(body));
  auto out = node.Submit(*tx, nullptr, true);
  if (!out.ok()) {
    return Fail(out.status().message(), node.last_status() == 0 ? kExitUsage : kExitFail);
  }
  const Json& r = (*out)["result"];
  std::cerr << "transaction " << out->value("id", "") << " committed at height "
            << out->value("height", 0ULL) << "\n";
  if (r.value("code", "ok") != "ok") return Fail("refused: " + r.value("reason", ""));
  return kExitOk;
}

// Polls GET /v1/cluster until node `id` shows role `want` ("none": gone).
int WaitForRole(const ClusterArgs& a, const std::string& want) {
  NodeClient node(a.node, 5);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(a.timeout_s);
  std::string shown = "?";
  for (;;) {
    auto c = node.GetJson("/v1/cluster");
    if (c.ok()) {
      for (const auto& n : (*c)["nodes"]) {
        if (n.value("id", "") == a.id) shown = n.value("role", "none");
      }
      if (RoleShown(want, shown)) {
        std::cout << a.id << " is " << shown << "\n";
        return kExitOk;
      }
    }
    if (std::chrono::steady_clock::now() > deadline) {
      return Fail("the ledger has the change, but after " + std::to_string(a.timeout_s) + " s " +
                  a.id + " is still " + shown +
                  " in the Raft configuration (is the node running? the leader keeps trying)");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

int Register(const ClusterArgs& a) {
  auto subject = crypto::ReadPublicIdentity(a.subject_key);
  if (!subject.ok()) return Fail(subject.status().message(), kExitUsage);
  ledger::RegisterParticipant r;
  r.id = a.id;
  r.role = ledger::Role::kNode;
  r.organisation = a.org;
  r.sign_key = subject->signing_public_key;
  r.box_key = subject->encryption_public_key;
  r.display_name = a.name.empty() ? a.id : a.name;
  r.node = ledger::NodeInfo{a.raft_id, a.raft_address, a.api_url};
  auto checked =
      ledger::DecodeBody<ledger::RegisterParticipant>(ledger::EncodeBody(r), "registration");
  if (!checked.ok()) return Fail(checked.status().message(), kExitUsage);
  int rc = SubmitAdminTx(a, ledger::TxType::kRegisterParticipant, ledger::EncodeBody(r));
  if (rc == kExitOk) std::cout << "registered node " << a.id << " (Raft id " << a.raft_id << ")\n";
  return rc;
}

int Change(const ClusterArgs& a, ledger::MembershipOp op) {
  ledger::Membership m;
  m.op = op;
  m.node_id = a.id;
  if (op != ledger::MembershipOp::kRemove) {
    auto role = LedgerRole(a.role);
    if (!role) return Fail("--role must be voter, standby or spare", kExitUsage);
    m.raft_role = *role;
  }
  int rc = SubmitAdminTx(a, ledger::TxType::kMembership, ledger::EncodeBody(m));
  if (rc != kExitOk) return rc;
  return WaitForRole(a, op == ledger::MembershipOp::kRemove ? "none" : a.role);
}

int List(const ClusterArgs& a) {
  NodeClient node(a.node, 10);
  auto c = node.GetJson("/v1/cluster");
  if (!c.ok()) return Fail(c.status().message(), node.last_status() == 0 ? kExitUsage : kExitFail);
  if (a.json) {
    std::cout << c->dump(2) << "\n";
    return kExitOk;
  }
  auto str = [](const Json& j, const char* k) {
    if (!j.contains(k) || j[k].is_null()) return std::string("-");
    return j[k].is_string() ? j[k].get<std::string>() : j[k].dump();
  };
  std::cout << "leader: " << str(*c, "leader") << "\n";
  std::printf("%-16s %-9s %-8s %-6s %-8s %-8s %s\n", "ID", "ROLE", "RAFT ID", "TERM", "APPLIED",
              "HEIGHT", "URL");
  for (const auto& n : (*c)["nodes"]) {
    std::printf("%-16s %-9s %-8s %-6s %-8s %-8s %s%s\n", str(n, "id").c_str(),
                str(n, "role").c_str(), str(n, "raft_id").c_str(), str(n, "term").c_str(),
                str(n, "applied").c_str(), str(n, "height").c_str(), str(n, "url").c_str(),
                n.value("reachable", true) ? "" : "  (unreachable)");
  }
  return kExitOk;
}

// ---- audit-cluster ----

struct Seen {
  std::string url;
  std::string node_id;  // as the node says (checked against the signature)
  std::string note;
  crypto::Checkpoint checkpoint;
  uint64_t height = 0;
  Hash block{};
};

std::vector<std::string> SplitUrls(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    while (!item.empty() && item.back() == '/') item.pop_back();
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

void PrintEvidence(const Seen& x, const Seen& y) {
  std::cout << "--- checkpoint served by " << x.node_id << " (" << x.url << ")\n"
            << x.note << "--- checkpoint served by " << y.node_id << " (" << y.url << ")\n"
            << y.note << "---\n";
}

int AuditCluster(const ClusterArgs& a) {
  crypto::Init();
  std::vector<std::string> urls = SplitUrls(a.nodes);
  if (urls.empty()) return Fail("--nodes needs at least one URL", kExitUsage);
  bool unreachable = false, bad = false;
  std::vector<Seen> seen;
  std::optional<ledger::Genesis> genesis;
  Hash genesis_hash{};
  std::map<std::string, std::unique_ptr<NodeClient>> clients;
  for (const auto& url : urls) {
    auto& c = clients[url];
    c = std::make_unique<NodeClient>(url, 10);
    auto info = c->GetJson("/v1/node");
    auto note = info.ok() ? c->GetText("/v1/checkpoint") : Result<std::string>(info.status());
    if (!info.ok() || !note.ok()) {
      std::cout << "UNREACHABLE " << url << ": "
                << (info.ok() ? note.status() : info.status()).message() << "\n";
      unreachable = true;
      continue;
    }
    auto gh = HashFromHex(info->value("genesis_hash", ""));
    if (!genesis) {
      auto g = c->GetJson("/v1/genesis");
      if (!g.ok()) {
        std::cout << "UNREACHABLE " << url << ": " << g.status().message() << "\n";
        unreachable = true;
        continue;
      }
      auto doc = api::GenesisFromJson(*g);
      if (!doc.ok()) return Fail(url + " serves an invalid genesis: " + doc.status().message());
      genesis = std::move(*doc);
      genesis_hash = ledger::MakeGenesisBlock(*genesis).hash();
    }
    if (!gh || *gh != genesis_hash) {
      std::cout << "DIFFERENT CHAIN " << url << ": genesis " << info->value("genesis_hash", "")
                << ", expected " << ToHex(genesis_hash) << "\n";
      bad = true;
      continue;
    }
    Seen s;
    s.url = url;
    s.node_id = info->value("node_id", "");
    s.note = *note;
    seen.push_back(std::move(s));
  }
  if (!genesis) return Fail("no node could be reached", kExitUsage);
  const std::string origin = store::CheckpointOrigin(*genesis, genesis_hash);

  // Node keys: the genesis for founding nodes; for later nodes, what every
  // reachable node's ledger says (they must agree).
  std::map<std::string, ledger::PublicKey> keys;
  for (const auto& p : genesis->participants) {
    if (p.role == ledger::Role::kNode) keys[p.id] = p.sign_key;
  }
  for (const auto& s : seen) {
    if (keys.count(s.node_id)) continue;
    std::set<std::string> answers;
    for (const auto& [url, c] : clients) {
      auto p = c->GetJson("/v1/participants/" + s.node_id);
      if (p.ok() && p->value("role", "") == "node") answers.insert(p->value("sign_key", ""));
    }
    if (answers.size() != 1) {
      std::cout << "UNKNOWN KEY " << s.node_id << ": the nodes report " << answers.size()
                << " different signing keys for it\n";
      bad = true;
      continue;
    }
    auto k = HashFromHex(*answers.begin());
    if (k) keys[s.node_id] = *k;
  }

  // Signatures: each note must be signed by the node that served it.
  std::vector<Seen> good;
  for (auto& s : seen) {
    auto k = keys.find(s.node_id);
    if (k == keys.end()) continue;
    auto vk = crypto::MakeNoteVerifierKey(s.node_id, k->second);
    if (!vk.ok()) return Fail(vk.status().message());
    auto c = crypto::OpenCheckpoint(s.note, std::span(&*vk, 1));
    if (!c.ok()) {
      std::cout << "BAD SIGNATURE " << s.node_id << " (" << s.url << "): " << c.status().message()
                << "\n"
                << s.note;
      bad = true;
      continue;
    }
    if (c->origin != origin) {
      std::cout << "WRONG ORIGIN " << s.node_id << ": \"" << c->origin << "\", expected \""
                << origin << "\"\n";
      bad = true;
      continue;
    }
    auto blk = store::CheckpointBlock(*c);
    if (!blk.ok()) {
      std::cout << "MALFORMED " << s.node_id << ": " << blk.status().message() << "\n";
      bad = true;
      continue;
    }
    s.checkpoint = *c;
    s.height = blk->first;
    s.block = blk->second;
    std::cout << "ok   " << s.node_id << " " << s.url << ": size " << c->size << ", height "
              << s.height << ", root " << ToHex(c->root) << "\n";
    good.push_back(s);
  }
  std::sort(good.begin(), good.end(),
            [](const Seen& x, const Seen& y) { return x.checkpoint.size < y.checkpoint.size; });

  // Pairs: equal sizes must have equal roots; a smaller log must be a prefix
  // of a larger one (consistency proof from the node with the larger log,
  // verified here against both signed roots).
  bool fork = false;
  for (size_t i = 0; i < good.size(); ++i) {
    for (size_t j = i + 1; j < good.size(); ++j) {
      const Seen& x = good[i];
      const Seen& y = good[j];
      const auto& cx = x.checkpoint;
      const auto& cy = y.checkpoint;
      if (cx.size == cy.size) {
        if (cx.root != cy.root || x.block != y.block) {
          std::cout << "FORK: " << x.node_id << " and " << y.node_id
                    << " signed different logs of size " << cx.size << ":\n";
          PrintEvidence(x, y);
          fork = true;
        }
        continue;
      }
      // The larger node's own signed checkpoint at the smaller one's height.
      auto& cl = *clients[y.url];
      auto older = cl.GetText("/v1/checkpoints/" + std::to_string(x.height));
      if (older.ok()) {
        auto vk = crypto::MakeNoteVerifierKey(y.node_id, keys[y.node_id]);
        auto oc = vk.ok() ? crypto::OpenCheckpoint(*older, std::span(&*vk, 1))
                          : Result<crypto::Checkpoint>(vk.status());
        if (oc.ok()) {
          auto ob = store::CheckpointBlock(*oc);
          if (ob.ok() && ob->first == x.height && (oc->root != cx.root || ob->second != x.block)) {
            Seen z = y;
            z.note = *older;
            std::cout << "FORK: " << x.node_id << " and " << y.node_id
                      << " signed different blocks at height " << x.height << ":\n";
            PrintEvidence(x, z);
            fork = true;
            continue;
          }
        }
      }
      auto proof = cl.GetJson("/v1/proofs/consistency?from=" + std::to_string(cx.size) +
                              "&to=" + std::to_string(cy.size));
      if (!proof.ok()) {
        std::cout << "NO PROOF from " << y.url << " for sizes " << cx.size << " -> " << cy.size
                  << ": " << proof.status().message() << "\n";
        if (cl.last_status() == 0) {
          unreachable = true;
        } else {
          bad = true;
        }
        continue;
      }
      std::vector<Hash> hashes;
      bool parsed = proof->contains("proof") && (*proof)["proof"].is_array();
      if (parsed) {
        for (const auto& h : (*proof)["proof"]) {
          auto v = h.is_string() ? HashFromHex(h.get<std::string>()) : std::nullopt;
          if (!v) {
            parsed = false;
            break;
          }
          hashes.push_back(*v);
        }
      }
      Status st = parsed ? merkle::VerifyConsistency(cx.size, cy.size, hashes, cx.root, cy.root)
                         : Status::InvalidArgument("malformed proof");
      if (!st.ok()) {
        std::cout << "INCONSISTENT: " << x.node_id << " (size " << cx.size
                  << ") is not a prefix of " << y.node_id << " (size " << cy.size
                  << "): " << st.message() << "\n";
        PrintEvidence(x, y);
        fork = true;
      }
    }
  }
  if (fork || bad) {
    std::cout << (fork ? "FORK or inconsistency found" : "checks failed") << "\n";
    return kExitFail;
  }
  if (unreachable) {
    std::cout << "consistent so far, but some nodes could not be checked\n";
    return kExitUsage;
  }
  std::cout << "consistent: " << good.size() << " checkpoints from " << good.size()
            << " nodes agree\n";
  return kExitOk;
}

CommandGroup g_cluster("cluster", [](CLI::App& app, ExitCode& rc) {
  auto a = std::make_shared<ClusterArgs>();
  auto* grp =
      app.add_subcommand("cluster", "Cluster membership (docs/cluster.md)")->require_subcommand(1);
  auto admin = [&](CLI::App* c) {
    c->add_option("--node", a->node, "a node's API URL ($MEDCHAIN_NODE)");
    c->add_option("--key", a->key, "the consortium admin's key file")->required();
    c->add_option("--id", a->id, "the node's participant id")->required();
    c->add_option("--timeout", a->timeout_s, "seconds to wait for the change (default 120)");
  };
  auto* reg = grp->add_subcommand(
      "register", "Register a new node on the ledger (its key, Raft id and addresses)");
  admin(reg);
  reg->add_option("--subject-key", a->subject_key, "the new node's key file (public part read)")
      ->required();
  reg->add_option("--org", a->org, "the organisation running the node")->required();
  reg->add_option("--name", a->name, "display name (default: the id)");
  reg->add_option("--raft-id", a->raft_id, "Raft server id (unique, never reused, > 0)")
      ->required();
  reg->add_option("--raft-address", a->raft_address, "the node's Raft address host:port")
      ->required();
  reg->add_option("--api-url", a->api_url, "the node's API URL, e.g. http://10.0.0.4:7070")
      ->required();
  reg->callback([a, &rc] { rc = Register(*a); });

  auto* add = grp->add_subcommand(
      "add", "Make a registered node a voter or a non-voting replica (membership transaction)");
  admin(add);
  add->add_option("--role", a->role, "voter (default), standby (replica, no vote) or spare");
  add->callback([a, &rc] { rc = Change(*a, ledger::MembershipOp::kAdd); });

  auto* assign = grp->add_subcommand("assign", "Change a member's role");
  admin(assign);
  assign->add_option("--role", a->role, "voter, standby or spare")->required();
  assign->callback([a, &rc] { rc = Change(*a, ledger::MembershipOp::kAssign); });

  auto* rm = grp->add_subcommand("remove", "Take a node out of the cluster");
  admin(rm);
  rm->callback([a, &rc] { rc = Change(*a, ledger::MembershipOp::kRemove); });

  auto* list = grp->add_subcommand("list", "Show the leader and every node's role and progress");
  list->add_option("--node", a->node, "a node's API URL ($MEDCHAIN_NODE)");
  list->add_flag("--json", a->json, "print GET /v1/cluster as is");
  list->callback([a, &rc] { rc = List(*a); });
});

CommandGroup g_audit_cluster("audit-cluster", [](CLI::App& app, ExitCode& rc) {
  auto a = std::make_shared<ClusterArgs>();
  auto* c = app.add_subcommand(
      "audit-cluster",
      "Check that every node's signed checkpoint is consistent with the others; report forks");
  c->add_option("--nodes", a->nodes, "comma-separated API URLs of the nodes")->required();
  c->callback([a, &rc] { rc = AuditCluster(*a); });
});

}  // namespace
}  // namespace medchain::cli
