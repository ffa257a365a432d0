// Copyright (c) medchain developers.
// JSON forms of ledger values, for the API, the CLI and genesis files.
// Binary fields are lowercase hex (keys, hashes, signatures) or standard
// base64 (ciphertexts, sidecars). The JSON form of a transaction re-encodes
// to exactly one canonical byte string: the signature is checked over that.
#pragma once

#include <nlohmann/json.hpp>

#include "medchain/ledger/apply.h"
#include "medchain/ledger/block.h"
#include "medchain/ledger/bodies.h"
#include "medchain/ledger/state.h"

namespace medchain::api {

using Json = nlohmann::json;

Json BodyToJson(ledger::TxType type, ByteView body);
Result<Bytes> BodyFromJson(ledger::TxType type, const Json& body);

// {"id","type","author","nonce","timestamp_ms","body":{...},"signature"}
Json TxToJson(const ledger::Transaction& tx);
// Inverse of TxToJson (the "id" field, if present, must match).
Result<ledger::TransactionRef> TxFromJson(const Json& j);

Json ResultToJson(const ledger::TxResult& r);
Json HeaderToJson(const ledger::BlockHeader& h, const Hash& hash);

Json RegistrationToJson(const ledger::RegisterParticipant& r);
Result<ledger::RegisterParticipant> RegistrationFromJson(const Json& j, std::string_view where);

// Genesis documents (genesis.json).
Json GenesisToJson(const ledger::Genesis& g);
Result<ledger::Genesis> GenesisFromJson(const Json& j);

Json ParticipantToJson(const ledger::Participant& p);
Json RecordHeadToJson(const ledger::RecordHead& r);
Json RecordVersionToJson(const ledger::RecordVersion& v);
Json GrantToJson(const ledger::GrantState& g, uint64_t now_ms);
Json AuditToJson(const ledger::AuditEntry& a);

// The deepest nesting of arrays and objects ParseJson accepts (as the FHIR
// facade's limit): a deeper body is refused before the parser allocates.
inline constexpr size_t kMaxJsonDepth = 64;

// Parses text as JSON: InvalidArgument with the parser's position on error,
// for a number that does not fit a double, and for nesting past kMaxJsonDepth.
Result<Json> ParseJson(std::string_view text, std::string_view what);

}  // namespace medchain::api
