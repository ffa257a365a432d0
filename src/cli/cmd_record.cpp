// Copyright (c) medchain developers.
// medchain record put|get|history|list|erase|release
#include <fstream>
#include <iostream>
#include <sstream>

#include "cli/client.h"
#include "cli/command.h"
#include "cli/records.h"

namespace medchain::cli {
namespace {

struct RecordArgs {
  std::string node = DefaultNodeUrl();
  std::string key;
  std::string patient;
  std::string type;
  std::string record_id;
  std::string file;
  std::string out;
  std::string purpose;
  std::string reason;
  std::string access_tx;
  uint32_t version = 0;
  bool break_glass = false;
};

Result<Bytes> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::NotFound("cannot read " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ToBytes(ss.str());
}

int Put(const RecordArgs& a) {
  auto content =
      a.file == "-"
          ? Result<Bytes>(ToBytes(std::string(std::istreambuf_iterator<char>(std::cin), {})))
          : ReadFile(a.file);
  if (!content.ok()) return Fail(content.status().message(), kExitUsage);
  auto key = LoadKey(a.key);
  if (!key.ok()) return Fail(key.status().message(), kExitUsage);
  NodeClient node(a.node);
  auto me = ParticipantIdOf(node, *key);
  if (!me.ok()) return Fail(me.status().message());
  std::string record_id = a.record_id.empty() ? NewRecordId() : a.record_id;
  auto out = PutRecord(node, *key, *me, a.patient, a.type, record_id, *content);
  if (!out.ok()) return Fail(out.status().message());
  std::cout << out->dump(2) << "\n";
  const Json& r = (*out)["result"];
  if (r.value("code", "ok") != "ok") return Fail("refused: " + r.value("reason", ""));
  std::cerr << "record " << record_id << " written\n";
  return kExitOk;
}

// The commitment the ledger holds for a record version.
Result<Hash> LedgerCommitment(NodeClient& node, const std::string& record_id, uint32_t version) {
  MC_ASSIGN_OR_RETURN(Json rec, node.GetJson("/v1/records/" + record_id));
  for (const auto& v : rec["history"]) {
    if (v.value("version", 0U) == version) {
      auto h = HashFromHex(v.value("commitment", ""));
      if (!h) break;
      return *h;
    }
  }
  return Status::Corruption("the ledger has no commitment for " + record_id + " v" +
                            std::to_string(version));
}

int Get(const RecordArgs& a) {
  if (a.record_id.empty() == (a.patient.empty() || a.type.empty())) {
    return Fail("give --record ID, or --patient and --type", kExitUsage);
  }
  auto key = LoadKey(a.key);
  if (!key.ok()) return Fail(key.status().message(), kExitUsage);
  NodeClient node(a.node);
  ledger::ReadRecord r;
  r.record_id = a.record_id;
  r.version = a.version;
  if (a.record_id.empty()) {
    r.patient = a.patient;
    r.type = a.type;
  }
  r.purpose = a.purpose;
  r.break_glass = a.break_glass;
  r.reason = a.reason;
  auto body = ledger::DecodeBody<ledger::ReadRecord>(ledger::EncodeBody(r), "read request");
  if (!body.ok()) return Fail(body.status().message(), kExitUsage);
  auto tx = MakeTx(*key, ledger::TxType::kReadRecord, ledger::EncodeBody(r));
  auto res = node.Read(*tx);
  if (!res.ok()) return Fail(res.status().message());
  const Json& access = (*res)["access"];
  std::cerr << "access recorded in transaction " << access.value("id", "") << " at height "
            << access.value("height", 0ULL)
            << (access["result"].value("break_glass", false)
                    ? " (BREAK-GLASS, flagged to the patient)"
                    : "")
            << "\n";
  std::ofstream file;
  if (!a.out.empty()) {
    file.open(a.out, std::ios::binary | std::ios::trunc);
    if (!file) return Fail("cannot write " + a.out, kExitUsage);
  }
  std::ostream& out = a.out.empty() ? std::cout : file;
  int rc = kExitOk;
  for (const auto& rec : (*res)["records"]) {
    std::string id = rec.value("record_id", "");
    uint32_t version = rec.value("version", 0U);
    if (rec["wrapped_key"].is_null()) {
      std::cerr << "record " << id << " v" << version
                << ": access granted, but no data key has been released to you yet; the custodian "
                << rec.value("custodian", "")
                << " releases it with: medchain record release --access-tx "
                << access.value("id", "") << "\n";
      rc = kExitFail;
      continue;
    }
    auto wrapped = FromBase64(rec.value("wrapped_key", ""));
    auto ct = FromBase64(rec.value("ciphertext", ""));
    if (!wrapped || !ct) return Fail("the node sent malformed base64");
    auto data_key = OpenDataKey(*key, *wrapped);
    if (!data_key.ok()) return Fail(data_key.status().message());
    auto commitment = LedgerCommitment(node, id, version);
    if (!commitment.ok()) return Fail(commitment.status().message());
    auto plain = OpenRecord(*data_key, *ct, id, version, rec.value("patient", ""), &*commitment);
    SecureZero(*data_key);
    if (!plain.ok()) return Fail(plain.status().message());
    out.write(reinterpret_cast<const char*>(plain->data()),
              static_cast<std::streamsize>(plain->size()));
    if ((*res)["records"].size() > 1) out << "\n";
    SecureZero(*plain);
  }
  return rc;
}

int Show(const RecordArgs& a, bool list) {
  UseReaderKey(a.key, a.patient);
  NodeClient node(a.node);
  auto j = list ? node.GetJson("/v1/patients/" + a.patient + "/records")
                : node.GetJson("/v1/records/" + a.record_id);
  if (!j.ok()) return Fail(j.status().message());
  std::cout << j->dump(2) << "\n";
  return kExitOk;
}

int Erase(const RecordArgs& a) {
  auto key = LoadKey(a.key);
  if (!key.ok()) return Fail(key.status().message(), kExitUsage);
  NodeClient node(a.node);
  ledger::EraseRecord e{a.record_id, a.reason};
  auto out = node.Submit(*MakeTx(*key, ledger::TxType::kEraseRecord, ledger::EncodeBody(e)),
                         nullptr, true);
  if (!out.ok()) return Fail(out.status().message());
  std::cout << out->dump(2) << "\n";
  const Json& r = (*out)["result"];
  if (r.value("code", "ok") != "ok") return Fail("refused: " + r.value("reason", ""));
  return kExitOk;
}

// After a committed break-glass read, the custodian (or the patient) wraps
// the record's data key for the reader.
int Release(const RecordArgs& a) {
  auto key = LoadKey(a.key);
  if (!key.ok()) return Fail(key.status().message(), kExitUsage);
  NodeClient node(a.node);
  auto me = ParticipantIdOf(node, *key);
  if (!me.ok()) return Fail(me.status().message());
  auto access = node.GetJson("/v1/transactions/" + a.access_tx);
  if (!access.ok()) return Fail(access.status().message());
  const Json& result = (*access)["result"];
  if (result.value("code", "") != "ok" || !result.value("break_glass", false)) {
    return Fail("transaction " + a.access_tx + " is not a granted break-glass read");
  }
  auto reader = node.GetJson("/v1/participants?key=" + (*access).value("author", ""));
  if (!reader.ok()) return Fail(reader.status().message());
  std::string reader_id = reader->value("id", "");
  auto reader_box = FetchBoxKey(node, reader_id);
  if (!reader_box.ok()) return Fail(reader_box.status().message());
  auto access_id = HashFromHex(a.access_tx);
  if (!access_id) return Fail("--access-tx must be 64 hex digits", kExitUsage);
  int rc = kExitOk;
  for (const auto& ref : result["records"]) {
    std::string id = ref.value("record_id", "");
    uint32_t version = ref.value("version", 0U);
    auto mine =
        node.GetJson("/v1/records/" + id + "/keys/" + *me + "?version=" + std::to_string(version));
    if (!mine.ok()) return Fail(mine.status().message());
    auto wrapped = FromBase64(mine->value("wrapped_key", ""));
    if (!wrapped) return Fail("malformed wrapped key");
    auto data_key = OpenDataKey(*key, *wrapped);
    if (!data_key.ok()) return Fail(data_key.status().message());
    auto sealed = crypto::Seal(*reader_box, *data_key);
    SecureZero(*data_key);
    if (!sealed.ok()) return Fail(sealed.status().message());
    ledger::Sidecar sc;
    sc.keys.push_back(ledger::WrappedKey{id, version, reader_id, std::move(*sealed)});
    ledger::ReleaseKey k{id, version, reader_id, *access_id, sc.KeysHash()};
    auto out =
        node.Submit(*MakeTx(*key, ledger::TxType::kReleaseKey, ledger::EncodeBody(k)), &sc, true);
    if (!out.ok()) return Fail(out.status().message());
    std::cout << out->dump(2) << "\n";
    if ((*out)["result"].value("code", "") != "ok") rc = kExitFail;
  }
  return rc;
}

CommandGroup g_record("record", [](CLI::App& app, ExitCode& rc) {
  auto* grp = app.add_subcommand("record", "Write, read, list and erase encrypted health records")
                  ->require_subcommand(1);
  auto a = std::make_shared<RecordArgs>();
  auto node_opt = [&](CLI::App* c) {
    c->add_option("--node", a->node, "node API URL ($MEDCHAIN_NODE)");
  };

  auto* put =
      grp->add_subcommand("put", "Encrypt and write a record (or the next version of --record)");
  node_opt(put);
  put->add_option("--key", a->key, "the custodian's key file")->required();
  put->add_option("--patient", a->patient, "patient id")->required();
  put->add_option("--type", a->type, "record type, e.g. Observation")->required();
  put->add_option("--file", a->file, "the plaintext (- for stdin)")->required();
  put->add_option("--record", a->record_id,
                  "record id (new: generated; existing: writes a new version)");
  put->callback([a, &rc] { rc = Put(*a); });

  auto* get = grp->add_subcommand(
      "get", "Read a record: commits an access event, then decrypts it with your key");
  node_opt(get);
  get->add_option("--key", a->key, "your key file")->required();
  get->add_option("--record", a->record_id, "record id");
  get->add_option("--version", a->version, "version (default: latest)");
  get->add_option("--patient", a->patient, "with --type: every current record of that type");
  get->add_option("--type", a->type, "record type");
  get->add_option("--purpose", a->purpose, "why you read it (recorded)")->required();
  get->add_flag("--break-glass", a->break_glass,
                "emergency access without a grant (practitioners; flagged)");
  get->add_option("--reason", a->reason, "break-glass: the emergency");
  get->add_option("--out", a->out, "write the plaintext to a file instead of stdout");
  get->callback([a, &rc] { rc = Get(*a); });

  auto* hist = grp->add_subcommand("history", "A record's versions (provenance)");
  node_opt(hist);
  hist->add_option("--record", a->record_id, "record id")->required();
  hist->add_option("--key", a->key, "sign the request with this key file (default: $MEDCHAIN_KEY)");
  hist->callback([a, &rc] { rc = Show(*a, false); });

  auto* list = grp->add_subcommand("list", "A patient's records");
  node_opt(list);
  list->add_option("--patient", a->patient, "patient id")->required();
  list->add_option("--key", a->key,
                   "sign the request with this key file (default: $MEDCHAIN_KEY, or the key file "
                   "here whose participant id is --patient)");
  list->callback([a, &rc] { rc = Show(*a, true); });

  auto* erase =
      grp->add_subcommand("erase", "Erase a record (crypto-shredding; the ledger keeps hashes)");
  node_opt(erase);
  erase->add_option("--key", a->key, "the patient's (or custodian's) key file")->required();
  erase->add_option("--record", a->record_id, "record id")->required();
  erase->add_option("--reason", a->reason, "why (recorded)");
  erase->callback([a, &rc] { rc = Erase(*a); });

  auto* rel =
      grp->add_subcommand("release", "After a break-glass read: wrap the data key for the reader");
  node_opt(rel);
  rel->add_option("--key", a->key, "the custodian's (or patient's) key file")->required();
  rel->add_option("--access-tx", a->access_tx, "the break-glass read transaction id")->required();
  rel->callback([a, &rc] { rc = Release(*a); });
});

}  // namespace
}  // namespace medchain::cli
