// Copyright (c) medchain developers.
#include "medchain/api/server.h"

#include <sys/socket.h>

#include <charconv>
#include <future>
#include <thread>

#include <httplib.h>
#include <spdlog/spdlog.h>

#include "api/fhir_facade.h"
#include "medchain/api/json.h"
#include "medchain/api/read_response.h"
#include "medchain/core/merkle.h"
#include "medchain/crypto/ed25519.h"
#include "medchain/store/checkpoint.h"

namespace medchain::api {

namespace {

using httplib::Request;
using httplib::Response;

int HttpStatus(Code code) {
  switch (code) {
    case Code::kOk:
      return 200;
    case Code::kInvalidArgument:
      return 400;
    case Code::kUnauthenticated:
      return 401;
    case Code::kPermissionDenied:
      return 403;
    case Code::kNotFound:
      return 404;
    case Code::kAlreadyExists:
      return 409;
    case Code::kFailedPrecondition:
      return 409;
    case Code::kResourceExhausted:
      return 429;
    case Code::kUnavailable:
      return 503;
    case Code::kTimeout:
      return 504;
    case Code::kCorruption:
    case Code::kIOError:
    case Code::kInternal:
      return 500;
  }
  return 500;
}

// The last-resort answer, written without any JSON machinery that could throw.
constexpr const char* kInternalErrorBody = R"({"error":"internal","message":"internal error"})";

void SendJson(Response& res, int status, const Json& j) {
  res.status = status;
  // Strings here can carry bytes a client sent (a path, a parser's excerpt of
  // a body): invalid UTF-8 becomes U+FFFD instead of an exception.
  res.set_content(j.dump(-1, ' ', false, Json::error_handler_t::replace), "application/json");
}

void SendError(Response& res, int status, std::string_view code, const std::string& message) {
  SendJson(res, status, Json{{"error", code}, {"message", message}});
}

void SendStatus(Response& res, const Status& s) {
  SendError(res, HttpStatus(s.code()), CodeName(s.code()), s.message());
}

// A query parameter as an unsigned number: nullopt when absent; error when malformed.
Result<std::optional<uint64_t>> QueryU64(const Request& req, const char* name) {
  if (!req.has_param(name)) return std::optional<uint64_t>();
  std::string v = req.get_param_value(name);
  uint64_t out = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
  if (v.empty() || ec != std::errc() || p != v.data() + v.size()) {
    return Status::InvalidArgument(std::string("query parameter ") + name +
                                   " must be a non-negative integer");
  }
  return std::optional<uint64_t>(out);
}

Result<uint64_t> PathU64(const std::string& v, const char* what) {
  uint64_t out = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
  if (v.empty() || ec != std::errc() || p != v.data() + v.size()) {
    return Status::InvalidArgument(std::string(what) + " must be a non-negative integer");
  }
  return out;
}

Result<Hash> PathHash(const std::string& v, const char* what) {
  auto h = HashFromHex(v);
  if (!h) return Status::InvalidArgument(std::string(what) + " must be 64 hex digits");
  return *h;
}

Json SubmitOutcomeJson(const SubmitOutcome& o) {
  Json j = {{"id", ToHex(o.id)}, {"status", o.committed ? "committed" : "pending"}};
  if (o.committed) {
    j["height"] = o.height;
    j["index"] = o.index;
    j["leaf_index"] = o.leaf_index;
    j["result"] = ResultToJson(o.result);
  }
  return j;
}

Json HashesJson(const std::vector<Hash>& v) {
  Json a = Json::array();
  for (const auto& h : v) a.push_back(ToHex(h));
  return a;
}

// The body of a submission: a transaction and maybe a sidecar.
struct Submission {
  ledger::TransactionRef tx;
  std::optional<ledger::Sidecar> sidecar;
};

// application/vnd.medchain.submission (docs/api.md).
Result<Submission> DecodeEnvelope(ByteView body) {
  Submission s;
  Decoder d(body, "submission");
  if (d.U8("version") != 1 && d.ok()) d.Fail("version", "unknown version");
  ByteView tx = d.VarView("tx", ledger::kMaxTxSize);
  bool has = d.Bool("has_sidecar");
  ByteView sc;
  if (has) sc = d.VarView("sidecar", ledger::kMaxCiphertextSize + (1 << 20));
  MC_RETURN_IF_ERROR(d.Finish());
  MC_ASSIGN_OR_RETURN(s.tx, ledger::Transaction::Decode(tx));
  if (has) {
    MC_ASSIGN_OR_RETURN(s.sidecar, ledger::Sidecar::Decode(sc));
  }
  return s;
}

// application/vnd.medchain.batch (docs/api.md): version 1, a count, then
// that many length-prefixed submission envelopes. Every envelope must decode
// or the whole batch is refused, naming the first bad one.
Result<std::vector<Backend::BatchItem>> DecodeBatch(ByteView body) {
  Decoder d(body, "batch");
  if (d.U8("version") != 1 && d.ok()) d.Fail("version", "unknown version");
  uint32_t n = d.U32("count");
  if (d.ok() && (n == 0 || n > kMaxBatchSubmissions)) {
    d.Fail("count", "must be between 1 and " + std::to_string(kMaxBatchSubmissions));
  }
  std::vector<ByteView> envelopes;
  if (d.ok()) envelopes.reserve(n);
  for (uint32_t i = 0; i < n && d.ok(); ++i) {
    envelopes.push_back(
        d.VarView("submission", ledger::kMaxTxSize + ledger::kMaxCiphertextSize + (2 << 20)));
  }
  MC_RETURN_IF_ERROR(d.Finish());
  std::vector<Backend::BatchItem> items;
  items.reserve(n);
  for (uint32_t i = 0; i < n; ++i) {
    auto sub = DecodeEnvelope(envelopes[i]);
    if (!sub.ok()) {
      return sub.status().Prefixed("submission " + std::to_string(i));
    }
    items.push_back({std::move(sub->tx), std::move(sub->sidecar)});
  }
  return items;
}

// The request's media type: Content-Type without parameters ("; charset=...").
std::string MediaType(const Request& req) {
  std::string ct = req.get_header_value("Content-Type");
  if (auto semi = ct.find(';'); semi != std::string::npos) ct.resize(semi);
  while (!ct.empty() && ct.back() == ' ') ct.pop_back();
  return ct;
}

Result<Submission> ParseSubmission(const Request& req) {
  const std::string ct = MediaType(req);
  Submission s;
  if (ct == "application/octet-stream") {
    MC_ASSIGN_OR_RETURN(s.tx, ledger::Transaction::Decode(AsBytes(req.body)));
    return s;
  }
  if (ct == "application/vnd.medchain.submission") return DecodeEnvelope(AsBytes(req.body));
  if (ct == "application/json") {
    MC_ASSIGN_OR_RETURN(Json j, ParseJson(req.body, "request body"));
    if (!j.is_object()) return Status::InvalidArgument("request body must be a JSON object");
    if (j.contains("tx_base64")) {
      if (!j["tx_base64"].is_string())
        return Status::InvalidArgument("tx_base64: must be a string");
      auto raw = FromBase64(j["tx_base64"].get<std::string>());
      if (!raw) return Status::InvalidArgument("tx_base64: not standard base64");
      MC_ASSIGN_OR_RETURN(s.tx, ledger::Transaction::Decode(*raw));
    } else {
      MC_ASSIGN_OR_RETURN(s.tx, TxFromJson(j));
    }
    if (j.contains("sidecar") && !j["sidecar"].is_null()) {
      if (!j["sidecar"].is_string())
        return Status::InvalidArgument("sidecar: must be a base64 string");
      auto raw = FromBase64(j["sidecar"].get<std::string>());
      if (!raw) return Status::InvalidArgument("sidecar: not standard base64");
      MC_ASSIGN_OR_RETURN(s.sidecar, ledger::Sidecar::Decode(*raw));
    }
    return s;
  }
  return Status(Status::InvalidArgument("unsupported content type"));
}

bool IsSupportedSubmissionType(const Request& req) {
  const std::string ct = MediaType(req);
  return ct == "application/octet-stream" || ct == "application/vnd.medchain.submission" ||
         ct == "application/json";
}

class HttpServer final : public Server {
 public:
  HttpServer(const ServerOptions& o, Backend& b) : m_options(o), m_backend(b) {}
  ~HttpServer() override { Stop(); }

  Status Start() {
    Routes();
    MC_RETURN_IF_ERROR(RegisterFhirFacade(m_http, m_options, m_backend));  // docs/fhir.md
    unsigned threads = m_options.threads;
    m_http.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
    m_http.set_payload_max_length(m_options.max_body_bytes);
    m_http.set_keep_alive_max_count(100000);
    // An idle keep-alive connection holds a worker until this runs out, and
    // Stop() waits for every worker: a node (e.g. a leader with followers'
    // forwarding connections open) must not take 30 s to shut down.
    m_http.set_keep_alive_timeout(5);
    m_http.set_read_timeout(30, 0);
    m_http.set_tcp_nodelay(true);
    // cpp-httplib listens with a backlog of 5 (compiled into Debian's
    // library): a burst of clients then loses SYNs and stalls for seconds.
    // Remember the listening socket to listen again with a real backlog.
    m_http.set_socket_options([this](int sock) {
      httplib::default_socket_options(sock);
      m_listen_fd = sock;
    });
    // The last resort for a handler that threw: a generic 500. The exception's
    // text is neither sent nor logged, since it may quote request data.
    m_http.set_exception_handler(
        [](const Request& req, Response& res, std::exception_ptr) noexcept {
          try {
            spdlog::error("api: a handler for {} failed unexpectedly", req.method);
            res.status = 500;
            res.set_content(kInternalErrorBody, "application/json");
          } catch (...) {
          }
        });
    m_http.set_error_handler([this](const Request& req, Response& res) noexcept {
      if (!res.body.empty()) return;
      try {
        if (res.status == 413) {
          SendError(res, 413, "resource_exhausted",
                    "request body exceeds the limit of " +
                        std::to_string(m_options.max_body_bytes) + " bytes");
        } else if (res.status == 404) {
          SendError(res, 404, "not_found", "no such endpoint: " + req.method + " " + req.path);
        } else if (res.status == 405) {
          SendError(res, 405, "invalid_argument", "method not allowed");
        } else {
          SendError(res, res.status, "invalid_argument", "bad request");
        }
      } catch (...) {
        res.set_content(kInternalErrorBody, "application/json");
      }
    });
    int port = m_options.port;
    if (port == 0) {
      port = m_http.bind_to_any_port(m_options.host.c_str());
      if (port <= 0) return Status::IOError("cannot bind an API port on " + m_options.host);
    } else if (!m_http.bind_to_port(m_options.host.c_str(), port)) {
      return Status::IOError("cannot listen on " + m_options.host + ":" + std::to_string(port) +
                             " (in use, or not an address of this machine)");
    }
    if (m_listen_fd >= 0) ::listen(m_listen_fd, 4096);
    m_port = port;
    m_thread = std::thread([this] { m_http.listen_after_bind(); });
    return Status::Ok();
  }

  int port() const override { return m_port; }

  void Stop() override {
    if (m_stopped.exchange(true)) return;
    m_http.stop();
    if (m_thread.joinable()) m_thread.join();
  }

 private:
  void Routes() {
    auto& h = m_http;
    h.Post("/v1/transactions", [this](const Request& req, Response& res) {
      if (!IsSupportedSubmissionType(req)) {
        return SendError(res, 415, "invalid_argument",
                         "Content-Type must be application/json, application/octet-stream or "
                         "application/vnd.medchain.submission");
      }
      auto sub = ParseSubmission(req);
      if (!sub.ok()) return SendStatus(res, sub.status());
      bool wait = req.get_param_value("wait") == "commit";
      auto out = m_backend.Submit(sub->tx, std::move(sub->sidecar), wait);
      if (!out.ok()) return SendStatus(res, out.status());
      SendJson(res, out->committed ? 200 : 202, SubmitOutcomeJson(*out));
    });
    h.Post("/v1/transactions/batch", [this](const Request& req, Response& res) {
      if (MediaType(req) != "application/vnd.medchain.batch") {
        return SendError(res, 415, "invalid_argument",
                         "Content-Type must be application/vnd.medchain.batch");
      }
      auto items = DecodeBatch(AsBytes(req.body));
      if (!items.ok()) return SendStatus(res, items.status());
      bool wait = req.get_param_value("wait") == "commit";
      auto outcomes = m_backend.SubmitBatch(std::move(*items), wait);
      Json results = Json::array();
      for (const auto& o : outcomes) {
        if (o.ok()) {
          Json j = SubmitOutcomeJson(*o);
          j["http_status"] = o->committed ? 200 : 202;
          results.push_back(std::move(j));
        } else {
          // The status the same submission alone would have had.
          results.push_back(Json{{"error", CodeName(o.status().code())},
                                 {"message", o.status().message()},
                                 {"http_status", HttpStatus(o.status().code())}});
        }
      }
      SendJson(res, 200, Json{{"results", std::move(results)}});
    });
    h.Get(R"(/v1/transactions/([0-9a-fA-F]+))", [this](const Request& req, Response& res) {
      auto id = PathHash(req.matches[1], "transaction id");
      if (!id.ok()) return SendStatus(res, id.status());
      auto tx = m_backend.Ledger().GetTx(*id);
      if (!tx.ok()) return SendStatus(res, tx.status());
      if (!*tx) return SendError(res, 404, "not_found", "no committed transaction " + ToHex(*id));
      const auto& [t, loc] = **tx;
      Json j = TxToJson(*t);
      j["height"] = loc.height;
      j["index"] = loc.index;
      j["leaf_index"] = loc.leaf_index;
      j["result"] = ResultToJson(loc.result);
      SendJson(res, 200, j);
    });
    h.Get(R"(/v1/blocks/(\d+))", [this](const Request& req, Response& res) { Block(req, res); });
    h.Get("/v1/blocks", [this](const Request& req, Response& res) { Blocks(req, res); });
    h.Get(R"(/v1/sync/(\d+))", [this](const Request& req, Response& res) { Sync(req, res); });
    h.Get("/v1/checkpoint", [this](const Request&, Response& res) {
      auto note = m_backend.Ledger().LatestCheckpoint();
      if (!note.ok()) return SendStatus(res, note.status());
      if (!*note) return SendError(res, 404, "not_found", "no checkpoint yet");
      res.set_content(**note, "text/plain; charset=utf-8");
    });
    h.Get("/v1/checkpoints", [this](const Request& req, Response& res) { Checkpoints(req, res); });
    h.Get(R"(/v1/checkpoints/(\d+))", [this](const Request& req, Response& res) {
      auto height = PathU64(req.matches[1], "height");
      if (!height.ok()) return SendStatus(res, height.status());
      auto note = m_backend.Ledger().GetCheckpoint(*height);
      if (!note.ok()) return SendStatus(res, note.status());
      if (!*note) return SendError(res, 404, "not_found", "no checkpoint at that height");
      res.set_content(**note, "text/plain; charset=utf-8");
    });
    h.Get("/v1/proofs/inclusion",
          [this](const Request& req, Response& res) { Inclusion(req, res); });
    h.Get("/v1/proofs/consistency",
          [this](const Request& req, Response& res) { Consistency(req, res); });
    h.Get("/v1/healthz", [this](const Request&, Response& res) {
      Status s = m_backend.Health();
      auto tip = m_backend.Ledger().GetTip();
      Json j = {{"status", s.ok() ? "ok" : "unavailable"},
                {"height", tip.height},
                {"log_size", tip.log_size}};
      if (!s.ok()) j["message"] = s.message();
      SendJson(res, s.ok() ? 200 : 503, j);
    });
    h.Get("/metrics", [this](const Request&, Response& res) {
      res.set_content(m_backend.Metrics(), "text/plain; version=0.0.4");
    });
    h.Get("/v1/node", [this](const Request&, Response& res) {
      NodeSummary s = m_backend.Summary();
      auto tip = m_backend.Ledger().GetTip();
      SendJson(res, 200,
               Json{{"node_id", s.node_id},
                    {"consortium", s.consortium},
                    {"origin", s.origin},
                    {"genesis_hash", ToHex(s.genesis_hash)},
                    {"verifier_key", s.verifier_key},
                    {"url", s.api_url},
                    {"height", tip.height},
                    {"log_size", tip.log_size}});
    });
    h.Get("/v1/genesis", [this](const Request&, Response& res) {
      auto g = m_backend.Ledger().GetGenesis();
      if (!g.ok() || !*g) return SendError(res, 500, "internal", "no genesis");
      auto doc = ledger::DecodeBody<ledger::Genesis>(**g, "genesis");
      if (!doc.ok()) return SendStatus(res, doc.status());
      SendJson(res, 200, GenesisToJson(*doc));
    });
    h.Get("/v1/cluster", [this](const Request& req, Response& res) {
      res.set_content(m_backend.ClusterJson(req.get_param_value("local") == "1"),
                      "application/json");
    });
    h.Post("/v1/admin/backup", [this](const Request& req, Response& res) {
      auto r = m_backend.AdminBackup(req.get_header_value("X-Medchain-Signer"),
                                     req.get_header_value("X-Medchain-Time"),
                                     req.get_header_value("X-Medchain-Signature"));
      if (!r.ok()) return SendStatus(res, r.status());
      res.set_content(*r, "application/json");
    });
    RecordRoutes();
  }

  void Block(const Request& req, Response& res) {
    auto height = PathU64(req.matches[1], "height");
    if (!height.ok()) return SendStatus(res, height.status());
    auto b = m_backend.Ledger().GetBlock(*height);
    if (!b.ok()) return SendStatus(res, b.status());
    if (!*b)
      return SendError(res, 404, "not_found", "no block at height " + std::to_string(*height));
    Json j = HeaderToJson((*b)->header, (*b)->hash());
    j["signature"] = ToHex((*b)->signature);
    bool full = req.get_param_value("txs") == "full";
    Json txs = Json::array();
    for (const auto& tx : (*b)->txs) {
      if (!full) {
        txs.push_back(ToHex(tx->id()));
        continue;
      }
      Json t = TxToJson(*tx);
      auto loc = m_backend.Ledger().FindTx(tx->id());
      if (loc.ok() && *loc) t["result"] = ResultToJson((*loc)->result);
      txs.push_back(std::move(t));
    }
    j["txs"] = std::move(txs);
    SendJson(res, 200, j);
  }

  void Blocks(const Request& req, Response& res) {
    auto from = QueryU64(req, "from");
    auto limit = QueryU64(req, "limit");
    if (!from.ok()) return SendStatus(res, from.status());
    if (!limit.ok()) return SendStatus(res, limit.status());
    auto tip = m_backend.Ledger().GetTip();
    uint64_t n = std::min<uint64_t>(limit->value_or(20), 1000);
    uint64_t start = from->value_or(tip.height >= n - 1 ? tip.height - (n - 1) : 0);
    Json list = Json::array();
    for (uint64_t h = start; h <= tip.height && list.size() < n; ++h) {
      auto raw = m_backend.Ledger().GetBlockBytes(h);
      if (!raw.ok() || !*raw) break;
      Decoder d(**raw, "block");
      ByteView header = d.VarView("header", 1024);
      auto hd = ledger::BlockHeader::Decode(header);
      if (!hd.ok())
        return SendStatus(res, Status::Corruption("block " + std::to_string(h) + " unreadable"));
      list.push_back(HeaderToJson(*hd, hd->ComputeHash()));
    }
    SendJson(res, 200, Json{{"height", tip.height}, {"blocks", list}});
  }

  // A block with the sidecars still held, for peers catching up.
  Status CheckNodeSignature(const Request& req, uint64_t height) const {
    std::string node_id = req.get_header_value("X-Medchain-Node");
    std::string time = req.get_header_value("X-Medchain-Time");
    auto sig = FromHex(req.get_header_value("X-Medchain-Signature"));
    if (node_id.empty() || time.empty() || !sig) return Status::Unauthenticated("not a node");
    auto t = PathU64(time, "X-Medchain-Time");
    if (!t.ok()) return t.status();
    uint64_t now = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                             std::chrono::system_clock::now().time_since_epoch())
                                             .count());
    if (*t + 300000 < now || *t > now + 300000) return Status::Unauthenticated("stale request");
    auto p = ledger::StateView(m_backend.Ledger().State()).GetParticipant(node_id);
    if (!p.ok() || !*p || (*p)->role != ledger::Role::kNode || (*p)->suspended) {
      return Status::Unauthenticated("not a registered node");
    }
    if (!crypto::VerifyBytes((*p)->sign_key, SyncRequestMessage(node_id, height, *t), *sig)) {
      return Status::Unauthenticated("bad node signature");
    }
    return Status::Ok();
  }

  void Sync(const Request& req, Response& res) {
    auto height = PathU64(req.matches[1], "height");
    if (!height.ok()) return SendStatus(res, height.status());
    auto b = m_backend.Ledger().GetBlock(*height);
    if (!b.ok()) return SendStatus(res, b.status());
    if (!*b)
      return SendError(res, 404, "not_found", "no block at height " + std::to_string(*height));
    ledger::Proposal p;
    p.block = std::move(**b);
    const auto& store = m_backend.Ledger();
    // Ciphertexts and wrapped keys go only to registered nodes, which store
    // them as their own; anyone else gets the block.
    Status node_auth = CheckNodeSignature(req, *height);
    for (uint32_t i = 0; node_auth.ok() && i < p.block.txs.size(); ++i) {
      const auto& tx = *p.block.txs[i];
      if (!ledger::TypeHasSidecar(tx.type())) continue;
      ledger::Sidecar sc;
      bool complete = true;
      if (tx.type() == ledger::TxType::kPutRecord) {
        auto put = ledger::DecodeBody<ledger::PutRecord>(tx.body(), "put");
        if (!put.ok()) continue;
        auto ct = store.GetCiphertext(put->record_id, put->version);
        if (!ct.ok() || !*ct) continue;  // erased (or invalid): nothing to send
        sc.ciphertext = std::move(**ct);
        for (const auto& r : put->recipients) {
          auto k = store.GetWrappedKey(put->record_id, put->version, r);
          if (!k.ok() || !*k) {
            complete = false;
            break;
          }
          sc.keys.push_back(ledger::WrappedKey{put->record_id, put->version, r, std::move(**k)});
        }
      } else if (tx.type() == ledger::TxType::kGrant) {
        auto g = ledger::DecodeBody<ledger::Grant>(tx.body(), "grant");
        if (!g.ok()) continue;
        for (const auto& ref : g->keys) {
          auto k = store.GetWrappedKey(ref.record_id, ref.version, g->grantee);
          if (!k.ok() || !*k) {
            complete = false;
            break;
          }
          sc.keys.push_back(
              ledger::WrappedKey{ref.record_id, ref.version, g->grantee, std::move(**k)});
        }
      } else {
        auto k = ledger::DecodeBody<ledger::ReleaseKey>(tx.body(), "release");
        if (!k.ok()) continue;
        auto key = store.GetWrappedKey(k->record_id, k->version, k->recipient);
        if (!key.ok() || !*key) continue;
        sc.keys.push_back(
            ledger::WrappedKey{k->record_id, k->version, k->recipient, std::move(**key)});
      }
      if (complete) p.sidecars.emplace_back(i, std::move(sc));
    }
    Bytes out = p.Encode();
    res.set_content(std::string(AsString(out)), "application/octet-stream");
  }

  // Every node's latest signed checkpoint: this node's own, and each peer's
  // as the peer serves it (GET /v1/checkpoint), asked in parallel. The notes
  // are passed on as signed; clients verify them (medchain audit-cluster).
  // ?local=1: this node's only.
  void Checkpoints(const Request& req, Response& res) {
    const NodeSummary me = m_backend.Summary();
    struct Entry {
      std::string node_id, url;
      std::future<std::pair<std::string, std::string>> note;  // note, error
    };
    std::vector<Entry> entries;
    const bool local = req.get_param_value("local") == "1";
    m_backend.Ledger().State().Scan("p/", [&](std::string_view, ByteView v) {
      auto p = ledger::Participant::Decode(v);
      if (!p.ok() || !p->node) return true;
      Entry e{p->id, p->node->api_url, {}};
      if (p->id == me.node_id) {
        e.url = me.api_url;
        auto note = m_backend.Ledger().LatestCheckpoint();
        std::promise<std::pair<std::string, std::string>> done;
        if (!note.ok() || !*note) {
          done.set_value({"", "no checkpoint yet"});
        } else {
          done.set_value({**note, ""});
        }
        e.note = done.get_future();
      } else if (local) {
        return true;
      } else {
        e.note = std::async(std::launch::async, [url = e.url] {
          httplib::Client c(url);
          c.set_connection_timeout(0, 500000);
          c.set_read_timeout(2, 0);
          auto r = c.Get("/v1/checkpoint");
          if (!r) return std::pair<std::string, std::string>{"", "unreachable"};
          if (r->status != 200) {
            return std::pair<std::string, std::string>{"", "HTTP " + std::to_string(r->status)};
          }
          return std::pair<std::string, std::string>{r->body, ""};
        });
      }
      entries.push_back(std::move(e));
      return true;
    });
    Json list = Json::array();
    for (auto& e : entries) {
      auto [note, error] = e.note.get();
      Json j = {{"node_id", e.node_id}, {"url", e.url}};
      if (!error.empty()) {
        j["error"] = error;
      } else {
        j["note"] = note;
        // Unverified convenience fields: what the note says.
        auto n = crypto::ParseNote(note);
        auto c =
            n.ok() ? crypto::ParseCheckpointBody(n->text) : Result<crypto::Checkpoint>(n.status());
        if (c.ok()) {
          j["size"] = c->size;
          j["root"] = ToHex(c->root);
          auto b = store::CheckpointBlock(*c);
          if (b.ok()) j["height"] = b->first;
        }
      }
      list.push_back(std::move(j));
    }
    SendJson(res, 200, Json{{"origin", me.origin}, {"checkpoints", list}});
  }

  void Inclusion(const Request& req, Response& res) {
    if (!req.has_param("tx"))
      return SendError(res, 400, "invalid_argument", "query parameter tx is required");
    auto id = PathHash(req.get_param_value("tx"), "tx");
    if (!id.ok()) return SendStatus(res, id.status());
    auto size = QueryU64(req, "size");
    if (!size.ok()) return SendStatus(res, size.status());
    const auto& store = m_backend.Ledger();
    auto tx = store.GetTx(*id);
    if (!tx.ok()) return SendStatus(res, tx.status());
    if (!*tx) return SendError(res, 404, "not_found", "no committed transaction " + ToHex(*id));
    auto tip = store.GetTip();
    uint64_t n = size->value_or(tip.log_size);
    uint64_t leaf = (*tx)->second.leaf_index;
    if (n > tip.log_size) {
      return SendError(res, 400, "invalid_argument",
                       "size " + std::to_string(n) + " is beyond the log (" +
                           std::to_string(tip.log_size) + ")");
    }
    if (leaf >= n) {
      return SendError(res, 400, "invalid_argument",
                       "the transaction is leaf " + std::to_string(leaf) +
                           ", not in a log of size " + std::to_string(n));
    }
    auto proof = store.InclusionProof(leaf, n);
    if (!proof.ok()) return SendStatus(res, proof.status());
    auto root = store.LogRootAt(n);
    if (!root.ok()) return SendStatus(res, root.status());
    SendJson(res, 200,
             Json{{"tx", ToHex(*id)},
                  {"leaf_index", leaf},
                  {"size", n},
                  {"leaf_hash", ToHex(merkle::HashLeaf((*tx)->first->bytes()))},
                  {"root", ToHex(*root)},
                  {"proof", HashesJson(*proof)}});
  }

  void Consistency(const Request& req, Response& res) {
    auto from = QueryU64(req, "from");
    auto to = QueryU64(req, "to");
    if (!from.ok()) return SendStatus(res, from.status());
    if (!to.ok()) return SendStatus(res, to.status());
    if (!*from) return SendError(res, 400, "invalid_argument", "query parameter from is required");
    const auto& store = m_backend.Ledger();
    uint64_t n2 = to->value_or(store.GetTip().log_size);
    uint64_t n1 = **from;
    if (n2 > store.GetTip().log_size || n1 == 0 || n1 > n2) {
      return SendError(res, 400, "invalid_argument", "need 0 < from <= to <= log size");
    }
    auto proof = store.ConsistencyProof(n1, n2);
    if (!proof.ok()) return SendStatus(res, proof.status());
    auto r1 = store.LogRootAt(n1);
    auto r2 = store.LogRootAt(n2);
    if (!r1.ok() || !r2.ok()) return SendStatus(res, r1.ok() ? r2.status() : r1.status());
    SendJson(res, 200,
             Json{{"from", n1},
                  {"to", n2},
                  {"root1", ToHex(*r1)},
                  {"root2", ToHex(*r2)},
                  {"proof", HashesJson(*proof)}});
  }

  void RecordRoutes();

  ServerOptions m_options;
  Backend& m_backend;
  httplib::Server m_http;
  std::thread m_thread;
  int m_port = 0;
  int m_listen_fd = -1;
  std::atomic<bool> m_stopped{false};
};

}  // namespace

Bytes SyncRequestMessage(std::string_view node_id, uint64_t height, uint64_t time_ms) {
  Encoder e;
  e.Fixed(AsBytes("medchain/sync/v1\n")).Str(node_id).U64(height).U64(time_ms);
  return e.Take();
}

Result<std::unique_ptr<Server>> Server::Start(const ServerOptions& options, Backend& backend) {
  auto s = std::make_unique<HttpServer>(options, backend);
  MC_RETURN_IF_ERROR(s->Start());
  return std::unique_ptr<Server>(std::move(s));
}

}  // namespace medchain::api

namespace medchain::api {
namespace {

void HttpServer::RecordRoutes() {
  auto& h = m_http;
  h.Get(R"(/v1/participants/([A-Za-z0-9._:@-]+))", [this](const Request& req, Response& res) {
    auto p = ledger::StateView(m_backend.Ledger().State()).GetParticipant(req.matches[1].str());
    if (!p.ok()) return SendStatus(res, p.status());
    if (!*p) return SendError(res, 404, "not_found", "no participant " + req.matches[1].str());
    SendJson(res, 200, ParticipantToJson(**p));
  });
  h.Get("/v1/participants", [this](const Request& req, Response& res) {
    if (!req.has_param("key"))
      return SendError(res, 400, "invalid_argument", "query parameter key is required");
    auto key = HashFromHex(req.get_param_value("key"));
    if (!key) return SendError(res, 400, "invalid_argument", "key must be 64 hex digits");
    auto p = ledger::StateView(m_backend.Ledger().State()).GetParticipantByKey(*key);
    if (!p.ok()) return SendStatus(res, p.status());
    if (!*p) return SendError(res, 404, "not_found", "no participant has that signing key");
    SendJson(res, 200, ParticipantToJson(**p));
  });
  h.Get(R"(/v1/patients/([A-Za-z0-9._:@-]+)/records)", [this](const Request& req, Response& res) {
    ledger::StateView view(m_backend.Ledger().State());
    std::string patient = req.matches[1];
    auto ids = view.PatientRecordIds(patient);
    if (!ids.ok()) return SendStatus(res, ids.status());
    std::string type = req.get_param_value("type");
    Json list = Json::array();
    for (const auto& id : *ids) {
      auto head = view.GetRecord(id);
      if (!head.ok()) return SendStatus(res, head.status());
      if (!*head || (!type.empty() && (*head)->type != type)) continue;
      list.push_back(RecordHeadToJson(**head));
    }
    SendJson(res, 200, Json{{"patient", patient}, {"records", list}});
  });
  h.Get(R"(/v1/records/([A-Za-z0-9._:@-]+))", [this](const Request& req, Response& res) {
    ledger::StateView view(m_backend.Ledger().State());
    auto head = view.GetRecord(req.matches[1].str());
    if (!head.ok()) return SendStatus(res, head.status());
    if (!*head) return SendError(res, 404, "not_found", "no record " + req.matches[1].str());
    Json j = RecordHeadToJson(**head);
    Json versions = Json::array();
    for (uint32_t v = 1; v <= (*head)->latest_version; ++v) {
      auto rv = view.GetRecordVersion((*head)->record_id, v);
      if (!rv.ok()) return SendStatus(res, rv.status());
      if (*rv) versions.push_back(RecordVersionToJson(**rv));
    }
    j["history"] = versions;
    SendJson(res, 200, j);
  });
  // A wrapped data key is useless to anyone but its recipient (it is sealed
  // to the recipient's key), so it is served without an access event: the
  // patient's client uses it to re-wrap keys for a new grantee.
  h.Get(R"(/v1/records/([A-Za-z0-9._:@-]+)/keys/([A-Za-z0-9._:@-]+))", [this](const Request& req,
                                                                              Response& res) {
    auto version = QueryU64(req, "version");
    if (!version.ok()) return SendStatus(res, version.status());
    if (!*version || **version == 0 || **version > 0xffffffffULL) {
      return SendError(res, 400, "invalid_argument", "query parameter version (>= 1) is required");
    }
    auto key = m_backend.Ledger().GetWrappedKey(
        req.matches[1].str(), static_cast<uint32_t>(**version), req.matches[2].str());
    if (!key.ok()) return SendStatus(res, key.status());
    if (!*key)
      return SendError(res, 404, "not_found",
                       "no wrapped key of that version for " + req.matches[2].str());
    SendJson(res, 200,
             Json{{"record_id", req.matches[1].str()},
                  {"version", **version},
                  {"recipient", req.matches[2].str()},
                  {"wrapped_key", ToBase64(**key)}});
  });
  h.Get(R"(/v1/patients/([A-Za-z0-9._:@-]+)/grants)", [this](const Request& req, Response& res) {
    ledger::StateView view(m_backend.Ledger().State());
    auto grants = view.PatientGrants(req.matches[1].str());
    if (!grants.ok()) return SendStatus(res, grants.status());
    uint64_t now = m_backend.Ledger().GetTip().timestamp_ms;
    Json list = Json::array();
    for (const auto& g : *grants) list.push_back(GrantToJson(g, now));
    SendJson(res, 200,
             Json{{"patient", req.matches[1].str()}, {"block_time_ms", now}, {"grants", list}});
  });
  h.Get(R"(/v1/patients/([A-Za-z0-9._:@-]+)/audit)", [this](const Request& req, Response& res) {
    const auto& store = m_backend.Ledger();
    ledger::StateView view(store.State());
    auto entries = view.PatientAudit(req.matches[1].str());
    if (!entries.ok()) return SendStatus(res, entries.status());
    // Break-glass accesses first, then everything in ledger order.
    std::stable_sort(entries->begin(), entries->end(), [](const auto& a, const auto& b) {
      bool ga = a.flags & ledger::kAuditBreakGlass, gb = b.flags & ledger::kAuditBreakGlass;
      return ga && !gb;
    });
    bool proofs = req.get_param_value("proofs") == "1" || req.get_param_value("proofs") == "true";
    auto tip = store.GetTip();
    Json list = Json::array();
    for (const auto& a : *entries) {
      Json j = AuditToJson(a);
      if (proofs) {
        auto p = store.InclusionProof(a.leaf_index, tip.log_size);
        if (!p.ok()) return SendStatus(res, p.status());
        auto tx = store.GetTx(a.tx_id);
        if (!tx.ok() || !*tx)
          return SendError(res, 500, "corruption", "audit entry without its transaction");
        j["proof"] = Json{{"size", tip.log_size},
                          {"root", ToHex(tip.log_root)},
                          {"leaf_hash", ToHex(merkle::HashLeaf((*tx)->first->bytes()))},
                          {"hashes", HashesJson(*p)}};
      }
      list.push_back(std::move(j));
    }
    SendJson(res, 200,
             Json{{"patient", req.matches[1].str()},
                  {"log_size", tip.log_size},
                  {"log_root", ToHex(tip.log_root)},
                  {"entries", list}});
  });
  h.Post("/v1/reads", [this](const Request& req, Response& res) {
    if (!IsSupportedSubmissionType(req)) {
      return SendError(res, 415, "invalid_argument",
                       "Content-Type must be application/json or application/octet-stream");
    }
    auto sub = ParseSubmission(req);
    if (!sub.ok()) return SendStatus(res, sub.status());
    if (sub->sidecar)
      return SendError(res, 400, "invalid_argument", "a read request carries no sidecar");
    auto out = m_backend.Read(sub->tx);
    if (!out.ok()) {
      const Status& s = out.status();
      if (s.code() == Code::kFailedPrecondition && s.message().rfind("erased:", 0) == 0) {
        return SendError(res, 410, "erased", s.message().substr(8));
      }
      return SendStatus(res, s);
    }
    if (req.get_header_value("Accept").find(kReadResponseType) != std::string::npos) {
      Bytes body = EncodeReadResponse(*out);
      res.set_content(std::string(AsString(body)), std::string(kReadResponseType));
      return;
    }
    Json recs = Json::array();
    for (const auto& r : out->records) {
      recs.push_back(
          Json{{"record_id", r.record_id},
               {"version", r.version},
               {"type", r.type},
               {"patient", r.patient},
               {"custodian", r.custodian},
               {"ciphertext", ToBase64(r.ciphertext)},
               {"wrapped_key", r.wrapped_key ? Json(ToBase64(*r.wrapped_key)) : Json(nullptr)}});
    }
    SendJson(res, 200, Json{{"access", SubmitOutcomeJson(out->access)}, {"records", recs}});
  });
}

}  // namespace
}  // namespace medchain::api
