// Copyright (c) medchain developers.
// Node configuration (TOML, docs/operations.md) and the creation of a new
// network: genesis document, key files and one config per node.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "medchain/core/status.h"
#include "medchain/ledger/bodies.h"

namespace medchain::node {

struct RaftConfig {
  bool enabled = false;  // false: this node orders blocks alone (single-node network)
  std::string address;   // host:port of this node's Raft transport
  unsigned election_timeout_ms = 1000;
  unsigned heartbeat_timeout_ms = 100;
  // Raft snapshots (docs/consensus.md): one every `snapshot_threshold`
  // applied blocks, keeping the newest `snapshot_trailing` in the log.
  unsigned snapshot_threshold = 512;
  unsigned snapshot_trailing = 512;
  // API URLs of existing nodes that a node joining an existing cluster
  // (not a founding node) fetches the ledger from before it starts; the
  // founding nodes of the genesis are always asked too (docs/cluster.md).
  std::vector<std::string> join;
};

struct NodeConfig {
  std::string node_id;       // this node's participant id (role node)
  std::string data_dir;      // ledger/, raft/, medchaind.pid live here
  std::string key_file;      // the node's key file
  std::string passphrase;    // read from passphrase_env / passphrase_file
  std::string genesis_file;  // genesis.json
  std::string listen = "127.0.0.1:7070";
  std::string public_url;  // how others reach the API; default http://<listen>
  size_t max_body_bytes = 2 << 20;
  // The largest reply this node reads from a peer (a block with its
  // sidecars, fetched in catch-up); a larger one is dropped. LoadConfig
  // raises the default to fit the largest block this config allows.
  size_t peer_reply_max_bytes = size_t{64} << 20;
  unsigned http_threads = 256;
  unsigned wait_timeout_ms = 30000;
  // Refused reads committed per participant per minute on this node (burst
  // the same); more get 429 and leave no trace (docs/security.md).
  unsigned refused_reads_per_minute = 20;
  size_t block_max_txs = 2000;
  size_t block_max_bytes = 1 << 20;
  unsigned block_max_delay_ms = 20;
  size_t pool_max_txs = 200000;
  bool sync = true;              // fsync every block (never turn off in production)
  std::string fhir_token;        // bearer token of the organisation's EHR (FHIR facade)
  std::string fhir_key_file;     // the organisation's key file the FHIR facade acts with
  std::string fhir_definitions;  // folder of the FHIR R4 definitions
  std::string log_level = "info";
  // Where POST /v1/admin/backup writes backups (docs/operations.md);
  // LoadConfig makes it DATA_DIR/backups when the config does not say.
  std::string backup_dir;
  RaftConfig raft;
};

// The value type of a configuration key. kPath is a string naming a file or
// folder, relative to the config file's folder unless absolute.
enum class ConfigType { kString, kPath, kInteger, kBoolean, kStringList };

// One key of the configuration file. ConfigKeys() is the single list of
// legal keys: LoadConfig refuses any other key, takes the integer ranges from
// it, and docs/configuration.md is its Markdown (ConfigReferenceMarkdown).
struct ConfigKey {
  std::string_view section;  // TOML table, e.g. "api"
  std::string_view name;     // key inside it, e.g. "listen"
  ConfigType type = ConfigType::kString;
  int64_t min = 0, max = 0;  // kInteger only: the accepted range, inclusive
  bool required = false;
  // The default as a TOML value ("2000", "true", "\"info\""), or empty when
  // there is none or it is not a constant (then default_note says what
  // happens, e.g. "http://<listen>").
  std::string_view default_value;
  std::string_view default_note;
  std::string_view description;  // one or two sentences, Markdown
};

struct ConfigSection {
  std::string_view name;
  std::string_view description;
};

// Every legal key, grouped by section in the order of ConfigSections().
std::span<const ConfigKey> ConfigKeys();
std::span<const ConfigSection> ConfigSections();

// docs/configuration.md: every key with its type, default and meaning
// (medchaind --print-config-reference prints it).
std::string ConfigReferenceMarkdown();

// Reads a TOML config. Relative paths are relative to the config's folder.
// The passphrase comes from the environment variable named by
// node.passphrase_env (default MEDCHAIN_PASSPHRASE) or the file
// node.passphrase_file. Every error names the key and the file.
Result<NodeConfig> LoadConfig(const std::string& path);

// What CheckConfig found in a valid config.
struct ConfigCheck {
  NodeConfig config;       // as LoadConfig reads it (passphrase possibly empty)
  std::string consortium;  // the genesis' consortium
  bool founding = false;   // node.id is a node of the genesis (else it joins later)
  bool data_dir_exists = false;
  std::string passphrase_from;  // "node.passphrase_file" or "$NAME"; empty: none found
  std::string passphrase_env;   // the variable LoadConfig would read (node.passphrase_env)
  bool fhir_facade = false;     // fhir.token and fhir.key_file are both set
};

// Checks a config as far as it can be done without the network and without
// writing anything (medchaind --check-config, docs/operations.md):
//  - everything LoadConfig checks, except that finding no passphrase at all
//    is not an error (it may be given only in the service's environment): the
//    key files are then parsed but not opened;
//  - node.genesis exists and is a valid genesis (the rules block 0 of a new
//    chain is applied with);
//  - node.id is a node of the genesis or, with raft.enabled, may join later;
//    raft.enabled is on when the genesis has more than one node;
//  - node.key_file exists and is a key file; for a founding node its signing
//    key is the registered one; a passphrase, when there is one, opens it;
//  - api.listen and raft.address are host:port with a well-formed host name
//    or IP address; raft.address is the registered Raft address;
//  - node.data_dir, if it exists, is a folder;
//  - with the FHIR facade on: fhir.key_file as node.key_file (opened with the
//    same passphrase), and fhir.definitions (or the search for them) a folder.
// Errors name the file and the key, as LoadConfig's do. Not checked: free
// ports, reachable peers, and whether a ledger already in data_dir belongs to
// this genesis (the store is not opened).
Result<ConfigCheck> CheckConfig(const std::string& path);

// One line saying what CheckConfig found: "ok: FILE: node node-1 of ...".
std::string CheckSummary(const std::string& path, const ConfigCheck& check);

// The TOML text of a config (the inverse of LoadConfig, without the passphrase).
std::string FormatConfig(const NodeConfig& config, const std::string& passphrase_file);

// "host:port" -> (host, port).
Result<std::pair<std::string, int>> ParseHostPort(std::string_view text);

struct InitOptions {
  std::string dir;  // everything is written below it
  std::string consortium = "medchain dev consortium";
  std::vector<std::string> organisations = {"org-1"};
  unsigned nodes = 1;  // node-1 .. node-N, each of organisation 1
  std::string host = "127.0.0.1";
  int base_port = 7070;        // API ports base_port + k - 1
  int raft_base_port = 17070;  // Raft ports
  // Explicit ports of node 1..N (e.g. ports the OS picked, for tests); when
  // given (exactly `nodes` of each) they replace the base ports.
  std::vector<int> api_ports;
  std::vector<int> raft_ports;
  bool raft = false;       // nodes order through Raft
  std::string passphrase;  // for every key file
  bool fast_kdf = false;   // minimum Argon2id cost (dev and tests only)
};

// Creates DIR/genesis.json, DIR/keys/{admin,<org>,node-<k>}.key,
// DIR/passphrase (0600), and DIR/node<k>/medchaind.toml. Refuses to touch a
// folder that already has a genesis.json.
Status InitNetwork(const InitOptions& options);

}  // namespace medchain::node
