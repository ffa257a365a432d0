// Copyright (c) medchain developers.
// The canonical binary codec. Every value medchain hashes or signs is encoded
// with these primitives and nothing else; docs/format.md is the specification.
//
//   u8, u16, u32, u64   fixed width, big-endian
//   varint              unsigned LEB128, at most 10 bytes, minimal (no
//                       redundant 0x80/0x00 groups), value < 2^64
//   bool                one byte, 0x00 or 0x01
//   bytes               varint length, then the bytes; every read names a limit
//   string              bytes holding valid UTF-8
//   fixed(n)            exactly n raw bytes (hashes, keys, signatures)
//
// Decoding is strict: any other form of a value is an error, so each value has
// exactly one encoding and a decoded-then-re-encoded value is byte-identical.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "medchain/core/bytes.h"
#include "medchain/core/status.h"

namespace medchain {

class Encoder {
 public:
  Encoder() = default;
  explicit Encoder(size_t reserve) { m_buf.reserve(reserve); }

  Encoder& U8(uint8_t v);
  Encoder& U16(uint16_t v);
  Encoder& U32(uint32_t v);
  Encoder& U64(uint64_t v);
  Encoder& Varint(uint64_t v);
  Encoder& Bool(bool v) { return U8(v ? 1 : 0); }
  Encoder& Fixed(ByteView raw);  // no length prefix
  Encoder& Var(ByteView bytes);  // varint length + bytes
  Encoder& Str(std::string_view s) { return Var(AsBytes(s)); }

  const Bytes& buffer() const { return m_buf; }
  size_t size() const { return m_buf.size(); }
  Bytes Take() { return std::move(m_buf); }

 private:
  Bytes m_buf;
};

// Reads values in order; the first error sticks. After an error every read
// returns a zero value and leaves the error unchanged, so callers check once at
// the end:
//
//   Decoder d(bytes, "transaction");
//   uint8_t version = d.U8("version");
//   ...
//   MC_RETURN_IF_ERROR(d.Finish());   // also rejects trailing bytes
//
// Error messages name the object and field, e.g.
//   "transaction.body: length 2000000 exceeds limit 1048576".
// The decoder does not own the input: `data` must remain live while it is used,
// and views returned by VarView/FixedView point into it.
class Decoder {
 public:
  Decoder(ByteView data, std::string_view what) : m_data(data), m_what(what) {}

  uint8_t U8(std::string_view field);
  uint16_t U16(std::string_view field);
  uint32_t U32(std::string_view field);
  uint64_t U64(std::string_view field);
  uint64_t Varint(std::string_view field);
  bool Bool(std::string_view field);
  // A varint count that must not exceed `max` (and, since every element takes
  // at least one byte, must not exceed the bytes left).
  uint64_t Count(std::string_view field, uint64_t max);
  // Exactly out.size() raw bytes.
  void Fixed(std::string_view field, std::span<uint8_t> out);
  Hash FixedHash(std::string_view field);
  ByteView FixedView(std::string_view field, size_t n);
  Bytes Var(std::string_view field, size_t max);
  ByteView VarView(std::string_view field, size_t max);
  std::string Str(std::string_view field, size_t max);

  // Marks the decode failed with a rule violation found by the caller (e.g. an
  // unknown version or unsorted list). Keeps an earlier error if there is one.
  void Fail(std::string_view field, std::string_view why);

  // Error if any bytes are left, or the sticky error.
  Status Finish();
  bool ok() const { return m_status.ok(); }
  const Status& status() const { return m_status; }
  size_t remaining() const { return m_data.size() - m_pos; }
  size_t position() const { return m_pos; }

 private:
  bool Need(std::string_view field, size_t n);

  ByteView m_data;
  size_t m_pos = 0;
  std::string m_what;
  Status m_status;
};

// True when `s` is well-formed UTF-8 (no overlongs, no surrogates, <= U+10FFFF).
bool IsValidUtf8(std::string_view s);

}  // namespace medchain
