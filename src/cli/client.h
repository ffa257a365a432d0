// Copyright (c) medchain developers.
// What CLI commands share: an HTTP client for a node's API, key loading and
// transaction signing.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "medchain/api/backend.h"
#include "medchain/core/status.h"
#include "medchain/crypto/keyfile.h"
#include "medchain/ledger/bodies.h"
#include "medchain/ledger/transaction.h"

namespace httplib {
class Client;
}

namespace medchain::cli {

using Json = nlohmann::json;

// A node's API. Errors carry the node's code and message ("not_found: ...").
// Not thread-safe: one NodeClient per thread.
class NodeClient {
 public:
  explicit NodeClient(std::string url, int timeout_s = 60);
  ~NodeClient();
  const std::string& url() const { return m_url; }

  Result<Json> GetJson(const std::string& path);
  Result<std::string> GetText(const std::string& path);
  Result<std::string> GetBinary(const std::string& path);
  // POST /v1/transactions as application/vnd.medchain.submission.
  Result<Json> Submit(const ledger::Transaction& tx, const ledger::Sidecar* sidecar, bool wait);
  // POST /v1/transactions/batch: {"results": [one outcome or error each]}.
  Result<Json> SubmitBatch(
      const std::vector<std::pair<const ledger::Transaction*, const ledger::Sidecar*>>& items,
      bool wait);
  // POST /v1/reads: the JSON answer.
  Result<Json> Read(const ledger::Transaction& request);
  // POST /v1/reads asking for the binary answer (api/read_response.h).
  Result<api::ReadOutcome> ReadRecords(const ledger::Transaction& request);

  // Signs this client's GETs with `key` instead of the process's signer
  // (LoadKey's first key).
  void SignAs(const crypto::KeyMaterial& key);

  // HTTP status of the last response (0: no response).
  int last_status() const { return m_last_status; }

 private:
  Result<Json> PostBinary(const std::string& path, std::string body, const char* content_type);
  Result<Json> Decode(int status, const std::string& body);
  std::string m_url;
  std::unique_ptr<httplib::Client> m_http;
  int m_last_status = 0;
  std::optional<crypto::SigningKey> m_sign_key;  // SignAs()
  std::string m_keyid;
};

// Maps an API error code ("not_found") and message back to a Status.
Status StatusFromApi(std::string_view code, std::string message);

// InvalidArgument unless 1 <= batch <= api::kMaxBatchSubmissions (the
// --batch flags of the commands that submit in batches).
Status CheckBatchSize(unsigned batch);

// Loads a key file, asking for its passphrase ($MEDCHAIN_PASSPHRASE or a prompt).
// The first key a command loads also signs its API requests (RFC 9421
// HTTP Message Signatures, docs/api.md "Signed requests"): every NodeClient
// of the process adds Signature-Input and Signature to each GET.
Result<crypto::KeyMaterial> LoadKey(const std::string& path);

// For commands that only read (audit, grant list, record list, tx, block):
// finds the key to sign with: `path` if given, else $MEDCHAIN_KEY, else a
// key file in the current folder whose participant id is `participant`
// (read without its passphrase). Loads it (LoadKey) when found; prints a
// warning and carries on unsigned when it cannot be loaded.
void UseReaderKey(const std::string& path, const std::string& participant);

// The request signer's keyid, "" when requests go unsigned.
std::string RequestSignerId();

// A signed transaction of `type` with a fresh random nonce.
ledger::TransactionRef MakeTx(const crypto::KeyMaterial& key, ledger::TxType type, Bytes body);

// Milliseconds since the Unix epoch.
uint64_t NowMs();

// Default node URL: $MEDCHAIN_NODE or http://127.0.0.1:7070.
std::string DefaultNodeUrl();

}  // namespace medchain::cli
