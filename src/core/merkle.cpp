// Copyright (c) medchain developers.
//
// WARNING: RFC 6962 section 2.1 domain separation is applied in Hasher::Leaf
// (prefix 0x00) and Hasher::Children (prefix 0x01). Dropping either prefix lets
// an interior node's 64 bytes pass for a leaf (a second preimage); pairing an
// odd node with itself, as bitcoin does, lets two leaf lists share a root
// (CVE-2012-2459). The trees are drawn in include/medchain/core/merkle.h.
#include "medchain/core/merkle.h"

#include <array>
#include <bit>
#include <cassert>
#include <string>

#include "medchain/core/codec.h"

namespace medchain::merkle {

namespace {

Hasher& LocalHasher() {
  thread_local Hasher hasher;
  return hasher;
}

std::string Hashes(size_t n) {
  return std::to_string(n) + (n == 1 ? " hash" : " hashes");
}

std::string Num(uint64_t v) {
  return std::to_string(v);
}

// Adds one leaf hash to a frontier of `size` leaves: every right child now
// complete is merged with its left sibling, the last frontier entry. When
// `out` is set, the leaf and every node completed are reported.
void PushLeaf(std::vector<Hash>& frontier, uint64_t size, const Hash& leaf_hash, Hasher& hasher,
              std::vector<NodeWrite>* out) {
  Hash node = leaf_hash;
  uint64_t index = size;
  if (out != nullptr) out->push_back({0, index, node});
  for (uint32_t level = 0; (index & 1) != 0; ++level) {
    node = hasher.Children(frontier.back(), node);
    frontier.pop_back();
    index >>= 1;
    if (out != nullptr) out->push_back({level + 1, index, node});
  }
  frontier.push_back(node);
}

// The root over perfect subtrees listed left to right, largest first: the
// RFC 6962 split at the largest power of two makes it a right fold.
Hash FoldRight(std::span<const Hash> parts, Hasher& hasher) {
  if (parts.empty()) return EmptyRoot();
  Hash root = parts.back();
  for (size_t i = parts.size() - 1; i-- > 0;) root = hasher.Children(parts[i], root);
  return root;
}

std::string LengthError(std::string_view what, size_t got) {
  return std::string(what) + " has " + std::to_string(got) + " bytes, a SHA-256 hash has " +
         std::to_string(kHashSize);
}

Hash ToHash(ByteView bytes) {
  assert(bytes.size() == kHashSize);
  Hash h;
  std::copy(bytes.begin(), bytes.end(), h.begin());
  return h;
}

}  // namespace

// ---- Hashing ----

Hash Hasher::Leaf(ByteView leaf_input) {
  return m_sha.UpdateByte(kLeafPrefix).Update(leaf_input).Finish();
}

Hash Hasher::Children(const Hash& left, const Hash& right) {
  // One update of 65 bytes costs less than three small ones.
  std::array<uint8_t, 1 + 2 * kHashSize> buf;
  buf[0] = kNodePrefix;
  std::copy(left.begin(), left.end(), buf.begin() + 1);
  std::copy(right.begin(), right.end(), buf.begin() + 1 + kHashSize);
  return m_sha.Update(buf).Finish();
}

Hash Hasher::Children(ByteView left, ByteView right) {
  return m_sha.UpdateByte(kNodePrefix).Update(left).Update(right).Finish();
}

Hash EmptyRoot() {
  static const Hash kEmpty = Sha256Digest(ByteView{});
  return kEmpty;
}

Hash HashLeaf(ByteView leaf_input) {
  return LocalHasher().Leaf(leaf_input);
}

Hash HashChildren(const Hash& left, const Hash& right) {
  return LocalHasher().Children(left, right);
}

Hash HashChildren(ByteView left, ByteView right) {
  return LocalHasher().Children(left, right);
}

Hash ComputeRoot(std::span<const Hash> leaf_hashes) {
  Hasher& hasher = LocalHasher();
  std::vector<Hash> frontier;
  frontier.reserve(64);
  for (size_t i = 0; i < leaf_hashes.size(); ++i) {
    PushLeaf(frontier, i, leaf_hashes[i], hasher, nullptr);
  }
  return FoldRight(frontier, hasher);
}

// ---- MemoryNodeStore ----

std::optional<Hash> MemoryNodeStore::GetNode(uint32_t level, uint64_t index) const {
  if (level >= m_levels.size()) return std::nullopt;
  const Level& l = m_levels[level];
  if (index >= l.present.size() || !l.present[index]) return std::nullopt;
  return l.hashes[index];
}

void MemoryNodeStore::Put(uint32_t level, uint64_t index, const Hash& hash) {
  assert(level < 64 && (index >> (63 - level)) <= 1);
  if (level >= m_levels.size()) m_levels.resize(level + 1);
  Level& l = m_levels[level];
  if (index >= l.present.size()) {
    l.hashes.resize(index + 1);
    l.present.resize(index + 1, false);
  }
  if (!l.present[index]) {
    l.present[index] = true;
    ++m_count;
  }
  l.hashes[index] = hash;
}

void MemoryNodeStore::Put(std::span<const NodeWrite> nodes) {
  for (const NodeWrite& n : nodes) Put(n);
}

bool MemoryNodeStore::Erase(uint32_t level, uint64_t index) {
  if (!GetNode(level, index)) return false;
  m_levels[level].present[index] = false;
  --m_count;
  return true;
}

// ---- State ----

bool State::Valid() const {
  return frontier.size() == static_cast<size_t>(std::popcount(size));
}

Bytes State::Encode() const {
  assert(Valid());
  Encoder e(1 + 10 + frontier.size() * kHashSize);
  e.U8(kStateFormatVersion).Varint(size);
  for (const Hash& h : frontier) e.Fixed(h);
  return e.Take();
}

Result<State> State::Decode(ByteView bytes) {
  Decoder d(bytes, "merkle state");
  const uint8_t version = d.U8("version");
  if (d.ok() && version != kStateFormatVersion) {
    d.Fail("version", "unknown format version " + std::to_string(version) + ", this build reads " +
                          std::to_string(kStateFormatVersion));
  }
  State state;
  state.size = d.Varint("size");
  const int count = std::popcount(state.size);
  for (int i = 0; i < count && d.ok(); ++i) state.frontier.push_back(d.FixedHash("frontier"));
  MC_RETURN_IF_ERROR(d.Finish());
  return state;
}

// ---- Log ----

Log::Log(const NodeReader* reader, State state) : m_reader(reader), m_state(std::move(state)) {
  assert(m_reader != nullptr);
  assert(m_state.Valid());
}

Status Log::Append(const Hash& leaf_hash, std::vector<NodeWrite>* out) {
  assert(out != nullptr);
  if (m_state.size == UINT64_MAX) {
    return Status::ResourceExhausted("merkle log is full: it holds 2^64 - 1 leaves");
  }
  PushLeaf(m_state.frontier, m_state.size, leaf_hash, LocalHasher(), out);
  ++m_state.size;
  return Status::Ok();
}

Hash Log::Root() const {
  return FoldRight(m_state.frontier, LocalHasher());
}

Result<Hash> Log::ReadNode(uint32_t level, uint64_t index) const {
  const uint64_t size = m_state.size;
  assert(level < 64 && index < (size >> level));  // a complete node of this log
  // The frontier nodes of the current size are at hand; the rest is stored.
  if (((size >> level) & 1) != 0 && index == (size >> level) - 1) {
    return m_state.frontier[std::popcount((size >> level) >> 1)];
  }
  std::optional<Hash> node = m_reader->GetNode(level, index);
  if (!node) {
    return Status::Corruption("merkle node (level " + Num(level) + ", index " + Num(index) +
                              ") is missing from the store of a log of size " + Num(size));
  }
  return *node;
}

// MTH(D[begin:end]). REQUIRES: begin < end <= Size(), and begin a multiple of
// the largest power of two not above end - begin, so that the range splits
// into perfect nodes (true of every range a proof needs).
Result<Hash> Log::RangeRoot(uint64_t begin, uint64_t end) const {
  assert(begin < end && end <= m_state.size);
  const uint64_t count = end - begin;
  std::array<Hash, 64> parts;
  size_t n = 0;
  uint64_t pos = begin;
  for (int level = 63; level >= 0; --level) {
    if (((count >> level) & 1) == 0) continue;
    assert(((pos >> level) << level) == pos);
    MC_ASSIGN_OR_RETURN(Hash node, ReadNode(static_cast<uint32_t>(level), pos >> level));
    parts[n++] = node;
    pos += uint64_t{1} << level;
  }
  return FoldRight(std::span<const Hash>(parts.data(), n), LocalHasher());
}

// Appends the audit path of node (level, index) in the tree of `size` leaves:
// first the siblings below the level where the paths to `index` and to the
// last leaf part (the last of them, the right neighbour, may be an imperfect
// subtree: its root is folded), then the left siblings above that level.
// Right siblings above it lie past the last leaf and are skipped, as RFC 6962
// carries a lone node up unchanged.
Status Log::AppendPath(uint32_t level, uint64_t index, uint64_t size,
                       std::vector<Hash>* out) const {
  const uint64_t last = (size - 1) >> level;
  assert(index <= last);
  const int inner = std::bit_width(index ^ last);
  for (int r = 0; r < inner; ++r) {
    const uint32_t node_level = level + static_cast<uint32_t>(r);
    const uint64_t sibling = (index >> r) ^ 1;
    if (r + 1 < inner) {
      MC_ASSIGN_OR_RETURN(Hash node, ReadNode(node_level, sibling));
      out->push_back(node);
    } else {
      MC_ASSIGN_OR_RETURN(Hash node, RangeRoot(sibling << node_level, size));
      out->push_back(node);
    }
  }
  for (int r = inner; r < static_cast<int>(std::bit_width(index)); ++r) {
    if (((index >> r) & 1) == 0) continue;
    MC_ASSIGN_OR_RETURN(Hash node, ReadNode(level + static_cast<uint32_t>(r), (index >> r) ^ 1));
    out->push_back(node);
  }
  return Status::Ok();
}

Result<Hash> Log::RootAt(uint64_t size) const {
  if (size > m_state.size) {
    return Status::InvalidArgument("tree size " + Num(size) + " exceeds the log size " +
                                   Num(m_state.size));
  }
  if (size == m_state.size) return Root();
  if (size == 0) return EmptyRoot();
  return RangeRoot(0, size);
}

Result<std::vector<Hash>> Log::InclusionProof(uint64_t index, uint64_t size) const {
  if (size > m_state.size) {
    return Status::InvalidArgument("tree size " + Num(size) + " exceeds the log size " +
                                   Num(m_state.size));
  }
  if (index >= size) {
    return Status::InvalidArgument("leaf index " + Num(index) + " is not below the tree size " +
                                   Num(size));
  }
  std::vector<Hash> proof;
  proof.reserve(InclusionProofSize(index, size));
  MC_RETURN_IF_ERROR(AppendPath(0, index, size, &proof));
  assert(proof.size() == InclusionProofSize(index, size));
  return proof;
}

Result<std::vector<Hash>> Log::ConsistencyProof(uint64_t size1, uint64_t size2) const {
  if (size2 > m_state.size) {
    return Status::InvalidArgument("tree size " + Num(size2) + " exceeds the log size " +
                                   Num(m_state.size));
  }
  if (size1 > size2) {
    return Status::InvalidArgument("size1 " + Num(size1) + " is greater than size2 " + Num(size2));
  }
  if (size1 == 0) {
    return Status::InvalidArgument("size1 is 0: consistency with the empty tree proves nothing");
  }
  std::vector<Hash> proof;
  if (size1 == size2) return proof;
  proof.reserve(ConsistencyProofSize(size1, size2));
  // The old tree's last perfect subtree [size1 - 2^shift, size1) is a node of
  // the new tree; the proof is that node (unless it is the old root itself,
  // which the verifier holds) followed by its audit path in the new tree.
  const auto shift = static_cast<uint32_t>(std::countr_zero(size1));
  const uint64_t index = (size1 >> shift) - 1;
  if (index != 0) {
    MC_ASSIGN_OR_RETURN(Hash node, ReadNode(shift, index));
    proof.push_back(node);
  }
  MC_RETURN_IF_ERROR(AppendPath(shift, index, size2, &proof));
  assert(proof.size() == ConsistencyProofSize(size1, size2));
  return proof;
}

// ---- Verification ----

size_t InclusionProofSize(uint64_t index, uint64_t size) {
  assert(index < size);
  // Below `inner` the paths to the leaf and to the last leaf differ: one
  // sibling per level. Above it, only left siblings exist: one per set bit.
  const int inner = std::bit_width(index ^ (size - 1));
  const uint64_t above = inner >= 64 ? 0 : index >> inner;
  return static_cast<size_t>(inner + std::popcount(above));
}

size_t ConsistencyProofSize(uint64_t size1, uint64_t size2) {
  assert(0 < size1 && size1 <= size2);
  if (size1 == size2) return 0;
  const int shift = std::countr_zero(size1);
  const uint64_t index = (size1 >> shift) - 1;
  const uint64_t last = (size2 - 1) >> shift;
  return (index != 0 ? 1 : 0) + InclusionProofSize(index, last + 1);
}

namespace {

// The checks on the index, size and proof length, shared by both forms.
Status CheckInclusionShape(uint64_t index, uint64_t size, size_t proof_size) {
  if (index >= size) {
    return Status::InvalidArgument("leaf index " + Num(index) + " is not below the tree size " +
                                   Num(size));
  }
  const size_t want = InclusionProofSize(index, size);
  if (proof_size != want) {
    return Status::InvalidArgument("proof has " + Hashes(proof_size) + ", a tree of size " +
                                   Num(size) + " needs " + std::to_string(want) +
                                   " for leaf index " + Num(index));
  }
  return Status::Ok();
}

}  // namespace

Status VerifyInclusion(const Hash& leaf_hash, uint64_t index, uint64_t size,
                       std::span<const Hash> proof, const Hash& root) {
  MC_RETURN_IF_ERROR(CheckInclusionShape(index, size, proof.size()));
  // RFC 9162 section 2.1.3.2, steps 2 to 5.
  Hasher& hasher = LocalHasher();
  uint64_t fn = index;
  uint64_t sn = size - 1;
  Hash r = leaf_hash;
  for (const Hash& p : proof) {
    if (sn == 0) return Status::InvalidArgument("proof is longer than the tree is deep");
    if ((fn & 1) != 0 || fn == sn) {
      r = hasher.Children(p, r);
      while ((fn & 1) == 0 && fn != 0) {
        fn >>= 1;
        sn >>= 1;
      }
    } else {
      r = hasher.Children(r, p);
    }
    fn >>= 1;
    sn >>= 1;
  }
  if (sn != 0) return Status::InvalidArgument("proof is shorter than the tree is deep");
  if (r != root) {
    return Status::Unauthenticated("calculated root " + ToHex(r) +
                                   " does not match the expected root " + ToHex(root));
  }
  return Status::Ok();
}

namespace {

// The checks on sizes and proof length, shared by both forms.
Status CheckConsistencyShape(uint64_t size1, uint64_t size2, size_t proof_size) {
  if (size1 > size2) {
    return Status::InvalidArgument("size1 " + Num(size1) + " is greater than size2 " + Num(size2) +
                                   ": a log never shrinks");
  }
  if (size1 == 0) {
    return Status::InvalidArgument(
        "size1 is 0: a consistency proof from the empty tree proves nothing");
  }
  if (size1 == size2) {
    if (proof_size != 0) {
      return Status::InvalidArgument("size1 equals size2 (" + Num(size1) +
                                     "), so the proof must be empty, it has " + Hashes(proof_size));
    }
    return Status::Ok();
  }
  const size_t want = ConsistencyProofSize(size1, size2);
  if (proof_size != want) {
    return Status::InvalidArgument("proof has " + Hashes(proof_size) +
                                   ", a consistency proof from size " + Num(size1) + " to size " +
                                   Num(size2) + " needs " + std::to_string(want));
  }
  return Status::Ok();
}

}  // namespace

Status VerifyConsistency(uint64_t size1, uint64_t size2, std::span<const Hash> proof,
                         const Hash& root1, const Hash& root2) {
  MC_RETURN_IF_ERROR(CheckConsistencyShape(size1, size2, proof.size()));
  if (size1 == size2) {
    if (root1 != root2) {
      return Status::Unauthenticated("root1 " + ToHex(root1) + " differs from root2 " +
                                     ToHex(root2) + " although both trees have size " + Num(size1));
    }
    return Status::Ok();
  }
  // RFC 9162 section 2.1.4.2. Step 2 prepends first_hash when size1 is a power
  // of two: `path(i)` reads the proof as if it had been.
  const bool prepend = std::has_single_bit(size1);
  const size_t count = proof.size() + (prepend ? 1 : 0);
  auto path = [&](size_t i) -> const Hash& {
    if (prepend) return i == 0 ? root1 : proof[i - 1];
    return proof[i];
  };
  Hasher& hasher = LocalHasher();
  uint64_t fn = size1 - 1;
  uint64_t sn = size2 - 1;
  while ((fn & 1) != 0) {  // step 4
    fn >>= 1;
    sn >>= 1;
  }
  Hash fr = path(0);  // step 5
  Hash sr = path(0);
  for (size_t i = 1; i < count; ++i) {  // step 6
    const Hash& c = path(i);
    if (sn == 0) return Status::InvalidArgument("proof is longer than the trees are deep");
    if ((fn & 1) != 0 || fn == sn) {
      fr = hasher.Children(c, fr);
      sr = hasher.Children(c, sr);
      while ((fn & 1) == 0 && fn != 0) {
        fn >>= 1;
        sn >>= 1;
      }
    } else {
      sr = hasher.Children(sr, c);
    }
    fn >>= 1;
    sn >>= 1;
  }
  // Step 7.
  if (sn != 0) return Status::InvalidArgument("proof is shorter than the trees are deep");
  if (fr != root1) {
    return Status::Unauthenticated("calculated root1 " + ToHex(fr) +
                                   " does not match the expected root1 " + ToHex(root1));
  }
  if (sr != root2) {
    return Status::Unauthenticated("calculated root2 " + ToHex(sr) +
                                   " does not match the expected root2 " + ToHex(root2));
  }
  return Status::Ok();
}

namespace {

Result<std::vector<Hash>> ProofFromBytes(std::span<const Bytes> proof) {
  std::vector<Hash> hashes;
  hashes.reserve(proof.size());
  for (size_t i = 0; i < proof.size(); ++i) {
    if (proof[i].size() != kHashSize) {
      return Status::InvalidArgument(
          LengthError("proof entry " + std::to_string(i), proof[i].size()));
    }
    hashes.push_back(ToHash(proof[i]));
  }
  return hashes;
}

}  // namespace

Status VerifyInclusionBytes(ByteView leaf_hash, uint64_t index, uint64_t size,
                            std::span<const Bytes> proof, ByteView root) {
  if (leaf_hash.size() != kHashSize) {
    return Status::InvalidArgument(LengthError("leaf hash", leaf_hash.size()));
  }
  if (root.size() != kHashSize) return Status::InvalidArgument(LengthError("root", root.size()));
  // The shape first: "proof has 4 hashes, ... needs 3" says more about a
  // trailing empty entry than that entry's length does.
  MC_RETURN_IF_ERROR(CheckInclusionShape(index, size, proof.size()));
  MC_ASSIGN_OR_RETURN(std::vector<Hash> hashes, ProofFromBytes(proof));
  return VerifyInclusion(ToHash(leaf_hash), index, size, hashes, ToHash(root));
}

Status VerifyConsistencyBytes(uint64_t size1, uint64_t size2, std::span<const Bytes> proof,
                              ByteView root1, ByteView root2) {
  if (root1.size() != kHashSize) return Status::InvalidArgument(LengthError("root1", root1.size()));
  if (root2.size() != kHashSize) return Status::InvalidArgument(LengthError("root2", root2.size()));
  MC_RETURN_IF_ERROR(CheckConsistencyShape(size1, size2, proof.size()));
  MC_ASSIGN_OR_RETURN(std::vector<Hash> hashes, ProofFromBytes(proof));
  return VerifyConsistency(size1, size2, hashes, ToHash(root1), ToHash(root2));
}

}  // namespace medchain::merkle
