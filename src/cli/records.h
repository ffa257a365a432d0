// Copyright (c) medchain developers.
// Client-side record encryption (DESIGN.md "Records, keys and consent"):
//
//   data key  32 random bytes, fresh for every record version
//   salt      32 random bytes, inside the ciphertext
//   ciphertext = nonce(24) || XChaCha20-Poly1305(data key, aad, salt || content)
//   aad        = u8 1 | str record_id | u32 version | str patient
//   commitment = SHA-256("medchain/commit/v1\n" || salt || content)
//   wrapped key = crypto_box_seal(data key, recipient's X25519 public key)
//
// The node never sees a data key or a plaintext.
#pragma once

#include <map>
#include <string>

#include "cli/client.h"
#include "medchain/crypto/box.h"
#include "medchain/ledger/bodies.h"

namespace medchain::cli {

struct SealedRecord {
  ledger::PutRecord body;
  ledger::Sidecar sidecar;
};

// Encrypts `content` as version `version` of a record and wraps the data key
// for every recipient (participant id -> X25519 public key).
Result<SealedRecord> SealRecord(const std::string& record_id, const std::string& patient,
                                const std::string& type, uint32_t version,
                                const Hash& supersedes_tx, ByteView content,
                                const std::map<std::string, crypto::BoxPublicKey>& recipients);

// Opens a wrapped data key with any of the caller's encryption keys.
Result<Bytes> OpenDataKey(const crypto::KeyMaterial& key, ByteView wrapped);

// Decrypts a ciphertext with its data key and checks it belongs to this
// record version; returns the content (without the salt). With
// `expect_commitment`, also checks the ledger's commitment.
Result<Bytes> OpenRecord(ByteView data_key, ByteView ciphertext, const std::string& record_id,
                         uint32_t version, const std::string& patient,
                         const Hash* expect_commitment);

// The X25519 public key of a registered participant, from the node.
Result<crypto::BoxPublicKey> FetchBoxKey(NodeClient& node, const std::string& participant);

// The participant id a key file belongs to (its label, else asked from the node).
Result<std::string> ParticipantIdOf(NodeClient& node, const crypto::KeyMaterial& key);

// Recipients a new version of a record needs: the patient, the writer, the
// custodian, the patient's delegates and every active grantee in scope.
Result<std::map<std::string, crypto::BoxPublicKey>> RequiredRecipients(
    NodeClient& node, const std::string& patient, const std::string& record_id,
    const std::string& type, const std::string& writer, const std::string& custodian);

// Writes a new record (or the next version of `record_id` when it exists).
// `node` signs its requests with `key` from then on (NodeClient::SignAs).
// Returns the submit outcome JSON. Retries once if a grant appeared meanwhile.
Result<Json> PutRecord(NodeClient& node, const crypto::KeyMaterial& key, const std::string& writer,
                       const std::string& patient, const std::string& type,
                       const std::string& record_id, ByteView content);

// Submits grant `g` (its scope, purpose and expiry set) after re-wrapping
// (`node` signs with `key` from then on),
// for the grantee, the data key of every current version in scope; `me` is the
// patient or a delegate, whose wrapped keys `key` opens.
Result<Json> SubmitGrant(NodeClient& node, const crypto::KeyMaterial& key, const std::string& me,
                         ledger::Grant g);

// A fresh random record id ("rec-" + 32 hex digits).
std::string NewRecordId();

}  // namespace medchain::cli
