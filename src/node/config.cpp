// Copyright (c) medchain developers.
#include "medchain/node/config.h"

#include <arpa/inet.h>
#include <sys/stat.h>

#include <toml++/toml.h>
#include <algorithm>
#include <cassert>
#include <cctype>
#include <charconv>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "medchain/api/json.h"
#include "medchain/crypto/keyfile.h"
#include "medchain/fhir/definitions.h"
#include "medchain/ledger/apply.h"
#include "medchain/ledger/state.h"

namespace medchain::node {

namespace fs = std::filesystem;

namespace {

using T = ConfigType;

constexpr ConfigSection kSections[] = {
    {"node", "The node's identity, files and durability."},
    {"api", "The HTTP API (docs/api.md)."},
    {"blocks", "Block cutting: a block is cut at whichever limit is reached first."},
    {"pool", "The pool of submitted transactions waiting for a block."},
    {"raft", "Ordering through Raft (docs/consensus.md, docs/cluster.md)."},
    {"backup", "Online backups (`medchain backup`, docs/operations.md)."},
    {"fhir",
     "The FHIR R4 facade at `/fhir/r4` (docs/fhir.md). It is on when `token` and "
     "`key_file` are both set."},
};

// The one list of legal keys (docs/configuration.md is generated from it).
// The defaults must match NodeConfig's initialisers: tests/unit/node_config_test.cpp
// checks every default_value against what LoadConfig yields without the key.
constexpr ConfigKey kKeys[] = {
    {.section = "node",
     .name = "id",
     .required = true,
     .description = "This node's participant id: a node registered in the genesis or by "
                    "`medchain cluster register`."},
    {.section = "node",
     .name = "data_dir",
     .type = T::kPath,
     .required = true,
     .description = "Folder of the node's `ledger/`, `raft/` and `medchaind.pid`; created "
                    "(mode 0700) on first start."},
    {.section = "node",
     .name = "key_file",
     .type = T::kPath,
     .required = true,
     .description = "The node's key file (docs/crypto.md); its signing key must be the "
                    "registered key of `node.id`."},
    {.section = "node",
     .name = "genesis",
     .type = T::kPath,
     .required = true,
     .description = "The network's `genesis.json`."},
    {.section = "node",
     .name = "passphrase_env",
     .default_value = "\"MEDCHAIN_PASSPHRASE\"",
     .description = "Environment variable holding the key files' passphrase, read when "
                    "`passphrase_file` is not set."},
    {.section = "node",
     .name = "passphrase_file",
     .type = T::kPath,
     .default_note = "none: `passphrase_env`",
     .description = "File holding the passphrase (trailing newlines dropped). Keep it 0600."},
    {.section = "node",
     .name = "sync",
     .type = T::kBoolean,
     .default_value = "true",
     .description = "fsync every block. Never turn off in production."},
    {.section = "node",
     .name = "log_level",
     .default_value = "\"info\"",
     .description = "One of `trace`, `debug`, `info`, `warn`, `error`, `critical`, `off` "
                    "(`warning` and `err` are accepted too)."},

    {.section = "api",
     .name = "listen",
     .default_value = "\"127.0.0.1:7070\"",
     .description = "`host:port` the API listens on; port 0 lets the system pick one."},
    {.section = "api",
     .name = "public_url",
     .default_note = "`http://` + `listen`",
     .description = "How peers and clients reach this node; peers forward to the API URL "
                    "registered for it."},
    {.section = "api",
     .name = "max_body_bytes",
     .type = T::kInteger,
     .min = 1024,
     .max = 64 << 20,
     .default_value = "2097152",
     .description = "Larger request bodies get 413."},
    {.section = "api",
     .name = "threads",
     .type = T::kInteger,
     .min = 4,
     .max = 4096,
     .default_value = "256",
     .description = "Requests in progress at once; a `?wait=commit` holds one."},
    {.section = "api",
     .name = "wait_timeout_ms",
     .type = T::kInteger,
     .min = 100,
     .max = 3600000,
     .default_value = "30000",
     .description = "How long a `?wait=commit` waits before 504."},
    {.section = "api",
     .name = "refused_reads_per_minute",
     .type = T::kInteger,
     .min = 1,
     .max = 1000000,
     .default_value = "20",
     .description = "Refused read requests (and replayed ones) this node commits per "
                    "participant per minute, with bursts up to the same number; beyond it "
                    "a read that would be refused gets 429 and nothing is recorded."},
    {.section = "api",
     .name = "peer_reply_max_bytes",
     .type = T::kInteger,
     .min = 4 << 20,
     .max = int64_t{4} << 30,
     .default_value = "67108864",
     .description = "The largest reply read from another node (a catch-up block with its "
                    "sidecars); a larger one is dropped and the next peer asked. Must be at "
                    "least the larger of `max_body_bytes` and `blocks.max_bytes` plus 1 MiB; "
                    "when not set, the default is raised to that if needed."},

    {.section = "blocks",
     .name = "max_txs",
     .type = T::kInteger,
     .min = 1,
     .max = 100000,
     .default_value = "2000",
     .description = "Transactions in a block."},
    {.section = "blocks",
     .name = "max_bytes",
     .type = T::kInteger,
     .min = 1024,
     .max = 32 << 20,
     .default_value = "1048576",
     .description = "Bytes of transactions (and their sidecars) in a block."},
    {.section = "blocks",
     .name = "max_delay_ms",
     .type = T::kInteger,
     .min = 1,
     .max = 60000,
     .default_value = "20",
     .description = "How long the first transaction of a block waits for others."},

    {.section = "pool",
     .name = "max_txs",
     .type = T::kInteger,
     .min = 100,
     .max = 10000000,
     .default_value = "200000",
     .description = "Transactions waiting at most; beyond, submissions get 429 (retry later)."},

    {.section = "raft",
     .name = "enabled",
     .type = T::kBoolean,
     .default_value = "false",
     .description = "`true`: order blocks through Raft with the other nodes; `false`: this "
                    "node orders blocks alone (a single-node network)."},
    {.section = "raft",
     .name = "address",
     .default_note = "required when `enabled`",
     .description = "`host:port` of this node's Raft transport: the Raft address registered "
                    "for `node.id`."},
    {.section = "raft",
     .name = "election_timeout_ms",
     .type = T::kInteger,
     .min = 50,
     .max = 60000,
     .default_value = "1000",
     .description = "Raft election timeout."},
    {.section = "raft",
     .name = "heartbeat_timeout_ms",
     .type = T::kInteger,
     .min = 10,
     .max = 10000,
     .default_value = "100",
     .description = "Raft heartbeat interval."},
    {.section = "raft",
     .name = "snapshot_threshold",
     .type = T::kInteger,
     .min = 16,
     .max = 1000000,
     .default_value = "512",
     .description = "Applied blocks between Raft snapshots."},
    {.section = "raft",
     .name = "snapshot_trailing",
     .type = T::kInteger,
     .min = 16,
     .max = 1000000,
     .default_value = "512",
     .description = "Blocks kept in the Raft log behind a snapshot."},
    {.section = "raft",
     .name = "join",
     .type = T::kStringList,
     .default_value = "[]",
     .description = "API URLs of existing nodes that a node joining an existing cluster (not "
                    "a founding node) fetches the ledger from before it starts; the founding "
                    "nodes of the genesis are always asked too."},

    {.section = "backup",
     .name = "dir",
     .type = T::kPath,
     .default_note = "`backups` in `node.data_dir`",
     .description = "Folder the node writes backups into when an admin asks "
                    "(`POST /v1/admin/backup`); each backup is a new folder in it. On the "
                    "ledger's filesystem a backup hard-links the store's files (fast, no "
                    "extra space until they are compacted); move it elsewhere for safety."},

    {.section = "fhir",
     .name = "token",
     .default_note = "none: the facade is off",
     .description = "Bearer token of the organisation's EHR. A secret: keep the config 0600."},
    {.section = "fhir",
     .name = "key_file",
     .type = T::kPath,
     .default_note = "none: the facade is off",
     .description = "Key file of the organisation the facade acts for (read with the node's "
                    "passphrase)."},
    {.section = "fhir",
     .name = "definitions",
     .type = T::kPath,
     .default_note = "searched near the executable and the working folder",
     .description = "Folder of the FHIR R4 definitions (scripts/fhir-definitions.sh)."},
};

const ConfigKey* FindKey(std::string_view section, std::string_view name) {
  for (const auto& k : kKeys) {
    if (k.section == section && k.name == name) return &k;
  }
  return nullptr;
}

std::string TypeText(const ConfigKey& k) {
  switch (k.type) {
    case T::kString:
      return "string";
    case T::kPath:
      return "path";
    case T::kInteger:
      return "integer, " + std::to_string(k.min) + " to " + std::to_string(k.max);
    case T::kBoolean:
      return "boolean";
    case T::kStringList:
      return "list of strings";
  }
  return "?";
}

}  // namespace

std::span<const ConfigKey> ConfigKeys() {
  return kKeys;
}
std::span<const ConfigSection> ConfigSections() {
  return kSections;
}

std::string ConfigReferenceMarkdown() {
  std::ostringstream o;
  o << "# medchaind configuration reference\n\n"
    << "<!-- Generated by `medchaind --print-config-reference` from the key table in\n"
    << "     src/node/config.cpp: edit the table, then regenerate this file.\n"
    << "     tests/integration/config_reference_test.py fails while they differ. -->\n\n"
    << "A node reads one TOML file: `medchaind --config FILE` (docs/operations.md).\n"
    << "`medchaind --check-config FILE` checks one without starting the node.\n\n"
    << "- Unknown sections or keys are errors: a typo never silently leaves a default in "
       "force.\n"
    << "- A path is relative to the config file's folder unless it is absolute.\n"
    << "- Every error names the file and the key.\n";
  for (const auto& section : kSections) {
    o << "\n## [" << section.name << "]\n\n"
      << section.description << "\n\n"
      << "| key | type | default | meaning |\n"
      << "|---|---|---|---|\n";
    for (const auto& k : kKeys) {
      if (k.section != section.name) continue;
      std::string def = k.required                 ? std::string("required")
                        : !k.default_value.empty() ? "`" + std::string(k.default_value) + "`"
                                                   : std::string(k.default_note);
      o << "| `" << k.name << "` | " << TypeText(k) << " | " << def << " | " << k.description
        << " |\n";
    }
  }
  return o.str();
}

Result<std::pair<std::string, int>> ParseHostPort(std::string_view text) {
  auto colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0) {
    return Status::InvalidArgument("\"" + std::string(text) + "\" is not host:port");
  }
  std::string_view p = text.substr(colon + 1);
  int port = 0;
  auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), port);
  if (ec != std::errc() || end != p.data() + p.size() || port < 0 || port > 65535) {
    return Status::InvalidArgument("\"" + std::string(text) + "\" has no valid port");
  }
  return std::make_pair(std::string(text.substr(0, colon)), port);
}

static std::string ReadFileText(const std::string& path, Status& status) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    status = Status::NotFound("cannot read " + path);
    return {};
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

namespace {

// Whether a config without any passphrase is an error (LoadConfig: the node
// cannot open its key) or not (CheckConfig: the passphrase may be given only
// in the service's environment).
enum class NeedPassphrase { kYes, kNo };

struct PassphraseSource {
  std::string from;  // "node.passphrase_file" or "$NAME"; empty when none was found
  std::string env;   // the variable read when there is no passphrase file
};

// LoadConfig's work; `source` says where the passphrase came from.
Result<NodeConfig> ReadConfig(const std::string& path, NeedPassphrase need,
                              PassphraseSource& source) {
  toml::table t;
  try {
    t = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    std::ostringstream msg;
    msg << path << ": " << e.description() << " (line " << e.source().begin.line << ")";
    return Status::InvalidArgument(msg.str());
  }
  fs::path base = fs::path(path).parent_path();
  auto resolve = [&](const std::string& p) {
    if (p.empty() || fs::path(p).is_absolute()) return p;
    return (base / p).lexically_normal().string();
  };
  NodeConfig c;
  Status err;
  auto fail = [&](const std::string& key, const std::string& why) {
    if (err.ok()) err = Status::InvalidArgument(path + ": " + key + ": " + why);
  };
  auto str = [&](const char* table, const char* key, std::string& out, bool required) {
    auto node = t[table][key];
    if (!node) {
      if (required) fail(std::string(table) + "." + key, "required");
      return;
    }
    if (auto v = node.value<std::string>())
      out = *v;
    else
      fail(std::string(table) + "." + key, "must be a string");
  };
  auto num = [&](const char* table, const char* key, auto& out) {
    // The range is the table's, so docs/configuration.md states the one enforced.
    const ConfigKey* k = FindKey(table, key);
    assert(k != nullptr && k->type == ConfigType::kInteger);
    if (k == nullptr || k->type != ConfigType::kInteger) {
      return fail(std::string(table) + "." + key, "not an integer key of the key table (a bug)");
    }
    const int64_t lo = k->min, hi = k->max;
    auto node = t[table][key];
    if (!node) return;
    auto v = node.value<int64_t>();
    if (!v) return fail(std::string(table) + "." + key, "must be an integer");
    if (*v < lo || *v > hi) {
      return fail(std::string(table) + "." + key,
                  "must be between " + std::to_string(lo) + " and " + std::to_string(hi));
    }
    out = static_cast<std::remove_reference_t<decltype(out)>>(*v);
  };
  auto flag = [&](const char* table, const char* key, bool& out) {
    auto node = t[table][key];
    if (!node) return;
    if (auto v = node.value<bool>())
      out = *v;
    else
      fail(std::string(table) + "." + key, "must be true or false");
  };
  // Unknown keys are mistakes worth reporting (a typo silently ignored would
  // leave a default in force).
  for (const auto& [k, v] : t) {
    std::string table(k.str());
    bool known = std::any_of(std::begin(kSections), std::end(kSections),
                             [&](const ConfigSection& s) { return s.name == table; });
    if (!known || !v.is_table()) {
      fail(table, "unknown section");
      continue;
    }
    for (const auto& [k2, v2] : *v.as_table()) {
      (void)v2;
      std::string key(k2.str());
      if (FindKey(table, key) == nullptr) fail(table + "." + key, "unknown key");
    }
  }
  str("node", "id", c.node_id, true);
  str("node", "data_dir", c.data_dir, true);
  str("node", "key_file", c.key_file, true);
  str("node", "genesis", c.genesis_file, true);
  std::string pass_env = "MEDCHAIN_PASSPHRASE", pass_file;
  str("node", "passphrase_env", pass_env, false);
  str("node", "passphrase_file", pass_file, false);
  flag("node", "sync", c.sync);
  str("node", "log_level", c.log_level, false);
  str("api", "listen", c.listen, false);
  str("api", "public_url", c.public_url, false);
  num("api", "max_body_bytes", c.max_body_bytes);
  num("api", "threads", c.http_threads);
  num("api", "wait_timeout_ms", c.wait_timeout_ms);
  num("api", "peer_reply_max_bytes", c.peer_reply_max_bytes);
  num("api", "refused_reads_per_minute", c.refused_reads_per_minute);
  num("blocks", "max_txs", c.block_max_txs);
  num("blocks", "max_bytes", c.block_max_bytes);
  num("blocks", "max_delay_ms", c.block_max_delay_ms);
  num("pool", "max_txs", c.pool_max_txs);
  flag("raft", "enabled", c.raft.enabled);
  str("raft", "address", c.raft.address, c.raft.enabled);
  num("raft", "election_timeout_ms", c.raft.election_timeout_ms);
  num("raft", "heartbeat_timeout_ms", c.raft.heartbeat_timeout_ms);
  num("raft", "snapshot_threshold", c.raft.snapshot_threshold);
  num("raft", "snapshot_trailing", c.raft.snapshot_trailing);
  if (auto join = t["raft"]["join"]) {
    if (auto* arr = join.as_array()) {
      for (const auto& v : *arr) {
        if (auto u = v.value<std::string>()) {
          c.raft.join.push_back(*u);
        } else {
          fail("raft.join", "must be a list of API URLs (strings)");
        }
      }
    } else {
      fail("raft.join", "must be a list of API URLs, e.g. [\"http://10.0.0.1:7070\"]");
    }
  }
  str("backup", "dir", c.backup_dir, false);
  str("fhir", "token", c.fhir_token, false);
  str("fhir", "key_file", c.fhir_key_file, false);
  str("fhir", "definitions", c.fhir_definitions, false);
  if (!err.ok()) return err;
  // spdlog's names (its from_str would turn anything else into "off").
  static constexpr std::string_view kLevels[] = {"trace", "debug", "info",     "warn", "warning",
                                                 "error", "err",   "critical", "off"};
  if (std::find(std::begin(kLevels), std::end(kLevels), c.log_level) == std::end(kLevels)) {
    return Status::InvalidArgument(path + ": node.log_level: \"" + c.log_level +
                                   "\" is not one of trace, debug, info, warn, error, "
                                   "critical, off");
  }
  {
    // A block fetched from a peer must fit: its transactions and sidecars
    // stay within blocks.max_bytes, except a block of one transaction, which
    // came in one request body (api.max_body_bytes); 1 MiB for the framing.
    const size_t floor = std::max(c.max_body_bytes, c.block_max_bytes) + (size_t{1} << 20);
    if (!t["api"]["peer_reply_max_bytes"]) {
      c.peer_reply_max_bytes = std::max(c.peer_reply_max_bytes, floor);
    } else if (c.peer_reply_max_bytes < floor) {
      return Status::InvalidArgument(
          path + ": api.peer_reply_max_bytes: must be at least " + std::to_string(floor) +
          " (the larger of api.max_body_bytes and blocks.max_bytes, plus 1 MiB), or a peer's "
          "largest block could not be fetched");
    }
  }
  if (!ledger::IsValidId(c.node_id))
    return Status::InvalidArgument(path + ": node.id: not a valid id");
  auto hp = ParseHostPort(c.listen);
  if (!hp.ok()) return hp.status().Prefixed(path + ": api.listen");
  if (c.public_url.empty()) c.public_url = "http://" + c.listen;
  if (c.raft.enabled) {
    auto rp = ParseHostPort(c.raft.address);
    if (!rp.ok()) return rp.status().Prefixed(path + ": raft.address");
  }
  c.data_dir = resolve(c.data_dir);
  c.key_file = resolve(c.key_file);
  c.genesis_file = resolve(c.genesis_file);
  c.fhir_key_file = resolve(c.fhir_key_file);
  c.backup_dir =
      c.backup_dir.empty() ? (fs::path(c.data_dir) / "backups").string() : resolve(c.backup_dir);
  c.fhir_definitions = resolve(c.fhir_definitions);
  source = PassphraseSource{{}, pass_env};
  if (!pass_file.empty()) {
    Status s;
    c.passphrase = ReadFileText(resolve(pass_file), s);
    if (!s.ok()) return s.Prefixed(path + ": node.passphrase_file");
    while (!c.passphrase.empty() && (c.passphrase.back() == '\n' || c.passphrase.back() == '\r')) {
      c.passphrase.pop_back();
    }
    if (c.passphrase.empty()) {
      return Status::InvalidArgument(path + ": node.passphrase_file: " + resolve(pass_file) +
                                     " is empty");
    }
    source.from = "node.passphrase_file";
  } else if (const char* env = std::getenv(pass_env.c_str()); env != nullptr && *env != 0) {
    c.passphrase = env;
    source.from = "$" + pass_env;
  }
  if (c.passphrase.empty() && need == NeedPassphrase::kYes) {
    return Status::InvalidArgument(path + ": no passphrase for the node key: set $" + pass_env +
                                   " or node.passphrase_file");
  }
  return c;
}

}  // namespace

Result<NodeConfig> LoadConfig(const std::string& path) {
  PassphraseSource source;
  return ReadConfig(path, NeedPassphrase::kYes, source);
}

namespace {

// An IPv4 address, a bracketed IPv6 address, or an RFC 1123 host name
// (labels of letters, digits and '-', not all-numeric at the end).
bool WellFormedHost(const std::string& h) {
  unsigned char addr[sizeof(in6_addr)];
  if (h.size() > 2 && h.front() == '[' && h.back() == ']') {
    return ::inet_pton(AF_INET6, h.substr(1, h.size() - 2).c_str(), addr) == 1;
  }
  if (::inet_pton(AF_INET, h.c_str(), addr) == 1) return true;
  if (h.empty() || h.size() > 253) return false;
  for (size_t start = 0;;) {
    const size_t dot = h.find('.', start);
    std::string_view label = std::string_view(h).substr(
        start, dot == std::string::npos ? std::string::npos : dot - start);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') {
      return false;
    }
    bool numeric = true;
    for (char ch : label) {
      if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '-') return false;
      if (!std::isdigit(static_cast<unsigned char>(ch))) numeric = false;
    }
    if (dot == std::string::npos) return !numeric;  // "999.1.1.1" is no name
    start = dot + 1;
  }
}

}  // namespace

Result<ConfigCheck> CheckConfig(const std::string& path) {
  PassphraseSource source;
  MC_ASSIGN_OR_RETURN(NodeConfig c, ReadConfig(path, NeedPassphrase::kNo, source));
  auto error = [&](const std::string& key, const std::string& why) {
    return Status::InvalidArgument(path + ": " + key + ": " + why);
  };
  ConfigCheck out;
  out.passphrase_from = source.from;
  out.passphrase_env = source.env;

  // Addresses: LoadConfig parsed host:port; the host must be one bind() can take.
  for (auto [key, value] : {std::pair{"api.listen", c.listen}, {"raft.address", c.raft.address}}) {
    if (std::string_view(key) == "raft.address" && !c.raft.enabled) continue;
    auto hp = ParseHostPort(value);
    if (!hp.ok()) return hp.status().Prefixed(path + ": " + key);
    if (!WellFormedHost(hp->first)) {
      return error(key, "\"" + hp->first + "\" is not an IP address or host name");
    }
  }

  // The genesis, through the rules block 0 of a new chain is applied with.
  Status read;
  std::string text = ReadFileText(c.genesis_file, read);
  if (!read.ok()) return read.Prefixed(path + ": node.genesis");
  auto json = api::ParseJson(text, c.genesis_file);
  if (!json.ok()) return json.status().Prefixed(path + ": node.genesis");
  auto genesis = api::GenesisFromJson(*json);
  if (!genesis.ok()) return genesis.status().Prefixed(path + ": node.genesis: " + c.genesis_file);
  {
    ledger::MemoryState empty;
    ledger::StateDelta delta(empty);
    ledger::Block b0 = ledger::MakeGenesisBlock(*genesis);
    Status applied = ledger::ApplyGenesis(*genesis, *b0.txs[0], delta);
    if (!applied.ok()) return applied.Prefixed(path + ": node.genesis: " + c.genesis_file);
  }
  out.consortium = genesis->consortium;
  const ledger::RegisterParticipant* me = nullptr;
  size_t nodes = 0;
  for (const auto& p : genesis->participants) {
    if (p.role == ledger::Role::kNode) ++nodes;
    if (p.id == c.node_id) me = &p;
  }
  if (me != nullptr && me->role != ledger::Role::kNode) {
    return error("node.id", c.node_id + " is not a node in the genesis " + c.genesis_file);
  }
  if (me == nullptr && !c.raft.enabled) {
    return error("node.id", c.node_id + " is not a node of the genesis " + c.genesis_file +
                                " (a node that joins later needs raft.enabled)");
  }
  if (nodes > 1 && !c.raft.enabled) {
    return error("raft.enabled", "false, but the genesis has " + std::to_string(nodes) +
                                     " nodes: each would order blocks alone");
  }
  out.founding = me != nullptr;
  if (me != nullptr && c.raft.enabled && me->node && me->node->raft_address != c.raft.address) {
    return error("raft.address", c.raft.address + " is not node " + c.node_id +
                                     "'s registered Raft address " + me->node->raft_address);
  }

  // Key files: parsed always, opened when there is a passphrase.
  auto check_key = [&](const std::string& key,
                       const std::string& file) -> Result<crypto::PublicKey> {
    auto id = crypto::ReadPublicIdentity(file);
    if (!id.ok()) return id.status().Prefixed(path + ": " + key);
    if (!c.passphrase.empty()) {
      auto keys = crypto::ReadKeyFile(file, c.passphrase);
      if (!keys.ok()) {
        return keys.status().Prefixed(path + ": " + key + " (passphrase from " + source.from + ")");
      }
    }
    return id->signing_public_key;
  };
  MC_ASSIGN_OR_RETURN(crypto::PublicKey node_key, check_key("node.key_file", c.key_file));
  if (me != nullptr && me->sign_key != node_key) {
    return error("node.key_file",
                 c.key_file + " is not node " + c.node_id + "'s registered key in the genesis");
  }

  std::error_code ec;
  out.data_dir_exists = fs::exists(c.data_dir, ec);
  if (out.data_dir_exists && !fs::is_directory(c.data_dir, ec)) {
    return error("node.data_dir", c.data_dir + " exists and is not a folder");
  }

  out.fhir_facade = !c.fhir_token.empty() && !c.fhir_key_file.empty();
  if (out.fhir_facade) {
    MC_ASSIGN_OR_RETURN(crypto::PublicKey org_key, check_key("fhir.key_file", c.fhir_key_file));
    for (const auto& p : genesis->participants) {
      if (p.sign_key == org_key && p.role != ledger::Role::kOrganisation &&
          p.role != ledger::Role::kPractitioner) {
        return error("fhir.key_file",
                     c.fhir_key_file + " is the key of " + p.id + ", not of an organisation");
      }
    }
    if (!c.fhir_definitions.empty()) {
      if (!fs::is_directory(c.fhir_definitions, ec)) {
        return error("fhir.definitions", c.fhir_definitions + " is not a folder");
      }
    } else {
      // Where the facade looks (src/api/fhir_facade.cpp): near the executable, then here.
      std::optional<fs::path> found;
      fs::path exe = fs::read_symlink("/proc/self/exe", ec);
      if (!ec) found = fhir::FindDefinitionsDirectory(exe.parent_path());
      if (!found) found = fhir::FindDefinitionsDirectory(fs::current_path(ec));
      if (!found) {
        return error("fhir.definitions",
                     "not set, and no FHIR R4 definitions were found near medchaind or in the "
                     "working folder (scripts/fhir-definitions.sh)");
      }
    }
  }
  out.config = std::move(c);
  return out;
}

std::string CheckSummary(const std::string& path, const ConfigCheck& k) {
  const NodeConfig& c = k.config;
  std::string line = "ok: " + path + ": node " + c.node_id + " of \"" + k.consortium + "\" (" +
                     (k.founding ? "in the genesis" : "joins an existing cluster") + "), API " +
                     c.listen + ", raft " + (c.raft.enabled ? c.raft.address : "off") +
                     ", data_dir " + c.data_dir + (k.data_dir_exists ? "" : " (not created yet)") +
                     ", FHIR facade " + (k.fhir_facade ? "on" : "off") + ", ";
  if (!k.passphrase_from.empty()) {
    line += "key file" + std::string(k.fhir_facade ? "s" : "") +
            " opened with the passphrase from " + k.passphrase_from;
  } else {
    line += "key file not opened: no passphrase ($" + k.passphrase_env +
            " is not set and node.passphrase_file is not configured)";
  }
  return line;
}

std::string FormatConfig(const NodeConfig& c, const std::string& passphrase_file) {
  std::ostringstream o;
  o << "# medchaind configuration (docs/operations.md)\n"
    << "[node]\n"
    << "id = \"" << c.node_id << "\"\n"
    << "data_dir = \"" << c.data_dir << "\"\n"
    << "key_file = \"" << c.key_file << "\"\n"
    << "genesis = \"" << c.genesis_file << "\"\n";
  if (!passphrase_file.empty()) o << "passphrase_file = \"" << passphrase_file << "\"\n";
  o << "sync = " << (c.sync ? "true" : "false") << "\n\n"
    << "[api]\n"
    << "listen = \"" << c.listen << "\"\n"
    << "public_url = \"" << c.public_url << "\"\n"
    << "max_body_bytes = " << c.max_body_bytes << "\n"
    << "threads = " << c.http_threads << "\n"
    << "wait_timeout_ms = " << c.wait_timeout_ms << "\n\n"
    << "[blocks]\n"
    << "max_txs = " << c.block_max_txs << "\n"
    << "max_bytes = " << c.block_max_bytes << "\n"
    << "max_delay_ms = " << c.block_max_delay_ms << "\n\n"
    << "[pool]\n"
    << "max_txs = " << c.pool_max_txs << "\n\n"
    << "[raft]\n"
    << "enabled = " << (c.raft.enabled ? "true" : "false") << "\n";
  if (c.raft.enabled) {
    o << "address = \"" << c.raft.address << "\"\n"
      << "election_timeout_ms = " << c.raft.election_timeout_ms << "\n"
      << "heartbeat_timeout_ms = " << c.raft.heartbeat_timeout_ms << "\n"
      << "snapshot_threshold = " << c.raft.snapshot_threshold << "\n"
      << "snapshot_trailing = " << c.raft.snapshot_trailing << "\n";
    if (!c.raft.join.empty()) {
      o << "join = [";
      for (size_t i = 0; i < c.raft.join.size(); ++i) {
        o << (i ? ", " : "") << "\"" << c.raft.join[i] << "\"";
      }
      o << "]\n";
    }
  }
  if (!c.fhir_token.empty() || !c.fhir_key_file.empty()) {
    o << "\n[fhir]\n";
    if (!c.fhir_token.empty()) o << "token = \"" << c.fhir_token << "\"\n";
    if (!c.fhir_key_file.empty()) o << "key_file = \"" << c.fhir_key_file << "\"\n";
  }
  return o.str();
}

static Status WriteText(const fs::path& p, const std::string& text, mode_t mode) {
  std::error_code ec;
  fs::create_directories(p.parent_path(), ec);
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  if (!out) return Status::IOError("cannot write " + p.string());
  out << text;
  out.close();
  if (!out) return Status::IOError("cannot write " + p.string());
  ::chmod(p.c_str(), mode);
  return Status::Ok();
}

Status InitNetwork(const InitOptions& o) {
  fs::path dir(o.dir);
  if (fs::exists(dir / "genesis.json")) {
    return Status::AlreadyExists(o.dir + " already holds a network (genesis.json)");
  }
  if (o.passphrase.empty())
    return Status::InvalidArgument("a passphrase for the key files is required");
  if (o.organisations.empty())
    return Status::InvalidArgument("at least one organisation is required");
  if (o.nodes == 0 || o.nodes > 64) return Status::InvalidArgument("between 1 and 64 nodes");
  if ((!o.api_ports.empty() && o.api_ports.size() != o.nodes) ||
      (!o.raft_ports.empty() && o.raft_ports.size() != o.nodes)) {
    return Status::InvalidArgument("give exactly one API and one Raft port per node");
  }
  // Node k's ports (1-based); every one is checked before anything is written,
  // so a base port near 65535 cannot put an impossible address in the genesis.
  auto api_port_of = [&](unsigned k) -> long {
    return o.api_ports.empty() ? static_cast<long>(o.base_port) + k - 1 : o.api_ports[k - 1];
  };
  auto raft_port_of = [&](unsigned k) -> long {
    return o.raft_ports.empty() ? static_cast<long>(o.raft_base_port) + k - 1 : o.raft_ports[k - 1];
  };
  for (unsigned k = 1; k <= o.nodes; ++k) {
    for (auto [what, port] : {std::pair{"API", api_port_of(k)}, {"Raft", raft_port_of(k)}}) {
      if (port < 1 || port > 65535) {
        return Status::InvalidArgument(std::string(what) + " port of node " + std::to_string(k) +
                                       " would be " + std::to_string(port) +
                                       ", outside 1..65535: choose lower base ports");
      }
    }
  }
  std::error_code ec;
  fs::create_directories(dir / "keys", ec);
  if (ec) return Status::IOError("cannot create " + (dir / "keys").string() + ": " + ec.message());
  crypto::KdfParams kdf =
      o.fast_kdf ? crypto::KdfParams::Minimum() : crypto::KdfParams::Interactive();

  ledger::Genesis g;
  g.consortium = o.consortium;
  g.time_ms = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                        std::chrono::system_clock::now().time_since_epoch())
                                        .count());
  auto make = [&](const std::string& id, ledger::Role role, const std::string& org,
                  const std::string& name) -> Result<ledger::RegisterParticipant> {
    auto keys = crypto::KeyMaterial::Generate(id, id);
    MC_RETURN_IF_ERROR(
        crypto::WriteKeyFile((dir / "keys" / (id + ".key")).string(), keys, o.passphrase, kdf));
    ledger::RegisterParticipant r;
    r.id = id;
    r.role = role;
    r.organisation = org;
    r.sign_key = keys.signing.public_key();
    r.box_key = keys.encryption.public_key();
    r.display_name = name;
    return r;
  };
  MC_ASSIGN_OR_RETURN(auto admin,
                      make("admin", ledger::Role::kAdmin, "", "Consortium administrator"));
  g.participants.push_back(admin);
  for (const auto& org : o.organisations) {
    if (!ledger::IsValidId(org))
      return Status::InvalidArgument("not a valid organisation id: " + org);
    MC_ASSIGN_OR_RETURN(auto r, make(org, ledger::Role::kOrganisation, "", org));
    g.participants.push_back(r);
  }
  std::vector<NodeConfig> configs;
  for (unsigned k = 1; k <= o.nodes; ++k) {
    std::string id = "node-" + std::to_string(k);
    MC_ASSIGN_OR_RETURN(
        auto r, make(id, ledger::Role::kNode, o.organisations[0], "node " + std::to_string(k)));
    NodeConfig c;
    c.node_id = id;
    const long api_port = api_port_of(k);
    const long raft_port = raft_port_of(k);
    c.listen = o.host + ":" + std::to_string(api_port);
    c.public_url = "http://" + c.listen;
    r.node = ledger::NodeInfo{k, o.host + ":" + std::to_string(raft_port), c.public_url};
    g.participants.push_back(r);
    c.data_dir = ".";
    c.key_file = "../keys/" + id + ".key";
    c.genesis_file = "../genesis.json";
    c.raft.enabled = o.raft;
    c.raft.address = r.node->raft_address;
    c.fhir_key_file = "../keys/" + o.organisations[0] + ".key";
    configs.push_back(c);
  }
  // Through the codec's rules before anything depends on it.
  auto checked = ledger::DecodeBody<ledger::Genesis>(ledger::EncodeBody(g), "genesis");
  if (!checked.ok()) return checked.status();
  MC_RETURN_IF_ERROR(WriteText(dir / "genesis.json", api::GenesisToJson(g).dump(2) + "\n", 0600));
  MC_RETURN_IF_ERROR(WriteText(dir / "passphrase", o.passphrase + "\n", 0600));
  for (unsigned k = 1; k <= o.nodes; ++k) {
    fs::path nd = dir / ("node" + std::to_string(k));
    MC_RETURN_IF_ERROR(
        WriteText(nd / "medchaind.toml", FormatConfig(configs[k - 1], "../passphrase"), 0600));
  }
  return Status::Ok();
}

}  // namespace medchain::node
