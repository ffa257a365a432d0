// Copyright (c) medchain developers.
// How `medchain` subcommands plug into the CLI.
//
// Each src/cli/cmd_*.cpp file defines one command group and registers it with
// a static CommandGroup object:
//
//   static cli::CommandGroup g_merkle("merkle", [](CLI::App& app, cli::ExitCode& rc) {
//     auto* root = app.add_subcommand("merkle", "...")->require_subcommand(1);
//     ...
//     sub->callback([&rc, opts] { rc = RunRoot(*opts); });
//   });
//
// Exit codes are part of the CLI's interface: 0 success, 1 the check or
// operation failed (a proof did not verify, the chain has a fault, the node
// refused), 2 malformed arguments or unreadable input files.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <string>

namespace medchain::cli {

enum ExitStatus : int { kExitOk = 0, kExitFail = 1, kExitUsage = 2 };
using ExitCode = int;

using Registrar = std::function<void(CLI::App& app, ExitCode& rc)>;

class CommandGroup {
 public:
  CommandGroup(std::string name, Registrar registrar);
};

// Reads the passphrase for a key file: $MEDCHAIN_PASSPHRASE if set, otherwise a
// prompt on the terminal with echo off. `confirm` asks twice (for new files).
// Returns false if no passphrase could be read (no terminal, empty input).
bool ReadPassphrase(const std::string& prompt, bool confirm, std::string& out);

// Prints "error: <msg>" to stderr and returns `code`.
int Fail(const std::string& msg, int code = kExitFail);

}  // namespace medchain::cli
