// Copyright (c) medchain developers.
// Blocks: a signed header and the transactions it orders.
//
// Header wire form (docs/format.md, "Block header"):
//   u8      version = 1
//   u64     height          0 for genesis
//   fixed32 prev_hash       hash of the previous header; zero for genesis
//   u64     timestamp_ms    proposer's clock; never less than the previous block's
//   fixed32 proposer        signing key of the proposing node; zero for genesis
//   u64     term            consensus term the block was proposed in
//   u32     tx_count
//   fixed32 tx_root         RFC 6962 root over this block's transactions
//   u64     log_size        transactions in the ledger's log after this block
//   fixed32 log_root        root of the whole log after this block
//
// Block hash = SHA-256(header encoding). The proposer signs
// kBlockSigningDomain || header encoding.
//
// Block wire form: bytes header, fixed64 signature, varint n, n x bytes tx.
#pragma once

#include <vector>

#include "medchain/ledger/bodies.h"
#include "medchain/ledger/transaction.h"

namespace medchain::ledger {

inline constexpr uint8_t kBlockVersion = 1;
inline constexpr std::string_view kBlockSigningDomain = "medchain/block/v1\n";
inline constexpr size_t kMaxBlockTxs = 100000;
inline constexpr size_t kMaxBlockSize = 64 * 1024 * 1024;

struct BlockHeader {
  uint64_t height = 0;
  Hash prev_hash{};
  uint64_t timestamp_ms = 0;
  PublicKey proposer{};
  uint64_t term = 0;
  uint32_t tx_count = 0;
  Hash tx_root{};
  uint64_t log_size = 0;
  Hash log_root{};

  Bytes Encode() const;
  static Result<BlockHeader> Decode(ByteView bytes);
  Hash ComputeHash() const;
  Bytes SigningMessage() const;  // kBlockSigningDomain || Encode()
  bool operator==(const BlockHeader&) const = default;
};

struct Block {
  BlockHeader header;
  SignatureBytes signature{};
  std::vector<TransactionRef> txs;

  Bytes Encode() const;
  static Result<Block> Decode(ByteView bytes);
  Hash hash() const { return header.ComputeHash(); }
};

// RFC 6962 root over the transactions' wire forms.
Hash ComputeTxRoot(const std::vector<TransactionRef>& txs);

// What the leader replicates through consensus: a block and the sidecars of
// the transactions that carry one (keyed by position in the block).
struct Proposal {
  Block block;
  std::vector<std::pair<uint32_t, Sidecar>> sidecars;  // sorted by index, unique

  Bytes Encode() const;
  static Result<Proposal> Decode(ByteView bytes);
};

}  // namespace medchain::ledger
