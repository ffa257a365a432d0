// Copyright (c) medchain developers.
// RaftNode over libraft 0.15 with its libuv disk I/O and (wrapped) TCP
// transport. The contract is in raft_node.h; the design, numbers and traps in
// docs/consensus.md and ../shared/notes/libraft.md.
//
// Who owns what:
//   * m_loop, m_raft, m_io, m_fsm, the uv handles and every libraft request
//     object belong to the loop thread. Only it calls raft_*.
//   * The StateMachine belongs to the applier thread.
//   * The two queues between them (m_inbox: callers -> loop; m_queue: loop ->
//     applier) and the published status have their own mutexes.
//
// libraft calls fsm.apply on the loop thread and counts the entry as applied
// as soon as it returns. We copy the entry into the applier queue and return
// at once, so libraft's last_applied runs ahead of the StateMachine. Three
// consequences, each handled below:
//   1. a snapshot must describe the StateMachine at libraft's last_applied:
//      we take it asynchronously (fsm version 3) and the worker waits for the
//      applier to reach a marker queued right after that index;
//   2. a raft_apply / raft_barrier callback fires when the entry was handed
//      over, not applied: completions go through the same queue, behind the
//      entry, so they run after Apply;
//   3. entries handed over but not applied when the node stops are simply
//      replayed by libraft after the restart (the StateMachine skips what it
//      already has).
#include "medchain/consensus/raft_node.h"

#include "consensus/framing.h"

#include <signal.h>

#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <filesystem>
#include <future>
#include <mutex>
#include <set>
#include <thread>
#include <utility>
#include <variant>

extern "C" {
#include <raft.h>
#include <raft/uv.h>
#include <uv.h>
}

#include "medchain/consensus/nodelay_transport.h"
#include "medchain/core/codec.h"

namespace medchain::consensus {

std::string_view RoleName(Role role) {
  switch (role) {
    case Role::kVoter:
      return "voter";
    case Role::kStandby:
      return "standby";
    case Role::kSpare:
      return "spare";
  }
  return "unknown";
}

std::string_view RaftStateName(RaftState state) {
  switch (state) {
    case RaftState::kUnavailable:
      return "unavailable";
    case RaftState::kFollower:
      return "follower";
    case RaftState::kCandidate:
      return "candidate";
    case RaftState::kLeader:
      return "leader";
  }
  return "unknown";
}

namespace {

// ---------------------------------------------------------------------------
// Small helpers over libraft's public structs.

// The entry at `index` in libraft's in-memory log. struct raft_log is public
// in raft.h: a ring buffer entries[front, back) of `size` slots whose first
// entry has index offset + 1.
const raft_entry* LogEntryAt(const raft_log& log, raft_index index) {
  if (log.size == 0 || index <= log.offset) return nullptr;
  size_t n = log.front <= log.back ? log.back - log.front : log.size - log.front + log.back;
  raft_index i = index - log.offset - 1;
  if (i >= n) return nullptr;
  return &log.entries[(log.front + i) % log.size];
}

Role RoleFromRaft(int role) {
  switch (role) {
    case RAFT_VOTER:
      return Role::kVoter;
    case RAFT_STANDBY:
      return Role::kStandby;
    default:
      return Role::kSpare;
  }
}

int RoleToRaft(Role role) {
  switch (role) {
    case Role::kVoter:
      return RAFT_VOTER;
    case Role::kStandby:
      return RAFT_STANDBY;
    case Role::kSpare:
      return RAFT_SPARE;
  }
  return RAFT_SPARE;
}

RaftState StateFromRaft(int state) {
  switch (state) {
    case RAFT_FOLLOWER:
      return RaftState::kFollower;
    case RAFT_CANDIDATE:
      return RaftState::kCandidate;
    case RAFT_LEADER:
      return RaftState::kLeader;
    default:
      return RaftState::kUnavailable;
  }
}

// Dies loudly: for broken assumptions about libraft that would otherwise
// deliver wrong indices to the ledger.
[[noreturn]] void Fatal(const char* what) {
  std::fprintf(stderr, "medchain consensus: fatal: %s\n", what);
  std::abort();
}

// A buffer from raft_malloc, freed unless released to libraft.
class RaftBuffer {
 public:
  RaftBuffer() = default;
  explicit RaftBuffer(size_t len) : m_base(raft_malloc(len)), m_len(len) {}
  RaftBuffer(RaftBuffer&& o) noexcept
      : m_base(std::exchange(o.m_base, nullptr)), m_len(std::exchange(o.m_len, 0)) {}
  RaftBuffer& operator=(RaftBuffer&& o) noexcept {
    if (this != &o) {
      Reset();
      m_base = std::exchange(o.m_base, nullptr);
      m_len = std::exchange(o.m_len, 0);
    }
    return *this;
  }
  ~RaftBuffer() { Reset(); }

  void* data() const { return m_base; }
  size_t size() const { return m_len; }
  raft_buffer Release() {
    raft_buffer b{std::exchange(m_base, nullptr), std::exchange(m_len, 0)};
    return b;
  }

 private:
  void Reset() {
    if (m_base != nullptr) raft_free(m_base);
    m_base = nullptr;
    m_len = 0;
  }
  void* m_base = nullptr;
  size_t m_len = 0;
};

// ---------------------------------------------------------------------------
// Work for the loop thread, queued by callers.
struct ProposeCmd {
  RaftBuffer buf;
  ProposeCallback done;
};
struct AddCmd {
  Peer peer;
  Role role;
  DoneCallback done;
};
struct AssignCmd {  // second half of AddServer, queued by the loop itself
  Peer peer;
  Role role;
  DoneCallback done;
};
struct RemoveCmd {
  uint64_t id;
  DoneCallback done;
};
struct TransferCmd {
  uint64_t id;
  DoneCallback done;
};
using Command = std::variant<ProposeCmd, AddCmd, AssignCmd, RemoveCmd, TransferCmd>;

// Work for the applier thread, queued by the loop thread (and by callers for
// immediate failures).
struct ApplyWork {
  uint64_t index;
  uint64_t term;
  Bytes data;
};
struct RestoreWork {
  uint64_t index;
  uint64_t term;
  Bytes payload;
};
// One snapshot in progress: the applier fills it, libraft's snapshot worker
// (a libuv threadpool thread) waits for it.
struct SnapshotSlot {
  uint64_t index = 0;
  uint64_t term = 0;
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;  // guarded by mu
  bool ok = false;    // guarded by mu
  Bytes blob;         // guarded by mu
};
struct SnapshotWork {
  std::shared_ptr<SnapshotSlot> slot;
};
struct LeadershipWork {
  bool is_leader;
  uint64_t term;
};
struct ProposeDoneWork {
  ProposeCallback done;
  Status status;
  uint64_t index;
};
struct DoneWork {
  DoneCallback done;
  Status status;
};
using Work =
    std::variant<ApplyWork, RestoreWork, SnapshotWork, LeadershipWork, ProposeDoneWork, DoneWork>;

Status StoppedStatus() {
  return Status::Unavailable("raft node is stopped");
}

// ---------------------------------------------------------------------------
class LibraftNode final : public RaftNode {
 public:
  LibraftNode(RaftOptions options, StateMachine* sm)
      : RaftNode(options.id), m_options(std::move(options)), m_sm(sm) {}
  ~LibraftNode() override { Stop(); }

  Status Launch();

  void Propose(Bytes entry, ProposeCallback done) override;
  bool IsLeader() const override;
  std::optional<Peer> Leader() const override;
  uint64_t Term() const override;
  uint64_t CommitIndex() const override;
  std::vector<ServerInfo> Configuration() const override;
  RaftStatus Info() const override;
  void AddServer(Peer peer, Role role, DoneCallback done) override;
  void RemoveServer(uint64_t id, DoneCallback done) override;
  void TransferLeadership(uint64_t to_id, DoneCallback done) override;
  void Stop() override;

 private:
  // libraft request objects; each lives from its raft_* call to its callback.
  struct ApplyReq {
    struct raft_apply req {};
    LibraftNode* node = nullptr;
    ProposeCallback done;
  };
  struct BarrierReq {
    struct raft_barrier req {};
    LibraftNode* node = nullptr;
    raft_term term = 0;
  };
  struct ChangeReq {
    raft_change req{};
    LibraftNode* node = nullptr;
    Peer peer;
    Role role = Role::kSpare;
    bool assign_next = false;  // raft_add done: queue raft_assign
    const char* what = "";
    DoneCallback done;
  };
  struct TransferReq {
    struct raft_transfer req {};
    LibraftNode* node = nullptr;
    uint64_t target = 0;
    bool for_shutdown = false;  // Stop() hands over leadership, then closes
    DoneCallback done;
  };

  // --- any thread
  void Submit(Command cmd);
  void Enqueue(Work work);
  void Log(const std::string& msg) const {
    if (m_options.log) m_options.log(msg);
  }

  // --- loop thread
  void LoopMain(std::promise<Status>* started);
  Status InitOnLoop();
  void TeardownOnLoop();
  void BeginShutdown();
  void Publish();
  void TrackLeadership();
  void Run(Command& cmd);
  Status ErrorFor(int rv, std::string_view what);
  Status NotLeader();

  static void OnAsync(uv_async_t* handle) noexcept;
  static void OnCheck(uv_check_t* handle) noexcept;
  static void OnApplied(struct raft_apply* req, int status, void* result) noexcept;
  static void OnBarrier(struct raft_barrier* req, int status) noexcept;
  static void OnChange(raft_change* req, int status) noexcept;
  static void OnTransfer(struct raft_transfer* req) noexcept;
  static int FsmApply(raft_fsm* fsm, const raft_buffer* buf, void** result) noexcept;
  static int FsmSnapshot(raft_fsm* fsm, raft_buffer* bufs[], unsigned* n_bufs) noexcept;
  static int FsmSnapshotAsync(raft_fsm* fsm, raft_buffer* bufs[], unsigned* n_bufs) noexcept;
  static int FsmSnapshotFinalize(raft_fsm* fsm, raft_buffer* bufs[], unsigned* n_bufs) noexcept;
  static int FsmRestore(raft_fsm* fsm, raft_buffer* buf) noexcept;

  // --- applier thread
  void ApplierMain();
  void Process(Work& work, bool stopping);

  // Constant after construction.
  const RaftOptions m_options;
  StateMachine* const m_sm;

  // Loop thread only (set up by InitOnLoop, torn down by LoopMain).
  uv_loop_t m_loop{};
  uv_async_t m_async{};
  uv_check_t m_check{};
  uv_timer_t m_stop_timer{};  // bounds the leadership hand-over in Stop()
  NoDelayTcpTransport m_transport;
  raft_io m_io{};
  raft_fsm m_fsm{};
  struct raft m_raft {};
  bool m_loop_ready = false;
  bool m_handles_ready = false;
  bool m_transport_ready = false;
  bool m_io_ready = false;
  bool m_raft_ready = false;
  bool m_shutting_down = false;
  bool m_torn_down = false;
  raft_term m_barrier_term = 0;    // term whose leadership barrier was issued
  bool m_reported_leader = false;  // OnLeadershipChange(true) queued last
  raft_term m_reported_term = 0;

  // Snapshot in progress: written on the loop thread, read by libraft's
  // snapshot worker thread.
  mutable std::mutex m_snapshot_mu;
  std::shared_ptr<SnapshotSlot> m_snapshot_slot;  // guarded by m_snapshot_mu

  // Callers -> loop thread.
  std::mutex m_inbox_mu;
  std::deque<Command> m_inbox;    // guarded by m_inbox_mu
  bool m_inbox_closed = false;    // guarded by m_inbox_mu; m_async is closed
  bool m_stop_requested = false;  // guarded by m_inbox_mu

  // Loop thread -> applier thread.
  std::mutex m_queue_mu;
  std::condition_variable m_queue_cv;
  std::deque<Work> m_queue;     // guarded by m_queue_mu
  bool m_applier_exit = false;  // guarded by m_queue_mu: drain, then exit
  bool m_applier_done = false;  // guarded by m_queue_mu: the thread has exited
  std::atomic<uint64_t> m_backlog{0};
  std::atomic<uint64_t> m_last_delivered{0};  // highest index given to Apply/Restore
  std::atomic<bool> m_stopping{false};

  // What the getters return; refreshed by the loop thread every iteration.
  mutable std::mutex m_status_mu;
  RaftStatus m_published;  // guarded by m_status_mu

  std::mutex m_stop_mu;    // serialises Stop()
  bool m_stopped = false;  // guarded by m_stop_mu
  std::thread m_loop_thread;
  std::thread m_applier_thread;
};

// ---------------------------------------------------------------------------
// Start-up and shutdown.

Status LibraftNode::Launch() {
  m_published.id = Id();
  m_applier_thread = std::thread([this] { ApplierMain(); });
  std::promise<Status> started;
  std::future<Status> result = started.get_future();
  m_loop_thread = std::thread([this, &started] { LoopMain(&started); });
  Status st = result.get();
  if (!st.ok()) {
    m_loop_thread.join();
    {
      std::lock_guard<std::mutex> l(m_queue_mu);
      m_applier_exit = true;
    }
    m_queue_cv.notify_all();
    m_applier_thread.join();
    std::lock_guard<std::mutex> l(m_stop_mu);
    m_stopped = true;
  }
  return st;
}

void LibraftNode::LoopMain(std::promise<Status>* started) {
  Status st = InitOnLoop();
  if (st.ok()) {
    started->set_value(Status::Ok());  // `started` dies with Launch() from here on
  } else {
    TeardownOnLoop();
  }
  if (m_loop_ready) {
    // Runs until every handle is closed: after BeginShutdown() normally, at
    // once after a failed start.
    uv_run(&m_loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&m_loop) != 0) {
      // Only a start that failed half-way leaves handles open.
      uv_walk(
          &m_loop,
          [](uv_handle_t* h, void*) {
            if (!uv_is_closing(h)) uv_close(h, nullptr);
          },
          nullptr);
      uv_run(&m_loop, UV_RUN_DEFAULT);
      if (uv_loop_close(&m_loop) != 0) Fatal("libuv loop still has open handles after raft_close");
    }
  }
  if (m_io_ready) raft_uv_close(&m_io);
  if (m_transport_ready) m_transport.Release();
  {
    std::lock_guard<std::mutex> l(m_status_mu);
    m_published.state = RaftState::kUnavailable;
    m_published.leader.reset();
  }
  if (!st.ok()) started->set_value(st);
}

Status LibraftNode::InitOnLoop() {
  auto fail = [](std::string what, int rv, const char* detail) {
    std::string msg = "raft " + what + ": " + raft_strerror(rv);
    if (detail != nullptr && detail[0] != '\0') msg += std::string(" (") + detail + ")";
    return rv == RAFT_NOMEM ? Status::ResourceExhausted(msg) : Status::IOError(msg);
  };

  int rv = uv_loop_init(&m_loop);
  if (rv != 0) return Status::IOError(std::string("uv_loop_init: ") + uv_strerror(rv));
  m_loop_ready = true;
  uv_async_init(&m_loop, &m_async, &OnAsync);
  m_async.data = this;
  uv_check_init(&m_loop, &m_check);
  m_check.data = this;
  uv_timer_init(&m_loop, &m_stop_timer);
  m_stop_timer.data = this;
  m_handles_ready = true;

  const char* bind = m_options.bind_address.empty() ? nullptr : m_options.bind_address.c_str();
  rv = m_transport.Init(&m_loop, bind);
  if (rv != 0) return fail("transport", rv, m_transport.transport()->errmsg);
  m_transport_ready = true;

  rv = raft_uv_init(&m_io, &m_loop, m_options.data_dir.c_str(), m_transport.transport());
  if (rv != 0) return fail("disk I/O in " + m_options.data_dir, rv, m_io.errmsg);
  m_io_ready = true;
  // libraft 0.15 runs fsm.snapshot_async through io->async_work, which
  // raft_uv_init provides but announces as version 1.
  m_io.version = 2;
  raft_uv_set_segment_size(&m_io, m_options.segment_size);
  raft_uv_set_connect_retry_delay(&m_io, m_options.connect_retry_delay_ms);

  m_fsm.version = 3;
  m_fsm.data = this;
  m_fsm.apply = &FsmApply;
  m_fsm.snapshot = &FsmSnapshot;
  m_fsm.restore = &FsmRestore;
  m_fsm.snapshot_finalize = &FsmSnapshotFinalize;
  m_fsm.snapshot_async = &FsmSnapshotAsync;

  rv = raft_init(&m_raft, &m_io, &m_fsm, m_options.id, m_options.address.c_str());
  if (rv != 0) return fail("init", rv, m_raft.errmsg);
  m_raft_ready = true;
  raft_set_election_timeout(&m_raft, m_options.election_timeout_ms);
  raft_set_heartbeat_timeout(&m_raft, m_options.heartbeat_timeout_ms);
  raft_set_pre_vote(&m_raft, m_options.pre_vote);
  raft_set_snapshot_threshold(&m_raft, m_options.snapshot_threshold);
  raft_set_snapshot_trailing(&m_raft, m_options.snapshot_trailing);

  if (!m_options.bootstrap_voters.empty()) {
    raft_configuration conf;
    raft_configuration_init(&conf);
    for (const Peer& p : m_options.bootstrap_voters) {
      rv = raft_configuration_add(&conf, p.id, p.address.c_str(), RAFT_VOTER);
      if (rv != 0) {
        raft_configuration_close(&conf);
        return Status::InvalidArgument("bootstrap_voters: server " + std::to_string(p.id) + ": " +
                                       raft_strerror(rv));
      }
    }
    rv = raft_bootstrap(&m_raft, &conf);
    raft_configuration_close(&conf);
    // CANTBOOTSTRAP: data_dir already holds state, which wins.
    if (rv != 0 && rv != RAFT_CANTBOOTSTRAP) return fail("bootstrap", rv, raft_errmsg(&m_raft));
  }

  rv = raft_start(&m_raft);
  if (rv != 0) return fail("start", rv, raft_errmsg(&m_raft));
  uv_check_start(&m_check, &OnCheck);
  Publish();
  return Status::Ok();
}

// Closes whatever InitOnLoop opened, on the loop thread; uv_run then finishes
// the closing.
void LibraftNode::TeardownOnLoop() {
  if (m_torn_down) return;
  m_torn_down = true;
  if (m_handles_ready) {
    uv_close(reinterpret_cast<uv_handle_t*>(&m_async), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&m_check), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&m_stop_timer), nullptr);
    m_handles_ready = false;
  }
  {
    std::lock_guard<std::mutex> l(m_inbox_mu);
    m_inbox_closed = true;
  }
  if (m_raft_ready) raft_close(&m_raft, nullptr);
}

void LibraftNode::BeginShutdown() {
  m_shutting_down = true;
  std::deque<Command> rest;
  {
    std::lock_guard<std::mutex> l(m_inbox_mu);
    m_inbox_closed = true;
    rest.swap(m_inbox);
  }
  for (Command& cmd : rest) Run(cmd);  // fails each: m_shutting_down is set
  uv_check_stop(&m_check);
  if (m_reported_leader) {
    Enqueue(LeadershipWork{false, m_raft.current_term});
    m_reported_leader = false;
  }
  // A leader that stops cleanly hands over first: the cluster then waits
  // about a round trip for its next leader instead of an election timeout
  // plus a pre-vote round (~2 s with the defaults). libraft gives up on the
  // transfer after an election timeout; we close either way.
  if (raft_state(&m_raft) == RAFT_LEADER) {
    // The most up-to-date voter heard from within the last election timeout
    // (progress[] parallels configuration.servers[] in libraft); none: close
    // at once rather than wait for a transfer to a dead server.
    raft_id target = 0;
    raft_index best = 0;
    const raft_configuration& conf = m_raft.configuration;
    for (unsigned i = 0; i < conf.n; i++) {
      const raft_server& srv = conf.servers[i];
      if (srv.id == m_raft.id || srv.role != RAFT_VOTER) continue;
      const raft_progress& p = m_raft.leader_state.progress[i];
      if (p.recent_recv && (target == 0 || p.match_index > best)) {
        target = srv.id;
        best = p.match_index;
      }
    }
    if (target != 0) {
      auto* x = new TransferReq;
      x->req.data = x;
      x->node = this;
      x->target = target;
      x->for_shutdown = true;
      if (raft_transfer(&m_raft, &x->req, target, &OnTransfer) == 0) {
        Log("raft: stopping; handing over leadership to " + std::to_string(target) + " first");
        // OnTransfer finishes the shutdown; the timer in case it never runs.
        uv_timer_start(
            &m_stop_timer,
            [](uv_timer_t* t) { static_cast<LibraftNode*>(t->data)->TeardownOnLoop(); },
            2 * uint64_t{m_options.election_timeout_ms} + 100, 0);
        return;
      }
      delete x;
    }
  }
  Log("raft: stopping");
  TeardownOnLoop();
}

void LibraftNode::Stop() {
  std::lock_guard<std::mutex> stop_lock(m_stop_mu);
  if (m_stopped) return;
  if (std::this_thread::get_id() == m_applier_thread.get_id() ||
      std::this_thread::get_id() == m_loop_thread.get_id()) {
    Fatal("RaftNode::Stop called from a StateMachine method, callback or log sink");
  }
  m_stopping.store(true);
  {
    std::lock_guard<std::mutex> l(m_inbox_mu);
    m_stop_requested = true;
    if (!m_inbox_closed) uv_async_send(&m_async);
  }
  if (m_loop_thread.joinable()) m_loop_thread.join();
  {
    std::lock_guard<std::mutex> l(m_queue_mu);
    m_applier_exit = true;
  }
  m_queue_cv.notify_all();
  if (m_applier_thread.joinable()) m_applier_thread.join();
  m_stopped = true;
}

// ---------------------------------------------------------------------------
// Caller-facing methods (any thread).

void LibraftNode::Submit(Command cmd) {
  {
    std::lock_guard<std::mutex> l(m_inbox_mu);
    if (!m_inbox_closed && !m_stop_requested) {
      m_inbox.push_back(std::move(cmd));
      uv_async_send(&m_async);
      return;
    }
  }
  std::visit(
      [this](auto& c) {
        using T = std::decay_t<decltype(c)>;
        if constexpr (std::is_same_v<T, ProposeCmd>) {
          Enqueue(ProposeDoneWork{std::move(c.done), StoppedStatus(), 0});
        } else {
          Enqueue(DoneWork{std::move(c.done), StoppedStatus()});
        }
      },
      cmd);
}

void LibraftNode::Enqueue(Work work) {
  {
    std::lock_guard<std::mutex> l(m_queue_mu);
    if (!m_applier_done) {
      m_queue.push_back(std::move(work));
      m_backlog.store(m_queue.size(), std::memory_order_relaxed);
      m_queue_cv.notify_one();
      return;
    }
  }
  // The applier has exited (Stop() returned): run completions here.
  Process(work, /*stopping=*/true);
}

void LibraftNode::Propose(Bytes entry, ProposeCallback done) {
  if (entry.empty()) {
    Enqueue(ProposeDoneWork{std::move(done), Status::InvalidArgument("raft entry is empty"), 0});
    return;
  }
  if (entry.size() > m_options.max_entry_size) {
    Enqueue(ProposeDoneWork{
        std::move(done),
        Status::ResourceExhausted("raft entry: size " + std::to_string(entry.size()) +
                                  " exceeds limit " + std::to_string(m_options.max_entry_size)),
        0});
    return;
  }
  // Frame into libraft's allocator here, not on the loop thread.
  RaftBuffer buf(FramedSize(entry.size()));
  if (buf.data() == nullptr) {
    Enqueue(ProposeDoneWork{std::move(done), Status::ResourceExhausted("raft entry: out of memory"),
                            0});
    return;
  }
  FrameEntry(entry, static_cast<uint8_t*>(buf.data()));
  Submit(ProposeCmd{std::move(buf), std::move(done)});
}

void LibraftNode::AddServer(Peer peer, Role role, DoneCallback done) {
  Submit(AddCmd{std::move(peer), role, std::move(done)});
}

void LibraftNode::RemoveServer(uint64_t id, DoneCallback done) {
  Submit(RemoveCmd{id, std::move(done)});
}

void LibraftNode::TransferLeadership(uint64_t to_id, DoneCallback done) {
  Submit(TransferCmd{to_id, std::move(done)});
}

bool LibraftNode::IsLeader() const {
  std::lock_guard<std::mutex> l(m_status_mu);
  return m_published.state == RaftState::kLeader;
}

std::optional<Peer> LibraftNode::Leader() const {
  std::lock_guard<std::mutex> l(m_status_mu);
  return m_published.leader;
}

uint64_t LibraftNode::Term() const {
  std::lock_guard<std::mutex> l(m_status_mu);
  return m_published.term;
}

uint64_t LibraftNode::CommitIndex() const {
  std::lock_guard<std::mutex> l(m_status_mu);
  return m_published.commit_index;
}

std::vector<ServerInfo> LibraftNode::Configuration() const {
  std::lock_guard<std::mutex> l(m_status_mu);
  return m_published.configuration;
}

RaftStatus LibraftNode::Info() const {
  RaftStatus s;
  {
    std::lock_guard<std::mutex> l(m_status_mu);
    s = m_published;
  }
  s.last_applied = m_last_delivered.load();
  s.apply_backlog = m_backlog.load(std::memory_order_relaxed);
  return s;
}

// ---------------------------------------------------------------------------
// Loop thread.

void LibraftNode::OnAsync(uv_async_t* handle) noexcept {
  auto* self = static_cast<LibraftNode*>(handle->data);
  std::deque<Command> batch;
  bool stop;
  {
    std::lock_guard<std::mutex> l(self->m_inbox_mu);
    batch.swap(self->m_inbox);
    stop = self->m_stop_requested;
  }
  for (Command& cmd : batch) self->Run(cmd);
  if (stop && !self->m_shutting_down) self->BeginShutdown();
}

void LibraftNode::OnCheck(uv_check_t* handle) noexcept {
  auto* self = static_cast<LibraftNode*>(handle->data);
  if (self->m_shutting_down) return;
  self->Publish();
  self->TrackLeadership();
}

void LibraftNode::Publish() {
  raft_id leader_id = 0;
  const char* leader_address = nullptr;
  raft_leader(&m_raft, &leader_id, &leader_address);
  const raft_configuration& conf = m_raft.configuration;

  std::lock_guard<std::mutex> l(m_status_mu);
  RaftStatus& s = m_published;
  s.state = StateFromRaft(raft_state(&m_raft));
  s.term = m_raft.current_term;
  s.commit_index = m_raft.commit_index;
  s.last_snapshot = m_raft.log.snapshot.last_index;
  if (leader_id == 0 || leader_address == nullptr) {
    s.leader.reset();
  } else if (!s.leader || s.leader->id != leader_id || s.leader->address != leader_address) {
    s.leader = Peer{leader_id, leader_address};
  }
  bool same = s.configuration.size() == conf.n;
  for (unsigned i = 0; same && i < conf.n; i++) {
    const ServerInfo& have = s.configuration[i];
    const raft_server& srv = conf.servers[i];
    same = have.id == srv.id && have.role == RoleFromRaft(srv.role) && have.address == srv.address;
  }
  if (!same) {
    s.configuration.clear();
    for (unsigned i = 0; i < conf.n; i++) {
      const raft_server& srv = conf.servers[i];
      s.configuration.push_back(ServerInfo{srv.id, srv.address, RoleFromRaft(srv.role)});
    }
  }
}

// A new leader does not know which earlier entries are committed until an
// entry of its own term commits, and libraft 0.15 appends no such entry by
// itself. So on every new leadership we append a barrier and tell the
// StateMachine only when it has been applied: everything committed before
// has then been handed to Apply, and the notification is queued behind it.
void LibraftNode::TrackLeadership() {
  int state = raft_state(&m_raft);
  raft_term term = m_raft.current_term;
  if (state == RAFT_LEADER) {
    if (m_reported_leader && m_reported_term != term) {
      Enqueue(LeadershipWork{false, term});
      m_reported_leader = false;
    }
    if (m_reported_leader || m_barrier_term == term) return;
    auto* b = new BarrierReq;
    b->req.data = b;
    b->node = this;
    b->term = term;
    int rv = raft_barrier(&m_raft, &b->req, &OnBarrier);
    if (rv != 0) {
      delete b;  // retried on the next loop iteration
      return;
    }
    m_barrier_term = term;
    return;
  }
  m_barrier_term = 0;
  if (m_reported_leader) {
    Enqueue(LeadershipWork{false, term});
    m_reported_leader = false;
    Log("raft: no longer leader (term " + std::to_string(term) + ")");
  }
}

void LibraftNode::OnBarrier(struct raft_barrier* req, int status) noexcept {
  auto* b = static_cast<BarrierReq*>(req->data);
  LibraftNode* self = b->node;
  raft_term term = b->term;
  delete b;
  if (self->m_shutting_down) return;
  bool still_leader = raft_state(&self->m_raft) == RAFT_LEADER && self->m_raft.current_term == term;
  if (status != 0) {
    if (still_leader) self->m_barrier_term = 0;  // try again
    return;
  }
  if (!still_leader || self->m_reported_leader) return;
  self->m_reported_leader = true;
  self->m_reported_term = term;
  self->Enqueue(LeadershipWork{true, term});
  self->Log("raft: leader (term " + std::to_string(term) + ")");
}

Status LibraftNode::NotLeader() {
  raft_id id = 0;
  const char* address = nullptr;
  raft_leader(&m_raft, &id, &address);
  if (id == 0 || address == nullptr) {
    return Status::Unavailable("not the leader; no leader known (election in progress)");
  }
  return Status::Unavailable("not the leader; leader is " + std::to_string(id) + " at " + address);
}

Status LibraftNode::ErrorFor(int rv, std::string_view what) {
  std::string msg(what);
  msg += ": ";
  switch (rv) {
    case RAFT_NOTLEADER:
      return NotLeader();
    case RAFT_LEADERSHIPLOST:
      return Status::Unavailable(msg +
                                 "leadership lost before the outcome was known; it may still "
                                 "take effect");
    case RAFT_SHUTDOWN:
    case RAFT_CANCELED:
      return Status::Unavailable(msg + "raft node stopping");
    case RAFT_NOMEM:
    case RAFT_TOOBIG:
    case RAFT_TOOMANY:
      return Status::ResourceExhausted(msg + raft_strerror(rv));
    case RAFT_CANTCHANGE:
      return Status::FailedPrecondition(msg + "another configuration change is in progress");
    case RAFT_BADID:
    case RAFT_BADROLE:
    case RAFT_INVALID:
      return Status::InvalidArgument(msg + raft_strerror(rv));
    case RAFT_DUPLICATEID:
    case RAFT_DUPLICATEADDRESS:
      return Status::AlreadyExists(msg + raft_strerror(rv));
    case RAFT_NOTFOUND:
      return Status::NotFound(msg + raft_strerror(rv));
    case RAFT_NOCONNECTION:
      return Status::Unavailable(msg + raft_strerror(rv));
    case RAFT_IOERR:
    case RAFT_NOSPACE:
      return Status::IOError(msg + raft_strerror(rv));
    default:
      return Status::Internal(msg + raft_strerror(rv));
  }
}

void LibraftNode::Run(Command& cmd) {
  if (m_shutting_down) {
    std::visit(
        [this](auto& c) {
          using T = std::decay_t<decltype(c)>;
          if constexpr (std::is_same_v<T, ProposeCmd>) {
            Enqueue(ProposeDoneWork{std::move(c.done), StoppedStatus(), 0});
          } else {
            Enqueue(DoneWork{std::move(c.done), StoppedStatus()});
          }
        },
        cmd);
    return;
  }

  if (auto* p = std::get_if<ProposeCmd>(&cmd)) {
    auto* a = new ApplyReq;
    a->req.data = a;
    a->node = this;
    a->done = std::move(p->done);
    raft_buffer buf = p->buf.Release();
    int rv = raft_apply(&m_raft, &a->req, &buf, 1, &OnApplied);
    if (rv != 0) {
      raft_free(buf.base);  // ownership moves to libraft only on success
      Enqueue(ProposeDoneWork{std::move(a->done), ErrorFor(rv, "propose"), 0});
      delete a;
    }
    return;
  }

  auto change = [this](DoneCallback done, Peer peer, Role role, bool assign_next,
                       const char* what) {
    auto* c = new ChangeReq;
    c->req.data = c;
    c->node = this;
    c->peer = std::move(peer);
    c->role = role;
    c->assign_next = assign_next;
    c->what = what;
    c->done = std::move(done);
    return c;
  };

  if (auto* a = std::get_if<AddCmd>(&cmd)) {
    if (a->peer.id == 0 || a->peer.address.empty()) {
      Enqueue(DoneWork{std::move(a->done),
                       Status::InvalidArgument("add server: id must be > 0 and address set")});
      return;
    }
    ChangeReq* c =
        change(std::move(a->done), a->peer, a->role, a->role != Role::kSpare, "add server");
    int rv = raft_add(&m_raft, &c->req, c->peer.id, c->peer.address.c_str(), &OnChange);
    if (rv != 0) {
      Enqueue(DoneWork{std::move(c->done), ErrorFor(rv, "add server")});
      delete c;
    }
    return;
  }
  if (auto* a = std::get_if<AssignCmd>(&cmd)) {
    ChangeReq* c = change(std::move(a->done), a->peer, a->role, false, "assign role");
    int rv = raft_assign(&m_raft, &c->req, c->peer.id, RoleToRaft(c->role), &OnChange);
    if (rv != 0) {
      Enqueue(DoneWork{std::move(c->done),
                       ErrorFor(rv, "add server: added as spare, but assigning the role failed")});
      delete c;
    }
    return;
  }
  if (auto* r = std::get_if<RemoveCmd>(&cmd)) {
    ChangeReq* c =
        change(std::move(r->done), Peer{r->id, ""}, Role::kSpare, false, "remove server");
    int rv = raft_remove(&m_raft, &c->req, r->id, &OnChange);
    if (rv != 0) {
      Enqueue(DoneWork{std::move(c->done), ErrorFor(rv, "remove server")});
      delete c;
    }
    return;
  }
  if (auto* t = std::get_if<TransferCmd>(&cmd)) {
    auto* x = new TransferReq;
    x->req.data = x;
    x->node = this;
    x->target = t->id;
    x->done = std::move(t->done);
    int rv = raft_transfer(&m_raft, &x->req, t->id, &OnTransfer);
    if (rv != 0) {
      Enqueue(DoneWork{std::move(x->done), ErrorFor(rv, "transfer leadership")});
      delete x;
    }
    return;
  }
}

void LibraftNode::OnApplied(struct raft_apply* req, int status, void* /*result*/) noexcept {
  auto* a = static_cast<ApplyReq*>(req->data);
  LibraftNode* self = a->node;
  Status st = status == 0 ? Status::Ok() : self->ErrorFor(status, "propose");
  // So that CommitIndex() >= index once done(OK, index) runs.
  if (status == 0) self->Publish();
  // Queued behind the entry's ApplyWork: runs after StateMachine::Apply.
  self->Enqueue(ProposeDoneWork{std::move(a->done), std::move(st), req->index});
  delete a;
}

void LibraftNode::OnChange(raft_change* req, int status) noexcept {
  auto* c = static_cast<ChangeReq*>(req->data);
  LibraftNode* self = c->node;
  if (status == 0 && c->assign_next) {
    // raft_add has committed; raft_assign runs from the loop's next turn
    // rather than from inside libraft's apply path.
    {
      std::lock_guard<std::mutex> l(self->m_inbox_mu);
      if (!self->m_inbox_closed && !self->m_shutting_down) {
        self->m_inbox.push_back(AssignCmd{std::move(c->peer), c->role, std::move(c->done)});
        uv_async_send(&self->m_async);
        delete c;
        return;
      }
    }
    self->Enqueue(DoneWork{std::move(c->done),
                           Status::Unavailable("add server: added as spare, but the node stopped "
                                               "before assigning the role")});
    delete c;
    return;
  }
  Status st = status == 0 ? Status::Ok() : self->ErrorFor(status, c->what);
  self->Enqueue(DoneWork{std::move(c->done), std::move(st)});
  delete c;
}

void LibraftNode::OnTransfer(struct raft_transfer* req) noexcept {
  auto* x = static_cast<TransferReq*>(req->data);
  LibraftNode* self = x->node;
  if (x->for_shutdown) {
    delete x;
    self->TeardownOnLoop();
    return;
  }
  raft_id target = req->id != 0 ? req->id : x->target;
  raft_id leader = 0;
  const char* address = nullptr;
  raft_leader(&self->m_raft, &leader, &address);
  Status st;
  if (self->m_shutting_down) {
    st = Status::Unavailable("transfer leadership: raft node stopping");
  } else if (leader == 0 || leader != target) {
    st = Status::Timeout("transfer leadership to " + std::to_string(target) +
                         " did not complete within the election timeout");
  }
  self->Enqueue(DoneWork{std::move(x->done), std::move(st)});
  delete x;
}

// --- The libraft FSM: runs on the loop thread, copies and queues.

int LibraftNode::FsmApply(raft_fsm* fsm, const raft_buffer* buf, void** result) noexcept {
  auto* self = static_cast<LibraftNode*>(fsm->data);
  *result = nullptr;
  // libraft 0.15 advances last_applied after apply returns, so this entry is
  // the next one. Cross-check against the log so a library that behaves
  // otherwise stops us instead of mislabelling blocks.
  raft_index index = self->m_raft.last_applied + 1;
  const raft_entry* e = LogEntryAt(self->m_raft.log, index);
  if (e == nullptr || e->buf.base != buf->base || e->type != RAFT_COMMAND) {
    Fatal("fsm.apply: the entry is not at last_applied + 1 (unsupported libraft version?)");
  }
  ByteView raw(static_cast<const uint8_t*>(buf->base), buf->len);
  std::optional<ByteView> payload = UnframeEntry(raw);
  if (!payload) {
    // Not written by this adapter. Every server sees the same bytes, so hand
    // them over unchanged: the node rejects them as an invalid block, alike
    // everywhere, instead of the cluster halting on them.
    self->Log("raft: entry " + std::to_string(index) + " is not framed; delivered as is");
    payload = raw;
  }
  self->Enqueue(ApplyWork{index, e->term, Bytes(payload->begin(), payload->end())});
  return 0;
}

int LibraftNode::FsmSnapshot(raft_fsm* fsm, raft_buffer* bufs[], unsigned* n_bufs) noexcept {
  auto* self = static_cast<LibraftNode*>(fsm->data);
  *bufs = nullptr;
  *n_bufs = 0;
  if (self->m_shutting_down) return RAFT_BUSY;  // libraft retries later
  const raft_snapshot& pending = self->m_raft.snapshot.pending;
  raft_index index = self->m_raft.last_applied;
  if (pending.index != index || pending.term == 0) {
    Fatal("fsm.snapshot: pending snapshot is not at last_applied (unsupported libraft version?)");
  }
  auto slot = std::make_shared<SnapshotSlot>();
  slot->index = index;
  slot->term = pending.term;
  {
    std::lock_guard<std::mutex> l(self->m_snapshot_mu);
    self->m_snapshot_slot = slot;
  }
  // Behind every entry up to `index`: the applier fills the slot with the
  // StateMachine's state at exactly that point.
  self->Enqueue(SnapshotWork{std::move(slot)});
  return 0;
}

int LibraftNode::FsmSnapshotAsync(raft_fsm* fsm, raft_buffer* bufs[], unsigned* n_bufs) noexcept {
  // A libuv threadpool thread: waits for the applier, touches no libraft state.
  auto* self = static_cast<LibraftNode*>(fsm->data);
  std::shared_ptr<SnapshotSlot> slot;
  {
    std::lock_guard<std::mutex> l(self->m_snapshot_mu);
    slot = self->m_snapshot_slot;
  }
  if (!slot) return RAFT_CANCELED;
  std::unique_lock<std::mutex> l(slot->mu);
  slot->cv.wait(l, [&] { return slot->done; });
  if (!slot->ok) return RAFT_CANCELED;
  auto* array = static_cast<raft_buffer*>(raft_malloc(sizeof(raft_buffer)));
  if (array == nullptr) return RAFT_NOMEM;
  array[0].len = slot->blob.size();
  array[0].base = raft_malloc(slot->blob.size());
  if (array[0].base == nullptr) {
    raft_free(array);
    return RAFT_NOMEM;
  }
  std::memcpy(array[0].base, slot->blob.data(), slot->blob.size());
  *bufs = array;
  *n_bufs = 1;
  return 0;
}

int LibraftNode::FsmSnapshotFinalize(raft_fsm* fsm, raft_buffer* bufs[], unsigned* n_bufs) noexcept {
  auto* self = static_cast<LibraftNode*>(fsm->data);
  if (*bufs != nullptr) {
    for (unsigned i = 0; i < *n_bufs; i++) raft_free((*bufs)[i].base);
    raft_free(*bufs);
  }
  *bufs = nullptr;
  *n_bufs = 0;
  std::lock_guard<std::mutex> l(self->m_snapshot_mu);
  self->m_snapshot_slot.reset();
  return 0;
}

int LibraftNode::FsmRestore(raft_fsm* fsm, raft_buffer* buf) noexcept {
  auto* self = static_cast<LibraftNode*>(fsm->data);
  Result<DecodedSnapshot> snap =
      DecodeSnapshot(ByteView(static_cast<const uint8_t*>(buf->base), buf->len));
  if (!snap.ok()) {
    self->Log("raft: rejecting snapshot: " + snap.status().ToString());
    return RAFT_MALFORMED;  // libraft keeps (and frees) the buffer
  }
  raft_free(buf->base);  // success: the buffer is ours
  buf->base = nullptr;
  self->Log("raft: restoring snapshot at index " + std::to_string(snap->index));
  self->Enqueue(RestoreWork{snap->index, snap->term, std::move(snap->payload)});
  return 0;
}

// ---------------------------------------------------------------------------
// Applier thread.

void LibraftNode::ApplierMain() {
  for (;;) {
    Work work;
    {
      std::unique_lock<std::mutex> l(m_queue_mu);
      m_queue_cv.wait(l, [&] { return !m_queue.empty() || m_applier_exit; });
      if (m_queue.empty()) {
        m_applier_done = true;
        return;
      }
      work = std::move(m_queue.front());
      m_queue.pop_front();
      m_backlog.store(m_queue.size(), std::memory_order_relaxed);
    }
    // StateMachine's contract is not to throw; one that does cannot be
    // resumed (an entry half applied), so stop here with a message rather
    // than run on.
    try {
      Process(work, m_stopping.load());
    } catch (const std::exception& e) {
      Log(std::string("raft: the state machine threw: ") + e.what());
      Fatal("the state machine threw (StateMachine must not throw)");
    } catch (...) {
      Fatal("the state machine threw (StateMachine must not throw)");
    }
  }
}

void LibraftNode::Process(Work& work, bool stopping) {
  if (auto* a = std::get_if<ApplyWork>(&work)) {
    if (stopping) return;  // replayed after the restart
    m_sm->Apply(a->index, a->term, a->data);
    m_last_delivered.store(a->index);
  } else if (auto* r = std::get_if<RestoreWork>(&work)) {
    if (stopping) return;  // libraft restores it again at start-up
    m_sm->Restore(r->index, r->term, r->payload);
    m_last_delivered.store(r->index);
  } else if (auto* s = std::get_if<SnapshotWork>(&work)) {
    SnapshotSlot& slot = *s->slot;
    Bytes blob;
    if (!stopping)
      blob = EncodeSnapshot(slot.index, slot.term, m_sm->Snapshot(slot.index, slot.term));
    {
      std::lock_guard<std::mutex> l(slot.mu);
      slot.ok = !stopping;
      slot.blob = std::move(blob);
      slot.done = true;
    }
    slot.cv.notify_all();
    if (!stopping) Log("raft: snapshot at index " + std::to_string(slot.index));
  } else if (auto* l = std::get_if<LeadershipWork>(&work)) {
    if (stopping && l->is_leader) return;
    m_sm->OnLeadershipChange(l->is_leader, l->term);
  } else if (auto* p = std::get_if<ProposeDoneWork>(&work)) {
    if (p->status.ok() && p->index > m_last_delivered.load()) {
      p->status = Status::Unavailable("raft node stopped: entry " + std::to_string(p->index) +
                                      " is committed but was not applied here yet");
    }
    if (p->done) p->done(std::move(p->status), p->index);
  } else if (auto* d = std::get_if<DoneWork>(&work)) {
    if (d->done) d->done(std::move(d->status));
  }
}

// ---------------------------------------------------------------------------
// Option checks.

Status CheckAddress(std::string_view field, const std::string& address) {
  size_t colon = address.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == address.size()) {
    return Status::InvalidArgument(std::string(field) + ": \"" + address + "\" is not host:port");
  }
  for (size_t i = colon + 1; i < address.size(); i++) {
    if (address[i] < '0' || address[i] > '9') {
      return Status::InvalidArgument(std::string(field) + ": port of \"" + address +
                                     "\" is not a number");
    }
  }
  return Status::Ok();
}

Status CheckOptions(const RaftOptions& o) {
  if (o.id == 0) return Status::InvalidArgument("raft options: id must be > 0");
  MC_RETURN_IF_ERROR(CheckAddress("raft options: address", o.address));
  if (!o.bind_address.empty()) {
    MC_RETURN_IF_ERROR(CheckAddress("raft options: bind_address", o.bind_address));
    if (o.bind_address.substr(o.bind_address.rfind(':')) !=
        o.address.substr(o.address.rfind(':'))) {
      return Status::InvalidArgument("raft options: bind_address port differs from address port");
    }
  }
  if (o.data_dir.empty()) return Status::InvalidArgument("raft options: data_dir is empty");
  if (o.heartbeat_timeout_ms == 0 || o.election_timeout_ms <= o.heartbeat_timeout_ms) {
    return Status::InvalidArgument(
        "raft options: need 0 < heartbeat_timeout_ms < election_timeout_ms");
  }
  if (o.snapshot_threshold == 0) {
    return Status::InvalidArgument("raft options: snapshot_threshold must be > 0");
  }
  if (o.max_entry_size == 0 || o.max_entry_size > o.segment_size / 4) {
    return Status::InvalidArgument("raft options: max_entry_size must be in 1..segment_size/4");
  }
  std::set<uint64_t> ids;
  std::set<std::string> addresses;
  bool self_listed = false;
  for (const Peer& p : o.bootstrap_voters) {
    if (p.id == 0) return Status::InvalidArgument("raft options: bootstrap voter id 0");
    MC_RETURN_IF_ERROR(CheckAddress("raft options: bootstrap voter address", p.address));
    if (!ids.insert(p.id).second || !addresses.insert(p.address).second) {
      return Status::InvalidArgument("raft options: bootstrap voter " + std::to_string(p.id) +
                                     " duplicates an id or address");
    }
    if (p.id == o.id) {
      if (p.address != o.address) {
        return Status::InvalidArgument("raft options: bootstrap voter " + std::to_string(p.id) +
                                       " has a different address than this server");
      }
      self_listed = true;
    }
  }
  if (!o.bootstrap_voters.empty() && !self_listed) {
    return Status::InvalidArgument("raft options: bootstrap_voters must include this server");
  }
  return Status::Ok();
}

}  // namespace

Result<std::unique_ptr<RaftNode>> RaftNode::Start(RaftOptions options, StateMachine* sm) {
  if (sm == nullptr) return Status::InvalidArgument("raft: state machine is null");
  MC_RETURN_IF_ERROR(CheckOptions(options));

  // Writes to a peer that died must not kill the process (notes/libraft.md).
  struct sigaction ignore {};
  ignore.sa_handler = SIG_IGN;
  sigemptyset(&ignore.sa_mask);
  sigaction(SIGPIPE, &ignore, nullptr);

  std::error_code ec;
  std::filesystem::create_directories(options.data_dir, ec);
  if (ec) {
    return Status::IOError("raft data_dir " + options.data_dir + ": " + ec.message());
  }

  auto node = std::make_unique<LibraftNode>(std::move(options), sm);
  MC_RETURN_IF_ERROR(node->Launch());
  return std::unique_ptr<RaftNode>(std::move(node));
}

}  // namespace medchain::consensus
