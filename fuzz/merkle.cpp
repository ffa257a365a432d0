// Copyright (c) medchain developers.
// Proof checking (RFC 6962 / RFC 9162) with hostile sizes, indices and
// proofs: never crashes, and never accepts a proof of a leaf the tree it was
// checked against does not hold. Input: u64 index | u64 size | 32-byte leaf |
// 32-byte root | 32-byte hashes of the proof.
#include <cstring>
#include <vector>

#include "fuzz_util.h"
#include "medchain/core/merkle.h"

using namespace medchain;

namespace {
uint64_t U64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = v << 8 | p[i];
  return v;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 80) return 0;
  const uint64_t a = U64(data), b = U64(data + 8);
  Hash leaf, root;
  std::memcpy(leaf.data(), data + 16, 32);
  std::memcpy(root.data(), data + 48, 32);
  std::vector<Hash> proof((size - 80) / 32);
  for (size_t i = 0; i < proof.size(); ++i) std::memcpy(proof[i].data(), data + 80 + 32 * i, 32);
  (void)merkle::VerifyInclusion(leaf, a, b, proof, root);
  (void)merkle::VerifyConsistency(a, b, proof, leaf, root);
  // A small real tree: a proof for one of its leaves verifies only there.
  const uint64_t n = 1 + (a % 17);
  std::vector<Hash> leaves(n);
  for (uint64_t i = 0; i < n; ++i) {
    leaves[i] = leaf;
    leaves[i][0] ^= static_cast<uint8_t>(i + 1);
  }
  const Hash real_root = merkle::ComputeRoot(leaves);
  if (merkle::VerifyInclusion(leaf, b % n, n, proof, real_root).ok()) {
    // The leaf at b % n differs from `leaf` (first byte flipped), so a
    // proof for `leaf` would be a second preimage of SHA-256.
    MC_FUZZ_CHECK(false, "inclusion proof accepted for a leaf the tree does not hold");
  }
  return 0;
}
