// Copyright (c) medchain developers.
// Store::WriteCopy: a consistent online copy of a store (the ledger part of
// `medchain backup`), taken while blocks keep committing.
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>

#include "chain_fixture.h"
#include "medchain/store/chain.h"

namespace medchain::store {
namespace {

class StoreCopyTest : public ChainFixture {
 protected:
  // Commits one block of two attestations (the applier's work), with Raft
  // index height + 10.
  void CommitOne(uint8_t fill) {
    const uint64_t height = store->GetTip().height;
    ledger::Block b =
        Build({Attest(org, fill), Attest(admin, static_cast<uint8_t>(fill ^ 0x55))}, 2000 + height);
    ApplyOutcome o = Apply(b, {}, height + 10);
    ASSERT_EQ(o.kind, ApplyOutcome::Kind::kApplied) << o.reason;
  }

  static std::unique_ptr<Store> OpenCopy(const std::string& path) {
    StoreOptions o;
    o.path = path;
    o.read_only = true;
    auto s = Store::Open(o);
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return s.ok() ? std::move(*s) : nullptr;
  }
};

TEST_F(StoreCopyTest, CopyHoldsTheCommittedChainAndStaysApart) {
  for (uint8_t i = 1; i <= 5; ++i) CommitOne(i);
  const Tip at_copy = store->GetTip();
  ASSERT_EQ(at_copy.height, 5u);
  ASSERT_TRUE(store->WriteCopy(dir.Sub("copy")).ok());

  // Blocks committed after the copy stay out of it.
  CommitOne(9);
  ASSERT_EQ(store->GetTip().height, 6u);

  auto copy = OpenCopy(dir.Sub("copy"));
  ASSERT_TRUE(copy);
  EXPECT_EQ(copy->GetTip().height, 5u);
  EXPECT_EQ(copy->GetTip().hash, at_copy.hash);
  EXPECT_EQ(copy->GetTip().log_root, at_copy.log_root);
  EXPECT_EQ(copy->AppliedIndex(), 14u);  // CommitOne gave block 5 Raft index 4 + 10
  auto six = copy->GetBlockBytes(6);
  ASSERT_TRUE(six.ok());
  EXPECT_FALSE(six->has_value());
  auto genesis_doc = copy->GetGenesis();
  ASSERT_TRUE(genesis_doc.ok());
  EXPECT_TRUE(genesis_doc->has_value());
  auto r = VerifyChain(*copy, {});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->ok) << r->fault;
  EXPECT_EQ(r->blocks, 6u);  // genesis and five
  EXPECT_EQ(r->final_root, at_copy.log_root);
}

TEST_F(StoreCopyTest, RefusesAFolderThatExists) {
  std::filesystem::create_directories(dir.Sub("taken"));
  std::ofstream(dir.Sub("taken") + "/precious") << "keep me";
  Status s = store->WriteCopy(dir.Sub("taken"));
  EXPECT_FALSE(s.ok());
  EXPECT_TRUE(std::filesystem::exists(dir.Sub("taken") + "/precious"));
  EXPECT_FALSE(std::filesystem::exists(dir.Sub("taken") + "/CURRENT"));
  EXPECT_FALSE(store->WriteCopy("").ok());
}

TEST_F(StoreCopyTest, CopiesTakenWhileBlocksCommitAreWholeChains) {
  // The applier commits blocks as fast as it can while copies are taken:
  // every copy must be a whole chain, ending at a block that was committed.
  std::atomic<bool> stop{false};
  std::atomic<int> committed{0};
  std::thread writer([&] {
    for (uint8_t i = 1; !stop; ++i) {
      CommitOne(i);
      committed++;
    }
  });
  while (committed < 3) std::this_thread::yield();
  std::vector<uint64_t> heights;
  for (int k = 0; k < 4; ++k) {
    const uint64_t before = store->GetTip().height;
    const std::string path = dir.Sub("copy" + std::to_string(k));
    Status s = store->WriteCopy(path);
    ASSERT_TRUE(s.ok()) << s.ToString();
    auto copy = OpenCopy(path);
    ASSERT_TRUE(copy);
    const Tip tip = copy->GetTip();
    EXPECT_GE(tip.height, before);
    heights.push_back(tip.height);
    auto r = VerifyChain(*copy, {});
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_TRUE(r->ok) << "copy " << k << ": " << r->fault;
    EXPECT_EQ(r->blocks, tip.height + 1);
    EXPECT_EQ(r->final_root, tip.log_root);
    // The copy's tip block is the live store's block at that height.
    auto live = store->GetBlockBytes(tip.height);
    auto mine = copy->GetBlockBytes(tip.height);
    ASSERT_TRUE(live.ok() && mine.ok() && live->has_value() && mine->has_value());
    EXPECT_EQ(**live, **mine);
  }
  stop = true;
  writer.join();
  EXPECT_GT(store->GetTip().height, heights.front());
}

}  // namespace
}  // namespace medchain::store
