// Copyright (c) medchain developers.
// The chain on a real RocksDB store: blocks commit atomically, proofs come
// from stored nodes, invalid transactions are marked, tampering is found.
#include <gtest/gtest.h>

#include "chain_fixture.h"
#include "medchain/core/merkle.h"
#include "medchain/store/chain.h"
#include "test_util.h"

namespace medchain::store {
namespace {

using ledger::Role;
using ledger::TxType;
using testing::Identity;
using testing::TempDir;

using ChainTest = ChainFixture;

TEST_F(ChainTest, GenesisIsBlockZeroAndSurvivesReopen) {
  Tip tip = store->GetTip();
  EXPECT_EQ(tip.height, 0u);
  EXPECT_EQ(tip.log_size, 1u);
  EXPECT_EQ(tip.hash, ledger::MakeGenesisBlock(genesis).hash());
  Open();
  EXPECT_EQ(store->GetTip().hash, tip.hash);
  // A different genesis on the same folder is refused.
  chain.reset();
  ledger::Genesis other = genesis;
  other.consortium = "someone else";
  auto c = Chain::Open(store.get(), other);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("different chain"), std::string::npos);
}

TEST_F(ChainTest, BlocksCommitWithResultsIndexAndProofs) {
  auto t1 = Attest(org, 1);
  auto t2 = Attest(admin, 2);
  ApplyOutcome o = Apply(Build({t1, t2}));
  ASSERT_EQ(o.kind, ApplyOutcome::Kind::kApplied) << o.reason;
  ASSERT_EQ(o.results.size(), 2u);
  EXPECT_TRUE(o.results[0].ok());
  EXPECT_TRUE(o.results[1].ok());
  Tip tip = store->GetTip();
  EXPECT_EQ(tip.height, 1u);
  EXPECT_EQ(tip.log_size, 3u);

  auto loc = store->FindTx(t2->id());
  ASSERT_TRUE(loc.ok() && loc->has_value());
  EXPECT_EQ((*loc)->height, 1u);
  EXPECT_EQ((*loc)->index, 1u);
  EXPECT_EQ((*loc)->leaf_index, 2u);

  // An inclusion proof from the stored nodes verifies against the tip root.
  auto proof = store->InclusionProof(2, tip.log_size);
  ASSERT_TRUE(proof.ok()) << proof.status().ToString();
  EXPECT_TRUE(
      merkle::VerifyInclusion(merkle::HashLeaf(t2->bytes()), 2, tip.log_size, *proof, tip.log_root)
          .ok());
  // The block's header log root is the stored log root.
  auto b = store->GetBlock(1);
  ASSERT_TRUE(b.ok() && b->has_value());
  EXPECT_EQ((*b)->header.log_root, tip.log_root);
  // Reopened, the same.
  Open();
  EXPECT_EQ(store->GetTip().log_root, tip.log_root);
  auto cproof = store->ConsistencyProof(1, 3);
  ASSERT_TRUE(cproof.ok());
  auto root1 = store->LogRootAt(1);
  ASSERT_TRUE(root1.ok());
  EXPECT_TRUE(merkle::VerifyConsistency(1, 3, *cproof, *root1, tip.log_root).ok());
}

TEST_F(ChainTest, InvalidTransactionsAreMarkedDeterministically) {
  Identity stranger{"stranger", Role::kPatient};
  auto good = Attest(org, 1);
  // Same author and nonce as `good`, different content: a conflicting nonce.
  ledger::UnsignedTx u;
  u.type = TxType::kAttest;
  u.author = org.sign.public_key();
  u.nonce = good->nonce();
  ledger::Attest a;
  a.digest.fill(9);
  u.body = ledger::EncodeBody(a);
  auto conflict = ledger::SignTx(u, org.sign);
  auto unknown = Attest(stranger, 3);
  // A forged signature: valid shape, signed by the wrong key.
  ledger::UnsignedTx f;
  f.type = TxType::kAttest;
  f.author = admin.sign.public_key();
  f.nonce = 99;
  f.body = ledger::EncodeBody(a);
  auto forged = ledger::SignTx(f, org.sign);
  (void)forged;
  ledger::TransactionRef forged_tx =
      ledger::Transaction::FromParts(f, org.sign.Sign(f.SigningMessage()));

  ApplyOutcome o = Apply(Build({good, conflict, unknown, forged_tx}));
  ASSERT_EQ(o.kind, ApplyOutcome::Kind::kApplied);
  EXPECT_TRUE(o.results[0].ok());
  EXPECT_EQ(o.results[1].code, ledger::TxCode::kInvalid);
  EXPECT_NE(o.results[1].reason.find("nonce"), std::string::npos);
  EXPECT_EQ(o.results[2].code, ledger::TxCode::kInvalid);
  EXPECT_NE(o.results[2].reason.find("no registered participant"), std::string::npos);
  EXPECT_EQ(o.results[3].code, ledger::TxCode::kInvalid);
  EXPECT_NE(o.results[3].reason.find("signature"), std::string::npos);
  // The stored result carries the reason too.
  auto loc = store->FindTx(conflict->id());
  ASSERT_TRUE(loc.ok() && loc->has_value());
  EXPECT_EQ((*loc)->result.reason, o.results[1].reason);

  // Replaying the good transaction in a later block: invalid again.
  ApplyOutcome o2 = Apply(Build({good}));
  EXPECT_EQ(o2.results[0].code, ledger::TxCode::kInvalid);
}

TEST_F(ChainTest, StaleAndInvalidBlocksAreNotApplied) {
  ledger::Block b1 = Build({Attest(org, 1)});
  ledger::Block b1_again = b1;
  ASSERT_EQ(Apply(b1).kind, ApplyOutcome::Kind::kApplied);
  // The same height again: stale, nothing changes.
  EXPECT_EQ(Apply(b1_again).kind, ApplyOutcome::Kind::kStale);

  Tip before = store->GetTip();
  ledger::Block bad_sig = Build({Attest(org, 2)});
  bad_sig.signature[0] ^= 1;
  ApplyOutcome o = Apply(bad_sig);
  EXPECT_EQ(o.kind, ApplyOutcome::Kind::kInvalid);
  EXPECT_NE(o.reason.find("signature"), std::string::npos);

  ledger::Block bad_root = Build({Attest(org, 3)});
  bad_root.header.tx_root[0] ^= 1;
  bad_root.signature = node.sign.Sign(bad_root.header.SigningMessage());
  o = Apply(bad_root);
  EXPECT_EQ(o.kind, ApplyOutcome::Kind::kInvalid);
  EXPECT_NE(o.reason.find("tx_root"), std::string::npos);

  // Signed by a key that is not a registered node.
  ledger::Block by_org = Build({Attest(org, 4)});
  by_org.header.proposer = org.sign.public_key();
  by_org.signature = org.sign.Sign(by_org.header.SigningMessage());
  o = Apply(by_org);
  EXPECT_EQ(o.kind, ApplyOutcome::Kind::kInvalid);
  EXPECT_EQ(store->GetTip().hash, before.hash);
}

TEST_F(ChainTest, VerifyPassesAndNamesATamperedBlock) {
  for (int i = 0; i < 5; ++i) {
    ASSERT_EQ(Apply(Build({Attest(org, static_cast<uint8_t>(i)), Attest(admin, 7)})).kind,
              ApplyOutcome::Kind::kApplied);
  }
  auto r = VerifyChain(*store, {});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->ok) << r->fault;
  EXPECT_EQ(r->blocks, 6u);
  EXPECT_EQ(r->transactions, 11u);
  EXPECT_EQ(r->final_root, store->GetTip().log_root);

  // An attacker with disk access flips one byte in every position of block 3
  // in turn: each time verify names block 3.
  auto raw = store->GetBlockBytes(3);
  ASSERT_TRUE(raw.ok() && raw->has_value());
  Bytes original = **raw;
  for (size_t pos = 0; pos < original.size(); pos += 7) {
    Bytes tampered = original;
    tampered[pos] ^= 0x20;
    ASSERT_TRUE(store->UnsafePutBlockBytes(3, tampered).ok());
    auto v = VerifyChain(*store, {});
    ASSERT_TRUE(v.ok());
    EXPECT_FALSE(v->ok) << "byte " << pos;
    EXPECT_EQ(v->fault_height, 3u) << "byte " << pos << ": " << v->fault;
  }
  ASSERT_TRUE(store->UnsafePutBlockBytes(3, original).ok());
  EXPECT_TRUE(VerifyChain(*store, {})->ok);
}

}  // namespace
}  // namespace medchain::store
