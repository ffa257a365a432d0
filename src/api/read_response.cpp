// Copyright (c) medchain developers.
#include "medchain/api/read_response.h"

namespace medchain::api {

Bytes EncodeReadResponse(const ReadOutcome& o) {
  size_t total = 128;
  for (const auto& r : o.records) total += r.ciphertext.size() + 256;
  Encoder e(total);
  e.U8(1).Fixed(o.access.id).U64(o.access.height).U32(o.access.index).U64(o.access.leaf_index);
  e.Var(o.access.result.Encode()).Varint(o.records.size());
  for (const auto& r : o.records) {
    e.Str(r.record_id).U32(r.version).Str(r.type).Str(r.patient).Str(r.custodian).Var(r.ciphertext);
    e.Bool(r.wrapped_key.has_value());
    if (r.wrapped_key) e.Var(*r.wrapped_key);
  }
  return e.Take();
}

Result<ReadOutcome> DecodeReadResponse(ByteView bytes) {
  ReadOutcome o;
  Decoder d(bytes, "read response");
  if (d.U8("version") != 1 && d.ok()) d.Fail("version", "unknown version");
  o.access.id = d.FixedHash("id");
  o.access.committed = true;
  o.access.height = d.U64("height");
  o.access.index = d.U32("index");
  o.access.leaf_index = d.U64("leaf_index");
  ByteView result = d.VarView("result", 1 << 20);
  uint64_t n = d.Count("records", ledger::kMaxListSize);
  for (uint64_t i = 0; i < n && d.ok(); ++i) {
    ReleasedRecord r;
    r.record_id = d.Str("record_id", ledger::kMaxIdSize);
    r.version = d.U32("version");
    r.type = d.Str("type", ledger::kMaxTypeSize);
    r.patient = d.Str("patient", ledger::kMaxIdSize);
    r.custodian = d.Str("custodian", ledger::kMaxIdSize);
    r.ciphertext = d.Var("ciphertext", ledger::kMaxCiphertextSize);
    if (d.Bool("has_key")) r.wrapped_key = d.Var("wrapped_key", ledger::kSealedKeySize);
    o.records.push_back(std::move(r));
  }
  MC_RETURN_IF_ERROR(d.Finish());
  MC_ASSIGN_OR_RETURN(o.access.result, ledger::TxResult::Decode(result));
  return o;
}

}  // namespace medchain::api
