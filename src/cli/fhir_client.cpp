// Copyright (c) medchain developers.
#include "cli/fhir_client.h"

#include <sodium.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <future>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>
#include <unordered_map>

#include "cli/records.h"
#include "medchain/fhir/bundle.h"
#include "medchain/fhir/compartment.h"
#include "medchain/fhir/datetime.h"
#include "medchain/fhir/references.h"
#include "medchain/fhir/validate.h"

namespace medchain::cli {

namespace fs = std::filesystem;

namespace {

using Clock = std::chrono::steady_clock;

// Bundles are bigger and a little deeper than the resources they hold
// (docs/fhir.md, "Notes for the facade and the CLI").
fhir::ValidationLimits BundleLimits() {
  fhir::ValidationLimits l;
  l.max_bytes = 512u << 20;
  l.max_depth = 80;
  return l;
}

// Runs fn(i) for i in [0, n) on up to `threads` threads.
void ParallelFor(size_t n, unsigned threads, const std::function<void(size_t)>& fn) {
  threads = std::max(1u, std::min<unsigned>(threads, static_cast<unsigned>(n)));
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t i = next++; i < n; i = next++) fn(i);
  };
  std::vector<std::thread> pool;
  for (unsigned t = 1; t < threads; ++t) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
}

// A compartment link's expression as an element path: the search
// parameter's FHIRPath without its filters ("Condition.subject.where(resolve()
// is Patient)" -> "Condition.subject").
std::string ElementPath(std::string expression) {
  for (auto w = expression.find(".where("); w != std::string::npos;
       w = expression.find(".where(")) {
    size_t depth = 0, end = w + 7;
    for (depth = 1; end < expression.size() && depth > 0; ++end) {
      depth += expression[end] == '(';
      depth -= expression[end] == ')';
    }
    expression.erase(w, end - w);
  }
  return expression;
}

Result<std::string> ReadText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::NotFound("cannot read " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  if (!in && !in.eof()) return Status::IOError("cannot read " + path);
  return ss.str();
}

bool Retryable(const Status& s) {
  return s.code() == Code::kUnavailable || s.code() == Code::kTimeout ||
         s.code() == Code::kResourceExhausted;
}

// Sends (`send()`: a submission or a batch with ?wait=commit) again with the
// same bytes while the node is busy or restarting: submission is idempotent
// (docs/api.md). Up to 9 attempts, backing off from 50 ms to 1 s.
Result<Json> Retrying(const std::function<Result<Json>()>& send) {
  auto delay = std::chrono::milliseconds(50);
  for (int attempt = 0;; ++attempt) {
    auto out = send();
    if (out.ok() || !Retryable(out.status()) || attempt == 8) return out;
    std::this_thread::sleep_for(delay);
    delay = std::min(delay * 2, std::chrono::milliseconds(1000));
  }
}

Result<Json> SubmitRetrying(NodeClient& node, const ledger::Transaction& tx,
                            const ledger::Sidecar* sidecar) {
  return Retrying([&] { return node.Submit(tx, sidecar, true); });
}

std::string ResultReason(const Json& outcome) {
  const Json& r = outcome.contains("result") ? outcome["result"] : Json::object();
  return r.value("code", "") + ": " + r.value("reason", "");
}

bool ResultOk(const Json& outcome) {
  return outcome.contains("result") && outcome["result"].value("code", "") == "ok";
}

}  // namespace

Result<std::shared_ptr<const fhir::Definitions>> LoadFhirDefinitions(const std::string& dir) {
  std::optional<fs::path> found;
  if (!dir.empty()) {
    found = dir;
  } else {
    std::error_code ec;
    fs::path exe = fs::read_symlink("/proc/self/exe", ec);
    if (!ec) found = fhir::FindDefinitionsDirectory(exe.parent_path());
    if (!found) {
      fs::path cwd = fs::current_path(ec);
      if (!ec) found = fhir::FindDefinitionsDirectory(cwd);
    }
  }
  if (!found) {
    return Status::NotFound(
        "the FHIR R4 definitions are not installed: run scripts/fhir-definitions.sh, or give "
        "--definitions DIR (or set MEDCHAIN_FHIR_DEFINITIONS)");
  }
  return fhir::Definitions::LoadDirectory(*found);
}

std::string NewFhirId() {
  uint8_t b[16];
  randombytes_buf(b, sizeof b);
  b[6] = static_cast<uint8_t>((b[6] & 0x0f) | 0x40);  // version 4
  b[8] = static_cast<uint8_t>((b[8] & 0x3f) | 0x80);  // RFC 4122 variant
  std::string hex = ToHex(ByteView(b, sizeof b));
  return hex.substr(0, 8) + "-" + hex.substr(8, 4) + "-" + hex.substr(12, 4) + "-" +
         hex.substr(16, 4) + "-" + hex.substr(20);
}

nlohmann::ordered_json ImportReport::ToJson() const {
  nlohmann::ordered_json types = nlohmann::ordered_json::object();
  for (const auto& [type, c] : by_type) {
    types[type] = nlohmann::ordered_json{{"written", c.written}, {"refused", c.refused}};
  }
  return nlohmann::ordered_json{
      {"patient", patient}, {"written", written}, {"refused", refused}, {"by_type", types}};
}

// ---- Import ----

namespace {

// The recipients each record type needs, fetched once per type from the node
// (a fresh patient has no delegates or grants, but someone holding the
// patient's key could grant during the import: Invalidate() then refetches).
class RecipientCache {
 public:
  RecipientCache(std::string url, std::string patient, std::string writer)
      : m_url(std::move(url)), m_patient(std::move(patient)), m_writer(std::move(writer)) {}

  Result<std::map<std::string, crypto::BoxPublicKey>> Get(const std::string& type) {
    std::lock_guard lock(m_mu);
    auto it = m_cache.find(type);
    if (it != m_cache.end()) return it->second;
    if (m_fresh) return *m_fresh;
    NodeClient node(m_url);
    // Grants by record id cannot cover a record that does not exist yet.
    MC_ASSIGN_OR_RETURN(auto r, RequiredRecipients(node, m_patient, "", type, m_writer, m_writer));
    m_cache.emplace(type, r);
    return r;
  }
  void Invalidate(const std::string& type) {
    std::lock_guard lock(m_mu);
    m_cache.erase(type);
    m_fresh.reset();
  }
  // The patient was registered by this import just now: no delegates and no
  // grants yet (only the new key, held here, could add them), so every
  // record goes to the patient and the writer; no need to ask the node. A
  // record refused as "not wrapped for" someone invalidates this.
  void SetFreshPatient(std::map<std::string, crypto::BoxPublicKey> recipients) {
    std::lock_guard lock(m_mu);
    m_fresh = std::move(recipients);
  }

 private:
  const std::string m_url, m_patient, m_writer;
  std::mutex m_mu;
  std::map<std::string, std::map<std::string, crypto::BoxPublicKey>> m_cache;
  std::optional<std::map<std::string, crypto::BoxPublicKey>> m_fresh;
};

// One record, version 1, sealed and signed, ready to submit.
struct PreparedWrite {
  ledger::TransactionRef tx;
  ledger::Sidecar sidecar;
};

Result<PreparedWrite> Prepare(const crypto::KeyMaterial& key, RecipientCache& recipients,
                              const std::string& patient, const std::string& type,
                              const Json& resource) {
  MC_ASSIGN_OR_RETURN(auto recips, recipients.Get(type));
  const std::string content = resource.dump();
  MC_ASSIGN_OR_RETURN(auto sealed, SealRecord(resource.value("id", ""), patient, type, 1, Hash{},
                                              AsBytes(content), recips));
  auto tx = MakeTx(key, ledger::TxType::kPutRecord, ledger::EncodeBody(sealed.body));
  return PreparedWrite{std::move(tx), std::move(sealed.sidecar)};
}

// Writes one record (sealing it unless `ready` holds it sealed). Returns ""
// when written, else why not.
std::string WriteOne(NodeClient& node, const crypto::KeyMaterial& key, RecipientCache& recipients,
                     const std::string& patient, const std::string& type, const Json& resource,
                     std::optional<PreparedWrite> ready = std::nullopt) {
  for (int attempt = 0;; ++attempt) {
    if (!ready) {
      auto p = Prepare(key, recipients, patient, type, resource);
      if (!p.ok()) return "sealing: " + p.status().message();
      ready = std::move(*p);
    }
    auto out = SubmitRetrying(node, *ready->tx, &ready->sidecar);
    if (!out.ok()) return "the node: " + out.status().message();
    if (ResultOk(*out)) return "";
    std::string reason = ResultReason(*out);
    if (attempt == 0 && reason.find("not wrapped for") != std::string::npos) {
      recipients.Invalidate(type);  // a grant appeared meanwhile: seal again
      ready.reset();
      continue;
    }
    return "the ledger refused it (" + reason + ")";
  }
}

// Writes prepared records with one request per batch; returns one refusal
// ("" when written) per record. A record the node could not take yet (busy,
// a leader change) or that must be sealed again (a grant appeared) goes
// through WriteOne, which retries.
// `writes` pairs each prepared record with its bundle entry (the index into
// `types` and `bundle.entries`).
std::vector<std::string> WriteBatch(NodeClient& node, const crypto::KeyMaterial& key,
                                    RecipientCache& recipients, const std::string& patient,
                                    const std::vector<std::string>& types,
                                    const fhir::Bundle& bundle,
                                    std::vector<std::pair<size_t, PreparedWrite>>& writes) {
  std::vector<std::pair<const ledger::Transaction*, const ledger::Sidecar*>> items;
  for (const auto& [entry, w] : writes) items.emplace_back(w.tx.get(), &w.sidecar);
  Result<Json> out = Retrying([&] { return node.SubmitBatch(items, true); });
  std::vector<std::string> refusals(writes.size());
  const Json* results = out.ok() && out->contains("results") ? &(*out)["results"] : nullptr;
  if (!results || !results->is_array() || results->size() != writes.size()) {
    std::string why = out.ok() ? "the node answered a batch without one result per record"
                               : out.status().message();
    for (auto& r : refusals) r = "the node: " + why;
    return refusals;
  }
  for (size_t k = 0; k < writes.size(); ++k) {
    const Json& r = (*results)[k];
    const size_t entry = writes[k].first;
    const std::string& type = types[entry];
    const Json& resource = bundle.entries[entry].resource;
    if (r.value("status", "") == "committed") {
      if (ResultOk(r)) continue;
      std::string reason = ResultReason(r);
      if (reason.find("not wrapped for") == std::string::npos) {
        refusals[k] = "the ledger refused it (" + reason + ")";
        continue;
      }
      recipients.Invalidate(type);  // a grant appeared meanwhile: seal again
      refusals[k] = WriteOne(node, key, recipients, patient, type, resource);
      continue;
    }
    int status = r.value("http_status", 500);
    if (status == 429 || status == 503 || status == 504) {
      refusals[k] =
          WriteOne(node, key, recipients, patient, type, resource, std::move(writes[k].second));
      continue;
    }
    refusals[k] = "the node: " + r.value("error", std::string("error")) + ": " +
                  r.value("message", std::string());
  }
  return refusals;
}

// Prints progress from its own thread until stopped.
class ProgressThread {
 public:
  ProgressThread(std::function<void(size_t, size_t)> fn, const std::atomic<size_t>& done,
                 size_t total)
      : m_fn(std::move(fn)), m_done(done), m_total(total) {
    if (m_fn) m_thread = std::thread([this] { Run(); });
  }
  ~ProgressThread() { Stop(); }
  void Stop() {
    {
      std::lock_guard lock(m_mu);
      if (m_stop) return;
      m_stop = true;
    }
    m_cv.notify_all();
    if (m_thread.joinable()) m_thread.join();
    if (m_fn) m_fn(m_done.load(), m_total);
  }

 private:
  void Run() {
    std::unique_lock lock(m_mu);
    while (!m_cv.wait_for(lock, std::chrono::milliseconds(250), [&] { return m_stop; })) {
      m_fn(m_done.load(), m_total);
    }
  }
  std::function<void(size_t, size_t)> m_fn;
  const std::atomic<size_t>& m_done;
  size_t m_total;
  std::mutex m_mu;
  std::condition_variable m_cv;
  bool m_stop = false;
  std::thread m_thread;
};

}  // namespace

Result<ImportReport> ImportBundle(const fhir::Definitions& defs, const ImportOptions& o) {
  if (!o.custodian) return Status::InvalidArgument("no custodian key");
  const auto start = Clock::now();
  if (fs::exists(o.patient_key_out)) {
    return Status::AlreadyExists(o.patient_key_out +
                                 " already exists (choose another --patient-key-out)");
  }
  // A fresh pseudonym: the patient's participant id and Patient record id.
  const std::string patient_id = NewFhirId();
  // The patient's key file costs an Argon2id run (64 MiB at the default
  // cost): encrypt it while the bundle is parsed and checked.
  const crypto::KeyMaterial patient_key =
      crypto::KeyMaterial::Generate("patient " + patient_id, patient_id);
  auto key_text = std::async(std::launch::async, [&] {
    return crypto::EncryptKeyFile(patient_key, o.patient_passphrase, o.patient_kdf,
                                  o.patient_kdf_cache);
  });

  MC_ASSIGN_OR_RETURN(std::string text, ReadText(o.bundle_path));
  auto doc = fhir::ParseJson(text, BundleLimits());
  text.clear();
  if (!doc.ok()) return doc.status().Prefixed(o.bundle_path);
  if (!doc->is_object() || doc->value("resourceType", "") != "Bundle") {
    return Status::InvalidArgument(o.bundle_path + ": not a FHIR Bundle (resourceType)");
  }
  auto parsed = fhir::ParseBundle(std::move(*doc));
  if (!parsed.ok()) return parsed.status().Prefixed(o.bundle_path);
  fhir::Bundle bundle = std::move(*parsed);
  const size_t n = bundle.entries.size();

  // A searchset's OperationOutcome entries (search.mode "outcome") are
  // messages about the search, not the patient's data: skipped.
  std::vector<bool> skip(n);
  size_t skipped = 0;
  for (size_t i = 0; i < n; ++i) skipped += skip[i] = bundle.entries[i].search_mode == "outcome";
  // Check every resource, on every core.
  std::vector<std::string> refusal(n), types(n);
  ParallelFor(n, std::max(2u, std::thread::hardware_concurrency()), [&](size_t i) {
    if (skip[i]) return;
    const Json& r = bundle.entries[i].resource;
    if (!r.is_object()) {
      refusal[i] = "Bundle.entry[" + std::to_string(i) + "]: no resource to import";
      return;
    }
    if (r.contains("resourceType") && r["resourceType"].is_string()) {
      types[i] = r["resourceType"].get<std::string>();
    }
    auto issues = fhir::CheckResource(defs, r);
    if (!issues.empty()) refusal[i] = fhir::StatusFromIssues(issues).message();
  });
  std::vector<size_t> patients;
  for (size_t i = 0; i < n; ++i) {
    if (types[i] == "Patient") patients.push_back(i);
  }
  if (patients.size() != 1) {
    return Status::InvalidArgument(o.bundle_path + ": holds " + std::to_string(patients.size()) +
                                   " Patient resources; an import takes one patient's bundle");
  }
  const size_t patient_entry = patients[0];
  if (!refusal[patient_entry].empty()) {
    return Status::InvalidArgument(o.bundle_path +
                                   ": the Patient is invalid: " + refusal[patient_entry]);
  }

  // New ids, and every reference inside the bundle rewritten to them.
  auto map = fhir::ResolveBundleReferences(defs, bundle,
                                           [&](std::string_view type, const fhir::BundleEntry&) {
                                             return type == "Patient" ? patient_id : NewFhirId();
                                           });
  if (!map.ok()) return map.status().Prefixed(o.bundle_path);
  ImportReport report;
  report.patient = patient_id;
  std::map<std::string, size_t> left_alone;
  for (const auto& p : map->problems) {
    if (p.kind == fhir::ReferenceProblem::Kind::kMissingEntry) {
      if (refusal[p.entry].empty()) {
        refusal[p.entry] =
            p.expression + ": the reference " + p.reference + " names no entry of the bundle";
      }
    } else {
      left_alone[std::string(fhir::ReferenceProblemName(p.kind))]++;
    }
  }
  for (const auto& [kind, count] : left_alone) {
    report.warnings.push_back(std::to_string(count) + " reference(s) left as they are (" + kind +
                              ")");
  }
  // Every record must be the patient's: a compartment resource that names
  // another patient does not belong in this patient's records.
  const std::string patient_ref = "Patient/" + patient_id;
  for (size_t i = 0; i < n; ++i) {
    if (!refusal[i].empty() || skip[i] || i == patient_entry) continue;
    for (const auto& link : fhir::PatientCompartmentLinks(defs, bundle.entries[i].resource)) {
      if (link.reference != patient_ref) {
        refusal[i] =
            ElementPath(link.expression) + ": names another patient (" + link.reference + ")";
        break;
      }
    }
  }
  // References from written resources to refused ones will dangle: say so.
  std::set<std::string> refused_refs;
  for (size_t i = 0; i < n; ++i) {
    if (!refusal[i].empty() && !types[i].empty() && i < map->entries.size()) {
      refused_refs.insert(types[i] + "/" + map->entries[i].new_id);
    }
  }
  if (!refused_refs.empty()) {
    size_t dangling = 0;
    for (size_t i = 0; i < n; ++i) {
      if (!refusal[i].empty() || skip[i]) continue;
      fhir::ForEachReference(defs, bundle.entries[i].resource,
                             [&](const Json& ref, const std::string&) {
                               dangling += refused_refs.count(ref.value("reference", ""));
                             });
    }
    if (dangling) {
      report.warnings.push_back(std::to_string(dangling) +
                                " reference(s) of written resources name refused ones");
    }
  }

  auto lap = [&, last = start]() mutable {
    auto now = Clock::now();
    double s = std::chrono::duration<double>(now - last).count();
    last = now;
    return s;
  };
  report.phases.emplace_back("read and check", lap());
  // The patient: key file first (so the key is never lost), then the
  // registration by the custodian.
  auto kt = key_text.get();
  report.phases.emplace_back("patient key file", lap());
  if (!kt.ok()) return kt.status().Prefixed("patient key file");
  MC_RETURN_IF_ERROR(crypto::WriteKeyFileText(o.patient_key_out, *kt, crypto::Overwrite::kNo));
  NodeClient node(o.node_url);
  auto writer = ParticipantIdOf(node, *o.custodian);
  if (!writer.ok() || writer->empty()) {
    fs::remove(o.patient_key_out);
    return writer.ok() ? Status::NotFound("the custodian key belongs to no participant")
                       : writer.status();
  }
  ledger::RegisterParticipant reg;
  reg.id = patient_id;
  reg.role = ledger::Role::kPatient;
  reg.sign_key = patient_key.signing.public_key();
  reg.box_key = patient_key.encryption.public_key();
  auto registered = SubmitRetrying(
      node, *MakeTx(*o.custodian, ledger::TxType::kRegisterParticipant, ledger::EncodeBody(reg)),
      nullptr);
  if (!registered.ok() || !ResultOk(*registered)) {
    fs::remove(o.patient_key_out);
    return registered.ok()
               ? Status::FailedPrecondition("registering the patient: " + ResultReason(*registered))
               : registered.status().Prefixed("registering the patient");
  }

  // The Patient first, then everything else with many writes in flight.
  RecipientCache recipients(o.node_url, patient_id, *writer);
  if (auto writer_box = FetchBoxKey(node, *writer); writer_box.ok()) {
    recipients.SetFreshPatient(
        {{patient_id, patient_key.encryption.public_key()}, {*writer, *writer_box}});
  }
  std::atomic<size_t> done{0};
  for (size_t i = 0; i < n; ++i) done += !refusal[i].empty() || skip[i];
  ProgressThread progress(o.progress, done, n);
  refusal[patient_entry] = WriteOne(node, *o.custodian, recipients, patient_id, "Patient",
                                    bundle.entries[patient_entry].resource);
  ++done;
  if (!refusal[patient_entry].empty()) {
    progress.Stop();
    return Status::FailedPrecondition("writing the Patient record: " + refusal[patient_entry]);
  }
  report.phases.emplace_back("patient registration and record", lap());
  std::vector<size_t> todo;
  for (size_t i = 0; i < n; ++i) {
    if (refusal[i].empty() && !skip[i] && i != patient_entry) todo.push_back(i);
  }
  // With seal_first, every record is sealed and signed (on every core)
  // before the first is submitted.
  std::vector<std::optional<PreparedWrite>> ready(n);
  if (o.seal_first) {
    ParallelFor(todo.size(), std::max(2u, std::thread::hardware_concurrency()), [&](size_t k) {
      size_t i = todo[k];
      auto p = Prepare(*o.custodian, recipients, patient_id, types[i], bundle.entries[i].resource);
      if (p.ok()) ready[i] = std::move(*p);
    });
    report.phases.emplace_back("seal and sign", lap());
  }
  std::atomic<size_t> next{0};
  const size_t batch = std::max(1u, o.batch);
  constexpr size_t kBatchBytes = 1 << 20;
  auto worker = [&] {
    NodeClient c(o.node_url);
    if (batch == 1) {
      for (size_t k = next++; k < todo.size(); k = next++) {
        size_t i = todo[k];
        refusal[i] = WriteOne(c, *o.custodian, recipients, patient_id, types[i],
                              bundle.entries[i].resource, std::move(ready[i]));
        ready[i].reset();
        ++done;
      }
      return;
    }
    // Records sealed one by one, sent when `batch` of them or ~1 MiB.
    std::vector<std::pair<size_t, PreparedWrite>> writes;  // (entry, record)
    size_t bytes = 0;
    auto flush = [&] {
      if (writes.empty()) return;
      auto refusals = WriteBatch(c, *o.custodian, recipients, patient_id, types, bundle, writes);
      for (size_t k = 0; k < writes.size(); ++k) refusal[writes[k].first] = std::move(refusals[k]);
      done += writes.size();
      writes.clear();
      bytes = 0;
    };
    for (size_t k = next++; k < todo.size(); k = next++) {
      size_t i = todo[k];
      std::optional<PreparedWrite> w = std::move(ready[i]);
      ready[i].reset();
      if (!w) {
        auto p =
            Prepare(*o.custodian, recipients, patient_id, types[i], bundle.entries[i].resource);
        if (!p.ok()) {
          refusal[i] = "sealing: " + p.status().message();
          ++done;
          continue;
        }
        w = std::move(*p);
      }
      bytes += w->tx->bytes().size() + w->sidecar.ciphertext.size() + 256;
      writes.emplace_back(i, std::move(*w));
      if (writes.size() >= batch || bytes >= kBatchBytes) flush();
    }
    flush();
  };
  std::vector<std::thread> pool;
  unsigned threads =
      std::max<unsigned>(1u, std::min<size_t>(o.concurrency, (todo.size() + batch - 1) / batch));
  for (unsigned t = 0; t < threads; ++t) pool.emplace_back(worker);
  for (auto& t : pool) t.join();
  progress.Stop();
  report.phases.emplace_back("records", lap());
  report.seconds = std::chrono::duration<double>(Clock::now() - start).count();

  if (skipped) {
    report.warnings.push_back(std::to_string(skipped) +
                              " OperationOutcome entries of the searchset skipped");
  }
  for (size_t i = 0; i < n; ++i) {
    if (skip[i]) continue;
    TypeCounts& c = report.by_type[types[i].empty() ? "(none)" : types[i]];
    if (refusal[i].empty()) {
      c.written++;
      report.written++;
    } else {
      c.refused++;
      report.refused++;
      report.refusals.push_back(ImportRefusal{i, types[i], refusal[i]});
    }
  }
  return report;
}

// ---- Export ----

Result<ExportReport> ExportPatient(const ExportOptions& o) {
  if (!o.reader) return Status::InvalidArgument("no reader key");
  NodeClient node(o.node_url);
  MC_ASSIGN_OR_RETURN(Json list, node.GetJson("/v1/patients/" + o.patient + "/records"));
  ExportReport report;
  std::set<std::string> types;
  if (!list.contains("records") || !list["records"].is_array()) {
    return Status::Corruption("the node's record list has no records array");
  }
  for (const auto& r : list["records"]) {
    if (r.value("erased", false)) {
      report.problems.push_back(r.value("type", "") + "/" + r.value("record_id", "") + ": erased");
      continue;
    }
    types.insert(r.value("type", ""));
  }
  if (types.empty()) {
    return Status::NotFound("patient " + o.patient + " has no records to export");
  }

  // One audited read per record type.
  struct Released {
    std::string type, id, patient;
    uint32_t version = 0;
    Bytes ciphertext, wrapped;
  };
  std::vector<std::string> type_list(types.begin(), types.end());
  std::vector<std::vector<Released>> per_type(type_list.size());
  std::vector<std::string> type_problem(type_list.size());
  ParallelFor(type_list.size(), o.concurrency, [&](size_t t) {
    NodeClient c(o.node_url);
    ledger::ReadRecord r;
    r.patient = o.patient;
    r.type = type_list[t];
    r.purpose = o.purpose;
    auto out = c.Read(*MakeTx(*o.reader, ledger::TxType::kReadRecord, ledger::EncodeBody(r)));
    if (!out.ok()) {
      type_problem[t] = type_list[t] + ": " + out.status().message();
      return;
    }
    for (const auto& rec : (*out)["records"]) {
      Released x;
      x.type = rec.value("type", "");
      x.id = rec.value("record_id", "");
      x.patient = rec.value("patient", "");
      x.version = rec.value("version", 0U);
      if (rec["wrapped_key"].is_null()) {
        type_problem[t] += x.type + "/" + x.id + ": no data key released to this reader; ";
        continue;
      }
      auto ct = FromBase64(rec.value("ciphertext", ""));
      auto wk = FromBase64(rec.value("wrapped_key", ""));
      if (!ct || !wk) {
        type_problem[t] = type_list[t] + ": the node sent malformed base64";
        return;
      }
      x.ciphertext = std::move(*ct);
      x.wrapped = std::move(*wk);
      per_type[t].push_back(std::move(x));
    }
  });
  std::vector<Released> released;
  for (size_t t = 0; t < type_list.size(); ++t) {
    if (!type_problem[t].empty()) report.problems.push_back(type_problem[t]);
    for (auto& x : per_type[t]) released.push_back(std::move(x));
  }

  // Decrypt, checking each plaintext against the ledger's commitment.
  std::vector<Json> resources(released.size());
  std::vector<std::string> problem(released.size());
  ParallelFor(released.size(), o.concurrency, [&](size_t i) {
    thread_local std::unique_ptr<NodeClient> c;
    if (!c || c->url() != o.node_url) c = std::make_unique<NodeClient>(o.node_url);
    Released& x = released[i];
    const std::string name = x.type + "/" + x.id;
    auto rec = c->GetJson("/v1/records/" + x.id);
    if (!rec.ok()) {
      problem[i] = name + ": " + rec.status().message();
      return;
    }
    std::optional<Hash> commitment;
    uint64_t time_ms = 0;
    for (const auto& v : (*rec)["history"]) {
      if (v.value("version", 0U) == x.version) {
        commitment = HashFromHex(v.value("commitment", ""));
        time_ms = v.value("time_ms", 0ULL);
      }
    }
    if (!commitment) {
      problem[i] = name + ": the ledger has no commitment for version " + std::to_string(x.version);
      return;
    }
    auto data_key = OpenDataKey(*o.reader, x.wrapped);
    if (!data_key.ok()) {
      problem[i] = name + ": " + data_key.status().message();
      return;
    }
    auto plain = OpenRecord(*data_key, x.ciphertext, x.id, x.version, x.patient, &*commitment);
    SecureZero(*data_key);
    if (!plain.ok()) {
      problem[i] = name + ": " + plain.status().message();
      return;
    }
    auto res = fhir::ParseJson(AsString(*plain));
    SecureZero(*plain);
    if (!res.ok() || !res->is_object() || res->value("resourceType", "") != x.type ||
        res->value("id", "") != x.id) {
      problem[i] = name + ": the record is not that FHIR resource";
      return;
    }
    Json& meta = (*res)["meta"];
    if (!meta.is_object()) meta = Json::object();
    meta["versionId"] = std::to_string(x.version);
    meta["lastUpdated"] = fhir::FormatInstant(static_cast<int64_t>(time_ms));
    resources[i] = std::move(*res);
  });

  std::vector<size_t> order;
  for (size_t i = 0; i < released.size(); ++i) {
    if (!problem[i].empty()) {
      report.problems.push_back(problem[i]);
    } else {
      order.push_back(i);
    }
  }
  // The Patient first, then by type and id.
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    bool pa = released[a].type == "Patient", pb = released[b].type == "Patient";
    if (pa != pb) return pa;
    return std::tie(released[a].type, released[a].id) < std::tie(released[b].type, released[b].id);
  });
  std::string base = o.node_url;
  while (!base.empty() && base.back() == '/') base.pop_back();
  base += "/fhir/r4/";
  fhir::Bundle out;
  out.type = fhir::BundleType::kCollection;
  out.id = NewFhirId();
  for (size_t i : order) {
    fhir::BundleEntry e;
    e.full_url = base + released[i].type + "/" + released[i].id;
    e.resource = std::move(resources[i]);
    out.entries.push_back(std::move(e));
    report.by_type[released[i].type]++;
    report.exported++;
  }
  report.bundle = fhir::WriteBundle(out);
  return report;
}

// ---- Diff ----

namespace {

struct Side {
  fhir::Bundle bundle;
  std::vector<Json> shape;            // content with references and ids blanked
  std::vector<std::string> skeleton;  // shape as text
};

Result<Side> Prepare(const fhir::Definitions& defs, const Json& j, const char* which) {
  if (!j.is_object() || j.value("resourceType", "") != "Bundle") {
    return Status::InvalidArgument(std::string(which) + ": not a FHIR Bundle");
  }
  auto b = fhir::ParseBundle(j);
  if (!b.ok()) return b.status().Prefixed(which);
  Side s;
  s.bundle = std::move(*b);
  // A searchset's outcome entries are about the search, not data: not compared.
  std::erase_if(s.bundle.entries,
                [](const fhir::BundleEntry& e) { return e.search_mode == "outcome"; });
  for (const auto& e : s.bundle.entries) {
    Json copy = e.resource;
    if (copy.is_object()) {
      fhir::RewriteReferences(defs, copy, [](const std::string&, const std::string&) {
        return std::optional<std::string>("~");
      });
      copy.erase("id");
      if (copy.contains("meta") && copy["meta"].is_object()) {
        copy["meta"].erase("versionId");
        copy["meta"].erase("lastUpdated");
        if (copy["meta"].empty()) copy.erase("meta");
      }
    }
    s.skeleton.push_back(copy.dump());
    s.shape.push_back(std::move(copy));
  }
  return s;
}

std::string Name(const Side& s, size_t i, const char* which) {
  return std::string(which) + " entry " + std::to_string(i) + " (" +
         s.bundle.entries[i].resource.value("resourceType", "?") + ")";
}

}  // namespace

Result<DiffReport> DiffBundles(const fhir::Definitions& defs, const Json& a, const Json& b) {
  MC_ASSIGN_OR_RETURN(Side sa, Prepare(defs, a, "A"));
  MC_ASSIGN_OR_RETURN(Side sb, Prepare(defs, b, "B"));
  DiffReport report;
  // Pair entries whose skeletons match; ambiguous groups (equal but for
  // references) are tried candidate by candidate on a copy of the renaming.
  std::unordered_map<std::string, std::vector<size_t>> in_b;
  for (size_t j = 0; j < sb.skeleton.size(); ++j) in_b[sb.skeleton[j]].push_back(j);
  std::unordered_map<std::string, size_t> count_a;
  for (const auto& s : sa.skeleton) count_a[s]++;
  std::vector<std::optional<size_t>> pair(sa.skeleton.size());
  std::vector<bool> used(sb.skeleton.size(), false);
  fhir::ReferenceCorrespondence corr;
  // The text each side's references use for an entry (its fullUrl or
  // Type/id), to check that a reference names the counterpart of the entry
  // it named on the other side.
  auto ref_names = [&](const Side& side) {
    std::set<std::string> referenced;
    for (const auto& e : side.bundle.entries) {
      if (!e.resource.is_object()) continue;
      fhir::ForEachReference(defs, e.resource, [&](const Json& r, const std::string&) {
        referenced.insert(r.value("reference", ""));
      });
    }
    std::vector<std::string> names;
    for (const auto& e : side.bundle.entries) {
      std::string typed = e.resource.is_object() ? e.resource.value("resourceType", "") + "/" +
                                                       e.resource.value("id", "")
                                                 : "";
      names.push_back(!e.full_url.empty() && referenced.count(e.full_url) ? e.full_url
                      : referenced.count(typed)                           ? typed
                                                                          : "");
    }
    return names;
  };
  const std::vector<std::string> name_a = ref_names(sa), name_b = ref_names(sb);
  auto compare = [&](size_t i, size_t j,
                     fhir::ReferenceCorrespondence& c) -> std::optional<std::string> {
    const Json& ra = sa.bundle.entries[i].resource;
    const Json& rb = sb.bundle.entries[j].resource;
    if (!ra.is_object() || !rb.is_object()) return std::string("an entry has no resource");
    if (!name_a[i].empty() && !name_b[j].empty() && !c.Match(name_a[i], name_b[j])) {
      return "references to " + name_a[i] + " do not name its counterpart " + name_b[j];
    }
    return fhir::SemanticDifference(defs, ra, rb, c);
  };
  std::vector<size_t> ambiguous;
  for (size_t i = 0; i < sa.skeleton.size(); ++i) {
    auto it = in_b.find(sa.skeleton[i]);
    if (it == in_b.end()) continue;
    if (it->second.size() == 1 && count_a[sa.skeleton[i]] == 1) {
      pair[i] = it->second[0];
      used[it->second[0]] = true;
      report.compared++;
      if (auto d = compare(i, it->second[0], corr)) {
        report.differences.push_back(Name(sa, i, "A") + " vs " + Name(sb, it->second[0], "B") +
                                     ": " + *d);
      }
    } else {
      ambiguous.push_back(i);
    }
  }
  for (size_t i : ambiguous) {
    for (size_t j : in_b[sa.skeleton[i]]) {
      if (used[j]) continue;
      fhir::ReferenceCorrespondence trial = corr;
      if (!compare(i, j, trial)) {
        corr = std::move(trial);
        pair[i] = j;
        used[j] = true;
        report.compared++;
        break;
      }
    }
    if (!pair[i]) {
      report.differences.push_back(Name(sa, i, "A") +
                                   ": its counterparts in B differ in their references");
    }
  }
  // What is left differs in content: compare each with the most similar
  // unpaired resource of its type (most top-level elements equal), so the
  // difference names an element.
  for (size_t i = 0; i < pair.size(); ++i) {
    if (pair[i] || in_b.count(sa.skeleton[i])) continue;
    const Json& a_shape = sa.shape[i];
    std::optional<size_t> best;
    size_t best_score = 0;
    for (size_t j = 0; j < sb.shape.size(); ++j) {
      const Json& b_shape = sb.shape[j];
      if (used[j] || !a_shape.is_object() || !b_shape.is_object() ||
          a_shape.value("resourceType", "") != b_shape.value("resourceType", "")) {
        continue;
      }
      size_t score = 1;
      for (const auto& [k, v] : a_shape.items()) score += b_shape.contains(k) && b_shape[k] == v;
      if (score > best_score) best = j, best_score = score;
    }
    if (!best) {
      report.differences.push_back(Name(sa, i, "A") + ": no resource of its type left in B");
      continue;
    }
    used[*best] = true;
    report.compared++;
    fhir::ReferenceCorrespondence trial = corr;
    auto d = compare(i, *best, trial);
    report.differences.push_back(Name(sa, i, "A") + " vs " + Name(sb, *best, "B") + ": " +
                                 d.value_or("differs"));
  }
  for (size_t j = 0; j < used.size(); ++j) {
    if (!used[j]) report.differences.push_back(Name(sb, j, "B") + ": not in A");
  }
  return report;
}

}  // namespace medchain::cli
