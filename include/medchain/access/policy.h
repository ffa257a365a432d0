// Copyright (c) medchain developers.
// Read authorisation: who may read which record, decided from facts about
// the requester, the record and the patient's grants. Pure policy: no I/O,
// no clock (time is the block's), so every node decides the same.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace medchain::access {

enum class SubjectRole { kAdmin, kOrganisation, kPractitioner, kPatient, kAuditor, kNode };

struct Subject {
  std::string id;
  SubjectRole role = SubjectRole::kPatient;
  bool suspended = false;
  std::string organisation;          // practitioners: their organisation
  bool organisation_active = false;  // practitioners: organisation registered and not suspended
};

struct RecordFacts {
  std::string record_id;
  std::string type;
  std::string patient;
  std::string custodian;
  bool erased = false;
};

struct GrantFacts {
  std::string grantee;
  std::vector<std::string> scope_types;  // "*" = any type
  std::vector<std::string> scope_records;
  uint64_t expiry_ms = 0;
  bool revoked = false;
};

struct ReadRequest {
  bool break_glass = false;
  std::string reason;
  std::string purpose;
};

enum class Basis { kNone, kPatient, kCustodian, kGrant, kBreakGlass };
std::string_view BasisName(Basis basis);

struct Decision {
  bool allowed = false;
  Basis basis = Basis::kNone;
  std::string reason;  // why refused; empty when allowed
};

// True when the grant is active at `time_ms` and covers the record.
bool GrantCovers(const GrantFacts& grant, const RecordFacts& record, uint64_t time_ms);

// Decides one read. `grants` are the patient's grants (any grantee).
Decision DecideRead(const Subject& requester, const RecordFacts& record,
                    const std::vector<GrantFacts>& grants, const ReadRequest& request,
                    uint64_t time_ms);

}  // namespace medchain::access
