// Copyright (c) medchain developers.
// medchaind: the medchain node daemon.
//
//   medchaind --config FILE
//   medchaind --dev [--data-dir DIR] [--listen 127.0.0.1:PORT]
//   medchaind --check-config FILE        (checks it, starts nothing; docs/operations.md)
//   medchaind --print-config-reference   (docs/configuration.md)
//
// SIGTERM or SIGINT stops it cleanly.
#include <sodium.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string_view>

#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>

#include "medchain/core/bytes.h"
#include "medchain/crypto/init.h"
#include "medchain/fhir/definitions.h"
#include "medchain/node/config.h"
#include "medchain/node/node.h"

using namespace medchain;

namespace {

constexpr const char* kDevDir = "./medchain-dev";
constexpr const char* kDevListen = "127.0.0.1:7070";
constexpr const char* kDevPassphrase = "dev";

// The dev node's FHIR facade token: DIR/fhir-token (0600), created with 32
// random bytes (hex) on first use.
Result<std::string> DevFhirToken(const std::filesystem::path& dir) {
  const auto path = dir / "fhir-token";
  std::ifstream in(path);
  std::string token;
  if (in && std::getline(in, token) && token.size() >= 32) return token;
  uint8_t raw[32];
  randombytes_buf(raw, sizeof raw);
  token = ToHex(ByteView(raw, sizeof raw));
  SecureZero(raw, sizeof raw);
  std::ofstream out(path, std::ios::trunc);
  ::chmod(path.c_str(), 0600);
  out << token << "\n";
  out.close();
  if (!out) return Status::IOError("cannot write " + path.string());
  return token;
}

// The dev node serves the FHIR facade (docs/fhir.md) for its organisation
// when the FHIR definitions are installed; `note` says how to reach it, or
// why it is off.
Status EnableDevFhir(const std::string& dir, node::NodeConfig& config, std::string& note) {
  namespace fs = std::filesystem;
  if (!config.fhir_token.empty() || config.fhir_key_file.empty()) return Status::Ok();
  std::error_code ec;
  std::optional<fs::path> defs;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) defs = fhir::FindDefinitionsDirectory(exe.parent_path());
  if (!defs) defs = fhir::FindDefinitionsDirectory(fs::current_path(ec));
  if (!defs) {
    note = "off: FHIR definitions not installed (scripts/fhir-definitions.sh)";
    config.fhir_key_file.clear();  // off on purpose, not a half-configured facade
    return Status::Ok();
  }
  MC_ASSIGN_OR_RETURN(config.fhir_token, DevFhirToken(dir));
  config.fhir_definitions = defs->string();
  // The token itself is not printed: the banner ends up in logs.
  note = config.public_url + "/fhir/r4 (Authorization: Bearer <the token in " +
         (fs::path(dir) / "fhir-token").string() + ">)";
  return Status::Ok();
}

Result<node::NodeConfig> DevConfig(const std::string& dir, const std::string& listen) {
  namespace fs = std::filesystem;
  MC_ASSIGN_OR_RETURN(auto hp, node::ParseHostPort(listen));
  if (!fs::exists(fs::path(dir) / "genesis.json")) {
    node::InitOptions init;
    init.dir = dir;
    init.consortium = "medchain dev consortium";
    init.organisations = {"dev-hospital"};
    init.nodes = 1;
    init.host = hp.first;
    init.base_port = hp.second;
    init.passphrase = kDevPassphrase;
    MC_RETURN_IF_ERROR(node::InitNetwork(init));
    std::cerr << "created a new dev network in " << dir << "\n";
  }
  MC_ASSIGN_OR_RETURN(auto config,
                      node::LoadConfig((fs::path(dir) / "node1" / "medchaind.toml").string()));
  config.listen = listen;
  config.public_url = "http://" + listen;
  return config;
}

// A node's memory holds decrypted keys, bearer tokens and (with the FHIR
// facade) record plaintext: no core file unless the operator asks for one
// with MEDCHAIN_CORE_DUMPS=1. Everything the node writes is its own alone
// (folders 0700, files 0600).
void ProtectProcess() {
  ::umask(077);
  const char* dumps = std::getenv("MEDCHAIN_CORE_DUMPS");
  if (dumps != nullptr && std::string_view(dumps) == "1") return;
  struct rlimit none {};
  ::setrlimit(RLIMIT_CORE, &none);
  ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"medchaind: a medchain node"};
  app.set_version_flag("--version", "medchaind 0.1.0");
  app.footer(
      "Start a node with --config FILE (a network made by `medchain init`), or a one-node\n"
      "dev network with --dev. SIGTERM or SIGINT stops it cleanly.\n\n"
      "Exit status: 0 stopped by a signal, or the config checked is valid; 1 the node\n"
      "cannot start (key file, genesis, store, port); 2 a bad config or arguments.\n\n"
      "Environment:\n"
      "  MEDCHAIN_PASSPHRASE        the node key's passphrase, unless node.passphrase_file\n"
      "                             is set (node.passphrase_env names another variable)\n"
      "  MEDCHAIN_FHIR_DEFINITIONS  FHIR R4 definitions folder for the --dev FHIR facade\n"
      "  MEDCHAIN_CORE_DUMPS=1      allow core dumps (off: they would hold keys)\n\n"
      "The Debian package runs it as medchaind.service with /etc/medchain/medchaind.toml\n"
      "and its data in /var/lib/medchain. More: man medchaind, docs/operations.md,\n"
      "docs/configuration.md (every config key, also --print-config-reference).");
  std::string config_path, check_path, data_dir = kDevDir, listen = kDevListen;
  bool dev = false, print_reference = false;
  app.add_option("--config", config_path, "node configuration (TOML)");
  app.add_flag("--dev", dev, "run a single-node dev network (created on first start)");
  app.add_option("--data-dir", data_dir,
                 std::string("dev network folder (default ") + kDevDir + ")");
  app.add_option("--listen", listen, std::string("dev API address (default ") + kDevListen + ")");
  auto* check = app.add_option("--check-config", check_path,
                               "check a node configuration without starting anything: exit 0 "
                               "and one line if it is valid, 2 and the error otherwise");
  check->excludes(app.get_option("--config"))->excludes(app.get_option("--dev"));
  app.add_flag("--print-config-reference", print_reference,
               "print every config key with its type, default and meaning (Markdown) and exit");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  if (print_reference) {
    std::cout << node::ConfigReferenceMarkdown();
    return std::cout.flush() ? 0 : 1;
  }
  if (!check_path.empty()) {
    ProtectProcess();  // the key files may be opened
    crypto::Init();
    auto checked = node::CheckConfig(check_path);
    if (!checked.ok()) {
      std::cerr << "error: " << checked.status().message() << "\n";
      return 2;
    }
    std::cout << node::CheckSummary(check_path, *checked) << std::endl;
    return 0;
  }
  if (dev == !config_path.empty()) {
    std::cerr << "error: give either --config FILE or --dev\n";
    return 2;
  }
  // libuv writes to sockets of peers that may have died (notes/libraft.md).
  std::signal(SIGPIPE, SIG_IGN);
  // Signals are taken by sigwait below, not by whichever thread they hit.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);

  ProtectProcess();
  crypto::Init();
  auto config = dev ? DevConfig(data_dir, listen) : node::LoadConfig(config_path);
  if (!config.ok()) {
    std::cerr << "error: " << config.status().message() << "\n";
    return 2;
  }
  std::string fhir_note;
  if (dev) {
    Status s = EnableDevFhir(data_dir, *config, fhir_note);
    if (!s.ok()) {
      std::cerr << "error: " << s.message() << "\n";
      return 2;
    }
  }
  spdlog::set_level(spdlog::level::from_str(config->log_level));
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
  auto n = node::Node::Start(*config);
  if (!n.ok()) {
    std::cerr << "error: " << n.status().message() << "\n";
    return 1;
  }
  if (dev) {
    std::cout << "medchain dev node\n"
              << "  API:   " << (*n)->url() << "\n"
              << "  data:  " << std::filesystem::absolute(data_dir).lexically_normal().string()
              << "\n"
              << "  keys:  " << (std::filesystem::path(data_dir) / "keys").string()
              << "/ (passphrase: " << kDevPassphrase << ")\n"
              << "  FHIR:  " << fhir_note << "\n"
              << "stop with Ctrl-C" << std::endl;
  } else {
    std::cout << "medchaind " << config->node_id << " serving " << (*n)->url() << std::endl;
  }
  int sig = 0;
  sigwait(&set, &sig);
  spdlog::info("signal {}: shutting down", sig);
  (*n)->Stop();
  return 0;
}
