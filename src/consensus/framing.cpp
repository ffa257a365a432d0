// Copyright (c) medchain developers.
#include "consensus/framing.h"

#include <cstring>
#include <string>

#include "medchain/core/codec.h"

namespace medchain::consensus {

namespace {
constexpr uint32_t kSnapshotMagic = 0x6d63736e;
constexpr uint16_t kSnapshotVersion = 1;
constexpr uint16_t kEntryVersion = 1;
}  // namespace

Bytes EncodeSnapshot(uint64_t index, uint64_t term, ByteView payload) {
  Encoder e(payload.size() + 32);
  e.U32(kSnapshotMagic).U16(kSnapshotVersion).U64(index).U64(term).Var(payload);
  return e.Take();
}

Result<DecodedSnapshot> DecodeSnapshot(ByteView blob) {
  Decoder d(blob, "raft snapshot");
  uint32_t magic = d.U32("magic");
  if (d.ok() && magic != kSnapshotMagic) d.Fail("magic", "not a medchain snapshot");
  uint16_t version = d.U16("version");
  if (d.ok() && version != kSnapshotVersion) {
    d.Fail("version", "unsupported version " + std::to_string(version));
  }
  DecodedSnapshot s;
  s.index = d.U64("index");
  s.term = d.U64("term");
  s.payload = d.Var("payload", kMaxSnapshotPayload);
  MC_RETURN_IF_ERROR(d.Finish());
  return s;
}

size_t FramedSize(size_t payload) {
  return kEntryHeader + (payload + 7) / 8 * 8;
}

void FrameEntry(ByteView payload, uint8_t* out) {
  Encoder e(kEntryHeader);
  e.U16(kEntryVersion).U16(0).U32(static_cast<uint32_t>(payload.size()));
  std::memcpy(out, e.buffer().data(), kEntryHeader);
  if (!payload.empty()) std::memcpy(out + kEntryHeader, payload.data(), payload.size());
  size_t pad = FramedSize(payload.size()) - kEntryHeader - payload.size();
  std::memset(out + kEntryHeader + payload.size(), 0, pad);
}

std::optional<ByteView> UnframeEntry(ByteView entry) {
  if (entry.size() < kEntryHeader || entry.size() % 8 != 0) return std::nullopt;
  Decoder d(entry.first(kEntryHeader), "raft entry");
  uint16_t version = d.U16("version");
  uint16_t zero = d.U16("reserved");
  uint32_t len = d.U32("length");
  if (!d.Finish().ok() || version != kEntryVersion || zero != 0) return std::nullopt;
  if (len > entry.size() - kEntryHeader || FramedSize(len) != entry.size()) return std::nullopt;
  for (size_t i = kEntryHeader + len; i < entry.size(); i++) {
    if (entry[i] != 0) return std::nullopt;
  }
  return entry.subspan(kEntryHeader, len);
}

}  // namespace medchain::consensus
