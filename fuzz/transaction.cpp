// Copyright (c) medchain developers.
// Transactions from the wire: decode, then the properties the ledger relies
// on. A decoded transaction re-encodes to the input byte for byte (one
// canonical form); its signature check and its JSON form never crash; and a
// transaction whose body decodes comes back from its JSON form unchanged
// (api/json.h: the JSON form re-encodes to exactly one byte string).
#include "medchain/ledger/transaction.h"
#include "fuzz_util.h"
#include "medchain/api/json.h"

using namespace medchain;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto tx = ledger::Transaction::Decode(fuzz::Input(data, size));
  if (!tx.ok()) return 0;
  const ledger::Transaction& t = **tx;
  MC_FUZZ_CHECK(t.bytes() == Bytes(data, data + size), "decode-encode identity");
  (void)t.VerifySignature();
  api::Json j = api::TxToJson(t);
  (void)j.dump(-1, ' ', false, api::Json::error_handler_t::replace);
  if (j["body"].contains("malformed_hex")) return 0;   // a body only the wire form carries
  if (t.type() == ledger::TxType::kGenesis) return 0;  // never submitted, so no JSON reader
  auto back = api::TxFromJson(j);
  if (!back.ok()) std::fprintf(stderr, "%s\n", back.status().ToString().c_str());
  MC_FUZZ_CHECK(back.ok(), "a decodable transaction comes back from its JSON form");
  MC_FUZZ_CHECK((*back)->bytes() == t.bytes(), "JSON round trip gives the same bytes");
  return 0;
}
