// Copyright (c) medchain developers.
#include "medchain/core/bytes.h"

#include <sodium.h>

namespace medchain {

std::string ToHex(ByteView bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(bytes.size() * 2, '\0');
  for (size_t i = 0; i < bytes.size(); ++i) {
    out[2 * i] = kDigits[bytes[i] >> 4];
    out[2 * i + 1] = kDigits[bytes[i] & 0x0f];
  }
  return out;
}

static int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::optional<Bytes> FromHex(std::string_view hex) {
  if (hex.size() % 2 != 0) return std::nullopt;
  Bytes out(hex.size() / 2);
  for (size_t i = 0; i < out.size(); ++i) {
    int hi = HexValue(hex[2 * i]);
    int lo = HexValue(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out[i] = static_cast<uint8_t>((hi << 4) | lo);
  }
  return out;
}

std::optional<Hash> HashFromHex(std::string_view hex) {
  if (hex.size() != 64) return std::nullopt;
  auto b = FromHex(hex);
  if (!b) return std::nullopt;
  Hash h{};
  std::copy(b->begin(), b->end(), h.begin());
  return h;
}

std::string ToBase64(ByteView bytes) {
  const int variant = sodium_base64_VARIANT_ORIGINAL;
  std::string out(sodium_base64_encoded_len(bytes.size(), variant), '\0');
  sodium_bin2base64(out.data(), out.size(), bytes.data(), bytes.size(), variant);
  out.resize(out.size() - 1);  // drop the NUL libsodium writes
  return out;
}

std::optional<Bytes> FromBase64(std::string_view b64) {
  if (b64.empty()) return Bytes{};
  if (b64.size() % 4 != 0) return std::nullopt;
  Bytes out(b64.size() / 4 * 3);
  size_t len = 0;
  const char* end = nullptr;
  if (sodium_base642bin(out.data(), out.size(), b64.data(), b64.size(), nullptr, &len, &end,
                        sodium_base64_VARIANT_ORIGINAL) != 0 ||
      end != b64.data() + b64.size()) {
    return std::nullopt;
  }
  out.resize(len);
  // Canonical form: the bits padding leaves unused must be zero. Re-encoding
  // the last (up to 3-byte) group and comparing the last 4 characters checks
  // it without re-encoding everything.
  if (!out.empty()) {
    size_t tail = out.size() % 3 == 0 ? 3 : out.size() % 3;
    std::string last = ToBase64(ByteView(out).last(tail));
    if (b64.substr(b64.size() - 4) != last) return std::nullopt;
  }
  return out;
}

bool ConstantTimeEqual(ByteView a, ByteView b) {
  if (a.size() != b.size()) return false;
  if (a.empty()) return true;
  return sodium_memcmp(a.data(), b.data(), a.size()) == 0;
}

void SecureZero(void* p, size_t n) {
  if (n != 0) sodium_memzero(p, n);
}

}  // namespace medchain
