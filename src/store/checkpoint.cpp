// Copyright (c) medchain developers.
#include "medchain/store/checkpoint.h"

#include <charconv>

namespace medchain::store {

std::string CheckpointOrigin(const ledger::Genesis& genesis, const Hash& genesis_hash) {
  std::string slug;
  for (char c : genesis.consortium) {
    if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) {
      slug += c;
    } else if (c >= 'A' && c <= 'Z') {
      slug += static_cast<char>(c - 'A' + 'a');
    } else if (!slug.empty() && slug.back() != '-') {
      slug += '-';
    }
  }
  while (!slug.empty() && slug.back() == '-') slug.pop_back();
  if (slug.empty()) slug = "ledger";
  return "medchain/" + slug + "/" + ToHex(genesis_hash).substr(0, 16);
}

crypto::Checkpoint MakeCheckpoint(const std::string& origin, const Tip& tip) {
  crypto::Checkpoint c;
  c.origin = origin;
  c.size = tip.log_size;
  c.root = tip.log_root;
  c.extensions = {"height " + std::to_string(tip.height), "block " + ToHex(tip.hash)};
  return c;
}

Result<std::pair<uint64_t, Hash>> CheckpointBlock(const crypto::Checkpoint& c) {
  if (c.extensions.size() < 2 || c.extensions[0].rfind("height ", 0) != 0 ||
      c.extensions[1].rfind("block ", 0) != 0) {
    return Status::InvalidArgument("checkpoint lacks its height and block lines");
  }
  std::string_view h = std::string_view(c.extensions[0]).substr(7);
  uint64_t height = 0;
  auto [p, ec] = std::from_chars(h.data(), h.data() + h.size(), height);
  if (ec != std::errc() || p != h.data() + h.size() || (h.size() > 1 && h[0] == '0')) {
    return Status::InvalidArgument("checkpoint height is not a canonical number");
  }
  auto hash = HashFromHex(std::string_view(c.extensions[1]).substr(6));
  if (!hash) return Status::InvalidArgument("checkpoint block hash is not 64 hex digits");
  return std::make_pair(height, *hash);
}

Status CheckCheckpoint(std::string_view note, const std::string& origin, const Tip& tip,
                       const std::vector<std::pair<std::string, ledger::PublicKey>>& nodes) {
  std::vector<crypto::NoteVerifierKey> known;
  for (const auto& [id, key] : nodes) {
    auto v = crypto::MakeNoteVerifierKey(id, key);
    if (v.ok()) known.push_back(std::move(*v));
  }
  MC_ASSIGN_OR_RETURN(crypto::Checkpoint c, crypto::OpenCheckpoint(note, known));
  if (c.origin != origin)
    return Status::InvalidArgument("origin \"" + c.origin + "\" is not this chain's");
  if (c.size != tip.log_size) {
    return Status::InvalidArgument("signs log size " + std::to_string(c.size) + ", the block has " +
                                   std::to_string(tip.log_size));
  }
  if (c.root != tip.log_root) return Status::InvalidArgument("signs a different log root");
  MC_ASSIGN_OR_RETURN(auto block, CheckpointBlock(c));
  if (block.first != tip.height || block.second != tip.hash) {
    return Status::InvalidArgument("names a different block");
  }
  return Status::Ok();
}

}  // namespace medchain::store
