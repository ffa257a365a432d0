// Copyright (c) medchain developers.
// medchain: the command-line tool. Commands live in cmd_*.cpp files.
#include <sys/stat.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>

#include "cli/command.h"
#include "medchain/core/bytes.h"

namespace medchain::cli {

namespace {
std::map<std::string, Registrar>& Registry() {
  static std::map<std::string, Registrar> registry;
  return registry;
}
}  // namespace

CommandGroup::CommandGroup(std::string name, Registrar registrar) {
  Registry().emplace(std::move(name), std::move(registrar));
}

int Fail(const std::string& msg, int code) {
  std::cerr << "error: " << msg << "\n";
  return code;
}

}  // namespace medchain::cli

int main(int argc, char** argv) {
  using namespace medchain::cli;
  // Key files, genesis folders and exported records are the user's alone.
  ::umask(077);
  CLI::App app{"medchain: permissioned ledger for health records"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "medchain 0.1.0");
  ExitCode rc = kExitOk;
  for (auto& [name, registrar] : Registry()) registrar(app, rc);
  // Set after the commands are registered, so their own --help does not repeat it.
  app.footer(
      "Run `medchain COMMAND --help` for a command's options.\n\n"
      "Exit status: 0 success; 1 the command failed (the node refused, a check did not\n"
      "pass); 2 bad arguments.\n\n"
      "Environment:\n"
      "  MEDCHAIN_NODE        the node's API URL for --node (default http://127.0.0.1:7070)\n"
      "  MEDCHAIN_KEY         the key file that signs API reads when --key is not given\n"
      "  MEDCHAIN_PASSPHRASE  key files' passphrase (else a prompt on a terminal)\n\n"
      "More: man medchain, docs/ (api.md, operations.md, cluster.md, fhir.md).");
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return kExitUsage;
  }
  return rc;
}
