// Copyright (c) medchain developers.
// The two envelopes medchain puts around libraft's bytes (docs/consensus.md):
// the entry frame (every proposal, padded to a multiple of 8 bytes) and the
// snapshot envelope (index and term in front of the state machine's bytes).
// Both are read from peers and from disk: decoding is strict and bounded.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>

#include "medchain/core/bytes.h"
#include "medchain/core/status.h"

namespace medchain::consensus {

// ---------------------------------------------------------------------------
// Snapshot envelope (docs/consensus.md, "Snapshot format"). libraft's fsm
// restore callback is not told the snapshot's index and term, so we store
// them in front of the StateMachine's bytes:
//   u32 magic "mcsn" | u16 version (1) | u64 index | u64 term | bytes payload
inline constexpr size_t kMaxSnapshotPayload = 64u << 20;

Bytes EncodeSnapshot(uint64_t index, uint64_t term, ByteView payload);

struct DecodedSnapshot {
  uint64_t index = 0;
  uint64_t term = 0;
  Bytes payload;
};

Result<DecodedSnapshot> DecodeSnapshot(ByteView blob);

// ---------------------------------------------------------------------------
// Entry envelope (docs/consensus.md, "Entry format").
//
//   WARNING: libraft 0.15 silently requires every entry's length to be a
//   multiple of 8 bytes. Its segment writer reserves padded space but copies
//   unpadded (an assert that Debian's release build compiles out), and its
//   AppendEntries sender does not pad while the receiver skips padding. An
//   entry of 201 bytes is stored and replicated fine on its own, but the
//   entries after it in the same batch are shifted, on disk and on followers.
//
// So every proposal is framed, padded with zeros to a multiple of 8:
//   u16 version (1) | u16 zero | u32 payload length | payload | 0..7 zero bytes
// all integers big-endian.
inline constexpr size_t kEntryHeader = 8;

size_t FramedSize(size_t payload);

// Writes the framed `payload` into `out` (FramedSize(payload.size()) bytes).
void FrameEntry(ByteView payload, uint8_t* out);

// The payload of a framed entry, or nullopt if `entry` is not one.
std::optional<ByteView> UnframeEntry(ByteView entry);

}  // namespace medchain::consensus
