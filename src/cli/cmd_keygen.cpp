// Copyright (c) medchain developers.
// `medchain keygen`: create a participant's passphrase-protected key file.
// `medchain keyinfo`: show a key file's public identity (no passphrase).
#include <sys/stat.h>

#include <iostream>
#include <memory>
#include <string>

#include "cli/command.h"
#include "medchain/core/bytes.h"
#include "medchain/crypto/keyfile.h"

namespace medchain::cli {
namespace {

struct KeygenOptions {
  std::string out;
  std::string label;
  std::string participant_id;
  bool fast_kdf = false;
  bool force = false;
};

bool Exists(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

void PrintIdentity(const crypto::PublicIdentity& id) {
  if (!id.label.empty()) std::cout << "label:                 " << id.label << "\n";
  if (!id.participant_id.empty()) {
    std::cout << "participant id:        " << id.participant_id << "\n";
  }
  std::cout << "signing public key:    " << ToHex(id.signing_public_key) << "\n"
            << "encryption public key: " << ToHex(id.encryption_public_key) << "\n";
}

int RunKeygen(const KeygenOptions& o) {
  if (!o.force && Exists(o.out)) {
    return Fail(o.out + " already exists (use --force to replace it)", kExitFail);
  }
  std::string passphrase;
  if (!ReadPassphrase("Passphrase for " + o.out + ": ", /*confirm=*/true, passphrase)) {
    return Fail("no passphrase: set MEDCHAIN_PASSPHRASE or run on a terminal", kExitUsage);
  }
  crypto::KeyMaterial keys = crypto::KeyMaterial::Generate(o.label, o.participant_id);
  crypto::KdfParams params =
      o.fast_kdf ? crypto::KdfParams::Minimum() : crypto::KdfParams::Interactive();
  Status s = crypto::WriteKeyFile(o.out, keys, passphrase, params,
                                  o.force ? crypto::Overwrite::kYes : crypto::Overwrite::kNo);
  SecureZero(passphrase);
  if (!s.ok()) {
    int code = s.code() == Code::kInvalidArgument ? kExitUsage : kExitFail;
    return Fail(s.ToString(), code);
  }
  std::cout << "wrote " << o.out << (o.fast_kdf ? " (fast KDF: for tests and dev keys only)" : "")
            << "\n";
  PrintIdentity(keys.Identity());
  return kExitOk;
}

int RunKeyinfo(const std::string& path) {
  auto id = crypto::ReadPublicIdentity(path);
  if (!id.ok()) return Fail(id.status().ToString(), kExitUsage);
  std::cout << "key file:              " << path << "\n"
            << "format:                " << crypto::kKeyFileFormat << " v" << id->version << "\n";
  PrintIdentity(*id);
  std::cout << "kdf:                   argon2id opslimit=" << id->kdf.opslimit
            << " memlimit=" << id->kdf.memlimit << "\n";
  return kExitOk;
}

cli::CommandGroup g_keygen("keygen", [](CLI::App& app, ExitCode& rc) {
  auto opts = std::make_shared<KeygenOptions>();
  auto* cmd = app.add_subcommand(
      "keygen",
      "Create a key file (Ed25519 signing key + X25519 encryption key) protected by a "
      "passphrase ($MEDCHAIN_PASSPHRASE or prompt)");
  cmd->add_option("--out", opts->out, "Key file to create")->required();
  cmd->add_option("--label", opts->label, "Free-text label stored in the clear");
  cmd->add_option("--participant-id", opts->participant_id, "Participant id stored in the clear");
  cmd->add_flag("--fast-kdf", opts->fast_kdf,
                "Use libsodium's minimum Argon2id cost (tests and dev keys only)");
  cmd->add_flag("--force", opts->force, "Replace an existing file");
  cmd->callback([&rc, opts] { rc = RunKeygen(*opts); });
});

cli::CommandGroup g_keyinfo("keyinfo", [](CLI::App& app, ExitCode& rc) {
  auto path = std::make_shared<std::string>();
  auto* cmd = app.add_subcommand("keyinfo",
                                 "Show a key file's public keys and label (no passphrase needed)");
  cmd->add_option("--key", *path, "Key file")->required();
  cmd->callback([&rc, path] { rc = RunKeyinfo(*path); });
});

}  // namespace
}  // namespace medchain::cli
