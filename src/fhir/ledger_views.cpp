// Copyright (c) medchain developers.
// The ledger as AuditEvent, Provenance, Consent and the CapabilityStatement.
#include "medchain/fhir/ledger_views.h"

#include <algorithm>

#include "medchain/core/bytes.h"
#include "medchain/core/sha256.h"
#include "medchain/fhir/datetime.h"
#include "medchain/fhir/validate.h"

namespace medchain::fhir {
namespace {

using nlohmann::json;

// Code systems of the R4 terminology used below.
constexpr std::string_view kAuditEventType =
    "http://terminology.hl7.org/CodeSystem/audit-event-type";
constexpr std::string_view kRestfulInteraction = "http://hl7.org/fhir/restful-interaction";
constexpr std::string_view kActReason = "http://terminology.hl7.org/CodeSystem/v3-ActReason";
constexpr std::string_view kActCode = "http://terminology.hl7.org/CodeSystem/v3-ActCode";
constexpr std::string_view kEntityType = "http://terminology.hl7.org/CodeSystem/audit-entity-type";
constexpr std::string_view kObjectRole = "http://terminology.hl7.org/CodeSystem/object-role";
constexpr std::string_view kSourceType =
    "http://terminology.hl7.org/CodeSystem/security-source-type";
constexpr std::string_view kDataOperation =
    "http://terminology.hl7.org/CodeSystem/v3-DataOperation";
constexpr std::string_view kParticipantType =
    "http://terminology.hl7.org/CodeSystem/provenance-participant-type";
constexpr std::string_view kConsentScope = "http://terminology.hl7.org/CodeSystem/consentscope";
constexpr std::string_view kParticipationType =
    "http://terminology.hl7.org/CodeSystem/v3-ParticipationType";
constexpr std::string_view kLoinc = "http://loinc.org";
constexpr std::string_view kResourceTypes = "http://hl7.org/fhir/resource-types";

json Coding(std::string_view system, std::string_view code, std::string_view display = {}) {
  json c = {{"system", system}, {"code", code}};
  if (!display.empty()) c["display"] = display;
  return c;
}

json Concept(std::string_view system, std::string_view code, std::string_view display = {}) {
  return {{"coding", json::array({Coding(system, code, display)})}};
}

json IdentifierRef(std::string_view system, std::string_view value, std::string_view type = {}) {
  json r = {{"identifier", {{"system", system}, {"value", value}}}};
  if (!type.empty()) r["type"] = type;
  return r;
}

Status RequireId(std::string_view value, std::string_view field) {
  if (IsValidId(value)) return Status::Ok();
  return Status::InvalidArgument(std::string(field) + ": not a valid FHIR id");
}

// A FHIR code: non-empty, no leading/trailing or repeated whitespace.
bool IsCode(std::string_view s) {
  if (s.empty() || s.front() == ' ' || s.back() == ' ') return false;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '\t' || c == '\n' || c == '\r') return false;
    if (c == ' ' && s[i + 1] == ' ') return false;
  }
  return true;
}

std::string ProofUrl(const ViewContext& ctx, std::string_view tx_id) {
  return ctx.proof_path + "?tx=" + std::string(tx_id);
}

// The resource type a participant's role suggests, for Reference.type.
std::string_view RoleResourceType(std::string_view role) {
  if (role == "patient") return "Patient";
  if (role == "practitioner") return "Practitioner";
  if (role == "organisation" || role == "organization" || role == "custodian") {
    return "Organization";
  }
  return {};
}

json LedgerExtension(const ViewContext& ctx, std::string_view tx_id,
                     std::vector<std::pair<std::string, json>> extra) {
  json subs = json::array();
  subs.push_back({{"url", "tx"}, {"valueString", tx_id}});
  subs.push_back({{"url", "inclusion-proof"}, {"valueUrl", ProofUrl(ctx, tx_id)}});
  for (auto& [url, value] : extra) {
    json e = {{"url", url}};
    for (auto& [k, v] : value.items()) e[k] = v;
    subs.push_back(std::move(e));
  }
  return {{"url", kLedgerExtensionUrl}, {"extension", std::move(subs)}};
}

json PurposeConcept(std::string_view purpose) {
  json c = {{"text", purpose}};
  if (IsCode(purpose)) c["coding"] = json::array({Coding(kPurposeSystem, purpose)});
  return c;
}

}  // namespace

Result<json> AuditEventFor(const AccessEventView& v, const ViewContext& ctx) {
  MC_RETURN_IF_ERROR(RequireId(v.tx_id, "AccessEventView.tx_id"));
  MC_RETURN_IF_ERROR(RequireId(v.patient_id, "AccessEventView.patient_id"));
  if (!v.record_id.empty()) {
    MC_RETURN_IF_ERROR(RequireId(v.record_id, "AccessEventView.record_id"));
    if (v.record_type.empty()) {
      return Status::InvalidArgument("AccessEventView.record_type: required with a record_id");
    }
  }
  const std::string when = FormatInstant(v.time_ms);
  json event = {
      {"resourceType", "AuditEvent"},
      {"id", v.tx_id},
      {"meta", {{"lastUpdated", when}}},
      {"type", Coding(kAuditEventType, "rest", "RESTful Operation")},
      {"subtype", json::array({Coding(kRestfulInteraction, "read", "read")})},
      {"action", "R"},
      {"recorded", when},
      {"outcome", v.granted ? "0" : "4"},
  };
  if (!v.granted && !v.refusal_reason.empty()) event["outcomeDesc"] = v.refusal_reason;
  json purposes = json::array();
  if (!v.purpose.empty()) purposes.push_back(PurposeConcept(v.purpose));
  if (v.break_glass) {
    json etreat = Concept(kActReason, "ETREAT", "Emergency Treatment");
    if (!v.break_glass_reason.empty()) etreat["text"] = v.break_glass_reason;
    purposes.push_back(std::move(etreat));
    event["meta"]["security"] = json::array({Coding(kActCode, "BTG", "break the glass")});
  }
  if (!purposes.empty()) event["purposeOfEvent"] = purposes;

  json agent = {{"requestor", true}};
  if (!v.requester_id.empty()) {
    agent["who"] =
        IdentifierRef(kParticipantSystem, v.requester_id, RoleResourceType(v.requester_role));
  } else {
    agent["who"] = {{"display", "unknown requester"}};
  }
  if (!v.requester_role.empty()) agent["type"] = {{"text", v.requester_role}};
  if (!purposes.empty()) agent["purposeOfUse"] = purposes;
  event["agent"] = json::array({std::move(agent)});

  json source = {{"type", json::array({Coding(kSourceType, "4", "Application Server")})}};
  source["observer"] = ctx.node_id.empty()
                           ? json{{"display", "medchain node"}}
                           : IdentifierRef(kParticipantSystem, ctx.node_id, "Device");
  if (!ctx.site.empty()) source["site"] = ctx.site;
  event["source"] = std::move(source);

  json entities = json::array();
  entities.push_back({{"what", {{"reference", "Patient/" + v.patient_id}}},
                      {"type", Coding(kEntityType, "1", "Person")},
                      {"role", Coding(kObjectRole, "1", "Patient")}});
  if (!v.record_id.empty()) {
    entities.push_back({{"what", {{"reference", v.record_type + "/" + v.record_id}}},
                        {"type", Coding(kEntityType, "2", "System Object")},
                        {"role", Coding(kObjectRole, "4", "Domain Resource")}});
  } else if (!v.record_type.empty()) {
    // A read of every record of a type: the query, not one record.
    entities.push_back({{"type", Coding(kEntityType, "2", "System Object")},
                        {"role", Coding(kObjectRole, "24", "Query")},
                        {"description", "records of type " + v.record_type}});
  }
  entities.push_back(
      {{"what", IdentifierRef(kTransactionSystem, v.tx_id)},
       {"type", Coding(kEntityType, "2", "System Object")},
       {"description", "medchain ledger transaction"},
       {"detail", json::array({
                      {{"type", "tx"}, {"valueString", v.tx_id}},
                      {{"type", "height"}, {"valueString", std::to_string(v.height)}},
                      {{"type", "leaf-index"}, {"valueString", std::to_string(v.leaf_index)}},
                      {{"type", "inclusion-proof"}, {"valueString", ProofUrl(ctx, v.tx_id)}},
                  })}});
  event["entity"] = std::move(entities);
  return event;
}

Result<json> ProvenanceFor(const RecordVersionView& v, const ViewContext& ctx) {
  MC_RETURN_IF_ERROR(RequireId(v.tx_id, "RecordVersionView.tx_id"));
  MC_RETURN_IF_ERROR(RequireId(v.record_id, "RecordVersionView.record_id"));
  MC_RETURN_IF_ERROR(RequireId(v.resource_type, "RecordVersionView.resource_type"));
  if (v.version == 0) return Status::InvalidArgument("RecordVersionView.version: must be >= 1");
  const std::string when = FormatInstant(v.time_ms);
  const std::string record = v.resource_type + "/" + v.record_id;
  const bool create = v.version == 1;
  json p = {
      {"resourceType", "Provenance"},
      {"id", v.tx_id},
      {"meta", {{"lastUpdated", when}}},
      {"target", json::array({{{"reference", record + "/_history/" + std::to_string(v.version)}}})},
      {"recorded", when},
      {"activity",
       Concept(kDataOperation, create ? "CREATE" : "UPDATE", create ? "create" : "revise")},
  };
  json agents = json::array();
  if (!v.custodian_id.empty()) {
    agents.push_back({{"type", Concept(kParticipantType, "custodian", "Custodian")},
                      {"who", IdentifierRef(kParticipantSystem, v.custodian_id, "Organization")}});
  }
  if (!v.author_key_hex.empty()) {
    agents.push_back({{"type", Concept(kParticipantType, "author", "Author")},
                      {"who", IdentifierRef(kAuthorKeySystem, v.author_key_hex)}});
  }
  if (agents.empty()) {
    return Status::InvalidArgument("RecordVersionView: custodian_id or author_key_hex required");
  }
  p["agent"] = std::move(agents);
  if (!create) {
    json previous = {{"reference", record + "/_history/" + std::to_string(v.version - 1)}};
    if (!v.supersedes_tx_id.empty()) {
      previous["identifier"] = {{"system", kTransactionSystem}, {"value", v.supersedes_tx_id}};
    }
    p["entity"] = json::array({{{"role", "revision"}, {"what", std::move(previous)}}});
  }
  std::vector<std::pair<std::string, json>> extra;
  if (!v.ciphertext_hash_hex.empty()) {
    extra.emplace_back("ciphertext-sha256", json{{"valueString", v.ciphertext_hash_hex}});
  }
  p["extension"] = json::array({LedgerExtension(ctx, v.tx_id, std::move(extra))});
  return p;
}

Result<json> ErasureProvenanceFor(const RecordVersionView& v, const ViewContext& ctx) {
  if (!v.erased) return Status::FailedPrecondition("RecordVersionView: the record is not erased");
  MC_RETURN_IF_ERROR(RequireId(v.record_id, "RecordVersionView.record_id"));
  MC_RETURN_IF_ERROR(RequireId(v.resource_type, "RecordVersionView.resource_type"));
  if (!v.erased_tx_id.empty()) {
    MC_RETURN_IF_ERROR(RequireId(v.erased_tx_id, "RecordVersionView.erased_tx_id"));
  }
  const std::string record = v.resource_type + "/" + v.record_id;
  const std::string when = FormatInstant(v.erased_time_ms);
  json p = {
      {"resourceType", "Provenance"},
      {"id", ToHex(Sha256Digest("medchain-erasure:" + record))},
      {"meta", {{"lastUpdated", when}}},
      {"target", json::array({{{"reference", record}}})},
      {"recorded", when},
      {"activity", Concept(kDataOperation, "DELETE", "delete")},
  };
  json who = v.erased_by.empty() ? json{{"display", "unknown"}}
                                 : IdentifierRef(kParticipantSystem, v.erased_by);
  p["agent"] = json::array(
      {{{"type", Concept(kParticipantType, "performer", "Performer")}, {"who", std::move(who)}}});
  if (!v.erased_tx_id.empty()) {
    p["extension"] = json::array({LedgerExtension(ctx, v.erased_tx_id, {})});
  }
  return p;
}

Result<json> ConsentFor(const GrantView& v, const ViewContext& ctx) {
  MC_RETURN_IF_ERROR(RequireId(v.grant_id, "GrantView.grant_id"));
  MC_RETURN_IF_ERROR(RequireId(v.tx_id, "GrantView.tx_id"));
  MC_RETURN_IF_ERROR(RequireId(v.patient_id, "GrantView.patient_id"));
  if (v.grantee_id.empty()) return Status::InvalidArgument("GrantView.grantee_id: required");
  std::string status;
  if (v.status == "active") {
    status = "active";
  } else if (v.status == "revoked" || v.status == "expired") {
    status = "inactive";
  } else {
    return Status::InvalidArgument("GrantView.status: expected active, revoked or expired");
  }
  const std::string patient = "Patient/" + v.patient_id;
  const bool revoked = v.status == "revoked" && v.revoked_ms > 0;
  json c = {
      {"resourceType", "Consent"},
      {"id", v.grant_id},
      {"meta", {{"lastUpdated", FormatInstant(revoked ? v.revoked_ms : v.created_ms)}}},
      {"identifier", json::array({{{"system", kGrantSystem}, {"value", v.grant_id}}})},
      {"status", status},
      {"scope", Concept(kConsentScope, "patient-privacy", "Privacy Consent")},
      {"category", json::array({Concept(kLoinc, "59284-0", "Patient Consent")})},
      {"patient", {{"reference", patient}}},
      {"dateTime", FormatInstant(v.created_ms)},
      {"performer", json::array({{{"reference", patient}}})},
      {"policyRule", Concept(kActCode, "OPTIN", "opt-in")},
  };
  json period = {{"start", FormatInstant(v.created_ms)}};
  if (v.expiry_ms > 0) period["end"] = FormatInstant(v.expiry_ms);
  json provision = {
      {"type", "permit"},
      {"period", std::move(period)},
      {"actor",
       json::array({{{"role", Concept(kParticipationType, "IRCP", "information recipient")},
                     {"reference", IdentifierRef(kParticipantSystem, v.grantee_id)}}})},
  };
  if (IsCode(v.purpose)) {
    provision["purpose"] = json::array({Coding(kPurposeSystem, v.purpose)});
  }
  json classes = json::array();
  for (const std::string& type : v.scope_types) {
    if (IsCode(type)) classes.push_back(Coding(kResourceTypes, type));
  }
  if (!classes.empty()) provision["class"] = std::move(classes);
  json data = json::array();
  for (const std::string& id : v.scope_record_ids) {
    if (id.empty()) continue;
    data.push_back({{"meaning", "instance"}, {"reference", IdentifierRef(kRecordSystem, id)}});
  }
  if (!data.empty()) provision["data"] = std::move(data);
  c["provision"] = std::move(provision);
  json extensions = json::array({LedgerExtension(ctx, v.tx_id, {})});
  if (revoked) {
    extensions.push_back(
        {{"url", kRevokedExtensionUrl}, {"valueDateTime", FormatInstant(v.revoked_ms)}});
  }
  c["extension"] = std::move(extensions);
  return c;
}

std::vector<std::string> RecordResourceTypes(const Definitions& defs) {
  static constexpr std::string_view kNotRecords[] = {
      "AuditEvent", "Provenance",          "Consent",  // the ledger's own views
      "Bundle",     "CapabilityStatement", "OperationOutcome", "Parameters"};
  std::vector<std::string> types = defs.ResourceTypes();
  std::erase_if(types, [](const std::string& t) {
    return std::find(std::begin(kNotRecords), std::end(kNotRecords), t) != std::end(kNotRecords);
  });
  return types;
}

json CapabilityStatement(const Definitions& defs, const CapabilityOptions& options) {
  auto search_param = [&defs](std::string_view type, std::string_view code) -> json {
    const SearchParameter* sp = defs.FindSearchParameter(type, code);
    if (sp == nullptr) return nullptr;
    json p = {{"name", code}, {"type", sp->type}};
    if (!sp->url.empty()) p["definition"] = sp->url;
    return p;
  };
  auto interactions = [](std::initializer_list<std::string_view> codes) {
    json list = json::array();
    for (std::string_view code : codes) list.push_back({{"code", code}});
    return list;
  };

  json resources = json::array();
  for (const std::string& type : RecordResourceTypes(defs)) {
    json r = {
        {"type", type},
        {"profile", "http://hl7.org/fhir/StructureDefinition/" + type},
        {"interaction",
         interactions({"read", "vread", "update", "history-instance", "create", "search-type"})},
        {"versioning", "versioned"},
        {"readHistory", true},
        {"updateCreate", true},
        {"conditionalCreate", false},
        {"conditionalUpdate", false},
        {"conditionalDelete", "not-supported"},
    };
    json params = json::array();
    for (std::string_view code : {"_id", "_lastUpdated", "patient"}) {
      json p = search_param(type, code);
      if (!p.is_null() && (code != "patient" || p["type"] == "reference")) params.push_back(p);
    }
    r["searchParam"] = std::move(params);
    if (type == "Patient") {
      json op = {{"name", "everything"}};
      std::string_view url = defs.OperationUrl("Patient-everything");
      op["definition"] = url.empty() ? "http://hl7.org/fhir/OperationDefinition/Patient-everything"
                                     : std::string(url);
      r["operation"] = json::array({std::move(op)});
    }
    resources.push_back(std::move(r));
  }
  const std::pair<std::string_view, std::vector<std::string_view>> ledger_views[] = {
      {"AuditEvent", {"patient"}}, {"Consent", {"patient"}}, {"Provenance", {"target", "patient"}}};
  for (const auto& [type, codes] : ledger_views) {
    json r = {
        {"type", type},
        {"profile", "http://hl7.org/fhir/StructureDefinition/" + std::string(type)},
        {"documentation", "Generated from the medchain ledger; read-only."},
        {"interaction", interactions({"read", "search-type"})},
        {"versioning", "no-version"},
    };
    json params = json::array();
    for (std::string_view code : codes) {
      json p = search_param(type, code);
      if (!p.is_null()) params.push_back(std::move(p));
    }
    r["searchParam"] = std::move(params);
    resources.push_back(std::move(r));
  }
  std::sort(resources.begin(), resources.end(),
            [](const json& a, const json& b) { return a["type"] < b["type"]; });

  json rest = {
      {"mode", "server"},
      {"documentation",
       "Records are encrypted per patient; every read is authorised by the patient's consent "
       "and recorded on the ledger before any data is returned."},
      {"security",
       {{"cors", false},
        {"description", "Bearer token from the node configuration (Authorization: Bearer ...)."}}},
      {"resource", std::move(resources)},
      {"interaction", json::array({{{"code", "transaction"}}})},
  };
  json cs = {
      {"resourceType", "CapabilityStatement"},
      {"status", "active"},
      {"date", FormatInstant(options.date_ms)},
      {"publisher", "medchain"},
      {"kind", "instance"},
      {"software", {{"name", "medchain"}}},
      {"implementation", {{"description", "medchain node FHIR R4 facade"}}},
      {"fhirVersion", "4.0.1"},
      {"format", json::array({"json", "application/fhir+json"})},
      {"rest", json::array({std::move(rest)})},
  };
  if (!options.software_version.empty()) cs["software"]["version"] = options.software_version;
  if (!options.base_url.empty()) cs["implementation"]["url"] = options.base_url;
  return cs;
}

}  // namespace medchain::fhir
