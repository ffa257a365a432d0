// Copyright (c) medchain developers.
// Tests of the RFC 6962 Merkle log (include/medchain/core/merkle.h) against
// published vectors (../shared/testdata/merkle, see its README) and against a
// simple recursive reference written from the definitions of RFC 6962
// section 2.1 (namespace ref below), as bitcoin's merkle_tests.cpp keeps an
// older root computation for comparison.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <bit>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "medchain/core/bytes.h"
#include "medchain/core/merkle.h"
#include "medchain/core/sha256.h"

namespace medchain::merkle {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// ---- helpers ----

fs::path TestData(const std::string& rel) {
  return fs::path(MEDCHAIN_TESTDATA) / rel;
}

json LoadJson(const fs::path& path) {
  std::ifstream in(path);
  if (!in) {
    ADD_FAILURE() << "cannot open " << path;
    return json::object();
  }
  return json::parse(in);
}

Hash HexHash(const std::string& hex) {
  auto h = HashFromHex(hex);
  EXPECT_TRUE(h.has_value()) << "bad hash hex " << hex;
  return h.value_or(Hash{});
}

Bytes HexBytes(const std::string& hex) {
  auto b = FromHex(hex);
  EXPECT_TRUE(b.has_value()) << "bad hex " << hex;
  return b.value_or(Bytes{});
}

std::vector<Hash> HexHashes(const json& list) {
  std::vector<Hash> out;
  for (const auto& h : list) out.push_back(HexHash(h.get<std::string>()));
  return out;
}

// A base64 field of a transparency-dev probe: "" and null mean empty.
Bytes B64(const json& v) {
  // "" decoded here: FromBase64("") gave libsodium a null output buffer until
  // core commit ff86a65 (UBSan: nonnull argument); kept for older trees.
  if (v.is_null() || v.get<std::string>().empty()) return {};
  auto b = FromBase64(v.get<std::string>());
  EXPECT_TRUE(b.has_value()) << "bad base64 " << v;
  return b.value_or(Bytes{});
}

std::vector<Bytes> B64List(const json& v) {
  std::vector<Bytes> out;
  if (v.is_null()) return out;
  for (const auto& e : v) out.push_back(B64(e));
  return out;
}

Bytes HashToBytes(const Hash& h) {
  return Bytes(h.begin(), h.end());
}

Hash FlipBit(Hash h, size_t bit) {
  h[bit / 8 % kHashSize] ^= static_cast<uint8_t>(1u << (bit % 8));
  return h;
}

// The hashes of synthetic leaves 0..n-1 (distinct, deterministic).
std::vector<Hash> SyntheticLeaves(size_t n) {
  std::vector<Hash> leaves;
  for (size_t i = 0; i < n; ++i) leaves.push_back(HashLeaf(AsBytes("leaf " + std::to_string(i))));
  return leaves;
}

// A log over a MemoryNodeStore that persists every node as Append returns it.
struct StoredLog {
  MemoryNodeStore store;
  Log log{&store};

  void Append(const Hash& leaf_hash) {
    std::vector<NodeWrite> writes;
    ASSERT_TRUE(log.Append(leaf_hash, &writes).ok());
    store.Put(writes);
  }
  void AppendAll(const std::vector<Hash>& leaves) {
    for (const Hash& h : leaves) Append(h);
  }
};

// ---- The reference: RFC 6962 section 2.1, transcribed as recursion ----
// Hashes with Sha256Digest over explicit byte strings, not with merkle::Hasher.
namespace ref {

Hash Leaf(ByteView data) {
  Bytes buf{0x00};
  buf.insert(buf.end(), data.begin(), data.end());
  return Sha256Digest(buf);
}

Hash Node(const Hash& left, const Hash& right) {
  Bytes buf{0x01};
  buf.insert(buf.end(), left.begin(), left.end());
  buf.insert(buf.end(), right.begin(), right.end());
  return Sha256Digest(buf);
}

// The largest power of two smaller than n (n > 1).
size_t Split(size_t n) {
  size_t k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

using Leaves = std::span<const Hash>;  // leaf hashes: MTH({d}) = the leaf hash

Hash MTH(Leaves d) {
  if (d.empty()) return Sha256Digest(ByteView{});
  if (d.size() == 1) return d[0];
  const size_t k = Split(d.size());
  return Node(MTH(d.subspan(0, k)), MTH(d.subspan(k)));
}

// RFC 6962 section 2.1.1: PATH(m, D[n]).
std::vector<Hash> Path(size_t m, Leaves d) {
  if (d.size() <= 1) return {};
  const size_t k = Split(d.size());
  std::vector<Hash> out;
  if (m < k) {
    out = Path(m, d.subspan(0, k));
    out.push_back(MTH(d.subspan(k)));
  } else {
    out = Path(m - k, d.subspan(k));
    out.push_back(MTH(d.subspan(0, k)));
  }
  return out;
}

// RFC 6962 section 2.1.2: SUBPROOF(m, D[n], b) and PROOF(m, D[n]).
std::vector<Hash> SubProof(size_t m, Leaves d, bool b) {
  if (m == d.size()) return b ? std::vector<Hash>{} : std::vector<Hash>{MTH(d)};
  const size_t k = Split(d.size());
  std::vector<Hash> out;
  if (m <= k) {
    out = SubProof(m, d.subspan(0, k), b);
    out.push_back(MTH(d.subspan(k)));
  } else {
    out = SubProof(m - k, d.subspan(k), false);
    out.push_back(MTH(d.subspan(0, k)));
  }
  return out;
}

std::vector<Hash> Proof(size_t m, Leaves d) {
  return SubProof(m, d, true);
}

}  // namespace ref

// ---- Hashing ----

TEST(MerkleHasher, Rfc6962HasherVectors) {
  json v = LoadJson(TestData("merkle/rfc6962_tree_vectors.json"));
  int seen = 0;
  for (const auto& c : v["hasher_vectors"]) {
    const std::string op = c["op"];
    const Hash want = HexHash(c["want"]);
    if (op == "empty_root") {
      EXPECT_EQ(EmptyRoot(), want);
      EXPECT_EQ(ComputeRoot({}), want);
    } else if (op == "hash_leaf") {
      const Bytes input = HexBytes(c["leaf_input_hex"]);
      EXPECT_EQ(HashLeaf(input), want) << c["desc"];
      EXPECT_EQ(ref::Leaf(input), want) << "the reference agrees with the vectors";
      Hasher hasher;
      EXPECT_EQ(hasher.Leaf(input), want);
      EXPECT_EQ(hasher.Leaf(input), want) << "a reused hasher must reset between digests";
    } else if (op == "hash_children") {
      EXPECT_EQ(HashChildren(ByteView(HexBytes(c["left_hex"])), ByteView(HexBytes(c["right_hex"]))),
                want)
          << c["desc"];
    } else {
      ADD_FAILURE() << "unknown op " << op;
    }
    ++seen;
  }
  EXPECT_EQ(seen, 4);
  // The empty leaf must not hash like the empty tree.
  EXPECT_NE(HashLeaf({}), EmptyRoot());
}

TEST(MerkleHasher, ChildrenOfHashesMatchesReference) {
  const Hash a = HashLeaf(AsBytes("a"));
  const Hash b = HashLeaf(AsBytes("b"));
  EXPECT_EQ(HashChildren(a, b), ref::Node(a, b));
  EXPECT_EQ(HashChildren(ByteView(a), ByteView(b)), ref::Node(a, b));
  EXPECT_NE(HashChildren(a, b), HashChildren(b, a));
  Hasher hasher;
  for (int i = 0; i < 3; ++i) EXPECT_EQ(hasher.Children(a, b), ref::Node(a, b));
}

// The attack of the header comment: two 64-byte "leaves" made of the four
// leaf hashes reproduce the root when leaves and nodes hash alike.
TEST(MerkleHasher, PrefixesStopSecondPreimageOfInteriorNodes) {
  auto concat = [](const Hash& l, const Hash& r) {
    Bytes b(l.begin(), l.end());
    b.insert(b.end(), r.begin(), r.end());
    return b;
  };
  // Without prefixes (leaf = H(d), node = H(l || r)) the forgery works...
  const Hash p[] = {Sha256Digest("a"), Sha256Digest("b"), Sha256Digest("c"), Sha256Digest("d")};
  const Hash plain_real =
      Sha256Digest(concat(Sha256Digest(concat(p[0], p[1])), Sha256Digest(concat(p[2], p[3]))));
  const Hash plain_forged =
      Sha256Digest(concat(Sha256Digest(concat(p[0], p[1])), Sha256Digest(concat(p[2], p[3]))));
  ASSERT_EQ(plain_real, plain_forged);
  // ...and with RFC 6962 hashing it does not.
  const std::vector<Hash> real = {HashLeaf(AsBytes("a")), HashLeaf(AsBytes("b")),
                                  HashLeaf(AsBytes("c")), HashLeaf(AsBytes("d"))};
  const Bytes x = concat(real[0], real[1]);
  const Bytes y = concat(real[2], real[3]);
  const std::vector<Hash> forged = {HashLeaf(x), HashLeaf(y)};
  EXPECT_NE(forged[0], HashChildren(real[0], real[1]));
  EXPECT_NE(forged[1], HashChildren(real[2], real[3]));
  EXPECT_NE(ComputeRoot(forged), ComputeRoot(real));
  EXPECT_EQ(ComputeRoot(real), ref::MTH(real));
}

// Bitcoin's tree (CVE-2012-2459) gives [1,2,3] and [1,2,3,3] one root; here
// no leaf list shares a root with a different one.
TEST(MerkleHasher, NoDuplicationOfOddNodes) {
  const std::vector<Hash> three = SyntheticLeaves(3);
  std::vector<Hash> four = three;
  four.push_back(three[2]);
  EXPECT_NE(ComputeRoot(three), ComputeRoot(four));
  // The odd leaf is carried up unchanged: root = node(node(l0, l1), l2).
  EXPECT_EQ(ComputeRoot(three), ref::Node(ref::Node(three[0], three[1]), three[2]));
}

// ---- The 8-leaf RFC 6962 test tree ----

struct TreeVectors {
  std::vector<Bytes> inputs;
  std::vector<Hash> leaf_hashes;
  std::vector<std::vector<Hash>> levels;   // levels[L][i] = node (L, i)
  std::vector<Hash> roots;                 // roots[size]
  std::vector<std::vector<Hash>> compact;  // compact[size]
};

TreeVectors LoadTreeVectors() {
  json v = LoadJson(TestData("merkle/rfc6962_tree_vectors.json"));
  TreeVectors t;
  for (const auto& h : v["leaf_inputs_hex"]) t.inputs.push_back(HexBytes(h));
  t.leaf_hashes = HexHashes(v["leaf_hashes_hex"]);
  for (const auto& level : v["node_hashes_by_level"]["levels"])
    t.levels.push_back(HexHashes(level));
  for (const auto& r : v["root_hashes_by_tree_size"]) {
    EXPECT_EQ(r["tree_size"].get<size_t>(), t.roots.size());
    t.roots.push_back(HexHash(r["root_hex"]));
  }
  for (const auto& c : v["compact_ranges"]["by_tree_size"]) {
    EXPECT_EQ(c["tree_size"].get<size_t>(), t.compact.size());
    t.compact.push_back(HexHashes(c["hashes"]));
  }
  EXPECT_EQ(t.inputs.size(), 8u);
  EXPECT_EQ(t.levels.size(), 4u);
  EXPECT_EQ(t.roots.size(), 9u);
  EXPECT_EQ(t.compact.size(), 9u);
  return t;
}

TEST(MerkleTree, LeafHashesAndRootsOfSizes0To8) {
  const TreeVectors t = LoadTreeVectors();
  StoredLog s;
  EXPECT_EQ(s.log.Root(), t.roots[0]);
  for (size_t i = 0; i < t.inputs.size(); ++i) {
    EXPECT_EQ(HashLeaf(t.inputs[i]), t.leaf_hashes[i]);
    s.Append(HashLeaf(t.inputs[i]));
    EXPECT_EQ(s.log.Size(), i + 1);
    EXPECT_EQ(s.log.Root(), t.roots[i + 1]) << "size " << i + 1;
    EXPECT_EQ(ComputeRoot(std::span(t.leaf_hashes).first(i + 1)), t.roots[i + 1]);
  }
  for (uint64_t size = 0; size <= 8; ++size) {
    auto root = s.log.RootAt(size);
    ASSERT_TRUE(root.ok()) << root.status().ToString();
    EXPECT_EQ(*root, t.roots[size]) << "RootAt(" << size << ")";
  }
}

TEST(MerkleTree, EverySubtreeHashIsStoredAtItsAddress) {
  const TreeVectors t = LoadTreeVectors();
  StoredLog s;
  for (const Bytes& in : t.inputs) s.Append(HashLeaf(in));
  uint64_t expected = 0;
  for (uint32_t level = 0; level < t.levels.size(); ++level) {
    for (uint64_t i = 0; i < t.levels[level].size(); ++i) {
      EXPECT_EQ(s.store.GetNode(level, i), t.levels[level][i]) << "node " << level << "," << i;
      ++expected;
    }
    EXPECT_FALSE(s.store.GetNode(level, t.levels[level].size()).has_value());
  }
  EXPECT_EQ(expected, 15u);
  EXPECT_EQ(s.store.NodeCount(), expected) << "Append must output no other node";
}

// Appending leaf i completes exactly the nodes whose last leaf is i.
TEST(MerkleTree, AppendOutputsTheNodesItCompletes) {
  const TreeVectors t = LoadTreeVectors();
  MemoryNodeStore store;
  Log log(&store);
  for (uint64_t i = 0; i < 8; ++i) {
    std::vector<NodeWrite> writes;
    ASSERT_TRUE(log.Append(t.leaf_hashes[i], &writes).ok());
    std::vector<NodeWrite> want;
    for (uint32_t level = 0; level < t.levels.size(); ++level) {
      for (uint64_t j = 0; j < t.levels[level].size(); ++j) {
        if (((j + 1) << level) - 1 == i) want.push_back({level, j, t.levels[level][j]});
      }
    }
    EXPECT_EQ(writes, want) << "leaf " << i;
    ASSERT_FALSE(writes.empty());
    EXPECT_EQ(writes.front(), (NodeWrite{0, i, t.leaf_hashes[i]})) << "the leaf comes first";
  }
}

TEST(MerkleTree, FrontierIsTheCompactRange) {
  const TreeVectors t = LoadTreeVectors();
  MemoryNodeStore store;
  Log log(&store);
  EXPECT_EQ(log.state().frontier, t.compact[0]);
  for (size_t i = 0; i < 8; ++i) {
    std::vector<NodeWrite> writes;
    ASSERT_TRUE(log.Append(t.leaf_hashes[i], &writes).ok());
    EXPECT_EQ(log.state().size, i + 1);
    EXPECT_EQ(log.state().frontier, t.compact[i + 1]) << "size " << i + 1;
    EXPECT_TRUE(log.state().Valid());
  }
}

// ---- Certificate Transparency proof vectors ----

TEST(MerkleProofs, CtInclusionVectorsBuiltAndVerified) {
  json v = LoadJson(TestData("merkle/rfc6962_ct_proofs.json"));
  StoredLog s;
  for (const auto& leaf : v["leaves"]) s.Append(HashLeaf(HexBytes(leaf)));
  ASSERT_EQ(s.log.Size(), 8u);
  for (const auto& [size, root] : v["roots"].items()) {
    EXPECT_EQ(*s.log.RootAt(std::stoull(size)), HexHash(root)) << "size " << size;
  }
  int cases = 0, upstream = 0;
  for (const auto& c : v["inclusion"]) {
    const uint64_t index = c["index"], size = c["size"];
    SCOPED_TRACE("inclusion " + std::to_string(index) + "/" + std::to_string(size));
    const Hash leaf = HexHash(c["leaf_hash"]);
    const Hash root = HexHash(c["root"]);
    const std::vector<Hash> path = HexHashes(c["path"]);
    EXPECT_EQ(*s.store.GetNode(0, index), leaf);
    EXPECT_EQ(*s.log.RootAt(size), root);
    auto proof = s.log.InclusionProof(index, size);
    ASSERT_TRUE(proof.ok()) << proof.status().ToString();
    EXPECT_EQ(*proof, path);
    EXPECT_TRUE(VerifyInclusion(leaf, index, size, path, root).ok());
    std::vector<Bytes> wire;
    for (const Hash& h : path) wire.push_back(HashToBytes(h));
    EXPECT_TRUE(VerifyInclusionBytes(leaf, index, size, wire, root).ok());
    EXPECT_FALSE(VerifyInclusion(FlipBit(leaf, 5), index, size, path, root).ok());
    ++cases;
    upstream += c["origin"] == "upstream";
  }
  EXPECT_EQ(cases, 29);
  EXPECT_EQ(upstream, 4);
}

TEST(MerkleProofs, CtConsistencyVectorsBuiltAndVerified) {
  json v = LoadJson(TestData("merkle/rfc6962_ct_proofs.json"));
  StoredLog s;
  for (const auto& leaf : v["leaves"]) s.Append(HashLeaf(HexBytes(leaf)));
  int cases = 0, upstream = 0;
  for (const auto& c : v["consistency"]) {
    const uint64_t size1 = c["size1"], size2 = c["size2"];
    SCOPED_TRACE("consistency " + std::to_string(size1) + "->" + std::to_string(size2));
    const Hash root1 = HexHash(c["root1"]);
    const Hash root2 = HexHash(c["root2"]);
    const std::vector<Hash> want = HexHashes(c["proof"]);
    EXPECT_EQ(*s.log.RootAt(size1), root1);
    EXPECT_EQ(*s.log.RootAt(size2), root2);
    auto proof = s.log.ConsistencyProof(size1, size2);
    ASSERT_TRUE(proof.ok()) << proof.status().ToString();
    EXPECT_EQ(*proof, want);
    EXPECT_TRUE(VerifyConsistency(size1, size2, want, root1, root2).ok());
    std::vector<Bytes> wire;
    for (const Hash& h : want) wire.push_back(HashToBytes(h));
    EXPECT_TRUE(VerifyConsistencyBytes(size1, size2, wire, root1, root2).ok());
    EXPECT_FALSE(VerifyConsistency(size1, size2, want, root1, FlipBit(root2, 200)).ok());
    ++cases;
    upstream += c["origin"] == "upstream";
  }
  EXPECT_EQ(cases, 29);
  EXPECT_EQ(upstream, 4);
}

// ---- transparency-dev verifier probes ----

// Where medchain's verdict deliberately differs from transparency-dev's, and
// why. Upstream compares the two roots of a size1 == size2 check as opaque
// byte strings, so two equal 12-byte "roots" ("don't care 2") pass; medchain
// refuses any root that is not 32 bytes (docs/merkle.md, "Strictness").
const std::map<std::string, std::string> kDeviations = {
    {"consistency/additional/sizes-are-equal-one-and-proof-is-empty.json",
     "root1 has 12 bytes, a SHA-256 hash has 32"},
};

TEST(MerkleVerify, EveryTransparencyDevProbe) {
  const fs::path dir = TestData("merkle/transparency-dev");
  ASSERT_TRUE(fs::is_directory(dir)) << dir;
  // The happy paths are proofs over the same 8-leaf tree: Log must build them.
  const TreeVectors t = LoadTreeVectors();
  StoredLog s;
  s.AppendAll(t.leaf_hashes);

  std::vector<fs::path> files;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (e.is_regular_file() && e.path().extension() == ".json") files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  int inclusion = 0, consistency = 0, want_errs = 0, rejected = 0, deviations = 0, rebuilt = 0;
  for (const fs::path& file : files) {
    const std::string rel = fs::relative(file, dir).generic_string();
    SCOPED_TRACE(rel);
    const json c = LoadJson(file);
    const bool want_err = c.at("wantErr").get<bool>();
    want_errs += want_err;
    Status st;
    if (c.contains("leafIdx")) {
      ++inclusion;
      const uint64_t index = c["leafIdx"], size = c["treeSize"];
      const Bytes leaf = B64(c["leafHash"]);
      const std::vector<Bytes> proof = B64List(c["proof"]);
      const Bytes root = B64(c["root"]);
      st = VerifyInclusionBytes(leaf, index, size, proof, root);
      if (!want_err && size <= 8) {
        auto built = s.log.InclusionProof(index, size);
        ASSERT_TRUE(built.ok());
        std::vector<Bytes> built_bytes;
        for (const Hash& h : *built) built_bytes.push_back(HashToBytes(h));
        EXPECT_EQ(built_bytes, proof);
        ++rebuilt;
      }
    } else {
      ++consistency;
      const uint64_t size1 = c.at("size1"), size2 = c.at("size2");
      const std::vector<Bytes> proof = B64List(c["proof"]);
      st = VerifyConsistencyBytes(size1, size2, proof, B64(c["root1"]), B64(c["root2"]));
      if (!want_err && size2 <= 8 && size1 > 0 && B64(c["root1"]).size() == kHashSize) {
        auto built = s.log.ConsistencyProof(size1, size2);
        ASSERT_TRUE(built.ok());
        std::vector<Bytes> built_bytes;
        for (const Hash& h : *built) built_bytes.push_back(HashToBytes(h));
        EXPECT_EQ(built_bytes, proof);
        ++rebuilt;
      }
    }
    if (!st.ok()) {
      ++rejected;
      EXPECT_FALSE(st.message().empty());
      EXPECT_TRUE(st.code() == Code::kInvalidArgument || st.code() == Code::kUnauthenticated)
          << st.ToString();
    }
    auto dev = kDeviations.find(rel);
    if (dev != kDeviations.end()) {
      ++deviations;
      EXPECT_FALSE(want_err);
      EXPECT_FALSE(st.ok());
      EXPECT_EQ(st.message(), dev->second);
      continue;
    }
    EXPECT_EQ(!st.ok(), want_err) << c.value("desc", "") << ": " << st.ToString();
  }
  EXPECT_EQ(files.size(), 157u) << "missing or extra probe files under " << dir;
  EXPECT_EQ(inclusion, 80);
  EXPECT_EQ(consistency, 77);
  EXPECT_EQ(want_errs, 147);
  EXPECT_EQ(deviations, static_cast<int>(kDeviations.size()));
  EXPECT_EQ(rejected, want_errs + deviations);
  EXPECT_EQ(rebuilt, 9) << "every valid probe over real 32-byte hashes is rebuilt by Log";
}

// The deviation is about the root length only: the same check over real
// 32-byte roots passes, and unequal ones fail.
TEST(MerkleVerify, EqualSizesNeedEqualRootsAndEmptyProof) {
  const Hash r = HashLeaf(AsBytes("r"));
  EXPECT_TRUE(VerifyConsistency(1, 1, {}, r, r).ok());
  EXPECT_TRUE(VerifyConsistency(7, 7, {}, r, r).ok());
  EXPECT_EQ(VerifyConsistency(1, 1, {}, r, FlipBit(r, 0)).code(), Code::kUnauthenticated);
  const std::vector<Hash> one = {r};
  Status st = VerifyConsistency(3, 3, one, r, r);
  EXPECT_EQ(st.message(), "size1 equals size2 (3), so the proof must be empty, it has 1 hash");
  st = VerifyConsistency(0, 0, {}, r, r);
  EXPECT_EQ(st.message(), "size1 is 0: a consistency proof from the empty tree proves nothing");
  st = VerifyConsistencyBytes(1, 1, {}, AsBytes("don't care 2"), AsBytes("don't care 2"));
  EXPECT_EQ(st.message(), "root1 has 12 bytes, a SHA-256 hash has 32");
}

// ---- Sigstore Rekor: real proofs from logs of up to 1.1e8 leaves ----

TEST(MerkleVerify, SigstoreRekorInclusionProofs) {
  json v = LoadJson(TestData("merkle/sigstore_rekor_inclusion_proofs.json"));
  int seen = 0;
  uint64_t largest = 0;
  for (const auto& c : v["vectors"]) {
    SCOPED_TRACE(c["source_path"].get<std::string>());
    const uint64_t index = c["leaf_index"].get<uint64_t>();
    const uint64_t size = c["tree_size"].get<uint64_t>();
    auto input = FromBase64(c["leaf_input_b64"].get<std::string>());
    ASSERT_TRUE(input.has_value());
    const Hash leaf = HexHash(c["leaf_hash_hex"]);
    EXPECT_EQ(HashLeaf(*input), leaf);
    const std::vector<Hash> path = HexHashes(c["audit_path_hex"]);
    const Hash root = HexHash(c["root_hash_hex"]);
    EXPECT_EQ(path.size(), InclusionProofSize(index, size));
    Status st = VerifyInclusion(leaf, index, size, path, root);
    EXPECT_TRUE(st.ok()) << st.ToString();
    // Any single flipped bit, another index or another size must fail.
    for (size_t i = 0; i < path.size(); ++i) {
      std::vector<Hash> bad = path;
      bad[i] = FlipBit(bad[i], 7 * i + 3);
      EXPECT_EQ(VerifyInclusion(leaf, index, size, bad, root).code(), Code::kUnauthenticated);
    }
    EXPECT_FALSE(VerifyInclusion(leaf, index ^ 1, size, path, root).ok());
    EXPECT_FALSE(VerifyInclusion(leaf, index, size + 1, path, root).ok());
    EXPECT_FALSE(VerifyInclusion(leaf, index, size, path, FlipBit(root, 255)).ok());
    largest = std::max(largest, size);
    ++seen;
  }
  EXPECT_EQ(seen, 10);
  EXPECT_EQ(largest, 114818493u);
}

// ---- Property tests against the reference ----

TEST(MerkleLog, RootsMatchReferenceForEverySizeTo300) {
  const std::vector<Hash> leaves = SyntheticLeaves(300);
  StoredLog s;
  for (size_t n = 1; n <= leaves.size(); ++n) {
    s.Append(leaves[n - 1]);
    const Hash want = ref::MTH(std::span(leaves).first(n));
    ASSERT_EQ(s.log.Root(), want) << "size " << n;
    ASSERT_EQ(ComputeRoot(std::span(leaves).first(n)), want) << "size " << n;
  }
  // Every earlier root, read back through the store.
  for (uint64_t n = 0; n <= leaves.size(); ++n) {
    auto root = s.log.RootAt(n);
    ASSERT_TRUE(root.ok()) << root.status().ToString();
    ASSERT_EQ(*root, ref::MTH(std::span(leaves).first(n))) << "RootAt " << n;
  }
  // About two stored nodes per leaf, as the docs promise.
  EXPECT_EQ(s.store.NodeCount(), uint64_t{2 * 300 - 4}) << "2n - popcount(n) nodes";
}

TEST(MerkleLog, InclusionProofsMatchReference) {
  const std::vector<Hash> leaves = SyntheticLeaves(300);
  StoredLog s;
  s.AppendAll(leaves);
  auto check = [&](uint64_t index, uint64_t size) {
    const auto d = std::span(leaves).first(size);
    const Hash root = ref::MTH(d);
    auto proof = s.log.InclusionProof(index, size);
    ASSERT_TRUE(proof.ok()) << proof.status().ToString();
    ASSERT_EQ(*proof, ref::Path(index, d)) << index << "/" << size;
    ASSERT_EQ(proof->size(), InclusionProofSize(index, size));
    Status st = VerifyInclusion(leaves[index], index, size, *proof, root);
    ASSERT_TRUE(st.ok()) << index << "/" << size << ": " << st.ToString();
  };
  for (uint64_t size = 1; size <= 64; ++size) {
    for (uint64_t index = 0; index < size; ++index) check(index, size);
  }
  for (uint64_t size : {100, 127, 128, 129, 255, 256, 257, 299, 300}) {
    for (uint64_t index = 0; index < size; ++index) check(index, size);
  }
}

TEST(MerkleLog, ConsistencyProofsMatchReference) {
  const std::vector<Hash> leaves = SyntheticLeaves(300);
  StoredLog s;
  s.AppendAll(leaves);
  auto check = [&](uint64_t size1, uint64_t size2) {
    const auto d = std::span(leaves).first(size2);
    auto proof = s.log.ConsistencyProof(size1, size2);
    ASSERT_TRUE(proof.ok()) << proof.status().ToString();
    ASSERT_EQ(*proof, ref::Proof(size1, d)) << size1 << "->" << size2;
    ASSERT_EQ(proof->size(), ConsistencyProofSize(size1, size2));
    const Hash root1 = ref::MTH(d.first(size1));
    const Hash root2 = ref::MTH(d);
    Status st = VerifyConsistency(size1, size2, *proof, root1, root2);
    ASSERT_TRUE(st.ok()) << size1 << "->" << size2 << ": " << st.ToString();
  };
  for (uint64_t size2 = 1; size2 <= 64; ++size2) {
    for (uint64_t size1 = 1; size1 <= size2; ++size1) check(size1, size2);
  }
  for (uint64_t size2 : {128, 129, 255, 256, 300}) {
    for (uint64_t size1 = 1; size1 <= size2; ++size1) check(size1, size2);
  }
}

// Every proof of every tree up to 32 leaves is refused after any change to a
// proof entry, the index or a size, with the right kind of error.
TEST(MerkleVerify, RejectsEveryTamperedProof) {
  const std::vector<Hash> leaves = SyntheticLeaves(32);
  StoredLog s;
  s.AppendAll(leaves);
  for (uint64_t size = 1; size <= 32; ++size) {
    const Hash root = *s.log.RootAt(size);
    for (uint64_t index = 0; index < size; ++index) {
      const std::vector<Hash> proof = *s.log.InclusionProof(index, size);
      for (size_t i = 0; i < proof.size(); ++i) {
        std::vector<Hash> bad = proof;
        bad[i] = FlipBit(bad[i], i);
        ASSERT_EQ(VerifyInclusion(leaves[index], index, size, bad, root).code(),
                  Code::kUnauthenticated);
      }
      for (uint64_t other = 0; other < size; ++other) {
        if (other == index) continue;
        ASSERT_FALSE(VerifyInclusion(leaves[index], other, size, proof, root).ok())
            << index << " as " << other << " of " << size;
      }
      ASSERT_EQ(VerifyInclusion(leaves[index], index, size, proof, FlipBit(root, 1)).code(),
                Code::kUnauthenticated);
      std::vector<Hash> longer = proof;
      longer.push_back(root);
      ASSERT_EQ(VerifyInclusion(leaves[index], index, size, longer, root).code(),
                Code::kInvalidArgument);
    }
    for (uint64_t size1 = 1; size1 < size; ++size1) {
      const Hash root1 = *s.log.RootAt(size1);
      const std::vector<Hash> proof = *s.log.ConsistencyProof(size1, size);
      for (size_t i = 0; i < proof.size(); ++i) {
        std::vector<Hash> bad = proof;
        bad[i] = FlipBit(bad[i], i + 9);
        ASSERT_EQ(VerifyConsistency(size1, size, bad, root1, root).code(), Code::kUnauthenticated)
            << size1 << "->" << size << " entry " << i;
      }
      ASSERT_FALSE(VerifyConsistency(size1, size, proof, root, root1).ok());
      ASSERT_FALSE(VerifyConsistency(size1, size, proof, FlipBit(root1, 3), root).ok());
      for (uint64_t other = 1; other <= 32; ++other) {
        if (other == size1) continue;
        ASSERT_FALSE(VerifyConsistency(other, size, proof, root1, root).ok());
      }
    }
  }
}

TEST(MerkleVerify, ReasonsNameTheProblem) {
  const TreeVectors t = LoadTreeVectors();
  StoredLog s;
  s.AppendAll(t.leaf_hashes);
  std::vector<Hash> proof = *s.log.InclusionProof(0, 8);
  proof.push_back(proof.back());
  Status st = VerifyInclusion(t.leaf_hashes[0], 0, 8, proof, t.roots[8]);
  EXPECT_EQ(st.code(), Code::kInvalidArgument);
  EXPECT_EQ(st.message(), "proof has 4 hashes, a tree of size 8 needs 3 for leaf index 0");

  proof.pop_back();
  st = VerifyInclusion(t.leaf_hashes[0], 0, 8, proof, t.roots[7]);
  EXPECT_EQ(st.code(), Code::kUnauthenticated);
  EXPECT_EQ(st.message(), "calculated root " + ToHex(t.roots[8]) +
                              " does not match the expected root " + ToHex(t.roots[7]));

  st = VerifyInclusion(t.leaf_hashes[0], 8, 8, proof, t.roots[8]);
  EXPECT_EQ(st.message(), "leaf index 8 is not below the tree size 8");

  st = VerifyConsistency(5, 4, {}, t.roots[5], t.roots[4]);
  EXPECT_EQ(st.message(), "size1 5 is greater than size2 4: a log never shrinks");

  const std::vector<Hash> c = *s.log.ConsistencyProof(6, 8);
  st = VerifyConsistency(6, 8, std::span(c).first(2), t.roots[6], t.roots[8]);
  EXPECT_EQ(st.message(), "proof has 2 hashes, a consistency proof from size 6 to size 8 needs 3");
  st = VerifyConsistency(6, 8, c, t.roots[5], t.roots[8]);
  EXPECT_EQ(st.code(), Code::kUnauthenticated);
  EXPECT_EQ(st.message(), "calculated root1 " + ToHex(t.roots[6]) +
                              " does not match the expected root1 " + ToHex(t.roots[5]));
  st = VerifyConsistency(6, 8, c, t.roots[6], t.roots[7]);
  EXPECT_EQ(st.message(), "calculated root2 " + ToHex(t.roots[8]) +
                              " does not match the expected root2 " + ToHex(t.roots[7]));
}

// Byte strings from the wire: any length in, a reason out, never an assert.
TEST(MerkleVerify, WireInputsOfAnyLength) {
  const TreeVectors t = LoadTreeVectors();
  StoredLog s;
  s.AppendAll(t.leaf_hashes);
  std::vector<Bytes> proof;
  const std::vector<Hash> built = *s.log.InclusionProof(5, 8);
  for (const Hash& h : built) proof.push_back(HashToBytes(h));
  const Bytes leaf = HashToBytes(t.leaf_hashes[5]);
  const Bytes root = HashToBytes(t.roots[8]);
  ASSERT_TRUE(VerifyInclusionBytes(leaf, 5, 8, proof, root).ok());

  for (size_t len : {0, 1, 31, 33, 64}) {
    Bytes odd(len, 0xab);
    Status st = VerifyInclusionBytes(odd, 5, 8, proof, root);
    EXPECT_EQ(st.code(), Code::kInvalidArgument);
    EXPECT_EQ(st.message(),
              "leaf hash has " + std::to_string(len) + " bytes, a SHA-256 hash has 32");
    st = VerifyInclusionBytes(leaf, 5, 8, proof, odd);
    EXPECT_EQ(st.message(), "root has " + std::to_string(len) + " bytes, a SHA-256 hash has 32");
    std::vector<Bytes> bad = proof;
    bad[1] = odd;
    st = VerifyInclusionBytes(leaf, 5, 8, bad, root);
    EXPECT_EQ(st.message(),
              "proof entry 1 has " + std::to_string(len) + " bytes, a SHA-256 hash has 32");
    st = VerifyConsistencyBytes(6, 8, proof, odd, root);
    EXPECT_EQ(st.message(), "root1 has " + std::to_string(len) + " bytes, a SHA-256 hash has 32");
    st = VerifyConsistencyBytes(6, 8, proof, root, odd);
    EXPECT_EQ(st.message(), "root2 has " + std::to_string(len) + " bytes, a SHA-256 hash has 32");
  }
  // A trailing empty entry is reported as a wrong proof length first.
  proof.push_back({});
  EXPECT_EQ(VerifyInclusionBytes(leaf, 5, 8, proof, root).message(),
            "proof has 4 hashes, a tree of size 8 needs 3 for leaf index 5");
  std::vector<Bytes> cproof;
  const std::vector<Hash> cbuilt = *s.log.ConsistencyProof(6, 8);
  for (const Hash& h : cbuilt) cproof.push_back(HashToBytes(h));
  EXPECT_TRUE(
      VerifyConsistencyBytes(6, 8, cproof, HashToBytes(t.roots[6]), HashToBytes(t.roots[8])).ok());
  cproof[2].pop_back();
  EXPECT_EQ(VerifyConsistencyBytes(6, 8, cproof, HashToBytes(t.roots[6]), HashToBytes(t.roots[8]))
                .message(),
            "proof entry 2 has 31 bytes, a SHA-256 hash has 32");
}

// Sizes at the top of uint64_t: no overflow, no undefined shift (run under
// UBSan), and the proof lengths a 64-level tree implies.
TEST(MerkleVerify, ExtremeSizes) {
  const uint64_t max = UINT64_MAX;
  EXPECT_EQ(InclusionProofSize(0, max), 64u);
  EXPECT_EQ(InclusionProofSize(max - 1, max), 63u);
  EXPECT_EQ(InclusionProofSize(uint64_t{1} << 63, max), 64u);
  EXPECT_EQ(ConsistencyProofSize(max - 1, max), 64u);
  EXPECT_EQ(ConsistencyProofSize(uint64_t{1} << 63, max), 1u);
  EXPECT_EQ(ConsistencyProofSize(1, max), 64u);
  const Hash h = HashLeaf(AsBytes("x"));
  std::vector<Hash> proof(64, h);
  EXPECT_EQ(VerifyInclusion(h, 0, max, proof, h).code(), Code::kUnauthenticated);
  EXPECT_EQ(VerifyInclusion(h, max - 1, max, std::span(proof).first(63), h).code(),
            Code::kUnauthenticated);
  EXPECT_EQ(VerifyInclusion(h, max, max, proof, h).code(), Code::kInvalidArgument);
  EXPECT_EQ(VerifyConsistency(max - 1, max, proof, h, h).code(), Code::kUnauthenticated);
  EXPECT_EQ(VerifyConsistency(max, max, {}, h, h).code(), Code::kOk);
}

// ---- Persistence ----

TEST(MerkleLog, StateEncodingIsVersionedAndStrict) {
  State empty;
  EXPECT_EQ(empty.Encode(), (Bytes{0x01, 0x00}));
  const std::vector<Hash> leaves = SyntheticLeaves(3);
  StoredLog s;
  s.AppendAll(leaves);
  const Bytes enc = s.log.state().Encode();
  Bytes want{0x01, 0x03};
  const Hash left = ref::Node(leaves[0], leaves[1]);
  want.insert(want.end(), left.begin(), left.end());
  want.insert(want.end(), leaves[2].begin(), leaves[2].end());
  EXPECT_EQ(enc, want);
  auto back = State::Decode(enc);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, s.log.state());

  auto expect_bad = [](Bytes bytes, const std::string& why) {
    auto r = State::Decode(bytes);
    ASSERT_FALSE(r.ok()) << why;
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument) << why;
    EXPECT_NE(r.status().message().find("merkle state"), std::string::npos) << why;
  };
  expect_bad({}, "empty");
  Bytes v2 = enc;
  v2[0] = 2;
  expect_bad(v2, "unknown version");
  expect_bad(Bytes(enc.begin(), enc.end() - 1), "truncated frontier");
  Bytes extra = enc;
  extra.push_back(0);
  expect_bad(extra, "trailing byte");
  expect_bad({0x01, 0x83, 0x00}, "non-canonical varint");
  Bytes too_many = empty.Encode();
  too_many.insert(too_many.end(), left.begin(), left.end());
  expect_bad(too_many, "a hash too many for size 0");

  // The largest state: 2^64 - 1 leaves, 64 frontier hashes.
  State full;
  full.size = UINT64_MAX;
  full.frontier.assign(64, left);
  ASSERT_TRUE(full.Valid());
  EXPECT_EQ(full.Encode().size(), 1u + 10u + 64u * 32u);
  EXPECT_EQ(*State::Decode(full.Encode()), full);
  EXPECT_FALSE((State{5, {left}}).Valid());
}

TEST(MerkleLog, ReopenedFromPersistedStateContinuesTheSameLog) {
  const std::vector<Hash> leaves = SyntheticLeaves(200);
  for (size_t cut : {0, 1, 37, 64, 127}) {
    SCOPED_TRACE("reopened at " + std::to_string(cut));
    MemoryNodeStore store;
    Bytes persisted;
    {
      Log first(&store);
      for (size_t i = 0; i < cut; ++i) {
        std::vector<NodeWrite> w;
        ASSERT_TRUE(first.Append(leaves[i], &w).ok());
        store.Put(w);
      }
      persisted = first.state().Encode();
    }
    auto state = State::Decode(persisted);
    ASSERT_TRUE(state.ok());
    Log log(&store, std::move(*state));
    EXPECT_EQ(log.Size(), cut);
    EXPECT_EQ(log.Root(), ref::MTH(std::span(leaves).first(cut)));
    for (size_t i = cut; i < leaves.size(); ++i) {
      std::vector<NodeWrite> w;
      ASSERT_TRUE(log.Append(leaves[i], &w).ok());
      store.Put(w);
    }
    EXPECT_EQ(log.Root(), ref::MTH(leaves));
    for (uint64_t index : {uint64_t{0}, uint64_t{cut / 2}, uint64_t{150}, uint64_t{199}}) {
      EXPECT_EQ(*log.InclusionProof(index, 200), ref::Path(index, leaves));
    }
    if (cut > 0) {
      EXPECT_EQ(*log.ConsistencyProof(cut, 200), ref::Proof(cut, leaves));
    }
  }
}

// The contract: proofs for a size need the nodes its Appends returned to be
// persisted. Until they are, the log reports Corruption, never a wrong proof.
TEST(MerkleLog, ProofsNeedTheAppendedNodesPersisted) {
  const std::vector<Hash> leaves = SyntheticLeaves(8);
  MemoryNodeStore store;
  Log log(&store);
  std::vector<NodeWrite> pending;
  for (size_t i = 0; i < 4; ++i) ASSERT_TRUE(log.Append(leaves[i], &pending).ok());
  store.Put(pending);  // block 1 committed
  pending.clear();
  for (size_t i = 4; i < 8; ++i) ASSERT_TRUE(log.Append(leaves[i], &pending).ok());
  // Block 2 appended in memory but not written yet.
  EXPECT_EQ(log.Root(), ref::MTH(leaves)) << "the root needs no I/O";
  EXPECT_EQ(*log.InclusionProof(1, 4), ref::Path(1, std::span(leaves).first(4)));
  auto early = log.InclusionProof(1, 8);
  ASSERT_FALSE(early.ok());
  EXPECT_EQ(early.status().code(), Code::kCorruption);
  EXPECT_EQ(early.status().message(),
            "merkle node (level 2, index 1) is missing from the store of a log of size 8");
  EXPECT_EQ(log.ConsistencyProof(4, 8).status().code(), Code::kCorruption);
  store.Put(pending);  // block 2 committed
  EXPECT_EQ(*log.InclusionProof(1, 8), ref::Path(1, leaves));
  EXPECT_EQ(*log.ConsistencyProof(4, 8), ref::Proof(4, leaves));
}

TEST(MerkleLog, MissingNodeIsCorruptionNotACrash) {
  const std::vector<Hash> leaves = SyntheticLeaves(100);
  StoredLog s;
  s.AppendAll(leaves);
  ASSERT_TRUE(s.store.Erase(3, 2));  // leaves 16..23
  EXPECT_FALSE(s.store.Erase(3, 2));
  EXPECT_FALSE(s.store.GetNode(3, 2).has_value());
  EXPECT_EQ(s.log.Root(), ref::MTH(leaves));
  auto proof = s.log.InclusionProof(24, 100);
  EXPECT_EQ(proof.status().code(), Code::kCorruption);
  EXPECT_NE(proof.status().message().find("level 3, index 2"), std::string::npos);
  EXPECT_EQ(s.log.RootAt(24).status().code(), Code::kCorruption);
  EXPECT_EQ(s.log.ConsistencyProof(28, 100).status().code(), Code::kCorruption);
  // Proofs that do not need the node still work.
  EXPECT_EQ(*s.log.InclusionProof(17, 100), ref::Path(17, leaves));
  EXPECT_EQ(*s.log.RootAt(16), ref::MTH(std::span(leaves).first(16)));
  // A reader with no nodes at all.
  MemoryNodeStore nothing;
  Log blind(&nothing, s.log.state());
  EXPECT_EQ(blind.Root(), s.log.Root());
  EXPECT_EQ(blind.InclusionProof(5, 100).status().code(), Code::kCorruption);
  EXPECT_EQ(blind.RootAt(99).status().code(), Code::kCorruption);
}

TEST(MerkleLog, ArgumentsOutsideTheLogAreRefused) {
  StoredLog s;
  s.AppendAll(SyntheticLeaves(10));
  EXPECT_EQ(s.log.RootAt(11).status().message(), "tree size 11 exceeds the log size 10");
  EXPECT_EQ(s.log.InclusionProof(0, 11).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(s.log.InclusionProof(10, 10).status().message(),
            "leaf index 10 is not below the tree size 10");
  EXPECT_EQ(s.log.InclusionProof(0, 0).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(s.log.ConsistencyProof(5, 11).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(s.log.ConsistencyProof(6, 5).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(s.log.ConsistencyProof(0, 5).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(s.log.ConsistencyProof(0, 0).status().code(), Code::kInvalidArgument);
  auto same = s.log.ConsistencyProof(7, 7);
  ASSERT_TRUE(same.ok());
  EXPECT_TRUE(same->empty());
  StoredLog empty;
  EXPECT_EQ(*empty.log.RootAt(0), EmptyRoot());
  EXPECT_EQ(empty.log.Root(), EmptyRoot());
}

TEST(MerkleLog, AppendFailsOnlyWhenFull) {
  MemoryNodeStore store;
  State full;
  full.size = UINT64_MAX;
  full.frontier.assign(64, HashLeaf(AsBytes("x")));
  Log log(&store, full);
  std::vector<NodeWrite> w;
  Status st = log.Append(HashLeaf(AsBytes("y")), &w);
  EXPECT_EQ(st.code(), Code::kResourceExhausted);
  EXPECT_TRUE(w.empty());
  EXPECT_EQ(log.state(), full);
}

// A consistent synthetic tree of any size: leaf i is leaf (i mod 16), so node
// (L, i) depends only on L and i mod 2^(4-L). Lets Log build proofs for
// trees of 1e8..2^64-1 leaves that the independent verifier then checks.
class PeriodicReader final : public NodeReader {
 public:
  PeriodicReader() {
    for (int i = 0; i < 16; ++i) m_nodes[0].push_back(HashLeaf(AsBytes("p" + std::to_string(i))));
    for (uint32_t level = 1; level < 64; ++level) {
      const auto& below = m_nodes[level - 1];
      const size_t n = std::max<size_t>(1, below.size() / 2);
      for (size_t i = 0; i < n; ++i) {
        const size_t l = (2 * i) % below.size(), r = (2 * i + 1) % below.size();
        m_nodes[level].push_back(HashChildren(below[l], below[r]));
      }
    }
  }
  std::optional<Hash> GetNode(uint32_t level, uint64_t index) const override {
    ++reads;
    const auto& row = m_nodes[level];
    return row[index % row.size()];
  }
  State StateAt(uint64_t size) const {
    State s{size, {}};
    for (int level = 63; level >= 0; --level) {
      if ((size >> level) & 1) s.frontier.push_back(*GetNode(level, (size >> level) - 1));
    }
    return s;
  }
  mutable uint64_t reads = 0;

 private:
  std::array<std::vector<Hash>, 64> m_nodes;
};

TEST(MerkleLog, HugeTreesReadLogarithmicallyManyNodes) {
  PeriodicReader reader;
  // Check the synthetic tree against the reference on 64 leaves.
  std::vector<Hash> small;
  for (int i = 0; i < 64; ++i) small.push_back(*reader.GetNode(0, i));
  EXPECT_EQ(Log(&reader, reader.StateAt(64)).Root(), ref::MTH(small));
  EXPECT_EQ(*Log(&reader, reader.StateAt(64)).RootAt(45), ref::MTH(std::span(small).first(45)));

  const uint64_t sizes[] = {114818493,         75441653,
                            uint64_t{1} << 40, (uint64_t{1} << 40) + 12345,
                            UINT64_MAX - 1,    UINT64_MAX};
  for (uint64_t size : sizes) {
    SCOPED_TRACE("size " + std::to_string(size));
    Log log(&reader, reader.StateAt(size));
    const Hash root = log.Root();
    for (uint64_t index : {uint64_t{0}, uint64_t{1}, size / 3, size / 2, size - 2, size - 1}) {
      reader.reads = 0;
      auto proof = log.InclusionProof(index, size);
      ASSERT_TRUE(proof.ok()) << proof.status().ToString();
      EXPECT_LE(reader.reads, 2u * 64u);
      Status st = VerifyInclusion(*reader.GetNode(0, index), index, size, *proof, root);
      EXPECT_TRUE(st.ok()) << index << ": " << st.ToString();
    }
    for (uint64_t size1 : {uint64_t{1}, uint64_t{2}, uint64_t{3}, size / 2 + 1, size - 1}) {
      reader.reads = 0;
      auto root1 = log.RootAt(size1);
      ASSERT_TRUE(root1.ok());
      EXPECT_LE(reader.reads, 64u);
      reader.reads = 0;
      auto proof = log.ConsistencyProof(size1, size);
      ASSERT_TRUE(proof.ok()) << proof.status().ToString();
      EXPECT_LE(reader.reads, 2u * 64u + 1);
      Status st = VerifyConsistency(size1, size, *proof, *root1, root);
      EXPECT_TRUE(st.ok()) << size1 << ": " << st.ToString();
    }
  }
}

TEST(MemoryNodeStore, PutGetErase) {
  MemoryNodeStore store;
  const Hash a = HashLeaf(AsBytes("a"));
  const Hash b = HashLeaf(AsBytes("b"));
  EXPECT_FALSE(store.GetNode(0, 0).has_value());
  EXPECT_FALSE(store.GetNode(63, 0).has_value());
  store.Put(5, 7, a);
  EXPECT_EQ(store.GetNode(5, 7), a);
  EXPECT_FALSE(store.GetNode(5, 6).has_value());
  EXPECT_FALSE(store.GetNode(4, 7).has_value());
  store.Put(5, 7, b);  // overwrite: the count does not change
  EXPECT_EQ(store.GetNode(5, 7), b);
  EXPECT_EQ(store.NodeCount(), 1u);
  const NodeWrite writes[] = {{0, 0, a}, {0, 1, b}};
  store.Put(writes);
  EXPECT_EQ(store.NodeCount(), 3u);
  EXPECT_TRUE(store.Erase(0, 1));
  EXPECT_EQ(store.NodeCount(), 2u);
  EXPECT_FALSE(store.Erase(9, 9));
}

}  // namespace
}  // namespace medchain::merkle
