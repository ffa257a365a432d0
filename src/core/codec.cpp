// Copyright (c) medchain developers.
#include "medchain/core/codec.h"

#include <algorithm>

namespace medchain {

// ---- Encoder ----

Encoder& Encoder::U8(uint8_t v) {
  m_buf.push_back(v);
  return *this;
}

Encoder& Encoder::U16(uint16_t v) {
  m_buf.push_back(static_cast<uint8_t>(v >> 8));
  m_buf.push_back(static_cast<uint8_t>(v));
  return *this;
}

Encoder& Encoder::U32(uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) m_buf.push_back(static_cast<uint8_t>(v >> shift));
  return *this;
}

Encoder& Encoder::U64(uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) m_buf.push_back(static_cast<uint8_t>(v >> shift));
  return *this;
}

Encoder& Encoder::Varint(uint64_t v) {
  while (v >= 0x80) {
    m_buf.push_back(static_cast<uint8_t>(v | 0x80));
    v >>= 7;
  }
  m_buf.push_back(static_cast<uint8_t>(v));
  return *this;
}

Encoder& Encoder::Fixed(ByteView raw) {
  m_buf.insert(m_buf.end(), raw.begin(), raw.end());
  return *this;
}

Encoder& Encoder::Var(ByteView bytes) {
  Varint(bytes.size());
  return Fixed(bytes);
}

// ---- Decoder ----

void Decoder::Fail(std::string_view field, std::string_view why) {
  if (!m_status.ok()) return;
  std::string msg = m_what;
  if (!field.empty()) {
    msg += '.';
    msg += field;
  }
  msg += ": ";
  msg += why;
  m_status = Status::InvalidArgument(std::move(msg));
}

bool Decoder::Need(std::string_view field, size_t n) {
  if (!m_status.ok()) return false;
  if (remaining() < n) {
    Fail(field, "truncated: needs " + std::to_string(n) + " bytes, " +
                    std::to_string(remaining()) + " left");
    return false;
  }
  return true;
}

uint8_t Decoder::U8(std::string_view field) {
  if (!Need(field, 1)) return 0;
  return m_data[m_pos++];
}

uint16_t Decoder::U16(std::string_view field) {
  if (!Need(field, 2)) return 0;
  uint16_t v = static_cast<uint16_t>((m_data[m_pos] << 8) | m_data[m_pos + 1]);
  m_pos += 2;
  return v;
}

uint32_t Decoder::U32(std::string_view field) {
  if (!Need(field, 4)) return 0;
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v = (v << 8) | m_data[m_pos++];
  return v;
}

uint64_t Decoder::U64(std::string_view field) {
  if (!Need(field, 8)) return 0;
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | m_data[m_pos++];
  return v;
}

uint64_t Decoder::Varint(std::string_view field) {
  uint64_t v = 0;
  for (int i = 0; i < 10; ++i) {
    if (!Need(field, 1)) return 0;
    uint8_t b = m_data[m_pos++];
    uint64_t part = b & 0x7f;
    if (i == 9 && part > 1) {
      Fail(field, "varint overflows 64 bits");
      return 0;
    }
    v |= part << (7 * i);
    if ((b & 0x80) == 0) {
      // A last group of zero after the first means the same value had a
      // shorter encoding.
      if (i > 0 && part == 0) {
        Fail(field, "non-canonical varint (redundant trailing zero group)");
        return 0;
      }
      return v;
    }
  }
  Fail(field, "varint longer than 10 bytes");
  return 0;
}

bool Decoder::Bool(std::string_view field) {
  uint8_t b = U8(field);
  if (b > 1) {
    Fail(field, "boolean must be 0 or 1, got " + std::to_string(b));
    return false;
  }
  return b == 1;
}

uint64_t Decoder::Count(std::string_view field, uint64_t max) {
  uint64_t n = Varint(field);
  if (!ok()) return 0;
  if (n > max) {
    Fail(field, "count " + std::to_string(n) + " exceeds limit " + std::to_string(max));
    return 0;
  }
  if (n > remaining()) {
    Fail(field, "count " + std::to_string(n) + " exceeds the " + std::to_string(remaining()) +
                    " bytes left");
    return 0;
  }
  return n;
}

void Decoder::Fixed(std::string_view field, std::span<uint8_t> out) {
  if (!Need(field, out.size())) {
    std::fill(out.begin(), out.end(), 0);
    return;
  }
  std::copy_n(m_data.begin() + static_cast<std::ptrdiff_t>(m_pos), out.size(), out.begin());
  m_pos += out.size();
}

Hash Decoder::FixedHash(std::string_view field) {
  Hash h{};
  Fixed(field, h);
  return h;
}

ByteView Decoder::FixedView(std::string_view field, size_t n) {
  if (!Need(field, n)) return {};
  ByteView v = m_data.subspan(m_pos, n);
  m_pos += n;
  return v;
}

ByteView Decoder::VarView(std::string_view field, size_t max) {
  uint64_t n = Varint(field);
  if (!ok()) return {};
  if (n > max) {
    Fail(field, "length " + std::to_string(n) + " exceeds limit " + std::to_string(max));
    return {};
  }
  return FixedView(field, static_cast<size_t>(n));
}

Bytes Decoder::Var(std::string_view field, size_t max) { return ToBytes(VarView(field, max)); }

std::string Decoder::Str(std::string_view field, size_t max) {
  ByteView v = VarView(field, max);
  std::string s(AsString(v));
  if (ok() && !IsValidUtf8(s)) {
    Fail(field, "not valid UTF-8");
    return {};
  }
  return s;
}

Status Decoder::Finish() {
  if (m_status.ok() && remaining() != 0) {
    Fail("", std::to_string(remaining()) + " trailing bytes after the value");
  }
  return m_status;
}

bool IsValidUtf8(std::string_view s) {
  size_t i = 0;
  const size_t n = s.size();
  while (i < n) {
    uint8_t c = static_cast<uint8_t>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len;
    uint32_t cp;
    if ((c & 0xe0) == 0xc0) {
      len = 2;
      cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
      len = 3;
      cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + len > n) return false;
    for (size_t k = 1; k < len; ++k) {
      uint8_t cc = static_cast<uint8_t>(s[i + k]);
      if ((cc & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3f);
    }
    static constexpr uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    i += len;
  }
  return true;
}

}  // namespace medchain
