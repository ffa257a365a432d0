// Copyright (c) medchain developers.
// The deterministic state machine: given the state before a block and the
// block, the result of every transaction and the state writes. Every node
// runs it on every block; the same inputs give the same outputs on every
// node (no clock, no randomness, no I/O: time is the block's timestamp).
//
// Invalid is not broken (after bitcoin's consensus/validation.h): a
// transaction that breaks a rule is kept in its block, marked invalid with a
// reason, and changes nothing else. A corrupt state value is an error.
#pragma once

#include <vector>

#include "medchain/ledger/block.h"
#include "medchain/ledger/state.h"

namespace medchain::ledger {

enum class TxCode : uint8_t {
  kOk = 0,
  kInvalid = 1,  // broke a rule; `reason` says which
  kRefused = 2,  // a read (or release) that the access policy refused; recorded
};
std::string_view TxCodeName(TxCode code);

struct TxResult {
  TxCode code = TxCode::kOk;
  std::string reason;           // empty when kOk
  bool break_glass = false;     // reads granted by break-glass
  std::vector<KeyRef> records;  // reads: the record versions the requester may fetch

  Bytes Encode() const;
  static Result<TxResult> Decode(ByteView bytes);
  bool ok() const { return code == TxCode::kOk; }
};

struct BlockContext {
  uint64_t height = 0;
  uint64_t time_ms = 0;     // the block's timestamp
  uint64_t first_leaf = 0;  // log index of the block's first transaction
  ChainParams params;
};

struct BlockOutcome {
  std::vector<TxResult> results;  // one per transaction, in block order
};

// Applies the transactions of a block to `delta` (whose base is the state
// before the block). `signature_ok[i]` says whether transaction i's signature
// was checked and holds (the caller verifies in parallel, once per node).
// Returns an error only for corrupt state; rule violations are results.
Result<BlockOutcome> ApplyTransactions(const BlockContext& ctx,
                                       const std::vector<TransactionRef>& txs,
                                       const std::vector<bool>& signature_ok, StateDelta& delta);

// Applies the genesis block's single kGenesis transaction.
Status ApplyGenesis(const Genesis& genesis, const Transaction& genesis_tx, StateDelta& delta);

// Builds block 0 from a genesis document (deterministic: every node derives
// the same block).
Block MakeGenesisBlock(const Genesis& genesis);

// Whether the author of `tx` may author it now (docs/security.md, "Who may
// act"): a registered participant, not suspended, and for a practitioner,
// of a registered organisation that is not suspended. A self-registration
// (a patient registering their own key) needs no registered author. The
// same rule refuses a transaction at a node's pool and marks it invalid in
// a block (a block can still carry one: the state changed between the two).
enum class AuthorStanding : uint8_t {
  kActive = 0,
  kSelfRegistration,       // register_participant of a patient by their own key
  kUnregistered,           // the key belongs to no participant
  kSuspended,              // the participant is suspended
  kOrganisationSuspended,  // a practitioner whose organisation is suspended or gone
};
struct AuthorCheck {
  AuthorStanding standing = AuthorStanding::kUnregistered;
  std::optional<Participant> author;  // set unless kUnregistered / kSelfRegistration
  std::string reason;                 // why it may not act; empty when it may
  bool may_act() const {
    return standing == AuthorStanding::kActive || standing == AuthorStanding::kSelfRegistration;
  }
};
Result<AuthorCheck> CheckAuthor(const StateView& view, const Transaction& tx);

// What ApplyTransactions would decide for `tx` alone in a block at `height`
// and `time_ms` on top of `state`, as if its signature held, without
// changing anything. Nodes use it to see beforehand whether a read request
// would be refused (for the per-participant limit on refused reads); the
// block's own decision is the one that counts.
Result<TxResult> PreviewTransaction(const StateReader& state, const ChainParams& params,
                                    uint64_t height, uint64_t time_ms, const Transaction& tx);

// Checks that would be made before a transaction enters a pool: decodes the
// body for its type and checks its shape (ids, sorted lists, sizes) without
// state. The state-dependent rules run in ApplyTransactions.
Status CheckTransactionShape(const Transaction& tx);

}  // namespace medchain::ledger
