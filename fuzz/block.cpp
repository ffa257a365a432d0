// Copyright (c) medchain developers.
// Blocks, block headers and Raft proposals from peers: strict decoding with
// one canonical form each (decode-encode identity).
#include "medchain/ledger/block.h"
#include "fuzz_util.h"

using namespace medchain;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const ByteView in = fuzz::Input(data, size);
  const Bytes bytes(data, data + size);
  if (auto h = ledger::BlockHeader::Decode(in); h.ok()) {
    MC_FUZZ_CHECK(h->Encode() == bytes, "header decode-encode identity");
  }
  if (auto b = ledger::Block::Decode(in); b.ok()) {
    MC_FUZZ_CHECK(b->Encode() == bytes, "block decode-encode identity");
    (void)ledger::ComputeTxRoot(b->txs);
  }
  if (auto p = ledger::Proposal::Decode(in); p.ok()) {
    MC_FUZZ_CHECK(p->Encode() == bytes, "proposal decode-encode identity");
  }
  return 0;
}
