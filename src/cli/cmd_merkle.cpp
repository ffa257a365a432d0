// Copyright (c) medchain developers.
// `medchain merkle`: RFC 6962 roots and offline proof checks (docs/merkle.md).
//
//   medchain merkle root --leaves-file F
//   medchain merkle verify-inclusion --leaf-hash HEX --index I --size N --root HEX
//                                    --proof HEX,HEX,...
//   medchain merkle verify-consistency --size1 M --size2 N --root1 HEX --root2 HEX
//                                      --proof HEX,HEX,...
//
// Exit codes (src/cli/command.h): 0 the proof holds ("ok" on stdout); 1 it
// does not (the reason on stderr); 2 malformed arguments: a missing option, a
// number that is not a plain decimal uint64, text that is not hex, an
// unreadable file. A hash that is valid hex but not 32 bytes is well-formed
// input the verifier refuses with a reason, so it exits 1, like any other
// proof that does not hold. `--proof ""` is the empty proof.
#include <charconv>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "cli/command.h"
#include "medchain/core/bytes.h"
#include "medchain/core/merkle.h"

namespace medchain::cli {
namespace {

struct RootOptions {
  std::string leaves_file;
};

struct InclusionOptions {
  std::string leaf_hash, index, size, root, proof;
};

struct ConsistencyOptions {
  std::string size1, size2, root1, root2, proof;
};

// Plain decimal digits only: no sign, no spaces, no hex, at most 2^64 - 1.
bool ParseU64(const std::string& text, uint64_t& out) {
  if (text.empty()) return false;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
  }
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && end == text.data() + text.size();
}

bool ParseHex(const std::string& option, const std::string& text, Bytes& out, std::string& error) {
  auto bytes = FromHex(text);
  if (!bytes) {
    error = option + ": not hex (an even number of 0-9, a-f, A-F characters)";
    return false;
  }
  out = std::move(*bytes);
  return true;
}

// "a,b,c" into hex entries; "" is the empty proof.
bool ParseProof(const std::string& text, std::vector<Bytes>& out, std::string& error) {
  out.clear();
  if (text.empty()) return true;
  size_t start = 0;
  for (size_t entry = 0;; ++entry) {
    const size_t comma = text.find(',', start);
    const std::string item =
        text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    Bytes bytes;
    if (!ParseHex("--proof entry " + std::to_string(entry), item, bytes, error)) return false;
    out.push_back(std::move(bytes));
    if (comma == std::string::npos) return true;
    start = comma + 1;
  }
}

bool ParseNumber(const std::string& option, const std::string& text, uint64_t& out,
                 std::string& error) {
  if (ParseU64(text, out)) return true;
  error = option + ": '" + text + "' is not a decimal number from 0 to 2^64 - 1";
  return false;
}

int Report(const Status& st) {
  if (!st.ok()) return Fail("proof does not verify: " + st.message(), kExitFail);
  std::cout << "ok\n";
  return kExitOk;
}

int RunRoot(const RootOptions& opts) {
  std::error_code ec;
  std::ifstream in(opts.leaves_file, std::ios::binary);
  if (!in || std::filesystem::is_directory(opts.leaves_file, ec)) {
    return Fail("cannot read " + opts.leaves_file, kExitUsage);
  }
  const std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  if (in.bad()) return Fail("cannot read " + opts.leaves_file, kExitUsage);
  std::vector<Hash> leaves;
  size_t start = 0;
  for (size_t line = 1; start < text.size(); ++line) {
    size_t nl = text.find('\n', start);
    const size_t end = nl == std::string::npos ? text.size() : nl;
    std::string_view hex(text.data() + start, end - start);
    if (!hex.empty() && hex.back() == '\r') hex.remove_suffix(1);
    auto input = FromHex(hex);
    if (!input) {
      return Fail(opts.leaves_file + " line " + std::to_string(line) +
                      ": not hex (one hex-encoded leaf input per line)",
                  kExitUsage);
    }
    leaves.push_back(merkle::HashLeaf(*input));
    if (nl == std::string::npos) break;
    start = nl + 1;  // a final newline ends the last line, it adds no leaf
  }
  std::cout << ToHex(merkle::ComputeRoot(leaves)) << "\n";
  return kExitOk;
}

int RunVerifyInclusion(const InclusionOptions& opts) {
  std::string error;
  Bytes leaf, root;
  uint64_t index = 0, size = 0;
  std::vector<Bytes> proof;
  if (!ParseHex("--leaf-hash", opts.leaf_hash, leaf, error) ||
      !ParseNumber("--index", opts.index, index, error) ||
      !ParseNumber("--size", opts.size, size, error) ||
      !ParseHex("--root", opts.root, root, error) || !ParseProof(opts.proof, proof, error)) {
    return Fail(error, kExitUsage);
  }
  return Report(merkle::VerifyInclusionBytes(leaf, index, size, proof, root));
}

int RunVerifyConsistency(const ConsistencyOptions& opts) {
  std::string error;
  Bytes root1, root2;
  uint64_t size1 = 0, size2 = 0;
  std::vector<Bytes> proof;
  if (!ParseNumber("--size1", opts.size1, size1, error) ||
      !ParseNumber("--size2", opts.size2, size2, error) ||
      !ParseHex("--root1", opts.root1, root1, error) ||
      !ParseHex("--root2", opts.root2, root2, error) || !ParseProof(opts.proof, proof, error)) {
    return Fail(error, kExitUsage);
  }
  return Report(merkle::VerifyConsistencyBytes(size1, size2, proof, root1, root2));
}

CommandGroup g_merkle("merkle", [](CLI::App& app, ExitCode& rc) {
  auto* merkle = app.add_subcommand("merkle", "RFC 6962 Merkle roots and offline proof checks")
                     ->require_subcommand(1);

  auto root_opts = std::make_shared<RootOptions>();
  auto* root = merkle->add_subcommand("root", "Print the root over leaf inputs, one hex per line");
  root->add_option("--leaves-file", root_opts->leaves_file,
                   "File of hex leaf inputs, one per line (an empty line is an empty input)")
      ->required();
  root->callback([&rc, root_opts] { rc = RunRoot(*root_opts); });

  auto inc = std::make_shared<InclusionOptions>();
  auto* vi = merkle->add_subcommand("verify-inclusion",
                                    "Check an inclusion proof (RFC 9162 section 2.1.3.2)");
  vi->add_option("--leaf-hash", inc->leaf_hash, "Leaf hash, hex (SHA-256(0x00 || input))")
      ->required();
  vi->add_option("--index", inc->index, "0-based leaf index")->required();
  vi->add_option("--size", inc->size, "Tree size")->required();
  vi->add_option("--root", inc->root, "Root of the tree of that size, hex")->required();
  vi->add_option("--proof", inc->proof,
                 "Audit path, comma-separated hex, bottom-up (\"\" if empty)")
      ->required();
  vi->callback([&rc, inc] { rc = RunVerifyInclusion(*inc); });

  auto con = std::make_shared<ConsistencyOptions>();
  auto* vc = merkle->add_subcommand("verify-consistency",
                                    "Check a consistency proof (RFC 9162 section 2.1.4.2)");
  vc->add_option("--size1", con->size1, "Older tree size")->required();
  vc->add_option("--size2", con->size2, "Newer tree size")->required();
  vc->add_option("--root1", con->root1, "Root of the older tree, hex")->required();
  vc->add_option("--root2", con->root2, "Root of the newer tree, hex")->required();
  vc->add_option("--proof", con->proof, "Consistency proof, comma-separated hex (\"\" if empty)")
      ->required();
  vc->callback([&rc, con] { rc = RunVerifyConsistency(*con); });
});

}  // namespace
}  // namespace medchain::cli
