// Copyright (c) medchain developers.
// The append-only Merkle log of every committed transaction: RFC 6962 hashing,
// a log stored as addressed nodes in a key-value store, and verification of
// inclusion and consistency proofs (RFC 9162 sections 2.1.3 and 2.1.4).
// docs/merkle.md is the specification: node addressing, the persisted state
// format, the persistence contract and the verifier's strictness rules.
//
// WARNING: the hashing rules below are what make a proof mean anything.
// RFC 6962 section 2.1 hashes leaves and interior nodes differently:
//
//   empty tree  MTH({})     = SHA-256()
//   leaf        MTH({d})    = SHA-256(0x00 || d)
//   node        MTH(D[0:n]) = SHA-256(0x01 || MTH(D[0:k]) || MTH(D[k:n]))
//               where k is the largest power of two smaller than n.
//
// Without the 0x00/0x01 prefixes (leaf = H(d), node = H(l || r)) the 64 bytes
// hashed for an interior node could be presented as a leaf, and a proof for
// that forged leaf would verify: a second preimage of the root.
//
//   four leaves a, b, c, d                 two forged leaves x, y
//
//            R = H(A || B)                        R = H(A || B)
//          /               \  <- same root ->   /               \  .
//     A = H(ha || hb)  B = H(hc || hd)       A = H(x)          B = H(y)
//      /     |           |     \  .
//    ha     hb          hc     hd            x = ha || hb      y = hc || hd
//  = H(a) = H(b)      = H(c) = H(d)          (64-byte leaf data)
//
// With the prefixes A = H(0x01 || ha || hb) but a leaf hashes to
// H(0x00 || x): equal only if SHA-256 collides.
//
// And unlike bitcoin's transaction tree, an odd node is never paired with a
// copy of itself: bitcoin's [1,2,3] and [1,2,3,3] share one root
// (CVE-2012-2459), so a block could be mutated without changing its hash.
// Here the last node is carried up unchanged (the split at the largest power
// of two), every proof and checkpoint names its tree size, and no two
// different leaf lists share a root unless SHA-256 collides.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "medchain/core/bytes.h"
#include "medchain/core/sha256.h"
#include "medchain/core/status.h"

namespace medchain::merkle {

inline constexpr size_t kHashSize = 32;
inline constexpr uint8_t kLeafPrefix = 0x00;
inline constexpr uint8_t kNodePrefix = 0x01;

// ---- Hashing (RFC 6962 section 2.1) ----

// Reusable hasher: one OpenSSL context for any number of leaf and node hashes.
// Not thread-safe: one object per thread. The free functions below use a
// thread-local Hasher.
class Hasher {
 public:
  // SHA-256(0x00 || leaf_input)
  Hash Leaf(ByteView leaf_input);
  // SHA-256(0x01 || left || right)
  Hash Children(const Hash& left, const Hash& right);
  // The same over byte strings of any length (the RFC 6962 test vectors hash
  // non-hash children such as "N123"); Merkle code uses the Hash overload.
  Hash Children(ByteView left, ByteView right);

 private:
  Sha256 m_sha;
};

// SHA-256 of the empty string: the root of the tree of size 0.
Hash EmptyRoot();
Hash HashLeaf(ByteView leaf_input);
Hash HashChildren(const Hash& left, const Hash& right);
Hash HashChildren(ByteView left, ByteView right);

// MTH of a list of leaf hashes (for example a block's transactions), without
// storing anything. EmptyRoot() for an empty list.
Hash ComputeRoot(std::span<const Hash> leaf_hashes);

// ---- Node storage ----
//
// Node (level L, index i) is the root of the perfect subtree over the leaves
// [i * 2^L, (i + 1) * 2^L); level 0 holds the leaf hashes. A node exists once
// all its leaves do, and never changes afterwards. Only these perfect nodes are
// stored: the root of a tree whose size is not a power of two, and the right
// edge of such a tree, are folded from them on demand.

struct NodeWrite {
  uint32_t level = 0;
  uint64_t index = 0;
  Hash hash{};
  bool operator==(const NodeWrite&) const = default;
};

// Serves stored nodes to a Log. The store module implements it over RocksDB;
// MemoryNodeStore below is the in-memory twin.
class NodeReader {
 public:
  virtual ~NodeReader() = default;
  // The node's hash, or nullopt when it is not stored (the Log then reports
  // Corruption naming the node).
  virtual std::optional<Hash> GetNode(uint32_t level, uint64_t index) const = 0;
};

// All nodes in memory, for tests and tools. Dense per level: memory grows to
// the highest index put on each level (64 bytes per leaf for a whole log).
// Not thread-safe.
class MemoryNodeStore final : public NodeReader {
 public:
  std::optional<Hash> GetNode(uint32_t level, uint64_t index) const override;
  // REQUIRES: level < 64, index < 2^(64 - level) (a real node address).
  void Put(uint32_t level, uint64_t index, const Hash& hash);
  void Put(const NodeWrite& node) { Put(node.level, node.index, node.hash); }
  void Put(std::span<const NodeWrite> nodes);
  // Forgets a node (tests of missing or lost data). False if it was absent.
  bool Erase(uint32_t level, uint64_t index);
  // Number of nodes held.
  uint64_t NodeCount() const { return m_count; }

 private:
  struct Level {
    std::vector<Hash> hashes;
    std::vector<bool> present;
  };
  std::vector<Level> m_levels;
  uint64_t m_count = 0;
};

// ---- The log ----

// What a Log needs besides its nodes: the size and the frontier (RFC 9162's
// "compact range" of [0, size)), the roots of the perfect subtrees covering
// [0, size) from left to right, one per set bit of `size`, largest first.
// For size 6: [node(2,0) over leaves 0..3, node(1,2) over leaves 4..5].
// At most 64 hashes: the caller persists it as one small value.
struct State {
  uint64_t size = 0;
  std::vector<Hash> frontier;

  // frontier.size() == popcount(size).
  bool Valid() const;

  // Format version 1 (docs/merkle.md):
  //   u8 version (= 1) | varint size | popcount(size) x fixed(32) frontier
  Bytes Encode() const;
  // Strict: unknown version, a frontier of the wrong length, truncation or
  // trailing bytes are InvalidArgument. A decoded State is Valid().
  static Result<State> Decode(ByteView bytes);

  bool operator==(const State&) const = default;
};

inline constexpr uint8_t kStateFormatVersion = 1;

// An append-only RFC 6962 log over nodes kept by the caller.
//
// Persistence contract (the store applies each block in one WriteBatch):
//   1. Append() does no I/O. It updates the State in memory and adds to *out
//      every node it completed: the leaf itself at level 0, then each interior
//      node finished by this leaf, in ascending level order (one on average).
//   2. The caller writes those nodes and state().Encode() in one atomic batch.
//   3. Only then may anyone ask for RootAt / InclusionProof /
//      ConsistencyProof at a size covering the new leaves: a proof for size s
//      reads only nodes that the Appends from 0 to s returned. A caller that
//      persists in batches publishes the size it has persisted (e.g. as the
//      checkpoint it signs) and serves proofs only up to it. Reading a node
//      that is missing gives Corruption, never a wrong proof.
//   If the batch fails, the in-memory Log is ahead of the disk: rebuild it from
//   the State last persisted (Log(reader, State::Decode(...))).
//
// Threads: not internally synchronised. Const members may run concurrently
// with each other when the NodeReader allows concurrent reads, but not with
// Append. Readers on other threads can hold their own Log built from a State
// read in the same snapshot as their NodeReader (a copy costs <= 64 hashes).
class Log {
 public:
  // REQUIRES: reader != nullptr and must remain live while the Log is used;
  //           state.Valid() (State::Decode only returns valid states), and
  //           `reader` holds every node Append returned up to state.size.
  Log(const NodeReader* reader, State state);
  explicit Log(const NodeReader* reader) : Log(reader, State{}) {}

  uint64_t Size() const { return m_state.size; }
  const State& state() const { return m_state; }

  // Appends one leaf, given as its leaf hash (HashLeaf(data)). Amortised O(1):
  // one leaf write plus on average one node hash and write. Fails only when
  // the log already holds 2^64 - 1 leaves.
  // REQUIRES: out != nullptr. Entries are appended to *out.
  Status Append(const Hash& leaf_hash, std::vector<NodeWrite>* out);

  // Root of the current tree, from the frontier alone (no I/O).
  Hash Root() const;

  // Reads O(log n) nodes through the NodeReader; never recomputes from leaves.
  // Sizes above Size() or an index >= size are InvalidArgument; a node the
  // reader lacks is Corruption.
  Result<Hash> RootAt(uint64_t size) const;
  // The RFC 6962 audit path of leaf `index` in the tree of `size` leaves,
  // bottom-up (as RFC 9162 section 2.1.3.1 and the CT vectors order it).
  Result<std::vector<Hash>> InclusionProof(uint64_t index, uint64_t size) const;
  // The RFC 6962 section 2.1.2 consistency proof from size1 to size2: empty
  // when size1 == size2, and size1 == 0 is InvalidArgument (such a proof
  // proves nothing; verifiers reject it).
  Result<std::vector<Hash>> ConsistencyProof(uint64_t size1, uint64_t size2) const;

 private:
  Result<Hash> ReadNode(uint32_t level, uint64_t index) const;
  Result<Hash> RangeRoot(uint64_t begin, uint64_t end) const;
  Status AppendPath(uint32_t level, uint64_t index, uint64_t size, std::vector<Hash>* out) const;

  const NodeReader* m_reader;
  State m_state;
};

// ---- Verification (RFC 9162 sections 2.1.3.2 and 2.1.4.2) ----
//
// Strict, as transparency-dev/merkle's verifier (docs/merkle.md lists the
// rules): index >= size is an error; a consistency proof with size1 == 0 is an
// error, even 0 -> 0; size1 == size2 needs an empty proof and equal roots;
// size1 > size2 is an error; the proof must have exactly the length the sizes
// imply. Every refusal carries its reason, e.g.
//   "proof has 4 hashes, a tree of size 8 needs 3 for leaf index 0"
//   "calculated root 5dc9... does not match the expected root 0000..."
// Malformed inputs (wrong sizes, wrong proof length, wrong-length byte
// strings) are InvalidArgument; a well-formed proof whose hashes do not lead
// to the given root(s) is Unauthenticated.

Status VerifyInclusion(const Hash& leaf_hash, uint64_t index, uint64_t size,
                       std::span<const Hash> proof, const Hash& root);
Status VerifyConsistency(uint64_t size1, uint64_t size2, std::span<const Hash> proof,
                         const Hash& root1, const Hash& root2);

// The same for byte strings from the wire: any length is accepted as input,
// and a leaf hash, root or proof entry that is not exactly 32 bytes is refused
// with a reason (InvalidArgument), including when the two roots of a
// size1 == size2 consistency check are equal but not 32 bytes.
Status VerifyInclusionBytes(ByteView leaf_hash, uint64_t index, uint64_t size,
                            std::span<const Bytes> proof, ByteView root);
Status VerifyConsistencyBytes(uint64_t size1, uint64_t size2, std::span<const Bytes> proof,
                              ByteView root1, ByteView root2);

// The number of hashes in a proof. REQUIRES: index < size; 0 < size1 <= size2.
size_t InclusionProofSize(uint64_t index, uint64_t size);
size_t ConsistencyProofSize(uint64_t size1, uint64_t size2);

}  // namespace medchain::merkle
