// Copyright (c) medchain developers.
// The consensus adapter: an ordered, replicated log of opaque entries (blocks),
// backed by Canonical's Raft library (libraft 0.15, libuv TCP transport).
//
// The node cuts a block on the leader and proposes it as ONE entry; every node
// receives committed entries in log order through its StateMachine and
// validates each block itself. Nothing in this header names a libraft type, so
// the engine behind RaftNode can be swapped (cowsql/raft, another engine, or an
// in-memory fake in node tests) without touching callers.
//
// Threads (docs/consensus.md has the picture):
//   * the LOOP thread runs the libuv loop and is the only thread that calls
//     libraft. It copies committed entries out of libraft and queues them.
//   * the APPLIER thread calls every StateMachine method and every completion
//     callback (`done`), one at a time, in the order the events happened.
//     The loop thread never waits for it, so a slow Apply cannot stall
//     heartbeats.
//   * any other thread may call RaftNode's methods; they only queue work for
//     the loop thread (uv_async_send) and never block on consensus.
//
// Process requirement: SIGPIPE must be ignored (a write to a dead peer
// would otherwise kill the process silently, and a cluster whose leader died
// would never elect a new one). Start() sets SIGPIPE to SIG_IGN for the whole
// process; the node must not restore the default handler.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "medchain/core/bytes.h"
#include "medchain/core/status.h"

namespace medchain::consensus {

// A Raft server: its id (> 0, unique and never reused in a cluster) and its
// Raft address "host:port" (IPv4 dotted quad; the consensus port, not the
// HTTP port). The node maps ids to its own HTTP endpoints from its config.
struct Peer {
  uint64_t id = 0;
  std::string address;

  bool operator==(const Peer&) const = default;
};

// Roles in the Raft configuration.
//   kVoter:   replicates the log and counts in quorums and elections.
//   kStandby: replicates the log but does not vote (a warm spare).
//   kSpare:   in the configuration only; receives nothing.
enum class Role { kVoter, kStandby, kSpare };
std::string_view RoleName(Role role);

struct ServerInfo {
  uint64_t id = 0;
  std::string address;
  Role role = Role::kVoter;

  bool operator==(const ServerInfo&) const = default;
};

// What the local Raft server is doing right now.
enum class RaftState { kUnavailable, kFollower, kCandidate, kLeader };
std::string_view RaftStateName(RaftState state);

struct RaftOptions {
  // This server's identity. REQUIRES: id > 0; address "a.b.c.d:port".
  uint64_t id = 0;
  std::string address;
  // Address to listen on when it differs from `address` (e.g. "0.0.0.0:7001"
  // in a container). Its port must equal the port of `address`. Empty: listen
  // on `address`.
  std::string bind_address;
  // libraft's own files (metadata1/2, segments, snapshot-*) live here and
  // nothing else should. Created if missing.
  std::string data_dir;

  // The founding voters, the same list on every founding node, including this
  // one. Used only when data_dir holds no Raft state yet; ignored afterwards.
  // A server that joins later (RaftNode::AddServer on the leader) starts with
  // an empty list and waits to be contacted.
  std::vector<Peer> bootstrap_voters;

  // Election timeout: a follower that hears nothing from a leader for a random
  // time in [t, 2t) starts an election. Heartbeats go out every
  // heartbeat_timeout_ms. Defaults suit a LAN between hospitals; on loopback
  // 300/30 fails over in about half a second (notes/libraft.md).
  unsigned election_timeout_ms = 1000;
  unsigned heartbeat_timeout_ms = 100;
  // Pre-vote (Raft thesis 9.6): a server that was cut off does not disrupt a
  // healthy leader when it returns, and two survivors do not split the vote.
  bool pre_vote = true;
  // Delay between attempts to reconnect to an unreachable peer.
  unsigned connect_retry_delay_ms = 500;

  // Snapshots bound the Raft log, which libraft keeps ENTIRELY in memory from
  // the last snapshot on. A snapshot is taken every `snapshot_threshold`
  // applied entries and the newest `snapshot_trailing` entries are kept so a
  // follower that lags by less than that catches up from the log instead of
  // needing Restore. With blocks as entries the log therefore holds between
  // trailing and threshold + trailing blocks: 512..1024 blocks, i.e.
  // 32..64 MiB at 64 KiB blocks and at most 1 GiB at the 1 MiB block cap.
  // At 20 blocks/s that is one snapshot every ~25 s (each stalls log writes
  // for ~30 ms here; see docs/consensus.md). libraft's own defaults
  // (1024/2048) would keep up to 3072 blocks in memory.
  unsigned snapshot_threshold = 512;
  unsigned snapshot_trailing = 512;

  // libraft's open log segments are preallocated at this size; big entries
  // roll small segments over often, which stalls writes.
  size_t segment_size = 64u << 20;
  // Proposals larger than this fail with ResourceExhausted.
  // REQUIRES: max_entry_size <= segment_size / 4.
  size_t max_entry_size = 8u << 20;

  // Optional sink for a few notable events (leadership, snapshots, errors);
  // called on the loop or applier thread, must be cheap and thread-safe.
  // Messages never contain entry contents.
  std::function<void(std::string_view)> log;
};

// Implemented by the node. Every method is called on the adapter's applier
// thread, one at a time, never concurrently with another method of the same
// object and never while the adapter holds a lock. Methods must not block on
// the RaftNode (e.g. wait for a Propose completion): completions are delivered
// by the very same thread. Methods must not throw (an escaping exception
// terminates the process).
class StateMachine {
 public:
  virtual ~StateMachine() = default;

  // A committed entry, in log order. `index` is the Raft index, strictly
  // increasing across calls; gaps are normal (libraft's own barrier and
  // configuration entries are not delivered). `entry` is valid only during
  // the call.
  //
  // After a restart libraft replays the entries since its last snapshot, so
  // Apply sees indices it has already applied: skip every index <= the
  // durable applied index. Apply must not fail: a block that is invalid is
  // recorded as such (as data), identically on every node.
  virtual void Apply(uint64_t index, uint64_t term, ByteView entry) = 0;

  // The state after every entry <= `index` (the last Apply had an index
  // <= `index`): small opaque bytes, e.g. "height H, block hash X, raft index
  // I". Called so libraft can discard its log up to `index` - trailing. The
  // bytes travel to followers that are too far behind (see Restore).
  virtual Bytes Snapshot(uint64_t index, uint64_t term) = 0;

  // Install the state described by `snapshot` (produced by Snapshot(index,
  // term) on some server): this server is behind the leader's log, and later
  // Apply calls continue from index + 1. Delivered in order with Apply, so the
  // node can fetch the missing blocks from peers before returning.
  //
  // Also called at start-up with the newest local snapshot, before any Apply:
  // a state machine whose durable applied index is >= `index` ignores it;
  // one that is behind it (it lost writes, e.g. in a power cut) installs it
  // like any other Restore.
  virtual void Restore(uint64_t index, uint64_t term, ByteView snapshot) = 0;

  // Called when this server becomes leader (is_leader = true) and when it
  // stops being leader. "Becomes leader" is reported only after a barrier
  // entry of the new term has been applied, i.e. after every Apply for
  // entries committed by earlier leaders has returned: start cutting blocks
  // then. Stop cutting on is_leader = false. Not called for term changes
  // while a follower.
  virtual void OnLeadershipChange(bool is_leader, uint64_t term) {
    (void)is_leader;
    (void)term;
  }
};

// A snapshot of the local server's view, for health and /metrics.
struct RaftStatus {
  uint64_t id = 0;
  RaftState state = RaftState::kUnavailable;
  uint64_t term = 0;
  std::optional<Peer> leader;
  uint64_t commit_index = 0;   // highest index known committed
  uint64_t last_applied = 0;   // highest index the StateMachine has seen
  uint64_t last_snapshot = 0;  // index of the newest local snapshot, 0 if none
  uint64_t apply_backlog = 0;  // events queued for the applier thread
  std::vector<ServerInfo> configuration;
};

// `index` is the entry's Raft index (0 if it never got one).
using ProposeCallback = std::function<void(Status status, uint64_t index)>;
using DoneCallback = std::function<void(Status status)>;

// A member of a Raft cluster. All methods are thread-safe. Completion
// callbacks run on the applier thread (in order with StateMachine calls),
// never inside the call that registered them and never while the adapter
// holds a lock; only after Stop() has returned are they run inline on the
// calling thread (with Unavailable).
class RaftNode {
 public:
  // Starts the libraft-backed implementation: opens data_dir, bootstraps it
  // if it is empty and bootstrap_voters is set, listens on the address and
  // starts the loop and applier threads. Ignores SIGPIPE process-wide.
  // REQUIRES: `sm` outlives the returned node (until Stop() returns).
  static Result<std::unique_ptr<RaftNode>> Start(RaftOptions options, StateMachine* sm);

  // Implementations stop in their destructor (see Stop()).
  virtual ~RaftNode() = default;

  // Proposes `entry` as one Raft entry. `done` is called with:
  //   OK and the index, once the entry is committed and this server's Apply
  //     for it has returned (CommitIndex() >= index by then);
  //   Unavailable if this server is not the leader; the message names the
  //     leader ("not the leader; leader is 2 at 127.0.0.1:7002") when known,
  //     and Leader() returns it for forwarding;
  //   Unavailable if leadership was lost or the node stopped before the
  //     outcome was known: the entry MAY still be committed (at `index` if
  //     non-zero), so a retry can commit it twice and the state machine must
  //     de-duplicate (by transaction id);
  //   ResourceExhausted if entry.size() > max_entry_size, InvalidArgument if
  //     it is empty.
  virtual void Propose(Bytes entry, ProposeCallback done) = 0;

  // The getters below read a status block the loop thread refreshes after
  // every event it handles; they never wait for consensus.
  //
  // This server's role as libraft sees it right now. A new leader reports
  // IsLeader() before StateMachine::OnLeadershipChange(true) (which waits for
  // the barrier); use the callback to decide when to cut blocks and
  // IsLeader()/Leader() to decide where to send a client's transaction.
  virtual bool IsLeader() const = 0;
  // The current leader (this server when it leads), if known.
  virtual std::optional<Peer> Leader() const = 0;
  virtual uint64_t Term() const = 0;
  virtual uint64_t CommitIndex() const = 0;
  // The latest configuration this server knows (possibly uncommitted): every
  // server's id, Raft address and role. This is how a node finds a peer's id.
  virtual std::vector<ServerInfo> Configuration() const = 0;
  virtual RaftStatus Info() const = 0;
  uint64_t Id() const { return m_id; }

  // Membership (leader only; one change at a time, otherwise
  // FailedPrecondition). AddServer adds `peer` as a spare, then assigns
  // `role`; a new voter is first caught up with the log. The new server must
  // be started with an empty data_dir and no bootstrap_voters.
  virtual void AddServer(Peer peer, Role role, DoneCallback done) = 0;
  // Removing the leader itself is allowed: it steps down once the change
  // commits.
  virtual void RemoveServer(uint64_t id, DoneCallback done) = 0;
  // Hands leadership to voter `to_id` (0: libraft picks the most up-to-date
  // voter). OK once the target leads; Timeout if it did not within an
  // election timeout.
  virtual void TransferLeadership(uint64_t to_id, DoneCallback done) = 0;

  // Clean shutdown: stops accepting work; if this server leads, hands
  // leadership to the most up-to-date live voter first (the successor is
  // ready after a round trip instead of an election; bounded by about two
  // election timeouts); closes libraft (pending proposals complete with
  // Unavailable); joins the loop thread; delivers what is queued for the
  // applier except entries (replayed after a restart, which the StateMachine
  // already skips); joins the applier thread. Idempotent; run by the
  // destructor. REQUIRES: not called from a StateMachine method, a callback
  // or the log sink.
  virtual void Stop() = 0;

 protected:
  explicit RaftNode(uint64_t id) : m_id(id) {}

 private:
  const uint64_t m_id;
};

}  // namespace medchain::consensus
