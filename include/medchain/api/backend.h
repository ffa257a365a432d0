// Copyright (c) medchain developers.
// What the HTTP API needs from a node. The API translates HTTP and JSON; the
// node (src/node) decides. Implementations are thread-safe.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "medchain/ledger/apply.h"
#include "medchain/ledger/bodies.h"
#include "medchain/store/store.h"

namespace medchain::api {

struct SubmitOutcome {
  Hash id{};
  bool committed = false;  // false: accepted into the pool, not yet in a block
  uint64_t height = 0;
  uint32_t index = 0;
  uint64_t leaf_index = 0;
  ledger::TxResult result;
};

// A record's bytes as released to a reader after the access was committed.
struct ReleasedRecord {
  std::string record_id;
  uint32_t version = 0;
  std::string type;
  std::string patient;
  std::string custodian;
  Bytes ciphertext;
  std::optional<Bytes> wrapped_key;  // for the requester; none: ask for a key release
};

struct ReadOutcome {
  SubmitOutcome access;  // the committed access event
  std::vector<ReleasedRecord> records;
};

struct NodeSummary {
  std::string node_id;
  std::string consortium;
  std::string origin;  // checkpoint origin
  Hash genesis_hash{};
  std::string verifier_key;  // this node's signed-note verifier key
  std::string api_url;
};

class Backend {
 public:
  virtual ~Backend() = default;

  virtual const store::Store& Ledger() const = 0;
  virtual NodeSummary Summary() const = 0;

  // Checks a transaction (shape, size, sidecar, signature, nonce) and pools
  // it; with `wait`, returns once its block committed (or Timeout).
  virtual Result<SubmitOutcome> Submit(ledger::TransactionRef tx,
                                       std::optional<ledger::Sidecar> sidecar, bool wait) = 0;

  // A batch of submissions (POST /v1/transactions/batch): each one checked
  // and pooled as by Submit, in order, with one outcome (or error) each; with
  // `wait`, returns once every pooled one committed (or Timeout, per item).
  struct BatchItem {
    ledger::TransactionRef tx;
    std::optional<ledger::Sidecar> sidecar;
  };
  virtual std::vector<Result<SubmitOutcome>> SubmitBatch(std::vector<BatchItem> items,
                                                         bool wait) = 0;

  // Waits until the transaction is committed (or Timeout).
  virtual Result<SubmitOutcome> WaitCommitted(const Hash& id) = 0;

  // A signed read request: commits the access event (granted or refused) and
  // then releases the ciphertexts and the requester's wrapped keys. A request
  // that fails before ordering (bad signature, replay) is recorded by the node
  // as a refused access and answered with the error.
  virtual Result<ReadOutcome> Read(ledger::TransactionRef request) = 0;

  // Prometheus text exposition.
  virtual std::string Metrics() const = 0;
  // OK when the node can accept writes.
  virtual Status Health() const = 0;
  // JSON text of GET /v1/cluster: the leader and every node with its role,
  // term and applied index (asked of each node). `local_only`: this node's
  // own entry only (what peers ask each other).
  virtual std::string ClusterJson(bool local_only) const = 0;

  // POST /v1/admin/backup (node/backup.h, docs/operations.md), given the
  // request's X-Medchain-Signer, X-Medchain-Time and X-Medchain-Signature:
  // the JSON text of the backup made. Unauthenticated or PermissionDenied
  // when the signature is missing, wrong, or not an admin's or this node's.
  virtual Result<std::string> AdminBackup(std::string_view signer, std::string_view time_ms,
                                          std::string_view signature_hex) = 0;
};

}  // namespace medchain::api
