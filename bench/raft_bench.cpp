// Copyright (c) medchain developers.
// raft_bench: commit throughput and latency of RaftNode with blocks as
// entries.
//
// Starts clusters of 1, 3 and 5 voters in this process on 127.0.0.1 (libraft's
// normal disk I/O: O_DSYNC/direct writes in a temp dir, production options),
// proposes `--entries` entries of `--size` bytes (default 64 KiB, like a block
// of ~300 transactions) with `--inflight` proposals outstanding, and prints
// entries/s, MB/s and p50/p99/max commit latency (Propose call to completion,
// i.e. committed and applied on the leader). All servers share this machine's
// cores and disk, so 3 and 5 voters here are pessimistic.
//
//   raft_bench [--entries N] [--size BYTES] [--inflight K[,K...]] [--voters N[,N...]]
//              [--snapshot-threshold N]
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "medchain/consensus/raft_node.h"

using namespace medchain;
using namespace medchain::consensus;
using Clock = std::chrono::steady_clock;

namespace {

int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    std::perror("bind");
    std::exit(1);
  }
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

// Counts entries; snapshots are a few bytes, as the node's will be.
class CountingMachine : public StateMachine {
 public:
  void Apply(uint64_t index, uint64_t, ByteView entry) override {
    m_applied.store(index);
    m_bytes += entry.size();
  }
  Bytes Snapshot(uint64_t index, uint64_t) override {
    m_snapshots++;
    Bytes b(16, 0);
    std::memcpy(b.data(), &index, sizeof(index));
    return b;
  }
  void Restore(uint64_t index, uint64_t, ByteView) override { m_applied.store(index); }
  void OnLeadershipChange(bool is_leader, uint64_t) override { m_leader.store(is_leader); }

  bool leader() const { return m_leader.load(); }
  uint64_t snapshots() const { return m_snapshots.load(); }

 private:
  std::atomic<uint64_t> m_applied{0};
  std::atomic<uint64_t> m_bytes{0};
  std::atomic<uint64_t> m_snapshots{0};
  std::atomic<bool> m_leader{false};
};

struct Row {
  int voters;
  int inflight;
  int entries;
  double seconds;
  double p50_ms, p99_ms, max_ms;
  uint64_t snapshots;
  double elect_ms;
  double failover_ms;  // leader stopped -> next leader told (after its barrier); 0 if n/a
};

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

Row Run(int voters, int inflight, int entries, size_t size, unsigned threshold) {
  std::string tmpl = (std::filesystem::temp_directory_path() / "mc_raft_bench_XXXXXX").string();
  if (mkdtemp(tmpl.data()) == nullptr) {
    std::perror("mkdtemp");
    std::exit(1);
  }
  std::vector<Peer> peers;
  for (int i = 0; i < voters; i++) {
    peers.push_back(Peer{static_cast<uint64_t>(i + 1), "127.0.0.1:" + std::to_string(FreePort())});
  }
  std::vector<std::unique_ptr<CountingMachine>> machines;
  std::vector<std::unique_ptr<RaftNode>> nodes;
  const auto t_start = Clock::now();
  for (int i = 0; i < voters; i++) {
    RaftOptions o;  // production defaults: 1000/100 ms, pre-vote, 512/512, 64 MiB segments
    o.id = peers[i].id;
    o.address = peers[i].address;
    o.data_dir = tmpl + "/" + std::to_string(i + 1);
    o.bootstrap_voters = peers;
    if (threshold != 0) o.snapshot_threshold = threshold;
    machines.push_back(std::make_unique<CountingMachine>());
    auto node = RaftNode::Start(o, machines.back().get());
    if (!node.ok()) {
      std::fprintf(stderr, "start: %s\n", node.status().ToString().c_str());
      std::exit(1);
    }
    nodes.push_back(std::move(node).value());
  }
  int leader = -1;
  while (leader < 0) {
    for (int i = 0; i < voters; i++) {
      if (machines[i]->leader()) leader = i;
    }
    if (Clock::now() - t_start > std::chrono::seconds(30)) {
      std::fprintf(stderr, "no leader after 30 s\n");
      std::exit(1);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  const double elect_ms = std::chrono::duration<double, std::milli>(Clock::now() - t_start).count();

  Bytes payload(size);
  for (size_t i = 0; i < size; i++) payload[i] = static_cast<uint8_t>(i * 131 + 7);

  std::mutex mu;
  std::condition_variable cv;
  int outstanding = 0;
  int failed = 0;
  std::vector<double> latencies;
  latencies.reserve(entries);

  auto propose_all = [&](int count, bool record) {
    for (int i = 0; i < count; i++) {
      {
        std::unique_lock<std::mutex> l(mu);
        cv.wait(l, [&] { return outstanding < inflight; });
        outstanding++;
      }
      const auto t0 = Clock::now();
      nodes[leader]->Propose(payload, [&, t0, record](Status st, uint64_t) {
        double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
        std::lock_guard<std::mutex> l(mu);
        if (!st.ok()) {
          failed++;
          std::fprintf(stderr, "propose: %s\n", st.ToString().c_str());
        } else if (record) {
          latencies.push_back(ms);
        }
        outstanding--;
        cv.notify_all();
      });
    }
    std::unique_lock<std::mutex> l(mu);
    cv.wait(l, [&] { return outstanding == 0; });
  };

  propose_all(std::min(50, entries), false);  // warm-up: connections, first segment
  const auto t0 = Clock::now();
  propose_all(entries, true);
  const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();

  Row row{voters,
          inflight,
          entries - failed,
          seconds,
          Percentile(latencies, 0.50),
          Percentile(latencies, 0.99),
          latencies.empty() ? 0 : *std::max_element(latencies.begin(), latencies.end()),
          machines[leader]->snapshots(),
          elect_ms,
          0};
  if (voters >= 3) {
    // Planned stop of the leader (clean close, as on kill -9 the followers
    // only notice the silence): time until a survivor may cut blocks.
    const auto t_stop = Clock::now();
    nodes[leader]->Stop();
    for (bool found = false; !found;) {
      for (int i = 0; i < voters; i++) found |= i != leader && machines[i]->leader();
      if (Clock::now() - t_stop > std::chrono::seconds(30)) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    row.failover_ms = std::chrono::duration<double, std::milli>(Clock::now() - t_stop).count();
  }
  for (auto& n : nodes) n->Stop();
  nodes.clear();
  std::filesystem::remove_all(tmpl);
  return row;
}

std::vector<int> ParseList(const char* s) {
  std::vector<int> out;
  std::string str(s);
  size_t pos = 0;
  while (pos <= str.size()) {
    size_t comma = str.find(',', pos);
    if (comma == std::string::npos) comma = str.size();
    out.push_back(std::atoi(str.substr(pos, comma - pos).c_str()));
    pos = comma + 1;
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  int entries = 2000;
  size_t size = 64 * 1024;
  std::vector<int> inflight = {1, 16};
  std::vector<int> voters = {1, 3, 5};
  unsigned threshold = 0;  // 0: RaftOptions' default
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    if (flag == "--entries") {
      entries = std::atoi(argv[i + 1]);
    } else if (flag == "--size") {
      size = static_cast<size_t>(std::atol(argv[i + 1]));
    } else if (flag == "--inflight") {
      inflight = ParseList(argv[i + 1]);
    } else if (flag == "--voters") {
      voters = ParseList(argv[i + 1]);
    } else if (flag == "--snapshot-threshold") {
      threshold = static_cast<unsigned>(std::atol(argv[i + 1]));
    } else {
      std::fprintf(stderr,
                   "usage: %s [--entries N] [--size BYTES] [--inflight K,..] [--voters N,..] "
                   "[--snapshot-threshold N]\n",
                   argv[0]);
      return 2;
    }
  }
  if (entries <= 0 || size == 0) return 2;

  std::printf("raft_bench: %d entries of %zu bytes per run, fsync on, %s\n", entries, size,
              std::filesystem::temp_directory_path().c_str());
  std::printf("%7s %8s %9s %8s %9s %9s %9s %9s %9s %11s\n", "voters", "inflight", "entries/s",
              "MB/s", "p50 ms", "p99 ms", "max ms", "snapshots", "elect ms", "failover ms");
  for (int n : voters) {
    for (int k : inflight) {
      Row r = Run(n, k, entries, size, threshold);
      double eps = r.entries / r.seconds;
      std::printf("%7d %8d %9.0f %8.1f %9.2f %9.2f %9.2f %9llu %9.0f %11.0f\n", r.voters,
                  r.inflight, eps, eps * static_cast<double>(size) / 1e6, r.p50_ms, r.p99_ms,
                  r.max_ms, static_cast<unsigned long long>(r.snapshots), r.elect_ms,
                  r.failover_ms);
      std::fflush(stdout);
    }
  }
  return 0;
}
