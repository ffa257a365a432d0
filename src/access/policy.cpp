// Copyright (c) medchain developers.
#include "medchain/access/policy.h"

#include <algorithm>

namespace medchain::access {

std::string_view BasisName(Basis basis) {
  switch (basis) {
    case Basis::kNone:
      return "none";
    case Basis::kPatient:
      return "patient";
    case Basis::kCustodian:
      return "custodian";
    case Basis::kGrant:
      return "grant";
    case Basis::kBreakGlass:
      return "break_glass";
  }
  return "none";
}

static bool Contains(const std::vector<std::string>& list, std::string_view value) {
  return std::find(list.begin(), list.end(), value) != list.end();
}

bool GrantCovers(const GrantFacts& grant, const RecordFacts& record, uint64_t time_ms) {
  if (grant.revoked || time_ms >= grant.expiry_ms) return false;
  return Contains(grant.scope_types, "*") || Contains(grant.scope_types, record.type) ||
         Contains(grant.scope_records, record.record_id);
}

static Decision Allow(Basis basis) {
  return Decision{true, basis, {}};
}
static Decision Refuse(std::string reason) {
  return Decision{false, Basis::kNone, std::move(reason)};
}

Decision DecideRead(const Subject& requester, const RecordFacts& record,
                    const std::vector<GrantFacts>& grants, const ReadRequest& request,
                    uint64_t time_ms) {
  if (record.erased) return Refuse("record " + record.record_id + " was erased");
  if (requester.suspended) return Refuse("requester " + requester.id + " is suspended");
  if (request.purpose.empty()) return Refuse("a read must state its purpose");

  if (request.break_glass) {
    // Emergency access is for clinicians only, and always explained.
    if (requester.role != SubjectRole::kPractitioner) {
      return Refuse("break-glass access needs a practitioner; " + requester.id + " is not one");
    }
    if (!requester.organisation_active) {
      return Refuse("break-glass access needs a practitioner of an active registered organisation");
    }
    if (request.reason.empty()) return Refuse("break-glass access needs a reason");
    return Allow(Basis::kBreakGlass);
  }

  if (requester.id == record.patient) return Allow(Basis::kPatient);
  if (requester.id == record.custodian) return Allow(Basis::kCustodian);

  bool expired = false, revoked = false, out_of_scope = false;
  for (const GrantFacts& g : grants) {
    if (g.grantee != requester.id) continue;
    if (GrantCovers(g, record, time_ms)) return Allow(Basis::kGrant);
    if (g.revoked) {
      revoked = true;
    } else if (time_ms >= g.expiry_ms) {
      expired = true;
    } else {
      out_of_scope = true;
    }
  }
  std::string why = "no active grant of patient " + record.patient + " covers record " +
                    record.record_id + " for " + requester.id;
  if (out_of_scope)
    why += " (a grant exists but its scope does not include it)";
  else if (expired)
    why += " (the grant expired)";
  else if (revoked)
    why += " (the grant was revoked)";
  return Refuse(std::move(why));
}

}  // namespace medchain::access
