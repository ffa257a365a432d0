// Copyright (c) medchain developers.
// medchain fhir import|export|diff|validate (docs/fhir.md, "Import and export").
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <future>
#include <iomanip>
#include <iostream>
#include <mutex>
#include <sstream>
#include <thread>
#include <vector>

#include "cli/client.h"
#include "cli/command.h"
#include "cli/fhir_client.h"
#include "medchain/fhir/outcome.h"
#include "medchain/fhir/validate.h"

namespace medchain::cli {
namespace {

struct FhirArgs {
  std::string node = DefaultNodeUrl();
  std::string key;
  std::vector<std::string> bundles;
  unsigned parallel = 4;
  std::string patient_key_out;
  std::string patient;
  std::string out;
  std::string purpose = "export";
  std::string definitions;
  std::vector<std::string> files;
  unsigned concurrency = 64;
  unsigned batch = 32;
  bool json = false;
  bool fast_kdf = false;
};

Result<Json> ReadJsonFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::NotFound("cannot read " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  fhir::ValidationLimits limits;
  limits.max_bytes = 512u << 20;
  limits.max_depth = 80;
  auto j = fhir::ParseJson(ss.str(), limits);
  if (!j.ok()) return j.status().Prefixed(path);
  return j;
}

std::string Rate(size_t n, double seconds) {
  std::ostringstream o;
  o << std::fixed << std::setprecision(0) << (seconds > 0 ? n / seconds : 0.0);
  return o.str();
}

// Prints one bundle's human report to `out`.
void PrintImportReport(std::ostream& out, const std::string& bundle, const std::string& key_out,
                       const ImportReport& report) {
  out << "imported " << bundle << " as patient " << report.patient << ": " << report.written
      << " written, " << report.refused << " refused in " << std::fixed << std::setprecision(2)
      << report.seconds << " s (" << Rate(report.written, report.seconds) << " resources/s)\n"
      << "the patient's key file: " << key_out
      << " (hand it to the patient; docs/fhir.md, \"Patient keys\")\n";
  out << "time:";
  for (const auto& [phase, s] : report.phases) out << " " << phase << " " << s << " s;";
  out << "\n";
  out << "  " << std::left << std::setw(28) << "type" << std::right << std::setw(9) << "written"
      << std::setw(9) << "refused"
      << "\n";
  for (const auto& [type, c] : report.by_type) {
    out << "  " << std::left << std::setw(28) << type << std::right << std::setw(9) << c.written
        << std::setw(9) << c.refused << "\n";
  }
  for (const auto& r : report.refusals) {
    out << "refused: entry " << r.entry << " (" << (r.type.empty() ? "no resource" : r.type)
        << "): " << r.reason << "\n";
  }
  for (const auto& w : report.warnings) out << "warning: " << w << "\n";
}

int Import(const FhirArgs& a) {
  if (a.bundles.empty()) return Fail("--bundle is required", kExitUsage);
  if (a.bundles.size() > 1 && !a.patient_key_out.empty()) {
    return Fail(
        "--patient-key-out names one file: give it with a single --bundle (several "
        "bundles write BUNDLE.patient.key each)",
        kExitUsage);
  }
  if (Status s = CheckBatchSize(a.batch); !s.ok()) return Fail(s.message(), kExitUsage);
  // The definitions load (~0.25 s) while the key file's Argon2id runs.
  auto loading = std::async(std::launch::async, [&] { return LoadFhirDefinitions(a.definitions); });
  auto key = LoadKey(a.key);
  auto defs = loading.get();
  if (!defs.ok()) return Fail(defs.status().message(), kExitUsage);
  if (!key.ok()) return Fail(key.status().message(), kExitUsage);
  const std::string first_out =
      a.patient_key_out.empty() ? a.bundles[0] + ".patient.key" : a.patient_key_out;
  std::string passphrase;
  if (!ReadPassphrase("Passphrase for the patient's key file" +
                          std::string(a.bundles.size() > 1 ? "s" : " " + first_out) + ": ",
                      true, passphrase)) {
    return Fail("no passphrase for the patient's key file (set MEDCHAIN_PASSPHRASE)", kExitUsage);
  }
  // Several bundles: their patients' key files share one Argon2id run.
  crypto::KdfCache kdf_cache;
  const bool tty = ::isatty(STDERR_FILENO);
  const bool several = a.bundles.size() > 1;
  struct Outcome {
    Result<ImportReport> report = Status::Internal("not imported");
    std::string key_out;
  };
  std::vector<Outcome> outcomes(a.bundles.size());
  std::mutex print_mu;
  auto import_one = [&](size_t i) {
    ImportOptions o;
    o.node_url = a.node;
    o.bundle_path = a.bundles[i];
    o.custodian = &*key;
    o.patient_key_out = i == 0 ? first_out : a.bundles[i] + ".patient.key";
    o.patient_passphrase = passphrase;
    o.patient_kdf = a.fast_kdf ? crypto::KdfParams::Minimum() : crypto::KdfParams::Interactive();
    o.patient_kdf_cache = several ? &kdf_cache : nullptr;
    o.concurrency = std::max(1u, a.concurrency);
    o.batch = a.batch;
    if (tty && !several) {
      o.progress = [](size_t done, size_t total) {
        std::fprintf(stderr, "\rimporting: %zu / %zu resources", done, total);
        std::fflush(stderr);
      };
    }
    outcomes[i].report = ImportBundle(**defs, o);
    outcomes[i].key_out = o.patient_key_out;
    SecureZero(o.patient_passphrase);
    if (tty) {
      std::lock_guard lock(print_mu);
      if (several) {
        std::cerr << (outcomes[i].report.ok() ? "imported " : "failed ") << a.bundles[i] << "\n";
      } else {
        std::cerr << "\n";
      }
    }
  };
  std::atomic<size_t> next{0};
  std::vector<std::thread> workers;
  const size_t parallel = std::min<size_t>(std::max(1u, a.parallel), a.bundles.size());
  for (size_t w = 0; w < parallel; ++w) {
    workers.emplace_back([&] {
      for (size_t i = next++; i < a.bundles.size(); i = next++) import_one(i);
    });
  }
  for (auto& w : workers) w.join();
  SecureZero(passphrase);

  int rc = kExitOk;
  // The human report goes to stdout, or to stderr when stdout carries the JSON.
  std::ostream& out = a.json ? std::cerr : std::cout;
  for (size_t i = 0; i < outcomes.size(); ++i) {
    const auto& r = outcomes[i].report;
    if (!r.ok()) {
      const Code c = r.status().code();
      const bool usage =
          c == Code::kInvalidArgument || c == Code::kNotFound || c == Code::kAlreadyExists;
      std::cerr << "error: " << (several ? a.bundles[i] + ": " : "") << r.status().message()
                << "\n";
      rc = std::max(rc, static_cast<int>(usage ? kExitUsage : kExitFail));
      continue;
    }
    PrintImportReport(out, a.bundles[i], outcomes[i].key_out, *r);
    if (a.json) std::cout << r->ToJson().dump() << std::endl;
    if (r->refused != 0) rc = std::max(rc, static_cast<int>(kExitFail));
  }
  return rc;
}

int Export(const FhirArgs& a) {
  auto key = LoadKey(a.key);
  if (!key.ok()) return Fail(key.status().message(), kExitUsage);
  ExportOptions o;
  o.node_url = a.node;
  o.patient = a.patient;
  o.reader = &*key;
  o.purpose = a.purpose;
  auto report = ExportPatient(o);
  if (!report.ok()) return Fail(report.status().message());
  std::ofstream file(a.out, std::ios::binary | std::ios::trunc);
  if (!file) return Fail("cannot write " + a.out, kExitUsage);
  file << report->bundle.dump(1) << "\n";
  file.close();
  if (!file) return Fail("cannot write " + a.out, kExitUsage);
  for (const auto& p : report->problems) std::cerr << "not exported: " << p << "\n";
  std::cout << "exported " << report->exported << " resources of patient " << a.patient << " to "
            << a.out << "\n";
  for (const auto& [type, n] : report->by_type) {
    std::cout << "  " << std::left << std::setw(28) << type << std::right << std::setw(9) << n
              << "\n";
  }
  return report->exported > 0 ? kExitOk : kExitFail;
}

int Diff(const FhirArgs& a) {
  if (a.files.size() != 2) return Fail("give two bundle files", kExitUsage);
  auto defs = LoadFhirDefinitions(a.definitions);
  if (!defs.ok()) return Fail(defs.status().message(), kExitUsage);
  auto x = ReadJsonFile(a.files[0]);
  if (!x.ok()) return Fail(x.status().message(), kExitUsage);
  auto y = ReadJsonFile(a.files[1]);
  if (!y.ok()) return Fail(y.status().message(), kExitUsage);
  auto d = DiffBundles(**defs, *x, *y);
  if (!d.ok()) return Fail(d.status().message(), kExitUsage);
  if (d->differences.empty()) {
    std::cout << "equal: " << d->compared << " resources semantically equal\n";
    return kExitOk;
  }
  size_t shown = 0;
  for (const auto& diff : d->differences) {
    if (++shown > 20) break;
    std::cout << "differ: " << diff << "\n";
  }
  std::cout << d->differences.size() << " difference(s) in " << d->compared
            << " resources compared\n";
  return kExitFail;
}

int Validate(const FhirArgs& a) {
  auto defs = LoadFhirDefinitions(a.definitions);
  if (!defs.ok()) return Fail(defs.status().message(), kExitUsage);
  int rc = kExitOk;
  for (const auto& f : a.files) {
    auto j = ReadJsonFile(f);
    if (!j.ok()) return Fail(j.status().message(), kExitUsage);
    fhir::ValidationLimits limits;
    limits.max_bytes = 512u << 20;
    limits.max_depth = 80;
    auto issues = fhir::CheckResource(**defs, *j, limits);
    if (issues.empty()) {
      std::cout << f << ": valid " << j->value("resourceType", "") << "\n";
      continue;
    }
    rc = kExitFail;
    for (const auto& i : issues) std::cout << f << ": " << i.ToString() << "\n";
  }
  return rc;
}

CommandGroup g_fhir("fhir", [](CLI::App& app, ExitCode& rc) {
  auto a = std::make_shared<FhirArgs>();
  auto* fhir = app.add_subcommand("fhir", "FHIR R4 bundles: import, export, compare, validate")
                   ->require_subcommand(1);
  auto defs_opt = [a](CLI::App* c) {
    c->add_option("--definitions", a->definitions,
                  "folder of the FHIR R4 definitions (default: found from the executable)");
  };

  auto* imp =
      fhir->add_subcommand("import",
                           "Import patient Bundles (one patient each): register a new pseudonymous "
                           "patient (key file written "
                           "beside the bundle) and write every resource as an encrypted record");
  imp->add_option("--bundle", a->bundles,
                  "FHIR R4 Bundle (transaction, collection, searchset); repeat it to import "
                  "several, one patient each")
      ->required();
  imp->add_option("--parallel", a->parallel,
                  "with several bundles: how many are imported at once (default 4)");
  imp->add_option("--node", a->node, "node API URL");
  imp->add_option("--key", a->key, "the custodian organisation's key file")->required();
  imp->add_option("--patient-key-out", a->patient_key_out,
                  "the new patient's key file (default BUNDLE.patient.key; passphrase from "
                  "$MEDCHAIN_PASSPHRASE)");
  imp->add_option("--concurrency", a->concurrency, "requests in flight (default 64)");
  imp->add_option("--batch", a->batch,
                  "records per request (default 32; 1: one request per record)");
  imp->add_flag("--json", a->json,
                "end with one JSON object on stdout (one line per bundle, in the order given)");
  imp->add_flag("--fast-kdf", a->fast_kdf, "cheap Argon2id for the patient key (tests only)");
  defs_opt(imp);
  imp->callback([a, &rc] { rc = Import(*a); });

  auto* exp = fhir->add_subcommand(
      "export", "Export every record of a patient the key may read as a FHIR collection Bundle");
  exp->add_option("--patient", a->patient, "patient id")->required();
  exp->add_option("--node", a->node, "node API URL");
  exp->add_option("--key", a->key, "the reader's key file (patient, custodian, grantee)")
      ->required();
  exp->add_option("--out", a->out, "Bundle file to write")->required();
  exp->add_option("--purpose", a->purpose, "purpose of use recorded on the reads (default export)");
  exp->callback([a, &rc] { rc = Export(*a); });

  auto* diff = fhir->add_subcommand(
      "diff", "Compare two Bundles semantically (references may be renamed consistently)");
  diff->add_option("files", a->files, "bundle A and bundle B")->required()->expected(2);
  defs_opt(diff);
  diff->callback([a, &rc] { rc = Diff(*a); });

  auto* val = fhir->add_subcommand("validate", "Validate FHIR R4 resources (or Bundles)");
  val->add_option("files", a->files, "JSON files")->required();
  defs_opt(val);
  val->callback([a, &rc] { rc = Validate(*a); });
});

}  // namespace
}  // namespace medchain::cli
