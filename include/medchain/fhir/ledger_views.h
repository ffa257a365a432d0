// Copyright (c) medchain developers.
// The ledger as FHIR R4 resources: access events as AuditEvent, record
// versions and erasures as Provenance, grants as Consent, and the facade's
// CapabilityStatement.
//
// The node fills the plain *View structs from the ledger; the builders here
// only translate, with no access to the ledger themselves. Every resource
// carries the id of its ledger transaction and a link to that transaction's
// inclusion proof (`<proof_path>?tx=<tx id>`), so an auditor can check it
// against a signed checkpoint:
//   AuditEvent  an entity whose `what` is the transaction (identifier in
//               kTransactionSystem), with detail[] tx, height, leaf-index and
//               inclusion-proof (valueString)
//   Provenance  extension kLedgerExtensionUrl: tx, inclusion-proof, and
//   Consent     ciphertext-sha256 where known
//
// Identifiers medchain owns use these systems (URNs: nothing is claimed on
// anyone's domain):
//   kParticipantSystem  participant ids (requesters, custodians, grantees)
//   kRecordSystem       record ids named without a type (grant scopes)
//   kGrantSystem        grant ids
//   kTransactionSystem  ledger transaction ids
//   kPurposeSystem      purposes of use as the access rules name them
//   kAuthorKeySystem    hex Ed25519 public keys of record authors
// A patient is Patient/<patient id> (the pseudonymous id under which the
// facade serves the patient's Patient resource); a record is
// <record type>/<record id>.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "medchain/core/status.h"
#include "medchain/fhir/definitions.h"

namespace medchain::fhir {

inline constexpr std::string_view kParticipantSystem = "urn:medchain:participant";
inline constexpr std::string_view kRecordSystem = "urn:medchain:record";
inline constexpr std::string_view kGrantSystem = "urn:medchain:grant";
inline constexpr std::string_view kTransactionSystem = "urn:medchain:tx";
inline constexpr std::string_view kPurposeSystem = "urn:medchain:purpose";
inline constexpr std::string_view kAuthorKeySystem = "urn:medchain:ed25519-key";
// Complex extension: sub-extensions "tx" (valueString), "inclusion-proof"
// (valueUrl), "ciphertext-sha256" (valueString, hex; Provenance only).
inline constexpr std::string_view kLedgerExtensionUrl = "urn:medchain:fhir:ledger-entry";
// On a Consent whose grant was revoked: valueDateTime, when.
inline constexpr std::string_view kRevokedExtensionUrl = "urn:medchain:fhir:grant-revoked";

// What every view needs from the node.
struct ViewContext {
  std::string proof_path = "/v1/proofs/inclusion";  // inclusion proofs: <proof_path>?tx=<id>
  std::string node_id;  // AuditEvent.source.observer (the node that served the read)
  std::string site;     // AuditEvent.source.site (e.g. the organisation's name); may be empty
};

// One access decision committed to the ledger (a read, granted or refused).
struct AccessEventView {
  std::string tx_id;
  uint64_t height = 0;
  uint64_t leaf_index = 0;
  int64_t time_ms = 0;
  std::string requester_id;
  std::string requester_role;  // patient | practitioner | organisation | auditor | ...
  std::string patient_id;
  std::string record_id;  // may be empty (a read by patient and type)
  std::string record_type;
  std::string purpose;
  bool granted = false;
  std::string refusal_reason;
  bool break_glass = false;
  std::string break_glass_reason;
};

// One version of a record, as written to the ledger.
struct RecordVersionView {
  std::string record_id;
  uint32_t version = 1;
  std::string supersedes_tx_id;  // empty for version 1
  std::string patient_id;
  std::string custodian_id;
  std::string author_key_hex;
  std::string resource_type;
  int64_t time_ms = 0;
  std::string tx_id;
  std::string ciphertext_hash_hex;
  bool erased = false;
  int64_t erased_time_ms = 0;
  std::string erased_by;
  std::string erased_tx_id;  // the erase transaction, when known; may be empty
};

// One consent grant and its state.
struct GrantView {
  std::string grant_id;
  std::string tx_id;
  std::string patient_id;
  std::string grantee_id;
  std::vector<std::string> scope_types;
  std::vector<std::string> scope_record_ids;
  std::string purpose;
  int64_t expiry_ms = 0;  // <= 0: no expiry
  int64_t created_ms = 0;
  std::string status;  // active | revoked | expired
  int64_t revoked_ms = 0;
};

// AuditEvent (id = tx id): type rest, subtype read, action R, outcome 0
// (granted) or 4 (refused, outcomeDesc the reason), the requester as agent
// (requestor), the node as source, the patient, the record and the ledger
// transaction as entities, purposeOfEvent the purpose. Break-glass adds the
// purpose ETREAT (text: the reason) and the security label BTG.
// Fails (kInvalidArgument, naming the field) when tx_id, patient_id or a
// non-empty record_id is not a valid FHIR id.
Result<nlohmann::json> AuditEventFor(const AccessEventView& view, const ViewContext& ctx);

// Provenance of one version (id = tx id): target
// <type>/<id>/_history/<version>, recorded, activity CREATE (version 1) or
// UPDATE, agents custodian and author (by key), entity role revision for the
// version it supersedes, and the ledger extension.
Result<nlohmann::json> ProvenanceFor(const RecordVersionView& view, const ViewContext& ctx);

// Provenance of the erasure of a record (REQUIRES view.erased): target
// <type>/<id>, activity DELETE, recorded erased_time_ms, agent erased_by;
// id = hex SHA-256 of "medchain-erasure:<type>/<id>" (one per record), and
// the ledger extension when erased_tx_id is known.
Result<nlohmann::json> ErasureProvenanceFor(const RecordVersionView& view, const ViewContext& ctx);

// Consent (id = grant id): status active, or inactive when revoked or
// expired; scope patient-privacy; category LOINC 59284-0; policyRule OPTIN;
// provision permit for the grantee (actor role IRCP) over
// [created, expiry), with purpose, class (scope_types) and data
// (scope_record_ids); the ledger extension; kRevokedExtensionUrl when revoked.
Result<nlohmann::json> ConsentFor(const GrantView& view, const ViewContext& ctx);

struct CapabilityOptions {
  std::string base_url;          // the facade's base, e.g. "https://node.example/fhir/r4"
  std::string software_version;  // medchain's version
  int64_t date_ms = 0;           // CapabilityStatement.date (e.g. when the node started)
};

// The facade's CapabilityStatement (GET /metadata), kind instance, FHIR
// 4.0.1, json. Records (RecordResourceTypes): read, vread, history-instance,
// create, update (updateCreate) and search-type with _id, _lastUpdated and
// patient (where R4 defines a reference parameter `patient` for the type);
// Patient with $everything. Ledger views (read and search-type only):
// AuditEvent (patient), Provenance (target, patient), Consent (patient).
// System interaction: transaction. Search parameter and operation
// definitions are the canonical URLs from the loaded definitions.
nlohmann::json CapabilityStatement(const Definitions& defs, const CapabilityOptions& options);

// The resource types the facade stores as records of a patient: every R4
// type but the ledger's views (AuditEvent, Provenance, Consent) and those
// that are messages rather than records (Bundle, CapabilityStatement,
// OperationOutcome, Parameters). A Synthea bundle's Organization and
// Practitioner entries are records of its patient too. Sorted.
std::vector<std::string> RecordResourceTypes(const Definitions& defs);

}  // namespace medchain::fhir
