// Copyright (c) medchain developers.
// The node's disk: RocksDB column families for blocks, the transaction index,
// Merkle log nodes, ledger state, sidecars (ciphertexts and wrapped keys) and
// checkpoints. Each block is committed in ONE WriteBatch (synced), so a crash
// at any instant leaves either the whole block or none of it.
//
// Column families and keys (docs/format.md, "Store"):
//   default      "tip" -> Tip, "log" -> merkle::State, "applied" -> u64 raft index,
//                "genesis" -> genesis document bytes
//   blocks       u64 height -> Block wire form
//   txs          32-byte tx id -> TxLocation
//   merkle       u8 level || u64 index -> 32-byte node hash
//   state        ledger state keys (ledger/state.h)
//   sidecar      "c/" record \0 u32 version -> ciphertext
//                "w/" record \0 u32 version recipient -> sealed data key
//   checkpoints  u64 height -> signed checkpoint note; "latest"
// Integers big-endian.
//
// Threads: every method is thread-safe. Reads see committed blocks only.
// One writer at a time (the applier) calls CommitBlock.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "medchain/core/merkle.h"
#include "medchain/ledger/apply.h"
#include "medchain/ledger/block.h"
#include "medchain/ledger/state.h"

namespace medchain::store {

struct StoreOptions {
  std::string path;
  bool sync = true;        // fsync the WAL on every block (durable commits)
  bool read_only = false;  // open for inspection (medchain verify)
  size_t block_cache_mb = 64;
};

// The last committed block.
struct Tip {
  uint64_t height = 0;
  Hash hash{};
  uint64_t timestamp_ms = 0;
  uint64_t log_size = 0;
  Hash log_root{};

  Bytes Encode() const;
  static Result<Tip> Decode(ByteView bytes);
};

// Where a committed transaction is and what became of it.
struct TxLocation {
  uint64_t height = 0;
  uint32_t index = 0;       // position in the block
  uint64_t leaf_index = 0;  // position in the Merkle log
  ledger::TxResult result;

  Bytes Encode() const;
  static Result<TxLocation> Decode(ByteView bytes);
};

// Everything one block changes, written atomically.
struct BlockCommit {
  uint64_t height = 0;
  Bytes block_bytes;
  Tip tip;
  std::vector<std::pair<Hash, TxLocation>> txs;
  std::vector<merkle::NodeWrite> nodes;
  merkle::State log_state;
  const std::map<std::string, std::optional<Bytes>, std::less<>>* state_writes = nullptr;
  // Sidecar writes (key as in the table above) and records whose sidecars go.
  std::vector<std::pair<std::string, Bytes>> sidecar_writes;
  std::vector<std::string> erased_records;
  uint64_t applied_index = 0;    // consensus log index of this block (0: none)
  std::string checkpoint;        // signed note for this block (may be empty)
  std::optional<Bytes> genesis;  // block 0 only: the genesis document
};

class Store {
 public:
  static Result<std::unique_ptr<Store>> Open(const StoreOptions& options);
  virtual ~Store() = default;

  // Empty store: no genesis yet.
  virtual bool Empty() const = 0;
  virtual Tip GetTip() const = 0;
  virtual merkle::State GetLogState() const = 0;
  virtual uint64_t AppliedIndex() const = 0;
  virtual Result<std::optional<Bytes>> GetGenesis() const = 0;

  virtual Result<std::optional<Bytes>> GetBlockBytes(uint64_t height) const = 0;
  virtual Result<std::optional<ledger::Block>> GetBlock(uint64_t height) const = 0;
  virtual Result<std::optional<TxLocation>> FindTx(const Hash& id) const = 0;
  // The committed transaction and its location.
  virtual Result<std::optional<std::pair<ledger::TransactionRef, TxLocation>>> GetTx(
      const Hash& id) const = 0;

  // Merkle proofs against the committed log (sizes up to GetTip().log_size).
  virtual const merkle::NodeReader& Nodes() const = 0;
  virtual Result<Hash> LogRootAt(uint64_t size) const = 0;
  virtual Result<std::vector<Hash>> InclusionProof(uint64_t leaf, uint64_t size) const = 0;
  virtual Result<std::vector<Hash>> ConsistencyProof(uint64_t size1, uint64_t size2) const = 0;

  // Committed ledger state.
  virtual const ledger::StateReader& State() const = 0;

  // Sidecars.
  virtual Result<std::optional<Bytes>> GetCiphertext(std::string_view record_id,
                                                     uint32_t version) const = 0;
  virtual Result<std::optional<Bytes>> GetWrappedKey(std::string_view record_id, uint32_t version,
                                                     std::string_view recipient) const = 0;

  virtual Result<std::optional<std::string>> GetCheckpoint(uint64_t height) const = 0;
  virtual Result<std::optional<std::string>> LatestCheckpoint() const = 0;

  // Writes a block and everything it changes in one synced batch. After an
  // erasure, compacts the erased ranges so the ciphertexts leave the disk.
  virtual Status CommitBlock(const BlockCommit& commit) = 0;

  // Flushes memtables and waits for compactions: erased data leaves SST and
  // WAL files (used after erasures and by tests).
  virtual Status CompactAll() = 0;

  // Writes a consistent point-in-time copy of the whole store into `dir`, a
  // folder that must not exist yet (its parent must): a RocksDB checkpoint,
  // with SST files hard-linked when `dir` is on the same filesystem and
  // copied otherwise. Commits go on while it runs; the copy holds exactly
  // the blocks committed before some instant during the call (never half a
  // block). Open the copy (read-only) to learn its tip. The copy of an SST
  // file that is hard-linked keeps its data on disk after the live store
  // compacts it away: an erasure does not reach copies (docs/operations.md).
  virtual Status WriteCopy(const std::string& dir) const = 0;

  // Stores a signed checkpoint of the block at `height` (and as the latest).
  virtual Status PutCheckpoint(uint64_t height, std::string_view note) = 0;

  // Records that consensus entries up to `index` are applied (entries that
  // carried no block, e.g. stale proposals, or a snapshot installed).
  virtual Status SetAppliedIndex(uint64_t index) = 0;

  // Overwrites a stored block's bytes WITHOUT any check: for tamper tests
  // and tools that simulate an attacker with disk access.
  virtual Status UnsafePutBlockBytes(uint64_t height, ByteView bytes) = 0;
};

// Sidecar keys.
std::string CiphertextKey(std::string_view record_id, uint32_t version);
std::string WrappedKeyKey(std::string_view record_id, uint32_t version, std::string_view recipient);

}  // namespace medchain::store
