// Copyright (c) medchain developers.
// medchain identity register|rotate|suspend|reinstate|delegates|show
#include <filesystem>
#include <iostream>

#include "cli/client.h"
#include "cli/command.h"
#include "cli/records.h"
#include "medchain/api/json.h"

namespace medchain::cli {
namespace {

struct IdentityArgs {
  std::string node = DefaultNodeUrl();
  std::string key;  // the author's key file
  std::string id;   // the participant concerned
  std::string role;
  std::string org;
  std::string name;
  std::string subject_key;  // the new participant's key file (public part read)
  std::string reason;
  std::vector<std::string> delegates;
  bool fast_kdf = false;
};

int PrintOutcome(const Result<Json>& out) {
  if (!out.ok()) return Fail(out.status().message());
  std::cout << out->dump(2) << "\n";
  const Json& r = (*out)["result"];
  if (r.value("code", "ok") != "ok") {
    std::cerr << "error: refused: " << r.value("reason", "") << "\n";
    return kExitFail;
  }
  return kExitOk;
}

int Register(const IdentityArgs& a) {
  auto role = ledger::RoleFromName(a.role);
  if (!role)
    return Fail("unknown role " + a.role + " (organisation, practitioner, patient, auditor, node)",
                kExitUsage);
  auto subject = crypto::ReadPublicIdentity(a.subject_key.empty() ? a.key : a.subject_key);
  if (!subject.ok()) return Fail(subject.status().message(), kExitUsage);
  auto key = LoadKey(a.key);
  if (!key.ok()) return Fail(key.status().message(), kExitUsage);
  ledger::RegisterParticipant r;
  r.id = a.id;
  r.role = *role;
  r.organisation = a.org;
  r.sign_key = subject->signing_public_key;
  r.box_key = subject->encryption_public_key;
  r.display_name = a.name;
  auto checked =
      ledger::DecodeBody<ledger::RegisterParticipant>(ledger::EncodeBody(r), "registration");
  if (!checked.ok()) return Fail(checked.status().message(), kExitUsage);
  NodeClient node(a.node);
  auto tx = MakeTx(*key, ledger::TxType::kRegisterParticipant, ledger::EncodeBody(r));
  return PrintOutcome(node.Submit(*tx, nullptr, true));
}

int Rotate(const IdentityArgs& a) {
  auto key = LoadKey(a.key);
  if (!key.ok()) return Fail(key.status().message(), kExitUsage);
  NodeClient node(a.node);
  std::string target = a.id;
  if (target.empty()) {
    auto me = ParticipantIdOf(node, *key);
    if (!me.ok()) return Fail(me.status().message());
    target = *me;
  }
  // Self-rotation: new signing and encryption keys; the old encryption keys
  // stay in the file so records wrapped for them still open.
  if (!a.subject_key.empty()) {
    // Rotating someone else's keys (an organisation for its practitioner):
    // the new public keys come from their new key file.
    auto subject = crypto::ReadPublicIdentity(a.subject_key);
    if (!subject.ok()) return Fail(subject.status().message(), kExitUsage);
    ledger::UpdateParticipant u;
    u.id = target;
    u.op = ledger::UpdateOp::kRotateKeys;
    u.new_sign_key = subject->signing_public_key;
    u.new_box_key = subject->encryption_public_key;
    return PrintOutcome(node.Submit(
        *MakeTx(*key, ledger::TxType::kUpdateParticipant, ledger::EncodeBody(u)), nullptr, true));
  }
  crypto::KeyMaterial next = crypto::KeyMaterial::Generate(key->label, key->participant_id);
  next.previous_encryption = std::move(key->previous_encryption);
  auto old_box = crypto::BoxKey::FromSecret(key->encryption.secret());
  if (!old_box.ok()) return Fail(old_box.status().message());
  next.previous_encryption.push_back(std::move(*old_box));
  ledger::UpdateParticipant u;
  u.id = target;
  u.op = ledger::UpdateOp::kRotateKeys;
  u.new_sign_key = next.signing.public_key();
  u.new_box_key = next.encryption.public_key();
  auto out = node.Submit(*MakeTx(*key, ledger::TxType::kUpdateParticipant, ledger::EncodeBody(u)),
                         nullptr, true);
  int rc = PrintOutcome(out);
  if (rc != kExitOk) return rc;
  std::string pass;
  if (!ReadPassphrase("Passphrase for the rotated key file: ", false, pass)) {
    return Fail("no passphrase to write the rotated key file");
  }
  // Keep the old file beside the new one until the operator removes it.
  std::error_code ec;
  std::filesystem::rename(a.key, a.key + ".old", ec);
  if (ec) return Fail("cannot move the old key file aside: " + ec.message());
  Status s = crypto::WriteKeyFile(
      a.key, next, pass,
      a.fast_kdf ? crypto::KdfParams::Minimum() : crypto::KdfParams::Interactive());
  SecureZero(pass);
  if (!s.ok())
    return Fail("the ledger has the new keys but writing " + a.key + " failed: " + s.message());
  std::cerr << "rotated; the new key file is " << a.key << " (the old one is " << a.key
            << ".old)\n";
  return kExitOk;
}

int Update(const IdentityArgs& a, ledger::UpdateOp op) {
  auto key = LoadKey(a.key);
  if (!key.ok()) return Fail(key.status().message(), kExitUsage);
  NodeClient node(a.node);
  ledger::UpdateParticipant u;
  u.id = a.id;
  u.op = op;
  u.reason = a.reason;
  if (op == ledger::UpdateOp::kSetDelegates) {
    u.delegates = a.delegates;
    std::sort(u.delegates.begin(), u.delegates.end());
    u.delegates.erase(std::unique(u.delegates.begin(), u.delegates.end()), u.delegates.end());
    if (u.id.empty()) {
      auto me = ParticipantIdOf(node, *key);
      if (!me.ok()) return Fail(me.status().message());
      u.id = *me;
    }
  }
  return PrintOutcome(node.Submit(
      *MakeTx(*key, ledger::TxType::kUpdateParticipant, ledger::EncodeBody(u)), nullptr, true));
}

int Show(const IdentityArgs& a) {
  NodeClient node(a.node);
  auto p = node.GetJson("/v1/participants/" + a.id);
  if (!p.ok()) return Fail(p.status().message());
  std::cout << p->dump(2) << "\n";
  return kExitOk;
}

CommandGroup g_identity("identity", [](CLI::App& app, ExitCode& rc) {
  auto* grp =
      app.add_subcommand("identity", "Register and manage participants")->require_subcommand(1);
  auto args = std::make_shared<IdentityArgs>();
  auto common = [&](CLI::App* c, bool needs_key) {
    c->add_option("--node", args->node, "node API URL ($MEDCHAIN_NODE)");
    auto* k = c->add_option("--key", args->key, "your key file (signs the transaction)");
    if (needs_key) k->required();
  };
  auto* reg =
      grp->add_subcommand("register", "Register a participant (patients may register themselves)");
  common(reg, true);
  reg->add_option("--id", args->id, "the new participant's id")->required();
  reg->add_option("--role", args->role, "organisation, practitioner, patient, auditor or node")
      ->required();
  reg->add_option("--org", args->org, "practitioners and nodes: their organisation");
  reg->add_option("--name", args->name, "display name (not for patients)");
  reg->add_option("--subject-key", args->subject_key,
                  "the new participant's key file (default: --key, self-registration)");
  reg->callback([args, &rc] { rc = Register(*args); });

  auto* rot = grp->add_subcommand(
      "rotate", "Rotate keys: your own (rewrites --key), or a member's with --subject-key");
  common(rot, true);
  rot->add_option("--id", args->id, "participant whose keys rotate (default: the key's owner)");
  rot->add_option("--subject-key", args->subject_key,
                  "their new key file (rotating for someone else)");
  rot->add_flag("--fast-kdf", args->fast_kdf,
                "minimum Argon2id cost for the new file (tests only)");
  rot->callback([args, &rc] { rc = Rotate(*args); });

  for (auto [name, op] : {std::pair{"suspend", ledger::UpdateOp::kSuspend},
                          std::pair{"reinstate", ledger::UpdateOp::kReinstate}}) {
    auto* c = grp->add_subcommand(
        name, std::string(name) + " a participant (admin, or an organisation for its members)");
    common(c, true);
    c->add_option("--id", args->id, "the participant")->required();
    c->add_option("--reason", args->reason, "why");
    c->callback([args, &rc, op = op] { rc = Update(*args, op); });
  }
  auto* del = grp->add_subcommand("delegates", "Name who may grant and revoke for you (patients)");
  common(del, true);
  del->add_option("--delegate", args->delegates, "a delegate's id (repeat; none clears)");
  del->callback([args, &rc] { rc = Update(*args, ledger::UpdateOp::kSetDelegates); });

  auto* show = grp->add_subcommand("show", "Show a participant");
  show->add_option("--node", args->node, "node API URL");
  show->add_option("--id", args->id, "participant id")->required();
  show->callback([args, &rc] { rc = Show(*args); });
});

}  // namespace
}  // namespace medchain::cli
