// Copyright (c) medchain developers.
#include "medchain/node/node.h"

#include <sodium.h>
#include <unistd.h>

#include <atomic>
#include <charconv>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>
#include <unordered_map>

#include <httplib.h>
#include <spdlog/spdlog.h>

#include "medchain/api/json.h"
#include "medchain/api/server.h"
#include "medchain/consensus/raft_node.h"
#include "medchain/core/task_pool.h"
#include "medchain/crypto/init.h"
#include "medchain/crypto/keyfile.h"
#include "medchain/crypto/signed_note.h"
#include "medchain/node/backup.h"
#include "medchain/node/pool.h"
#include "medchain/store/chain.h"
#include "medchain/store/checkpoint.h"
#include "node/peer_http.h"
#include "node/refusal_limiter.h"
#include "node/waiters.h"

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

// Maps an API error code ("not_found") and message back to a Status.
Status StatusFromApiError(std::string_view code, std::string msg) {
  if (code == "invalid_argument") return Status::InvalidArgument(std::move(msg));
  if (code == "unauthenticated") return Status::Unauthenticated(std::move(msg));
  if (code == "already_exists") return Status::AlreadyExists(std::move(msg));
  if (code == "permission_denied") return Status::PermissionDenied(std::move(msg));
  if (code == "resource_exhausted") return Status::ResourceExhausted(std::move(msg));
  if (code == "failed_precondition") return Status::FailedPrecondition(std::move(msg));
  if (code == "not_found") return Status::NotFound(std::move(msg));
  if (code == "timeout") return Status::Timeout(std::move(msg));
  if (code == "corruption") return Status::Corruption(std::move(msg));
  return Status::Unavailable(std::move(msg));
}

// The test-only fault hook (docs/cluster.md, "Fault injection"): the height
// of the block this node corrupts before validating it, from
// $MEDCHAIN_TEST_TAMPER_APPLY. Never set in production.
constexpr const char* kTamperEnv = "MEDCHAIN_TEST_TAMPER_APPLY";

Result<std::optional<uint64_t>> TamperHeightFromEnv() {
  const char* v = std::getenv(kTamperEnv);
  if (!v || !*v) return std::optional<uint64_t>();
  std::string_view text(v);
  uint64_t h = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), h);
  if (ec != std::errc() || p != text.data() + text.size() || h == 0) {
    return Status::InvalidArgument(std::string("$") + kTamperEnv +
                                   " must be a block height >= 1 (it is a test-only fault hook)");
  }
  return std::optional<uint64_t>(h);
}

// A Raft member as the ledger's membership says it should be.
struct Member {
  std::string node_id;
  consensus::Peer peer;
  consensus::Role role = consensus::Role::kVoter;
};

consensus::Role RoleFromLedger(uint8_t raft_role) {
  switch (raft_role) {
    case 1:
      return consensus::Role::kStandby;
    case 2:
      return consensus::Role::kSpare;
    default:
      return consensus::Role::kVoter;
  }
}

// The pool that asks peers for GET /v1/cluster: enough workers for a few
// such requests to a 5-node cluster at once; asks past the queue's bound
// are not made (the peer shows unreachable) rather than queued without end.
constexpr size_t kFanoutThreads = 8;
constexpr size_t kFanoutQueue = 64;

class NodeImpl final : public Node, public consensus::StateMachine {
 public:
  explicit NodeImpl(NodeConfig config)
      : m_config(std::move(config)),
        m_pool(m_config.pool_max_txs),
        m_refusal_limiter(m_config.refused_reads_per_minute) {}
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
  // Submit, with the signature already verified by the caller when
  // `signature_checked` (so each transaction is verified once per node).
  // With `wait` and `defer`, does not wait: a pooled transaction's waiter
  // goes to *defer (a forwarded one's stays null: wait with WaitCommitted).
  Result<api::SubmitOutcome> SubmitChecked(TransactionRef tx,
                                           std::optional<ledger::Sidecar> sidecar, bool wait,
                                           bool signature_checked,
                                           Waiters::Ticket* defer = nullptr);
  Result<api::SubmitOutcome> Submit(TransactionRef tx, std::optional<ledger::Sidecar> sidecar,
                                    bool wait) override;
  std::vector<Result<api::SubmitOutcome>> SubmitBatch(std::vector<BatchItem> items,
                                                      bool wait) override;
  Result<api::SubmitOutcome> WaitCommitted(const Hash& id) override;
  Result<api::SubmitOutcome> WaitCommitted(const Hash& id, Clock::time_point deadline);
  Result<api::ReadOutcome> Read(TransactionRef request) override;
  std::string Metrics() const override;
  Status Health() const override;
  std::string ClusterJson(bool local_only) const override;
  Result<std::string> AdminBackup(std::string_view signer, std::string_view time_ms,
                                  std::string_view signature_hex) override {
    return m_backup->Handle(signer, time_ms, signature_hex);
  }

  // ---- consensus::StateMachine (Raft applier thread) ----
  void Apply(uint64_t index, uint64_t term, ByteView entry) override;
  Bytes Snapshot(uint64_t index, uint64_t term) override;
  void Restore(uint64_t index, uint64_t term, ByteView snapshot) override;
  void RestoreFromPeers(uint64_t index, uint64_t term, ByteView snapshot);
  void OnLeadershipChange(bool is_leader, uint64_t term) override;

 private:
  bool IsLeader() const { return !m_raft || m_leader.load(); }
  Status CheckForPool(const ledger::Transaction& tx, const ledger::Sidecar* sidecar) const;
  std::optional<api::SubmitOutcome> CommittedOutcome(const Hash& id) const;
  Result<api::SubmitOutcome> Wait(const Hash& id, Waiters::Ticket w);
  Result<api::SubmitOutcome> Wait(const Hash& id, Waiters::Ticket w, Clock::time_point deadline);
  Result<api::SubmitOutcome> SubmitAsNode(ledger::TxType type, Bytes body);
  // Sends a submission to the leader (retrying while leadership changes).
  // nullopt: this node leads now and pools the submission itself.
  std::optional<Result<api::SubmitOutcome>> Forward(const ledger::Transaction& tx,
                                                    const std::optional<ledger::Sidecar>& sidecar,
                                                    bool wait, const std::string& path);
  std::optional<std::string> LeaderUrl() const;
  // The registered nodes (participants with Raft information), cached: the
  // ledger's participant table also holds every patient, too many to scan
  // per request. Refreshed after a block that registers or updates anyone.
  std::vector<ledger::Participant> Nodes() const;
  // Sends a submission to the leader at `url` once.
  Result<api::SubmitOutcome> ForwardOnce(const std::string& url, const ledger::Transaction& tx,
                                         const std::optional<ledger::Sidecar>& sidecar, bool wait,
                                         const std::string& path);
  // Waits until this node applied transaction `id` itself, or `deadline`.
  Result<api::SubmitOutcome> WaitApplied(const Hash& id, Clock::time_point deadline);
  // How long a submission may wait for a leader to appear.
  std::chrono::milliseconds RoutingPatience() const;

  void CutterLoop();
  // Applies one ordered (index > 0) or fetched (index 0) proposal. Returns
  // the outcome's kind; kInvalid halts the node unless `from_peer` (a peer's
  // bad block is only that peer's fault: the caller tries another).
  store::ApplyOutcome::Kind ApplyProposal(const Proposal& p, uint64_t index,
                                          bool from_peer = false);
  void Halt(const std::string& why);
  // Stores the Raft index applied last; a node that cannot (a failing disk)
  // halts rather than replay entries it already applied. False if it halted.
  bool RecordApplied(uint64_t index);
  // Runs f; if it throws, halts with "<action> <index> failed unexpectedly".
  // The state machine callbacks must not throw into the consensus layer.
  template <class F>
  void HaltIfThrows(const char* action, uint64_t index, F&& f) {
    try {
      f();
    } catch (const std::exception& e) {
      Halt(std::string(action) + " " + std::to_string(index) + " failed unexpectedly: " + e.what());
    } catch (...) {
      Halt(std::string(action) + " " + std::to_string(index) + " failed unexpectedly");
    }
  }
  // Fetches and applies blocks from peers until the tip reaches `target`.
  // Retries unreachable peers until `deadline` (none: until the node stops).
  Status CatchUp(uint64_t target, std::optional<Clock::time_point> deadline = std::nullopt);
  std::vector<std::string> PeerUrls() const;
  // A node that is not in the local ledger yet (it joins an existing
  // cluster) fetches the ledger from peers first.
  Status JoinCatchUp();

  // ---- Membership (docs/cluster.md) ----
  // The Raft configuration the ledger asks for: founding nodes as voters,
  // then every valid membership transaction in ledger order. Kept in
  // DATA_DIR/membership.json (derived state, rebuilt from the ledger).
  Status LoadMembership();
  void NoteMembership(const ledger::Block& block, const std::vector<ledger::TxResult>& results);
  void ApplyMembershipTx(const ledger::Transaction& tx, std::map<uint64_t, Member>& members) const;
  void SaveMembershipLocked();
  // The leader's loop that makes the Raft configuration follow the ledger.
  void ReconcileLoop();
  // One step of reconciliation; true if it changed something.
  bool ReconcileOnce();

  NodeConfig m_config;
  std::string m_url;
  std::optional<crypto::KeyMaterial> m_keys;
  std::optional<crypto::NoteSigner> m_note_signer;
  std::string m_verifier_key;
  std::string m_origin;
  std::unique_ptr<store::Store> m_store;
  std::unique_ptr<store::Chain> m_chain;
  std::unique_ptr<BackupService> m_backup;  // set before the API starts
  Pool m_pool;
  Waiters m_waiters;
  RefusalLimiter m_refusal_limiter;
  std::unique_ptr<consensus::RaftNode> m_raft;
  std::atomic<bool> m_raft_left{false};  // Raft stopped after a halt (cutter thread)
  // Threads for the /v1/cluster fan-out, shared by all requests (declared
  // before m_server: it outlives every HTTP handler that submits to it).
  mutable TaskPool m_fanout{kFanoutThreads, kFanoutQueue};
  std::unique_ptr<api::Server> m_server;
  std::thread m_cutter;
  std::thread m_reconciler;
  // Forwards in progress (HTTP workers' clients), aborted by Stop().
  std::mutex m_forwards_mu;
  std::set<httplib::Client*> m_forwards;
  std::optional<uint64_t> m_tamper_height;  // test-only fault hook
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

  mutable std::mutex m_nodes_mu;
  mutable std::optional<std::vector<ledger::Participant>> m_nodes;  // guarded by m_nodes_mu

  // Membership wanted by the ledger, by Raft id. Written by the applier,
  // read by the reconciler and /v1/cluster.
  mutable std::mutex m_members_mu;
  std::condition_variable m_members_cv;
  std::map<uint64_t, Member> m_members;  // guarded by m_members_mu
  uint64_t m_members_height = 0;         // guarded by m_members_mu
  bool m_members_kick = false;           // guarded by m_members_mu
  std::string m_members_file;

  // Metrics.
  std::atomic<uint64_t> m_blocks{0}, m_txs{0}, m_txs_invalid{0}, m_submitted{0}, m_rejected{0};
  std::atomic<uint64_t> m_reads{0}, m_reads_refused{0}, m_reads_limited{0}, m_stale{0};
  std::atomic<uint64_t> m_forwarded{0}, m_restores{0}, m_catchup_blocks{0}, m_membership_changes{0};
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
  // The data folder holds patients' ciphertexts and the audit trail: no one
  // but the node's user may list or read it (docs/operations.md).
  const auto perms = fs::status(m_config.data_dir, ec).permissions();
  if (!ec && (perms & (fs::perms::group_all | fs::perms::others_all)) != fs::perms::none) {
    fs::permissions(m_config.data_dir, fs::perms::owner_all, fs::perm_options::replace, ec);
    if (ec)
      return Status::IOError("cannot make " + m_config.data_dir + " private: " + ec.message());
    spdlog::warn("data folder {} was readable by others: now 0700", m_config.data_dir);
  }
  store::StoreOptions so;
  so.path = (fs::path(m_config.data_dir) / "ledger").string();
  so.sync = m_config.sync;
  MC_ASSIGN_OR_RETURN(m_store, store::Store::Open(so));
  MC_ASSIGN_OR_RETURN(m_chain, store::Chain::Open(m_store.get(), *genesis));
  MC_ASSIGN_OR_RETURN(auto sign_copy, crypto::SigningKey::FromSeed(m_keys->signing.seed()));
  MC_ASSIGN_OR_RETURN(auto signer,
                      crypto::NoteSigner::Create(m_config.node_id, std::move(sign_copy)));
  m_verifier_key = crypto::FormatNoteVerifierKey(signer.verifier_key());
  m_note_signer.emplace(std::move(signer));
  m_origin = store::CheckpointOrigin(m_chain->genesis(), m_chain->genesis_hash());
  m_url = m_config.public_url;
  m_backup = std::make_unique<BackupService>(m_config, *m_store, m_origin);

  MC_ASSIGN_OR_RETURN(m_tamper_height, TamperHeightFromEnv());
  if (m_tamper_height) {
    spdlog::critical(
        "TEST FAULT HOOK ENABLED: ${}={}: this node will flip a byte of block {} before "
        "validating it and must then halt. This is for tests only; unset it in production.",
        kTamperEnv, *m_tamper_height, *m_tamper_height);
  }

  MC_RETURN_IF_ERROR(LoadMembership());

  // This node must be a registered node with this key. A node that joins an
  // existing cluster learns its own registration from the ledger of peers.
  MC_ASSIGN_OR_RETURN(auto me,
                      ledger::StateView(m_store->State()).GetParticipant(m_config.node_id));
  if (!me && m_config.raft.enabled) {
    MC_RETURN_IF_ERROR(JoinCatchUp());
    MC_ASSIGN_OR_RETURN(me, ledger::StateView(m_store->State()).GetParticipant(m_config.node_id));
  }
  if (!me || me->role != ledger::Role::kNode) {
    return Status::FailedPrecondition(
        "node " + m_config.node_id + " is not a registered node of this chain (height " +
        std::to_string(m_store->GetTip().height) +
        "); an admin registers it first: medchain cluster register (docs/cluster.md)");
  }
  if (me->sign_key != m_keys->signing.public_key()) {
    return Status::FailedPrecondition("the key file " + m_config.key_file + " is not node " +
                                      m_config.node_id + "'s registered key");
  }
  if (m_config.raft.enabled && me->node && me->node->raft_address != m_config.raft.address) {
    return Status::FailedPrecondition("raft.address " + m_config.raft.address + " is not node " +
                                      m_config.node_id + "'s registered Raft address " +
                                      me->node->raft_address);
  }
  if (me->node && me->node->api_url != m_config.public_url) {
    spdlog::warn("api.public_url {} differs from the registered API URL {}: peers forward to {}",
                 m_config.public_url, me->node->api_url, me->node->api_url);
  }

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
    if (!founding) {
      spdlog::info(
          "node {} is not a founding node: it waits for the leader to add it (Raft id {}, {})",
          m_config.node_id, ro.id, ro.address);
    }
    m_reconciler = std::thread([this] { ReconcileLoop(); });
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
  {
    std::lock_guard lock(m_members_mu);
    m_members_kick = true;
    m_members_cv.notify_all();
  }
  // Requests in progress end now (their clients retry elsewhere), so the
  // HTTP server can stop without waiting out commit waits and forwards.
  m_waiters.Close();
  {
    std::lock_guard lock(m_forwards_mu);
    for (auto* c : m_forwards) c->stop();
  }
  if (m_server) m_server->Stop();
  if (m_cutter.joinable()) m_cutter.join();
  if (m_reconciler.joinable()) m_reconciler.join();
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

Result<api::SubmitOutcome> NodeImpl::Wait(const Hash& id, Waiters::Ticket w) {
  return Wait(id, std::move(w), Clock::now() + std::chrono::milliseconds(m_config.wait_timeout_ms));
}

Result<api::SubmitOutcome> NodeImpl::Wait(const Hash& id, Waiters::Ticket w,
                                          Clock::time_point deadline) {
  if (auto r = m_waiters.Wait(id, w, deadline)) return *r;
  if (auto c = CommittedOutcome(id)) return *c;
  return Status::Timeout("not committed within " + std::to_string(m_config.wait_timeout_ms) +
                         " ms; it is still pending (GET /v1/transactions/" + ToHex(id) + ")");
}

Result<api::SubmitOutcome> NodeImpl::WaitCommitted(const Hash& id) {
  return WaitCommitted(id, Clock::now() + std::chrono::milliseconds(m_config.wait_timeout_ms));
}

Result<api::SubmitOutcome> NodeImpl::WaitCommitted(const Hash& id, Clock::time_point deadline) {
  auto w = m_waiters.Register(id);
  if (auto c = CommittedOutcome(id)) {
    m_waiters.Unregister(id, w);
    return *c;
  }
  return Wait(id, w, deadline);
}

Result<api::SubmitOutcome> NodeImpl::Submit(TransactionRef tx,
                                            std::optional<ledger::Sidecar> sidecar, bool wait) {
  return SubmitChecked(std::move(tx), std::move(sidecar), wait, false);
}

std::vector<Result<api::SubmitOutcome>> NodeImpl::SubmitBatch(std::vector<BatchItem> items,
                                                              bool wait) {
  std::vector<Result<api::SubmitOutcome>> out;
  out.reserve(items.size());
  std::vector<Waiters::Ticket> waiters(items.size());
  // Everything is pooled first, so the whole batch can go into one block;
  // then one wait per pooled transaction, all against one deadline.
  for (size_t i = 0; i < items.size(); ++i) {
    out.push_back(SubmitChecked(std::move(items[i].tx), std::move(items[i].sidecar), wait, false,
                                &waiters[i]));
  }
  if (!wait) return out;
  const auto deadline = Clock::now() + std::chrono::milliseconds(m_config.wait_timeout_ms);
  for (size_t i = 0; i < out.size(); ++i) {
    if (!out[i].ok()) continue;
    const Hash id = out[i]->id;
    if (waiters[i]) {
      out[i] = Wait(id, waiters[i], deadline);
    } else {
      // Committed before, or forwarded to the leader (which may answer
      // "committed" before this node applied the block): answer once this
      // node applied it, so a read here sees the write.
      out[i] = WaitCommitted(id, deadline);
    }
  }
  return out;
}

Result<api::SubmitOutcome> NodeImpl::SubmitChecked(TransactionRef tx,
                                                   std::optional<ledger::Sidecar> sidecar,
                                                   bool wait, bool signature_checked,
                                                   Waiters::Ticket* defer) {
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
  // Every committed transaction whose signature holds used its nonce, so an
  // unused nonce rules a new transaction out without a second lookup.
  const ledger::StateView view(m_store->State());
  bool nonce_used = view.NonceUsed(tx->author(), tx->nonce());
  if (nonce_used) {
    if (auto c = CommittedOutcome(tx->id())) return *c;
  }
  if (m_raft && !IsLeader()) {
    if (auto forwarded = Forward(*tx, sidecar, wait && !defer, "/v1/transactions")) {
      if (!forwarded->ok()) m_rejected++;
      return *forwarded;
    }
    // This node leads now; it may have applied the transaction meanwhile.
    if (auto c = CommittedOutcome(tx->id())) return *c;
    nonce_used = view.NonceUsed(tx->author(), tx->nonce());
  }
  if (!m_pool.Contains(tx->id())) {
    // The one signature check of this transaction on this node.
    if (!signature_checked && !tx->VerifySignature()) {
      return reject(Status::Unauthenticated("the signature does not verify for the author key"));
    }
    if (nonce_used) {
      return reject(Status::AlreadyExists("nonce " + std::to_string(tx->nonce()) +
                                          " was already used by this author (replay)"));
    }
  }
  Waiters::Ticket w;
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
  if (!wait || defer) {
    if (defer) *defer = w;
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
  for (const auto& p : Nodes()) {
    if (p.node->raft_id == leader->id) return p.node->api_url;
  }
  return std::nullopt;
}

std::vector<ledger::Participant> NodeImpl::Nodes() const {
  std::lock_guard lock(m_nodes_mu);
  if (!m_nodes) {
    std::vector<ledger::Participant> nodes;
    m_store->State().Scan("p/", [&](std::string_view, ByteView v) {
      auto p = ledger::Participant::Decode(v);
      if (p.ok() && p->node) nodes.push_back(std::move(*p));
      return true;
    });
    m_nodes = std::move(nodes);
  }
  return *m_nodes;
}

std::chrono::milliseconds NodeImpl::RoutingPatience() const {
  // Long enough for an election (randomised in [t, 2t), plus pre-vote),
  // never longer than a client's commit wait.
  unsigned election = m_config.raft.election_timeout_ms;
  return std::chrono::milliseconds(
      std::min<uint64_t>(m_config.wait_timeout_ms, std::max<uint64_t>(2000, 4ull * election)));
}

// Followers forward every submission to the leader (libraft has no
// forwarding of its own). The leader checks and pools it; with `wait` the
// leader answers once the block committed there, and this node answers only
// once it applied the block itself, so a read here sees the write.
//
// A leader that died or lost leadership mid-request is replaced by waiting
// for the next one and sending again: harmless, since a transaction is
// identified by its id and the ledger answers a repeat with its first
// outcome (de-duplication in Chain::Apply).
std::optional<Result<api::SubmitOutcome>> NodeImpl::Forward(
    const ledger::Transaction& tx, const std::optional<ledger::Sidecar>& sidecar, bool wait,
    const std::string& path) {
  const auto start = Clock::now();
  const auto route_deadline = start + RoutingPatience();
  const auto wait_deadline = start + std::chrono::milliseconds(m_config.wait_timeout_ms);
  using Out = Result<api::SubmitOutcome>;
  Status last = Status::Unavailable("no leader is known right now (election in progress); retry");
  for (unsigned attempt = 0;; ++attempt) {
    if (m_stopping) return Out(Status::Unavailable("the node is shutting down"));
    if (auto h = Halted()) return Out(Status::Unavailable("the node halted: " + *h));
    if (IsLeader()) return std::nullopt;
    if (attempt > 0) {
      if (auto c = CommittedOutcome(tx.id())) return Out(*c);  // applied here meanwhile
    }
    if (m_raft->IsLeader()) {
      // Elected, still applying what earlier leaders committed: it will cut
      // blocks in a moment, so the submission is retried here, not forwarded
      // to itself.
      last = Status::Unavailable("this node was just elected and is not ready yet; retry");
    } else if (auto url = LeaderUrl()) {
      auto r = ForwardOnce(*url, tx, sidecar, wait, path);
      if (r.ok()) {
        m_forwarded++;
        if (!wait || !r->committed) return r;
        // Committed on the leader: answer once applied here too.
        return WaitApplied(tx.id(), wait_deadline);
      }
      // Retry only what a new leader can fix: the leader died, stepped down
      // or is shutting down. Everything else is the leader's verdict.
      if (r.status().code() != Code::kUnavailable) return Out(r.status());
      last = r.status();
    }
    if (Clock::now() >= route_deadline) return Out(last);
    std::this_thread::sleep_for(std::chrono::milliseconds(attempt < 10 ? 10 : 50));
  }
}

Result<api::SubmitOutcome> NodeImpl::ForwardOnce(const std::string& url,
                                                 const ledger::Transaction& tx,
                                                 const std::optional<ledger::Sidecar>& sidecar,
                                                 bool wait, const std::string& path) {
  Encoder e;
  e.U8(1).Var(tx.bytes()).Bool(sidecar.has_value());
  if (sidecar) e.Var(sidecar->Encode());
  // One keep-alive connection per HTTP worker thread and leader.
  thread_local std::map<std::string, std::unique_ptr<httplib::Client>> clients;
  auto& client = clients[url];
  if (!client) {
    client = std::make_unique<httplib::Client>(url);
    client->set_keep_alive(true);
    client->set_tcp_nodelay(true);
    client->set_connection_timeout(std::chrono::milliseconds(500));
    client->set_read_timeout(std::chrono::milliseconds(m_config.wait_timeout_ms + 5000));
  }
  std::string full = path + (wait ? "?wait=commit" : "");
  {
    std::lock_guard lock(m_forwards_mu);
    if (m_stopping) return Status::Unavailable("the node is shutting down");
    m_forwards.insert(client.get());
  }
  PeerCall call;
  call.method = "POST";
  call.path = full;
  call.body = std::string(AsString(e.buffer()));
  call.content_type = "application/vnd.medchain.submission";
  auto res = PeerRequest(*client, url, "the leader", std::move(call));
  {
    std::lock_guard lock(m_forwards_mu);
    m_forwards.erase(client.get());
  }
  if (!res.ok()) {
    client.reset();
    return Status::Unavailable(res.status().message() + "; retry");
  }
  auto j = api::ParseJson(res->body, "leader response");
  if (!j.ok() || !j->is_object()) return Status::Unavailable("the leader answered garbage");
  // The leader's reply is read as untrusted: a field of the wrong type is
  // garbage (nlohmann's value() throws), not a failed request thread.
  try {
    if (res->status >= 300) {
      return StatusFromApiError(j->value("error", "unavailable"),
                                j->value("message", "error from the leader"));
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
      o.result.code =
          code == "ok" ? ledger::TxCode::kOk
                       : (code == "refused" ? ledger::TxCode::kRefused : ledger::TxCode::kInvalid);
      o.result.reason = r.value("reason", "");
      o.result.break_glass = r.value("break_glass", false);
      if (r.contains("records")) {
        for (const auto& k : r["records"]) {
          o.result.records.push_back(
              ledger::KeyRef{k.value("record_id", ""), k.value("version", 0U)});
        }
      }
    }
    return o;
  } catch (const api::Json::exception&) {
    return Status::Unavailable("the leader answered garbage");
  }
}

Result<api::SubmitOutcome> NodeImpl::WaitApplied(const Hash& id, Clock::time_point deadline) {
  auto w = m_waiters.Register(id);
  if (auto c = CommittedOutcome(id)) {
    m_waiters.Unregister(id, w);
    return *c;
  }
  auto r = m_waiters.Wait(id, w, deadline);
  if (!r) {
    if (auto c = CommittedOutcome(id)) return *c;
    return Status::Timeout("committed on the leader but not yet applied on this node within " +
                           std::to_string(m_config.wait_timeout_ms) + " ms (GET /v1/transactions/" +
                           ToHex(id) + ")");
  }
  // A waiter is fulfilled with an error only when this node stops or stops
  // leading; the transaction is committed (the leader said so): look again.
  if (!r->ok()) {
    if (auto c = CommittedOutcome(id)) return *c;
  }
  return *r;
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
  // Only a valid signature of a registered participant can put an entry in
  // a patient's trail (docs/security.md): anything else is answered and
  // leaves no trace, so nobody can plant entries that blame someone else.
  if (!request->VerifySignature()) {
    m_reads_refused++;
    return Status::Unauthenticated(
        "the read request's signature does not verify for its author key (nothing recorded)");
  }
  const ledger::StateView state(m_store->State());
  MC_ASSIGN_OR_RETURN(ledger::AuthorCheck standing, ledger::CheckAuthor(state, *request));
  if (standing.standing == ledger::AuthorStanding::kUnregistered) {
    m_reads_refused++;
    return Status::Unauthenticated(
        "the read request's author key belongs to no registered participant (nothing recorded)");
  }
  const std::string& requester_id = standing.author->id;
  // Refused reads of a real participant are recorded, a limited number a
  // minute per participant on this node (api.refused_reads_per_minute).
  auto over_limit = [&] {
    if (m_refusal_limiter.TryTake(requester_id, Clock::now())) return std::optional<Status>();
    m_reads_refused++;
    m_reads_limited++;
    return std::optional<Status>(Status::ResourceExhausted(
        requester_id + " had more than " + std::to_string(m_refusal_limiter.per_minute()) +
        " refused read requests in the last minute on this node; this one was refused and not "
        "recorded (retry later)"));
  };
  // Requests refused before ordering (replays) are recorded on the ledger.
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
  if (auto c = CommittedOutcome(request->id())) {
    if (auto limited = over_limit()) return *limited;
    record_refusal("replayed request: transaction " + ToHex(request->id()) + " was already served");
    return Status::AlreadyExists("this read request was already served; sign a new one (recorded)");
  }
  if (state.NonceUsed(request->author(), request->nonce()) ||
      m_pool.NonceInUse(request->author(), request->nonce())) {
    if (auto limited = over_limit()) return *limited;
    record_refusal("replayed request: nonce " + std::to_string(request->nonce()) + " already used");
    return Status::AlreadyExists("the request's nonce was already used (replay; recorded)");
  }
  {
    // Would the rules refuse it? Then it counts against the limit before it
    // is ordered (the block's decision is still the one recorded).
    const store::Tip tip = m_store->GetTip();
    MC_ASSIGN_OR_RETURN(ledger::TxResult preview,
                        ledger::PreviewTransaction(m_store->State(), m_chain->genesis().params,
                                                   tip.height + 1, NowMs(), *request));
    if (preview.code == ledger::TxCode::kRefused) {
      if (auto limited = over_limit()) return *limited;
    }
  }
  // The signature was checked above: the pool takes it as verified.
  MC_ASSIGN_OR_RETURN(api::SubmitOutcome access, SubmitChecked(request, std::nullopt, true, true));
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
    if (Halted() && m_raft && !m_raft_left) {
      // A halted node leaves consensus: it can neither lead nor vouch for a
      // state it stopped applying. (Stop() cannot run on the applier thread
      // that found the fault, so it runs here.)
      m_raft_left = true;
      spdlog::critical("node {} leaves the Raft cluster because it halted: {}", m_config.node_id,
                       *Halted());
      m_raft->Stop();
      for (auto& e : m_pool.Clear()) {
        m_waiters.Fulfil(e.tx->id(), Status::Unavailable("the node halted: " + *Halted()), {});
      }
      continue;
    }
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
  m_pool.Wake();
  m_flight_cv.notify_all();
}

bool NodeImpl::RecordApplied(uint64_t index) {
  Status s = m_store->SetAppliedIndex(index);
  if (!s.ok()) Halt("cannot record Raft index " + std::to_string(index) + ": " + s.ToString());
  return s.ok();
}

store::ApplyOutcome::Kind NodeImpl::ApplyProposal(const Proposal& proposal, uint64_t index,
                                                  bool from_peer) {
  using Kind = store::ApplyOutcome::Kind;
  if (Halted()) return Kind::kInvalid;
  const Proposal* pp = &proposal;
  std::optional<Proposal> tampered;
  if (m_tamper_height && proposal.block.header.height == *m_tamper_height &&
      !proposal.block.txs.empty()) {
    // Test-only fault hook: flip the last byte (the signature) of the
    // block's first transaction, as a corrupt network or disk would.
    tampered = proposal;
    Bytes raw = tampered->block.txs[0]->bytes();
    raw.back() ^= 0x01;
    auto tx = ledger::Transaction::Decode(raw);
    if (tx.ok()) tampered->block.txs[0] = *tx;
    spdlog::critical("TEST FAULT HOOK: flipped a byte of block {} before validating it",
                     *m_tamper_height);
    pp = &*tampered;
  }
  const Proposal& p = *pp;
  const store::Tip tip = m_store->GetTip();
  if (p.block.header.height <= tip.height) {
    // A block this node has already (e.g. fetched from a peer before Raft
    // delivered it): nothing to do. A different block at that height is a
    // proposal overtaken by a leader change; Chain::Apply says "stale".
    auto have = m_store->GetBlockBytes(p.block.header.height);
    if (have.ok() && *have) {
      auto b = ledger::Block::Decode(**have);
      if (b.ok() && b->hash() == proposal.block.hash()) {
        if (index != 0 && index > m_store->AppliedIndex()) {
          if (!RecordApplied(index)) return Kind::kInvalid;
        }
        return Kind::kApplied;
      }
    }
  }
  Hash hash = proposal.block.hash();
  auto r = m_chain->Apply(
      p, index, [this](const Hash& id) { return m_pool.Contains(id); },
      [this](const store::Tip& t) {
        auto note = crypto::SignCheckpoint(store::MakeCheckpoint(m_origin, t), *m_note_signer);
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
    return Kind::kInvalid;
  }
  const store::ApplyOutcome& o = *r;
  if (o.kind == Kind::kStale) {
    if (!mine.empty()) m_pool.Return(std::move(mine));
    m_reset_spec = true;
    if (index != 0 && p.block.header.height > tip.height + 1) {
      // A gap: blocks before this one never reached this node (e.g. it
      // installed a snapshot that was behind). Fetch them, then apply this.
      spdlog::warn("block {} arrived at height {}: fetching the blocks in between from peers",
                   p.block.header.height, tip.height);
      Status st = CatchUp(p.block.header.height - 1);
      if (!st.ok()) {
        Halt("cannot fetch blocks " + std::to_string(tip.height + 1) + ".." +
             std::to_string(p.block.header.height - 1) + ": " + st.ToString());
        return Kind::kInvalid;
      }
      return ApplyProposal(proposal, index, from_peer);
    }
    m_stale++;
    spdlog::warn("skipped stale proposal: {}", o.reason);
    if (index != 0 && !RecordApplied(index)) return Kind::kInvalid;
    return Kind::kStale;
  }
  if (o.kind == Kind::kInvalid) {
    if (!mine.empty()) m_pool.Return(std::move(mine));
    if (from_peer) {
      spdlog::error("a peer served an invalid block: {}", o.reason);
    } else {
      Halt("invalid block from the leader: " + o.reason);
    }
    return Kind::kInvalid;
  }
  // Applied.
  m_blocks++;
  m_txs += p.block.txs.size();
  auto now = Clock::now();
  std::unordered_map<Hash, Clock::time_point, HashHasher> received;
  for (const auto& e : mine) received.emplace(e.tx->id(), e.received);
  bool membership = false;
  for (size_t i = 0; i < p.block.txs.size(); ++i) {
    const Hash& id = p.block.txs[i]->id();
    if (!o.results[i].ok()) m_txs_invalid++;
    const auto type = p.block.txs[i]->type();
    if (type == ledger::TxType::kMembership) membership = true;
    if (type == ledger::TxType::kRegisterParticipant ||
        type == ledger::TxType::kUpdateParticipant) {
      std::lock_guard lock(m_nodes_mu);
      m_nodes.reset();
    }
    auto it = received.find(id);
    if (it != received.end()) {
      m_commit_latency.Observe(std::chrono::duration<double, std::milli>(now - it->second).count());
    }
  }
  if (membership || p.block.header.height % 1000 == 0) NoteMembership(p.block, o.results);
  m_pool.Committed(p.block.txs);
  m_waiters.CompleteBlock(p.block, o.results, o.first_leaf,
                          [this](const Hash& id) { return CommittedOutcome(id); });
  return Kind::kApplied;
}

// ---- Consensus callbacks ----

void NodeImpl::Apply(uint64_t index, uint64_t, ByteView entry) {
  if (index <= m_store->AppliedIndex()) return;  // replay after restart
  if (Halted()) return;
  auto p = Proposal::Decode(entry);
  if (!p.ok()) {
    Halt("Raft entry " + std::to_string(index) +
         " is not a valid proposal: " + p.status().message());
    return;
  }
  // A state machine must not throw (the entry would be neither applied nor
  // refused). Whatever a library throws while applying halts this node
  // instead: the entry stays unapplied and is replayed after a restart.
  HaltIfThrows("applying Raft entry", index, [&] { ApplyProposal(*p, index); });
}

Bytes NodeImpl::Snapshot(uint64_t, uint64_t) {
  // Every entry up to the snapshot's index has been applied (the adapter
  // calls this in order with Apply), so the tip describes that index.
  store::Tip t = m_store->GetTip();
  return Snapshot_{t.height, t.hash}.Encode();
}

void NodeImpl::Restore(uint64_t index, uint64_t term, ByteView snapshot) {
  // As Apply: a throw would leave Raft believing the snapshot installed.
  HaltIfThrows("installing the Raft snapshot at index", index,
               [&] { RestoreFromPeers(index, term, snapshot); });
}

void NodeImpl::RestoreFromPeers(uint64_t index, uint64_t, ByteView snapshot) {
  if (index <= m_store->AppliedIndex()) return;  // start-up: our own, older snapshot
  if (Halted()) return;
  auto s = Snapshot_::Decode(snapshot);
  if (!s.ok()) {
    Halt("invalid Raft snapshot: " + s.status().message());
    return;
  }
  const uint64_t from = m_store->GetTip().height;
  m_restores++;
  spdlog::info(
      "restore: installing Raft snapshot at index {} (height {}); this node is at height {}: "
      "catching up from peers",
      index, s->height, from);
  const auto start = Clock::now();
  Status st = CatchUp(s->height);
  if (!st.ok()) {
    if (!m_stopping)
      Halt("catching up to height " + std::to_string(s->height) + " failed: " + st.ToString());
    return;
  }
  // The snapshot names the block at its height: ours must be the same.
  auto have = m_store->GetBlock(s->height);
  if (!have.ok() || !*have || (*have)->hash() != s->hash) {
    Halt("the Raft snapshot names block " + ToHex(s->hash) + " at height " +
         std::to_string(s->height) + " but this node's chain has a different one");
    return;
  }
  if (!RecordApplied(index)) return;
  spdlog::info("restore: done, caught up from height {} to {} in {:.1f} s (Raft index {})", from,
               m_store->GetTip().height,
               std::chrono::duration<double>(Clock::now() - start).count(), index);
}

std::vector<std::string> NodeImpl::PeerUrls() const {
  std::vector<std::string> urls;
  std::set<std::string> seen;
  auto add = [&](const std::string& u) {
    if (u.empty() || u == m_url || u == m_config.public_url || !seen.insert(u).second) return;
    urls.push_back(u);
  };
  // The leader first: it has every committed block.
  if (auto leader = LeaderUrl()) add(*leader);
  for (const auto& p : Nodes()) {
    if (p.id != m_config.node_id) add(p.node->api_url);
  }
  for (const auto& u : m_config.raft.join) add(u);
  return urls;
}

Status NodeImpl::CatchUp(uint64_t target, std::optional<Clock::time_point> deadline) {
  // Fetch each missing block (with its remaining sidecars) from a peer and
  // apply it like any other: every block is validated here. A peer that is
  // unreachable, lacks the block or serves an invalid one is skipped.
  std::vector<std::string> urls = PeerUrls();
  size_t which = 0;
  auto last_warning = Clock::now();
  auto last_progress = Clock::now();
  size_t bad_in_a_row = 0;
  std::set<std::string> oversize_warned;  // once per peer: the log stays bounded
  while (m_store->GetTip().height < target) {
    if (m_stopping) return Status::Unavailable("the node is stopping");
    if (deadline && Clock::now() > *deadline) {
      return Status::Unavailable("peers did not serve block " +
                                 std::to_string(m_store->GetTip().height + 1) + " in time");
    }
    if (urls.empty()) {
      urls = PeerUrls();
      if (urls.empty()) return Status::Unavailable("no peer to catch up from");
    }
    const uint64_t h = m_store->GetTip().height + 1;
    const std::string& url = urls[which % urls.size()];
    httplib::Client c(url);
    c.set_connection_timeout(std::chrono::milliseconds(500));
    c.set_read_timeout(std::chrono::seconds(30));
    // Signed, so the peer also sends the sidecars (ciphertexts, wrapped keys).
    uint64_t now = NowMs();
    Bytes msg = api::SyncRequestMessage(m_config.node_id, h, now);
    httplib::Headers headers = {{"X-Medchain-Node", m_config.node_id},
                                {"X-Medchain-Time", std::to_string(now)},
                                {"X-Medchain-Signature", ToHex(m_keys->signing.Sign(msg))}};
    PeerCall call;
    call.path = "/v1/sync/" + std::to_string(h);
    call.headers = std::move(headers);
    call.max_reply_bytes = m_config.peer_reply_max_bytes;
    auto res = PeerRequest(c, url, "the peer", std::move(call));
    if (!res.ok() && IsReplyTooLarge(res.status()) && oversize_warned.insert(url).second) {
      spdlog::warn("catch-up: {} (api.peer_reply_max_bytes); trying another peer",
                   res.status().message());
    }
    bool applied = false;
    if (res.ok() && res->status == 200) {
      auto p = Proposal::Decode(AsBytes(res->body));
      if (p.ok() && p->block.header.height == h) {
        auto kind = ApplyProposal(*p, 0, /*from_peer=*/true);
        if (Halted()) return Status::Corruption(*Halted());
        applied = kind == store::ApplyOutcome::Kind::kApplied && m_store->GetTip().height >= h;
        if (!applied) {
          spdlog::error(
              "catch-up: {} served block {} that does not apply here; trying another peer", url, h);
          if (++bad_in_a_row > 3 * urls.size()) {
            return Status::Corruption("no peer serves a valid block " + std::to_string(h));
          }
        }
      }
    }
    if (applied) {
      bad_in_a_row = 0;
      m_catchup_blocks++;
      if (Clock::now() - last_progress > std::chrono::seconds(2)) {
        spdlog::info("catch-up: at height {} of {}", h, target);
        last_progress = Clock::now();
      }
      continue;
    }
    which++;
    if (which % urls.size() == 0) {
      // Every peer tried: back off a little, refresh the list.
      if (Clock::now() - last_warning > std::chrono::seconds(5)) {
        spdlog::warn("catch-up: no peer served block {} yet (tried {}); retrying", h, urls.size());
        last_warning = Clock::now();
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      urls = PeerUrls();
    }
  }
  return Status::Ok();
}

Status NodeImpl::JoinCatchUp() {
  spdlog::info("node {} is not in the local ledger (height {}): fetching the ledger from peers",
               m_config.node_id, m_store->GetTip().height);
  // How far do the peers go?
  uint64_t target = 0;
  std::vector<std::string> reached;
  for (const auto& url : PeerUrls()) {
    httplib::Client c(url);
    c.set_connection_timeout(std::chrono::milliseconds(500));
    c.set_read_timeout(std::chrono::seconds(5));
    PeerCall call;
    call.path = "/v1/node";
    auto res = PeerRequest(c, url, "the peer", std::move(call));
    if (!res.ok() && IsReplyTooLarge(res.status())) spdlog::warn("{}", res.status().message());
    if (!res.ok() || res->status != 200) continue;
    auto j = api::Json::parse(res->body, nullptr, false);
    if (!j.is_object() || !j.contains("height") || !j["height"].is_number_unsigned()) continue;
    target = std::max(target, j["height"].get<uint64_t>());
    reached.push_back(url);
  }
  if (reached.empty()) {
    return Status::Unavailable("node " + m_config.node_id +
                               " is not in the local ledger and no peer answered (the founding "
                               "nodes of the genesis and raft.join are asked)");
  }
  MC_RETURN_IF_ERROR(CatchUp(target, Clock::now() + std::chrono::minutes(10)));
  spdlog::info("fetched the ledger up to height {} from peers", m_store->GetTip().height);
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
  if (is_leader) {
    // The new leader makes the Raft configuration follow the ledger: a
    // membership change committed under the previous leader but not carried
    // out by it is carried out now.
    std::lock_guard lock(m_members_mu);
    m_members_kick = true;
    m_members_cv.notify_all();
  }
}

// ---- Membership ----

void NodeImpl::ApplyMembershipTx(const ledger::Transaction& tx,
                                 std::map<uint64_t, Member>& members) const {
  auto m = ledger::DecodeBody<ledger::Membership>(tx.body(), "membership");
  if (!m.ok()) return;
  auto p = ledger::StateView(m_store->State()).GetParticipant(m->node_id);
  if (!p.ok() || !*p || !(*p)->node) return;
  const ledger::NodeInfo& n = *(*p)->node;
  switch (m->op) {
    case ledger::MembershipOp::kAdd:
      members[n.raft_id] = Member{(*p)->id, consensus::Peer{n.raft_id, n.raft_address},
                                  RoleFromLedger(m->raft_role)};
      break;
    case ledger::MembershipOp::kRemove:
      members.erase(n.raft_id);
      break;
    case ledger::MembershipOp::kAssign: {
      auto it = members.find(n.raft_id);
      if (it != members.end()) it->second.role = RoleFromLedger(m->raft_role);
      break;
    }
  }
}

Status NodeImpl::LoadMembership() {
  m_members_file = (fs::path(m_config.data_dir) / "membership.json").string();
  std::map<uint64_t, Member> members;
  uint64_t height = 0;
  bool loaded = false;
  if (std::ifstream in(m_members_file); in) {
    std::stringstream ss;
    ss << in.rdbuf();
    // The file is this node's own, but a disk can corrupt it: a field of
    // the wrong type (nlohmann's value() throws) makes it unusable, not fatal.
    try {
      auto j = api::Json::parse(ss.str(), nullptr, false);
      if (j.is_object() && j.value("version", 0) == 1 && j.contains("members") &&
          j.value("genesis", "") == ToHex(m_chain->genesis_hash())) {
        height = j.value("height", 0ULL);
        for (const auto& m : j["members"]) {
          Member x;
          x.node_id = m.value("node_id", "");
          x.peer = consensus::Peer{m.value("raft_id", 0ULL), m.value("address", "")};
          x.role = RoleFromLedger(static_cast<uint8_t>(m.value("role", 0)));
          members[x.peer.id] = x;
        }
        loaded = height <= m_store->GetTip().height;
      }
    } catch (const api::Json::exception&) {
      members.clear();
      height = 0;
      loaded = false;
    }
    if (!loaded) spdlog::warn("{} is unusable; rebuilding it from the ledger", m_members_file);
  }
  if (!loaded) {
    members.clear();
    height = 0;
    for (const auto& p : m_chain->genesis().participants) {
      if (p.node) {
        members[p.node->raft_id] = Member{
            p.id, consensus::Peer{p.node->raft_id, p.node->raft_address}, consensus::Role::kVoter};
      }
    }
  }
  // Blocks applied since the file was written.
  const uint64_t tip = m_store->GetTip().height;
  for (uint64_t h = height + 1; h <= tip; ++h) {
    MC_ASSIGN_OR_RETURN(auto b, m_store->GetBlock(h));
    if (!b) return Status::Corruption("block " + std::to_string(h) + " is missing");
    for (uint32_t i = 0; i < b->txs.size(); ++i) {
      const auto& tx = *b->txs[i];
      if (tx.type() != ledger::TxType::kMembership) continue;
      MC_ASSIGN_OR_RETURN(auto loc, m_store->FindTx(tx.id()));
      if (loc && loc->height == h && loc->index == i && loc->result.ok()) {
        ApplyMembershipTx(tx, members);
      }
    }
  }
  std::lock_guard lock(m_members_mu);
  m_members = std::move(members);
  m_members_height = tip;
  SaveMembershipLocked();
  return Status::Ok();
}

void NodeImpl::SaveMembershipLocked() {
  api::Json list = api::Json::array();
  for (const auto& [id, m] : m_members) {
    uint8_t role = m.role == consensus::Role::kVoter     ? 0
                   : m.role == consensus::Role::kStandby ? 1
                                                         : 2;
    list.push_back(
        {{"node_id", m.node_id}, {"raft_id", id}, {"address", m.peer.address}, {"role", role}});
  }
  api::Json j = {{"version", 1},
                 {"genesis", ToHex(m_chain->genesis_hash())},
                 {"height", m_members_height},
                 {"members", list}};
  // Derived state: written whole and renamed into place; a lost or stale
  // file is rebuilt from the ledger at start-up.
  std::string tmp = m_members_file + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << j.dump(2) << "\n";
    if (!out) {
      spdlog::warn("cannot write {}", tmp);
      return;
    }
  }
  std::error_code ec;
  fs::rename(tmp, m_members_file, ec);
  if (ec) spdlog::warn("cannot write {}: {}", m_members_file, ec.message());
}

void NodeImpl::NoteMembership(const ledger::Block& block,
                              const std::vector<ledger::TxResult>& results) {
  std::lock_guard lock(m_members_mu);
  if (m_members_file.empty()) return;  // not loaded yet (start-up)
  bool changed = false;
  for (size_t i = 0; i < block.txs.size(); ++i) {
    const auto& tx = *block.txs[i];
    if (tx.type() != ledger::TxType::kMembership || !results[i].ok()) continue;
    auto loc = m_store->FindTx(tx.id());
    if (!loc.ok() || !*loc || (*loc)->height != block.header.height || (*loc)->index != i) continue;
    ApplyMembershipTx(tx, m_members);
    changed = true;
    spdlog::info("membership transaction {} committed at height {}", ToHex(tx.id()).substr(0, 16),
                 block.header.height);
  }
  m_members_height = block.header.height;
  SaveMembershipLocked();
  if (changed) {
    m_members_kick = true;
    m_members_cv.notify_all();
  }
}

bool NodeImpl::ReconcileOnce() {
  std::map<uint64_t, Member> want;
  {
    std::lock_guard lock(m_members_mu);
    want = m_members;
  }
  const uint64_t self = m_raft->Id();
  std::map<uint64_t, consensus::ServerInfo> have;
  for (const auto& s : m_raft->Configuration()) have[s.id] = s;
  size_t voters = 0;
  for (const auto& [id, m] : want) voters += m.role == consensus::Role::kVoter;
  if (voters == 0) {
    spdlog::error("the ledger's membership has no voter left; not changing the Raft configuration");
    return false;
  }
  // One change at a time (libraft's rule), in an order that keeps a quorum:
  // additions first, then role changes and removals of others, the leader
  // itself last (it steps down once its removal commits).
  enum class Op { kNone, kAdd, kRemove };
  Op op = Op::kNone;
  Member target;
  std::string why;
  for (const auto& [id, m] : want) {
    if (!have.count(id)) {
      op = Op::kAdd;
      target = m;
      why = "add " + m.node_id + " as " + std::string(consensus::RoleName(m.role));
      break;
    }
  }
  if (op == Op::kNone) {
    // A role change is a removal now and an addition on the next round
    // (the adapter offers add and remove; the node keeps its Raft state).
    for (int pass = 0; pass < 2 && op == Op::kNone; ++pass) {
      for (const auto& [id, s] : have) {
        if ((id == self) != (pass == 1)) continue;
        auto w = want.find(id);
        if (w == want.end()) {
          op = Op::kRemove;
          target.peer = consensus::Peer{id, s.address};
          target.node_id = "raft id " + std::to_string(id);
          why = "remove raft id " + std::to_string(id) + " (" + s.address + ")";
          break;
        }
        if (w->second.role != s.role) {
          op = Op::kRemove;
          target = w->second;
          why = "change the role of " + w->second.node_id + " from " +
                std::string(consensus::RoleName(s.role)) + " to " +
                std::string(consensus::RoleName(w->second.role)) + " (remove, then add)";
          break;
        }
      }
    }
  }
  if (op == Op::kNone) return false;
  spdlog::info("membership: the ledger asks to {}", why);
  auto done = std::make_shared<std::promise<Status>>();
  auto fut = done->get_future();
  auto cb = [done](Status s) { done->set_value(std::move(s)); };
  if (op == Op::kAdd) {
    m_raft->AddServer(target.peer, target.role, cb);
  } else {
    m_raft->RemoveServer(target.peer.id, cb);
  }
  // An addition completes once the new server has caught up (libraft
  // promotes it then); it may take long for a big ledger. Leadership loss
  // and shutdown complete it with Unavailable.
  while (fut.wait_for(std::chrono::milliseconds(100)) != std::future_status::ready) {
    if (m_stopping) return false;
  }
  Status st = fut.get();
  if (!st.ok()) {
    spdlog::warn("membership: could not {}: {}", why, st.ToString());
    return false;
  }
  m_membership_changes++;
  spdlog::info("membership: done: {}", why);
  return true;
}

void NodeImpl::ReconcileLoop() {
  while (!m_stopping) {
    {
      std::unique_lock lock(m_members_mu);
      m_members_cv.wait_for(lock, std::chrono::seconds(1),
                            [&] { return m_members_kick || m_stopping; });
      m_members_kick = false;
    }
    if (m_stopping) break;
    if (!m_leader || Halted() || m_raft_left) continue;
    // Keep going while there is something to do (one change per step).
    bool changed = ReconcileOnce();
    if (changed) {
      std::lock_guard lock(m_members_mu);
      m_members_kick = true;
    }
  }
}

// ---- Observability ----

Status NodeImpl::Health() const {
  if (auto h = Halted()) return Status::Unavailable("halted: " + *h);
  if (m_stopping) return Status::Unavailable("shutting down");
  if (m_raft_left) return Status::Unavailable("left the Raft cluster");
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
    << "# HELP medchain_reads_refused_total Read requests refused (recorded, unless their "
       "signature or author failed or the participant was over its limit).\n"
    << "# TYPE medchain_reads_refused_total counter\nmedchain_reads_refused_total "
    << m_reads_refused << "\n"
    << "# HELP medchain_reads_limited_total Read requests refused with 429 over the "
       "per-participant limit on refused reads (not recorded).\n"
    << "# TYPE medchain_reads_limited_total counter\nmedchain_reads_limited_total "
    << m_reads_limited << "\n"
    << "# HELP medchain_pool_size Transactions waiting in the pool.\n"
    << "# TYPE medchain_pool_size gauge\nmedchain_pool_size " << m_pool.Waiting() << "\n"
    << "# HELP medchain_pool_in_flight Transactions in proposed, unapplied blocks.\n"
    << "# TYPE medchain_pool_in_flight gauge\nmedchain_pool_in_flight " << m_pool.InFlight() << "\n"
    << "# HELP medchain_stale_proposals_total Proposals skipped as stale.\n"
    << "# TYPE medchain_stale_proposals_total counter\nmedchain_stale_proposals_total " << m_stale
    << "\n"
    << "# HELP medchain_halted 1 when this node stopped applying after finding an invalid block.\n"
    << "# TYPE medchain_halted gauge\nmedchain_halted " << (Halted() ? 1 : 0) << "\n"
    << "# HELP medchain_forwarded_total Submissions forwarded to the leader.\n"
    << "# TYPE medchain_forwarded_total counter\nmedchain_forwarded_total " << m_forwarded << "\n"
    << "# HELP medchain_snapshot_restores_total Raft snapshots installed (followed by catch-up).\n"
    << "# TYPE medchain_snapshot_restores_total counter\nmedchain_snapshot_restores_total "
    << m_restores << "\n"
    << "# HELP medchain_catchup_blocks_total Blocks fetched from peers and applied.\n"
    << "# TYPE medchain_catchup_blocks_total counter\nmedchain_catchup_blocks_total "
    << m_catchup_blocks << "\n"
    << "# HELP medchain_membership_changes_total Raft membership changes made by this node.\n"
    << "# TYPE medchain_membership_changes_total counter\nmedchain_membership_changes_total "
    << m_membership_changes << "\n"
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
      << "medchain_raft_commit_index " << info.commit_index << "\n"
      << "# HELP medchain_raft_applied_index Raft index of the last block applied here.\n"
      << "# TYPE medchain_raft_applied_index gauge\nmedchain_raft_applied_index "
      << m_store->AppliedIndex() << "\n"
      << "# HELP medchain_raft_snapshot_index Index of the newest local Raft snapshot.\n"
      << "# TYPE medchain_raft_snapshot_index gauge\nmedchain_raft_snapshot_index "
      << info.last_snapshot << "\n"
      << "# HELP medchain_raft_apply_backlog Committed entries waiting to be applied here.\n"
      << "# TYPE medchain_raft_apply_backlog gauge\nmedchain_raft_apply_backlog "
      << info.apply_backlog << "\n";
  }
  return o.str();
}

// GET /v1/cluster asks each peer for its own row (GET /v1/cluster?local=1)
// with these socket timeouts, and waits for all answers at most
// kClusterAskBudget (connect + one read + a margin).
constexpr auto kClusterAskConnect = std::chrono::milliseconds(300);
constexpr auto kClusterAskRead = std::chrono::seconds(1);
constexpr auto kClusterAskBudget = std::chrono::milliseconds(1500);

// The peer at `url`'s own row of its /v1/cluster, or nullopt if it did not
// answer one (in time, within kSmallPeerReplyMaxBytes, well-typed).
std::optional<api::Json> AskClusterRow(const std::string& url, Clock::time_point deadline) {
  try {
    httplib::Client c(url);
    c.set_connection_timeout(kClusterAskConnect);
    c.set_read_timeout(kClusterAskRead);
    PeerCall call;
    call.path = "/v1/cluster?local=1";
    call.deadline = deadline;
    auto res = PeerRequest(c, url, "the peer", std::move(call));
    if (!res.ok() || res->status != 200) return std::nullopt;
    auto j = api::Json::parse(res->body, nullptr, false);
    if (!j.is_object() || !j.contains("nodes") || !j["nodes"].is_array()) return std::nullopt;
    for (const auto& other : j["nodes"]) {
      // A peer's reply is untrusted: only well-typed rows count.
      if (other.is_object() && other.contains("self") && other["self"] == true) return other;
    }
  } catch (const std::exception&) {
    // A pool task must not throw (an unusable URL, allocation failure).
  }
  return std::nullopt;
}

std::string NodeImpl::ClusterJson(bool local_only) const {
  std::string leader_url;
  std::optional<consensus::RaftStatus> info;
  if (m_raft && !m_raft_left) info = m_raft->Info();
  std::map<uint64_t, consensus::ServerInfo> config;
  if (info) {
    for (const auto& s : info->configuration) config[s.id] = s;
  }
  struct Row {
    api::Json json;
    std::string url;
    bool self = false;
  };
  std::vector<Row> rows;
  for (const auto& participant : Nodes()) {
    const ledger::Participant* p = &participant;
    const bool self = p->id == m_config.node_id;
    if (local_only && !self) continue;
    api::Json n = {{"id", p->id},
                   {"url", p->node->api_url},
                   {"raft_id", p->node->raft_id},
                   {"raft_address", p->node->raft_address},
                   {"term", nullptr},
                   {"applied", nullptr}};
    std::string role = "none";
    if (!m_raft) {
      role = self ? "leader" : "none";
    } else if (config.count(p->node->raft_id)) {
      role = std::string(consensus::RoleName(config[p->node->raft_id].role));
      if (info->leader && info->leader->id == p->node->raft_id)
        role = "leader";
      else if (role == "voter")
        role = "follower";
    }
    if (role == "leader") leader_url = p->node->api_url;
    n["role"] = role;
    if (self) {
      n["term"] = info ? info->term : 0;
      n["applied"] = m_store->AppliedIndex();
      n["height"] = m_store->GetTip().height;
      n["self"] = true;
      if (auto h = Halted()) n["halted"] = *h;
    }
    rows.push_back(Row{std::move(n), p->node->api_url, self});
  }
  if (!local_only) {
    // Each node reports its own term and progress; ask them all at once, on
    // the node's fan-out pool (no thread per request). A peer that has not
    // answered by the deadline (the pool busy with other requests' asks, or
    // the peer slow) is shown unreachable.
    struct Asks {
      std::mutex mu;
      std::condition_variable cv;
      std::vector<std::optional<api::Json>> answers;  // guarded by mu
      size_t pending = 0;                             // guarded by mu
    };
    auto asks = std::make_shared<Asks>();
    asks->answers.resize(rows.size());
    const auto deadline = Clock::now() + kClusterAskBudget;
    for (size_t i = 0; i < rows.size(); ++i) {
      if (rows[i].self) continue;
      // The task shares only `asks` (alive as long as it is) and copies the
      // rest: it may run after this request gave up on it.
      {
        std::lock_guard lock(asks->mu);
        asks->pending++;
      }
      bool queued = m_fanout.TrySubmit([asks, i, deadline, url = rows[i].url] {
        std::optional<api::Json> answer;
        if (Clock::now() < deadline) answer = AskClusterRow(url, deadline);
        std::lock_guard lock(asks->mu);
        asks->answers[i] = std::move(answer);
        if (--asks->pending == 0) asks->cv.notify_all();
      });
      if (!queued) {  // the pool's queue is full: this peer shows unreachable
        std::lock_guard lock(asks->mu);
        asks->pending--;
      }
    }
    std::vector<std::optional<api::Json>> answers;
    {
      std::unique_lock lock(asks->mu);
      asks->cv.wait_until(lock, deadline, [&] { return asks->pending == 0; });
      answers = asks->answers;
    }
    for (size_t i = 0; i < rows.size(); ++i) {
      if (rows[i].self) continue;
      const auto& other = answers[i];
      api::Json& n = rows[i].json;
      n["reachable"] = other.has_value();
      if (!other) continue;
      for (const char* k : {"term", "applied", "height", "halted"}) {
        if (other->contains(k)) n[k] = (*other)[k];
      }
    }
  }
  api::Json nodes = api::Json::array();
  for (auto& r : rows) nodes.push_back(std::move(r.json));
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
