// Copyright (c) medchain developers.
// RaftNode against real libraft: libuv disk I/O in a fresh temp dir per test,
// the TCP transport on 127.0.0.1 with ports from testing::FreePort
// (port_util.h: no race between parallel tests), short timeouts.
//
// RecordingMachine is the reference state machine: it appends every entry to
// a file (its "durable applied index"), skips replays, and folds every entry
// into a hash chain, so two machines that applied the same sequence hold the
// same chain digest even when one of them got part of it as a snapshot.
#include <gtest/gtest.h>

#include "port_util.h"
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "medchain/consensus/raft_node.h"
#include "medchain/core/codec.h"
#include "medchain/core/sha256.h"

namespace medchain::consensus {
namespace {

using medchain::testing::FreePort;

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// Polls `cond` every few milliseconds until it holds or `timeout` passes.
template <class F>
bool WaitUntil(F cond, std::chrono::milliseconds timeout = 15s) {
  const auto deadline = Clock::now() + timeout;
  while (!cond()) {
    if (Clock::now() >= deadline) return cond();
    std::this_thread::sleep_for(5ms);
  }
  return true;
}


// ---------------------------------------------------------------------------
struct Record {
  uint64_t index = 0;
  uint64_t term = 0;
  std::string data;
  bool operator==(const Record&) const = default;
};

void PrintTo(const Record& r, std::ostream* os) {
  *os << "{" << r.index << "@" << r.term << " " << r.data.substr(0, 16) << "/" << r.data.size()
      << "}";
}

struct LeadershipEvent {
  bool is_leader;
  uint64_t term;
  uint64_t applied;  // the machine's applied index when told
};

class RecordingMachine : public StateMachine {
 public:
  // Loads what an earlier incarnation made durable at `path`.
  explicit RecordingMachine(std::filesystem::path path) : m_path(std::move(path)) {
    std::ifstream in(m_path, std::ios::binary);
    Bytes file((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    Decoder d(file, "machine file");
    while (d.ok() && d.remaining() > 0) {
      uint8_t kind = d.U8("kind");
      uint64_t index = d.U64("index");
      uint64_t term = d.U64("term");
      Bytes data = d.Var("data", 1u << 30);
      if (!d.ok()) break;
      if (kind == 'A') {
        Fold(index, term, data);
      } else {
        Install(index, data);
      }
    }
    m_loaded = m_records.size();
  }

  void Apply(uint64_t index, uint64_t term, ByteView entry) override {
    std::lock_guard<std::mutex> l(m_mu);
    if (index <= m_applied) {
      // A replay after restart: it must be exactly what we applied before.
      auto it = m_by_index.find(index);
      if (it != m_by_index.end()) {
        const Record& r = m_records[it->second];
        if (r.term != term || r.data != AsString(entry)) {
          m_violations.push_back("replay of " + std::to_string(index) + " differs");
        }
      }
      m_replayed++;
      return;
    }
    if (!m_records.empty() && term < m_records.back().term) {
      m_violations.push_back("term went backwards at " + std::to_string(index));
    }
    Fold(index, term, entry);
    Persist('A', index, term, entry);
  }

  Bytes Snapshot(uint64_t index, uint64_t /*term*/) override {
    std::lock_guard<std::mutex> l(m_mu);
    if (index < m_applied) m_violations.push_back("snapshot behind applied index");
    m_snapshots++;
    Encoder e;
    e.U64(m_count).Fixed(m_chain);
    return e.Take();
  }

  void Restore(uint64_t index, uint64_t /*term*/, ByteView snapshot) override {
    std::lock_guard<std::mutex> l(m_mu);
    if (index <= m_applied) {
      m_skipped_restores++;  // our own snapshot, loaded at start-up
      return;
    }
    Bytes copy = ToBytes(snapshot);
    Install(index, copy);
    Persist('R', index, 0, copy);
  }

  void OnLeadershipChange(bool is_leader, uint64_t term) override {
    std::lock_guard<std::mutex> l(m_mu);
    m_leadership.push_back({is_leader, term, m_applied});
  }

  // --- observers, any thread
  uint64_t applied() const {
    std::lock_guard<std::mutex> l(m_mu);
    return m_applied;
  }
  std::vector<Record> records() const {
    std::lock_guard<std::mutex> l(m_mu);
    return m_records;
  }
  Hash chain() const {
    std::lock_guard<std::mutex> l(m_mu);
    return m_chain;
  }
  uint64_t count() const {
    std::lock_guard<std::mutex> l(m_mu);
    return m_count;
  }
  std::vector<uint64_t> restores() const {
    std::lock_guard<std::mutex> l(m_mu);
    return m_restores;
  }
  std::vector<LeadershipEvent> leadership() const {
    std::lock_guard<std::mutex> l(m_mu);
    return m_leadership;
  }
  // True once told it leads `term`.
  bool LeadsTerm(uint64_t term) const {
    std::lock_guard<std::mutex> l(m_mu);
    return !m_leadership.empty() && m_leadership.back().is_leader &&
           m_leadership.back().term == term;
  }
  std::vector<std::string> violations() const {
    std::lock_guard<std::mutex> l(m_mu);
    return m_violations;
  }
  uint64_t replayed() const { return m_replayed.load(); }
  uint64_t snapshots() const { return m_snapshots.load(); }
  uint64_t skipped_restores() const { return m_skipped_restores.load(); }
  size_t loaded() const { return m_loaded; }

 private:
  void Fold(uint64_t index, uint64_t term, ByteView data) {
    Sha256 h;
    Encoder e;
    e.Fixed(m_chain).U64(index).U64(term).Var(data);
    m_chain = h.Update(e.buffer()).Finish();
    m_count++;
    m_by_index[index] = m_records.size();
    m_records.push_back(Record{index, term, std::string(AsString(data))});
    m_applied = index;
  }
  void Install(uint64_t index, ByteView snapshot) {
    Decoder d(snapshot, "test snapshot");
    uint64_t count = d.U64("count");
    Hash chain = d.FixedHash("chain");
    if (!d.Finish().ok()) {
      m_violations.push_back("bad snapshot at " + std::to_string(index));
      return;
    }
    m_count = count;
    m_chain = chain;
    m_applied = index;
    m_restores.push_back(index);
  }
  void Persist(char kind, uint64_t index, uint64_t term, ByteView data) {
    Encoder e;
    e.U8(static_cast<uint8_t>(kind)).U64(index).U64(term).Var(data);
    std::ofstream out(m_path, std::ios::binary | std::ios::app);
    out.write(reinterpret_cast<const char*>(e.buffer().data()),
              static_cast<std::streamsize>(e.size()));
  }

  const std::filesystem::path m_path;
  mutable std::mutex m_mu;
  uint64_t m_applied = 0;
  uint64_t m_count = 0;
  Hash m_chain{};
  std::vector<Record> m_records;
  std::map<uint64_t, size_t> m_by_index;
  std::vector<uint64_t> m_restores;
  std::vector<LeadershipEvent> m_leadership;
  std::vector<std::string> m_violations;
  size_t m_loaded = 0;
  std::atomic<uint64_t> m_replayed{0};
  std::atomic<uint64_t> m_snapshots{0};
  std::atomic<uint64_t> m_skipped_restores{0};
};

// ---------------------------------------------------------------------------
struct ProposeResult {
  Status status;
  uint64_t index = 0;
  bool applied_before_done = false;  // the proposer's machine had applied it
};

ProposeResult ProposeAndWait(RaftNode& node, const RecordingMachine* sm, std::string data,
                             std::chrono::milliseconds timeout = 10s) {
  auto p = std::make_shared<std::promise<ProposeResult>>();
  auto f = p->get_future();
  node.Propose(ToBytes(data), [p, sm](Status s, uint64_t index) {
    p->set_value(ProposeResult{std::move(s), index, sm != nullptr && sm->applied() >= index});
  });
  if (f.wait_for(timeout) != std::future_status::ready) {
    return ProposeResult{Status::Timeout("propose did not complete"), 0, false};
  }
  return f.get();
}

Status WaitDone(const std::function<void(DoneCallback)>& start,
                std::chrono::milliseconds timeout = 20s) {
  auto p = std::make_shared<std::promise<Status>>();
  auto f = p->get_future();
  start([p](Status s) { p->set_value(std::move(s)); });
  if (f.wait_for(timeout) != std::future_status::ready) return Status::Timeout("not done");
  return f.get();
}

struct Server {
  Peer peer;
  std::filesystem::path dir;
  std::unique_ptr<RecordingMachine> sm;
  std::unique_ptr<RaftNode> node;
  bool running() const { return node != nullptr; }
};

class RaftClusterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "mc_raft_XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    m_root = tmpl;
  }
  void TearDown() override {
    for (Server& s : m_servers) {
      if (s.node) s.node->Stop();
      s.node.reset();
      if (s.sm) {
        EXPECT_EQ(s.sm->violations(), std::vector<std::string>{}) << s.peer.id;
      }
    }
    std::error_code ec;
    std::filesystem::remove_all(m_root, ec);
  }

  // Adds a server (not started). Ids are 1, 2, ...
  size_t AddServer() {
    Server s;
    s.peer.id = m_servers.size() + 1;
    s.peer.address = "127.0.0.1:" + std::to_string(FreePort());
    s.dir = m_root / ("server" + std::to_string(s.peer.id));
    m_servers.push_back(std::move(s));
    return m_servers.size() - 1;
  }

  RaftOptions OptionsFor(const Server& s, bool bootstrap) const {
    RaftOptions o = m_options;
    o.id = s.peer.id;
    o.address = s.peer.address;
    o.data_dir = (s.dir / "raft").string();
    if (bootstrap) o.bootstrap_voters = m_founders;
    return o;
  }

  // (Re)starts server i with a machine loaded from its file.
  void Start(size_t i, bool bootstrap = true) {
    Server& s = m_servers[i];
    ASSERT_FALSE(s.running());
    std::filesystem::create_directories(s.dir);
    s.sm = std::make_unique<RecordingMachine>(s.dir / "machine");
    auto node = RaftNode::Start(OptionsFor(s, bootstrap), s.sm.get());
    ASSERT_TRUE(node.ok()) << node.status().ToString();
    s.node = std::move(node).value();
  }

  void StopServer(size_t i) {
    m_servers[i].node->Stop();
    m_servers[i].node.reset();
  }

  // n founding voters, all started.
  void Found(size_t n) {
    for (size_t i = 0; i < n; i++) AddServer();
    for (size_t i = 0; i < n; i++) m_founders.push_back(m_servers[i].peer);
    for (size_t i = 0; i < n; i++) Start(i);
  }

  // The running server that leads and has been told so, once every other
  // running voter agrees on it.
  std::optional<size_t> WaitForLeader(std::chrono::milliseconds timeout = 15s) {
    std::optional<size_t> found;
    WaitUntil(
        [&] {
          found.reset();
          for (size_t i = 0; i < m_servers.size(); i++) {
            Server& s = m_servers[i];
            if (s.running() && s.node->IsLeader() && s.sm->LeadsTerm(s.node->Term())) found = i;
          }
          if (!found) return false;
          for (Server& s : m_servers) {
            if (!s.running() || &s == &m_servers[*found]) continue;
            std::optional<Peer> l = s.node->Leader();
            bool voter = false;
            for (const ServerInfo& info : s.node->Configuration()) {
              voter |= info.id == s.peer.id && info.role == Role::kVoter;
            }
            if (voter && (!l || l->id != m_servers[*found].peer.id)) return false;
          }
          return true;
        },
        timeout);
    return found;
  }

  // Proposes through whoever leads until it commits (a retry after a lost
  // leadership may commit twice; these tests compare sequences, not counts).
  uint64_t ProposeOnLeader(const std::string& data) {
    for (int attempt = 0; attempt < 20; attempt++) {
      std::optional<size_t> l = WaitForLeader();
      if (!l) continue;
      Server& s = m_servers[*l];
      ProposeResult r = ProposeAndWait(*s.node, s.sm.get(), data);
      if (r.status.ok()) return r.index;
    }
    ADD_FAILURE() << "could not commit " << data;
    return 0;
  }

  bool WaitApplied(size_t i, uint64_t index, std::chrono::milliseconds timeout = 15s) {
    return WaitUntil([&] { return m_servers[i].sm->applied() >= index; }, timeout);
  }

  Server& server(size_t i) { return m_servers[i]; }

  RaftOptions m_options = [] {
    RaftOptions o;
    o.election_timeout_ms = 200;
    o.heartbeat_timeout_ms = 20;
    o.connect_retry_delay_ms = 50;
    o.segment_size = 8u << 20;
    o.max_entry_size = 1u << 20;
    return o;
  }();
  std::filesystem::path m_root;
  std::vector<Server> m_servers;
  std::vector<Peer> m_founders;
};

std::string Entry(const std::string& tag, int i) {
  // Blocks are opaque to consensus; make them a few hundred bytes.
  return tag + "-" + std::to_string(i) + std::string(200 + i % 50, static_cast<char>('a' + i % 26));
}

std::vector<std::string> DataOf(const std::vector<Record>& records) {
  std::vector<std::string> out;
  for (const Record& r : records) out.push_back(r.data);
  return out;
}

// ---------------------------------------------------------------------------

TEST_F(RaftClusterTest, SingleVoterCommitsInOrderAndReportsAfterApply) {
  Found(1);
  std::optional<size_t> l = WaitForLeader();
  ASSERT_TRUE(l);
  Server& s = server(0);
  EXPECT_TRUE(s.node->IsLeader());
  EXPECT_EQ(s.node->Leader(), s.peer);
  EXPECT_EQ(s.node->Configuration(), (std::vector<ServerInfo>{{1, s.peer.address, Role::kVoter}}));

  std::vector<std::string> sent;
  uint64_t last = 0;
  for (int i = 0; i < 20; i++) {
    sent.push_back(Entry("solo", i));
    ProposeResult r = ProposeAndWait(*s.node, s.sm.get(), sent.back());
    ASSERT_TRUE(r.status.ok()) << r.status.ToString();
    EXPECT_GT(r.index, last);
    EXPECT_TRUE(r.applied_before_done) << "done ran before Apply(" << r.index << ")";
    last = r.index;
  }
  std::vector<Record> records = s.sm->records();
  EXPECT_EQ(DataOf(records), sent);
  EXPECT_EQ(records.back().index, last);
  EXPECT_EQ(s.node->Info().last_applied, last);
  EXPECT_GE(s.node->CommitIndex(), last);

  // Oversized and empty entries are refused without reaching libraft.
  ProposeResult big =
      ProposeAndWait(*s.node, nullptr, std::string(m_options.max_entry_size + 1, 'x'));
  EXPECT_EQ(big.status.code(), Code::kResourceExhausted);
  ProposeResult empty = ProposeAndWait(*s.node, nullptr, "");
  EXPECT_EQ(empty.status.code(), Code::kInvalidArgument);
}

TEST_F(RaftClusterTest, ThreeVotersApplyTheSameSequence) {
  Found(3);
  std::optional<size_t> l = WaitForLeader();
  ASSERT_TRUE(l);
  Server& leader = server(*l);

  // 60 proposals, up to 8 in flight from one thread: the log order is the
  // order of Propose calls.
  constexpr int kN = 60;
  std::vector<std::string> sent;
  std::vector<std::future<ProposeResult>> pending;
  std::vector<ProposeResult> results;
  for (int i = 0; i < kN; i++) {
    sent.push_back(Entry("three", i));
    auto p = std::make_shared<std::promise<ProposeResult>>();
    pending.push_back(p->get_future());
    leader.node->Propose(ToBytes(sent.back()), [p](Status st, uint64_t index) {
      p->set_value(ProposeResult{std::move(st), index, false});
    });
    if (pending.size() - results.size() >= 8) {
      ASSERT_EQ(pending[results.size()].wait_for(10s), std::future_status::ready);
      results.push_back(pending[results.size()].get());
    }
  }
  while (results.size() < pending.size()) {
    ASSERT_EQ(pending[results.size()].wait_for(10s), std::future_status::ready);
    results.push_back(pending[results.size()].get());
  }
  for (size_t i = 0; i < results.size(); i++) {
    ASSERT_TRUE(results[i].status.ok()) << i << ": " << results[i].status.ToString();
    if (i > 0) {
      EXPECT_EQ(results[i].index, results[i - 1].index + 1);
    }
  }
  uint64_t last = results.back().index;

  for (size_t i = 0; i < 3; i++) ASSERT_TRUE(WaitApplied(i, last)) << i;
  std::vector<Record> reference = leader.sm->records();
  EXPECT_EQ(DataOf(reference), sent);
  for (size_t i = 0; i < 3; i++) {
    EXPECT_EQ(server(i).sm->records(), reference) << "server " << i + 1;
    EXPECT_EQ(server(i).sm->chain(), leader.sm->chain());
  }
}

TEST_F(RaftClusterTest, FollowerRefusesProposalAndNamesTheLeader) {
  Found(3);
  std::optional<size_t> l = WaitForLeader();
  ASSERT_TRUE(l);
  const Peer leader = server(*l).peer;
  size_t f = (*l + 1) % 3;
  Server& follower = server(f);

  EXPECT_FALSE(follower.node->IsLeader());
  EXPECT_EQ(follower.node->Leader(), leader);
  ProposeResult r = ProposeAndWait(*follower.node, nullptr, "forward me");
  EXPECT_EQ(r.status.code(), Code::kUnavailable);
  EXPECT_NE(
      r.status.message().find("leader is " + std::to_string(leader.id) + " at " + leader.address),
      std::string::npos)
      << r.status.message();

  // Every server's id is found from the configuration, by address.
  std::vector<ServerInfo> conf = follower.node->Configuration();
  ASSERT_EQ(conf.size(), 3u);
  for (size_t i = 0; i < 3; i++) {
    bool found = false;
    for (const ServerInfo& info : conf) {
      found |= info.address == server(i).peer.address && info.id == server(i).peer.id &&
               info.role == Role::kVoter;
    }
    EXPECT_TRUE(found) << server(i).peer.address;
  }
  RaftStatus st = follower.node->Info();
  EXPECT_EQ(st.state, RaftState::kFollower);
  EXPECT_EQ(st.id, follower.peer.id);
}

TEST_F(RaftClusterTest, LeaderStopsNewLeaderTakesOverOldOneCatchesUp) {
  Found(3);
  std::optional<size_t> l = WaitForLeader();
  ASSERT_TRUE(l);
  size_t old = *l;
  uint64_t acked = 0;
  for (int i = 0; i < 20; i++) acked = ProposeOnLeader(Entry("before", i));
  uint64_t old_term = server(old).node->Term();

  StopServer(old);
  std::optional<size_t> l2 = WaitForLeader();
  ASSERT_TRUE(l2);
  ASSERT_NE(*l2, old);
  EXPECT_GT(server(*l2).node->Term(), old_term);
  // The barrier: the new leader was told only after applying every entry the
  // old leader had acknowledged.
  std::vector<LeadershipEvent> ev = server(*l2).sm->leadership();
  ASSERT_FALSE(ev.empty());
  EXPECT_TRUE(ev.back().is_leader);
  EXPECT_GE(ev.back().applied, acked);

  for (int i = 0; i < 20; i++) acked = ProposeOnLeader(Entry("after", i));

  Start(old);  // same data dir, machine reloaded from its file
  for (size_t i = 0; i < 3; i++) ASSERT_TRUE(WaitApplied(i, acked)) << i;
  std::vector<Record> reference = server(*l2).sm->records();
  for (size_t i = 0; i < 3; i++) {
    EXPECT_EQ(server(i).sm->records(), reference) << "server " << i + 1;
  }
  // The old leader's first incarnation applied the early entries; after the
  // restart libraft replayed them and the machine skipped them.
  EXPECT_GT(server(old).sm->loaded(), 0u);
  EXPECT_GT(server(old).sm->replayed(), 0u);
}

TEST_F(RaftClusterTest, RestartReplaysWithTheSameIndices) {
  Found(1);
  ASSERT_TRUE(WaitForLeader());
  std::vector<uint64_t> indices;
  for (int i = 0; i < 30; i++) {
    ProposeResult r = ProposeAndWait(*server(0).node, server(0).sm.get(), Entry("replay", i));
    ASSERT_TRUE(r.status.ok());
    indices.push_back(r.index);
  }
  std::vector<Record> before = server(0).sm->records();
  StopServer(0);

  Start(0);
  ASSERT_TRUE(WaitForLeader());
  // libraft replays the whole log (no snapshot yet); each replayed entry came
  // with the index and term it had the first time (checked by the machine).
  ASSERT_TRUE(WaitUntil([&] { return server(0).sm->replayed() >= 30; }));
  EXPECT_EQ(server(0).sm->replayed(), 30u);
  EXPECT_EQ(server(0).sm->records(), before);
  EXPECT_EQ(server(0).sm->applied(), indices.back());

  ProposeResult r = ProposeAndWait(*server(0).node, server(0).sm.get(), "after restart");
  ASSERT_TRUE(r.status.ok());
  EXPECT_GT(r.index, indices.back());
  EXPECT_EQ(server(0).sm->records().back(),
            (Record{r.index, server(0).node->Term(), "after restart"}));
}

TEST_F(RaftClusterTest, RestartLoadsOwnSnapshotAndReplaysOnlyTheRest) {
  m_options.snapshot_threshold = 8;
  m_options.snapshot_trailing = 4;
  Found(1);
  ASSERT_TRUE(WaitForLeader());
  uint64_t last = 0;
  for (int i = 0; i < 30; i++) {
    ProposeResult r = ProposeAndWait(*server(0).node, server(0).sm.get(), Entry("snap", i));
    ASSERT_TRUE(r.status.ok());
    last = r.index;
  }
  ASSERT_TRUE(WaitUntil([&] { return server(0).node->Info().last_snapshot > 0; }));
  uint64_t snapshot = server(0).node->Info().last_snapshot;
  std::vector<Record> before = server(0).sm->records();
  StopServer(0);

  Start(0);
  ASSERT_TRUE(WaitForLeader());
  ProposeResult r = ProposeAndWait(*server(0).node, server(0).sm.get(), "after restart");
  ASSERT_TRUE(r.status.ok());
  EXPECT_GT(r.index, last);
  RecordingMachine& sm = *server(0).sm;
  // libraft handed back the machine's own snapshot first (skipped: the
  // machine is further), then only the entries after the snapshot it loaded.
  EXPECT_EQ(sm.skipped_restores(), 1u);
  EXPECT_TRUE(sm.restores().empty());
  uint64_t after_snapshot = 0;
  for (const Record& rec : before) after_snapshot += rec.index > snapshot ? 1 : 0;
  EXPECT_LE(sm.replayed(), after_snapshot);
  EXPECT_LT(sm.replayed(), before.size());
  std::vector<Record> now = sm.records();
  ASSERT_EQ(now.size(), before.size() + 1);
  EXPECT_TRUE(std::equal(before.begin(), before.end(), now.begin()));
}

TEST_F(RaftClusterTest, LaggingFollowerGetsSnapshotThenLaterEntriesInOrder) {
  m_options.snapshot_threshold = 8;
  m_options.snapshot_trailing = 4;
  Found(3);
  std::optional<size_t> l = WaitForLeader();
  ASSERT_TRUE(l);
  uint64_t acked = 0;
  for (int i = 0; i < 5; i++) acked = ProposeOnLeader(Entry("early", i));
  size_t lag = (*l + 1) % 3;
  ASSERT_TRUE(WaitApplied(lag, acked));
  uint64_t lag_applied = server(lag).sm->applied();
  StopServer(lag);

  for (int i = 0; i < 60; i++) acked = ProposeOnLeader(Entry("missed", i));
  std::optional<size_t> l2 = WaitForLeader();
  ASSERT_TRUE(l2);
  Server& leader = server(*l2);
  ASSERT_TRUE(WaitUntil([&] { return leader.node->Info().last_snapshot > lag_applied + 4; }));
  EXPECT_GT(leader.sm->snapshots(), 0u);

  // Restart: the leader no longer has the entries after lag_applied, so the
  // follower gets a snapshot, then the entries after it.
  Start(lag);
  ASSERT_TRUE(WaitApplied(lag, acked));
  RecordingMachine& behind = *server(lag).sm;
  std::vector<uint64_t> restores = behind.restores();
  ASSERT_EQ(restores.size(), 1u);
  EXPECT_GT(restores[0], lag_applied);
  EXPECT_LE(restores[0], acked);

  uint64_t first_later = 0;
  for (int i = 0; i < 10; i++) {
    acked = ProposeOnLeader(Entry("later", i));
    if (first_later == 0) first_later = acked;
  }
  ASSERT_TRUE(WaitApplied(lag, acked));
  ASSERT_TRUE(WaitUntil([&] { return leader.sm->applied() >= acked; }));

  // Same state as the leader. A second snapshot is legitimate if the
  // follower fell behind the (tiny) trailing window again; whatever it
  // applied itself matches the leader index by index, and it has every
  // entry after its last snapshot.
  restores = behind.restores();
  EXPECT_EQ(behind.chain(), leader.sm->chain());
  EXPECT_EQ(behind.count(), leader.sm->count());
  std::map<uint64_t, Record> by_index;
  for (const Record& r : leader.sm->records()) by_index[r.index] = r;
  std::vector<Record> mine;
  for (const Record& r : behind.records()) {
    if (r.index <= lag_applied) continue;
    EXPECT_EQ(r, by_index[r.index]);
    mine.push_back(r);
  }
  std::vector<Record> expected;
  for (const auto& [index, r] : by_index) {
    if (index > restores.back()) expected.push_back(r);
  }
  std::vector<Record> after_last;
  for (const Record& r : mine) {
    if (r.index > restores.back()) after_last.push_back(r);
  }
  EXPECT_EQ(after_last, expected);
  EXPECT_LE(restores.back(), first_later) << "the later entries arrived as entries";
}

TEST_F(RaftClusterTest, AddFourthServerAndRemoveOneUnderProposals) {
  Found(3);
  ASSERT_TRUE(WaitForLeader());
  // The newcomer starts empty, without bootstrap, and waits to be contacted.
  size_t added = AddServer();
  Start(added, /*bootstrap=*/false);
  EXPECT_TRUE(server(added).node->Configuration().empty());

  // Keeps one proposal in flight on whoever leads, all along.
  std::vector<RaftNode*> nodes;
  for (Server& s : m_servers) nodes.push_back(s.node.get());
  std::atomic<bool> stop{false};
  std::atomic<int> acked{0};
  std::thread proposer([&] {
    for (int i = 0; !stop.load(); i++) {
      for (RaftNode* n : nodes) {
        if (n->IsLeader()) {
          if (ProposeAndWait(*n, nullptr, Entry("load", i), 5s).status.ok()) acked++;
          break;
        }
      }
      std::this_thread::yield();
    }
  });
  struct StopAndJoin {
    std::atomic<bool>& stop;
    std::thread& thread;
    ~StopAndJoin() {
      stop = true;
      if (thread.joinable()) thread.join();
    }
  } guard{stop, proposer};

  std::optional<size_t> l = WaitForLeader();
  ASSERT_TRUE(l);
  int acked_before = acked.load();
  Status st = WaitDone([&](DoneCallback done) {
    server(*l).node->AddServer(server(added).peer, Role::kVoter, std::move(done));
  });
  ASSERT_TRUE(st.ok()) << st.ToString();

  l = WaitForLeader();
  ASSERT_TRUE(l);
  size_t removed = (*l + 1) % 3;  // a founding follower
  st = WaitDone([&](DoneCallback done) {
    server(*l).node->RemoveServer(server(removed).peer.id, std::move(done));
  });
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_GT(acked.load(), acked_before) << "no proposal committed during the changes";
  // Stopped as an operator would (kept allocated: the proposer holds it).
  server(removed).node->Stop();
  ASSERT_TRUE(WaitUntil([&] { return acked.load() > acked_before + 20; }));
  stop = true;
  proposer.join();
  server(removed).node.reset();

  l = WaitForLeader();
  ASSERT_TRUE(l);
  std::vector<ServerInfo> conf = server(*l).node->Configuration();
  std::map<uint64_t, Role> roles;
  for (const ServerInfo& info : conf) roles[info.id] = info.role;
  EXPECT_EQ(roles.size(), 3u);
  EXPECT_EQ(roles.count(server(removed).peer.id), 0u);
  EXPECT_EQ(roles[server(added).peer.id], Role::kVoter);

  // A final entry through the new configuration reaches the newcomer, which
  // then holds the leader's whole sequence.
  uint64_t last = ProposeOnLeader("final");
  ASSERT_TRUE(WaitApplied(added, last));
  ASSERT_TRUE(WaitApplied(*l, last));
  EXPECT_EQ(server(added).sm->records(), server(*l).sm->records());
  EXPECT_EQ(server(added).node->Leader(), server(*l).peer);
}

TEST_F(RaftClusterTest, FiveVotersTolerateTwoStopped) {
  Found(5);
  std::optional<size_t> l = WaitForLeader();
  ASSERT_TRUE(l);
  uint64_t acked = 0;
  for (int i = 0; i < 10; i++) acked = ProposeOnLeader(Entry("five", i));

  // Stop the leader and one follower.
  size_t other = (*l + 2) % 5;
  StopServer(*l);
  StopServer(other);
  for (int i = 0; i < 20; i++) acked = ProposeOnLeader(Entry("three-left", i));

  std::optional<size_t> l2 = WaitForLeader();
  ASSERT_TRUE(l2);
  std::vector<Record> reference;
  for (size_t i = 0; i < 5; i++) {
    if (!server(i).running()) continue;
    ASSERT_TRUE(WaitApplied(i, acked)) << i;
  }
  reference = server(*l2).sm->records();
  int checked = 0;
  for (size_t i = 0; i < 5; i++) {
    if (!server(i).running()) continue;
    EXPECT_EQ(server(i).sm->records(), reference) << "server " << i + 1;
    checked++;
  }
  EXPECT_EQ(checked, 3);
  EXPECT_GE(reference.size(), 30u);  // a retry after lost leadership may repeat an entry
}

TEST_F(RaftClusterTest, TransferLeadershipAndStopIsIdempotent) {
  Found(3);
  std::optional<size_t> l = WaitForLeader();
  ASSERT_TRUE(l);
  size_t target = (*l + 1) % 3;
  Status st = WaitDone([&](DoneCallback done) {
    server(*l).node->TransferLeadership(server(target).peer.id, std::move(done));
  });
  ASSERT_TRUE(st.ok()) << st.ToString();
  std::optional<size_t> l2 = WaitForLeader();
  ASSERT_TRUE(l2);
  EXPECT_EQ(*l2, target);
  std::vector<LeadershipEvent> ev = server(*l).sm->leadership();
  ASSERT_GE(ev.size(), 2u);
  EXPECT_FALSE(ev.back().is_leader);  // the old leader was told to stop cutting

  server(0).node->Stop();
  server(0).node->Stop();
  ProposeResult r = ProposeAndWait(*server(0).node, nullptr, "too late", 1s);
  EXPECT_EQ(r.status.code(), Code::kUnavailable);
}

TEST_F(RaftClusterTest, StoppingTheLeaderHandsOverLeadership) {
  // With a 1 s election timeout an election after the leader vanished takes
  // at least 1 s (plus a pre-vote round); a hand-over takes a round trip.
  m_options.election_timeout_ms = 1000;
  m_options.heartbeat_timeout_ms = 50;
  Found(3);
  std::optional<size_t> l = WaitForLeader(20s);
  ASSERT_TRUE(l);
  uint64_t acked = ProposeOnLeader("before hand-over");
  const auto t0 = Clock::now();
  server(*l).node->Stop();
  std::optional<size_t> next;
  ASSERT_TRUE(WaitUntil(
      [&] {
        for (size_t i = 0; i < 3; i++) {
          if (i != *l && server(i).node->IsLeader() &&
              server(i).sm->LeadsTerm(server(i).node->Term())) {
            next = i;
          }
        }
        return next.has_value();
      },
      10s));
  const auto elapsed = Clock::now() - t0;
  EXPECT_LT(elapsed, 700ms)
      << "took " << std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count()
      << " ms: an election, not a hand-over";
  EXPECT_GE(server(*next).sm->applied(), acked);
  std::vector<LeadershipEvent> ev = server(*l).sm->leadership();
  ASSERT_FALSE(ev.empty());
  EXPECT_FALSE(ev.back().is_leader);
}

TEST(RaftOptions, RejectsBadOptions) {
  struct Nop : StateMachine {
    void Apply(uint64_t, uint64_t, ByteView) override {}
    Bytes Snapshot(uint64_t, uint64_t) override { return {}; }
    void Restore(uint64_t, uint64_t, ByteView) override {}
  } sm;
  RaftOptions good;
  good.id = 1;
  good.address = "127.0.0.1:7001";
  good.data_dir = "/nonexistent/never-created";
  auto with = [&](auto change) {
    RaftOptions o = good;
    change(o);
    return RaftNode::Start(o, &sm).status();
  };
  EXPECT_EQ(with([](RaftOptions& o) { o.id = 0; }).code(), Code::kInvalidArgument);
  EXPECT_EQ(with([](RaftOptions& o) { o.address = "localhost"; }).code(), Code::kInvalidArgument);
  EXPECT_EQ(with([](RaftOptions& o) { o.heartbeat_timeout_ms = 2000; }).code(),
            Code::kInvalidArgument);
  EXPECT_EQ(with([](RaftOptions& o) { o.max_entry_size = o.segment_size; }).code(),
            Code::kInvalidArgument);
  EXPECT_EQ(with([](RaftOptions& o) {
              o.bootstrap_voters = {{2, "127.0.0.1:7002"}};
            }).code(),
            Code::kInvalidArgument);
  EXPECT_EQ(with([](RaftOptions& o) {
              o.bootstrap_voters = {{1, "127.0.0.1:7001"}, {2, "127.0.0.1:7001"}};
            }).code(),
            Code::kInvalidArgument);
  EXPECT_EQ(RaftNode::Start(good, nullptr).status().code(), Code::kInvalidArgument);
}

TEST(RaftOptions, StartFailsCleanlyWhenThePortIsTaken) {
  struct Nop : StateMachine {
    void Apply(uint64_t, uint64_t, ByteView) override {}
    Bytes Snapshot(uint64_t, uint64_t) override { return {}; }
    void Restore(uint64_t, uint64_t, ByteView) override {}
  } sm;
  std::string tmpl = (std::filesystem::temp_directory_path() / "mc_raft_XXXXXX").string();
  ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
  int port = FreePort();
  RaftOptions o;
  o.id = 1;
  o.address = "127.0.0.1:" + std::to_string(port);
  o.bootstrap_voters = {{1, o.address}};
  o.data_dir = tmpl + "/a";
  auto first = RaftNode::Start(o, &sm);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  o.data_dir = tmpl + "/b";
  auto second = RaftNode::Start(o, &sm);
  EXPECT_FALSE(second.ok());
  (*first)->Stop();
  std::filesystem::remove_all(tmpl);
}

}  // namespace
}  // namespace medchain::consensus
