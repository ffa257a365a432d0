// Copyright (c) medchain developers.
// The values the store keeps (docs/format.md, "State"): a corrupted or
// hostile value decodes strictly, and a decoded one re-encodes to its input.
// The first byte picks the type.
#include "medchain/ledger/state.h"
#include "fuzz_util.h"
#include "medchain/core/merkle.h"
#include "medchain/ledger/apply.h"
#include "medchain/ledger/bodies.h"

using namespace medchain;

namespace {
template <class T>
void Identity(ByteView in, const char* what) {
  auto v = T::Decode(in);
  if (v.ok()) MC_FUZZ_CHECK(v->Encode() == Bytes(in.begin(), in.end()), what);
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const ByteView in = fuzz::Input(data + 1, size - 1);
  switch (data[0] % 8) {
    case 0:
      Identity<ledger::Participant>(in, "participant");
      break;
    case 1:
      Identity<ledger::RecordHead>(in, "record head");
      break;
    case 2:
      Identity<ledger::RecordVersion>(in, "record version");
      break;
    case 3:
      Identity<ledger::GrantState>(in, "grant state");
      break;
    case 4:
      Identity<ledger::AuditEntry>(in, "audit entry");
      break;
    case 5:
      Identity<ledger::Sidecar>(in, "sidecar");
      break;
    case 6:
      Identity<ledger::TxResult>(in, "tx result");
      break;
    default:
      Identity<merkle::State>(in, "merkle state");
      break;
  }
  return 0;
}
