// Copyright (c) medchain developers.
#include "medchain/node/node.h"

#include <sodium.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>
#include <unordered_map>

#include <httplib.h>
#include <spdlog/spdlog.h>

#include "medchain/api/json.h"
#include "medchain/api/server.h"
#include "medchain/consensus/raft_node.h"
#include "medchain/crypto/init.h"
#include "medchain/crypto/keyfile.h"
#include "medchain/crypto/signed_note.h"
#include "medchain/node/pool.h"
#include "medchain/store/chain.h"
#include "medchain/store/checkpoint.h"

namespace medchain::node {

namespace fs = std::filesystem;
using ledger::Proposal;
using ledger::TransactionRef;
using Clock = std::chrono::steady_clock;

namespace {

uint64_t NowMs() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

// Commit latency histogram (Prometheus buckets, milliseconds).
class Histogram {
 public:
  static constexpr double kBounds[] = {1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000};
  void Observe(double ms) {
    std::lock_guard lock(m_mu);
    size_t i = 0;
    while (i < std::size(kBounds) && ms > kBounds[i]) ++i;
    m_counts[i]++;
    m_sum += ms;
    m_n++;
  }
  void Write(std::ostringstream& o, const char* name) const {
    std::lock_guard lock(m_mu);
    uint64_t cum = 0;
    for (size_t i = 0; i < std::size(kBounds); ++i) {
      cum += m_counts[i];
      o << name << "_bucket{le=\"" << kBounds[i] << "\"} " << cum << "\n";
    }
    cum += m_counts[std::size(kBounds)];
    o << name << "_bucket{le=\"+Inf\"} " << cum << "\n";
    o << name << "_sum " << m_sum << "\n" << name << "_count " << m_n << "\n";
  }

 private:
  mutable std::mutex m_mu;
  uint64_t m_counts[std::size(kBounds) + 1] = {};
  double m_sum = 0;
  uint64_t m_n = 0;
};

// Waiters for ?wait=commit, keyed by transaction id.
class Waiters {
 public:
  struct Waiter {
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
    Status status;
    api::SubmitOutcome outcome;
  };

  std::shared_ptr<Waiter> Register(const Hash& id) {
    auto w = std::make_shared<Waiter>();
    std::lock_guard lock(m_mu);
    m_waiters.emplace(id, w);
    return w;
  }
  void Unregister(const Hash& id, const std::shared_ptr<Waiter>& w) {
    std::lock_guard lock(m_mu);
    auto range = m_waiters.equal_range(id);
    for (auto it = range.first; it != range.second; ++it) {
      if (it->second == w) {
        m_waiters.erase(it);
        return;
      }
    }
  }
  void Fulfil(const Hash& id, const Status& status, const api::SubmitOutcome& outcome) {
    std::vector<std::shared_ptr<Waiter>> ws;
    {
      std::lock_guard lock(m_mu);
      auto range = m_waiters.equal_range(id);
      for (auto it = range.first; it != range.second; ++it) ws.push_back(it->second);
      m_waiters.erase(range.first, range.second);
    }
    for (auto& w : ws) {
      std::lock_guard lock(w->mu);
      w->done = true;
      w->status = status;
      w->outcome = outcome;
      w->cv.notify_all();
    }
  }
  bool Empty() const {
    std::lock_guard lock(m_mu);
    return m_waiters.empty();
  }

 private:
  mutable std::mutex m_mu;
  std::unordered_multimap<Hash, std::shared_ptr<Waiter>, HashHasher> m_waiters;
};

struct Snapshot_ {
  uint64_t height = 0;
  Hash hash{};
  Bytes Encode() const {
    Encoder e;
    e.U8(1).U64(height).Fixed(hash);
    return e.Take();
  }
  static Result<Snapshot_> Decode(ByteView b) {
    Snapshot_ s;
    Decoder d(b, "raft snapshot");
    if (d.U8("version") != 1 && d.ok()) d.Fail("version", "unknown");
    s.height = d.U64("height");
    s.hash = d.FixedHash("hash");
    MC_RETURN_IF_ERROR(d.Finish());
    return s;
  }
};

class NodeImpl final : public Node, public consensus::StateMachine {
 public:
  explicit NodeImpl(NodeConfig config)
      : m_config(std::move(config)), m_pool(m_config.pool_max_txs) {}
  ~NodeImpl() override { Stop(); }

  Status Init();

  // ---- Node ----
  void Stop() override;
  int port() const override { return m_server ? m_server->port() : 0; }
  std::string url() const override { return m_url; }
  std::optional<std::string> Halted() const override {
    std::lock_guard lock(m_halt_mu);
    return m_halted;
  }

  // ---- api::Backend ----
  const store::Store& Ledger() const override { return *m_store; }
  api::NodeSummary Summary() const override {
    api::NodeSummary s;
    s.node_id = m_config.node_id;
    s.consortium = m_chain->genesis().consortium;
    s.origin = m_origin;
    s.genesis_hash = m_chain->genesis_hash();
    s.verifier_key = m_verifier_key;
    s.api_url = m_url;
    return s;
  }
  Result<api::SubmitOutcome> Submit(TransactionRef tx, std::optional<ledger::Sidecar> sidecar,
                                    bool wait) override;
  Result<api::SubmitOutcome> WaitCommitted(const Hash& id) override;
  Result<api::ReadOutcome> Read(TransactionRef request) override;
  std::string Metrics() const override;
  Status Health() const override;
  std::string ClusterJson(bool local_only) const override;

  // ---- consensus::StateMachine (Raft applier thread) ----
  void Apply(uint64_t index, uint64_t term, ByteView entry) override;
  Bytes Snapshot(uint64_t index, uint64_t term) override;
  void Restore(uint64_t index, uint64_t term, ByteView snapshot) override;
  void OnLeadershipChange(bool is_leader, uint64_t term) override;

 private:
  bool IsLeader() const { return !m_raft || m_leader.load(); }
  Status CheckForPool(const ledger::Transaction& tx, const ledger::Sidecar* sidecar) const;
  std::optional<api::SubmitOutcome> CommittedOutcome(const Hash& id) const;
  Result<api::SubmitOutcome> Wait(const Hash& id, std::shared_ptr<Waiters::Waiter> w);
  Result<api::SubmitOutcome> SubmitAsNode(ledger::TxType type, Bytes body);
  Result<api::SubmitOutcome> Forward(const ledger::Transaction& tx,
                                     const std::optional<ledger::Sidecar>& sidecar, bool wait,
                                     const std::string& path);
  std::optional<std::string> LeaderUrl() const;

  void CutterLoop();
  void ApplyProposal(const Proposal& p, uint64_t index);
  void Halt(const std::string& why);
  Status CatchUp(uint64_t target_height);

  NodeConfig m_config;
  std::string m_url;
  std::optional<crypto::KeyMaterial> m_keys;
  std::optional<crypto::NoteSigner> m_note_signer;
  std::string m_verifier_key;
  std::string m_origin;
  std::unique_ptr<store::Store> m_store;
  std::unique_ptr<store::Chain> m_chain;
  Pool m_pool;
  Waiters m_waiters;
  std::unique_ptr<consensus::RaftNode> m_raft;
  std::unique_ptr<api::Server> m_server;
  std::thread m_cutter;
  std::atomic<bool> m_stopping{false};
  std::atomic<bool> m_leader{false};
  std::atomic<uint64_t> m_term{0};
  bool m_stopped = false;
  std::string m_pid_file;

  // Batches proposed and not yet applied, by block hash (cutter + applier).
  std::mutex m_flight_mu;
  std::map<Hash, std::vector<PoolEntry>> m_flight;
  std::condition_variable m_flight_cv;
  // The cutter's view of the chain including its own unapplied proposals.
  store::Tip m_spec_tip;
  merkle::State m_spec_log;
  std::atomic<bool> m_reset_spec{true};

  mutable std::mutex m_halt_mu;
  std::optional<std::string> m_halted;

  // Metrics.
  std::atomic<uint64_t> m_blocks{0}, m_txs{0}, m_txs_invalid{0}, m_submitted{0}, m_rejected{0};
  std::atomic<uint64_t> m_reads{0}, m_reads_refused{0}, m_stale{0};
  Histogram m_commit_latency;
};

Status NodeImpl::Init() {
  crypto::Init();
  // Keys.
  auto keys = crypto::ReadKeyFile(m_config.key_file, m_config.passphrase);
  if (!keys.ok()) return keys.status().Prefixed("node key file " + m_config.key_file);
  m_keys.emplace(std::move(*keys));
  // Genesis.
  std::ifstream in(m_config.genesis_file);
  if (!in) return Status::NotFound("cannot read the genesis file " + m_config.genesis_file);
  std::stringstream ss;
  ss << in.rdbuf();
  MC_ASSIGN_OR_RETURN(auto gj, api::ParseJson(ss.str(), m_config.genesis_file));
  auto genesis = api::GenesisFromJson(gj);
  if (!genesis.ok()) return genesis.status().Prefixed(m_config.genesis_file);
  // Store and chain.
  std::error_code ec;
  fs::create_directories(m_config.data_dir, ec);
  if (ec) return Status::IOError("cannot create " + m_config.data_dir + ": " + ec.message());
  store::StoreOptions so;
  so.path = (fs::path(m_config.data_dir) / "ledger").string();
  so.sync = m_config.sync;
  MC_ASSIGN_OR_RETURN(m_store, store::Store::Open(so));
  MC_ASSIGN_OR_RETURN(m_chain, store::Chain::Open(m_store.get(), *genesis));
  // This node must be a registered node with this key.
  MC_ASSIGN_OR_RETURN(auto me,
                      ledger::StateView(m_store->State()).GetParticipant(m_config.node_id));
  if (!me || me->role != ledger::Role::kNode) {
    return Status::FailedPrecondition("node " + m_config.node_id +
                                      " is not a registered node of this chain");
  }
  if (me->sign_key != m_keys->signing.public_key()) {
    return Status::FailedPrecondition("the key file " + m_config.key_file + " is not node " +
                                      m_config.node_id + "'s registered key");
  }
  MC_ASSIGN_OR_RETURN(auto sign_copy, crypto::SigningKey::FromSeed(m_keys->signing.seed()));
  MC_ASSIGN_OR_RETURN(auto signer,
                      crypto::NoteSigner::Create(m_config.node_id, std::move(sign_copy)));
  m_verifier_key = crypto::FormatNoteVerifierKey(signer.verifier_key());
  m_note_signer.emplace(std::move(signer));
  m_origin = store::CheckpointOrigin(m_chain->genesis(), m_chain->genesis_hash());
  m_url = m_config.public_url;
  MC_ASSIGN_OR_RETURN(auto latest, m_store->LatestCheckpoint());
  if (!latest) {
    // A new chain: sign the genesis checkpoint so there is always one to serve.
    store::Tip tip = m_store->GetTip();
    MC_ASSIGN_OR_RETURN(
        auto note, crypto::SignCheckpoint(store::MakeCheckpoint(m_origin, tip), *m_note_signer));
    MC_RETURN_IF_ERROR(m_store->PutCheckpoint(tip.height, note));
  }

  // Consensus.
  if (m_config.raft.enabled) {
    consensus::RaftOptions ro;
    ro.id = me->node ? me->node->raft_id : 0;
    ro.address = m_config.raft.address;
    ro.data_dir = (fs::path(m_config.data_dir) / "raft").string();
    ro.election_timeout_ms = m_config.raft.election_timeout_ms;
    ro.heartbeat_timeout_ms = m_config.raft.heartbeat_timeout_ms;
    ro.snapshot_threshold = m_config.raft.snapshot_threshold;
    ro.snapshot_trailing = m_config.raft.snapshot_trailing;
    ro.max_entry_size = std::max<size_t>(8u << 20, 2 * m_config.block_max_bytes);
    ro.log = [](std::string_view msg) { spdlog::info("raft: {}", msg); };
    bool founding = false;
    for (const auto& p : m_chain->genesis().participants) {
      if (p.node) {
        ro.bootstrap_voters.push_back(consensus::Peer{p.node->raft_id, p.node->raft_address});
        if (p.id == m_config.node_id) founding = true;
      }
    }
    if (!founding) ro.bootstrap_voters.clear();  // joins through membership change
    if (ro.id == 0)
      return Status::FailedPrecondition("node " + m_config.node_id + " has no Raft id");
    MC_ASSIGN_OR_RETURN(m_raft, consensus::RaftNode::Start(ro, this));
  }

  // API.
  auto hp = ParseHostPort(m_config.listen);
  if (!hp.ok()) return hp.status();
  api::ServerOptions opts;
  opts.host = hp->first;
  opts.port = hp->second;
  opts.max_body_bytes = m_config.max_body_bytes;
  opts.threads = m_config.http_threads;
  opts.fhir_token = m_config.fhir_token;
  opts.fhir_key_file = m_config.fhir_key_file;
  opts.fhir_key_passphrase = m_config.passphrase;
  opts.fhir_definitions = m_config.fhir_definitions;
  MC_ASSIGN_OR_RETURN(m_server, api::Server::Start(opts, *this));
  if (hp->second == 0) m_url = "http://" + hp->first + ":" + std::to_string(m_server->port());

  m_cutter = std::thread([this] { CutterLoop(); });

  m_pid_file = (fs::path(m_config.data_dir) / "medchaind.pid").string();
  std::ofstream pid(m_pid_file, std::ios::trunc);
  pid << getpid() << "\n";

  spdlog::info("node {} serving {} (chain {}, height {})", m_config.node_id, m_url, m_origin,
               m_store->GetTip().height);
  return Status::Ok();
}

void NodeImpl::Stop() {
  if (m_stopped) return;
  m_stopped = true;
  m_stopping = true;
  m_pool.Wake();
  m_flight_cv.notify_all();
  if (m_server) m_server->Stop();
  if (m_cutter.joinable()) m_cutter.join();
  if (m_raft) m_raft->Stop();
  // Anyone still waiting learns the node went away.
  for (auto& e : m_pool.Clear()) {
    m_waiters.Fulfil(e.tx->id(), Status::Unavailable("the node is shutting down"), {});
  }
  if (!m_pid_file.empty()) {
    std::error_code ec;
    fs::remove(m_pid_file, ec);
  }
  spdlog::info("node {} stopped", m_config.node_id);
}

// ---- Submission ----

Status NodeImpl::CheckForPool(const ledger::Transaction& tx, const ledger::Sidecar* sidecar) const {
  MC_RETURN_IF_ERROR(ledger::CheckTransactionShape(tx));
  MC_RETURN_IF_ERROR(ledger::CheckSidecar(tx, sidecar));
  return Status::Ok();
}

std::optional<api::SubmitOutcome> NodeImpl::CommittedOutcome(const Hash& id) const {
  auto loc = m_store->FindTx(id);
  if (!loc.ok() || !*loc) return std::nullopt;
  api::SubmitOutcome o;
  o.id = id;
  o.committed = true;
  o.height = (*loc)->height;
  o.index = (*loc)->index;
  o.leaf_index = (*loc)->leaf_index;
  o.result = (*loc)->result;
  return o;
}

Result<api::SubmitOutcome> NodeImpl::Wait(const Hash& id, std::shared_ptr<Waiters::Waiter> w) {
  std::unique_lock lock(w->mu);
  bool done = w->cv.wait_for(lock, std::chrono::milliseconds(m_config.wait_timeout_ms),
                             [&] { return w->done; });
  if (!done) {
    lock.unlock();
    m_waiters.Unregister(id, w);
    if (auto c = CommittedOutcome(id)) return *c;
    return Status::Timeout("not committed within " + std::to_string(m_config.wait_timeout_ms) +
                           " ms; it is still pending (GET /v1/transactions/" + ToHex(id) + ")");
  }
  if (!w->status.ok()) return w->status;
  return w->outcome;
}

Result<api::SubmitOutcome> NodeImpl::WaitCommitted(const Hash& id) {
  auto w = m_waiters.Register(id);
  if (auto c = CommittedOutcome(id)) {
    m_waiters.Unregister(id, w);
    return *c;
  }
  return Wait(id, w);
}

Result<api::SubmitOutcome> NodeImpl::Submit(TransactionRef tx,
                                            std::optional<ledger::Sidecar> sidecar, bool wait) {
  m_submitted++;
  auto reject = [&](Status s) {
    m_rejected++;
    return s;
  };
  if (m_stopping) return reject(Status::Unavailable("the node is shutting down"));
  if (auto h = Halted()) return reject(Status::Unavailable("the node halted: " + *h));
  Status s = CheckForPool(*tx, sidecar ? &*sidecar : nullptr);
  if (!s.ok()) return reject(s);
  // Already committed: answer as the first time (submission is idempotent).
  if (auto c = CommittedOutcome(tx->id())) return *c;
  if (m_raft && !IsLeader()) return Forward(*tx, sidecar, wait, "/v1/transactions");
  if (!m_pool.Contains(tx->id())) {
    // The one signature check of this transaction on this node.
    if (!tx->VerifySignature()) {
      return reject(Status::Unauthenticated("the signature does not verify for the author key"));
    }
    if (ledger::StateView(m_store->State()).NonceUsed(tx->author(), tx->nonce())) {
      return reject(Status::AlreadyExists("nonce " + std::to_string(tx->nonce()) +
                                          " was already used by this author (replay)"));
    }
  }
  std::shared_ptr<Waiters::Waiter> w;
  if (wait) w = m_waiters.Register(tx->id());
  PoolEntry e;
  e.size =
      tx->bytes().size() + (sidecar ? sidecar->ciphertext.size() + 100 * sidecar->keys.size() : 0);
  e.tx = tx;
  e.sidecar = std::move(sidecar);
  e.received = Clock::now();
  s = m_pool.Add(std::move(e));
  if (!s.ok() && !(wait && s.code() == Code::kAlreadyExists && m_pool.Contains(tx->id()))) {
    if (w) m_waiters.Unregister(tx->id(), w);
    if (auto c = CommittedOutcome(tx->id())) return *c;
    return reject(s);
  }
  if (!wait) {
    api::SubmitOutcome o;
    o.id = tx->id();
    return o;
  }
  return Wait(tx->id(), w);
}

std::optional<std::string> NodeImpl::LeaderUrl() const {
  if (!m_raft) return std::nullopt;
  auto leader = m_raft->Leader();
  if (!leader) return std::nullopt;
  std::optional<std::string> url;
  m_store->State().Scan("p/", [&](std::string_view, ByteView v) {
    auto p = ledger::Participant::Decode(v);
    if (p.ok() && p->node && p->node->raft_id == leader->id) {
      url = p->node->api_url;
      return false;
    }
    return true;
  });
  return url;
}

Result<api::SubmitOutcome> NodeImpl::Forward(const ledger::Transaction& tx,
                                             const std::optional<ledger::Sidecar>& sidecar,
                                             bool wait, const std::string& path) {
  auto url = LeaderUrl();
  if (!url) return Status::Unavailable("no leader is known right now; retry shortly");
  Encoder e;
  e.U8(1).Var(tx.bytes()).Bool(sidecar.has_value());
  if (sidecar) e.Var(sidecar->Encode());
  thread_local std::map<std::string, std::unique_ptr<httplib::Client>> clients;
  auto& client = clients[*url];
  if (!client) {
    client = std::make_unique<httplib::Client>(*url);
    client->set_keep_alive(true);
    client->set_read_timeout(std::chrono::milliseconds(m_config.wait_timeout_ms + 5000));
  }
  std::string full = path + (wait ? "?wait=commit" : "");
  auto res = client->Post(full.c_str(), std::string(AsString(e.buffer())),
                          "application/vnd.medchain.submission");
  if (!res) {
    client.reset();
    return Status::Unavailable("the leader at " + *url + " did not answer; retry");
  }
  auto j = api::ParseJson(res->body, "leader response");
  if (!j.ok()) return Status::Unavailable("the leader answered garbage");
  if (res->status >= 300) {
    std::string msg = j->value("message", "error from the leader");
    std::string code = j->value("error", "unavailable");
    if (code == "invalid_argument") return Status::InvalidArgument(msg);
    if (code == "unauthenticated") return Status::Unauthenticated(msg);
    if (code == "already_exists") return Status::AlreadyExists(msg);
    if (code == "permission_denied") return Status::PermissionDenied(msg);
    if (code == "resource_exhausted") return Status::ResourceExhausted(msg);
    if (code == "timeout") return Status::Timeout(msg);
    return Status::Unavailable(msg);
  }
  api::SubmitOutcome o;
  o.id = tx.id();
  o.committed = j->value("status", "") == "committed";
  if (o.committed) {
    o.height = j->value("height", 0ULL);
    o.index = j->value("index", 0U);
    o.leaf_index = j->value("leaf_index", 0ULL);
    const auto& r = (*j)["result"];
    std::string code = r.value("code", "ok");
    o.result.code = code == "ok"
                        ? ledger::TxCode::kOk
                        : (code == "refused" ? ledger::TxCode::kRefused : ledger::TxCode::kInvalid);
    o.result.reason = r.value("reason", "");
    o.result.break_glass = r.value("break_glass", false);
    if (r.contains("records")) {
      for (const auto& k : r["records"]) {
        o.result.records.push_back(
            ledger::KeyRef{k.value("record_id", ""), k.value("version", 0U)});
      }
    }
    // Wait until this node applied it too, so reads here see it.
    if (wait) (void)WaitCommitted(tx.id());
  }
  return o;
}

Result<api::SubmitOutcome> NodeImpl::SubmitAsNode(ledger::TxType type, Bytes body) {
  ledger::UnsignedTx u;
  u.type = type;
  u.author = m_keys->signing.public_key();
  randombytes_buf(&u.nonce, sizeof u.nonce);
  u.timestamp_ms = NowMs();
  u.body = std::move(body);
  return Submit(ledger::SignTx(u, m_keys->signing), std::nullopt, true);
}

Result<api::ReadOutcome> NodeImpl::Read(TransactionRef request) {
  if (request->type() != ledger::TxType::kReadRecord) {
    return Status::InvalidArgument("a read request is a read_record transaction");
  }
  MC_ASSIGN_OR_RETURN(auto body,
                      ledger::DecodeBody<ledger::ReadRecord>(request->body(), "read_record"));
  m_reads++;
  // Requests refused before ordering are still recorded on the ledger.
  auto record_refusal = [&](const std::string& reason) {
    m_reads_refused++;
    ledger::AccessRefused a;
    a.request_hash = request->id();
    a.claimed_author = request->author();
    a.patient = body.patient;
    a.record_id = body.record_id;
    a.reason = reason;
    auto r = SubmitAsNode(ledger::TxType::kAccessRefused, ledger::EncodeBody(a));
    if (!r.ok()) spdlog::warn("could not record a refused read: {}", r.status().ToString());
  };
  if (!request->VerifySignature()) {
    record_refusal("forged request: the signature does not verify");
    return Status::Unauthenticated("the read request's signature does not verify (recorded)");
  }
  if (auto c = CommittedOutcome(request->id())) {
    record_refusal("replayed request: transaction " + ToHex(request->id()) + " was already served");
    return Status::AlreadyExists("this read request was already served; sign a new one (recorded)");
  }
  if (ledger::StateView(m_store->State()).NonceUsed(request->author(), request->nonce()) ||
      m_pool.NonceInUse(request->author(), request->nonce())) {
    record_refusal("replayed request: nonce " + std::to_string(request->nonce()) + " already used");
    return Status::AlreadyExists("the request's nonce was already used (replay; recorded)");
  }
  MC_ASSIGN_OR_RETURN(api::SubmitOutcome access, Submit(request, std::nullopt, true));
  if (!access.committed) return Status::Internal("access event not committed");
  if (access.result.code == ledger::TxCode::kRefused) {
    m_reads_refused++;
    if (access.result.reason.find(" was erased at height ") != std::string::npos) {
      return Status::FailedPrecondition("erased: " + access.result.reason +
                                        " (request recorded in transaction " + ToHex(access.id) +
                                        ")");
    }
    return Status::PermissionDenied(access.result.reason + " (refusal recorded in transaction " +
                                    ToHex(access.id) + ")");
  }
  if (!access.result.ok()) return Status::InvalidArgument(access.result.reason);
  // Only now, with the access event committed, release the data.
  ledger::StateView view(m_store->State());
  MC_ASSIGN_OR_RETURN(auto requester, view.GetParticipantByKey(request->author()));
  api::ReadOutcome out;
  out.access = access;
  for (const auto& ref : access.result.records) {
    MC_ASSIGN_OR_RETURN(auto head, view.GetRecord(ref.record_id));
    if (!head) continue;
    api::ReleasedRecord r;
    r.record_id = ref.record_id;
    r.version = ref.version;
    r.type = head->type;
    r.patient = head->patient;
    r.custodian = head->custodian;
    MC_ASSIGN_OR_RETURN(auto ct, m_store->GetCiphertext(ref.record_id, ref.version));
    if (!ct) continue;  // erased since
    r.ciphertext = std::move(*ct);
    if (requester) {
      MC_ASSIGN_OR_RETURN(auto key,
                          m_store->GetWrappedKey(ref.record_id, ref.version, requester->id));
      r.wrapped_key = std::move(key);
    }
    out.records.push_back(std::move(r));
  }
  return out;
}

// ---- Block cutting ----

void NodeImpl::CutterLoop() {
  ledger::PublicKey proposer = m_keys->signing.public_key();
  while (!m_stopping) {
    if (!IsLeader() || Halted()) {
      std::unique_lock lock(m_flight_mu);
      m_flight_cv.wait_for(lock, std::chrono::milliseconds(100));
      continue;
    }
    if (m_reset_spec.exchange(false)) {
      std::unique_lock lock(m_flight_mu);
      // Build on what is committed once nothing of ours is in flight.
      m_flight_cv.wait(lock, [&] { return m_flight.empty() || m_stopping; });
      m_spec_tip = m_store->GetTip();
      m_spec_log = m_store->GetLogState();
    }
    {
      // Bound the pipeline: a few blocks in flight at once.
      std::unique_lock lock(m_flight_mu);
      m_flight_cv.wait(lock, [&] { return m_flight.size() < 4 || m_stopping; });
    }
    auto batch = m_pool.TakeBatch(m_config.block_max_txs, m_config.block_max_bytes,
                                  std::chrono::milliseconds(m_config.block_max_delay_ms),
                                  Clock::now() + std::chrono::milliseconds(200));
    if (batch.empty()) continue;
    if (!IsLeader() || m_reset_spec) {
      m_pool.Return(std::move(batch));
      continue;
    }
    std::vector<TransactionRef> txs;
    txs.reserve(batch.size());
    Proposal p;
    for (uint32_t i = 0; i < batch.size(); ++i) {
      txs.push_back(batch[i].tx);
      if (batch[i].sidecar) p.sidecars.emplace_back(i, *batch[i].sidecar);
    }
    auto [block, log] = m_chain->BuildBlock(
        std::move(txs), m_spec_tip, m_spec_log, NowMs(), m_term.load(), proposer,
        [&](const ledger::BlockHeader& h) { return m_keys->signing.Sign(h.SigningMessage()); });
    p.block = std::move(block);
    Hash hash = p.block.hash();
    m_spec_tip = store::Tip{p.block.header.height, hash, p.block.header.timestamp_ms, log.size,
                            p.block.header.log_root};
    m_spec_log = log;
    {
      std::lock_guard lock(m_flight_mu);
      m_flight.emplace(hash, std::move(batch));
    }
    if (!m_raft) {
      ApplyProposal(p, 0);
      continue;
    }
    m_raft->Propose(p.Encode(), [this, hash](Status s, uint64_t) {
      if (s.ok()) return;  // applied through Apply()
      spdlog::warn("proposal of block {} failed: {}", ToHex(hash).substr(0, 12), s.ToString());
      std::vector<PoolEntry> back;
      {
        std::lock_guard lock(m_flight_mu);
        auto it = m_flight.find(hash);
        if (it != m_flight.end()) {
          back = std::move(it->second);
          m_flight.erase(it);
        }
        m_flight_cv.notify_all();
      }
      m_reset_spec = true;
      // It may still commit under the next leader; clients learn either way:
      // a retry of the same transaction is answered from the ledger.
      for (auto& e : back) {
        m_waiters.Fulfil(e.tx->id(),
                         Status::Unavailable("leadership changed while ordering; retry"), {});
      }
      m_pool.Committed([&] {
        std::vector<TransactionRef> t;
        for (auto& e : back) t.push_back(e.tx);
        return t;
      }());
    });
  }
}

void NodeImpl::Halt(const std::string& why) {
  {
    std::lock_guard lock(m_halt_mu);
    if (m_halted) return;
    m_halted = why;
  }
  spdlog::critical(
      "HALTED: {} -- this node refuses to apply further blocks; investigate before restarting",
      why);
}

void NodeImpl::ApplyProposal(const Proposal& p, uint64_t index) {
  if (Halted()) return;
  Hash hash = p.block.hash();
  auto r = m_chain->Apply(
      p, index, [this](const Hash& id) { return m_pool.Contains(id); },
      [this](const store::Tip& tip) {
        auto note = crypto::SignCheckpoint(store::MakeCheckpoint(m_origin, tip), *m_note_signer);
        return note.ok() ? *note : std::string();
      });
  std::vector<PoolEntry> mine;
  {
    std::lock_guard lock(m_flight_mu);
    auto it = m_flight.find(hash);
    if (it != m_flight.end()) {
      mine = std::move(it->second);
      m_flight.erase(it);
    }
    m_flight_cv.notify_all();
  }
  if (!r.ok()) {
    // A disk failure: no later block can be applied either.
    Halt("applying block " + std::to_string(p.block.header.height) +
         " failed: " + r.status().ToString());
    return;
  }
  const store::ApplyOutcome& o = *r;
  if (o.kind == store::ApplyOutcome::Kind::kStale) {
    m_stale++;
    spdlog::warn("skipped stale proposal: {}", o.reason);
    if (index != 0) (void)m_store->SetAppliedIndex(index);
    m_reset_spec = true;
    if (!mine.empty()) m_pool.Return(std::move(mine));
    return;
  }
  if (o.kind == store::ApplyOutcome::Kind::kInvalid) {
    Halt(o.reason);
    if (!mine.empty()) m_pool.Return(std::move(mine));
    return;
  }
  // Applied.
  m_blocks++;
  m_txs += p.block.txs.size();
  auto now = Clock::now();
  std::unordered_map<Hash, Clock::time_point, HashHasher> received;
  for (const auto& e : mine) received.emplace(e.tx->id(), e.received);
  for (size_t i = 0; i < p.block.txs.size(); ++i) {
    const Hash& id = p.block.txs[i]->id();
    if (!o.results[i].ok()) m_txs_invalid++;
    auto it = received.find(id);
    if (it != received.end()) {
      m_commit_latency.Observe(std::chrono::duration<double, std::milli>(now - it->second).count());
    }
  }
  m_pool.Committed(p.block.txs);
  for (size_t i = 0; i < p.block.txs.size(); ++i) {
    const Hash& id = p.block.txs[i]->id();
    // A repeated transaction answers with its first (committed) occurrence.
    if (auto c = CommittedOutcome(id)) m_waiters.Fulfil(id, Status::Ok(), *c);
  }
}

// ---- Consensus callbacks ----

void NodeImpl::Apply(uint64_t index, uint64_t, ByteView entry) {
  if (index <= m_store->AppliedIndex()) return;  // replay after restart
  auto p = Proposal::Decode(entry);
  if (!p.ok()) {
    Halt("Raft entry " + std::to_string(index) +
         " is not a valid proposal: " + p.status().message());
    return;
  }
  ApplyProposal(*p, index);
}

Bytes NodeImpl::Snapshot(uint64_t, uint64_t) {
  store::Tip t = m_store->GetTip();
  return Snapshot_{t.height, t.hash}.Encode();
}

void NodeImpl::Restore(uint64_t index, uint64_t, ByteView snapshot) {
  if (index <= m_store->AppliedIndex()) return;
  auto s = Snapshot_::Decode(snapshot);
  if (!s.ok()) {
    Halt("invalid Raft snapshot: " + s.status().message());
    return;
  }
  spdlog::info("installing snapshot at Raft index {} (height {}); this node is at height {}", index,
               s->height, m_store->GetTip().height);
  Status st = CatchUp(s->height);
  if (!st.ok()) {
    Halt("catching up to height " + std::to_string(s->height) + " failed: " + st.ToString());
    return;
  }
  if (m_store->GetTip().height < s->height) {
    Halt("could not catch up to height " + std::to_string(s->height));
    return;
  }
  (void)m_store->SetAppliedIndex(index);
}

Status NodeImpl::CatchUp(uint64_t target) {
  // Fetch each missing block (with its remaining sidecars) from any peer and
  // apply it like any other: every block is validated here.
  std::vector<std::string> urls;
  m_store->State().Scan("p/", [&](std::string_view, ByteView v) {
    auto p = ledger::Participant::Decode(v);
    if (p.ok() && p->node && p->id != m_config.node_id) urls.push_back(p->node->api_url);
    return true;
  });
  size_t which = 0;
  int failures = 0;
  while (m_store->GetTip().height < target && !m_stopping) {
    if (urls.empty()) return Status::Unavailable("no peer to catch up from");
    uint64_t h = m_store->GetTip().height + 1;
    httplib::Client c(urls[which % urls.size()]);
    c.set_read_timeout(std::chrono::seconds(30));
    auto res = c.Get(("/v1/sync/" + std::to_string(h)).c_str());
    if (!res || res->status != 200) {
      which++;
      if (++failures > 50)
        return Status::Unavailable("peers did not serve block " + std::to_string(h));
      std::this_thread::sleep_for(std::chrono::milliseconds(100));  // back-off between peers
      continue;
    }
    auto p = Proposal::Decode(AsBytes(res->body));
    if (!p.ok()) return p.status();
    ApplyProposal(*p, 0);
    if (Halted()) return Status::Corruption(*Halted());
    if (m_store->GetTip().height < h)
      return Status::Corruption("block " + std::to_string(h) + " from a peer did not apply");
    if (h % 1000 == 0) spdlog::info("caught up to height {}", h);
  }
  return Status::Ok();
}

void NodeImpl::OnLeadershipChange(bool is_leader, uint64_t term) {
  m_term = term;
  m_leader = is_leader;
  m_reset_spec = true;
  spdlog::info("node {} is {} (term {})", m_config.node_id, is_leader ? "leader" : "a follower",
               term);
  if (!is_leader) {
    // Pending transactions here will not be ordered by this node: their
    // clients retry (the new leader, or the ledger, answers).
    for (auto& e : m_pool.Clear()) {
      m_waiters.Fulfil(e.tx->id(), Status::Unavailable("this node stopped leading; retry"), {});
    }
  }
  m_pool.Wake();
  m_flight_cv.notify_all();
}

// ---- Observability ----

Status NodeImpl::Health() const {
  if (auto h = Halted()) return Status::Unavailable("halted: " + *h);
  if (m_stopping) return Status::Unavailable("shutting down");
  if (m_raft && !m_raft->Leader()) return Status::Unavailable("no Raft leader");
  return Status::Ok();
}

std::string NodeImpl::Metrics() const {
  std::ostringstream o;
  store::Tip tip = m_store->GetTip();
  o << "# HELP medchain_blocks_total Blocks applied by this node since start.\n"
    << "# TYPE medchain_blocks_total counter\nmedchain_blocks_total " << m_blocks << "\n"
    << "# HELP medchain_height Height of the last committed block.\n"
    << "# TYPE medchain_height gauge\nmedchain_height " << tip.height << "\n"
    << "# HELP medchain_log_size Transactions in the ledger's Merkle log.\n"
    << "# TYPE medchain_log_size gauge\nmedchain_log_size " << tip.log_size << "\n"
    << "# HELP medchain_txs_total Transactions committed since start.\n"
    << "# TYPE medchain_txs_total counter\nmedchain_txs_total " << m_txs << "\n"
    << "# HELP medchain_txs_invalid_total Committed transactions marked invalid.\n"
    << "# TYPE medchain_txs_invalid_total counter\nmedchain_txs_invalid_total " << m_txs_invalid
    << "\n"
    << "# HELP medchain_submissions_total Transactions submitted to this node.\n"
    << "# TYPE medchain_submissions_total counter\nmedchain_submissions_total " << m_submitted
    << "\n"
    << "# HELP medchain_submissions_rejected_total Submissions refused before the pool.\n"
    << "# TYPE medchain_submissions_rejected_total counter\nmedchain_submissions_rejected_total "
    << m_rejected << "\n"
    << "# HELP medchain_reads_total Read requests.\n"
    << "# TYPE medchain_reads_total counter\nmedchain_reads_total " << m_reads << "\n"
    << "# HELP medchain_reads_refused_total Read requests refused (and recorded).\n"
    << "# TYPE medchain_reads_refused_total counter\nmedchain_reads_refused_total "
    << m_reads_refused << "\n"
    << "# HELP medchain_pool_size Transactions waiting in the pool.\n"
    << "# TYPE medchain_pool_size gauge\nmedchain_pool_size " << m_pool.Waiting() << "\n"
    << "# HELP medchain_pool_in_flight Transactions in proposed, unapplied blocks.\n"
    << "# TYPE medchain_pool_in_flight gauge\nmedchain_pool_in_flight " << m_pool.InFlight() << "\n"
    << "# HELP medchain_stale_proposals_total Proposals skipped as stale.\n"
    << "# TYPE medchain_stale_proposals_total counter\nmedchain_stale_proposals_total " << m_stale
    << "\n"
    << "# HELP medchain_halted 1 when this node stopped applying after finding an invalid block.\n"
    << "# TYPE medchain_halted gauge\nmedchain_halted " << (Halted() ? 1 : 0) << "\n"
    << "# HELP medchain_commit_latency_ms Submit-to-commit latency of transactions pooled here.\n"
    << "# TYPE medchain_commit_latency_ms histogram\n";
  m_commit_latency.Write(o, "medchain_commit_latency_ms");
  if (m_raft) {
    auto info = m_raft->Info();
    o << "# HELP medchain_raft_term Current Raft term.\n# TYPE medchain_raft_term gauge\n"
      << "medchain_raft_term " << info.term << "\n"
      << "# HELP medchain_raft_leader 1 when this node leads.\n# TYPE medchain_raft_leader gauge\n"
      << "medchain_raft_leader " << (info.state == consensus::RaftState::kLeader ? 1 : 0) << "\n"
      << "# HELP medchain_raft_commit_index Raft commit index.\n# TYPE medchain_raft_commit_index "
         "gauge\n"
      << "medchain_raft_commit_index " << info.commit_index << "\n";
  }
  return o.str();
}

std::string NodeImpl::ClusterJson(bool local_only) const {
  api::Json nodes = api::Json::array();
  std::string leader_url;
  std::optional<consensus::RaftStatus> info;
  if (m_raft) info = m_raft->Info();
  std::map<uint64_t, consensus::ServerInfo> config;
  if (info) {
    for (const auto& s : info->configuration) config[s.id] = s;
  }
  m_store->State().Scan("p/", [&](std::string_view, ByteView v) {
    auto p = ledger::Participant::Decode(v);
    if (!p.ok() || !p->node) return true;
    api::Json n = {{"id", p->id},
                   {"url", p->node->api_url},
                   {"raft_id", p->node->raft_id},
                   {"raft_address", p->node->raft_address}};
    std::string role = "none";
    if (!m_raft) {
      role = p->id == m_config.node_id ? "leader" : "none";
    } else if (config.count(p->node->raft_id)) {
      role = std::string(consensus::RoleName(config[p->node->raft_id].role));
      if (info->leader && info->leader->id == p->node->raft_id)
        role = "leader";
      else if (role == "voter")
        role = "follower";
    }
    if (role == "leader") leader_url = p->node->api_url;
    n["role"] = role;
    if (p->id == m_config.node_id) {
      n["term"] = info ? info->term : 0;
      n["applied"] = m_store->AppliedIndex();
      n["height"] = m_store->GetTip().height;
      n["self"] = true;
    } else if (!local_only) {
      // Each node reports its own term and progress.
      httplib::Client c(p->node->api_url);
      c.set_connection_timeout(0, 300000);
      c.set_read_timeout(1, 0);
      auto res = c.Get("/v1/cluster?local=1");
      n["reachable"] = res && res->status == 200;
      if (res && res->status == 200) {
        auto j = api::Json::parse(res->body, nullptr, false);
        if (j.is_object() && j.contains("nodes")) {
          for (const auto& other : j["nodes"]) {
            if (other.value("self", false)) {
              n["term"] = other.value("term", 0ULL);
              n["applied"] = other.value("applied", 0ULL);
              n["height"] = other.value("height", 0ULL);
            }
          }
        }
      }
    } else {
      if (!local_only) nodes.push_back(n);
      return true;
    }
    nodes.push_back(n);
    return true;
  });
  if (!m_raft) leader_url = m_url;
  return api::Json{{"leader", leader_url.empty() ? api::Json(nullptr) : api::Json(leader_url)},
                   {"nodes", nodes}}
      .dump();
}

}  // namespace

Result<std::unique_ptr<Node>> Node::Start(const NodeConfig& config) {
  auto node = std::make_unique<NodeImpl>(config);
  Status s = node->Init();
  if (!s.ok()) {
    node->Stop();
    return s;
  }
  return std::unique_ptr<Node>(std::move(node));
}

}  // namespace medchain::node
