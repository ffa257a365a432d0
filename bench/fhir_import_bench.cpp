// Copyright (c) medchain developers.
// fhir_import_bench: FHIR resources imported per second from the Synthea
// bundles, and FHIR reads per second through the node's facade (docs/fhir.md,
// docs/benchmarks.md "FHIR").
//
// It starts a node in-process on a fresh folder (fsync on every block, the
// FHIR facade on, acting for the network's organisation), or uses a running
// `medchaind --dev` (--node URL --dev-dir DIR: its keys, passphrase "dev"
// unless $MEDCHAIN_PASSPHRASE, and DIR/fhir-token), then
//   1. imports every bundle of --bundles (default ../shared/testdata/fhir/
//      synthea) with the library behind `medchain fhir import`, one bundle at
//      a time, then --parallel bundles at once; each import registers a new
//      patient (key file with the default Argon2id cost unless --fast-kdf),
//      validates every resource, and writes each one as an encrypted record,
//      --concurrency submissions in flight, each waited for until committed;
//   2. reads --reads of the imported resources back through the facade
//      (GET /fhir/r4/{type}/{id}, --read-concurrency clients): each read is a
//      signed read request whose access event is committed before the record
//      is decrypted;
//   3. times Patient/$everything of each imported patient.
// A third import pass seals and signs every record of a bundle before
// submitting the first (ImportOptions::seal_first), to time the node's side
// (submission, verification, ordering, apply, fsync) apart from the client's.
// What `medchain fhir import` adds per invocation (loading the definitions
// and the custodian's key file) is measured once and printed apart.
//
// Usage: fhir_import_bench [--bundles DIR] [--rounds N] [--parallel P]
//          [--concurrency C] [--batch B] [--reads N] [--read-concurrency C] [--fast-kdf]
//          [--kdf-per-patient] [--node URL --dev-dir DIR] [--dir DIR]
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include <httplib.h>

#include "cli/client.h"
#include "cli/fhir_client.h"
#include "medchain/node/config.h"
#include "medchain/node/node.h"

using namespace medchain;
using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

namespace {

double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

// CPU seconds of this process so far (user + system).
double CpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

int Die(const std::string& what) {
  std::fprintf(stderr, "fhir_import_bench: %s\n", what.c_str());
  return 1;
}

// ../shared/testdata/fhir/synthea: $MEDCHAIN_TESTDATA, else found from the
// executable's folder upward (build/bin -> the repository -> ../shared).
std::string DefaultBundles() {
  if (const char* env = std::getenv("MEDCHAIN_TESTDATA")) {
    return std::string(env) + "/fhir/synthea";
  }
  std::error_code ec;
  fs::path p = fs::read_symlink("/proc/self/exe", ec).parent_path();
  for (; !p.empty() && p != p.root_path(); p = p.parent_path()) {
    if (fs::is_directory(p / "shared/testdata/fhir/synthea")) {
      return (p / "shared/testdata/fhir/synthea").string();
    }
  }
  return "../shared/testdata/fhir/synthea";
}

struct Imported {
  std::string patient;
  std::vector<std::pair<std::string, std::string>> records;  // type, id
};

}  // namespace

int main(int argc, char** argv) {
  std::string bundles_dir = DefaultBundles();
  std::string node_url, dev_dir, dir;
  unsigned rounds = 1, parallel = 4, concurrency = 64, read_concurrency = 64, batch = 32;
  size_t reads = 5000;
  bool fast_kdf = false;
  // Default: the imports share one crypto::KdfCache, as one importer process
  // (or the facade) does; --kdf-per-patient pays Argon2id for every patient,
  // as one `medchain fhir import` process per bundle does.
  bool own_kdf_per_patient = false;
  crypto::KdfCache kdf_cache;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (a == "--bundles") {
      bundles_dir = next();
    } else if (a == "--rounds") {
      rounds = static_cast<unsigned>(std::stoul(next()));
    } else if (a == "--parallel") {
      parallel = static_cast<unsigned>(std::stoul(next()));
    } else if (a == "--concurrency") {
      concurrency = static_cast<unsigned>(std::stoul(next()));
    } else if (a == "--batch") {
      batch = static_cast<unsigned>(std::stoul(next()));
    } else if (a == "--reads") {
      reads = std::stoul(next());
    } else if (a == "--read-concurrency") {
      read_concurrency = static_cast<unsigned>(std::stoul(next()));
    } else if (a == "--fast-kdf") {
      fast_kdf = true;
    } else if (a == "--kdf-per-patient") {
      own_kdf_per_patient = true;
    } else if (a == "--node") {
      node_url = next();
    } else if (a == "--dev-dir") {
      dev_dir = next();
    } else if (a == "--dir") {
      dir = next();
    } else {
      return Die("unknown argument " + a);
    }
  }
  std::vector<std::string> bundles;
  for (const auto& e : fs::directory_iterator(bundles_dir)) {
    if (e.path().extension() == ".json") bundles.push_back(e.path().string());
  }
  std::sort(bundles.begin(), bundles.end());
  if (bundles.empty()) return Die("no bundles in " + bundles_dir);

  // The node: in-process on a fresh network, or a running dev node.
  std::unique_ptr<node::Node> own;
  std::string key_file, passphrase, token;
  bool temp = false;
  if (node_url.empty()) {
    temp = dir.empty();
    if (temp) {
      dir = (fs::temp_directory_path() / ("medchain-fhir-bench-" + std::to_string(getpid())))
                .string();
    }
    fs::remove_all(dir);
    node::InitOptions init;
    init.dir = dir;
    init.organisations = {"bench-hospital"};
    init.passphrase = passphrase = "bench";
    init.fast_kdf = true;
    init.base_port = 0;
    if (Status s = node::InitNetwork(init); !s.ok()) return Die(s.ToString());
    auto config = node::LoadConfig(dir + "/node1/medchaind.toml");
    if (!config.ok()) return Die(config.status().ToString());
    config->listen = "127.0.0.1:0";
    config->http_threads = std::max(256u, 2 * (concurrency * parallel + read_concurrency));
    config->fhir_token = token = "bench-token-0123456789abcdef0123456789";
    auto n = node::Node::Start(*config);
    if (!n.ok()) return Die(n.status().ToString());
    own = std::move(*n);
    node_url = own->url();
    key_file = dir + "/keys/bench-hospital.key";
  } else {
    if (dev_dir.empty()) return Die("--node needs --dev-dir (keys and fhir-token)");
    const char* env = std::getenv("MEDCHAIN_PASSPHRASE");
    passphrase = env ? env : "dev";
    key_file = dev_dir + "/keys/dev-hospital.key";
    std::ifstream in(dev_dir + "/fhir-token");
    std::getline(in, token);
    dir =
        (fs::temp_directory_path() / ("medchain-fhir-bench-" + std::to_string(getpid()))).string();
    fs::create_directories(dir);
    temp = true;
  }

  // What one `medchain fhir import` pays before its first resource.
  auto t = Clock::now();
  auto defs = cli::LoadFhirDefinitions("");
  if (!defs.ok()) return Die(defs.status().ToString());
  const double defs_s = Seconds(t);
  t = Clock::now();
  auto custodian = crypto::ReadKeyFile(key_file, passphrase);
  if (!custodian.ok()) return Die(custodian.status().ToString());
  const double key_s = Seconds(t);
  std::printf("node %s; %zu bundles in %s\n", node_url.c_str(), bundles.size(),
              bundles_dir.c_str());
  std::printf(
      "per `medchain fhir import` invocation: definitions %.2f s, custodian key file %.2f s "
      "(its Argon2id cost)\n",
      defs_s, key_s);

  std::vector<Imported> imported;
  std::mutex mu;
  size_t serial = 0;
  auto import_all = [&](unsigned at_once, const char* label, bool seal_first = false) {
    std::atomic<size_t> next{0}, resources{0}, refused{0};
    std::atomic<double> submit_s{0};
    std::atomic<size_t> submitted{0};
    std::atomic<bool> failed{false};
    std::vector<std::pair<std::string, double>> phase_s;  // guarded by mu
    const double cpu0 = CpuSeconds();
    auto start = Clock::now();
    std::vector<std::thread> threads;
    for (unsigned w = 0; w < std::max(1u, at_once); ++w) {
      threads.emplace_back([&] {
        for (size_t b = next++; b < bundles.size(); b = next++) {
          cli::ImportOptions o;
          o.node_url = node_url;
          o.bundle_path = bundles[b];
          o.custodian = &*custodian;
          {
            std::lock_guard lock(mu);
            o.patient_key_out = dir + "/patient-" + std::to_string(serial++) + ".key";
          }
          o.patient_passphrase = "bench";
          o.patient_kdf =
              fast_kdf ? crypto::KdfParams::Minimum() : crypto::KdfParams::Interactive();
          if (!own_kdf_per_patient) o.patient_kdf_cache = &kdf_cache;
          o.concurrency = concurrency;
          o.batch = batch;
          o.seal_first = seal_first;
          auto r = cli::ImportBundle(**defs, o);
          if (!r.ok()) {
            std::fprintf(stderr, "import of %s failed: %s\n", bundles[b].c_str(),
                         r.status().ToString().c_str());
            failed = true;
            continue;
          }
          resources += r->written;
          refused += r->refused;
          for (const auto& [phase, secs] : r->phases) {
            if (phase == "records") submit_s = submit_s + secs;
            std::lock_guard lock(mu);
            auto it = std::find_if(phase_s.begin(), phase_s.end(),
                                   [&](const auto& p) { return p.first == phase; });
            if (it == phase_s.end()) it = phase_s.insert(it, {phase, 0.0});
            it->second += secs;
          }
          submitted += r->written - 1;  // the Patient is written before the phase
          Imported im{r->patient, {}};
          cli::NodeClient c(node_url);
          auto recs = c.GetJson("/v1/patients/" + r->patient + "/records");
          if (recs.ok()) {
            for (const auto& x : (*recs)["records"]) {
              im.records.emplace_back(x.value("type", ""), x.value("record_id", ""));
            }
          }
          std::lock_guard lock(mu);
          imported.push_back(std::move(im));
        }
      });
    }
    for (auto& th : threads) th.join();
    const double s = Seconds(start);
    std::printf(
        "import, %s: %zu resources (%zu refused) in %.2f s = %.0f resources/s; this process "
        "(client%s) %.0f us CPU per resource\n",
        label, resources.load(), refused.load(), s, static_cast<double>(resources) / s,
        own ? " and node" : "", 1e6 * (CpuSeconds() - cpu0) / std::max<double>(1, resources));
    std::string phases;
    for (const auto& [phase, secs] : phase_s) {
      phases += (phases.empty() ? "" : ", ") + phase + " " + std::to_string(secs).substr(0, 5);
    }
    std::printf("  time per phase, summed over the bundles (s): %s\n", phases.c_str());
    if (seal_first) {
      std::printf(
          "  of which submitting the sealed, signed records (node side and HTTP): %zu in %.2f s = "
          "%.0f records/s\n",
          submitted.load(), submit_s.load(), static_cast<double>(submitted) / submit_s.load());
    }
    return !failed;
  };
  for (unsigned r = 0; r < rounds; ++r) {
    if (!import_all(1, "one bundle at a time")) return Die("an import failed");
    if (parallel > 1) {
      std::string label = std::to_string(parallel) + " bundles at once";
      if (!import_all(parallel, label.c_str())) return Die("an import failed");
    }
    if (!import_all(1, "one bundle at a time, all records sealed before the first submission",
                    true)) {
      return Die("an import failed");
    }
  }

  if (reads == 0) {  // imports only
    if (own) own->Stop();
    if (temp) fs::remove_all(dir);
    return 0;
  }
  // Reads through the facade.
  std::vector<std::pair<std::string, std::string>> targets;
  for (const auto& im : imported) {
    targets.insert(targets.end(), im.records.begin(), im.records.end());
  }
  std::vector<std::vector<double>> lat(read_concurrency);
  std::atomic<size_t> next{0}, failures{0};
  const double cpu0 = CpuSeconds();
  auto start = Clock::now();
  {
    std::vector<std::thread> threads;
    for (unsigned w = 0; w < read_concurrency; ++w) {
      threads.emplace_back([&, w] {
        httplib::Client c(node_url);
        c.set_keep_alive(true);
        c.set_tcp_nodelay(true);
        c.set_read_timeout(60, 0);
        httplib::Headers h = {{"Authorization", "Bearer " + token}};
        for (size_t k = next++; k < reads; k = next++) {
          const auto& [type, id] = targets[(k * 7919) % targets.size()];
          auto t0 = Clock::now();
          auto res = c.Get(("/fhir/r4/" + type + "/" + id).c_str(), h);
          if (!res || res->status != 200 || res->body.find(id) == std::string::npos) {
            failures++;
            continue;
          }
          lat[w].push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
        }
      });
    }
    for (auto& th : threads) th.join();
  }
  const double read_s = Seconds(start);
  std::vector<double> all;
  for (auto& v : lat) all.insert(all.end(), v.begin(), v.end());
  std::printf(
      "facade reads (GET /fhir/r4/{type}/{id}, %u clients, access event committed first): %zu in "
      "%.2f s = %.0f reads/s, p50 %.1f ms, p99 %.1f ms, failures %zu%s\n",
      read_concurrency, all.size(), read_s, static_cast<double>(all.size()) / read_s,
      Percentile(all, 0.5), Percentile(all, 0.99), failures.load(), own ? "" : "");
  if (own) {
    std::printf("  (client and node in this process: %.0f us CPU per read)\n",
                1e6 * (CpuSeconds() - cpu0) / std::max<double>(1, static_cast<double>(all.size())));
  }

  // $everything of each patient (one audited read per record type).
  std::vector<double> ev;
  size_t ev_resources = 0;
  {
    httplib::Client c(node_url);
    c.set_read_timeout(60, 0);
    httplib::Headers h = {{"Authorization", "Bearer " + token}};
    for (size_t i = 0; i < imported.size() && i < bundles.size(); ++i) {
      auto t0 = Clock::now();
      auto res = c.Get(("/fhir/r4/Patient/" + imported[i].patient + "/$everything").c_str(), h);
      if (!res || res->status != 200) {
        failures++;
        continue;
      }
      ev.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
      ev_resources += imported[i].records.size();
    }
  }
  double ev_total = 0;
  for (double x : ev) ev_total += x;
  std::printf(
      "Patient/$everything: %zu patients, %zu resources, p50 %.0f ms, max %.0f ms (%.0f "
      "resources/s)\n",
      ev.size(), ev_resources, Percentile(ev, 0.5), Percentile(ev, 1.0),
      ev_total > 0 ? 1000.0 * static_cast<double>(ev_resources) / ev_total : 0.0);

  if (own) own->Stop();
  if (temp) fs::remove_all(dir);
  return failures ? 1 : 0;
}
