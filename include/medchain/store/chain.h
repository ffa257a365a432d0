// Copyright (c) medchain developers.
// The chain: validates blocks against the stored tip, applies them through
// the ledger's state machine and commits each in one batch; builds the next
// block for a leader; and re-verifies a stored chain from genesis offline.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "medchain/ledger/apply.h"
#include "medchain/ledger/block.h"
#include "medchain/store/store.h"

namespace medchain::store {

// Signs a block header: returns the Ed25519 signature over
// header.SigningMessage() with the proposer's key.
using HeaderSigner = std::function<ledger::SignatureBytes(const ledger::BlockHeader&)>;

// Makes the signed checkpoint note of a committed tip (empty string: none).
using CheckpointMaker = std::function<std::string(const Tip&)>;

struct ApplyOutcome {
  enum class Kind {
    kApplied,  // committed
    kStale,    // does not extend the tip (a proposal overtaken by a leader change): skipped
    kInvalid,  // breaks a block rule: the proposer misbehaved or the data was tampered
  };
  Kind kind = Kind::kApplied;
  std::string reason;  // kStale / kInvalid
  uint64_t height = 0;
  Hash hash{};
  uint64_t first_leaf = 0;
  std::vector<ledger::TxResult> results;  // kApplied: one per transaction
};

class Chain {
 public:
  // Opens the chain on a store. An empty store is initialised with the
  // genesis block built from `genesis` (required then); otherwise the stored
  // genesis must equal `genesis` when one is given.
  // REQUIRES: `store` must remain live while the Chain is used.
  static Result<std::unique_ptr<Chain>> Open(Store* store,
                                             const std::optional<ledger::Genesis>& genesis);

  const ledger::Genesis& genesis() const { return m_genesis; }
  const Hash& genesis_hash() const { return m_genesis_hash; }
  Store& store() const { return *m_store; }

  // Builds (does not apply) a block of `txs` on top of a parent tip whose log
  // state is `parent_log`. The leader may build on a parent it proposed but
  // that has not committed yet. Returns the block and the log state after it.
  std::pair<ledger::Block, merkle::State> BuildBlock(std::vector<ledger::TransactionRef> txs,
                                                     const Tip& parent,
                                                     const merkle::State& parent_log,
                                                     uint64_t time_ms, uint64_t term,
                                                     const ledger::PublicKey& proposer,
                                                     const HeaderSigner& sign) const;

  // Validates `proposal` against the tip and, if it extends it, applies and
  // commits it. `verified(id)` says whether this node already checked the
  // signature of a transaction (e.g. in its pool); the others are checked
  // here, in parallel. Errors are disk failures or corrupt state only.
  // Single writer: callers serialise Apply.
  Result<ApplyOutcome> Apply(const ledger::Proposal& proposal, uint64_t consensus_index,
                             const std::function<bool(const Hash&)>& verified,
                             const CheckpointMaker& checkpoint);

 private:
  Chain(Store* store, ledger::Genesis genesis, Hash genesis_hash)
      : m_store(store), m_genesis(std::move(genesis)), m_genesis_hash(genesis_hash) {}

  Store* m_store;
  ledger::Genesis m_genesis;
  Hash m_genesis_hash{};
};

// Checks every signature of `txs` not yet verified, using up to `threads`
// threads. Result i is true when transaction i's signature holds.
std::vector<bool> VerifySignatures(const std::vector<ledger::TransactionRef>& txs,
                                   const std::function<bool(const Hash&)>& verified,
                                   unsigned threads);

// ---- Offline verification (medchain verify) ----

struct VerifyReport {
  bool ok = true;
  uint64_t blocks = 0;
  uint64_t transactions = 0;
  uint64_t invalid_transactions = 0;  // marked invalid in their blocks (that is allowed)
  uint64_t checkpoints = 0;
  uint64_t bytes = 0;
  Hash final_root{};
  uint64_t fault_height = 0;  // when !ok
  std::string fault;          // when !ok
};

struct VerifyOptions {
  unsigned threads = 0;  // 0: one per core
  // Called every ~0.5 s with (height, top height) for a progress line.
  std::function<void(uint64_t, uint64_t)> progress;
  // Checks a checkpoint note of `height` against the tip it should sign, with
  // the signing keys of registered nodes. Empty: checkpoints are not checked.
  std::function<Status(const std::string& note, const Tip& tip,
                       const std::vector<std::pair<std::string, ledger::PublicKey>>& nodes)>
      check_checkpoint;
};

// Re-hashes and re-checks every block, link, Merkle root and signature from
// genesis, re-running the state machine so the proposer keys and the
// transaction results are checked too. Stops at the first fault.
Result<VerifyReport> VerifyChain(const Store& store, const VerifyOptions& options);

}  // namespace medchain::store
