// Copyright (c) medchain developers.
#include "medchain/store/chain.h"

#include <atomic>
#include <cassert>
#include <chrono>
#include <set>
#include <thread>

#include "medchain/core/merkle.h"
#include "medchain/core/sha256.h"
#include "medchain/crypto/ed25519.h"

namespace medchain::store {

using ledger::Block;
using ledger::BlockHeader;
using ledger::TransactionRef;
using ledger::TxType;

namespace {

// Runs fn(i) for i in [0, n) on up to `threads` threads.
template <class F>
void ParallelFor(size_t n, unsigned threads, F&& fn) {
  if (threads <= 1 || n < 64) {
    for (size_t i = 0; i < n; ++i) fn(i);
    return;
  }
  std::atomic<size_t> next{0};
  auto worker = [&] {
    for (size_t i = next.fetch_add(16); i < n; i = next.fetch_add(16)) {
      for (size_t k = i; k < std::min(n, i + 16); ++k) fn(k);
    }
  };
  std::vector<std::thread> pool;
  for (unsigned t = 1; t < threads; ++t) pool.emplace_back(worker);
  worker();
  for (auto& t : pool) t.join();
}

unsigned DefaultThreads() {
  unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 2 : n;
}

// The node signing keys registered (and not suspended) in a state.
std::vector<std::pair<std::string, ledger::PublicKey>> NodeKeys(const ledger::StateReader& state) {
  std::vector<std::pair<std::string, ledger::PublicKey>> out;
  state.Scan("p/", [&](std::string_view, ByteView v) {
    auto p = ledger::Participant::Decode(v);
    if (p.ok() && p->role == ledger::Role::kNode && !p->suspended) {
      out.emplace_back(p->id, p->sign_key);
    }
    return true;
  });
  return out;
}

// Checks the header's own fields against its parent and its transactions,
// appending the block's leaves to `log`. Returns the reason of the first
// fault, or empty. The header signature is checked by the caller.
std::string CheckBlockBody(const Block& b, const Tip& parent, merkle::Log& log,
                           std::vector<merkle::NodeWrite>* nodes) {
  const BlockHeader& h = b.header;
  if (h.timestamp_ms < parent.timestamp_ms) {
    return "timestamp " + std::to_string(h.timestamp_ms) + " is before the previous block's " +
           std::to_string(parent.timestamp_ms);
  }
  if (h.tx_count != b.txs.size()) return "tx_count does not match the transactions";
  merkle::Hasher hasher;
  std::vector<Hash> leaves;
  leaves.reserve(b.txs.size());
  for (const auto& tx : b.txs) leaves.push_back(hasher.Leaf(tx->bytes()));
  if (merkle::ComputeRoot(leaves) != h.tx_root) {
    return "tx_root does not match the block's transactions";
  }
  for (const Hash& leaf : leaves) {
    Status s = log.Append(leaf, nodes);
    if (!s.ok()) return "log append: " + s.message();
  }
  if (h.log_size != log.Size()) {
    return "log_size " + std::to_string(h.log_size) + " should be " + std::to_string(log.Size());
  }
  if (h.log_root != log.Root()) return "log_root does not match the log after this block";
  return {};
}

bool HasKey(const std::vector<std::pair<std::string, ledger::PublicKey>>& keys,
            const ledger::PublicKey& k) {
  for (const auto& [id, key] : keys) {
    if (key == k) return true;
  }
  return false;
}

}  // namespace

std::vector<bool> VerifySignatures(const std::vector<TransactionRef>& txs,
                                   const std::function<bool(const Hash&)>& verified,
                                   unsigned threads) {
  std::vector<char> ok(txs.size(), 0);
  ParallelFor(txs.size(), threads == 0 ? DefaultThreads() : threads, [&](size_t i) {
    ok[i] = (verified && verified(txs[i]->id())) || txs[i]->VerifySignature();
  });
  return std::vector<bool>(ok.begin(), ok.end());
}

Result<std::unique_ptr<Chain>> Chain::Open(Store* store,
                                           const std::optional<ledger::Genesis>& genesis) {
  MC_ASSIGN_OR_RETURN(auto stored, store->GetGenesis());
  if (stored) {
    MC_ASSIGN_OR_RETURN(auto g, ledger::DecodeBody<ledger::Genesis>(*stored, "genesis"));
    if (genesis && ledger::EncodeBody(*genesis) != *stored) {
      return Status::FailedPrecondition(
          "the data directory holds a different chain (its genesis differs from the configured "
          "one)");
    }
    Block b0 = ledger::MakeGenesisBlock(g);
    MC_ASSIGN_OR_RETURN(auto stored_b0, store->GetBlockBytes(0));
    if (!stored_b0 || *stored_b0 != b0.Encode()) {
      return Status::Corruption("block 0 does not match the stored genesis document");
    }
    return std::unique_ptr<Chain>(new Chain(store, std::move(g), b0.hash()));
  }
  if (!store->Empty()) return Status::Corruption("the store has blocks but no genesis document");
  if (!genesis) return Status::FailedPrecondition("the store is empty and no genesis was given");
  // Write block 0.
  Block b0 = ledger::MakeGenesisBlock(*genesis);
  ledger::StateDelta delta(store->State());
  MC_RETURN_IF_ERROR(ledger::ApplyGenesis(*genesis, *b0.txs[0], delta));
  merkle::Log log(&store->Nodes());
  BlockCommit c;
  c.height = 0;
  c.block_bytes = b0.Encode();
  MC_RETURN_IF_ERROR(log.Append(merkle::HashLeaf(b0.txs[0]->bytes()), &c.nodes));
  c.tip = Tip{0, b0.hash(), b0.header.timestamp_ms, log.Size(), log.Root()};
  TxLocation loc;
  c.txs.emplace_back(b0.txs[0]->id(), loc);
  c.log_state = log.state();
  c.state_writes = &delta.writes();
  c.genesis = ledger::EncodeBody(*genesis);
  MC_RETURN_IF_ERROR(store->CommitBlock(c));
  return std::unique_ptr<Chain>(new Chain(store, *genesis, b0.hash()));
}

std::pair<Block, merkle::State> Chain::BuildBlock(std::vector<TransactionRef> txs,
                                                  const Tip& parent,
                                                  const merkle::State& parent_log, uint64_t time_ms,
                                                  uint64_t term, const ledger::PublicKey& proposer,
                                                  const HeaderSigner& sign) const {
  Block b;
  b.txs = std::move(txs);
  BlockHeader& h = b.header;
  h.height = parent.height + 1;
  h.prev_hash = parent.hash;
  h.timestamp_ms = std::max(time_ms, parent.timestamp_ms);
  h.proposer = proposer;
  h.term = term;
  h.tx_count = static_cast<uint32_t>(b.txs.size());
  // Only the frontier is needed to append and take the root: no reads.
  merkle::Log log(&m_store->Nodes(), parent_log);
  merkle::Hasher hasher;
  std::vector<Hash> leaves;
  leaves.reserve(b.txs.size());
  std::vector<merkle::NodeWrite> ignored;
  for (const auto& tx : b.txs) {
    leaves.push_back(hasher.Leaf(tx->bytes()));
    // Fails only for a log of 2^64 - 1 leaves, which no chain reaches.
    [[maybe_unused]] Status appended = log.Append(leaves.back(), &ignored);
    assert(appended.ok());
  }
  h.tx_root = merkle::ComputeRoot(leaves);
  h.log_size = log.Size();
  h.log_root = log.Root();
  b.signature = sign(h);
  return {std::move(b), log.state()};
}

Result<ApplyOutcome> Chain::Apply(const ledger::Proposal& proposal, uint64_t consensus_index,
                                  const std::function<bool(const Hash&)>& verified,
                                  const CheckpointMaker& checkpoint) {
  const Block& b = proposal.block;
  const BlockHeader& h = b.header;
  ApplyOutcome out;
  out.height = h.height;
  out.hash = b.hash();
  const Tip tip = m_store->GetTip();
  if (h.height != tip.height + 1 || h.prev_hash != tip.hash) {
    out.kind = ApplyOutcome::Kind::kStale;
    out.reason = "block " + std::to_string(h.height) + " does not extend the tip at height " +
                 std::to_string(tip.height);
    return out;
  }
  auto invalid = [&](std::string why) {
    out.kind = ApplyOutcome::Kind::kInvalid;
    out.reason = "block " + std::to_string(h.height) + ": " + why;
    return out;
  };
  // The proposer must be a registered, active node, and its signature hold.
  MC_ASSIGN_OR_RETURN(auto proposer,
                      ledger::StateView(m_store->State()).GetParticipantByKey(h.proposer));
  if (!proposer || proposer->role != ledger::Role::kNode || proposer->suspended) {
    return invalid("the proposer key is not an active registered node");
  }
  if (!crypto::Verify(h.proposer, h.SigningMessage(), b.signature)) {
    return invalid("the header signature does not verify");
  }
  merkle::Log log(&m_store->Nodes(), m_store->GetLogState());
  BlockCommit c;
  std::string fault = CheckBlockBody(b, tip, log, &c.nodes);
  if (!fault.empty()) return invalid(fault);

  // Signatures: checked once per node, in parallel.
  std::vector<bool> sig_ok = VerifySignatures(b.txs, verified, 0);

  ledger::StateDelta delta(m_store->State());
  ledger::BlockContext ctx{h.height, h.timestamp_ms, tip.log_size, m_genesis.params};
  MC_ASSIGN_OR_RETURN(ledger::BlockOutcome outcome,
                      ledger::ApplyTransactions(ctx, b.txs, sig_ok, delta));

  // Erasures in this block: their sidecars go, including any written earlier
  // in the same block.
  std::set<std::string> erased;
  for (size_t i = 0; i < b.txs.size(); ++i) {
    if (b.txs[i]->type() == TxType::kEraseRecord && outcome.results[i].ok()) {
      auto e = ledger::DecodeBody<ledger::EraseRecord>(b.txs[i]->body(), "erase_record");
      if (e.ok()) erased.insert(e->record_id);
    }
  }
  for (const auto& [index, sidecar] : proposal.sidecars) {
    const ledger::Transaction& tx = *b.txs[index];
    if (!outcome.results[index].ok()) continue;
    Status s = ledger::CheckSidecar(tx, &sidecar);
    if (!s.ok()) {
      // The body (signed, in the block) is what counts; a sidecar that does
      // not match it is dropped. Only a faulty leader sends one.
      std::fprintf(stderr, "medchain: warning: block %llu tx %u: dropping sidecar: %s\n",
                   static_cast<unsigned long long>(h.height), index, s.message().c_str());
      continue;
    }
    if (tx.type() == TxType::kPutRecord) {
      auto put = ledger::DecodeBody<ledger::PutRecord>(tx.body(), "put_record");
      if (!put.ok() || erased.count(put->record_id)) continue;
      c.sidecar_writes.emplace_back(CiphertextKey(put->record_id, put->version),
                                    sidecar.ciphertext);
    }
    for (const auto& k : sidecar.keys) {
      if (erased.count(k.record_id)) continue;
      c.sidecar_writes.emplace_back(WrappedKeyKey(k.record_id, k.version, k.recipient), k.sealed);
    }
  }

  c.height = h.height;
  c.block_bytes = b.Encode();
  c.tip = Tip{h.height, out.hash, h.timestamp_ms, log.Size(), log.Root()};
  c.txs.reserve(b.txs.size());
  std::set<Hash> seen;
  for (size_t i = 0; i < b.txs.size(); ++i) {
    // A transaction ordered twice (a retry after a leader change) keeps its
    // first index entry; the copy is in the block and the log, marked invalid.
    const Hash& id = b.txs[i]->id();
    if (!seen.insert(id).second) continue;
    MC_ASSIGN_OR_RETURN(auto earlier, m_store->FindTx(id));
    if (earlier) continue;
    TxLocation loc;
    loc.height = h.height;
    loc.index = static_cast<uint32_t>(i);
    loc.leaf_index = tip.log_size + i;
    loc.result = outcome.results[i];
    c.txs.emplace_back(b.txs[i]->id(), std::move(loc));
  }
  c.log_state = log.state();
  c.state_writes = &delta.writes();
  c.erased_records.assign(erased.begin(), erased.end());
  c.applied_index = consensus_index;
  if (checkpoint) c.checkpoint = checkpoint(c.tip);
  MC_RETURN_IF_ERROR(m_store->CommitBlock(c));
  out.first_leaf = tip.log_size;
  out.results = std::move(outcome.results);
  return out;
}

Result<VerifyReport> VerifyChain(const Store& store, const VerifyOptions& options) {
  VerifyReport r;
  const unsigned threads = options.threads == 0 ? DefaultThreads() : options.threads;
  const Tip stored_tip = store.GetTip();
  auto fault = [&](uint64_t height, std::string why) {
    r.ok = false;
    r.fault_height = height;
    r.fault = std::move(why);
    return r;
  };
  MC_ASSIGN_OR_RETURN(auto genesis_doc, store.GetGenesis());
  if (!genesis_doc) return fault(0, "the store holds no genesis document");
  auto genesis = ledger::DecodeBody<ledger::Genesis>(*genesis_doc, "genesis");
  if (!genesis.ok()) return fault(0, genesis.status().message());

  ledger::MemoryState state;
  merkle::MemoryNodeStore nodes;
  merkle::Log log(&nodes);
  Tip tip;
  auto last_progress = std::chrono::steady_clock::now();
  for (uint64_t height = 0; height <= stored_tip.height; ++height) {
    auto raw = store.GetBlockBytes(height);
    if (!raw.ok()) return fault(height, raw.status().message());
    if (!*raw) return fault(height, "block is missing");
    r.bytes += (*raw)->size();
    auto decoded = Block::Decode(**raw);
    if (!decoded.ok()) return fault(height, "cannot be decoded: " + decoded.status().message());
    const Block& b = *decoded;
    const BlockHeader& h = b.header;
    if (h.height != height) return fault(height, "header says height " + std::to_string(h.height));
    std::vector<merkle::NodeWrite> writes;
    ledger::StateDelta delta(state);
    std::vector<ledger::TxResult> results;
    if (height == 0) {
      Block expected = ledger::MakeGenesisBlock(*genesis);
      if (expected.Encode() != **raw)
        return fault(0, "block 0 does not match the genesis document");
      if (Status s = log.Append(merkle::HashLeaf(b.txs[0]->bytes()), &writes); !s.ok())
        return fault(0, s.message());
      Status s = ledger::ApplyGenesis(*genesis, *b.txs[0], delta);
      if (!s.ok()) return fault(0, s.message());
      results.emplace_back();
    } else {
      if (h.prev_hash != tip.hash) {
        return fault(height,
                     "prev_hash does not match the hash of block " + std::to_string(height - 1));
      }
      auto keys = NodeKeys(state);
      if (!HasKey(keys, h.proposer))
        return fault(height, "the proposer is not an active registered node");
      if (!crypto::Verify(h.proposer, h.SigningMessage(), b.signature)) {
        return fault(height, "the header signature does not verify");
      }
      std::string why = CheckBlockBody(b, tip, log, &writes);
      if (!why.empty()) return fault(height, why);
      std::vector<bool> sig_ok = VerifySignatures(b.txs, nullptr, threads);
      ledger::BlockContext ctx{height, h.timestamp_ms, tip.log_size, genesis->params};
      auto outcome = ledger::ApplyTransactions(ctx, b.txs, sig_ok, delta);
      if (!outcome.ok()) return fault(height, outcome.status().message());
      results = std::move(outcome->results);
    }
    // The stored results and index must be what the rules give.
    for (size_t i = 0; i < b.txs.size(); ++i) {
      auto loc = store.FindTx(b.txs[i]->id());
      if (!loc.ok()) return fault(height, loc.status().message());
      if (!*loc || (*loc)->height > height || ((*loc)->height == height && (*loc)->index > i)) {
        return fault(height, "transaction " + ToHex(b.txs[i]->id()) + " is missing from the index");
      }
      bool duplicate = (*loc)->height != height || (*loc)->index != i;
      if (duplicate) {
        // A repeat of a transaction ordered earlier: it must have been refused.
        if (results[i].ok()) {
          return fault(height, "transaction " + std::to_string(i) +
                                   " repeats an earlier one but was not refused");
        }
        ++r.invalid_transactions;
        continue;
      }
      if (height > 0 &&
          ((*loc)->result.code != results[i].code || (*loc)->result.reason != results[i].reason)) {
        return fault(height, "the stored result of transaction " + std::to_string(i) +
                                 " differs from the one the rules give");
      }
      if (!results[i].ok()) ++r.invalid_transactions;
    }
    nodes.Put(writes);
    delta.ApplyTo(state);
    tip = Tip{height, b.hash(), h.timestamp_ms, log.Size(), log.Root()};
    r.blocks++;
    r.transactions += b.txs.size();
    if (options.check_checkpoint && height > 0) {
      auto note = store.GetCheckpoint(height);
      if (!note.ok()) return fault(height, note.status().message());
      if (*note) {
        Status s = options.check_checkpoint(**note, tip, NodeKeys(state));
        if (!s.ok()) return fault(height, "checkpoint: " + s.message());
        r.checkpoints++;
      }
    }
    if (options.progress) {
      auto now = std::chrono::steady_clock::now();
      if (now - last_progress > std::chrono::milliseconds(500)) {
        options.progress(height, stored_tip.height);
        last_progress = now;
      }
    }
  }
  if (tip.hash != stored_tip.hash || tip.log_root != stored_tip.log_root ||
      tip.log_size != stored_tip.log_size) {
    return fault(stored_tip.height, "the stored tip does not match the chain");
  }
  r.final_root = tip.log_root;
  return r;
}

}  // namespace medchain::store
