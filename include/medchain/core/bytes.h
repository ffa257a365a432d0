// Copyright (c) medchain developers.
// Byte strings, fixed-size hashes and their text forms (hex, base64).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace medchain {

using Bytes = std::vector<uint8_t>;
using ByteView = std::span<const uint8_t>;

// A SHA-256 digest, also the type of every Merkle node and transaction id.
using Hash = std::array<uint8_t, 32>;

inline ByteView AsBytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}
inline std::string_view AsString(ByteView b) {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}
inline Bytes ToBytes(std::string_view s) { return Bytes(s.begin(), s.end()); }
inline Bytes ToBytes(ByteView b) { return Bytes(b.begin(), b.end()); }

// Lowercase hex.
std::string ToHex(ByteView bytes);
// Accepts upper- or lowercase; rejects odd lengths and non-hex characters.
std::optional<Bytes> FromHex(std::string_view hex);
// Exactly 64 hex characters into a Hash.
std::optional<Hash> HashFromHex(std::string_view hex);

// Standard base64 (RFC 4648 section 4) with padding.
std::string ToBase64(ByteView bytes);
// Strict: padding required, no whitespace, no non-zero trailing bits.
std::optional<Bytes> FromBase64(std::string_view b64);

// Constant-time equality for secrets and MACs (sodium_memcmp).
bool ConstantTimeEqual(ByteView a, ByteView b);

// Overwrites memory with zeros in a way the compiler may not elide (sodium_memzero).
void SecureZero(void* p, size_t n);
inline void SecureZero(Bytes& b) { SecureZero(b.data(), b.size()); }
inline void SecureZero(std::string& s) { SecureZero(s.data(), s.size()); }

}  // namespace medchain
