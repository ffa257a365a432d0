// Copyright (c) medchain developers.
// node::Waiters: commit waits registered, completed by a block, timed out
// and shut down, on their own (no store, no consensus).
#include <gtest/gtest.h>

#include <thread>

#include "node/waiters.h"
#include "test_util.h"

namespace medchain::node {
namespace {

using Clock = std::chrono::steady_clock;
using Lookup = std::function<std::optional<api::SubmitOutcome>(const Hash&)>;

Hash IdOf(uint8_t b) {
  Hash h{};
  h.fill(b);
  return h;
}

api::SubmitOutcome CommittedAt(const Hash& id, uint64_t height) {
  api::SubmitOutcome o;
  o.id = id;
  o.committed = true;
  o.height = height;
  return o;
}

// A deadline already in the past: Wait answers at once.
Clock::time_point Past() {
  return Clock::now() - std::chrono::seconds(1);
}
// A deadline no correct test reaches.
Clock::time_point Far() {
  return Clock::now() + std::chrono::seconds(30);
}

TEST(Waiters, FulfilCompletesTheWaiterWithItsOutcome) {
  Waiters ws;
  const Hash id = IdOf(1);
  auto w = ws.Register(id);
  EXPECT_TRUE(ws.Has(id));
  ws.Fulfil(id, Status::Ok(), CommittedAt(id, 9));
  EXPECT_FALSE(ws.Has(id));
  EXPECT_TRUE(ws.Empty());
  auto r = ws.Wait(id, w, Past());  // completed: the deadline does not matter
  ASSERT_TRUE(r.has_value());
  ASSERT_TRUE(r->ok()) << r->status().ToString();
  EXPECT_EQ((*r)->height, 9u);
  EXPECT_TRUE((*r)->committed);
}

TEST(Waiters, FulfilWithAnErrorIsWhatTheWaiterGets) {
  Waiters ws;
  const Hash id = IdOf(2);
  auto w = ws.Register(id);
  ws.Fulfil(id, Status::Unavailable("this node stopped leading; retry"), {});
  auto r = ws.Wait(id, w, Far());
  ASSERT_TRUE(r.has_value());
  ASSERT_FALSE(r->ok());
  EXPECT_EQ(r->status().code(), Code::kUnavailable);
  EXPECT_EQ(r->status().message(), "this node stopped leading; retry");
}

TEST(Waiters, FulfilOfAnotherIdLeavesTheWaiterWaiting) {
  Waiters ws;
  const Hash id = IdOf(3);
  auto w = ws.Register(id);
  ws.Fulfil(IdOf(4), Status::Ok(), CommittedAt(IdOf(4), 1));
  EXPECT_TRUE(ws.Has(id));
  EXPECT_FALSE(ws.Wait(id, w, Past()).has_value());
}

TEST(Waiters, TimeoutUnregistersTheWaiter) {
  Waiters ws;
  const Hash id = IdOf(5);
  auto w = ws.Register(id);
  const auto start = Clock::now();
  auto r = ws.Wait(id, w, start + std::chrono::milliseconds(30));
  EXPECT_FALSE(r.has_value());
  EXPECT_GE(Clock::now() - start, std::chrono::milliseconds(30));
  EXPECT_FALSE(ws.Has(id));
  EXPECT_TRUE(ws.Empty());
  // A late completion finds no one and harms no one.
  ws.Fulfil(id, Status::Ok(), CommittedAt(id, 1));
}

TEST(Waiters, EveryWaiterOfOneIdIsCompleted) {
  Waiters ws;
  const Hash id = IdOf(6);
  auto a = ws.Register(id);
  auto b = ws.Register(id);
  ws.Fulfil(id, Status::Ok(), CommittedAt(id, 4));
  for (const auto& w : {a, b}) {
    auto r = ws.Wait(id, w, Past());
    ASSERT_TRUE(r.has_value());
    ASSERT_TRUE(r->ok());
    EXPECT_EQ((*r)->height, 4u);
  }
}

TEST(Waiters, UnregisterForgetsOnlyThatWaiter) {
  Waiters ws;
  const Hash id = IdOf(7);
  auto gone = ws.Register(id);
  auto kept = ws.Register(id);
  ws.Unregister(id, gone);
  EXPECT_TRUE(ws.Has(id));
  ws.Fulfil(id, Status::Ok(), CommittedAt(id, 2));
  EXPECT_FALSE(ws.Wait(id, gone, Past()).has_value());
  auto r = ws.Wait(id, kept, Past());
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(r->ok());
}

TEST(Waiters, AWaitOnAnotherThreadEndsWhenTheBlockIsApplied) {
  Waiters ws;
  const Hash id = IdOf(8);
  auto w = ws.Register(id);
  std::optional<Result<api::SubmitOutcome>> got;
  std::thread waiter([&] { got = ws.Wait(id, w, Far()); });
  ws.Fulfil(id, Status::Ok(), CommittedAt(id, 12));
  waiter.join();
  ASSERT_TRUE(got.has_value());
  ASSERT_TRUE(got->ok());
  EXPECT_EQ((*got)->height, 12u);
}

TEST(Waiters, CloseCompletesPresentAndFutureWaitersWithUnavailable) {
  Waiters ws;
  const Hash id = IdOf(9);
  auto before = ws.Register(id);
  std::optional<Result<api::SubmitOutcome>> got;
  std::thread waiter([&] { got = ws.Wait(id, before, Far()); });
  ws.Close();
  waiter.join();
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->status().code(), Code::kUnavailable);
  EXPECT_EQ(got->status().message(), "the node is shutting down");
  EXPECT_TRUE(ws.Empty());

  auto after = ws.Register(id);
  EXPECT_FALSE(ws.Has(id));  // never queued
  auto r = ws.Wait(id, after, Far());
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status().code(), Code::kUnavailable);
}

class WaitersBlock : public ::testing::Test {
 protected:
  WaitersBlock() {
    testing::Identity alice{"alice", ledger::Role::kPatient};
    for (int i = 0; i < 3; ++i) {
      m_block.txs.push_back(
          alice.Tx(ledger::TxType::kRegisterParticipant, alice.Registration("org")));
    }
    m_block.header.height = 21;
    m_results.resize(3);
  }
  const Hash& Id(size_t i) const { return m_block.txs[i]->id(); }

  ledger::Block m_block;
  std::vector<ledger::TxResult> m_results;
};

TEST_F(WaitersBlock, AValidTransactionIsAnsweredWithItsPlaceInTheBlock) {
  Waiters ws;
  auto w = ws.Register(Id(1));
  int lookups = 0;
  ws.CompleteBlock(m_block, m_results, /*first_leaf=*/100, [&](const Hash&) {
    lookups++;
    return std::optional<api::SubmitOutcome>();
  });
  EXPECT_EQ(lookups, 0);  // a first occurrence needs no lookup
  auto r = ws.Wait(Id(1), w, Past());
  ASSERT_TRUE(r.has_value());
  ASSERT_TRUE(r->ok());
  EXPECT_EQ((*r)->id, Id(1));
  EXPECT_TRUE((*r)->committed);
  EXPECT_EQ((*r)->height, 21u);
  EXPECT_EQ((*r)->index, 1u);
  EXPECT_EQ((*r)->leaf_index, 101u);
  EXPECT_TRUE((*r)->result.ok());
}

TEST_F(WaitersBlock, ARepeatIsAnsweredWithTheLedgersFirstOccurrence) {
  Waiters ws;
  auto w = ws.Register(Id(2));
  m_results[2].code = ledger::TxCode::kInvalid;
  m_results[2].reason = "duplicate transaction";
  std::vector<Hash> asked;
  ws.CompleteBlock(m_block, m_results, 0, [&](const Hash& id) {
    asked.push_back(id);
    return std::optional<api::SubmitOutcome>(CommittedAt(id, 3));
  });
  ASSERT_EQ(asked.size(), 1u);  // only the waited-for transaction is looked up
  EXPECT_EQ(asked[0], Id(2));
  auto r = ws.Wait(Id(2), w, Past());
  ASSERT_TRUE(r.has_value());
  ASSERT_TRUE(r->ok());
  EXPECT_EQ((*r)->height, 3u);  // the first occurrence, not this block
}

TEST_F(WaitersBlock, AnInvalidTransactionTheLedgerDoesNotKnowStaysWaiting) {
  Waiters ws;
  auto w = ws.Register(Id(0));
  m_results[0].code = ledger::TxCode::kInvalid;
  m_results[0].reason = "bad signature";
  ws.CompleteBlock(m_block, m_results, 0,
                   [](const Hash&) { return std::optional<api::SubmitOutcome>(); });
  EXPECT_TRUE(ws.Has(Id(0)));
  EXPECT_FALSE(ws.Wait(Id(0), w, Past()).has_value());
}

TEST_F(WaitersBlock, TransactionsOutsideTheBlockAreNotCompleted) {
  Waiters ws;
  auto w = ws.Register(IdOf(0xee));
  ws.CompleteBlock(m_block, m_results, 0,
                   [](const Hash&) { return std::optional<api::SubmitOutcome>(); });
  EXPECT_TRUE(ws.Has(IdOf(0xee)));
}

}  // namespace
}  // namespace medchain::node
