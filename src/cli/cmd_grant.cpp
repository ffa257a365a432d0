// Copyright (c) medchain developers.
// medchain grant add|revoke|list, and medchain audit.
#include <charconv>
#include <ctime>
#include <iostream>

#include "cli/client.h"
#include "cli/command.h"
#include "cli/records.h"
#include "medchain/core/merkle.h"

namespace medchain::cli {
namespace {

struct GrantArgs {
  std::string node = DefaultNodeUrl();
  std::string key;
  std::string patient;
  std::string grantee;
  std::vector<std::string> types;
  std::vector<std::string> records;
  std::string purpose;
  std::string expires = "30d";
  std::string grant_id;
  std::string reason;
  bool proofs = false;
  bool json = false;
};

// "30d", "12h", "45m", "90s" from now, or an absolute time in ms since the epoch.
std::optional<uint64_t> ParseExpiry(const std::string& s) {
  if (s.empty()) return std::nullopt;
  uint64_t n = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
  if (ec != std::errc() || n == 0) return std::nullopt;
  std::string_view unit(p, static_cast<size_t>(s.data() + s.size() - p));
  uint64_t mult = 0;
  if (unit.empty()) return n;  // absolute ms
  if (unit == "d")
    mult = 86400000ULL;
  else if (unit == "h")
    mult = 3600000ULL;
  else if (unit == "m")
    mult = 60000ULL;
  else if (unit == "s")
    mult = 1000ULL;
  else
    return std::nullopt;
  return NowMs() + n * mult;
}

int Add(const GrantArgs& a) {
  auto expiry = ParseExpiry(a.expires);
  if (!expiry) return Fail("--expires: use 30d, 12h, 45m, 90s or ms since the epoch", kExitUsage);
  auto key = LoadKey(a.key);
  if (!key.ok()) return Fail(key.status().message(), kExitUsage);
  NodeClient node(a.node);
  auto me = ParticipantIdOf(node, *key);
  if (!me.ok()) return Fail(me.status().message());
  ledger::Grant g;
  g.patient = a.patient.empty() ? *me : a.patient;
  g.grantee = a.grantee;
  g.scope_types = a.types;
  std::sort(g.scope_types.begin(), g.scope_types.end());
  g.scope_types.erase(std::unique(g.scope_types.begin(), g.scope_types.end()), g.scope_types.end());
  g.scope_records = a.records;
  std::sort(g.scope_records.begin(), g.scope_records.end());
  g.scope_records.erase(std::unique(g.scope_records.begin(), g.scope_records.end()),
                        g.scope_records.end());
  g.purpose = a.purpose;
  g.expiry_ms = *expiry;
  Result<Json> out = Status::Internal("unreached");
  for (int attempt = 0; attempt < 2; ++attempt) {
    out = SubmitGrant(node, *key, *me, g);
    if (!out.ok()) break;
    std::string reason = (*out)["result"].value("reason", "");
    // A record written meanwhile: build the key list again.
    if (reason.find("lacks the wrapped key") == std::string::npos) break;
  }
  if (!out.ok()) return Fail(out.status().message());
  std::cout << out->dump(2) << "\n";
  const Json& r = (*out)["result"];
  if (r.value("code", "ok") != "ok") return Fail("refused: " + r.value("reason", ""));
  std::cerr << "grant " << out->value("id", "") << " to " << g.grantee << " is active\n";
  return kExitOk;
}

int Revoke(const GrantArgs& a) {
  auto id = HashFromHex(a.grant_id);
  if (!id) return Fail("--grant must be the grant's transaction id (64 hex digits)", kExitUsage);
  auto key = LoadKey(a.key);
  if (!key.ok()) return Fail(key.status().message(), kExitUsage);
  NodeClient node(a.node);
  ledger::RevokeGrant r{*id, a.reason};
  auto out = node.Submit(*MakeTx(*key, ledger::TxType::kRevokeGrant, ledger::EncodeBody(r)),
                         nullptr, true);
  if (!out.ok()) return Fail(out.status().message());
  std::cout << out->dump(2) << "\n";
  if ((*out)["result"].value("code", "ok") != "ok")
    return Fail("refused: " + (*out)["result"].value("reason", ""));
  return kExitOk;
}

int List(const GrantArgs& a) {
  UseReaderKey(a.key, a.patient);
  NodeClient node(a.node);
  auto j = node.GetJson("/v1/patients/" + a.patient + "/grants");
  if (!j.ok()) return Fail(j.status().message());
  std::cout << j->dump(2) << "\n";
  return kExitOk;
}

std::string FormatTime(uint64_t ms) {
  std::time_t t = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%SZ", &tm);
  return buf;
}

// The patient's audit trail; with --proofs every entry's inclusion proof is
// checked here against the log root the node reports.
int Audit(const GrantArgs& a) {
  UseReaderKey(a.key, a.patient);
  NodeClient node(a.node);
  auto j = node.GetJson("/v1/patients/" + a.patient + "/audit" + (a.proofs ? "?proofs=1" : ""));
  if (!j.ok()) return Fail(j.status().message());
  int rc = kExitOk;
  if (a.proofs) {
    for (auto& e : (*j)["entries"]) {
      const Json& p = e["proof"];
      std::vector<Hash> hashes;
      for (const auto& h : p["hashes"])
        hashes.push_back(HashFromHex(h.get<std::string>()).value_or(Hash{}));
      auto leaf = HashFromHex(p.value("leaf_hash", ""));
      auto root = HashFromHex(p.value("root", ""));
      // The leaf hash must be of the transaction the entry names.
      auto tx = node.GetJson("/v1/transactions/" + e.value("tx", ""));
      bool same_tx = tx.ok() && tx->value("leaf_index", ~0ULL) == e.value("leaf_index", 0ULL);
      Status s = (!leaf || !root || !same_tx)
                     ? Status::InvalidArgument("malformed proof")
                     : merkle::VerifyInclusion(*leaf, e.value("leaf_index", 0ULL),
                                               p.value("size", 0ULL), hashes, *root);
      e["proof_verified"] = s.ok();
      if (!s.ok()) rc = kExitFail;
    }
  }
  if (a.json) {
    std::cout << j->dump(2) << "\n";
    return rc;
  }
  std::cout << "audit trail of patient " << a.patient << " (log size " << j->value("log_size", 0ULL)
            << ")\n";
  for (const auto& e : (*j)["entries"]) {
    std::string flag = e.value("break_glass", false) ? "BREAK-GLASS " : "";
    std::cout << FormatTime(e.value("time_ms", 0ULL)) << "  " << flag << e.value("event", "")
              << "  by " << e.value("actor", "");
    if (e.contains("record_id")) std::cout << "  record " << e.value("record_id", "");
    if (e.contains("purpose")) std::cout << "  purpose: " << e.value("purpose", "");
    if (e.contains("detail")) std::cout << "  (" << e.value("detail", "") << ")";
    std::cout << "  tx " << e.value("tx", "").substr(0, 16);
    if (e.contains("proof_verified"))
      std::cout << (e.value("proof_verified", false) ? "  proof ok" : "  PROOF FAILED");
    std::cout << "\n";
  }
  return rc;
}

CommandGroup g_grant("grant", [](CLI::App& app, ExitCode& rc) {
  auto* grp = app.add_subcommand("grant", "Patients grant and revoke access to their records")
                  ->require_subcommand(1);
  auto a = std::make_shared<GrantArgs>();
  auto* add = grp->add_subcommand("add", "Grant a participant a scope, a purpose and an expiry");
  add->add_option("--node", a->node, "node API URL ($MEDCHAIN_NODE)");
  add->add_option("--key", a->key, "the patient's (or a delegate's) key file")->required();
  add->add_option("--patient", a->patient, "the patient (default: the key's owner)");
  add->add_option("--grantee", a->grantee, "who receives access")->required();
  add->add_option("--types", a->types, "record types in scope (* = all)")->delimiter(',');
  add->add_option("--records", a->records, "record ids in scope")->delimiter(',');
  add->add_option("--purpose", a->purpose, "purpose of use, e.g. treatment")->required();
  add->add_option("--expires", a->expires,
                  "30d, 12h, 45m, 90s, or ms since the epoch (default 30d)");
  add->callback([a, &rc] { rc = Add(*a); });
  auto* rev = grp->add_subcommand("revoke", "Revoke a grant (stops later reads and key wraps)");
  rev->add_option("--node", a->node, "node API URL");
  rev->add_option("--key", a->key, "the patient's (or a delegate's) key file")->required();
  rev->add_option("--grant", a->grant_id, "grant id")->required();
  rev->add_option("--reason", a->reason, "why");
  rev->callback([a, &rc] { rc = Revoke(*a); });
  auto* list = grp->add_subcommand("list", "A patient's grants, active or not");
  list->add_option("--node", a->node, "node API URL");
  list->add_option("--patient", a->patient, "patient id")->required();
  list->add_option("--key", a->key,
                   "sign the request with this key file (default: $MEDCHAIN_KEY, or the key file "
                   "here whose participant id is --patient)");
  list->callback([a, &rc] { rc = List(*a); });
});

CommandGroup g_audit("audit", [](CLI::App& app, ExitCode& rc) {
  auto a = std::make_shared<GrantArgs>();
  auto* c = app.add_subcommand(
      "audit", "A patient's audit trail: every write, grant, read, refusal, break-glass, erasure");
  c->add_option("--node", a->node, "node API URL ($MEDCHAIN_NODE)");
  c->add_option("--patient", a->patient, "patient id")->required();
  c->add_option("--key", a->key,
                "sign the request with this key file (default: $MEDCHAIN_KEY, or the key file here "
                "whose participant id is --patient)");
  c->add_flag("--proofs", a->proofs, "fetch and check each entry's inclusion proof");
  c->add_flag("--json", a->json, "print JSON");
  c->callback([a, &rc] { rc = Audit(*a); });
});

}  // namespace
}  // namespace medchain::cli
