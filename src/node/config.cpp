// Copyright (c) medchain developers.
#include "medchain/node/config.h"

#include <sys/stat.h>

#include <toml++/toml.h>
#include <algorithm>
#include <cassert>
#include <charconv>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "medchain/api/json.h"
#include "medchain/crypto/keyfile.h"

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
    << "A node reads one TOML file: `medchaind --config FILE` (docs/operations.md).\n\n"
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

Result<NodeConfig> LoadConfig(const std::string& path) {
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
  c.fhir_definitions = resolve(c.fhir_definitions);
  if (!pass_file.empty()) {
    Status s;
    c.passphrase = ReadFileText(resolve(pass_file), s);
    if (!s.ok()) return s.Prefixed(path + ": node.passphrase_file");
    while (!c.passphrase.empty() && (c.passphrase.back() == '\n' || c.passphrase.back() == '\r')) {
      c.passphrase.pop_back();
    }
  } else if (const char* env = std::getenv(pass_env.c_str())) {
    c.passphrase = env;
  }
  if (c.passphrase.empty()) {
    return Status::InvalidArgument(path + ": no passphrase for the node key: set $" + pass_env +
                                   " or node.passphrase_file");
  }
  return c;
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
