// Copyright (c) medchain developers.
#include "medchain/store/store.h"

#include <rocksdb/db.h>
#include <rocksdb/env.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/options.h>
#include <rocksdb/slice.h>
#include <rocksdb/table.h>
#include <rocksdb/utilities/checkpoint.h>
#include <rocksdb/utilities/options_util.h>
#include <rocksdb/write_batch.h>

#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <shared_mutex>

#include <spdlog/spdlog.h>

namespace medchain::store {

namespace {

std::string BE64(uint64_t v) {
  std::string s(8, '\0');
  for (int i = 7; i >= 0; --i) {
    s[static_cast<size_t>(i)] = static_cast<char>(v & 0xff);
    v >>= 8;
  }
  return s;
}
std::string BE32(uint32_t v) {
  std::string s(4, '\0');
  for (int i = 3; i >= 0; --i) {
    s[static_cast<size_t>(i)] = static_cast<char>(v & 0xff);
    v >>= 8;
  }
  return s;
}
rocksdb::Slice ToSlice(ByteView b) {
  return rocksdb::Slice(reinterpret_cast<const char*>(b.data()), b.size());
}
ByteView FromSlice(const rocksdb::Slice& s) {
  return ByteView(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}
Status FromRocks(const rocksdb::Status& s, std::string_view what) {
  if (s.ok()) return Status::Ok();
  std::string msg = std::string(what) + ": " + s.ToString();
  if (s.IsCorruption()) return Status::Corruption(msg);
  if (s.IsNotFound()) return Status::NotFound(msg);
  return Status::IOError(msg);
}

enum Cf : size_t { kDefault = 0, kBlocks, kTxs, kMerkle, kState, kSidecar, kCheckpoints, kCfCount };
const char* const kCfNames[kCfCount] = {"default", "blocks",  "txs",        "merkle",
                                        "state",   "sidecar", "checkpoints"};

std::string NodeKey(uint32_t level, uint64_t index) {
  return std::string(1, static_cast<char>(level)) + BE64(index);
}

}  // namespace

std::string CiphertextKey(std::string_view record_id, uint32_t version) {
  return "c/" + std::string(record_id) + std::string(1, '\0') + BE32(version);
}
std::string WrappedKeyKey(std::string_view record_id, uint32_t version,
                          std::string_view recipient) {
  return "w/" + std::string(record_id) + std::string(1, '\0') + BE32(version) +
         std::string(recipient);
}

Bytes Tip::Encode() const {
  Encoder e;
  e.U8(1).U64(height).Fixed(hash).U64(timestamp_ms).U64(log_size).Fixed(log_root);
  return e.Take();
}

Result<Tip> Tip::Decode(ByteView bytes) {
  Tip t;
  Decoder d(bytes, "tip");
  if (d.U8("version") != 1 && d.ok()) d.Fail("version", "unknown");
  t.height = d.U64("height");
  t.hash = d.FixedHash("hash");
  t.timestamp_ms = d.U64("timestamp_ms");
  t.log_size = d.U64("log_size");
  t.log_root = d.FixedHash("log_root");
  Status s = d.Finish();
  if (!s.ok()) return Status::Corruption(s.message());
  return t;
}

Bytes TxLocation::Encode() const {
  Encoder e;
  e.U8(1).U64(height).U32(index).U64(leaf_index).Var(result.Encode());
  return e.Take();
}

Result<TxLocation> TxLocation::Decode(ByteView bytes) {
  TxLocation t;
  Decoder d(bytes, "tx location");
  if (d.U8("version") != 1 && d.ok()) d.Fail("version", "unknown");
  t.height = d.U64("height");
  t.index = d.U32("index");
  t.leaf_index = d.U64("leaf_index");
  ByteView r = d.VarView("result", 64 * 1024);
  Status s = d.Finish();
  if (!s.ok()) return Status::Corruption(s.message());
  MC_ASSIGN_OR_RETURN(t.result, ledger::TxResult::Decode(r));
  return t;
}

namespace {

class RocksStore;

// RocksDB's own info log goes to the node's log, not to a LOG file in the
// data folder: on a full disk RocksDB writing that file failed an assertion
// (sync_without_flush_called_) and aborted a node that had halted cleanly.
class SpdlogRocksLogger final : public rocksdb::Logger {
 public:
  SpdlogRocksLogger() : rocksdb::Logger(rocksdb::InfoLogLevel::INFO_LEVEL) {}
  using rocksdb::Logger::Logv;
  void Logv(const char* format, va_list ap) override {
    Logv(rocksdb::InfoLogLevel::INFO_LEVEL, format, ap);
  }
  void Logv(const rocksdb::InfoLogLevel level, const char* format, va_list ap) override {
    if (level < GetInfoLogLevel()) return;
    char line[1024];
    const int n = std::vsnprintf(line, sizeof line, format, ap);
    if (n < 0) return;
    // RocksDB's routine chatter (compactions, options) is debug detail;
    // its warnings and errors are the node's.
    switch (level) {
      case rocksdb::InfoLogLevel::DEBUG_LEVEL:
      case rocksdb::InfoLogLevel::INFO_LEVEL:
      case rocksdb::InfoLogLevel::HEADER_LEVEL:
        spdlog::debug("rocksdb: {}", line);
        break;
      case rocksdb::InfoLogLevel::WARN_LEVEL:
        spdlog::warn("rocksdb: {}", line);
        break;
      default:
        spdlog::error("rocksdb: {}", line);
        break;
    }
  }
};

// A failing disk under the state. Treating a value as absent, or a scan as
// complete, could make this node decide a transaction differently from every
// other node: stop instead (the node restarts on a good disk, and Raft
// replays what was not applied).
[[noreturn]] void FatalStateReadError(const Status& s) {
  std::fprintf(stderr, "medchain: fatal: state read failed: %s\n", s.ToString().c_str());
  std::abort();
}

class RocksStateReader final : public ledger::StateReader {
 public:
  explicit RocksStateReader(const RocksStore& store) : m_store(store) {}
  std::optional<Bytes> Get(std::string_view key) const override;
  void Scan(std::string_view prefix,
            const std::function<bool(std::string_view, ByteView)>& fn) const override;

 private:
  const RocksStore& m_store;
};

class RocksNodeReader final : public merkle::NodeReader {
 public:
  explicit RocksNodeReader(const RocksStore& store) : m_store(store) {}
  std::optional<Hash> GetNode(uint32_t level, uint64_t index) const override;

 private:
  const RocksStore& m_store;
};

class RocksStore final : public Store {
 public:
  RocksStore() : m_state_reader(*this), m_node_reader(*this) {}
  ~RocksStore() override {
    for (auto* h : m_cfs) {
      if (h) m_db->DestroyColumnFamilyHandle(h);
    }
    if (m_db) m_db->Close();
  }

  Status Init(const StoreOptions& o) {
    m_options = o;
    rocksdb::Options opts;
    opts.create_if_missing = !o.read_only;
    opts.create_missing_column_families = !o.read_only;
    opts.max_open_files = 512;
    opts.info_log = std::make_shared<SpdlogRocksLogger>();
    opts.max_total_wal_size = 256 << 20;
    opts.IncreaseParallelism(2);
    // Erased sidecars must leave the disk: no WAL archive.
    opts.WAL_ttl_seconds = 0;
    opts.WAL_size_limit_MB = 0;
    rocksdb::BlockBasedTableOptions table;
    table.block_cache = rocksdb::NewLRUCache(o.block_cache_mb << 20);
    table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
    rocksdb::ColumnFamilyOptions cf_opts(opts);
    // Most point lookups on the hot path miss (a new nonce, a new tx id): a
    // bloom filter over the memtable answers them without a skip-list walk.
    cf_opts.memtable_whole_key_filtering = true;
    cf_opts.memtable_prefix_bloom_size_ratio = 0.05;
    cf_opts.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
    std::vector<rocksdb::ColumnFamilyDescriptor> cfs;
    for (const char* name : kCfNames) cfs.emplace_back(name, cf_opts);
    rocksdb::DB* db = nullptr;
    rocksdb::Status s;
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    if (o.read_only) {
      s = rocksdb::DB::OpenForReadOnly(opts, o.path, cfs, &handles, &db);
    } else {
      // Made here, so a new store's first start does not log RocksDB's
      // "Error when reading ... dir NotFound" at error level.
      std::error_code ec;
      std::filesystem::create_directories(o.path, ec);
      s = rocksdb::DB::Open(opts, o.path, cfs, &handles, &db);
    }
    if (!s.ok()) return FromRocks(s, "opening the store at " + o.path);
    m_db.reset(db);
    for (size_t i = 0; i < kCfCount; ++i) m_cfs[i] = handles[i];
    // Load the tip and log state.
    std::string v;
    s = m_db->Get(rocksdb::ReadOptions(), m_cfs[kDefault], "tip", &v);
    if (s.IsNotFound()) {
      m_empty = true;
      return Status::Ok();
    }
    if (!s.ok()) return FromRocks(s, "reading the tip");
    MC_ASSIGN_OR_RETURN(m_tip, Tip::Decode(AsBytes(v)));
    s = m_db->Get(rocksdb::ReadOptions(), m_cfs[kDefault], "log", &v);
    if (!s.ok()) return FromRocks(s, "reading the log state");
    auto log = merkle::State::Decode(AsBytes(v));
    if (!log.ok()) return Status::Corruption("log state: " + log.status().message());
    m_log = *log;
    s = m_db->Get(rocksdb::ReadOptions(), m_cfs[kDefault], "applied", &v);
    if (s.ok() && v.size() == 8) {
      uint64_t a = 0;
      for (char c : v) a = (a << 8) | static_cast<uint8_t>(c);
      m_applied = a;
    }
    m_empty = false;
    return Status::Ok();
  }

  bool Empty() const override {
    std::shared_lock lock(m_mu);
    return m_empty;
  }
  Tip GetTip() const override {
    std::shared_lock lock(m_mu);
    return m_tip;
  }
  merkle::State GetLogState() const override {
    std::shared_lock lock(m_mu);
    return m_log;
  }
  uint64_t AppliedIndex() const override {
    std::shared_lock lock(m_mu);
    return m_applied;
  }

  Result<std::optional<Bytes>> GetRaw(Cf cf, std::string_view key) const {
    std::string v;
    rocksdb::Status s = m_db->Get(rocksdb::ReadOptions(), m_cfs[cf], ToSlice(AsBytes(key)), &v);
    if (s.IsNotFound()) return std::optional<Bytes>();
    if (!s.ok()) return FromRocks(s, std::string("reading ") + kCfNames[cf]);
    return std::optional<Bytes>(ToBytes(v));
  }

  Result<std::optional<Bytes>> GetGenesis() const override { return GetRaw(kDefault, "genesis"); }

  Result<std::optional<Bytes>> GetBlockBytes(uint64_t height) const override {
    return GetRaw(kBlocks, BE64(height));
  }

  Result<std::optional<ledger::Block>> GetBlock(uint64_t height) const override {
    MC_ASSIGN_OR_RETURN(auto raw, GetBlockBytes(height));
    if (!raw) return std::optional<ledger::Block>();
    auto b = ledger::Block::Decode(*raw);
    if (!b.ok()) {
      return Status::Corruption("block " + std::to_string(height) + ": " + b.status().message());
    }
    return std::optional<ledger::Block>(std::move(*b));
  }

  Result<std::optional<TxLocation>> FindTx(const Hash& id) const override {
    MC_ASSIGN_OR_RETURN(auto raw, GetRaw(kTxs, AsString(id)));
    if (!raw) return std::optional<TxLocation>();
    MC_ASSIGN_OR_RETURN(auto loc, TxLocation::Decode(*raw));
    return std::optional<TxLocation>(std::move(loc));
  }

  Result<std::optional<std::pair<ledger::TransactionRef, TxLocation>>> GetTx(
      const Hash& id) const override {
    using Out = std::optional<std::pair<ledger::TransactionRef, TxLocation>>;
    MC_ASSIGN_OR_RETURN(auto loc, FindTx(id));
    if (!loc) return Out();
    MC_ASSIGN_OR_RETURN(auto block, GetBlock(loc->height));
    if (!block || loc->index >= block->txs.size()) {
      return Status::Corruption("transaction index points past block " +
                                std::to_string(loc->height));
    }
    return Out(std::make_pair(block->txs[loc->index], *loc));
  }

  const merkle::NodeReader& Nodes() const override { return m_node_reader; }

  Result<Hash> LogRootAt(uint64_t size) const override {
    merkle::Log log(&m_node_reader, GetLogState());
    return log.RootAt(size);
  }
  Result<std::vector<Hash>> InclusionProof(uint64_t leaf, uint64_t size) const override {
    merkle::Log log(&m_node_reader, GetLogState());
    return log.InclusionProof(leaf, size);
  }
  Result<std::vector<Hash>> ConsistencyProof(uint64_t size1, uint64_t size2) const override {
    merkle::Log log(&m_node_reader, GetLogState());
    return log.ConsistencyProof(size1, size2);
  }

  const ledger::StateReader& State() const override { return m_state_reader; }

  Result<std::optional<Bytes>> GetCiphertext(std::string_view record_id,
                                             uint32_t version) const override {
    return GetRaw(kSidecar, CiphertextKey(record_id, version));
  }
  Result<std::optional<Bytes>> GetWrappedKey(std::string_view record_id, uint32_t version,
                                             std::string_view recipient) const override {
    return GetRaw(kSidecar, WrappedKeyKey(record_id, version, recipient));
  }

  Result<std::optional<std::string>> GetCheckpoint(uint64_t height) const override {
    MC_ASSIGN_OR_RETURN(auto raw, GetRaw(kCheckpoints, BE64(height)));
    if (!raw) return std::optional<std::string>();
    return std::optional<std::string>(std::string(AsString(*raw)));
  }
  Result<std::optional<std::string>> LatestCheckpoint() const override {
    MC_ASSIGN_OR_RETURN(auto raw, GetRaw(kCheckpoints, "latest"));
    if (!raw) return std::optional<std::string>();
    return std::optional<std::string>(std::string(AsString(*raw)));
  }

  Status CommitBlock(const BlockCommit& c) override {
    if (m_options.read_only) return Status::FailedPrecondition("the store is open read-only");
    rocksdb::WriteBatch batch;
    auto put = [&](Cf cf, std::string_view k, ByteView v) {
      return batch.Put(m_cfs[cf], ToSlice(AsBytes(k)), ToSlice(v));
    };
    rocksdb::Status s;
    s = put(kBlocks, BE64(c.height), c.block_bytes);
    for (const auto& [id, loc] : c.txs) {
      if (s.ok()) s = put(kTxs, AsString(id), loc.Encode());
    }
    for (const auto& n : c.nodes) {
      if (s.ok()) s = put(kMerkle, NodeKey(n.level, n.index), n.hash);
    }
    if (c.state_writes) {
      for (const auto& [k, v] : *c.state_writes) {
        if (!s.ok()) break;
        if (v)
          s = put(kState, k, *v);
        else
          s = batch.Delete(m_cfs[kState], k);
      }
    }
    for (const auto& record : c.erased_records) {
      // Every version's ciphertext and every wrapped key of the record.
      for (const char* tag : {"c/", "w/"}) {
        std::string begin = tag + record + std::string(1, '\0');
        std::string end = tag + record + std::string(1, '\x01');
        if (s.ok()) s = batch.DeleteRange(m_cfs[kSidecar], begin, end);
      }
    }
    for (const auto& [k, v] : c.sidecar_writes) {
      if (s.ok()) s = put(kSidecar, k, v);
    }
    if (s.ok()) s = put(kDefault, "tip", c.tip.Encode());
    if (s.ok()) s = put(kDefault, "log", c.log_state.Encode());
    if (s.ok() && c.applied_index != 0)
      s = put(kDefault, "applied", AsBytes(BE64(c.applied_index)));
    if (s.ok() && c.genesis) s = put(kDefault, "genesis", *c.genesis);
    if (s.ok() && !c.checkpoint.empty()) {
      s = put(kCheckpoints, BE64(c.height), AsBytes(c.checkpoint));
      if (s.ok()) s = put(kCheckpoints, "latest", AsBytes(c.checkpoint));
    }
    if (!s.ok()) return FromRocks(s, "building the block batch");
    rocksdb::WriteOptions wo;
    wo.sync = m_options.sync;
    s = m_db->Write(wo, &batch);
    if (!s.ok()) return FromRocks(s, "writing block " + std::to_string(c.height));
    {
      std::unique_lock lock(m_mu);
      m_tip = c.tip;
      m_log = c.log_state;
      if (c.applied_index != 0) m_applied = c.applied_index;
      m_empty = false;
    }
    if (!c.erased_records.empty()) return CompactErased(c.erased_records);
    return Status::Ok();
  }

  Status CompactErased(const std::vector<std::string>& records) {
    // DeleteRange leaves tombstones; the ciphertext stays in SST files (and
    // the memtable) until compaction rewrites the range.
    rocksdb::FlushOptions fo;
    rocksdb::Status s = m_db->Flush(fo, m_cfs[kSidecar]);
    if (!s.ok()) return FromRocks(s, "flushing erased sidecars");
    rocksdb::CompactRangeOptions co;
    co.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
    for (const auto& record : records) {
      for (const char* tag : {"c/", "w/"}) {
        std::string begin = tag + record + std::string(1, '\0');
        std::string end = tag + record + std::string(1, '\x01');
        rocksdb::Slice b(begin), e(end);
        s = m_db->CompactRange(co, m_cfs[kSidecar], &b, &e);
        if (!s.ok()) return FromRocks(s, "compacting erased sidecars");
      }
    }
    // The WAL still holds the original writes until its memtables are all
    // flushed; flushing every family lets RocksDB delete those WAL files.
    std::vector<rocksdb::ColumnFamilyHandle*> all(m_cfs, m_cfs + kCfCount);
    s = m_db->Flush(fo, all);
    if (!s.ok()) return FromRocks(s, "flushing after erasure");
    return Status::Ok();
  }

  Status CompactAll() override {
    std::vector<rocksdb::ColumnFamilyHandle*> all(m_cfs, m_cfs + kCfCount);
    rocksdb::Status s = m_db->Flush(rocksdb::FlushOptions(), all);
    if (!s.ok()) return FromRocks(s, "flush");
    rocksdb::CompactRangeOptions co;
    co.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
    for (auto* cf : all) {
      s = m_db->CompactRange(co, cf, nullptr, nullptr);
      if (!s.ok()) return FromRocks(s, "compaction");
    }
    return Status::Ok();
  }

  Status WriteCopy(const std::string& dir) const override {
    if (dir.empty()) return Status::InvalidArgument("copy: no folder given");
    rocksdb::Checkpoint* raw = nullptr;
    rocksdb::Status s = rocksdb::Checkpoint::Create(m_db.get(), &raw);
    if (!s.ok()) return FromRocks(s, "copy of the store");
    std::unique_ptr<rocksdb::Checkpoint> cp(raw);
    // log_size_for_flush 0: memtables are flushed first, so the copy is SST
    // files plus a WAL holding at most what was written during the flush.
    s = cp->CreateCheckpoint(dir, /*log_size_for_flush=*/0);
    return FromRocks(s, "copy of the store into " + dir);
  }

  Status PutCheckpoint(uint64_t height, std::string_view note) override {
    rocksdb::WriteBatch batch;
    batch.Put(m_cfs[kCheckpoints], BE64(height), ToSlice(AsBytes(note)));
    batch.Put(m_cfs[kCheckpoints], "latest", ToSlice(AsBytes(note)));
    rocksdb::WriteOptions wo;
    wo.sync = m_options.sync;
    return FromRocks(m_db->Write(wo, &batch), "checkpoint");
  }

  Status SetAppliedIndex(uint64_t index) override {
    rocksdb::WriteOptions wo;
    wo.sync = m_options.sync;
    MC_RETURN_IF_ERROR(
        FromRocks(m_db->Put(wo, m_cfs[kDefault], "applied", BE64(index)), "applied index"));
    std::unique_lock lock(m_mu);
    m_applied = index;
    return Status::Ok();
  }

  Status UnsafePutBlockBytes(uint64_t height, ByteView bytes) override {
    rocksdb::WriteOptions wo;
    wo.sync = true;
    return FromRocks(m_db->Put(wo, m_cfs[kBlocks], BE64(height), ToSlice(bytes)), "tamper write");
  }

  rocksdb::DB* db() const { return m_db.get(); }
  rocksdb::ColumnFamilyHandle* cf(Cf c) const { return m_cfs[c]; }

 private:
  StoreOptions m_options;
  std::unique_ptr<rocksdb::DB> m_db;
  rocksdb::ColumnFamilyHandle* m_cfs[kCfCount] = {};
  RocksStateReader m_state_reader;
  RocksNodeReader m_node_reader;

  mutable std::shared_mutex m_mu;  // guards the fields below
  bool m_empty = true;
  Tip m_tip;
  merkle::State m_log;
  uint64_t m_applied = 0;
};

std::optional<Bytes> RocksStateReader::Get(std::string_view key) const {
  auto r = m_store.GetRaw(kState, key);
  if (!r.ok()) FatalStateReadError(r.status());
  return *r;
}

void RocksStateReader::Scan(std::string_view prefix,
                            const std::function<bool(std::string_view, ByteView)>& fn) const {
  rocksdb::ReadOptions ro;
  std::string upper(prefix);
  // Smallest key greater than every key with this prefix.
  while (!upper.empty() && static_cast<uint8_t>(upper.back()) == 0xff) upper.pop_back();
  rocksdb::Slice upper_slice;
  if (!upper.empty()) {
    upper.back() = static_cast<char>(static_cast<uint8_t>(upper.back()) + 1);
    upper_slice = rocksdb::Slice(upper);
    ro.iterate_upper_bound = &upper_slice;
  }
  std::unique_ptr<rocksdb::Iterator> it(m_store.db()->NewIterator(ro, m_store.cf(kState)));
  for (it->Seek(ToSlice(AsBytes(prefix))); it->Valid(); it->Next()) {
    if (!it->key().starts_with(ToSlice(AsBytes(prefix)))) break;
    if (!fn(std::string_view(it->key().data(), it->key().size()), FromSlice(it->value()))) return;
  }
  // The loop also ends when a read fails: a truncated scan (a patient's
  // grants cut short) would decide a transaction differently from the peers.
  if (!it->status().ok()) FatalStateReadError(FromRocks(it->status(), "state scan"));
}

std::optional<Hash> RocksNodeReader::GetNode(uint32_t level, uint64_t index) const {
  auto r = m_store.GetRaw(kMerkle, NodeKey(level, index));
  if (!r.ok() || !r->has_value() || (*r)->size() != 32) return std::nullopt;
  Hash h;
  std::copy((*r)->begin(), (*r)->end(), h.begin());
  return h;
}

}  // namespace

Result<std::unique_ptr<Store>> Store::Open(const StoreOptions& options) {
  auto s = std::make_unique<RocksStore>();
  MC_RETURN_IF_ERROR(s->Init(options));
  return std::unique_ptr<Store>(std::move(s));
}

}  // namespace medchain::store
