// Copyright (c) medchain developers.
// The consensus envelopes (docs/consensus.md) as a peer or a disk may hand
// them over: Raft entries and snapshots. A frame decodes to a payload that
// frames back to the input; a snapshot decodes to values that encode back.
#include <vector>

#include "consensus/framing.h"
#include "fuzz_util.h"

using namespace medchain;
using namespace medchain::consensus;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const ByteView in = fuzz::Input(data, size);
  if (auto payload = UnframeEntry(in)) {
    std::vector<uint8_t> again(FramedSize(payload->size()));
    FrameEntry(*payload, again.data());
    MC_FUZZ_CHECK(Bytes(again.begin(), again.end()) == Bytes(in.begin(), in.end()),
                  "unframe-frame identity");
  }
  // Any payload frames into something that unframes to it.
  std::vector<uint8_t> framed(FramedSize(size));
  FrameEntry(in, framed.data());
  auto back = UnframeEntry(ByteView(framed.data(), framed.size()));
  MC_FUZZ_CHECK(back && Bytes(back->begin(), back->end()) == Bytes(in.begin(), in.end()),
                "frame-unframe identity");
  if (auto s = DecodeSnapshot(in); s.ok()) {
    MC_FUZZ_CHECK(EncodeSnapshot(s->index, s->term, s->payload) == Bytes(in.begin(), in.end()),
                  "snapshot decode-encode identity");
  }
  return 0;
}
