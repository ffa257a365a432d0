// Copyright (c) medchain developers.
// medchain devnet --nodes N --dir DIR --base-port P: a local Raft cluster of
// N medchaind processes on 127.0.0.1, in the foreground. Created on first
// use (keys in DIR/keys/, passphrase "dev"), resumed when started again.
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <iostream>
#include <thread>

#include "cli/command.h"
#include "medchain/node/config.h"

namespace medchain::cli {
namespace {

namespace fs = std::filesystem;

struct DevnetArgs {
  unsigned nodes = 3;
  std::string dir = "./medchain-devnet";
  int base_port = 7070;
  int raft_base_port = 0;  // default base_port + 10000
  std::vector<int> api_ports, raft_ports;
  bool fast_kdf = false;
  bool init_only = false;
};

std::string SiblingBinary(const std::string& name) {
  std::error_code ec;
  fs::path self = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    fs::path p = self.parent_path() / name;
    if (fs::exists(p)) return p.string();
  }
  return name;  // from PATH
}

int Run(const DevnetArgs& a) {
  if (a.nodes == 0 || a.nodes > 15) return Fail("--nodes must be 1..15", kExitUsage);
  if (!fs::exists(fs::path(a.dir) / "genesis.json")) {
    node::InitOptions init;
    init.dir = a.dir;
    init.consortium = "medchain devnet";
    init.organisations = {"dev-hospital", "dev-clinic"};
    init.nodes = a.nodes;
    init.base_port = a.base_port;
    init.raft_base_port = a.raft_base_port ? a.raft_base_port : a.base_port + 10000;
    init.api_ports = a.api_ports;
    init.raft_ports = a.raft_ports;
    init.raft = true;
    init.passphrase = "dev";
    init.fast_kdf = a.fast_kdf;
    Status s = node::InitNetwork(init);
    if (!s.ok()) return Fail(s.message());
    std::cerr << "created devnet of " << a.nodes << " nodes in " << a.dir << " (keys in " << a.dir
              << "/keys, passphrase dev)\n";
  }
  if (a.init_only) return kExitOk;
  // Which nodes does this folder hold?
  std::vector<fs::path> configs;
  for (unsigned k = 1;; ++k) {
    fs::path c = fs::path(a.dir) / ("node" + std::to_string(k)) / "medchaind.toml";
    if (!fs::exists(c)) break;
    configs.push_back(c);
  }
  if (configs.size() != a.nodes) {
    std::cerr << "note: " << a.dir << " holds " << configs.size() << " nodes; starting them all\n";
  }
  // Signals: handled here by sigwait, and passed on to the children.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGCHLD);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  std::string daemon = SiblingBinary("medchaind");
  std::vector<pid_t> pids;
  for (const auto& c : configs) {
    pid_t pid = fork();
    if (pid == 0) {
      sigset_t none;
      sigemptyset(&none);
      pthread_sigmask(SIG_SETMASK, &none, nullptr);
      // A node does not outlive its devnet: if devnet dies without passing
      // the signal on (SIGKILL), the kernel sends the node SIGTERM.
      prctl(PR_SET_PDEATHSIG, SIGTERM);
      if (getppid() == 1) _exit(0);  // devnet already gone before prctl
      setenv("MEDCHAIN_PASSPHRASE", "dev", 0);
      execl(daemon.c_str(), "medchaind", "--config", c.c_str(), static_cast<char*>(nullptr));
      std::perror(("exec " + daemon).c_str());
      _exit(127);
    }
    if (pid < 0) return Fail("fork failed");
    pids.push_back(pid);
  }
  for (size_t k = 0; k < configs.size(); ++k) {
    auto cfg = node::LoadConfig(configs[k].string());
    std::cout << "node" << (k + 1) << "  " << (cfg.ok() ? cfg->public_url : "?") << "  pid "
              << pids[k] << "\n";
  }
  std::cout << "devnet running; Ctrl-C or SIGTERM stops every node" << std::endl;
  size_t alive = pids.size();
  bool stopping = false;
  while (alive > 0) {
    int sig = 0;
    sigwait(&set, &sig);
    if (sig == SIGCHLD) {
      int status = 0;
      pid_t pid;
      while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        for (auto& p : pids) {
          if (p == pid) {
            p = -1;
            --alive;
            if (!stopping)
              std::cerr << "a node exited (pid " << pid << ", status " << status << ")\n";
          }
        }
      }
      continue;
    }
    if (!stopping) {
      stopping = true;
      std::cerr << "stopping " << alive << " nodes\n";
      for (pid_t p : pids) {
        if (p > 0) kill(p, SIGTERM);
      }
    }
  }
  return kExitOk;
}

CommandGroup g_devnet("devnet", [](CLI::App& app, ExitCode& rc) {
  auto a = std::make_shared<DevnetArgs>();
  auto* c =
      app.add_subcommand("devnet", "Run a local Raft cluster of medchaind nodes on 127.0.0.1");
  c->add_option("--nodes", a->nodes, "number of nodes (default 3)");
  c->add_option("--dir", a->dir, "cluster folder (default ./medchain-devnet)");
  c->add_option("--base-port", a->base_port,
                "API port of node 1; node k uses base+k-1 (default 7070)");
  c->add_option("--raft-base-port", a->raft_base_port,
                "Raft port of node 1 (default base-port + 10000)");
  c->add_option("--api-ports", a->api_ports,
                "explicit API ports of nodes 1..N, comma-separated (instead of --base-port)")
      ->delimiter(',');
  c->add_option("--raft-ports", a->raft_ports,
                "explicit Raft ports of nodes 1..N, comma-separated (instead of --raft-base-port)")
      ->delimiter(',');
  c->add_flag("--fast-kdf", a->fast_kdf, "minimum Argon2id cost for the generated keys (tests)");
  c->add_flag("--init-only", a->init_only,
              "create the cluster folder (genesis, keys, configs) and exit without starting it");
  c->callback([a, &rc] { rc = Run(*a); });
});

}  // namespace
}  // namespace medchain::cli
