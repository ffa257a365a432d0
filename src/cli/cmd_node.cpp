// Copyright (c) medchain developers.
// Commands against a running node's HTTP API v1 (docs/api.md).
//
//   medchain submit --node URL --key KEYFILE --type TYPE --body JSON|@FILE
//                   [--sidecar-file F] [--nonce N] [--no-wait] [--out FILE]
//   medchain submit --node URL --file TX.bin [--sidecar-file F] [--no-wait]
//   medchain tx     --node URL ID
//   medchain block  --node URL HEIGHT [--full]
//   medchain proof inclusion   --node URL --tx ID [--vkey KEY | --genesis FILE]
//   medchain proof consistency --node URL (--from M | --old-checkpoint FILE) [--to N]
//                              [--root1 HEX] [--vkey KEY | --genesis FILE]
//   medchain watch  --node URL [--from H] [--interval-ms MS]
//
// --node defaults to $MEDCHAIN_NODE, else http://127.0.0.1:7070.
//
// Exit codes (src/cli/command.h): 0 done / the proof holds; 1 the node refused,
// the thing asked for does not exist, or a check failed ("fail: reason" on
// stdout for proofs); 2 malformed arguments, unreadable input files, or a node
// that cannot be reached.
//
// The proof commands trust nothing the node says but its signed checkpoint:
// the checkpoint's signature is checked with a verifier key the user supplies
// (--vkey), or the keys of the nodes in a genesis file the user holds
// (--genesis); the transaction's bytes are re-encoded here from what the node
// served and hashed here into the leaf; and the proof is verified here with
// medchain::merkle against the checkpoint's root.
#include <signal.h>

#include <atomic>
#include <chrono>
#include <ctime>
#include <fstream>
#include <functional>
#include <iostream>
#include <iterator>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <httplib.h>

#include "cli/client.h"
#include "cli/command.h"
#include "medchain/api/json.h"
#include "medchain/core/merkle.h"
#include "medchain/crypto/signed_note.h"
#include "medchain/ledger/apply.h"
#include "medchain/store/checkpoint.h"

namespace medchain::cli {
namespace {

// ---- Shared helpers ----

bool ReadFile(const std::string& path, std::string& out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  out.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  return !in.bad();
}

bool ParseU64(const std::string& text, uint64_t& out) {
  if (text.empty() || text.size() > 20) return false;
  uint64_t v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    uint64_t d = static_cast<uint64_t>(c - '0');
    if (v > (UINT64_MAX - d) / 10) return false;
    v = v * 10 + d;
  }
  out = v;
  return true;
}

// A failed call to the node: unreachable is exit 2, a refusal exit 1.
int NodeError(const NodeClient& client, const Status& s) {
  if (client.last_status() == 0) return Fail(s.message(), kExitUsage);
  return Fail(s.ToString() + " (HTTP " + std::to_string(client.last_status()) + ")", kExitFail);
}

std::string FormatTimeMs(uint64_t ms) {
  time_t secs = static_cast<time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  char out[48];
  std::snprintf(out, sizeof out, "%s.%03uZ", buf, static_cast<unsigned>(ms % 1000));
  return out;
}

// Runs a command; a node answer of an unexpected JSON shape (nlohmann-json
// throws on a type mismatch) is a failure of that command, not a crash.
int Guarded(const std::function<int()>& run) {
  try {
    return run();
  } catch (const Json::exception& e) {
    return Fail(std::string("the node answered JSON of an unexpected shape: ") + e.what(),
                kExitFail);
  }
}

void AddNodeOption(CLI::App* cmd, std::string& node) {
  node = DefaultNodeUrl();
  cmd->add_option("--node", node, "node API URL (default $MEDCHAIN_NODE or http://127.0.0.1:7070)");
}

// ---- submit ----

struct SubmitArgs {
  std::string node;
  std::string key;
  std::string type;
  std::string body;
  std::string sidecar_file;
  std::string file;
  std::string out;
  std::string nonce;
  bool no_wait = false;
};

// POSTs a body to /v1/transactions exactly as given and reports the answer.
int PostSubmission(const std::string& url, const std::string& body, const char* content_type,
                   bool wait) {
  std::string base = url;
  while (!base.empty() && base.back() == '/') base.pop_back();
  httplib::Client http(base);
  http.set_connection_timeout(5, 0);
  http.set_read_timeout(120, 0);
  http.set_write_timeout(60, 0);
  auto res =
      http.Post(wait ? "/v1/transactions?wait=commit" : "/v1/transactions", body, content_type);
  if (!res) {
    return Fail("cannot reach the node at " + base + " (" + httplib::to_string(res.error()) + ")",
                kExitUsage);
  }
  Json j = Json::parse(res->body, nullptr, false);
  if (res->status >= 300) {
    if (j.is_object() && j.contains("error")) {
      return Fail(j.value("error", "") + ": " + j.value("message", "") + " (HTTP " +
                      std::to_string(res->status) + ")",
                  kExitFail);
    }
    return Fail("HTTP " + std::to_string(res->status) + " from " + base, kExitFail);
  }
  if (j.is_discarded() || !j.is_object()) {
    return Fail("the node answered something that is not a JSON object", kExitFail);
  }
  std::cout << j.dump(2) << std::endl;
  if (j.value("status", "") == "committed" && j.contains("result") && j["result"].is_object()) {
    std::string code = j["result"].value("code", "");
    if (code != "ok") {
      return Fail("committed, but marked " + code + ": " + j["result"].value("reason", ""),
                  kExitFail);
    }
  }
  return kExitOk;
}

std::string SubmissionEnvelope(ByteView tx, const std::optional<Bytes>& sidecar) {
  Encoder e;
  e.U8(1).Var(tx).Bool(sidecar.has_value());
  if (sidecar) e.Var(*sidecar);
  return std::string(AsString(e.buffer()));
}

int RunSubmit(const SubmitArgs& a) {
  const bool raw = !a.file.empty();
  if (raw && (!a.key.empty() || !a.type.empty() || !a.body.empty() || !a.nonce.empty() ||
              !a.out.empty())) {
    return Fail(
        "--file submits existing bytes: it takes no --key, --type, --body, --nonce or --out",
        kExitUsage);
  }
  if (!raw && (a.key.empty() || a.type.empty() || a.body.empty())) {
    return Fail("give --key, --type and --body (or --file with transaction bytes)", kExitUsage);
  }
  std::optional<Bytes> sidecar;
  if (!a.sidecar_file.empty()) {
    std::string text;
    if (!ReadFile(a.sidecar_file, text)) return Fail("cannot read " + a.sidecar_file, kExitUsage);
    auto sc = ledger::Sidecar::Decode(AsBytes(text));
    if (!sc.ok()) return Fail(a.sidecar_file + ": " + sc.status().message(), kExitUsage);
    sidecar = ToBytes(text);
  }
  if (raw) {
    std::string bytes;
    if (!ReadFile(a.file, bytes)) return Fail("cannot read " + a.file, kExitUsage);
    // Sent unchanged (the node judges them): application/octet-stream is
    // the bare transaction; with a sidecar, the submission envelope.
    if (!sidecar) return PostSubmission(a.node, bytes, "application/octet-stream", !a.no_wait);
    return PostSubmission(a.node, SubmissionEnvelope(AsBytes(bytes), sidecar),
                          "application/vnd.medchain.submission", !a.no_wait);
  }

  auto type = ledger::TxTypeFromName(a.type);
  if (!type || *type == ledger::TxType::kGenesis) {
    return Fail("--type: unknown transaction type \"" + a.type +
                    "\" (register_participant, update_participant, put_record, erase_record, "
                    "grant, revoke_grant, read_record, access_refused, release_key, attest, "
                    "membership)",
                kExitUsage);
  }
  std::string body_text = a.body;
  if (!body_text.empty() && body_text[0] == '@') {
    if (!ReadFile(body_text.substr(1), body_text)) {
      return Fail("cannot read " + a.body.substr(1), kExitUsage);
    }
  }
  auto body_json = api::ParseJson(body_text, "--body");
  if (!body_json.ok()) return Fail(body_json.status().message(), kExitUsage);
  auto body = api::BodyFromJson(*type, *body_json);
  if (!body.ok()) return Fail("--body: " + body.status().message(), kExitUsage);
  ledger::UnsignedTx u;
  u.type = *type;
  u.timestamp_ms = NowMs();
  u.body = std::move(*body);
  if (!a.nonce.empty() && !ParseU64(a.nonce, u.nonce)) {
    return Fail("--nonce: not a decimal number below 2^64", kExitUsage);
  }
  auto key = LoadKey(a.key);
  if (!key.ok()) {
    Code c = key.status().code();
    bool usage = c == Code::kNotFound || c == Code::kInvalidArgument || c == Code::kIOError;
    return Fail(a.key + ": " + key.status().ToString(), usage ? kExitUsage : kExitFail);
  }
  ledger::TransactionRef tx;
  if (a.nonce.empty()) {
    tx = MakeTx(*key, *type, std::move(u.body));
  } else {
    u.author = key->signing.public_key();
    tx = ledger::SignTx(u, key->signing);
  }
  if (!a.out.empty()) {
    // The canonical bytes, unsubmitted (to keep, inspect, or alter in tests).
    std::ofstream out(a.out, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(tx->bytes().data()),
              static_cast<std::streamsize>(tx->bytes().size()));
    out.close();
    if (!out) return Fail("cannot write " + a.out, kExitUsage);
    std::cout << api::TxToJson(*tx).dump(2) << std::endl;
    return kExitOk;
  }
  return PostSubmission(a.node, SubmissionEnvelope(tx->bytes(), sidecar),
                        "application/vnd.medchain.submission", !a.no_wait);
}

// ---- tx, block ----

int RunTx(const std::string& node, const std::string& id, const std::string& key) {
  UseReaderKey(key, "");
  auto h = HashFromHex(id);
  if (!h) return Fail("ID must be 64 hex digits", kExitUsage);
  NodeClient client(node);
  auto j = client.GetJson("/v1/transactions/" + ToHex(*h));
  if (!j.ok()) return NodeError(client, j.status());
  std::cout << j->dump(2) << std::endl;
  return kExitOk;
}

int RunBlock(const std::string& node, const std::string& height, bool full,
             const std::string& key) {
  if (full) UseReaderKey(key, "");
  uint64_t h = 0;
  if (!ParseU64(height, h)) return Fail("HEIGHT must be a decimal number", kExitUsage);
  NodeClient client(node);
  auto j = client.GetJson("/v1/blocks/" + std::to_string(h) + (full ? "?txs=full" : ""));
  if (!j.ok()) return NodeError(client, j.status());
  std::cout << j->dump(2) << std::endl;
  return kExitOk;
}

// ---- proof ----

struct ProofArgs {
  std::string node;
  std::string vkey;
  std::string genesis;
  // inclusion
  std::string tx;
  // consistency
  std::string from;
  std::string to;
  std::string root1;
  std::string old_checkpoint;
};

// The keys a checkpoint must be signed with, and where they came from.
struct Trust {
  std::vector<crypto::NoteVerifierKey> keys;
  std::string origin;  // expected checkpoint origin; empty: not known independently
  std::string source;
};

// What a proof command ends with: "ok ..." / "fail: ..." / an error.
struct Verdict {
  int code = kExitOk;
  std::string text;  // "fail: ..." on stdout (code 1), or an error on stderr (code 2)
};

Verdict Usage(std::string msg) {
  return {kExitUsage, std::move(msg)};
}
Verdict Refuse(std::string msg) {
  return {kExitFail, std::move(msg)};
}

int Report(const Verdict& v) {
  if (v.code == kExitFail) {
    std::cout << "fail: " << v.text << std::endl;
    return kExitFail;
  }
  return Fail(v.text, v.code);
}

// A node call failed: unreachable is a usage-level error (2), an answer a refusal (1).
Verdict FromNode(const NodeClient& client, const std::string& what, const Status& s) {
  if (client.last_status() == 0) return Usage(s.message());
  return Refuse(what + ": " + s.ToString());
}

std::optional<Verdict> LoadTrust(const ProofArgs& a, NodeClient& client, Trust& t) {
  if (!a.vkey.empty() && !a.genesis.empty()) return Usage("give --vkey or --genesis, not both");
  if (!a.vkey.empty()) {
    auto k = crypto::ParseNoteVerifierKey(a.vkey);
    if (!k.ok()) return Usage("--vkey: " + k.status().message());
    t.keys.push_back(std::move(*k));
    t.source = "--vkey";
    return std::nullopt;
  }
  if (!a.genesis.empty()) {
    std::string text;
    if (!ReadFile(a.genesis, text)) return Usage("cannot read " + a.genesis);
    auto j = api::ParseJson(text, a.genesis);
    if (!j.ok()) return Usage(j.status().message());
    auto g = api::GenesisFromJson(*j);
    if (!g.ok()) return Usage(a.genesis + ": " + g.status().message());
    for (const auto& p : g->participants) {
      if (p.role != ledger::Role::kNode) continue;
      auto k = crypto::MakeNoteVerifierKey(p.id, p.sign_key);
      if (k.ok()) t.keys.push_back(std::move(*k));
    }
    if (t.keys.empty()) return Usage(a.genesis + " names no node");
    t.origin = store::CheckpointOrigin(*g, ledger::MakeGenesisBlock(*g).hash());
    t.source = "the nodes of " + a.genesis;
    return std::nullopt;
  }
  auto info = client.GetJson("/v1/node");
  if (!info.ok()) return FromNode(client, "GET /v1/node", info.status());
  std::string vk = info->is_object() ? info->value("verifier_key", "") : "";
  auto k = crypto::ParseNoteVerifierKey(vk);
  if (!k.ok()) return Refuse("the node's verifier key is malformed: " + k.status().message());
  std::cerr
      << "WARNING: no --vkey or --genesis given: trusting the verifier key the node serves\n"
      << "WARNING:   " << vk << "\n"
      << "WARNING: (trust on first use). A node that lies can sign its lies with its own key;\n"
      << "WARNING: compare this key with one obtained independently, or pass --vkey/--genesis.\n";
  t.keys.push_back(std::move(*k));
  t.source = "served by the node itself (trust on first use)";
  return std::nullopt;
}

// Opens a checkpoint note with the trusted keys and checks its origin.
std::optional<Verdict> OpenTrusted(const std::string& note, const Trust& t, crypto::Checkpoint& cp,
                                   std::string& signer) {
  auto opened = crypto::OpenNote(note, t.keys);
  if (!opened.ok()) return Refuse("checkpoint signature: " + opened.status().message());
  auto body = crypto::ParseCheckpointBody(opened->text);
  if (!body.ok()) return Refuse("checkpoint: " + body.status().message());
  cp = std::move(*body);
  signer = opened->signatures.front().name;
  if (!t.origin.empty() && cp.origin != t.origin) {
    return Refuse("checkpoint origin \"" + cp.origin + "\" is not this network's \"" + t.origin +
                  "\"");
  }
  return std::nullopt;
}

std::optional<Verdict> FetchCheckpoint(NodeClient& client, const Trust& t, crypto::Checkpoint& cp,
                                       std::string& signer) {
  auto note = client.GetText("/v1/checkpoint");
  if (!note.ok()) return FromNode(client, "GET /v1/checkpoint", note.status());
  return OpenTrusted(*note, t, cp, signer);
}

std::string DescribeCheckpoint(const crypto::Checkpoint& cp) {
  std::string s = cp.origin + ", size " + std::to_string(cp.size) + ", root " + ToHex(cp.root);
  auto block = store::CheckpointBlock(cp);
  if (block.ok()) {
    s += ", height " + std::to_string(block->first) + ", block " + ToHex(block->second);
  }
  return s;
}

// A list of 64-hex-digit strings from a proof answer.
std::optional<std::vector<Hash>> HashList(const Json& j, const char* field) {
  if (!j.is_object() || !j.contains(field) || !j[field].is_array()) return std::nullopt;
  std::vector<Hash> out;
  for (const auto& e : j[field]) {
    if (!e.is_string()) return std::nullopt;
    auto h = HashFromHex(e.get<std::string>());
    if (!h) return std::nullopt;
    out.push_back(*h);
  }
  return out;
}

std::optional<Hash> HashField(const Json& j, const char* field) {
  if (!j.is_object() || !j.contains(field) || !j[field].is_string()) return std::nullopt;
  return HashFromHex(j[field].get<std::string>());
}

// The canonical bytes of a transaction from its JSON form (the genesis
// transaction is rebuilt from the genesis document, as every node does).
Result<ledger::TransactionRef> TxFromNode(NodeClient& client, const Json& j) {
  if (j.is_object() && j.value("type", "") == "genesis") {
    auto g = client.GetJson("/v1/genesis");
    if (!g.ok()) return g.status();
    MC_ASSIGN_OR_RETURN(auto genesis, api::GenesisFromJson(*g));
    ledger::Block b = ledger::MakeGenesisBlock(genesis);
    if (b.txs.empty()) return Status::Internal("genesis block without its transaction");
    return b.txs.front();
  }
  return api::TxFromJson(j);
}

int RunInclusion(const ProofArgs& a) {
  auto id = HashFromHex(a.tx);
  if (!id) return Fail("--tx must be 64 hex digits", kExitUsage);
  UseReaderKey("", "");  // the transaction body: $MEDCHAIN_KEY signs
  NodeClient client(a.node);
  Trust trust;
  if (auto v = LoadTrust(a, client, trust)) return Report(*v);
  // The transaction first: the checkpoint fetched after it covers it.
  auto tj = client.GetJson("/v1/transactions/" + ToHex(*id));
  if (!tj.ok()) return Report(FromNode(client, "GET /v1/transactions", tj.status()));
  auto tx = TxFromNode(client, *tj);
  if (!tx.ok()) {
    if (client.last_status() == 0) return Report(Usage(tx.status().message()));
    return Report(Refuse("the node's transaction does not re-encode: " + tx.status().message()));
  }
  if ((*tx)->id() != *id) {
    return Report(
        Refuse("the node served transaction " + ToHex((*tx)->id()) + ", not " + ToHex(*id)));
  }
  crypto::Checkpoint cp;
  std::string signer;
  if (auto v = FetchCheckpoint(client, trust, cp, signer)) return Report(*v);
  auto pj =
      client.GetJson("/v1/proofs/inclusion?tx=" + ToHex(*id) + "&size=" + std::to_string(cp.size));
  if (!pj.ok()) return Report(FromNode(client, "GET /v1/proofs/inclusion", pj.status()));
  auto proof = HashList(*pj, "proof");
  if (!proof || !(*pj).contains("leaf_index") || !(*pj)["leaf_index"].is_number_unsigned()) {
    return Report(Refuse("the node's inclusion proof is malformed"));
  }
  uint64_t leaf_index = (*pj)["leaf_index"].get<uint64_t>();
  Hash leaf = merkle::HashLeaf((*tx)->bytes());
  Status s = merkle::VerifyInclusion(leaf, leaf_index, cp.size, *proof, cp.root);
  if (!s.ok()) return Report(Refuse("inclusion proof: " + s.message()));
  std::cout << "ok: transaction " << ToHex(*id) << " is in the signed log\n"
            << "  leaf:        index " << leaf_index << " of " << cp.size << ", hash "
            << ToHex(leaf) << " (computed here from the transaction's bytes)\n"
            << "  checkpoint:  " << DescribeCheckpoint(cp) << "\n"
            << "  signed by:   " << signer << ", key " << trust.source << "\n"
            << "  proof:       " << proof->size() << " hashes, verified here\n";
  return kExitOk;
}

// Fetches and verifies the consistency proof size1 -> size2 where root2 is
// known; returns the node's root at size1 (now proven to be a prefix).
std::optional<Verdict> ProveConsistency(NodeClient& client, uint64_t size1, uint64_t size2,
                                        const Hash& root2, Hash& root1, size_t& hashes) {
  auto pj = client.GetJson("/v1/proofs/consistency?from=" + std::to_string(size1) +
                           "&to=" + std::to_string(size2));
  if (!pj.ok()) return FromNode(client, "GET /v1/proofs/consistency", pj.status());
  auto proof = HashList(*pj, "proof");
  auto r1 = HashField(*pj, "root1");
  if (!proof || !r1) return Refuse("the node's consistency proof is malformed");
  Status s = merkle::VerifyConsistency(size1, size2, *proof, *r1, root2);
  if (!s.ok()) {
    return Refuse("consistency proof " + std::to_string(size1) + " -> " + std::to_string(size2) +
                  ": " + s.message());
  }
  root1 = *r1;
  hashes += proof->size();
  return std::nullopt;
}

int RunConsistency(const ProofArgs& a) {
  if (a.from.empty() == a.old_checkpoint.empty()) {
    return Fail("give --from M or --old-checkpoint FILE", kExitUsage);
  }
  uint64_t from = 0, to = 0;
  if (!a.from.empty() && (!ParseU64(a.from, from) || from == 0)) {
    return Fail("--from must be a log size of at least 1", kExitUsage);
  }
  if (!a.to.empty() && !ParseU64(a.to, to)) return Fail("--to must be a log size", kExitUsage);
  std::optional<Hash> trusted_root1;
  if (!a.root1.empty()) {
    trusted_root1 = HashFromHex(a.root1);
    if (!trusted_root1) return Fail("--root1 must be 64 hex digits", kExitUsage);
  }
  NodeClient client(a.node);
  Trust trust;
  if (auto v = LoadTrust(a, client, trust)) return Report(*v);
  if (!a.old_checkpoint.empty()) {
    std::string note;
    if (!ReadFile(a.old_checkpoint, note))
      return Fail("cannot read " + a.old_checkpoint, kExitUsage);
    crypto::Checkpoint old;
    std::string old_signer;
    if (auto v = OpenTrusted(note, trust, old, old_signer)) {
      return Report(Refuse(a.old_checkpoint + ": " + v->text));
    }
    if (old.size == 0) return Report(Refuse(a.old_checkpoint + ": a checkpoint of the empty log"));
    if (trusted_root1 && *trusted_root1 != old.root) {
      return Fail("--root1 differs from the root in " + a.old_checkpoint, kExitUsage);
    }
    from = old.size;
    trusted_root1 = old.root;
  }
  crypto::Checkpoint cp;
  std::string signer;
  if (auto v = FetchCheckpoint(client, trust, cp, signer)) return Report(*v);
  if (a.to.empty()) to = cp.size;
  if (from > to) {
    return Fail(
        "the old size " + std::to_string(from) + " is above the new size " + std::to_string(to),
        kExitUsage);
  }
  if (to > cp.size) {
    return Report(Refuse("the signed log has " + std::to_string(cp.size) +
                         " transactions, fewer than --to " + std::to_string(to)));
  }
  // root(to) is the checkpoint's, or proven a prefix of it; then root(from)
  // is proven a prefix of root(to).
  size_t hashes = 0;
  Hash root_to = cp.root;
  if (to != cp.size) {
    if (auto v = ProveConsistency(client, to, cp.size, cp.root, root_to, hashes)) return Report(*v);
  }
  Hash root_from{};
  if (auto v = ProveConsistency(client, from, to, root_to, root_from, hashes)) return Report(*v);
  if (trusted_root1 && *trusted_root1 != root_from) {
    return Report(Refuse("the signed log's root at size " + std::to_string(from) + " is " +
                         ToHex(root_from) + ", not the trusted " + ToHex(*trusted_root1) +
                         ": the two logs have forked"));
  }
  std::cout << "ok: the log of size " << from << " is a prefix of the log of size " << to << "\n"
            << "  root at " << from << ":  " << ToHex(root_from)
            << (trusted_root1 ? " (matches the trusted root)" : "") << "\n"
            << "  root at " << to << ":  " << ToHex(root_to) << "\n"
            << "  checkpoint:  " << DescribeCheckpoint(cp) << "\n"
            << "  signed by:   " << signer << ", key " << trust.source << "\n"
            << "  proofs:      " << hashes << " hashes, verified here\n";
  return kExitOk;
}

// ---- watch ----

std::atomic<bool> g_interrupted{false};

void OnSignal(int) {
  g_interrupted = true;
}

int RunWatch(const std::string& node, const std::string& from_text, unsigned interval_ms) {
  NodeClient client(node, 30);
  uint64_t next = 0;
  if (!from_text.empty()) {
    if (!ParseU64(from_text, next)) return Fail("--from must be a block height", kExitUsage);
  } else {
    auto info = client.GetJson("/v1/blocks?limit=1");
    if (!info.ok()) return NodeError(client, info.status());
    if (!info->is_object()) return Fail("the node answered something that is not a block list");
    next = info->value("height", uint64_t{0}) + 1;
  }
  struct sigaction sa {};
  sa.sa_handler = OnSignal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  std::cerr << "watching " << client.url() << " from height " << next << " (Ctrl-C to stop)"
            << std::endl;
  bool reachable = true;
  while (!g_interrupted) {
    auto page = client.GetJson("/v1/blocks?from=" + std::to_string(next) + "&limit=100");
    size_t printed = 0;
    if (!page.ok()) {
      if (client.last_status() != 0) return NodeError(client, page.status());
      if (reachable) std::cerr << "the node does not answer; still trying" << std::endl;
      reachable = false;
    } else {
      if (!reachable) std::cerr << "the node answers again" << std::endl;
      reachable = true;
      const Json* blocks =
          page->is_object() && page->contains("blocks") ? &(*page)["blocks"] : nullptr;
      if (blocks && blocks->is_array()) {
        for (const auto& b : *blocks) {
          if (!b.is_object()) continue;
          uint64_t h = b.value("height", uint64_t{0});
          if (h < next) continue;
          std::string hash = b.value("hash", "");
          std::cout << "block " << h << "  hash " << hash.substr(0, 16) << "  txs "
                    << b.value("tx_count", 0u) << "  log " << b.value("log_size", uint64_t{0})
                    << "  time " << FormatTimeMs(b.value("timestamp_ms", uint64_t{0})) << std::endl;
          next = h + 1;
          ++printed;
        }
      }
    }
    // A full page means more are waiting: fetch at once; else poll again later.
    if (printed < 100) {
      for (unsigned waited = 0; waited < interval_ms && !g_interrupted; waited += 10) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
    }
  }
  return kExitOk;
}

// ---- Registration ----

CommandGroup g_node("node", [](CLI::App& app, ExitCode& rc) {
  {
    auto a = std::make_shared<SubmitArgs>();
    auto* cmd = app.add_subcommand(
        "submit",
        "Sign and submit a transaction (waits for its block), or submit transaction bytes");
    AddNodeOption(cmd, a->node);
    cmd->add_option("--key", a->key,
                    "key file of the author (passphrase: $MEDCHAIN_PASSPHRASE "
                    "or prompt)");
    cmd->add_option("--type", a->type, "transaction type, e.g. attest, register_participant");
    cmd->add_option("--body", a->body, "the body as JSON (docs/api.md), or @FILE");
    cmd->add_option("--sidecar-file", a->sidecar_file,
                    "canonical sidecar bytes (put_record, grant, release_key)");
    cmd->add_option("--nonce", a->nonce, "nonce to sign with (default: random)");
    cmd->add_option("--file", a->file, "submit these transaction bytes as they are");
    cmd->add_option("--out", a->out,
                    "write the signed transaction's canonical bytes here instead of submitting");
    cmd->add_flag("--no-wait", a->no_wait, "return once pooled, before the block commits");
    cmd->callback([a, &rc] { rc = Guarded([&] { return RunSubmit(*a); }); });
  }
  {
    auto node = std::make_shared<std::string>();
    auto id = std::make_shared<std::string>();
    auto key = std::make_shared<std::string>();
    auto* cmd = app.add_subcommand("tx", "Show a committed transaction and its result");
    AddNodeOption(cmd, *node);
    cmd->add_option("ID", *id, "transaction id (64 hex digits)")->required();
    cmd->add_option("--key", *key, "sign the request with this key file (default: $MEDCHAIN_KEY)");
    cmd->callback([node, id, key, &rc] { rc = Guarded([&] { return RunTx(*node, *id, *key); }); });
  }
  {
    auto node = std::make_shared<std::string>();
    auto height = std::make_shared<std::string>();
    auto full = std::make_shared<bool>(false);
    auto key = std::make_shared<std::string>();
    auto* cmd = app.add_subcommand("block", "Show a block: header and transaction ids");
    AddNodeOption(cmd, *node);
    cmd->add_option("HEIGHT", *height, "block height")->required();
    cmd->add_flag("--full", *full, "whole transactions with their results");
    cmd->add_option("--key", *key,
                    "with --full: sign the request with this key file (default: $MEDCHAIN_KEY)");
    cmd->callback([node, height, full, key, &rc] {
      rc = Guarded([&] { return RunBlock(*node, *height, *full, *key); });
    });
  }
  {
    auto a = std::make_shared<ProofArgs>();
    auto* proof =
        app.add_subcommand("proof",
                           "Fetch a proof and verify it here against the node's signed checkpoint")
            ->require_subcommand(1);
    auto trust_options = [a](CLI::App* cmd) {
      AddNodeOption(cmd, a->node);
      cmd->add_option("--vkey", a->vkey,
                      "trusted verifier key of the signing node (name+hash+base64key)");
      cmd->add_option("--genesis", a->genesis, "trust the nodes named in this genesis.json");
    };
    auto* inc = proof->add_subcommand("inclusion", "Prove a transaction is in the signed log");
    trust_options(inc);
    inc->add_option("--tx", a->tx, "transaction id")->required();
    inc->callback([a, &rc] { rc = Guarded([&] { return RunInclusion(*a); }); });
    auto* con = proof->add_subcommand("consistency",
                                      "Prove the log of size M is a prefix of the log of size N");
    trust_options(con);
    con->add_option("--from", a->from, "old log size M");
    con->add_option("--to", a->to, "new log size N (default: the signed checkpoint's)");
    con->add_option("--root1", a->root1, "the root you trust at size M (detects a fork)");
    con->add_option("--old-checkpoint", a->old_checkpoint,
                    "a signed checkpoint kept earlier: its size and root are M and the root");
    con->callback([a, &rc] { rc = Guarded([&] { return RunConsistency(*a); }); });
  }
  {
    auto node = std::make_shared<std::string>();
    auto from = std::make_shared<std::string>();
    auto interval = std::make_shared<unsigned>(250);
    auto* cmd = app.add_subcommand("watch", "Print each new block as it commits (Ctrl-C stops)");
    AddNodeOption(cmd, *node);
    cmd->add_option("--from", *from, "first height to print (default: the next block)");
    cmd->add_option("--interval-ms", *interval, "polling interval")->capture_default_str();
    cmd->callback([node, from, interval, &rc] {
      rc = Guarded([&] { return RunWatch(*node, *from, *interval); });
    });
  }
});

}  // namespace
}  // namespace medchain::cli
