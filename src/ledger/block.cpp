// Copyright (c) medchain developers.
#include "medchain/ledger/block.h"

#include "medchain/core/codec.h"
#include "medchain/core/merkle.h"
#include "medchain/core/sha256.h"

namespace medchain::ledger {

Bytes BlockHeader::Encode() const {
  Encoder e(200);
  e.U8(kBlockVersion).U64(height).Fixed(prev_hash).U64(timestamp_ms).Fixed(proposer).U64(term);
  e.U32(tx_count).Fixed(tx_root).U64(log_size).Fixed(log_root);
  return e.Take();
}

static void DecodeHeader(Decoder& d, BlockHeader& h) {
  uint8_t version = d.U8("version");
  if (d.ok() && version != kBlockVersion) {
    d.Fail("version", "unknown version " + std::to_string(version) + " (this node knows 1)");
  }
  h.height = d.U64("height");
  h.prev_hash = d.FixedHash("prev_hash");
  h.timestamp_ms = d.U64("timestamp_ms");
  d.Fixed("proposer", h.proposer);
  h.term = d.U64("term");
  h.tx_count = d.U32("tx_count");
  h.tx_root = d.FixedHash("tx_root");
  h.log_size = d.U64("log_size");
  h.log_root = d.FixedHash("log_root");
  if (d.ok() && h.tx_count > kMaxBlockTxs) d.Fail("tx_count", "exceeds the limit");
}

Result<BlockHeader> BlockHeader::Decode(ByteView bytes) {
  BlockHeader h;
  Decoder d(bytes, "block header");
  DecodeHeader(d, h);
  MC_RETURN_IF_ERROR(d.Finish());
  return h;
}

Hash BlockHeader::ComputeHash() const {
  return Sha256Digest(Encode());
}

Bytes BlockHeader::SigningMessage() const {
  Encoder e;
  e.Fixed(AsBytes(kBlockSigningDomain)).Fixed(Encode());
  return e.Take();
}

Bytes Block::Encode() const {
  size_t total = 300;
  for (const auto& tx : txs) total += tx->bytes().size() + 3;
  Encoder e(total);
  e.Var(header.Encode()).Fixed(signature).Varint(txs.size());
  for (const auto& tx : txs) e.Var(tx->bytes());
  return e.Take();
}

Result<Block> Block::Decode(ByteView bytes) {
  if (bytes.size() > kMaxBlockSize) return Status::InvalidArgument("block: exceeds the size limit");
  Block b;
  Decoder d(bytes, "block");
  ByteView header = d.VarView("header", 1024);
  if (d.ok()) {
    auto h = BlockHeader::Decode(header);
    if (!h.ok()) return h.status();
    b.header = *h;
  }
  d.Fixed("signature", b.signature);
  uint64_t n = d.Count("txs", kMaxBlockTxs);
  if (d.ok() && n != b.header.tx_count) {
    d.Fail("txs", "holds " + std::to_string(n) + " transactions, the header says " +
                      std::to_string(b.header.tx_count));
  }
  b.txs.reserve(n);
  for (uint64_t i = 0; i < n && d.ok(); ++i) {
    ByteView raw = d.VarView("tx", kMaxTxSize);
    if (!d.ok()) break;
    auto tx = Transaction::Decode(raw);
    if (!tx.ok()) return tx.status().Prefixed("block: transaction " + std::to_string(i));
    b.txs.push_back(std::move(*tx));
  }
  MC_RETURN_IF_ERROR(d.Finish());
  return b;
}

Hash ComputeTxRoot(const std::vector<TransactionRef>& txs) {
  std::vector<Hash> leaves;
  leaves.reserve(txs.size());
  merkle::Hasher hasher;
  for (const auto& tx : txs) leaves.push_back(hasher.Leaf(tx->bytes()));
  return merkle::ComputeRoot(leaves);
}

Bytes Proposal::Encode() const {
  Bytes blk = block.Encode();
  size_t total = blk.size() + 16;
  std::vector<Bytes> encoded;
  encoded.reserve(sidecars.size());
  for (const auto& [i, s] : sidecars) {
    encoded.push_back(s.Encode());
    total += encoded.back().size() + 8;
  }
  Encoder e(total);
  e.U8(1).Var(blk).Varint(sidecars.size());
  for (size_t k = 0; k < sidecars.size(); ++k) e.Varint(sidecars[k].first).Var(encoded[k]);
  return e.Take();
}

Result<Proposal> Proposal::Decode(ByteView bytes) {
  Proposal p;
  Decoder d(bytes, "proposal");
  uint8_t version = d.U8("version");
  if (d.ok() && version != 1) d.Fail("version", "unknown version " + std::to_string(version));
  ByteView blk = d.VarView("block", kMaxBlockSize);
  if (!d.ok()) return d.status();
  MC_ASSIGN_OR_RETURN(p.block, Block::Decode(blk));
  uint64_t n = d.Count("sidecars", p.block.txs.size());
  int64_t last = -1;
  for (uint64_t k = 0; k < n && d.ok(); ++k) {
    uint64_t index = d.Varint("sidecars.index");
    ByteView raw = d.VarView("sidecars.sidecar", kMaxCiphertextSize + 1024 * 1024);
    if (!d.ok()) break;
    if (index >= p.block.txs.size() || static_cast<int64_t>(index) <= last) {
      d.Fail("sidecars.index", "out of range or not ascending");
      break;
    }
    last = static_cast<int64_t>(index);
    auto s = Sidecar::Decode(raw);
    if (!s.ok()) return s.status().Prefixed("proposal");
    p.sidecars.emplace_back(static_cast<uint32_t>(index), std::move(*s));
  }
  MC_RETURN_IF_ERROR(d.Finish());
  return p;
}

}  // namespace medchain::ledger
