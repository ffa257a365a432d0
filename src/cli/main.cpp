// Copyright (c) medchain developers.
// medchain: the command-line tool. Commands live in cmd_*.cpp files.
#include <termios.h>
#include <unistd.h>

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

bool ReadPassphrase(const std::string& prompt, bool confirm, std::string& out) {
  if (const char* env = std::getenv("MEDCHAIN_PASSPHRASE")) {
    out = env;
    return !out.empty();
  }
  if (!isatty(STDIN_FILENO)) return false;
  auto read_one = [](const std::string& text, std::string& into) {
    std::cerr << text << std::flush;
    termios old_term{};
    tcgetattr(STDIN_FILENO, &old_term);
    termios quiet = old_term;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    tcsetattr(STDIN_FILENO, TCSANOW, &quiet);
    std::getline(std::cin, into);
    tcsetattr(STDIN_FILENO, TCSANOW, &old_term);
    std::cerr << "\n";
  };
  read_one(prompt, out);
  if (out.empty()) return false;
  if (confirm) {
    std::string again;
    read_one("Repeat passphrase: ", again);
    bool same = ConstantTimeEqual(AsBytes(out), AsBytes(again));
    SecureZero(again);
    if (!same) {
      std::cerr << "error: the passphrases differ\n";
      SecureZero(out);
      out.clear();
      return false;
    }
  }
  return true;
}

}  // namespace medchain::cli

int main(int argc, char** argv) {
  using namespace medchain::cli;
  CLI::App app{"medchain: permissioned ledger for health records"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "medchain 0.1.0");
  ExitCode rc = kExitOk;
  for (auto& [name, registrar] : Registry()) registrar(app, rc);
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
