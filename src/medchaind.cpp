// Copyright (c) medchain developers.
// medchaind: the medchain node daemon.
//
//   medchaind --config FILE
//   medchaind --dev [--data-dir DIR] [--listen 127.0.0.1:PORT]
//
// SIGTERM or SIGINT stops it cleanly.
#include <csignal>
#include <filesystem>
#include <iostream>

#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>

#include "medchain/node/config.h"
#include "medchain/node/node.h"

using namespace medchain;

namespace {

constexpr const char* kDevDir = "./medchain-dev";
constexpr const char* kDevListen = "127.0.0.1:7070";
constexpr const char* kDevPassphrase = "dev";

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

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"medchaind: a medchain node"};
  std::string config_path, data_dir = kDevDir, listen = kDevListen;
  bool dev = false;
  app.add_option("--config", config_path, "node configuration (TOML)");
  app.add_flag("--dev", dev, "run a single-node dev network (created on first start)");
  app.add_option("--data-dir", data_dir,
                 std::string("dev network folder (default ") + kDevDir + ")");
  app.add_option("--listen", listen, std::string("dev API address (default ") + kDevListen + ")");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
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

  auto config = dev ? DevConfig(data_dir, listen) : node::LoadConfig(config_path);
  if (!config.ok()) {
    std::cerr << "error: " << config.status().message() << "\n";
    return 2;
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
