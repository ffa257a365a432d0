// Copyright (c) medchain developers.
// records_bench: record writes/s (4 KiB records) and audited reads/s on one
// node, durable (fsync per block), over real HTTP on 127.0.0.1.
//
// It starts a node in-process on a fresh folder, registers an organisation's
// custodian and patients, then
//   1. writes N encrypted 4 KiB records with C concurrent clients (each write
//      is sealed client-side, submitted and waited for until committed);
//   2. reads them back with C concurrent clients: each read is a signed
//      request whose access event commits before the ciphertext is released,
//      then decrypted client-side.
// Usage: records_bench [--records N] [--reads N] [--concurrency C] [--dir DIR]
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <thread>
#include <vector>

#include "cli/client.h"
#include "cli/records.h"
#include "medchain/node/config.h"
#include "medchain/node/node.h"

using namespace medchain;
using Clock = std::chrono::steady_clock;

namespace {

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

int Die(const std::string& what) {
  std::fprintf(stderr, "records_bench: %s\n", what.c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  size_t records = 2000, reads = 6000;
  unsigned concurrency = 64;
  std::string dir;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--records")
      records = std::stoul(argv[i + 1]);
    else if (a == "--reads")
      reads = std::stoul(argv[i + 1]);
    else if (a == "--concurrency")
      concurrency = static_cast<unsigned>(std::stoul(argv[i + 1]));
    else if (a == "--dir")
      dir = argv[i + 1];
  }
  namespace fs = std::filesystem;
  bool temp = dir.empty();
  if (temp)
    dir = (fs::temp_directory_path() / ("medchain-records-bench-" + std::to_string(getpid())))
              .string();
  fs::remove_all(dir);

  node::InitOptions init;
  init.dir = dir;
  init.organisations = {"bench-hospital"};
  init.passphrase = "bench";
  init.fast_kdf = true;
  init.base_port = 0;
  if (Status s = node::InitNetwork(init); !s.ok()) return Die(s.ToString());
  auto config = node::LoadConfig(dir + "/node1/medchaind.toml");
  if (!config.ok()) return Die(config.status().ToString());
  config->listen = "127.0.0.1:0";
  config->http_threads = std::max(64u, 2 * concurrency);
  auto n = node::Node::Start(*config);
  if (!n.ok()) return Die(n.status().ToString());
  std::string url = (*n)->url();

  auto org = crypto::ReadKeyFile(dir + "/keys/bench-hospital.key", "bench");
  if (!org.ok()) return Die(org.status().ToString());
  // One patient per client thread, so threads do not contend on one patient.
  std::vector<crypto::KeyMaterial> patients;
  {
    cli::NodeClient c(url);
    for (unsigned t = 0; t < concurrency; ++t) {
      std::string id = "bench-pat-" + std::to_string(t);
      patients.push_back(crypto::KeyMaterial::Generate(id, id));
      ledger::RegisterParticipant r;
      r.id = id;
      r.role = ledger::Role::kPatient;
      r.sign_key = patients.back().signing.public_key();
      r.box_key = patients.back().encryption.public_key();
      auto tx = cli::MakeTx(*org, ledger::TxType::kRegisterParticipant, ledger::EncodeBody(r));
      auto out = c.Submit(*tx, nullptr, false);
      if (!out.ok()) return Die(out.status().ToString());
    }
    // Wait until the last one committed.
    for (int i = 0;
         i < 200 &&
         !c.GetJson("/v1/participants/bench-pat-" + std::to_string(concurrency - 1)).ok();
         ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }

  Bytes content(4096);
  for (size_t i = 0; i < content.size(); ++i) content[i] = static_cast<uint8_t>('a' + i % 26);
  std::vector<std::vector<std::string>> ids(concurrency);
  std::vector<std::vector<double>> lat(concurrency);
  std::atomic<size_t> next{0}, failures{0};
  auto t0 = Clock::now();
  {
    std::vector<std::thread> threads;
    for (unsigned t = 0; t < concurrency; ++t) {
      threads.emplace_back([&, t] {
        cli::NodeClient c(url);
        std::string patient = "bench-pat-" + std::to_string(t);
        while (next.fetch_add(1) < records) {
          std::string id = cli::NewRecordId();
          auto start = Clock::now();
          auto recipients = std::map<std::string, crypto::BoxPublicKey>{
              {patient, patients[t].encryption.public_key()},
              {"bench-hospital", org->encryption.public_key()}};
          auto sealed = cli::SealRecord(id, patient, "Observation", 1, Hash{}, content, recipients);
          if (!sealed.ok()) {
            failures++;
            continue;
          }
          auto tx = cli::MakeTx(*org, ledger::TxType::kPutRecord, ledger::EncodeBody(sealed->body));
          auto out = c.Submit(*tx, &sealed->sidecar, true);
          if (!out.ok() || (*out)["result"].value("code", "") != "ok") {
            failures++;
            continue;
          }
          lat[t].push_back(std::chrono::duration<double, std::milli>(Clock::now() - start).count());
          ids[t].push_back(id);
        }
      });
    }
    for (auto& th : threads) th.join();
  }
  double write_s = std::chrono::duration<double>(Clock::now() - t0).count();
  std::vector<double> wl;
  size_t written = 0;
  for (unsigned t = 0; t < concurrency; ++t) {
    wl.insert(wl.end(), lat[t].begin(), lat[t].end());
    written += ids[t].size();
    lat[t].clear();
  }
  std::printf(
      "record writes (4 KiB, sealed client-side, committed): %zu in %.2f s = %.0f writes/s, p50 "
      "%.1f ms, p99 %.1f ms, failures %zu\n",
      written, write_s, static_cast<double>(written) / write_s, Percentile(wl, 0.5),
      Percentile(wl, 0.99), failures.load());

  next = 0;
  failures = 0;
  t0 = Clock::now();
  {
    std::vector<std::thread> threads;
    for (unsigned t = 0; t < concurrency; ++t) {
      threads.emplace_back([&, t] {
        cli::NodeClient c(url);
        size_t k = 0;
        while (next.fetch_add(1) < reads) {
          if (ids[t].empty()) break;
          const std::string& id = ids[t][k++ % ids[t].size()];
          auto start = Clock::now();
          ledger::ReadRecord r;
          r.record_id = id;
          r.purpose = "treatment";
          auto out = c.ReadRecords(
              *cli::MakeTx(patients[t], ledger::TxType::kReadRecord, ledger::EncodeBody(r)));
          if (!out.ok() || out->records.size() != 1 || !out->records[0].wrapped_key) {
            failures++;
            continue;
          }
          const auto& rec = out->records[0];
          auto dk = cli::OpenDataKey(patients[t], *rec.wrapped_key);
          auto plain = dk.ok() ? cli::OpenRecord(*dk, rec.ciphertext, id, 1,
                                                 "bench-pat-" + std::to_string(t), nullptr)
                               : Result<Bytes>(dk.status());
          if (!plain.ok() || plain->size() != content.size()) {
            failures++;
            continue;
          }
          lat[t].push_back(std::chrono::duration<double, std::milli>(Clock::now() - start).count());
        }
      });
    }
    for (auto& th : threads) th.join();
  }
  double read_s = std::chrono::duration<double>(Clock::now() - t0).count();
  std::vector<double> rl;
  for (auto& v : lat) rl.insert(rl.end(), v.begin(), v.end());
  std::printf(
      "audited reads (access event committed, then decrypted): %zu in %.2f s = %.0f reads/s, p50 "
      "%.1f ms, p99 %.1f ms, failures %zu\n",
      rl.size(), read_s, static_cast<double>(rl.size()) / read_s, Percentile(rl, 0.5),
      Percentile(rl, 0.99), failures.load());
  std::printf("concurrency %u, machine: %u cores\n", concurrency,
              std::thread::hardware_concurrency());
  (*n)->Stop();
  if (temp) fs::remove_all(dir);
  return failures.load() == 0 ? 0 : 1;
}
