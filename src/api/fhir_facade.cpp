// Copyright (c) medchain developers.
#include "api/fhir_facade.h"

#include <sodium.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <filesystem>
#include <mutex>
#include <set>
#include <typeinfo>

#include <httplib.h>
#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include "medchain/core/codec.h"
#include "medchain/core/sha256.h"
#include "medchain/core/task_pool.h"
#include "medchain/crypto/aead.h"
#include "medchain/crypto/box.h"
#include "medchain/crypto/init.h"
#include "medchain/crypto/keyfile.h"
#include "medchain/fhir/bundle.h"
#include "medchain/fhir/compartment.h"
#include "medchain/fhir/datetime.h"
#include "medchain/fhir/definitions.h"
#include "medchain/fhir/ledger_views.h"
#include "medchain/fhir/outcome.h"
#include "medchain/fhir/references.h"
#include "medchain/fhir/search.h"
#include "medchain/fhir/validate.h"
#include "medchain/ledger/state.h"

namespace medchain::api {

namespace {

namespace fs = std::filesystem;
using httplib::Request;
using httplib::Response;
using Json = nlohmann::json;

constexpr std::string_view kPrefix = "/fhir/r4";
constexpr const char* kFhirJson = "application/fhir+json; charset=utf-8";
// The purpose of use on the facade's reads: the EHR reads for care.
constexpr std::string_view kReadPurpose = "treatment";
constexpr std::string_view kSoftwareVersion = "0.1.0";

// ---- Errors ----
//
// Inside this file a request that cannot be served throws a Refusal (HTTP
// status + OperationOutcome); Facade::Serve catches it and sends it. Nothing
// thrown here leaves the route handlers.

struct Answer {
  int status = 200;
  Json body;  // null: no body
  std::vector<std::pair<std::string, std::string>> headers;
};

struct Refusal {
  int status;
  Json outcome;
};

[[noreturn]] void Refuse(int status, std::string_view issue_code, const std::string& diagnostics,
                         std::string_view expression = {}) {
  throw Refusal{status, fhir::OperationOutcome("error", issue_code, diagnostics, expression)};
}

int HttpStatusFor(Code code) {
  switch (code) {
    case Code::kOk:
      return 200;
    case Code::kInvalidArgument:
      return 400;
    case Code::kUnauthenticated:
      return 401;
    case Code::kPermissionDenied:
      return 403;
    case Code::kNotFound:
      return 404;
    case Code::kAlreadyExists:
    case Code::kFailedPrecondition:
      return 409;
    case Code::kResourceExhausted:
      return 429;
    case Code::kUnavailable:
      return 503;
    case Code::kTimeout:
      return 504;
    default:
      return 500;
  }
}

[[noreturn]] void RefuseStatus(const Status& s, int status = 0) {
  throw Refusal{status ? status : HttpStatusFor(s.code()), fhir::OperationOutcome(s)};
}

template <class T>
T Must(Result<T> r) {
  if (!r.ok()) RefuseStatus(r.status());
  return std::move(*r);
}

[[noreturn]] void RefuseIssues(std::vector<fhir::Issue> issues, int status) {
  // The same problem found by two checks is reported once.
  std::vector<fhir::Issue> unique;
  for (auto& i : issues) {
    if (std::find(unique.begin(), unique.end(), i) == unique.end()) unique.push_back(std::move(i));
  }
  throw Refusal{status, fhir::OperationOutcome(unique)};
}

// The HTTP date of a time in milliseconds (Last-Modified).
std::string HttpDate(uint64_t ms) {
  std::time_t t = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  return buf;
}

std::string ETag(uint32_t version) {
  return "W/\"" + std::to_string(version) + "\"";
}

// W/"3" or "3" -> 3.
std::optional<uint32_t> ParseETag(std::string s) {
  if (s.rfind("W/", 0) == 0) s = s.substr(2);
  if (s.size() >= 2 && s.front() == '"' && s.back() == '"') s = s.substr(1, s.size() - 2);
  if (s.empty() || s.size() > 9 || !std::all_of(s.begin(), s.end(), ::isdigit)) return std::nullopt;
  return static_cast<uint32_t>(std::stoul(s));
}

std::string NewId() {
  uint8_t b[16];
  randombytes_buf(b, sizeof b);
  b[6] = static_cast<uint8_t>((b[6] & 0x0f) | 0x40);
  b[8] = static_cast<uint8_t>((b[8] & 0x3f) | 0x80);
  std::string hex = ToHex(ByteView(b, sizeof b));
  return hex.substr(0, 8) + "-" + hex.substr(8, 4) + "-" + hex.substr(12, 4) + "-" +
         hex.substr(16, 4) + "-" + hex.substr(20);
}

// Reads (and writes) a request fans out into (one audited read each) run on
// at most this many threads: the request's own and kMaxParallelReads - 1
// workers of the facade's pool, which all requests share.
constexpr size_t kMaxParallelReads = 16;
// Helpers waiting for a worker of that pool; past this a request runs with
// fewer helpers (on its own thread at worst) rather than queueing more.
constexpr size_t kMaxQueuedHelpers = 256;

// A record id the facade can serve: a FHIR id that is also a ledger id.
bool IsServableId(std::string_view id) {
  return fhir::IsValidId(id) && ledger::IsValidId(id);
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

void StripVersionMeta(Json& resource) {
  auto it = resource.find("meta");
  if (it == resource.end() || !it->is_object()) return;
  it->erase("versionId");
  it->erase("lastUpdated");
  if (it->empty()) resource.erase(it);
}

// ---- The record envelope (docs/format.md §5) ----

constexpr std::string_view kCommitDomain = "medchain/commit/v1\n";

Bytes EnvelopeAad(const std::string& record_id, uint32_t version, const std::string& patient) {
  Encoder e;
  e.U8(1).Str(record_id).U32(version).Str(patient);
  return e.Take();
}

Hash Commitment(ByteView salt, ByteView content) {
  Sha256 h;
  h.Update(kCommitDomain).Update(salt).Update(content);
  return h.Finish();
}

struct SealedRecord {
  ledger::PutRecord body;
  ledger::Sidecar sidecar;
};

Result<SealedRecord> SealEnvelope(const std::string& record_id, const std::string& patient,
                                  const std::string& type, uint32_t version,
                                  const Hash& supersedes_tx, std::string_view content,
                                  const std::map<std::string, crypto::BoxPublicKey>& recipients) {
  crypto::AeadKey data_key = crypto::AeadKey::Generate();
  Bytes plain(32 + content.size());
  randombytes_buf(plain.data(), 32);
  std::copy(content.begin(), content.end(), plain.begin() + 32);
  Hash commitment = Commitment(ByteView(plain).first(32), AsBytes(content));
  auto ct = crypto::SealWithRandomNonce(data_key, EnvelopeAad(record_id, version, patient), plain);
  SecureZero(plain);
  if (!ct.ok()) return ct.status();
  SealedRecord s;
  s.sidecar.ciphertext = std::move(*ct);
  for (const auto& [id, box] : recipients) {  // sorted by id, as the body requires
    MC_ASSIGN_OR_RETURN(Bytes sealed, crypto::Seal(box, data_key.bytes()));
    s.sidecar.keys.push_back(ledger::WrappedKey{record_id, version, id, std::move(sealed)});
    s.body.recipients.push_back(id);
  }
  s.body.record_id = record_id;
  s.body.patient = patient;
  s.body.type = type;
  s.body.version = version;
  s.body.supersedes_tx = supersedes_tx;
  s.body.ciphertext_hash = Sha256Digest(s.sidecar.ciphertext);
  s.body.ciphertext_size = s.sidecar.ciphertext.size();
  s.body.commitment = commitment;
  s.body.keys_hash = s.sidecar.KeysHash();
  return s;
}

// The content of a record version, checked against the ledger's commitment.
Result<std::string> OpenEnvelope(ByteView data_key, ByteView ciphertext,
                                 const std::string& record_id, uint32_t version,
                                 const std::string& patient, const Hash& commitment) {
  MC_ASSIGN_OR_RETURN(auto key, crypto::AeadKey::FromBytes(data_key));
  auto plain = crypto::OpenWithNonce(key, EnvelopeAad(record_id, version, patient), ciphertext);
  if (!plain.ok()) return Status::Corruption("record " + record_id + " does not decrypt");
  if (plain->size() < 32) return Status::Corruption("record " + record_id + " lacks its salt");
  ByteView all(*plain);
  if (Commitment(all.first(32), all.subspan(32)) != commitment) {
    SecureZero(*plain);
    return Status::Corruption("record " + record_id + " does not match the ledger's commitment");
  }
  std::string out(AsString(all.subspan(32)));
  SecureZero(*plain);
  return out;
}

// ---- The facade ----

struct Opened {
  std::string type, id, patient;
  uint32_t version = 0;
  uint64_t time_ms = 0;
  Json resource;
};

struct Written {
  std::string type, id;
  uint32_t version = 0;
  uint64_t time_ms = 0;
};

// One entry of a transaction, once checked.
struct TxEntry {
  std::string method;  // POST | PUT
  std::string type, id, patient;
  bool new_patient = false;  // registers the patient first
  std::optional<uint32_t> if_match;
};

class Facade {
 public:
  Facade(Backend& backend, std::shared_ptr<const fhir::Definitions> defs, crypto::KeyMaterial key,
         std::string org, const std::string& token, std::string passphrase, fs::path key_dir)
      : m_backend(backend),
        m_defs(std::move(defs)),
        m_key(std::move(key)),
        m_org(std::move(org)),
        m_token_digest(Sha256Digest(token)),
        m_passphrase(std::move(passphrase)),
        m_key_dir(std::move(key_dir)),
        m_record_types([&] {
          auto v = fhir::RecordResourceTypes(*m_defs);
          return std::set<std::string, std::less<>>(v.begin(), v.end());
        }()),
        m_started_ms(static_cast<int64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                              std::chrono::system_clock::now().time_since_epoch())
                                              .count())) {}
  ~Facade() { SecureZero(m_passphrase); }

  void Register(httplib::Server& http, std::shared_ptr<Facade> self);

 private:
  // -- plumbing --
  using Handler = std::function<Answer(const Request&)>;
  void Serve(const Request& req, Response& res, bool authenticate, const Handler& h);
  void Authenticate(const Request& req) const;
  static void RequireFhirJson(const Request& req);
  Json ParseBody(const Request& req, bool bundle) const;
  std::string Base() const { return m_backend.Summary().api_url + std::string(kPrefix); }
  ledger::StateView View() const { return ledger::StateView(m_backend.Ledger().State()); }
  ledger::TransactionRef Sign(ledger::TxType type, Bytes body) const;
  void CheckType(const std::string& type) const;
  bool IsRecordType(const std::string& type) const;
  static bool IsLedgerView(const std::string& type) {
    return type == "AuditEvent" || type == "Provenance" || type == "Consent";
  }
  std::string OrgOf(const std::string& participant) const;
  bool Exists(const std::string& type, const std::string& id) const;
  Answer ResourceAnswer(int status, const Opened& r, const Request& req) const;

  // -- records --
  std::map<std::string, crypto::BoxPublicKey> Recipients(const ledger::StateView& view,
                                                         const std::string& patient,
                                                         const std::string& record_id,
                                                         const std::string& type,
                                                         const std::string& custodian) const;
  Written WriteRecord(const std::string& type, const std::string& id, const std::string& patient,
                      Json resource, std::optional<uint32_t> if_match) const;
  void RegisterPatient(const std::string& id) const;
  std::vector<Opened> ReadRecords(ledger::ReadRecord request,
                                  std::vector<std::string>* skipped) const;
  Opened ReadOne(const std::string& type, const std::string& id, uint32_t version) const;
  void CheckReferences(const Json& resource, std::vector<fhir::Issue>& issues) const;
  std::string PatientOf(const Json& resource, const std::set<std::string>& new_patients,
                        std::vector<fhir::Issue>& issues, const std::string& prefix) const;

  // -- interactions --
  Answer Metadata();
  Answer Create(const Request& req, const std::string& type);
  Answer Update(const Request& req, const std::string& type, const std::string& id);
  Answer Read(const Request& req, const std::string& type, const std::string& id);
  Answer VRead(const Request& req, const std::string& type, const std::string& id,
               const std::string& vid);
  Answer History(const Request& req, const std::string& type, const std::string& id);
  Answer Search(const Request& req, const std::string& type);
  Answer Everything(const Request& req, const std::string& id);
  Answer Transaction(const Request& req);
  std::vector<TxEntry> PlanTransaction(fhir::Bundle& bundle) const;

  // -- the ledger as FHIR --
  fhir::ViewContext Context() const;
  std::optional<Json> AuditEventOf(const ledger::AuditEntry& entry,
                                   const std::string& patient) const;
  std::vector<Json> ProvenanceOf(const std::string& record_id,
                                 std::optional<uint32_t> only_version) const;
  Json ConsentOf(const ledger::GrantState& g) const;
  Answer LedgerRead(const std::string& type, const std::string& id);
  Answer LedgerSearch(const Request& req, const std::string& type);

  // Constant after construction.
  Backend& m_backend;
  const std::shared_ptr<const fhir::Definitions> m_defs;
  const crypto::KeyMaterial m_key;
  const std::string m_org;
  const Hash m_token_digest;
  std::string m_passphrase;  // for escrowed patient key files; zeroed on destruction
  mutable crypto::KdfCache m_kdf_cache;
  const fs::path m_key_dir;
  // What the facade stores as records (fhir::RecordResourceTypes): every R4
  // type but the ledger views and Bundle, CapabilityStatement, ...
  const std::set<std::string, std::less<>> m_record_types;
  const int64_t m_started_ms;
  // The CapabilityStatement, built on first use.
  std::once_flag m_capability_once;
  Json m_capability;
  // Threads for the reads and writes a request fans out into (RunParallel),
  // started once with the facade: no thread is started per request.
  mutable TaskPool m_workers{kMaxParallelReads - 1, kMaxQueuedHelpers};

  // Runs fn(i) for every i in [0, n), up to kMaxParallelReads at once; the
  // first exception thrown by fn is rethrown once all have finished.
  void RunParallel(size_t n, const std::function<void(size_t)>& fn) const {
    medchain::RunParallel(m_workers, n, kMaxParallelReads, fn);
  }
};

std::vector<std::pair<std::string, std::string>> QueryParams(const Request& req) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& [k, v] : req.params) out.emplace_back(k, v);
  return out;
}

void Facade::Serve(const Request& req, Response& res, bool authenticate, const Handler& h) {
  Answer a;
  try {
    if (authenticate) Authenticate(req);
    a = h(req);
  } catch (const Refusal& r) {
    a.status = r.status;
    a.body = r.outcome;
    if (r.status == 401) a.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"medchain\"");
  } catch (const std::exception& e) {
    // Neither the path (patient ids) nor the exception's text (which may
    // quote a resource) goes to the log: the kind of failure only.
    spdlog::error("fhir: a {} request failed unexpectedly ({})", req.method, typeid(e).name());
    a.status = 500;
    a.body = fhir::OperationOutcome("error", "exception", "internal error");
  }
  res.status = a.status;
  for (const auto& [k, v] : a.headers) res.set_header(k.c_str(), v);
  if (!a.body.is_null()) {
    // Client-supplied strings (reasons) may hold invalid UTF-8: replace it.
    res.set_content(a.body.dump(-1, ' ', false, Json::error_handler_t::replace), kFhirJson);
  } else if (a.status >= 400) {
    res.set_content("{}", kFhirJson);
  }
}

void Facade::Authenticate(const Request& req) const {
  const std::string h = req.get_header_value("Authorization");
  if (h.empty())
    Refuse(401, "login", "missing Authorization: Bearer <token> (the node's fhir.token)");
  constexpr std::string_view kScheme = "bearer ";
  bool bearer = h.size() > kScheme.size();
  for (size_t i = 0; bearer && i < kScheme.size(); ++i) {
    bearer = std::tolower(static_cast<unsigned char>(h[i])) == kScheme[i];
  }
  if (!bearer) Refuse(401, "login", "the Authorization header must use the Bearer scheme");
  // Compare digests: constant time, and independent of the token's length.
  Hash given = Sha256Digest(std::string_view(h).substr(kScheme.size()));
  if (!ConstantTimeEqual(given, m_token_digest)) Refuse(401, "login", "invalid bearer token");
}

void Facade::RequireFhirJson(const Request& req) {
  std::string ct = req.get_header_value("Content-Type");
  if (auto semi = ct.find(';'); semi != std::string::npos) ct.resize(semi);
  while (!ct.empty() && ct.back() == ' ') ct.pop_back();
  std::transform(ct.begin(), ct.end(), ct.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (ct != "application/fhir+json" && ct != "application/json" && ct != "application/json+fhir") {
    Refuse(415, "not-supported",
           "Content-Type must be application/fhir+json (or application/json), not '" +
               (ct.size() > 64 ? ct.substr(0, 64) : ct) + "'");
  }
}

Json Facade::ParseBody(const Request& req, bool bundle) const {
  RequireFhirJson(req);
  fhir::ValidationLimits limits;
  if (bundle) {
    limits.max_bytes = 512u << 20;  // the request size limit (api.max_body_bytes) applies first
    limits.max_depth = 80;
  }
  auto j = fhir::ParseJson(req.body, limits);
  if (!j.ok()) {
    RefuseStatus(j.status(), j.status().code() == Code::kResourceExhausted ? 413 : 400);
  }
  if (!j->is_object() || !(*j)["resourceType"].is_string()) {
    Refuse(400, "structure", "the body must be a FHIR resource (a JSON object with resourceType)");
  }
  return std::move(*j);
}

ledger::TransactionRef Facade::Sign(ledger::TxType type, Bytes body) const {
  ledger::UnsignedTx u;
  u.type = type;
  u.author = m_key.signing.public_key();
  randombytes_buf(&u.nonce, sizeof u.nonce);
  u.timestamp_ms = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                             std::chrono::system_clock::now().time_since_epoch())
                                             .count());
  u.body = std::move(body);
  return ledger::SignTx(u, m_key.signing);
}

void Facade::CheckType(const std::string& type) const {
  if (!m_defs->IsResourceType(type)) {
    Refuse(
        404, "not-supported",
        "'" + (type.size() > 64 ? type.substr(0, 64) : type) + "' is not a FHIR R4 resource type");
  }
}

bool Facade::IsRecordType(const std::string& type) const {
  return m_record_types.count(type);
}

std::string Facade::OrgOf(const std::string& participant) const {
  auto p = View().GetParticipant(participant);
  if (p.ok() && *p && (*p)->role == ledger::Role::kPractitioner) return (*p)->organisation;
  return participant;
}

// Whether Type/id names something this node holds: a registered patient for
// Patient, else a record of that type that is not erased.
bool Facade::Exists(const std::string& type, const std::string& id) const {
  auto view = View();
  if (type == "Patient") {
    auto p = view.GetParticipant(id);
    if (p.ok() && *p && (*p)->role == ledger::Role::kPatient) return true;
  }
  auto head = view.GetRecord(id);
  return head.ok() && *head && (*head)->type == type && !(*head)->erased;
}

Answer Facade::ResourceAnswer(int status, const Opened& r, const Request& req) const {
  Answer a;
  a.status = status;
  a.headers = {{"ETag", ETag(r.version)}, {"Last-Modified", HttpDate(r.time_ms)}};
  if (status == 201) {
    a.headers.emplace_back(
        "Location", Base() + "/" + r.type + "/" + r.id + "/_history/" + std::to_string(r.version));
  }
  const std::string prefer = req.get_header_value("Prefer");
  if (prefer.find("return=minimal") != std::string::npos) return a;
  if (prefer.find("return=OperationOutcome") != std::string::npos) {
    a.body = fhir::OperationOutcome("information", "informational",
                                    r.type + "/" + r.id + " version " + std::to_string(r.version));
    return a;
  }
  a.body = r.resource;
  return a;
}

// ---- Records ----

std::map<std::string, crypto::BoxPublicKey> Facade::Recipients(const ledger::StateView& view,
                                                               const std::string& patient,
                                                               const std::string& record_id,
                                                               const std::string& type,
                                                               const std::string& custodian) const {
  std::set<std::string> ids = {patient, m_org, custodian};
  auto p = Must(view.GetParticipant(patient));
  if (!p || p->role != ledger::Role::kPatient) {
    Refuse(422, "processing", "Patient/" + patient + " is not a registered patient");
  }
  for (const auto& d : p->delegates) ids.insert(d);
  const uint64_t now = m_backend.Ledger().GetTip().timestamp_ms;
  for (const auto& g : Must(view.PatientGrants(patient))) {
    if (g.ActiveAt(now) && g.grant.Covers(record_id, type)) ids.insert(g.grant.grantee);
  }
  std::map<std::string, crypto::BoxPublicKey> out;
  for (const auto& id : ids) {
    auto q = Must(view.GetParticipant(id));
    if (!q) Refuse(500, "exception", "recipient " + id + " is not registered");
    crypto::BoxPublicKey box;
    std::copy(q->box_key.begin(), q->box_key.end(), box.begin());
    out.emplace(id, box);
  }
  return out;
}

Written Facade::WriteRecord(const std::string& type, const std::string& id,
                            const std::string& patient, Json resource,
                            std::optional<uint32_t> if_match) const {
  resource["id"] = id;
  StripVersionMeta(resource);
  const std::string content = resource.dump();
  for (int attempt = 0;; ++attempt) {
    auto view = View();
    auto head = Must(view.GetRecord(id));
    uint32_t version = 1;
    Hash supersedes{};
    std::string custodian = m_org;
    if (head) {
      if (head->erased) Refuse(410, "deleted", type + "/" + id + " was erased");
      if (head->type != type) {
        Refuse(409, "conflict", "id " + id + " is taken by a record of another type");
      }
      if (head->patient != patient) {
        Refuse(409, "conflict",
               type + "/" + id + " belongs to another patient; a new version cannot move it");
      }
      if (OrgOf(head->custodian) != OrgOf(m_org)) {
        Refuse(403, "forbidden",
               type + "/" + id + " is held by " + head->custodian +
                   "; only its custodian's organisation writes new versions");
      }
      version = head->latest_version + 1;
      auto prev = Must(view.GetRecordVersion(id, head->latest_version));
      if (!prev) Refuse(500, "exception", "record " + id + " lacks its latest version");
      supersedes = prev->tx_id;
      custodian = head->custodian;
    }
    if (if_match && *if_match != version - 1) {
      Refuse(409, "conflict",
             "version conflict: If-Match names version " + std::to_string(*if_match) + " but " +
                 type + "/" + id + " is at version " + std::to_string(version - 1));
    }
    auto sealed = Must(SealEnvelope(id, patient, type, version, supersedes, content,
                                    Recipients(view, patient, id, type, custodian)));
    auto out = m_backend.Submit(Sign(ledger::TxType::kPutRecord, ledger::EncodeBody(sealed.body)),
                                std::move(sealed.sidecar), true);
    if (!out.ok()) RefuseStatus(out.status());
    if (!out->committed) Refuse(504, "timeout", "the write was not committed in time");
    if (out->result.ok()) {
      auto v = Must(View().GetRecordVersion(id, version));
      return Written{type, id, version, v ? v->time_ms : 0};
    }
    const std::string& why = out->result.reason;
    bool raced = why.find("not wrapped for") != std::string::npos ||
                 why.find("is at version") != std::string::npos ||
                 why.find("already exists") != std::string::npos;
    if (attempt == 0 && raced && !if_match) continue;  // a grant or a version appeared: again
    if (why.find("is at version") != std::string::npos ||
        why.find("already exists") != std::string::npos) {
      Refuse(409, "conflict", "version conflict: " + why);
    }
    Refuse(422, "processing", "the ledger refused the write: " + why);
  }
}

void Facade::RegisterPatient(const std::string& id) const {
  crypto::KeyMaterial k = crypto::KeyMaterial::Generate("patient " + id, id);
  std::error_code ec;
  fs::create_directories(m_key_dir, ec);
  fs::permissions(m_key_dir, fs::perms::owner_all, fs::perm_options::replace, ec);
  const fs::path path = m_key_dir / (id + ".key");
  // One Argon2id run for all the patients this node escrows (KdfCache).
  auto text =
      crypto::EncryptKeyFile(k, m_passphrase, crypto::KdfParams::Interactive(), &m_kdf_cache);
  Status s = text.ok() ? crypto::WriteKeyFileText(path.string(), *text, crypto::Overwrite::kNo)
                       : text.status();
  if (!s.ok()) {
    spdlog::error("fhir: cannot escrow the key of patient {}: {}", id, s.ToString());
    Refuse(500, "exception", "cannot store the new patient's key file");
  }
  ledger::RegisterParticipant r;
  r.id = id;
  r.role = ledger::Role::kPatient;
  r.sign_key = k.signing.public_key();
  r.box_key = k.encryption.public_key();
  auto out = m_backend.Submit(Sign(ledger::TxType::kRegisterParticipant, ledger::EncodeBody(r)),
                              std::nullopt, true);
  if (!out.ok() || !out->committed || !out->result.ok()) {
    fs::remove(path, ec);
    if (!out.ok()) RefuseStatus(out.status());
    Refuse(409, "conflict", "registering Patient/" + id + ": " + out->result.reason);
  }
  spdlog::info("fhir: registered patient {} (key file {})", id, path.string());
}

std::vector<Opened> Facade::ReadRecords(ledger::ReadRecord request,
                                        std::vector<std::string>* skipped) const {
  request.purpose = std::string(kReadPurpose);
  auto out = m_backend.Read(Sign(ledger::TxType::kReadRecord, ledger::EncodeBody(request)));
  if (!out.ok()) {
    const Status& s = out.status();
    if (s.code() == Code::kFailedPrecondition && s.message().rfind("erased:", 0) == 0) {
      Refuse(410, "deleted", s.message().substr(8));
    }
    if (s.code() == Code::kPermissionDenied) {
      Refuse(403, "forbidden", "refused by the consent rules: " + s.message());
    }
    RefuseStatus(s);
  }
  auto view = View();
  std::vector<Opened> opened;
  for (const auto& r : out->records) {
    const std::string name = r.type + "/" + r.record_id;
    if (!r.wrapped_key) {
      if (skipped) skipped->push_back(name + ": no data key is wrapped for " + m_org);
      continue;
    }
    auto v = Must(view.GetRecordVersion(r.record_id, r.version));
    if (!v)
      Refuse(500, "exception", name + ": the ledger lacks version " + std::to_string(r.version));
    auto data_key = m_key.OpenSealed(*r.wrapped_key);
    if (!data_key.ok()) {
      if (skipped)
        skipped->push_back(name + ": the data key does not open with " + m_org + "'s key");
      continue;
    }
    auto content =
        OpenEnvelope(*data_key, r.ciphertext, r.record_id, r.version, r.patient, v->commitment);
    SecureZero(*data_key);
    if (!content.ok()) Refuse(500, "exception", content.status().message());
    auto res = fhir::ParseJson(*content);
    SecureZero(*content);
    if (!res.ok() || !res->is_object()) Refuse(500, "exception", name + " is not FHIR JSON");
    (*res)["id"] = r.record_id;
    Json& meta = (*res)["meta"];
    if (!meta.is_object()) meta = Json::object();
    meta["versionId"] = std::to_string(r.version);
    meta["lastUpdated"] = fhir::FormatInstant(static_cast<int64_t>(v->time_ms));
    opened.push_back(
        Opened{r.type, r.record_id, r.patient, r.version, v->time_ms, std::move(*res)});
  }
  return opened;
}

// One record version (0: the latest), read through the consent rules.
Opened Facade::ReadOne(const std::string& type, const std::string& id, uint32_t version) const {
  if (!IsServableId(id)) Refuse(404, "not-found", type + "/" + id + " is not known");
  auto head = Must(View().GetRecord(id));
  if (!head || head->type != type) Refuse(404, "not-found", type + "/" + id + " is not known");
  if (version > head->latest_version) {
    Refuse(404, "not-found", type + "/" + id + " has no version " + std::to_string(version));
  }
  ledger::ReadRecord r;
  r.record_id = id;
  r.version = version;
  std::vector<std::string> skipped;
  auto opened = ReadRecords(r, &skipped);
  if (opened.empty()) {
    Refuse(403, "forbidden",
           skipped.empty() ? type + "/" + id + ": nothing released" : skipped.front());
  }
  return std::move(opened.front());
}

// Every literal reference must name something that exists here (or on
// another server). urn: and conditional references only make sense in a
// transaction Bundle.
void Facade::CheckReferences(const Json& resource, std::vector<fhir::Issue>& issues) const {
  const std::string base = Base();
  fhir::ForEachReference(*m_defs, resource, [&](const Json& ref, const std::string& expr) {
    auto parts = fhir::ParseReference(ref.value("reference", ""), m_defs.get());
    using K = fhir::ReferenceParts::Kind;
    if (parts.kind == K::kAbsolute && parts.base != base) return;  // another server's
    if (parts.kind == K::kRelative || parts.kind == K::kAbsolute) {
      if (!Exists(parts.type, parts.id)) {
        issues.push_back(fhir::Issue{
            "error", "not-found", expr,
            "reference to " + parts.type + "/" + parts.id + ", which does not exist here"});
      }
    } else if (parts.kind == K::kUrn) {
      issues.push_back(fhir::Issue{"error", "processing", expr,
                                   "urn: references resolve only inside a transaction Bundle"});
    } else if (parts.kind == K::kConditional) {
      issues.push_back(
          fhir::Issue{"error", "not-supported", expr, "conditional references are not supported"});
    }
  });
}

// "Bundle.entry[i]" + rest.
std::string EntryPath(size_t i, const std::string& rest) {
  return "Bundle.entry[" + std::to_string(i) + "]" + rest;
}

// "Observation.subject" of entry i -> "Bundle.entry[i].resource.subject".
std::string InEntry(const std::string& prefix, const std::string& expression) {
  if (prefix.empty()) return expression;
  auto dot = expression.find('.');
  return prefix + (dot == std::string::npos ? "" : expression.substr(dot));
}

// The patient a record belongs to: the one Patient its compartment links
// name, or "" (with an issue when it names several or an unknown one).
// `new_patients` are patients a transaction is creating; `prefix` places
// issues in a Bundle entry.
std::string Facade::PatientOf(const Json& resource, const std::set<std::string>& new_patients,
                              std::vector<fhir::Issue>& issues, const std::string& prefix) const {
  std::set<std::string> ids;
  std::string expr;
  for (const auto& link : fhir::PatientCompartmentLinks(*m_defs, resource)) {
    auto parts = fhir::ParseReference(link.reference, m_defs.get());
    if (parts.type == "Patient" && !parts.id.empty()) {
      ids.insert(parts.id);
      if (expr.empty()) expr = ElementPath(link.expression);
    }
  }
  if (ids.size() > 1) {
    issues.push_back(fhir::Issue{"error", "processing", InEntry(prefix, expr),
                                 "names more than one patient; a record belongs to one"});
    return "";
  }
  if (ids.empty()) return "";
  const std::string& id = *ids.begin();
  if (!new_patients.count(id)) {
    auto p = View().GetParticipant(id);
    if (!p.ok() || !*p || (*p)->role != ledger::Role::kPatient) {
      issues.push_back(fhir::Issue{"error", "not-found", InEntry(prefix, expr),
                                   "reference to Patient/" + id + ", which does not exist here"});
      return "";
    }
  }
  return id;
}

// ---- Interactions ----

Answer Facade::Metadata() {
  std::call_once(m_capability_once, [&] {
    m_capability = fhir::CapabilityStatement(
        *m_defs, fhir::CapabilityOptions{Base(), std::string(kSoftwareVersion), m_started_ms});
  });
  return Answer{200, m_capability, {}};
}

Answer Facade::Create(const Request& req, const std::string& type) {
  CheckType(type);
  if (!IsRecordType(type)) {
    Refuse(405, "not-supported",
           type + " resources are " +
               (IsLedgerView(type) ? "generated from the ledger (read and search only)"
                                   : "not stored as records"));
  }
  Json resource = ParseBody(req, false);
  if (resource["resourceType"] != type) {
    Refuse(400, "invariant",
           "resourceType '" + resource["resourceType"].get<std::string>() +
               "' does not match the URL's type " + type,
           type);
  }
  resource.erase("id");  // the server assigns the id on create
  if (auto issues = fhir::CheckResource(*m_defs, resource); !issues.empty()) {
    RefuseIssues(issues,
                 fhir::StatusFromIssues(issues).code() == Code::kResourceExhausted ? 413 : 400);
  }
  const std::string id = NewId();
  std::vector<fhir::Issue> issues;
  CheckReferences(resource, issues);
  std::string patient;
  if (type == "Patient") {
    patient = id;
  } else {
    patient = PatientOf(resource, {}, issues, "");
    if (patient.empty() && issues.empty()) {
      issues.push_back(fhir::Issue{
          "error", "processing", type,
          "names no Patient (e.g. subject or patient): every record belongs to a patient"});
    }
  }
  if (!issues.empty()) RefuseIssues(issues, 422);
  if (type == "Patient") RegisterPatient(id);
  Written w = WriteRecord(type, id, patient, resource, std::nullopt);
  resource["id"] = id;
  StripVersionMeta(resource);
  Json& meta = resource["meta"];
  if (!meta.is_object()) meta = Json::object();
  meta["versionId"] = std::to_string(w.version);
  meta["lastUpdated"] = fhir::FormatInstant(static_cast<int64_t>(w.time_ms));
  return ResourceAnswer(201, Opened{type, id, patient, w.version, w.time_ms, resource}, req);
}

Answer Facade::Update(const Request& req, const std::string& type, const std::string& id) {
  CheckType(type);
  if (!IsRecordType(type)) {
    Refuse(405, "not-supported",
           type + " resources are " +
               (IsLedgerView(type) ? "generated from the ledger (read and search only)"
                                   : "not stored as records"));
  }
  if (!IsServableId(id)) Refuse(400, "value", "'" + id + "' is not a valid id");
  Json resource = ParseBody(req, false);
  if (resource["resourceType"] != type) {
    Refuse(400, "invariant",
           "resourceType '" + resource["resourceType"].get<std::string>() +
               "' does not match the URL's type " + type,
           type);
  }
  if (!resource.contains("id") || resource["id"] != id) {
    Refuse(400, "invariant", "the resource's id must equal the id in the URL", type + ".id");
  }
  if (auto issues = fhir::CheckResource(*m_defs, resource); !issues.empty()) {
    RefuseIssues(issues,
                 fhir::StatusFromIssues(issues).code() == Code::kResourceExhausted ? 413 : 400);
  }
  std::optional<uint32_t> if_match;
  if (req.has_header("If-Match")) {
    if_match = ParseETag(req.get_header_value("If-Match"));
    if (!if_match) Refuse(400, "value", "If-Match must be a version ETag such as W/\"1\"");
  }
  std::vector<fhir::Issue> issues;
  CheckReferences(resource, issues);
  std::string patient;
  bool register_patient = false;
  auto head = Must(View().GetRecord(id));
  if (head && head->type != type) {
    Refuse(409, "conflict", "id " + id + " is taken by a record of another type");
  }
  if (type == "Patient") {
    patient = id;
    auto p = Must(View().GetParticipant(id));
    if (p && p->role != ledger::Role::kPatient) {
      Refuse(409, "conflict", "id " + id + " belongs to a participant who is not a patient");
    }
    register_patient = !p;
  } else {
    patient = PatientOf(resource, {}, issues, "");
    if (patient.empty() && issues.empty()) {
      if (head) {
        patient = head->patient;  // no compartment link: keep the record's patient
      } else {
        issues.push_back(fhir::Issue{
            "error", "processing", type,
            "names no Patient (e.g. subject or patient): every record belongs to a patient"});
      }
    }
  }
  if (!issues.empty()) RefuseIssues(issues, 422);
  if (register_patient) RegisterPatient(id);
  Written w = WriteRecord(type, id, patient, resource, if_match);
  StripVersionMeta(resource);
  Json& meta = resource["meta"];
  if (!meta.is_object()) meta = Json::object();
  meta["versionId"] = std::to_string(w.version);
  meta["lastUpdated"] = fhir::FormatInstant(static_cast<int64_t>(w.time_ms));
  return ResourceAnswer(w.version == 1 ? 201 : 200,
                        Opened{type, id, patient, w.version, w.time_ms, resource}, req);
}

Answer Facade::Read(const Request& req, const std::string& type, const std::string& id) {
  CheckType(type);
  if (IsLedgerView(type)) return LedgerRead(type, id);
  if (!IsRecordType(type)) Refuse(404, "not-found", type + "/" + id + " is not known");
  return ResourceAnswer(200, ReadOne(type, id, 0), req);
}

Answer Facade::VRead(const Request& req, const std::string& type, const std::string& id,
                     const std::string& vid) {
  CheckType(type);
  if (!IsRecordType(type)) Refuse(404, "not-found", type + "/" + id + " has no history here");
  auto v = ParseETag(vid);
  if (!v || *v == 0) Refuse(404, "not-found", type + "/" + id + " has no version " + vid);
  return ResourceAnswer(200, ReadOne(type, id, *v), req);
}

Answer Facade::History(const Request& req, const std::string& type, const std::string& id) {
  CheckType(type);
  if (!IsRecordType(type)) Refuse(404, "not-found", type + "/" + id + " has no history here");
  if (!IsServableId(id)) Refuse(404, "not-found", type + "/" + id + " is not known");
  auto head = Must(View().GetRecord(id));
  if (!head || head->type != type) Refuse(404, "not-found", type + "/" + id + " is not known");
  // The newest _count versions (default 50, at most 1,000), one audited read
  // each.
  size_t count = 50;
  if (req.has_param("_count")) {
    const std::string c = req.get_param_value("_count");
    if (c.empty() || c.size() > 6 || !std::all_of(c.begin(), c.end(), ::isdigit)) {
      Refuse(400, "value", "_count must be a non-negative integer", "_count");
    }
    count = std::min<size_t>(std::stoul(c), 1000);
  }
  const uint32_t latest = head->latest_version;
  std::vector<Opened> versions(std::min<size_t>(count, latest));
  RunParallel(versions.size(), [&](size_t i) {
    versions[i] = ReadOne(type, id, latest - static_cast<uint32_t>(i));
  });
  Json entries = Json::array();
  for (const auto& o : versions) {
    entries.push_back(
        Json{{"fullUrl", Base() + "/" + type + "/" + id},
             {"resource", o.resource},
             {"request",
              {{"method", o.version == 1 ? "POST" : "PUT"},
               {"url", o.version == 1 ? type : type + "/" + id}}},
             {"response",
              {{"status", o.version == 1 ? "201 Created" : "200 OK"},
               {"etag", ETag(o.version)},
               {"lastModified", fhir::FormatInstant(static_cast<int64_t>(o.time_ms))}}}});
  }
  Json bundle = {{"resourceType", "Bundle"},
                 {"id", NewId()},
                 {"type", "history"},
                 {"total", latest},
                 {"link", Json::array({{{"relation", "self"},
                                        {"url", Base() + "/" + type + "/" + id + "/_history"}}})},
                 {"entry", entries}};
  return Answer{200, bundle, {}};
}

Answer Facade::Search(const Request& req, const std::string& type) {
  CheckType(type);
  if (IsLedgerView(type)) return LedgerSearch(req, type);
  if (!IsRecordType(type)) Refuse(404, "not-supported", type + " resources are not stored here");
  auto query = Must(fhir::ParseSearch(*m_defs, type, QueryParams(req)));
  auto view = View();
  // Records are encrypted per patient: a search names its patient(s), or ids.
  std::vector<std::string> patients;
  auto add_patients = [&](const fhir::ReferenceCriterion* c) {
    if (!c) return false;
    for (const auto& v : c->values) {
      auto parts = fhir::ParseReference(v, m_defs.get());
      if (parts.kind == fhir::ReferenceParts::Kind::kRelative && parts.type == "Patient") {
        patients.push_back(parts.id);
      } else if (parts.kind == fhir::ReferenceParts::Kind::kOther && IsServableId(v)) {
        patients.push_back(v);
      }
    }
    return true;
  };
  bool by_patient = add_patients(query.Reference("patient")) ||
                    (type != "Patient" && add_patients(query.Reference("subject")));
  if (!by_patient && req.has_param("patient")) {
    // Types without a patient parameter (Organization, Practitioner, ...):
    // the patient still names whose records to look at.
    fhir::ReferenceCriterion c;
    for (size_t i = 0; i < req.get_param_value_count("patient"); ++i) {
      c.values.push_back(req.get_param_value("patient", i));
    }
    by_patient = add_patients(&c);
  }
  std::vector<Opened> found;
  std::vector<std::string> skipped;
  if (by_patient) {
    for (const auto& p : patients) {
      if (!IsServableId(p)) continue;
      bool any = false;
      for (const auto& rid : Must(view.PatientRecordIds(p))) {
        auto head = Must(view.GetRecord(rid));
        any |= head && head->type == type && !head->erased;
      }
      if (!any) continue;  // nothing to read: no access event
      ledger::ReadRecord r;
      r.patient = p;
      r.type = type;
      for (auto& o : ReadRecords(r, &skipped)) found.push_back(std::move(o));
    }
  } else if (!query.ids.empty()) {
    for (const auto& id : query.ids) {
      if (!IsServableId(id)) continue;
      auto head = Must(view.GetRecord(id));
      if (!head || head->type != type || head->erased) continue;
      found.push_back(ReadOne(type, id, 0));
    }
  } else {
    Refuse(400, "not-supported",
           "a search of " + type +
               " needs patient= (or _id=): records are encrypted per patient, so the node "
               "cannot search across patients");
  }
  std::vector<fhir::SearchMatch> matches;
  for (auto& o : found) {
    if (!fhir::Matches(query, o.resource)) continue;
    matches.push_back(
        fhir::SearchMatch{Base() + "/" + o.type + "/" + o.id, std::move(o.resource), "match"});
  }
  const size_t total = matches.size();
  if (matches.size() > query.count) matches.resize(query.count);
  std::vector<fhir::Issue> notes;
  for (const auto& s : skipped) notes.push_back(fhir::Issue{"warning", "suppressed", "", s});
  if (total > query.count) {
    notes.push_back(fhir::Issue{"warning", "too-costly", "",
                                "only the first " + std::to_string(query.count) + " of " +
                                    std::to_string(total) +
                                    " matches are returned (_count; no paging)"});
  }
  if (!query.ignored.empty()) {
    std::string names;
    for (const auto& n : query.ignored) names += (names.empty() ? "" : ", ") + n;
    notes.push_back(
        fhir::Issue{"information", "not-supported", "", "search parameters not applied: " + names});
  }
  if (!notes.empty()) {
    matches.push_back(
        fhir::SearchMatch{"urn:uuid:" + NewId(), fhir::OperationOutcome(notes), "outcome"});
  }
  std::string qs = fhir::CanonicalQueryString(query);
  return Answer{200,
                fhir::SearchsetBundle(std::move(matches), total,
                                      Base() + "/" + type + (qs.empty() ? "" : "?" + qs)),
                {}};
}

Answer Facade::Everything(const Request& req, const std::string& id) {
  (void)req;
  auto view = View();
  auto p = Must(view.GetParticipant(id));
  if (!IsServableId(id) || !p || p->role != ledger::Role::kPatient) {
    Refuse(404, "not-found", "Patient/" + id + " is not known");
  }
  std::set<std::string> types;
  for (const auto& rid : Must(view.PatientRecordIds(id))) {
    auto head = Must(view.GetRecord(rid));
    if (head && !head->erased) types.insert(head->type);
  }
  // One audited read per type; a type the consent rules refuse is reported,
  // not fatal.
  struct TypeRead {
    std::string type;
    std::vector<Opened> opened;
    std::vector<std::string> skipped;
    std::optional<std::string> refused;
  };
  std::vector<TypeRead> reads;
  for (const auto& t : types) reads.push_back(TypeRead{t, {}, {}, std::nullopt});
  RunParallel(reads.size(), [&](size_t i) {
    TypeRead& tr = reads[i];
    ledger::ReadRecord r;
    r.patient = id;
    r.type = tr.type;
    try {
      tr.opened = ReadRecords(r, &tr.skipped);
    } catch (const Refusal& refusal) {
      if (refusal.status != 403) throw;
      tr.refused = refusal.outcome["issue"][0].value("diagnostics", std::string());
    }
  });
  std::vector<Opened> all;
  std::vector<fhir::Issue> notes;
  size_t refused = 0;
  for (auto& tr : reads) {
    for (auto& o : tr.opened) all.push_back(std::move(o));
    if (tr.refused) {
      ++refused;
      notes.push_back(fhir::Issue{"warning", "forbidden", "", tr.type + ": " + *tr.refused});
    }
    for (const auto& s : tr.skipped) notes.push_back(fhir::Issue{"warning", "suppressed", "", s});
  }
  if (!reads.empty() && refused == reads.size()) {
    throw Refusal{403, fhir::OperationOutcome(notes)};
  }
  std::stable_sort(all.begin(), all.end(), [](const Opened& a, const Opened& b) {
    bool pa = a.type == "Patient", pb = b.type == "Patient";
    if (pa != pb) return pa;
    return std::tie(a.type, a.id) < std::tie(b.type, b.id);
  });
  std::vector<fhir::SearchMatch> matches;
  for (auto& o : all) {
    matches.push_back(
        fhir::SearchMatch{Base() + "/" + o.type + "/" + o.id, std::move(o.resource), "match"});
  }
  const size_t total = matches.size();
  if (!notes.empty()) {
    matches.push_back(
        fhir::SearchMatch{"urn:uuid:" + NewId(), fhir::OperationOutcome(notes), "outcome"});
  }
  return Answer{
      200,
      fhir::SearchsetBundle(std::move(matches), total, Base() + "/Patient/" + id + "/$everything"),
      {}};
}

// Checks every entry of a transaction and resolves the references between
// them (rewriting `bundle`): which record each entry writes, of which
// patient, and whether it may. Refuses (400/409/410/422, every issue
// found) before anything is written.
std::vector<TxEntry> Facade::PlanTransaction(fhir::Bundle& bundle) const {
  const size_t n = bundle.entries.size();
  std::vector<TxEntry> plan(n);
  std::vector<fhir::Issue> issues;
  auto view = View();
  for (size_t i = 0; i < n; ++i) {
    const fhir::BundleEntry& e = bundle.entries[i];
    TxEntry& t = plan[i];
    t.method = e.method;
    if (e.method != "POST" && e.method != "PUT") {
      issues.push_back(
          fhir::Issue{"error", "not-supported", EntryPath(i, ".request.method"),
                      e.method + " is not supported in transactions here (POST, PUT)"});
      continue;
    }
    if (!e.if_none_exist.empty() || !e.if_none_match.empty()) {
      issues.push_back(fhir::Issue{"error", "not-supported", EntryPath(i, ".request"),
                                   "conditional create and update are not supported"});
      continue;
    }
    t.type = e.resource.value("resourceType", "");
    if (!IsRecordType(t.type)) {
      issues.push_back(fhir::Issue{"error", "not-supported", EntryPath(i, ".resource"),
                                   t.type + " resources are not stored as records"});
      continue;
    }
    if (e.method == "POST") {
      if (e.url != t.type) {
        issues.push_back(fhir::Issue{"error", "invariant", EntryPath(i, ".request.url"),
                                     "a POST entry's url must be its resource type " + t.type});
      }
      t.id = NewId();
      t.new_patient = t.type == "Patient";
    } else {
      auto slash = e.url.find('/');
      std::string utype = e.url.substr(0, slash);
      std::string uid = slash == std::string::npos ? "" : e.url.substr(slash + 1);
      if (utype != t.type || !IsServableId(uid)) {
        issues.push_back(fhir::Issue{"error", "invariant", EntryPath(i, ".request.url"),
                                     "a PUT entry's url must be " + t.type + "/<id>"});
        continue;
      }
      if (e.resource.contains("id") && e.resource["id"] != uid) {
        issues.push_back(fhir::Issue{"error", "invariant", EntryPath(i, ".resource.id"),
                                     "must equal the id in request.url"});
      }
      t.id = uid;
      if (!e.if_match.empty()) {
        t.if_match = ParseETag(e.if_match);
        if (!t.if_match) {
          issues.push_back(fhir::Issue{"error", "value", EntryPath(i, ".request.ifMatch"),
                                       "must be a version ETag such as W/\"1\""});
        }
      }
      if (t.type == "Patient") {
        auto p = Must(view.GetParticipant(uid));
        if (p && p->role != ledger::Role::kPatient) {
          issues.push_back(
              fhir::Issue{"error", "conflict", EntryPath(i, ".request.url"),
                          "id " + uid + " belongs to a participant who is not a patient"});
        }
        t.new_patient = !p;
      }
    }
  }
  if (!issues.empty()) RefuseIssues(issues, 400);
  std::set<std::string> seen;
  for (const auto& t : plan) {
    if (!seen.insert(t.type + "/" + t.id).second) {
      Refuse(400, "invariant", "the transaction writes " + t.type + "/" + t.id + " twice");
    }
  }

  // New ids, and every reference inside the bundle resolved to them.
  size_t k = 0;
  auto map = fhir::ResolveBundleReferences(
      *m_defs, bundle, [&](std::string_view, const fhir::BundleEntry&) { return plan[k++].id; });
  if (!map.ok()) RefuseStatus(map.status(), 400);
  for (const auto& p : map->problems) {
    std::string where = InEntry(EntryPath(p.entry, ".resource"), p.expression);
    using K = fhir::ReferenceProblem::Kind;
    if (p.kind == K::kMissingEntry) {
      issues.push_back(fhir::Issue{"error", "not-found", where,
                                   "reference " + p.reference + " names no entry of the Bundle"});
    } else if (p.kind == K::kConditional) {
      issues.push_back(
          fhir::Issue{"error", "not-supported", where, "conditional references are not supported"});
    } else if (p.kind == K::kNotInBundle) {
      auto parts = fhir::ParseReference(p.reference, m_defs.get());
      if (!Exists(parts.type, parts.id)) {
        issues.push_back(fhir::Issue{"error", "not-found", where,
                                     "reference to " + parts.type + "/" + parts.id +
                                         ", which is neither in the Bundle nor here"});
      }
    }
  }
  // Whose records: each entry's patient; entries outside the compartment
  // (Organization, Practitioner, ...) belong to the Bundle's one patient.
  std::set<std::string> new_patients, bundle_patients;
  for (const auto& t : plan) {
    if (t.new_patient) new_patients.insert(t.id);
    if (t.type == "Patient") bundle_patients.insert(t.id);
  }
  for (size_t i = 0; i < n; ++i) {
    TxEntry& t = plan[i];
    if (t.type == "Patient") {
      t.patient = t.id;
      continue;
    }
    t.patient =
        PatientOf(bundle.entries[i].resource, new_patients, issues, EntryPath(i, ".resource"));
    if (!t.patient.empty()) bundle_patients.insert(t.patient);
  }
  for (size_t i = 0; i < n; ++i) {
    TxEntry& t = plan[i];
    if (!t.patient.empty()) continue;
    auto head = Must(view.GetRecord(t.id));
    if (head && t.method == "PUT") {
      t.patient = head->patient;
    } else if (bundle_patients.size() == 1) {
      t.patient = *bundle_patients.begin();
    } else {
      issues.push_back(fhir::Issue{"error", "processing", EntryPath(i, ".resource"),
                                   "names no Patient, and the Bundle has not exactly one: every "
                                   "record belongs to a patient"});
    }
  }
  // Updates of existing records: same type, patient and custodian.
  for (size_t i = 0; i < n; ++i) {
    const TxEntry& t = plan[i];
    auto head = Must(view.GetRecord(t.id));
    if (!head) continue;
    std::string why;
    int status = 409;
    if (t.method == "POST") {
      why = "id " + t.id + " is taken";
    } else if (head->erased) {
      why = t.type + "/" + t.id + " was erased";
      status = 410;
    } else if (head->type != t.type) {
      why = "id " + t.id + " is taken by a record of another type";
    } else if (head->patient != t.patient && !t.patient.empty()) {
      why = t.type + "/" + t.id + " belongs to another patient";
    } else if (OrgOf(head->custodian) != OrgOf(m_org)) {
      why = t.type + "/" + t.id + " is held by " + head->custodian;
      status = 403;
    } else if (t.if_match && *t.if_match != head->latest_version) {
      why = "version conflict: If-Match names version " + std::to_string(*t.if_match) +
            " but the record is at version " + std::to_string(head->latest_version);
    }
    if (!why.empty()) {
      throw Refusal{status,
                    fhir::OperationOutcome("error", status == 403 ? "forbidden" : "conflict", why,
                                           EntryPath(i, ""))};
    }
  }
  if (!issues.empty()) RefuseIssues(issues, 422);
  return plan;
}

Answer Facade::Transaction(const Request& req) {
  Json doc = ParseBody(req, true);
  if (doc["resourceType"] != "Bundle") {
    Refuse(400, "invariant",
           "POST to the base takes a transaction Bundle, not a " +
               doc["resourceType"].get<std::string>());
  }
  fhir::ValidationLimits limits;
  limits.max_bytes = 512u << 20;
  limits.max_depth = 80;
  // Everything is checked before anything is written.
  if (auto issues = fhir::CheckResource(*m_defs, doc, limits); !issues.empty()) {
    RefuseIssues(issues, 400);
  }
  auto parsed = fhir::ParseBundle(std::move(doc));
  if (!parsed.ok()) RefuseStatus(parsed.status(), 400);
  fhir::Bundle bundle = std::move(*parsed);
  if (bundle.type != fhir::BundleType::kTransaction) {
    Refuse(400, "not-supported",
           "Bundle.type: '" + std::string(fhir::BundleTypeName(bundle.type)) +
               "' is not processed here; POST a transaction Bundle",
           "Bundle.type");
  }
  std::vector<TxEntry> plan = PlanTransaction(bundle);
  const size_t n = bundle.entries.size();

  // Write: patients first (registered, then their Patient records), then
  // everything else, kMaxParallelReads at once. A failure here (the node stopping, a
  // concurrent writer) can leave part of the Bundle written: the answer says
  // which entries were.
  std::vector<std::optional<Written>> written(n);
  std::vector<std::string> failed(n);
  auto write = [&](size_t i) {
    try {
      written[i] = WriteRecord(plan[i].type, plan[i].id, plan[i].patient,
                               bundle.entries[i].resource, plan[i].if_match);
    } catch (const Refusal& r) {
      failed[i] = r.outcome["issue"][0].value("diagnostics", std::string("failed"));
    }
  };
  auto run = [&](const std::vector<size_t>& idx) {
    RunParallel(idx.size(), [&](size_t j) { write(idx[j]); });
  };
  std::vector<size_t> patients_idx, others_idx;
  for (size_t i = 0; i < n; ++i)
    (plan[i].type == "Patient" ? patients_idx : others_idx).push_back(i);
  for (size_t i : patients_idx) {
    if (plan[i].new_patient) RegisterPatient(plan[i].id);
  }
  run(patients_idx);
  bool patients_ok = std::all_of(patients_idx.begin(), patients_idx.end(),
                                 [&](size_t i) { return failed[i].empty(); });
  if (patients_ok) run(others_idx);
  std::vector<fhir::Issue> failures;
  for (size_t i = 0; i < n; ++i) {
    if (!failed[i].empty())
      failures.push_back(fhir::Issue{"error", "exception", EntryPath(i, ""), failed[i]});
    else if (!written[i])
      failures.push_back(fhir::Issue{"error", "exception", EntryPath(i, ""),
                                     "not written: an earlier entry failed"});
  }
  if (!failures.empty()) {
    for (size_t i = 0; i < n; ++i) {
      if (written[i]) {
        failures.push_back(fhir::Issue{"information", "informational", EntryPath(i, ""),
                                       "written as " + plan[i].type + "/" + plan[i].id +
                                           " version " + std::to_string(written[i]->version)});
      }
    }
    throw Refusal{500, fhir::OperationOutcome(failures)};
  }
  Json entries = Json::array();
  for (size_t i = 0; i < n; ++i) {
    const Written& w = *written[i];
    entries.push_back(
        Json{{"fullUrl", Base() + "/" + w.type + "/" + w.id},
             {"response",
              {{"status", w.version == 1 ? "201 Created" : "200 OK"},
               {"location", w.type + "/" + w.id + "/_history/" + std::to_string(w.version)},
               {"etag", ETag(w.version)},
               {"lastModified", fhir::FormatInstant(static_cast<int64_t>(w.time_ms))}}}});
  }
  return Answer{200,
                Json{{"resourceType", "Bundle"},
                     {"id", NewId()},
                     {"type", "transaction-response"},
                     {"entry", entries}},
                {}};
}

// ---- The ledger as FHIR ----

fhir::ViewContext Facade::Context() const {
  fhir::ViewContext c;
  c.node_id = m_backend.Summary().node_id;
  c.site = m_org;
  return c;
}

std::optional<Json> Facade::AuditEventOf(const ledger::AuditEntry& a,
                                         const std::string& patient) const {
  auto tx = m_backend.Ledger().GetTx(a.tx_id);
  if (!tx.ok() || !*tx) return std::nullopt;
  const ledger::Transaction& t = *(*tx)->first;
  fhir::AccessEventView v;
  v.tx_id = ToHex(a.tx_id);
  v.height = a.height;
  v.leaf_index = a.leaf_index;
  v.time_ms = static_cast<int64_t>(a.time_ms);
  v.requester_id = a.actor;
  auto who = View().GetParticipant(a.actor);
  v.requester_role = who.ok() && *who ? std::string(ledger::RoleName((*who)->role)) : "unknown";
  v.patient_id = patient;
  v.granted = !(a.flags & ledger::kAuditRefused);
  v.break_glass = a.flags & ledger::kAuditBreakGlass;
  if (!v.granted) v.refusal_reason = a.reason;
  if (t.type() == ledger::TxType::kReadRecord) {
    auto body = ledger::DecodeBody<ledger::ReadRecord>(t.body(), "read_record");
    if (!body.ok()) return std::nullopt;
    v.record_id = body->record_id;
    v.purpose = body->purpose;
    v.break_glass_reason = body->reason;
    if (!body->record_id.empty()) {
      auto head = View().GetRecord(body->record_id);
      if (head.ok() && *head) v.record_type = (*head)->type;
    } else {
      v.record_type = body->type;
    }
  } else if (t.type() == ledger::TxType::kAccessRefused) {
    auto body = ledger::DecodeBody<ledger::AccessRefused>(t.body(), "access_refused");
    if (!body.ok()) return std::nullopt;
    v.record_id = body->record_id;
    v.granted = false;
    v.refusal_reason = body->reason;
    if (!body->record_id.empty()) {
      auto head = View().GetRecord(body->record_id);
      if (head.ok() && *head) v.record_type = (*head)->type;
    }
  } else {
    return std::nullopt;
  }
  if (!v.record_id.empty() && !fhir::IsValidId(v.record_id)) {
    v.record_id.clear();  // a ledger id FHIR cannot name: keep the event, without the entity
  }
  auto j = fhir::AuditEventFor(v, Context());
  if (!j.ok()) return std::nullopt;
  return *j;
}

std::vector<Json> Facade::ProvenanceOf(const std::string& record_id,
                                       std::optional<uint32_t> only_version) const {
  std::vector<Json> out;
  auto view = View();
  auto head = Must(view.GetRecord(record_id));
  if (!head) return out;
  for (uint32_t ver = 1; ver <= head->latest_version; ++ver) {
    if (only_version && *only_version != ver) continue;
    auto rv = Must(view.GetRecordVersion(record_id, ver));
    if (!rv) continue;
    fhir::RecordVersionView v;
    v.record_id = record_id;
    v.version = ver;
    if (ver > 1) v.supersedes_tx_id = ToHex(rv->supersedes_tx);
    v.patient_id = head->patient;
    v.custodian_id = head->custodian;
    auto tx = m_backend.Ledger().GetTx(rv->tx_id);
    if (tx.ok() && *tx) v.author_key_hex = ToHex((*tx)->first->author());
    v.resource_type = head->type;
    v.time_ms = static_cast<int64_t>(rv->time_ms);
    v.tx_id = ToHex(rv->tx_id);
    v.ciphertext_hash_hex = ToHex(rv->ciphertext_hash);
    auto j = fhir::ProvenanceFor(v, Context());
    if (j.ok()) out.push_back(std::move(*j));
  }
  if (head->erased && !only_version) {
    fhir::RecordVersionView v;
    v.record_id = record_id;
    v.version = head->latest_version;
    v.patient_id = head->patient;
    v.custodian_id = head->custodian;
    v.resource_type = head->type;
    v.erased = true;
    v.erased_time_ms = static_cast<int64_t>(head->erased_time_ms);
    v.erased_by = head->erased_by;
    v.erased_tx_id = ToHex(head->erase_tx);
    auto j = fhir::ErasureProvenanceFor(v, Context());
    if (j.ok()) out.push_back(std::move(*j));
  }
  return out;
}

Json Facade::ConsentOf(const ledger::GrantState& g) const {
  fhir::GrantView v;
  v.grant_id = ToHex(g.id);
  v.tx_id = ToHex(g.id);
  v.patient_id = g.grant.patient;
  v.grantee_id = g.grant.grantee;
  v.scope_types = g.grant.scope_types;
  v.scope_record_ids = g.grant.scope_records;
  v.purpose = g.grant.purpose;
  v.expiry_ms = static_cast<int64_t>(g.grant.expiry_ms);
  v.created_ms = static_cast<int64_t>(g.time_ms);
  const uint64_t now = m_backend.Ledger().GetTip().timestamp_ms;
  v.status = g.revoked ? "revoked" : g.ActiveAt(now) ? "active" : "expired";
  v.revoked_ms = static_cast<int64_t>(g.revoked_time_ms);
  return Must(fhir::ConsentFor(v, Context()));
}

Answer Facade::LedgerRead(const std::string& type, const std::string& id) {
  auto hash = HashFromHex(id);
  if (!hash) Refuse(404, "not-found", type + "/" + id + " is not known");
  const auto& store = m_backend.Ledger();
  if (type == "Consent") {
    auto g = Must(View().GetGrant(*hash));
    if (!g) Refuse(404, "not-found", type + "/" + id + " is not known");
    return Answer{200, ConsentOf(*g), {}};
  }
  auto tx = Must(store.GetTx(*hash));
  if (!tx) Refuse(404, "not-found", type + "/" + id + " is not known");
  const ledger::Transaction& t = *tx->first;
  if (type == "Provenance" && t.type() == ledger::TxType::kPutRecord) {
    auto body = Must(ledger::DecodeBody<ledger::PutRecord>(t.body(), "put_record"));
    auto p = ProvenanceOf(body.record_id, body.version);
    if (!p.empty()) return Answer{200, p.front(), {}};
  }
  if (type == "AuditEvent" &&
      (t.type() == ledger::TxType::kReadRecord || t.type() == ledger::TxType::kAccessRefused)) {
    // The audit entry sits in the trail of the patient the request concerned.
    std::string patient;
    if (t.type() == ledger::TxType::kReadRecord) {
      auto body = Must(ledger::DecodeBody<ledger::ReadRecord>(t.body(), "read_record"));
      patient = body.patient;
      if (!body.record_id.empty()) {
        auto head = Must(View().GetRecord(body.record_id));
        if (head) patient = head->patient;
      }
    } else {
      patient = Must(ledger::DecodeBody<ledger::AccessRefused>(t.body(), "access_refused")).patient;
    }
    auto raw = store.State().Get(ledger::keys::Audit(patient, tx->second.leaf_index));
    if (raw) {
      auto entry = Must(ledger::AuditEntry::Decode(*raw));
      if (auto j = AuditEventOf(entry, patient)) return Answer{200, *j, {}};
    }
  }
  Refuse(404, "not-found", type + "/" + id + " is not known");
}

Answer Facade::LedgerSearch(const Request& req, const std::string& type) {
  auto query = Must(fhir::ParseSearch(*m_defs, type, QueryParams(req)));
  auto view = View();
  std::vector<std::string> patients, targets;
  auto values = [&](const char* code, std::vector<std::string>& out) {
    if (const auto* c = query.Reference(code)) {
      for (const auto& v : c->values) out.push_back(v);
    }
  };
  values("patient", patients);
  if (type == "Provenance") values("target", targets);
  auto patient_id = [&](const std::string& v) {
    auto parts = fhir::ParseReference(v, m_defs.get());
    return parts.kind == fhir::ReferenceParts::Kind::kRelative ? parts.id : v;
  };
  std::vector<Json> out;
  if (type == "AuditEvent") {
    if (patients.empty()) Refuse(400, "required", "AuditEvent search needs patient=");
    for (const auto& v : patients) {
      std::string p = patient_id(v);
      if (!ledger::IsValidId(p)) continue;
      auto entries = Must(view.PatientAudit(p));
      // Break-glass accesses first, as the audit trail lists them.
      std::stable_sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) {
        return (a.flags & ledger::kAuditBreakGlass) && !(b.flags & ledger::kAuditBreakGlass);
      });
      for (const auto& e : entries) {
        if (e.type != ledger::TxType::kReadRecord && e.type != ledger::TxType::kAccessRefused) {
          continue;
        }
        if (auto j = AuditEventOf(e, p)) out.push_back(std::move(*j));
      }
    }
  } else if (type == "Provenance") {
    if (patients.empty() && targets.empty()) {
      Refuse(400, "required",
             "Provenance search needs target= (Type/id or a record id) or patient=");
    }
    for (const auto& v : targets) {
      auto parts = fhir::ParseReference(v, m_defs.get());
      std::string id = parts.kind == fhir::ReferenceParts::Kind::kRelative ? parts.id : v;
      std::optional<uint32_t> version;
      if (!parts.version.empty()) version = ParseETag(parts.version);
      if (!ledger::IsValidId(id)) continue;
      auto head = Must(view.GetRecord(id));
      if (!head || (!parts.type.empty() && parts.type != head->type)) continue;
      for (auto& j : ProvenanceOf(id, version)) out.push_back(std::move(j));
    }
    for (const auto& v : patients) {
      std::string p = patient_id(v);
      if (!ledger::IsValidId(p)) continue;
      for (const auto& rid : Must(view.PatientRecordIds(p))) {
        for (auto& j : ProvenanceOf(rid, std::nullopt)) out.push_back(std::move(j));
      }
    }
  } else {  // Consent
    if (patients.empty()) Refuse(400, "required", "Consent search needs patient=");
    for (const auto& v : patients) {
      std::string p = patient_id(v);
      if (!ledger::IsValidId(p)) continue;
      for (const auto& g : Must(view.PatientGrants(p))) out.push_back(ConsentOf(g));
    }
  }
  std::vector<fhir::SearchMatch> matches;
  for (auto& j : out) {
    std::string id = j.value("id", "");
    if (!query.ids.empty() &&
        std::find(query.ids.begin(), query.ids.end(), id) == query.ids.end()) {
      continue;
    }
    matches.push_back(fhir::SearchMatch{Base() + "/" + type + "/" + id, std::move(j), "match"});
  }
  const size_t total = matches.size();
  if (matches.size() > query.count) matches.resize(query.count);
  std::string qs = fhir::CanonicalQueryString(query);
  return Answer{200,
                fhir::SearchsetBundle(std::move(matches), total,
                                      Base() + "/" + type + (qs.empty() ? "" : "?" + qs)),
                {}};
}

// ---- Routes ----

void Facade::Register(httplib::Server& http, std::shared_ptr<Facade> self) {
  const std::string p(kPrefix);
  const std::string type = "([A-Za-z]{1,64})";
  const std::string id = "([^/]{1,200})";
  auto route = [self](bool auth, std::function<Answer(Facade&, const Request&)> fn) {
    return [self, auth, fn](const Request& req, Response& res) {
      self->Serve(req, res, auth, [&](const Request& r) { return fn(*self, r); });
    };
  };
  http.Get(p + "/metadata", route(false, [](Facade& f, const Request&) { return f.Metadata(); }));
  http.Post(p + "/?", route(true, [](Facade& f, const Request& r) { return f.Transaction(r); }));
  http.Get(p + "/Patient/" + id + R"(/\$everything)",
           route(true, [](Facade& f, const Request& r) { return f.Everything(r, r.matches[1]); }));
  http.Get(p + "/" + type + "/" + id + "/_history/" + id,
           route(true, [](Facade& f, const Request& r) {
             return f.VRead(r, r.matches[1], r.matches[2], r.matches[3]);
           }));
  http.Get(p + "/" + type + "/" + id + "/_history", route(true, [](Facade& f, const Request& r) {
             return f.History(r, r.matches[1], r.matches[2]);
           }));
  http.Get(p + "/" + type + "/" + id, route(true, [](Facade& f, const Request& r) {
             return f.Read(r, r.matches[1], r.matches[2]);
           }));
  http.Put(p + "/" + type + "/" + id, route(true, [](Facade& f, const Request& r) {
             return f.Update(r, r.matches[1], r.matches[2]);
           }));
  http.Get(p + "/" + type,
           route(true, [](Facade& f, const Request& r) { return f.Search(r, r.matches[1]); }));
  http.Post(p + "/" + type + "/_search", route(true, [](Facade& f, const Request& r) {
              // Form-encoded search (FHIR's POST variant): cpp-httplib puts
              // the form fields among the parameters.
              return f.Search(r, r.matches[1]);
            }));
  http.Post(p + "/" + type,
            route(true, [](Facade& f, const Request& r) { return f.Create(r, r.matches[1]); }));
  // Everything else under the prefix: FHIR errors, not the v1 API's.
  auto not_found = route(true, [](Facade&, const Request& r) -> Answer {
    Refuse(404, "not-supported", "no such FHIR endpoint: " + r.method + " " + r.path);
  });
  auto not_allowed = route(true, [](Facade&, const Request& r) -> Answer {
    Refuse(405, "not-supported",
           r.method + " is not supported here (records are erased with medchain record erase)");
  });
  const std::string any = p + "(/.*)?";
  http.Get(any, not_found);
  http.Post(any, not_found);
  http.Put(any, not_found);
  http.Delete(any, not_allowed);
  http.Patch(any, not_allowed);
}

}  // namespace

Status RegisterFhirFacade(httplib::Server& http, const ServerOptions& o, Backend& backend) {
  if (o.fhir_key_file.empty()) return Status::Ok();
  if (o.fhir_token.empty()) {
    spdlog::warn("FHIR facade disabled: [fhir] key_file is set but [fhir] token is not");
    return Status::Ok();
  }
  crypto::Init();
  // The definitions: configured, else the npm package found from the
  // executable or the working directory (docs/fhir.md).
  std::optional<fs::path> dir;
  if (!o.fhir_definitions.empty()) {
    dir = o.fhir_definitions;
  } else {
    std::error_code ec;
    fs::path exe = fs::read_symlink("/proc/self/exe", ec);
    if (!ec) dir = fhir::FindDefinitionsDirectory(exe.parent_path());
    if (!dir) {
      fs::path cwd = fs::current_path(ec);
      if (!ec) dir = fhir::FindDefinitionsDirectory(cwd);
    }
  }
  if (!dir) {
    return Status::NotFound(
        "FHIR facade: the R4 definitions were not found; run scripts/fhir-definitions.sh or set "
        "[fhir] definitions");
  }
  auto defs = fhir::Definitions::LoadDirectory(*dir);
  if (!defs.ok()) return defs.status().Prefixed("FHIR facade");
  auto key = crypto::ReadKeyFile(o.fhir_key_file, o.fhir_key_passphrase);
  if (!key.ok()) return key.status().Prefixed("FHIR facade: " + o.fhir_key_file);
  ledger::StateView view(backend.Ledger().State());
  auto who = view.GetParticipantByKey(key->signing.public_key());
  if (!who.ok()) return who.status();
  if (!*who || ((*who)->role != ledger::Role::kOrganisation &&
                (*who)->role != ledger::Role::kPractitioner)) {
    return Status::FailedPrecondition("FHIR facade: " + o.fhir_key_file +
                                      " is not the key of a registered organisation");
  }
  fs::path key_dir = o.fhir_patient_key_dir.empty()
                         ? fs::path(o.fhir_key_file).parent_path() / "patient-keys"
                         : fs::path(o.fhir_patient_key_dir);
  std::string org = (*who)->id;
  auto facade = std::make_shared<Facade>(backend, std::move(*defs), std::move(*key), org,
                                         o.fhir_token, o.fhir_key_passphrase, key_dir);
  facade->Register(http, facade);
  spdlog::info("FHIR facade at {} acting for {} (definitions {}, patient keys in {})", kPrefix, org,
               dir->string(), key_dir.string());
  return Status::Ok();
}

}  // namespace medchain::api
