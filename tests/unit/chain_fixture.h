// Copyright (c) medchain developers.
// A chain on a real RocksDB store in a temporary folder, for the store's
// tests: a genesis of an admin, an organisation and a node, and helpers to
// build, sign and apply blocks as the applier does.
#ifndef MEDCHAIN_TESTS_UNIT_CHAIN_FIXTURE_H_
#define MEDCHAIN_TESTS_UNIT_CHAIN_FIXTURE_H_

#include <gtest/gtest.h>

#include <memory>
#include <utility>
#include <vector>

#include "medchain/store/chain.h"
#include "test_util.h"

namespace medchain::store {

class ChainFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    genesis.consortium = "test consortium";
    genesis.time_ms = 1000;
    genesis.participants.push_back(admin.Registration());
    genesis.participants.push_back(org.Registration());
    auto n = node.Registration("org-a");
    n.node = ledger::NodeInfo{1, "127.0.0.1:1", "http://127.0.0.1:2"};
    genesis.participants.push_back(n);
    Open();
  }

  // (Re)opens the store and the chain on the same folder.
  void Open() {
    chain.reset();
    store.reset();
    auto s = Store::Open(StoreOptions{dir.Sub("db")});
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store = std::move(*s);
    auto c = Chain::Open(store.get(), genesis);
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    chain = std::move(*c);
  }

  // A block of `txs` on the current tip, signed by the node.
  ledger::Block Build(std::vector<ledger::TransactionRef> txs, uint64_t time_ms = 2000) {
    Tip tip = store->GetTip();
    auto [block, log] = chain->BuildBlock(
        std::move(txs), tip, store->GetLogState(), time_ms, 1, node.sign.public_key(),
        [&](const ledger::BlockHeader& h) { return node.sign.Sign(h.SigningMessage()); });
    return block;
  }

  ApplyOutcome Apply(const ledger::Block& b,
                     std::vector<std::pair<uint32_t, ledger::Sidecar>> sc = {},
                     uint64_t raft_index = 0) {
    ledger::Proposal p{b, std::move(sc)};
    auto r = chain->Apply(p, raft_index, nullptr, nullptr);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : ApplyOutcome{};
  }

  ledger::TransactionRef Attest(testing::Identity& who, uint8_t fill) {
    ledger::Attest a;
    a.digest.fill(fill);
    return who.Tx(ledger::TxType::kAttest, a);
  }

  testing::TempDir dir;
  testing::Identity admin{"admin", ledger::Role::kAdmin};
  testing::Identity org{"org-a", ledger::Role::kOrganisation};
  testing::Identity node{"node-1", ledger::Role::kNode};
  ledger::Genesis genesis;
  std::unique_ptr<Store> store;
  std::unique_ptr<Chain> chain;
};

}  // namespace medchain::store

#endif  // MEDCHAIN_TESTS_UNIT_CHAIN_FIXTURE_H_
