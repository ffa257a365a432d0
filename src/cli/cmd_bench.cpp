// Copyright (c) medchain developers.
// `medchain bench submit`: a load generator for one node (docs/benchmarks.md).
//
//   medchain bench submit --node URL --txs N --concurrency C
//                         [--ack-file F] [--json] [--rate R] [--retry-for S]
//                         [--batch B]
//
// The flags above are a FIXED interface: other tools and tests call them.
//
// What it does:
//   1. Creates a fresh key in memory and registers it as a patient with a
//      pseudonymous id ("bench-" + 16 hex digits of the key's hash), signed by
//      itself, and waits for that to commit.
//   2. Signs N `attest` transactions (random digests) on every core BEFORE the
//      timed part, so the figures are the node's, not the signer's.
//   3. Submits them over C connections, one client (keep-alive HTTP
//      connection) per thread, each POST with ?wait=commit: a request returns
//      when the transaction's block is durably committed. Closed loop by
//      default (each connection sends its next transaction when the previous
//      one committed); with --rate R, open loop: transaction i is due at
//      start + i/R seconds, whatever the node's speed, and its latency counts
//      from that due time (so a slow node cannot hide its queueing delay,
//      "coordinated omission"). With --batch B > 1 each connection sends B
//      transactions per request (POST /v1/transactions/batch?wait=commit)
//      and each one's latency runs until that request's answer; open loop,
//      a batch leaves when its last transaction is due.
//   4. Retries, with the same transaction, a 503 (leader change, shutdown),
//      a 504 (commit wait ran out), a 429 (pool full) and any transport error
//      (connection refused or reset: the node restarting), until --retry-for
//      seconds passed since that transaction's first failure. The node
//      answers a transaction it already committed with its first outcome, so
//      a retry never commits twice.
//   5. --ack-file: appends the id (hex) of every transaction the node
//      acknowledged as committed, one per line, with one write(2) each as the
//      acknowledgement arrives: a SIGKILL of the node (or of this program)
//      mid-run leaves every acknowledgement so far in the file.
//   6. Prints committed tx/s (committed / wall time of the timed part) and
//      the submit-to-commit latency percentiles; with --json the LAST line is
//        {"committed":N,"tx_per_s":X,"p50_ms":X,"p99_ms":X}
//
// Exit codes: 0 every transaction committed valid; 1 some failed or were
// marked invalid (the figures are printed anyway); 2 malformed arguments,
// unwritable ack file, or the node never answered the registration.
#include <fcntl.h>
#include <sodium.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <functional>
#include <iostream>
#include <latch>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <httplib.h>

#include "cli/client.h"
#include "cli/command.h"
#include "medchain/core/sha256.h"
#include "medchain/crypto/init.h"

namespace medchain::cli {
namespace {

using Clock = std::chrono::steady_clock;

struct BenchArgs {
  std::string node;
  uint64_t txs = 10000;
  unsigned concurrency = 64;
  std::string ack_file;
  bool json = false;
  double rate = 0;  // 0: closed loop
  unsigned retry_for_s = 60;
  unsigned sign_threads = 0;  // 0: one per core
  unsigned batch = 1;         // transactions per request (>1: POST /v1/transactions/batch)
};

// Whether a failed submission may be retried with the same transaction.
bool Retryable(int http_status) {
  return http_status == 0 || http_status == 429 || http_status == 503 || http_status == 504;
}

// Appends acknowledged ids to a file, one write(2) per line (O_APPEND makes
// each line land whole even from several threads).
class AckFile {
 public:
  ~AckFile() {
    if (m_fd >= 0) ::close(m_fd);
  }
  bool Open(const std::string& path) {
    m_fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    return m_fd >= 0;
  }
  bool Write(const Hash& id) {
    if (m_fd < 0) return true;
    char line[65];
    static const char* kHex = "0123456789abcdef";
    for (size_t i = 0; i < id.size(); ++i) {
      line[2 * i] = kHex[id[i] >> 4];
      line[2 * i + 1] = kHex[id[i] & 15];
    }
    line[64] = '\n';
    return ::write(m_fd, line, sizeof line) == static_cast<ssize_t>(sizeof line);
  }

 private:
  int m_fd = -1;
};

// One keep-alive HTTP connection to the node, for one thread. The bench
// speaks HTTP itself rather than through NodeClient for one reason:
// NodeClient leaves Nagle's algorithm on, and cpp-httplib writes a POST's
// headers and body in two send() calls, so every request stalls ~40 ms on
// the server's delayed ACK. A load generator must not measure that.
class BenchClient {
 public:
  BenchClient(const std::string& url, int timeout_s) : m_http(url), m_timeout_s(timeout_s) {
    m_http.set_keep_alive(true);
    m_http.set_tcp_nodelay(true);
    m_http.set_connection_timeout(5, 0);
    m_http.set_read_timeout(timeout_s, 0);
    m_http.set_write_timeout(timeout_s, 0);
  }

  // Opens the connection with a GET /v1/healthz; false when no server
  // thread answered within 2 s (every one is busy with another connection).
  bool Connect() {
    m_http.set_read_timeout(2, 0);
    auto res = m_http.Get("/v1/healthz");
    m_http.set_read_timeout(m_timeout_s, 0);
    return static_cast<bool>(res);
  }

  // POSTs a submission with ?wait=commit. `status` is the HTTP status, 0
  // when no answer came (refused, reset, timed out).
  Json Submit(const std::string& envelope, int& status, std::string& error) {
    return Post("/v1/transactions?wait=commit", envelope, "application/vnd.medchain.submission",
                status, error);
  }

  // POSTs a batch (application/vnd.medchain.batch) with ?wait=commit.
  Json SubmitBatch(const std::string& body, int& status, std::string& error) {
    return Post("/v1/transactions/batch?wait=commit", body, "application/vnd.medchain.batch",
                status, error);
  }

 private:
  Json Post(const char* path, const std::string& body, const char* content_type, int& status,
            std::string& error) {
    auto res = m_http.Post(path, body, content_type);
    if (!res) {
      status = 0;
      error = "no answer from the node (" + httplib::to_string(res.error()) + ")";
      return Json();
    }
    status = res->status;
    Json j = Json::parse(res->body, nullptr, false);
    if (status >= 300) {
      error = "HTTP " + std::to_string(status);
      if (!j.is_discarded()) error += " " + j.dump().substr(0, 300);
    }
    return j;
  }

  httplib::Client m_http;
  int m_timeout_s;
};

// The POST body of a transaction without a sidecar (docs/api.md).
std::string Envelope(const ledger::Transaction& tx) {
  Encoder e(tx.bytes().size() + 8);
  e.U8(1).Var(tx.bytes()).Bool(false);
  return std::string(AsString(e.buffer()));
}

// Retries by cause: HTTP status, 0 for no answer. Thread-safe.
class RetryCounts {
 public:
  void Add(int status, const std::string& error) {
    std::lock_guard lock(m_mu);
    if (m_counts[status]++ == 0) m_first[status] = error;
  }
  // "12 (no answer 10, HTTP 503 2)"
  std::string Describe() const {
    std::lock_guard lock(m_mu);
    uint64_t n = 0;
    std::string parts;
    for (const auto& [status, count] : m_counts) {
      n += count;
      parts += (parts.empty() ? "" : ", ") +
               (status == 0 ? std::string("no answer") : "HTTP " + std::to_string(status)) + " " +
               std::to_string(count) + ", first: " + m_first.at(status);
    }
    return std::to_string(n) + (parts.empty() ? "" : " (" + parts + ")");
  }

 private:
  mutable std::mutex m_mu;
  std::map<int, uint64_t> m_counts;
  std::map<int, std::string> m_first;
};

// Submits one transaction until it commits, fails for good, or the retry
// window closes. Returns the node's JSON answer or the last error.
Result<Json> SubmitWithRetry(BenchClient& client, const std::string& envelope, unsigned retry_for_s,
                             RetryCounts& retries) {
  std::optional<Clock::time_point> give_up;
  auto backoff = std::chrono::milliseconds(20);
  while (true) {
    int status = 0;
    std::string error;
    Json j = client.Submit(envelope, status, error);
    auto st = j.is_object() ? j.find("status") : j.end();
    bool committed = status == 200 && st != j.end() && *st == "committed";
    if (committed) return j;
    // 202 (pooled, not committed) cannot happen with ?wait=commit; if a node
    // did answer it, asking again waits for the commit.
    if (status != 202 && !Retryable(status)) {
      return Status::FailedPrecondition(error.empty() ? "unexpected answer" : error);
    }
    auto now = Clock::now();
    if (!give_up) give_up = now + std::chrono::seconds(retry_for_s);
    if (now >= *give_up) {
      return Status::Timeout("not committed within --retry-for " + std::to_string(retry_for_s) +
                             " s; last: " + error);
    }
    retries.Add(status, error);
    std::this_thread::sleep_for(backoff);  // a back-off between attempts, not a wait for a state
    backoff = std::min(backoff * 2, std::chrono::milliseconds(500));
  }
}

// The result code of a committed outcome ("ok", "invalid", "refused"), or "".
std::string ResultCode(const Json& outcome) {
  if (!outcome.is_object()) return "";
  auto it = outcome.find("result");
  if (it == outcome.end() || !it->is_object()) return "";
  auto code = it->find("code");
  return code != it->end() && code->is_string() ? code->get<std::string>() : "";
}

// The body of POST /v1/transactions/batch carrying envelopes[i] for each i
// in `which`: version 1, a count, then each envelope with its length
// (docs/api.md).
std::string BatchBody(const std::vector<std::string>& envelopes,
                      const std::vector<uint64_t>& which) {
  size_t size = 8;
  for (uint64_t i : which) size += envelopes[i].size() + 4;
  Encoder e(size);
  e.U8(1).U32(static_cast<uint32_t>(which.size()));
  for (uint64_t i : which) e.Var(AsBytes(envelopes[i]));
  return std::string(AsString(e.buffer()));
}

// Submits envelopes [first, first + count) as batches until each one
// committed, failed for good, or the retry window closed; a batch that failed
// as a whole, or items the node could not take yet (429, 503, 504), are sent
// again (a repeat of a committed transaction is answered with its outcome).
// `done(i, result)` is called once per transaction.
void SubmitBatchWithRetry(BenchClient& client, const std::vector<std::string>& envelopes,
                          uint64_t first, uint64_t count, unsigned retry_for_s,
                          RetryCounts& retries,
                          const std::function<void(uint64_t, const Result<Json>&)>& done) {
  std::vector<uint64_t> pending(count);
  for (uint64_t k = 0; k < count; ++k) pending[k] = first + k;
  std::optional<Clock::time_point> give_up;
  auto backoff = std::chrono::milliseconds(20);
  std::string last_error;
  while (!pending.empty()) {
    int status = 0;
    std::string error;
    Json j = client.SubmitBatch(BatchBody(envelopes, pending), status, error);
    auto results = j.is_object() ? j.find("results") : j.end();
    std::vector<uint64_t> again;
    if (status == 200 && results != j.end() && results->is_array() &&
        results->size() == pending.size()) {
      for (size_t k = 0; k < pending.size(); ++k) {
        const Json& r = (*results)[k];
        auto st = r.is_object() ? r.find("status") : r.end();
        if (st != r.end() && *st == "committed") {
          done(pending[k], r);
          continue;
        }
        int item_status = r.is_object() && r.contains("http_status") && r["http_status"].is_number()
                              ? r["http_status"].get<int>()
                              : 500;
        std::string item_error =
            "HTTP " + std::to_string(item_status) + " " + r.dump().substr(0, 300);
        if (item_status != 202 && !Retryable(item_status)) {
          done(pending[k], Status::FailedPrecondition(item_error));
          continue;
        }
        retries.Add(item_status, item_error);
        last_error = item_error;
        again.push_back(pending[k]);
      }
    } else if (status != 200 && !Retryable(status)) {
      for (uint64_t i : pending) done(i, Status::FailedPrecondition(error));
      return;
    } else {
      retries.Add(status, error.empty() ? "unexpected answer" : error);
      last_error = error;
      again = pending;
    }
    pending = std::move(again);
    if (pending.empty()) return;
    auto now = Clock::now();
    if (!give_up) give_up = now + std::chrono::seconds(retry_for_s);
    if (now >= *give_up) {
      for (uint64_t i : pending) {
        done(i, Status::Timeout("not committed within --retry-for " + std::to_string(retry_for_s) +
                                " s; last: " + last_error));
      }
      return;
    }
    std::this_thread::sleep_for(backoff);  // a back-off between attempts, not a wait for a state
    backoff = std::min(backoff * 2, std::chrono::milliseconds(500));
  }
}

// Nearest-rank percentile of sorted values.
double Percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  size_t rank = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(sorted.size())));
  if (rank == 0) rank = 1;
  return sorted[std::min(rank, sorted.size()) - 1];
}

std::string Fixed(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

int RunBenchSubmit(const BenchArgs& a) {
  if (a.txs == 0) return Fail("--txs must be at least 1", kExitUsage);
  if (a.concurrency == 0 || a.concurrency > 4096) {
    return Fail("--concurrency must be between 1 and 4096", kExitUsage);
  }
  if (a.rate < 0 || !std::isfinite(a.rate)) return Fail("--rate must be positive", kExitUsage);
  if (Status s = CheckBatchSize(a.batch); !s.ok()) return Fail(s.message(), kExitUsage);
  AckFile acks;
  if (!a.ack_file.empty() && !acks.Open(a.ack_file)) {
    return Fail("cannot open --ack-file " + a.ack_file, kExitUsage);
  }
  crypto::Init();

  // 1. A fresh pseudonymous patient, registered by itself.
  crypto::KeyMaterial key = crypto::KeyMaterial::Generate();
  Hash key_hash = Sha256Digest(key.signing.public_key());
  std::string patient = "bench-" + ToHex(ByteView(key_hash.data(), 8));
  ledger::RegisterParticipant reg;
  reg.id = patient;
  reg.role = ledger::Role::kPatient;
  reg.sign_key = key.signing.public_key();
  reg.box_key = key.encryption.public_key();
  {
    BenchClient client(a.node, 120);
    RetryCounts ignored;
    auto tx = MakeTx(key, ledger::TxType::kRegisterParticipant, ledger::EncodeBody(reg));
    auto r = SubmitWithRetry(client, Envelope(*tx), a.retry_for_s, ignored);
    if (!r.ok()) {
      return Fail("registering " + patient + ": " + r.status().ToString(),
                  r.status().code() == Code::kTimeout ? kExitUsage : kExitFail);
    }
    if (ResultCode(*r) != "ok") {
      return Fail("registering " + patient + " was refused: " + r->dump(), kExitFail);
    }
  }

  // 2. Sign everything before the clock starts.
  std::vector<Hash> ids(a.txs);
  std::vector<std::string> envelopes(a.txs);
  unsigned signers =
      a.sign_threads ? a.sign_threads : std::max(1u, std::thread::hardware_concurrency());
  auto sign_start = Clock::now();
  {
    std::vector<std::thread> pool;
    for (unsigned t = 0; t < signers; ++t) {
      pool.emplace_back([&, t] {
        for (uint64_t i = t; i < a.txs; i += signers) {
          ledger::Attest body;
          randombytes_buf(body.digest.data(), body.digest.size());
          auto tx = MakeTx(key, ledger::TxType::kAttest, ledger::EncodeBody(body));
          ids[i] = tx->id();
          envelopes[i] = Envelope(*tx);
        }
      });
    }
    for (auto& th : pool) th.join();
  }
  double sign_s = std::chrono::duration<double>(Clock::now() - sign_start).count();

  // 3. The timed part.
  std::atomic<uint64_t> next{0}, committed{0}, invalid{0}, failed{0};
  RetryCounts retries;
  std::atomic<bool> ack_error{false};
  std::mutex mu;
  std::vector<double> latencies;  // guarded by mu (merged once per thread)
  latencies.reserve(a.txs);
  std::string first_error;  // guarded by mu
  // Connections are opened one at a time before the clock starts: a burst of
  // C connects overflows the node's listen backlog (cpp-httplib's default is
  // 5), and the dropped SYNs would add 1-3 s to the first requests.
  std::vector<std::unique_ptr<BenchClient>> clients;
  unsigned connected = 0;
  for (unsigned c = 0; c < a.concurrency; ++c) {
    clients.push_back(std::make_unique<BenchClient>(a.node, 120));
    if (connected == c && clients.back()->Connect()) connected++;
  }
  if (connected < a.concurrency) {
    std::cout << "  WARNING: the node served " << connected << " connections at once; the other "
              << a.concurrency - connected
              << " wait for a free server thread (its api.threads) and their latency shows it\n";
  }
  Clock::time_point start;
  std::latch go(1);
  std::vector<std::thread> workers;
  for (unsigned c = 0; c < a.concurrency; ++c) {
    workers.emplace_back([&, c] {
      BenchClient& client = *clients[c];
      std::vector<double> mine;
      go.wait();
      while (a.batch > 1) {
        uint64_t first = next.fetch_add(a.batch);
        if (first >= a.txs) break;
        uint64_t count = std::min<uint64_t>(a.batch, a.txs - first);
        auto due_of = [&](uint64_t i) {
          return start + std::chrono::duration_cast<Clock::duration>(
                             std::chrono::duration<double>(static_cast<double>(i) / a.rate));
        };
        Clock::time_point sent = Clock::now();
        // Open loop: the batch leaves when its last transaction is due; each
        // one's latency counts from its own due time.
        if (a.rate > 0) std::this_thread::sleep_until(due_of(first + count - 1));
        SubmitBatchWithRetry(
            client, envelopes, first, count, a.retry_for_s, retries,
            [&](uint64_t i, const Result<Json>& r) {
              if (!r.ok()) {
                failed++;
                std::lock_guard lock(mu);
                if (first_error.empty()) first_error = r.status().ToString();
                return;
              }
              auto due = a.rate > 0 ? due_of(i) : sent;
              mine.push_back(std::chrono::duration<double, std::milli>(Clock::now() - due).count());
              committed++;
              if (!acks.Write(ids[i])) ack_error = true;
              if (ResultCode(*r) != "ok") invalid++;
            });
      }
      while (a.batch <= 1) {
        uint64_t i = next.fetch_add(1);
        if (i >= a.txs) break;
        Clock::time_point due = Clock::now();
        if (a.rate > 0) {
          due = start + std::chrono::duration_cast<Clock::duration>(
                            std::chrono::duration<double>(static_cast<double>(i) / a.rate));
          std::this_thread::sleep_until(due);  // the open-loop schedule
        }
        auto r = SubmitWithRetry(client, envelopes[i], a.retry_for_s, retries);
        if (!r.ok()) {
          failed++;
          std::lock_guard lock(mu);
          if (first_error.empty()) first_error = r.status().ToString();
          continue;
        }
        mine.push_back(std::chrono::duration<double, std::milli>(Clock::now() - due).count());
        committed++;
        if (!acks.Write(ids[i])) ack_error = true;
        if (ResultCode(*r) != "ok") invalid++;
      }
      std::lock_guard lock(mu);
      latencies.insert(latencies.end(), mine.begin(), mine.end());
    });
  }
  start = Clock::now();
  go.count_down();
  std::atomic<bool> progress_done{false};
  std::thread progress([&] {
    auto last = Clock::now();
    while (!progress_done) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      if (Clock::now() - last >= std::chrono::seconds(2)) {
        last = Clock::now();
        std::cerr << "  " << committed.load() << " / " << a.txs << " committed" << std::endl;
      }
    }
  });
  for (auto& w : workers) w.join();
  double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  progress_done = true;
  progress.join();

  std::sort(latencies.begin(), latencies.end());
  double tps = elapsed > 0 ? static_cast<double>(committed.load()) / elapsed : 0;
  double p50 = Percentile(latencies, 50), p90 = Percentile(latencies, 90);
  double p99 = Percentile(latencies, 99), max = latencies.empty() ? 0 : latencies.back();
  std::cout << "bench submit: " << a.txs << " attest transactions to " << a.node << ", concurrency "
            << a.concurrency << (a.batch > 1 ? ", " + std::to_string(a.batch) + " per request" : "")
            << (a.rate > 0 ? ", open loop at " + Fixed(a.rate, 0) + " tx/s" : ", closed loop")
            << "\n"
            << "  patient " << patient << " registered; signed " << a.txs << " in "
            << Fixed(sign_s, 2) << " s on " << signers << " threads, before the timed part\n"
            << "  committed " << committed.load() << " in " << Fixed(elapsed, 2)
            << " s: " << Fixed(tps, 0) << " tx/s\n"
            << "  submit-to-commit latency: p50 " << Fixed(p50, 1) << " ms, p90 " << Fixed(p90, 1)
            << " ms, p99 " << Fixed(p99, 1) << " ms, max " << Fixed(max, 1) << " ms\n"
            << "  retries " << retries.Describe() << ", failed " << failed.load() << ", invalid "
            << invalid.load() << "\n";
  if (!first_error.empty()) std::cout << "  first error: " << first_error << "\n";
  if (ack_error)
    std::cout << "  WARNING: some acknowledgements could not be written to the ack file\n";
  if (a.json) {
    nlohmann::ordered_json j = {{"committed", committed.load()},
                                {"tx_per_s", std::round(tps * 10) / 10},
                                {"p50_ms", std::round(p50 * 100) / 100},
                                {"p99_ms", std::round(p99 * 100) / 100}};
    std::cout << j.dump() << "\n";
  }
  std::cout << std::flush;
  return failed == 0 && invalid == 0 && !ack_error ? kExitOk : kExitFail;
}

CommandGroup g_bench("bench", [](CLI::App& app, ExitCode& rc) {
  auto* bench =
      app.add_subcommand("bench", "Load generators (docs/benchmarks.md)")->require_subcommand(1);
  auto a = std::make_shared<BenchArgs>();
  auto* cmd = bench->add_subcommand(
      "submit",
      "Register a fresh patient, sign N attest transactions, submit them with C connections "
      "(?wait=commit) and print committed tx/s and p50/p99 submit-to-commit latency");
  a->node = DefaultNodeUrl();
  cmd->add_option("--node", a->node,
                  "node API URL (default $MEDCHAIN_NODE or http://127.0.0.1:7070)");
  cmd->add_option("--txs", a->txs, "transactions to submit")->capture_default_str();
  cmd->add_option("--concurrency", a->concurrency, "connections, one thread each")
      ->capture_default_str();
  cmd->add_option("--ack-file", a->ack_file,
                  "append the id of every transaction acknowledged as committed, as it happens");
  cmd->add_flag("--json", a->json,
                "print {\"committed\",\"tx_per_s\",\"p50_ms\",\"p99_ms\"} as the last line");
  cmd->add_option("--rate", a->rate,
                  "open loop: target transactions per second (default: closed "
                  "loop, as fast as the node commits)");
  cmd->add_option("--retry-for", a->retry_for_s,
                  "seconds to keep retrying one transaction (node restarting, 503)")
      ->capture_default_str();
  cmd->add_option("--sign-threads", a->sign_threads, "signing threads (default: one per core)");
  cmd->add_option("--batch", a->batch,
                  "transactions per request: above 1, each connection sends them together "
                  "(POST /v1/transactions/batch) and waits for all to commit")
      ->capture_default_str();
  cmd->callback([a, &rc] { rc = RunBenchSubmit(*a); });
});

}  // namespace
}  // namespace medchain::cli
