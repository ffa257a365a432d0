// Copyright (c) medchain developers.
// medchaind's node: wires the store, the chain, the pool, the block cutter,
// consensus and the HTTP API together.
//
// Threads:
//   HTTP workers  Submit/Read: decode, check, verify the signature (once per
//                 node, in parallel across cores), pool, wait.
//   cutter        while this node leads: takes batches from the pool, builds
//                 and signs blocks, orders them (alone, or through Raft).
//   applier       applies ordered blocks (single node: the cutter thread;
//                 Raft: the adapter's applier thread), one at a time.
#pragma once

#include <memory>
#include <string>

#include "medchain/api/backend.h"
#include "medchain/node/config.h"

namespace medchain::node {

class Node : public api::Backend {
 public:
  // Opens the data folder (creating the ledger from the genesis on first
  // start), starts consensus, the cutter and the API, and writes
  // DATA_DIR/medchaind.pid. Errors say what to fix.
  static Result<std::unique_ptr<Node>> Start(const NodeConfig& config);

  // Stops the API, the cutter and consensus cleanly; removes the pid file.
  virtual void Stop() = 0;
  // The API's bound port (useful with listen port 0).
  virtual int port() const = 0;
  virtual std::string url() const = 0;
  // Set when this node found an invalid block: it stopped applying.
  virtual std::optional<std::string> Halted() const = 0;
};

}  // namespace medchain::node
