// Copyright (c) medchain developers.
// The HTTP/JSON API v1 (docs/api.md). Translation only: every decision is the
// Backend's. Errors are JSON {"error": code, "message": text} with the HTTP
// status that fits the code.
#pragma once

#include <memory>
#include <string>

#include "medchain/api/backend.h"

namespace medchain::api {

// The most submissions one POST /v1/transactions/batch may carry (the body
// is bounded by max_body_bytes as well).
inline constexpr uint32_t kMaxBatchSubmissions = 4096;

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 7070;                  // 0: any free port (see Server::port())
  size_t max_body_bytes = 2 << 20;  // larger bodies get 413
  unsigned threads = 256;           // requests in progress at once (waits hold one)
  // FHIR R4 facade at /fhir/r4 (docs/fhir.md): acts for the organisation whose
  // key file is given; the EHR authenticates with the bearer token. Disabled
  // when fhir_key_file is empty.
  std::string fhir_token;
  std::string fhir_key_file;
  std::string fhir_key_passphrase;
  std::string fhir_definitions;  // folder with fhir.schema.json and friends
  // Where the facade escrows the key files of patients it registers (POST
  // /Patient), encrypted with fhir_key_passphrase. Empty: "patient-keys"
  // beside fhir_key_file.
  std::string fhir_patient_key_dir;
};

// What a node signs to fetch blocks with their sidecars (ciphertexts and
// wrapped keys) from a peer: GET /v1/sync/{height} with the headers
// X-Medchain-Node (node id), X-Medchain-Time (ms since the epoch) and
// X-Medchain-Signature (hex Ed25519 signature of this message by that node's
// registered key). Without them a peer serves the block alone.
Bytes SyncRequestMessage(std::string_view node_id, uint64_t height, uint64_t time_ms);

class Server {
 public:
  // Binds and starts serving on background threads.
  // REQUIRES: `backend` outlives the server.
  static Result<std::unique_ptr<Server>> Start(const ServerOptions& options, Backend& backend);
  virtual ~Server() = default;
  virtual int port() const = 0;
  // Stops accepting, finishes requests in progress, joins threads. Idempotent.
  virtual void Stop() = 0;
};

}  // namespace medchain::api
