// Copyright (c) medchain developers.
// The ledger's signed checkpoints: after each block a node signs the log's
// size and root (C2SP tlog-checkpoint, Ed25519 signed note), with the block's
// height and hash as extension lines:
//
//   medchain/<consortium slug>/<first 16 hex digits of the genesis hash>
//   <log size>
//   <base64 log root>
//   height <block height>
//   block <block hash, lowercase hex>
//
//   — <node id> <base64(key hash || signature)>
//
// Any tool of the transparency ecosystem can check it with the node's
// verifier key "<node id>+<key hash hex>+<base64(0x01 || public key)>".
#pragma once

#include <string>
#include <vector>

#include "medchain/crypto/signed_note.h"
#include "medchain/ledger/bodies.h"
#include "medchain/store/store.h"

namespace medchain::store {

std::string CheckpointOrigin(const ledger::Genesis& genesis, const Hash& genesis_hash);

crypto::Checkpoint MakeCheckpoint(const std::string& origin, const Tip& tip);

// Checks that `note` is a checkpoint of exactly `tip` under `origin`, signed
// by at least one of `nodes` (participant id = key name, signing key).
Status CheckCheckpoint(std::string_view note, const std::string& origin, const Tip& tip,
                       const std::vector<std::pair<std::string, ledger::PublicKey>>& nodes);

// Parses the height and block hash extension lines of a checkpoint.
Result<std::pair<uint64_t, Hash>> CheckpointBlock(const crypto::Checkpoint& checkpoint);

}  // namespace medchain::store
