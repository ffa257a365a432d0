// Copyright (c) medchain developers.
// JSON request bodies of the HTTP API: ParseJson and every reader of its
// result (transactions, bodies of each type, registrations, genesis) must
// answer a Status, never throw. An exception escaping here is a bug: in the
// node it would be a 500 (or, in a libuv callback, an abort).
#include "fuzz_util.h"
#include "medchain/api/json.h"

using namespace medchain;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto j = api::ParseJson(fuzz::Text(data, size), "body");
  if (!j.ok()) return 0;
  (void)api::TxFromJson(*j);
  (void)api::GenesisFromJson(*j);
  (void)api::RegistrationFromJson(*j, "registration");
  for (uint16_t t : {0, 1, 2, 10, 11, 20, 21, 30, 31, 32, 40, 50}) {
    (void)api::BodyFromJson(static_cast<ledger::TxType>(t), *j);
  }
  if (j->is_object() && j->contains("body")) {
    for (uint16_t t : {1, 10, 20, 30})
      (void)api::BodyFromJson(static_cast<ledger::TxType>(t), (*j)["body"]);
  }
  return 0;
}
