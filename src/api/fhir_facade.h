// Copyright (c) medchain developers.
// The FHIR R4 REST facade at /fhir/r4 (docs/fhir.md, "The REST facade").
//
// The facade lets an organisation's EHR speak FHIR to its own node. It acts
// for that organisation: every write is a put_record signed with the
// organisation's key (it is the custodian), every read is a read_record
// request signed with that key and passed through Backend::Read, so the
// consent rules decide and an access event is committed before any data is
// decrypted. The EHR authenticates with the bearer token of the node config.
// AuditEvent, Provenance and Consent are generated from the ledger state.
//
// Records are sealed and opened here with the organisation's keys, following
// the record envelope of docs/format.md §5 (the same envelope the CLI's
// src/cli/records.cpp writes): the node process holds the organisation's
// key file for this, which is why the facade is opt-in.
#pragma once

#include "medchain/api/backend.h"
#include "medchain/api/server.h"
#include "medchain/core/status.h"

namespace httplib {
class Server;
}

namespace medchain::api {

// Registers the facade's routes on `http` when options.fhir_key_file and
// options.fhir_token are both set (otherwise registers nothing and returns
// OK). Loads the organisation's key file (with options.fhir_key_passphrase)
// and the FHIR definitions first, and fails with a message naming what is
// missing. The routes keep what they need alive.
// REQUIRES: `backend` outlives `http`'s handlers.
Status RegisterFhirFacade(httplib::Server& http, const ServerOptions& options, Backend& backend);

}  // namespace medchain::api
