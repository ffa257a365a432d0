// Copyright (c) medchain developers.
// The config key table (node::ConfigKeys) against LoadConfig: every key in
// the table is read by LoadConfig with the table's type and range, every
// default the table states is the one LoadConfig applies, and nothing outside
// the table is accepted. docs/configuration.md is generated from the table
// (tests/integration/config_reference_test.py compares the file).
#include <gtest/gtest.h>
#include <stdlib.h>

#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "medchain/node/config.h"
#include "test_util.h"

namespace medchain::node {
namespace {

using Values = std::map<std::string, std::map<std::string, std::string>>;  // section -> key -> TOML

// Every field of a loaded config, so two loads can be compared whole.
std::string Fields(const NodeConfig& c) {
  std::ostringstream o;
  o << c.node_id << '|' << c.data_dir << '|' << c.key_file << '|' << c.passphrase << '|'
    << c.genesis_file << '|' << c.listen << '|' << c.public_url << '|' << c.max_body_bytes << '|'
    << c.http_threads << '|' << c.wait_timeout_ms << '|' << c.block_max_txs << '|'
    << c.block_max_bytes << '|' << c.block_max_delay_ms << '|' << c.pool_max_txs << '|' << c.sync
    << '|' << c.fhir_token << '|' << c.fhir_key_file << '|' << c.fhir_definitions << '|'
    << c.log_level << '|' << c.raft.enabled << '|' << c.raft.address << '|'
    << c.raft.election_timeout_ms << '|' << c.raft.heartbeat_timeout_ms << '|'
    << c.raft.snapshot_threshold << '|' << c.raft.snapshot_trailing << '|' << c.peer_reply_max_bytes
    << '|' << c.refused_reads_per_minute;
  for (const auto& j : c.raft.join) o << '|' << j;
  return o.str();
}

class ConfigTable : public ::testing::Test {
 protected:
  void SetUp() override {
    ::setenv("MEDCHAIN_PASSPHRASE", "from-default-env", 1);
    ::setenv("MEDCHAIN_CONFIG_TEST_PASS", "from-other-env", 1);
  }
  void TearDown() override {
    ::unsetenv("MEDCHAIN_PASSPHRASE");
    ::unsetenv("MEDCHAIN_CONFIG_TEST_PASS");
  }

  // The required keys only (and raft.address, read only when raft is on).
  static Values Base() {
    return {{"node",
             {{"id", "\"node-1\""},
              {"data_dir", "\".\""},
              {"key_file", "\"node-1.key\""},
              {"genesis", "\"genesis.json\""}}},
            {"raft", {{"address", "\"127.0.0.1:17070\""}}}};
  }

  std::string Path() const { return m_dir.Sub("medchaind.toml"); }

  Result<NodeConfig> Load(const Values& values) {
    std::ofstream out(Path(), std::ios::trunc);
    for (const auto& [section, keys] : values) {
      out << "[" << section << "]\n";
      for (const auto& [key, value] : keys) out << key << " = " << value << "\n";
    }
    out.close();
    return LoadConfig(Path());
  }

  Result<NodeConfig> LoadWith(const ConfigKey& k, const std::string& value) {
    Values v = Base();
    v[std::string(k.section)][std::string(k.name)] = value;
    return Load(v);
  }

  static std::string Name(const ConfigKey& k) {
    return std::string(k.section) + "." + std::string(k.name);
  }

  testing::TempDir m_dir;
};

TEST_F(ConfigTable, IsWellFormed) {
  std::set<std::string_view> sections;
  for (const auto& s : ConfigSections()) {
    EXPECT_TRUE(sections.insert(s.name).second) << s.name;
    EXPECT_FALSE(s.description.empty()) << s.name;
  }
  std::set<std::string> seen;
  ASSERT_GE(ConfigKeys().size(), 25u);
  for (const auto& k : ConfigKeys()) {
    SCOPED_TRACE(Name(k));
    EXPECT_TRUE(seen.insert(Name(k)).second) << "listed twice";
    EXPECT_TRUE(sections.count(k.section)) << "section not in ConfigSections()";
    EXPECT_FALSE(k.description.empty());
    EXPECT_EQ(k.description.find('|'), std::string_view::npos) << "breaks the Markdown table";
    // Exactly one of: required, a constant default, a note on what happens.
    EXPECT_EQ(int(k.required) + int(!k.default_value.empty()) + int(!k.default_note.empty()), 1);
    if (k.type == ConfigType::kInteger) {
      EXPECT_LT(k.min, k.max);
    }
  }
}

// A value of the wrong type is refused naming the key: LoadConfig reads every
// key of the table, as the type the table gives.
TEST_F(ConfigTable, EveryKeyIsReadAsItsType) {
  for (const auto& k : ConfigKeys()) {
    SCOPED_TRACE(Name(k));
    std::string wrong = k.type == ConfigType::kInteger   ? "\"12\""
                        : k.type == ConfigType::kBoolean ? "\"yes\""
                                                         : "5";
    auto r = LoadWith(k, wrong);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.status().message().find(Path() + ": " + Name(k) + ": must be"), std::string::npos)
        << r.status().message();
  }
}

// The integer ranges LoadConfig enforces are the table's (and so the doc's).
TEST_F(ConfigTable, IntegerRangesAreTheTables) {
  int integers = 0;
  for (const auto& k : ConfigKeys()) {
    if (k.type != ConfigType::kInteger) continue;
    SCOPED_TRACE(Name(k));
    ++integers;
    for (int64_t v : {k.min, k.max}) {
      EXPECT_TRUE(LoadWith(k, std::to_string(v)).ok()) << v;
    }
    for (int64_t v : {k.min - 1, k.max + 1}) {
      auto r = LoadWith(k, std::to_string(v));
      ASSERT_FALSE(r.ok()) << v;
      EXPECT_NE(r.status().message().find(Name(k) + ": must be between " + std::to_string(k.min) +
                                          " and " + std::to_string(k.max)),
                std::string::npos)
          << r.status().message();
    }
  }
  EXPECT_GE(integers, 11);
}

// A block fetched from a peer must fit api.peer_reply_max_bytes: unset, it is
// raised to fit the largest block the other limits allow; set below that, the
// config is refused.
TEST_F(ConfigTable, PeerReplyLimitFitsTheLargestBlock) {
  Values v = Base();
  v["api"]["max_body_bytes"] = std::to_string(64 << 20);
  auto raised = Load(v);
  ASSERT_TRUE(raised.ok()) << raised.status().message();
  EXPECT_EQ(raised->peer_reply_max_bytes, size_t{65} << 20);

  v["api"]["peer_reply_max_bytes"] = std::to_string(64 << 20);
  auto refused = Load(v);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("api.peer_reply_max_bytes: must be at least " +
                                            std::to_string(65 << 20)),
            std::string::npos)
      << refused.status().message();

  v = Base();
  v["blocks"]["max_bytes"] = std::to_string(32 << 20);
  v["api"]["peer_reply_max_bytes"] = std::to_string(33 << 20);
  auto exact = Load(v);
  ASSERT_TRUE(exact.ok()) << exact.status().message();
  EXPECT_EQ(exact->peer_reply_max_bytes, size_t{33} << 20);

  auto defaults = Load(Base());
  ASSERT_TRUE(defaults.ok());
  EXPECT_EQ(defaults->peer_reply_max_bytes, size_t{64} << 20);
}

// A default the table states is what LoadConfig applies when the key is
// absent, and another value changes the loaded config (so the comparison
// covers the key's field).
TEST_F(ConfigTable, DefaultsAreTheOnesApplied) {
  const std::map<std::string, std::string> kOther = {
      {"node.passphrase_env", "\"MEDCHAIN_CONFIG_TEST_PASS\""},
      {"node.log_level", "\"debug\""},
      {"api.listen", "\"127.0.0.1:7999\""},
      {"raft.join", "[\"http://127.0.0.1:7071\"]"},
  };
  auto base = Load(Base());
  ASSERT_TRUE(base.ok()) << base.status().message();
  int checked = 0;
  for (const auto& k : ConfigKeys()) {
    if (k.default_value.empty()) continue;
    SCOPED_TRACE(Name(k));
    auto with_default = LoadWith(k, std::string(k.default_value));
    ASSERT_TRUE(with_default.ok()) << with_default.status().message();
    EXPECT_EQ(Fields(*with_default), Fields(*base));
    std::string other;
    switch (k.type) {
      case ConfigType::kInteger:
        other = std::to_string(k.default_value == std::to_string(k.min) ? k.max : k.min);
        break;
      case ConfigType::kBoolean:
        other = k.default_value == "true" ? "false" : "true";
        break;
      default:
        ASSERT_TRUE(kOther.count(Name(k))) << "add another valid value to kOther";
        other = kOther.at(Name(k));
    }
    auto with_other = LoadWith(k, other);
    ASSERT_TRUE(with_other.ok()) << with_other.status().message();
    EXPECT_NE(Fields(*with_other), Fields(*base)) << other;
    ++checked;
  }
  EXPECT_GE(checked, 17);
}

TEST_F(ConfigTable, RequiredKeysAreRequired) {
  for (const auto& k : ConfigKeys()) {
    if (!k.required) continue;
    SCOPED_TRACE(Name(k));
    Values v = Base();
    v[std::string(k.section)].erase(std::string(k.name));
    auto r = Load(v);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.status().message().find(Name(k) + ": required"), std::string::npos)
        << r.status().message();
  }
}

TEST_F(ConfigTable, NothingOutsideTheTableIsAccepted) {
  Values v = Base();
  v["api"]["listen_address"] = "\"127.0.0.1:7070\"";
  auto r = Load(v);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find(Path() + ": api.listen_address: unknown key"),
            std::string::npos)
      << r.status().message();
  // A key of another section is not legal here either.
  v = Base();
  v["pool"]["max_bytes"] = "1048576";
  r = Load(v);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("pool.max_bytes: unknown key"), std::string::npos);
  v = Base();
  v["consensus"]["enabled"] = "true";
  r = Load(v);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("consensus: unknown section"), std::string::npos);
}

TEST_F(ConfigTable, LogLevelIsOneSpdlogKnows) {
  Values v = Base();
  v["node"]["log_level"] = "\"verbose\"";
  auto r = Load(v);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("node.log_level: \"verbose\" is not one of"),
            std::string::npos)
      << r.status().message();
  for (const char* level : {"trace", "warn", "warning", "err", "off"}) {
    v["node"]["log_level"] = std::string("\"") + level + "\"";
    EXPECT_TRUE(Load(v).ok()) << level;
  }
}

// The reference has one row per key, under its section's heading.
TEST_F(ConfigTable, ReferenceListsEveryKeyUnderItsSection) {
  const std::string md = ConfigReferenceMarkdown();
  for (const auto& k : ConfigKeys()) {
    SCOPED_TRACE(Name(k));
    size_t heading = md.find("\n## [" + std::string(k.section) + "]\n");
    ASSERT_NE(heading, std::string::npos);
    size_t next = md.find("\n## [", heading + 1);
    size_t row = md.find("\n| `" + std::string(k.name) + "` | ", heading);
    ASSERT_NE(row, std::string::npos);
    EXPECT_LT(row, next);
  }
}

}  // namespace
}  // namespace medchain::node
