// Copyright (c) medchain developers.
#include "cli/client.h"

#include <sodium.h>
#include <termios.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <iostream>

#include <httplib.h>

#include "cli/command.h"
#include "medchain/api/read_response.h"
#include "medchain/api/server.h"
#include "medchain/crypto/http_signature.h"
#include "medchain/crypto/init.h"

#include <filesystem>
#include <mutex>

namespace medchain::cli {

namespace {

// The process's request signer (LoadKey's first key). Set once, read by
// every NodeClient.
struct RequestSigner {
  std::mutex mu;
  std::optional<crypto::SigningKey> key;  // GUARDED_BY(mu)
  std::string keyid;                      // GUARDED_BY(mu)
};
RequestSigner& Signer() {
  static RequestSigner s;
  return s;
}

std::string KeyIdOf(const crypto::KeyMaterial& k) {
  return !k.participant_id.empty() ? k.participant_id : ToHex(k.signing.public_key());
}

void SetSignerOnce(const crypto::KeyMaterial& k) {
  auto& s = Signer();
  std::lock_guard<std::mutex> lock(s.mu);
  if (s.key) return;
  auto copy = crypto::SigningKey::FromSeed(k.signing.seed());
  if (!copy.ok()) return;
  s.key.emplace(std::move(*copy));
  s.keyid = KeyIdOf(k);
}

// The signature headers for `method` `target` on `url` by `key`.
httplib::Headers SignedHeaders(const std::string& method, const std::string& url,
                               const std::string& target, const std::string& keyid,
                               const crypto::SigningKey& key) {
  auto view = crypto::RequestViewFor(method, url, target);
  if (!view.ok()) return {};
  auto h = crypto::SignApiRequest(*view, keyid, static_cast<int64_t>(NowMs() / 1000), key);
  if (!h.ok()) return {};
  return {{"Signature-Input", h->signature_input}, {"Signature", h->signature}};
}

// The same by the process's signer; empty when there is none.
httplib::Headers SignatureHeaders(const std::string& method, const std::string& url,
                                  const std::string& target) {
  auto& s = Signer();
  std::lock_guard<std::mutex> lock(s.mu);
  if (!s.key) return {};
  return SignedHeaders(method, url, target, s.keyid, *s.key);
}

}  // namespace

std::string RequestSignerId() {
  auto& s = Signer();
  std::lock_guard<std::mutex> lock(s.mu);
  return s.key ? s.keyid : std::string();
}

void UseReaderKey(const std::string& path, const std::string& participant) {
  std::string chosen = path;
  if (chosen.empty()) {
    if (const char* env = std::getenv("MEDCHAIN_KEY")) chosen = env;
  }
  if (chosen.empty() && !participant.empty()) {
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(".", ec)) {
      if (e.path().extension() != ".key") continue;
      auto id = crypto::ReadPublicIdentity(e.path().string());
      if (id.ok() && id->participant_id == participant) {
        chosen = e.path().string();
        break;
      }
    }
  }
  if (chosen.empty()) return;
  auto k = LoadKey(chosen);
  if (!k.ok()) {
    std::cerr << "warning: requests go unsigned: " << k.status().message() << "\n";
  }
}

NodeClient::NodeClient(std::string url, int timeout_s) : m_url(std::move(url)) {
  while (!m_url.empty() && m_url.back() == '/') m_url.pop_back();
  m_http = std::make_unique<httplib::Client>(m_url);
  m_http->set_keep_alive(true);
  // Headers and body go out in two writes: without this, Nagle and delayed
  // ACKs add ~40 ms to every POST.
  m_http->set_tcp_nodelay(true);
  m_http->set_connection_timeout(5, 0);
  m_http->set_read_timeout(timeout_s, 0);
  m_http->set_write_timeout(timeout_s, 0);
}

NodeClient::~NodeClient() = default;

void NodeClient::SignAs(const crypto::KeyMaterial& key) {
  auto copy = crypto::SigningKey::FromSeed(key.signing.seed());
  if (!copy.ok()) return;
  m_sign_key.emplace(std::move(*copy));
  m_keyid = KeyIdOf(key);
}

Status StatusFromApi(std::string_view code, std::string message) {
  if (code == "invalid_argument") return Status::InvalidArgument(std::move(message));
  if (code == "not_found") return Status::NotFound(std::move(message));
  if (code == "already_exists") return Status::AlreadyExists(std::move(message));
  if (code == "permission_denied") return Status::PermissionDenied(std::move(message));
  if (code == "unauthenticated") return Status::Unauthenticated(std::move(message));
  if (code == "resource_exhausted") return Status::ResourceExhausted(std::move(message));
  if (code == "failed_precondition" || code == "erased")
    return Status::FailedPrecondition(std::move(message));
  if (code == "unavailable") return Status::Unavailable(std::move(message));
  if (code == "timeout") return Status::Timeout(std::move(message));
  if (code == "corruption") return Status::Corruption(std::move(message));
  return Status::Internal(std::string(code) + ": " + message);
}

Result<Json> NodeClient::Decode(int status, const std::string& body) {
  m_last_status = status;
  Json j = Json::parse(body, nullptr, false);
  if (status >= 300) {
    if (j.is_object() && j.contains("error")) {
      return StatusFromApi(j.value("error", ""), j.value("message", ""));
    }
    return Status::Unavailable("HTTP " + std::to_string(status) + " from " + m_url);
  }
  if (j.is_discarded()) return Status::Internal("the node answered something that is not JSON");
  return j;
}

Result<Json> NodeClient::GetJson(const std::string& path) {
  auto res =
      m_http->Get(path.c_str(), m_sign_key ? SignedHeaders("GET", m_url, path, m_keyid, *m_sign_key)
                                           : SignatureHeaders("GET", m_url, path));
  if (!res) {
    m_last_status = 0;
    return Status::Unavailable("cannot reach the node at " + m_url + " (" +
                               httplib::to_string(res.error()) + ")");
  }
  return Decode(res->status, res->body);
}

Result<std::string> NodeClient::GetText(const std::string& path) {
  auto res =
      m_http->Get(path.c_str(), m_sign_key ? SignedHeaders("GET", m_url, path, m_keyid, *m_sign_key)
                                           : SignatureHeaders("GET", m_url, path));
  if (!res) {
    m_last_status = 0;
    return Status::Unavailable("cannot reach the node at " + m_url);
  }
  if (res->status >= 300) {
    auto j = Decode(res->status, res->body);
    return j.status();
  }
  m_last_status = res->status;
  return res->body;
}

Result<std::string> NodeClient::GetBinary(const std::string& path) {
  return GetText(path);
}

Result<Json> NodeClient::PostBinary(const std::string& path, std::string body,
                                    const char* content_type) {
  auto res = m_http->Post(path.c_str(), body, content_type);
  if (!res) {
    m_last_status = 0;
    return Status::Unavailable("cannot reach the node at " + m_url + " (" +
                               httplib::to_string(res.error()) + ")");
  }
  return Decode(res->status, res->body);
}

static std::string SubmissionBytes(const ledger::Transaction& tx, const ledger::Sidecar* sidecar) {
  Encoder e;
  e.U8(1).Var(tx.bytes()).Bool(sidecar != nullptr);
  if (sidecar) e.Var(sidecar->Encode());
  return std::string(AsString(e.buffer()));
}

Result<Json> NodeClient::Submit(const ledger::Transaction& tx, const ledger::Sidecar* sidecar,
                                bool wait) {
  return PostBinary(wait ? "/v1/transactions?wait=commit" : "/v1/transactions",
                    SubmissionBytes(tx, sidecar), "application/vnd.medchain.submission");
}

Result<Json> NodeClient::SubmitBatch(
    const std::vector<std::pair<const ledger::Transaction*, const ledger::Sidecar*>>& items,
    bool wait) {
  Encoder e;
  e.U8(1).U32(static_cast<uint32_t>(items.size()));
  for (const auto& [tx, sidecar] : items) e.Var(AsBytes(SubmissionBytes(*tx, sidecar)));
  return PostBinary(wait ? "/v1/transactions/batch?wait=commit" : "/v1/transactions/batch",
                    std::string(AsString(e.buffer())), "application/vnd.medchain.batch");
}

Result<Json> NodeClient::Read(const ledger::Transaction& request) {
  return PostBinary("/v1/reads", std::string(AsString(request.bytes())),
                    "application/octet-stream");
}

Result<api::ReadOutcome> NodeClient::ReadRecords(const ledger::Transaction& request) {
  httplib::Headers headers = {{"Accept", std::string(api::kReadResponseType)}};
  auto res = m_http->Post("/v1/reads", headers, std::string(AsString(request.bytes())),
                          "application/octet-stream");
  if (!res) {
    m_last_status = 0;
    return Status::Unavailable("cannot reach the node at " + m_url);
  }
  if (res->status >= 300) return Decode(res->status, res->body).status();
  m_last_status = res->status;
  return api::DecodeReadResponse(AsBytes(res->body));
}

Status CheckBatchSize(unsigned batch) {
  if (batch == 0 || batch > api::kMaxBatchSubmissions) {
    return Status::InvalidArgument("--batch must be between 1 and " +
                                   std::to_string(api::kMaxBatchSubmissions));
  }
  return Status::Ok();
}

Result<crypto::KeyMaterial> LoadKey(const std::string& path) {
  crypto::Init();
  std::string pass;
  if (!ReadPassphrase("Passphrase for " + path + ": ", false, pass)) {
    return Status::InvalidArgument("no passphrase for " + path +
                                   " (set MEDCHAIN_PASSPHRASE or run on a terminal)");
  }
  auto k = crypto::ReadKeyFile(path, pass);
  SecureZero(pass);
  if (k.ok()) SetSignerOnce(*k);
  return k;
}

ledger::TransactionRef MakeTx(const crypto::KeyMaterial& key, ledger::TxType type, Bytes body) {
  ledger::UnsignedTx u;
  u.type = type;
  u.author = key.signing.public_key();
  randombytes_buf(&u.nonce, sizeof u.nonce);
  u.timestamp_ms = NowMs();
  u.body = std::move(body);
  return ledger::SignTx(u, key.signing);
}

uint64_t NowMs() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

std::string DefaultNodeUrl() {
  if (const char* env = std::getenv("MEDCHAIN_NODE")) return env;
  return "http://127.0.0.1:7070";
}

bool ReadPassphrase(const std::string& prompt, bool confirm, std::string& out) {
  if (const char* env = std::getenv("MEDCHAIN_PASSPHRASE")) {
    out = env;
    return !out.empty();
  }
  if (!isatty(STDIN_FILENO)) return false;
  auto read_one = [](const std::string& text, std::string& into) {
    std::cerr << text << std::flush;
    termios old_term{};
    tcgetattr(STDIN_FILENO, &old_term);
    termios quiet = old_term;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    tcsetattr(STDIN_FILENO, TCSANOW, &quiet);
    std::getline(std::cin, into);
    tcsetattr(STDIN_FILENO, TCSANOW, &old_term);
    std::cerr << "\n";
  };
  read_one(prompt, out);
  if (out.empty()) return false;
  if (confirm) {
    std::string again;
    read_one("Repeat passphrase: ", again);
    bool same = ConstantTimeEqual(AsBytes(out), AsBytes(again));
    SecureZero(again);
    if (!same) {
      std::cerr << "error: the passphrases differ\n";
      SecureZero(out);
      out.clear();
      return false;
    }
  }
  return true;
}

}  // namespace medchain::cli
