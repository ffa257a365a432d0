// Copyright (c) medchain developers.
// FHIR R4 bundles in and out of a node, for `medchain fhir` (docs/fhir.md,
// "Import and export").
//
// Import: one patient's Bundle (transaction, batch, collection or searchset)
// becomes a new pseudonymous patient, registered by the custodian
// organisation whose key signs, with one encrypted record per resource:
//
//   ParseJson -> ParseBundle -> CheckResource per entry (in parallel)
//   -> ResolveBundleReferences (new ids; urn:uuid: references rewritten)
//   -> patient key file written -> register_participant -> Patient record
//   -> every other record, sealed and submitted by many workers at once.
//
// Export: every record of a patient the caller may read (one audited read per
// record type), decrypted locally, as a collection Bundle.
//
// Diff: the round-trip check, fhir::SemanticDifference over entries paired by
// content.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cli/client.h"
#include "medchain/crypto/keyfile.h"
#include "medchain/fhir/definitions.h"

namespace medchain::cli {

// The FHIR R4 definitions: `dir` when given, else $MEDCHAIN_FHIR_DEFINITIONS,
// else the npm package (third_party/fhir-definitions) found from the
// executable's folder or the working directory upward. The error says how to
// install them.
Result<std::shared_ptr<const fhir::Definitions>> LoadFhirDefinitions(const std::string& dir);

// A fresh random id (UUID version 4, lower case): a valid FHIR id and a valid
// medchain record and participant id.
std::string NewFhirId();

struct ImportOptions {
  std::string node_url;
  std::string bundle_path;
  // The custodian organisation (or practitioner) that registers the patient
  // and writes the records. REQUIRES: must remain live during the import.
  const crypto::KeyMaterial* custodian = nullptr;
  // Where the patient's new key file goes (created, never overwritten), and
  // its passphrase and Argon2id cost.
  std::string patient_key_out;
  std::string patient_passphrase;
  crypto::KdfParams patient_kdf = crypto::KdfParams::Interactive();
  // Shared by imports in one process that use the same passphrase: one
  // Argon2id run for all their patient key files (crypto::KdfCache).
  crypto::KdfCache* patient_kdf_cache = nullptr;
  unsigned concurrency = 64;  // requests in flight
  // Records per request (POST /v1/transactions/batch), up to ~1 MiB of
  // submissions; 1: one POST /v1/transactions per record.
  unsigned batch = 32;
  // Seal and sign every record before submitting the first (on every core),
  // instead of each worker sealing the record it submits next. Used by
  // bench/fhir_import_bench to time the node's side alone.
  bool seal_first = false;
  // Called from a progress thread about 4 times a second, and once at the end.
  std::function<void(size_t done, size_t total)> progress;
};

struct TypeCounts {
  size_t written = 0;
  size_t refused = 0;
};

struct ImportRefusal {
  size_t entry = 0;    // index in Bundle.entry
  std::string type;    // resourceType ("" when the entry has no resource)
  std::string reason;  // names the element, never a value
};

struct ImportReport {
  std::string patient;  // the new patient's participant id = its Patient record id
  size_t written = 0;
  size_t refused = 0;
  std::map<std::string, TypeCounts> by_type;
  std::vector<ImportRefusal> refusals;
  std::vector<std::string> warnings;
  double seconds = 0;  // the whole import: reading the bundle to the last commit
  // Where the time went: ("check", s), ("patient", s), ("records", s).
  std::vector<std::pair<std::string, double>> phases;

  // {"patient":ID,"written":N,"refused":N,"by_type":{"Observation":{"written":n,"refused":m}}}
  nlohmann::ordered_json ToJson() const;
};

// Imports one patient's bundle. Fails (writing nothing) when the bundle is
// unreadable, has no or several Patient entries, or its Patient is invalid;
// refuses (and counts) single entries that are invalid, reference a missing
// bundle entry or belong to another patient; everything else is written.
Result<ImportReport> ImportBundle(const fhir::Definitions& defs, const ImportOptions& options);

struct ExportOptions {
  std::string node_url;
  std::string patient;
  const crypto::KeyMaterial* reader = nullptr;  // REQUIRES: live during the export
  std::string purpose = "export";               // purpose of use on the access events
  unsigned concurrency = 8;
};

struct ExportReport {
  Json bundle;  // Bundle, type collection; the Patient first
  std::map<std::string, size_t> by_type;
  size_t exported = 0;
  std::vector<std::string> problems;  // types refused, keys not released, erased records
};

// Reads, decrypts and bundles every record of the patient the reader may
// read. Each resource gets meta.versionId (record version) and
// meta.lastUpdated (block time); fullUrl is <node>/fhir/r4/<Type>/<id>.
Result<ExportReport> ExportPatient(const ExportOptions& options);

struct DiffReport {
  size_t compared = 0;                   // pairs compared
  std::vector<std::string> differences;  // empty: semantically equal
};

// Compares the resources of two Bundles as fhir::SemanticDifference does,
// with one ReferenceCorrespondence across both bundles, so references must be
// renamed one-to-one and consistently with the entries they name. Entries
// are paired by content with references and ids blanked. Also reports
// resources present on one side only.
Result<DiffReport> DiffBundles(const fhir::Definitions& defs, const Json& a, const Json& b);

}  // namespace medchain::cli
