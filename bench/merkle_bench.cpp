// Copyright (c) medchain developers.
// merkle_bench: fixed workloads over the RFC 6962 log; prints one figure a
// line (docs/merkle.md records them). Single-threaded.
//
//   merkle_bench [leaves]      (default 1000000: a size with 7 frontier subtrees)
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "medchain/core/merkle.h"

namespace {

using medchain::Hash;
using Clock = std::chrono::steady_clock;
namespace merkle = medchain::merkle;

double Seconds(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Deterministic index stream (no <random> state to set up).
struct Lcg {
  uint64_t state = 0x9e3779b97f4a7c15ull;
  uint64_t Below(uint64_t n) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return (state >> 11) % n;
  }
};

uint8_t g_sink = 0;  // keeps results observable
void Use(const Hash& h) {
  g_sink ^= h[0];
}

void Fail(const std::string& what, const medchain::Status& st) {
  std::fprintf(stderr, "merkle_bench: %s: %s\n", what.c_str(), st.ToString().c_str());
  std::exit(1);
}

}  // namespace

int main(int argc, char** argv) {
  const uint64_t n = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : uint64_t{1000000};
  if (n < 2) {
    std::fprintf(stderr, "usage: merkle_bench [leaves >= 2]\n");
    return 2;
  }
  std::printf("merkle_bench: %llu leaves, one thread\n", static_cast<unsigned long long>(n));

  // ---- hashing ----
  merkle::Hasher hasher;
  const int kHashes = 1'000'000;
  for (size_t size : {64, 512}) {
    std::vector<uint8_t> input(size, 0x5a);
    auto t = Clock::now();
    for (int i = 0; i < kHashes; ++i) {
      input[0] = static_cast<uint8_t>(i);
      Use(hasher.Leaf(input));
    }
    std::printf("leaf hash, %zu-byte input:        %8.1f ns\n", size, Seconds(t) / kHashes * 1e9);
  }
  {
    Hash a = hasher.Leaf({}), b = hasher.Leaf(a);
    auto t = Clock::now();
    for (int i = 0; i < kHashes; ++i) a = hasher.Children(a, b);
    Use(a);
    std::printf("node hash (reused Hasher):          %8.1f ns\n", Seconds(t) / kHashes * 1e9);
    t = Clock::now();
    for (int i = 0; i < kHashes; ++i) a = merkle::HashChildren(a, b);
    Use(a);
    std::printf("node hash (thread-local, free fn):  %8.1f ns\n", Seconds(t) / kHashes * 1e9);
  }

  // ---- append ----
  std::vector<Hash> leaves(n);
  {
    auto t = Clock::now();
    for (uint64_t i = 0; i < n; ++i) {
      const uint64_t v = i * 0x9e3779b97f4a7c15ull;
      leaves[i] = hasher.Leaf({reinterpret_cast<const uint8_t*>(&v), sizeof v});
    }
    std::printf("leaf hashes of %llu 8-byte inputs:  %8.3f s\n", static_cast<unsigned long long>(n),
                Seconds(t));
  }
  medchain::merkle::MemoryNodeStore store;
  merkle::Log log(&store);
  {
    std::vector<merkle::NodeWrite> writes;
    auto t = Clock::now();
    for (const Hash& leaf : leaves) {
      writes.clear();
      medchain::Status st = log.Append(leaf, &writes);
      if (!st.ok()) Fail("append", st);
      store.Put(writes);
    }
    const double s = Seconds(t);
    std::printf("append + MemoryNodeStore::Put:      %8.0f appends/s (%.3f s, %llu nodes)\n",
                static_cast<double>(n) / s, s, static_cast<unsigned long long>(store.NodeCount()));
  }
  {
    merkle::MemoryNodeStore unused;
    merkle::Log bare(&unused);
    std::vector<merkle::NodeWrite> writes;
    auto t = Clock::now();
    for (const Hash& leaf : leaves) {
      writes.clear();
      if (!bare.Append(leaf, &writes).ok()) return 1;
    }
    const double s = Seconds(t);
    std::printf("append alone (nodes not stored):    %8.0f appends/s\n",
                static_cast<double>(n) / s);
  }

  // ---- roots ----
  {
    auto t = Clock::now();
    const Hash root = merkle::ComputeRoot(leaves);
    std::printf("root over %llu leaf hashes:       %8.3f s (ComputeRoot)\n",
                static_cast<unsigned long long>(n), Seconds(t));
    if (root != log.Root()) {
      std::fprintf(stderr, "merkle_bench: ComputeRoot and Log::Root disagree\n");
      return 1;
    }
    const int kRoots = 100'000;
    t = Clock::now();
    for (int i = 0; i < kRoots; ++i) Use(log.Root());
    std::printf("Log::Root (frontier, no I/O):       %8.2f us\n", Seconds(t) / kRoots * 1e6);
    Lcg rng;
    const int kRootAts = 20'000;
    t = Clock::now();
    for (int i = 0; i < kRootAts; ++i) {
      auto r = log.RootAt(1 + rng.Below(n));
      if (!r.ok()) Fail("RootAt", r.status());
      Use(*r);
    }
    std::printf("Log::RootAt (random earlier size):  %8.2f us\n", Seconds(t) / kRootAts * 1e6);
  }

  // ---- inclusion proofs ----
  const int kProofs = 20'000;
  const Hash root = log.Root();
  {
    Lcg rng;
    std::vector<uint64_t> indices(kProofs);
    for (auto& i : indices) i = rng.Below(n);
    std::vector<std::vector<Hash>> proofs(kProofs);
    auto t = Clock::now();
    for (int i = 0; i < kProofs; ++i) {
      auto p = log.InclusionProof(indices[i], n);
      if (!p.ok()) Fail("InclusionProof", p.status());
      proofs[i] = std::move(*p);
    }
    std::printf("inclusion proof build (%2zu hashes):  %8.2f us\n", proofs[0].size(),
                Seconds(t) / kProofs * 1e6);
    t = Clock::now();
    for (int i = 0; i < kProofs; ++i) {
      medchain::Status st =
          merkle::VerifyInclusion(leaves[indices[i]], indices[i], n, proofs[i], root);
      if (!st.ok()) Fail("VerifyInclusion", st);
    }
    std::printf("inclusion proof verify:             %8.2f us\n", Seconds(t) / kProofs * 1e6);
  }

  // ---- consistency proofs ----
  {
    Lcg rng;
    std::vector<uint64_t> sizes(kProofs);
    std::vector<Hash> roots1(kProofs);
    for (int i = 0; i < kProofs; ++i) {
      sizes[i] = 1 + rng.Below(n - 1);
      roots1[i] = *log.RootAt(sizes[i]);
    }
    std::vector<std::vector<Hash>> proofs(kProofs);
    auto t = Clock::now();
    for (int i = 0; i < kProofs; ++i) {
      auto p = log.ConsistencyProof(sizes[i], n);
      if (!p.ok()) Fail("ConsistencyProof", p.status());
      proofs[i] = std::move(*p);
    }
    size_t total = 0;
    for (const auto& p : proofs) total += p.size();
    std::printf("consistency proof build (~%2zu hashes): %6.2f us\n", total / kProofs,
                Seconds(t) / kProofs * 1e6);
    t = Clock::now();
    for (int i = 0; i < kProofs; ++i) {
      medchain::Status st = merkle::VerifyConsistency(sizes[i], n, proofs[i], roots1[i], root);
      if (!st.ok()) Fail("VerifyConsistency", st);
    }
    std::printf("consistency proof verify:           %8.2f us\n", Seconds(t) / kProofs * 1e6);
  }
  std::printf("(checksum %02x)\n", g_sink);
  return 0;
}
