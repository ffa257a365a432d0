// Copyright (c) medchain developers.
// Helpers shared by unit tests: temporary folders, keys, a small consortium.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <random>
#include <string>

#include "medchain/crypto/box.h"
#include "medchain/crypto/ed25519.h"
#include "medchain/ledger/bodies.h"
#include "medchain/ledger/transaction.h"

namespace medchain::testing {

// A fresh folder under $TMPDIR, removed when the object goes.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "medchain-test-XXXXXX").string();
    char* p = mkdtemp(tmpl.data());
    if (p == nullptr) throw std::runtime_error("mkdtemp failed");
    m_path = p;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(m_path, ec);
  }
  const std::string& path() const { return m_path; }
  std::string Sub(const std::string& name) const { return m_path + "/" + name; }

 private:
  std::string m_path;
};

// A participant's keys.
struct Identity {
  std::string id;
  ledger::Role role;
  crypto::SigningKey sign = crypto::SigningKey::Generate();
  crypto::BoxKey box = crypto::BoxKey::Generate();
  uint64_t next_nonce = 1;

  ledger::RegisterParticipant Registration(std::string org = "") const {
    ledger::RegisterParticipant r;
    r.id = id;
    r.role = role;
    r.organisation = std::move(org);
    r.sign_key = sign.public_key();
    r.box_key = box.public_key();
    return r;
  }

  template <class Body>
  ledger::TransactionRef Tx(ledger::TxType type, const Body& body, uint64_t time_ms = 0) {
    ledger::UnsignedTx u;
    u.type = type;
    u.author = sign.public_key();
    u.nonce = next_nonce++;
    u.timestamp_ms = time_ms;
    u.body = ledger::EncodeBody(body);
    return ledger::SignTx(u, sign);
  }
};

}  // namespace medchain::testing
