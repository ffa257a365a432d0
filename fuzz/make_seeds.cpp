// Copyright (c) medchain developers.
// Writes seed inputs for the fuzz targets from a real chain (a stopped
// node's data folder): every block, its transactions, a proposal and Raft
// frames of each block, a snapshot envelope, the JSON form of each
// transaction and of the genesis. Used by fuzz/make_corpus.py.
//
//   fuzz_make_seeds NODE_DATA_DIR OUT_DIR
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "consensus/framing.h"
#include "medchain/api/json.h"
#include "medchain/core/sha256.h"
#include "medchain/ledger/block.h"
#include "medchain/store/store.h"

using namespace medchain;
namespace fs = std::filesystem;

namespace {

void Write(const fs::path& dir, ByteView bytes) {
  fs::create_directories(dir);
  // Named by content, as libFuzzer names corpus files: no duplicates.
  std::ofstream(dir / ToHex(Sha256Digest(bytes)).substr(0, 16), std::ios::binary)
      .write(reinterpret_cast<const char*>(bytes.data()),
             static_cast<std::streamsize>(bytes.size()));
}

void WriteText(const fs::path& dir, const std::string& text) {
  Write(dir, ByteView(reinterpret_cast<const uint8_t*>(text.data()), text.size()));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: fuzz_make_seeds NODE_DATA_DIR OUT_DIR\n");
    return 2;
  }
  store::StoreOptions so;
  so.path = (fs::path(argv[1]) / "ledger").string();
  so.read_only = true;
  auto st = store::Store::Open(so);
  if (!st.ok()) {
    std::fprintf(stderr, "fuzz_make_seeds: %s\n", st.status().ToString().c_str());
    return 1;
  }
  const fs::path out(argv[2]);
  const store::Tip tip = (*st)->GetTip();
  size_t txs = 0;
  for (uint64_t h = 0; h <= tip.height; ++h) {
    auto raw = (*st)->GetBlockBytes(h);
    if (!raw.ok() || !*raw) continue;
    auto block = ledger::Block::Decode(**raw);
    if (!block.ok()) continue;
    Write(out / "block", **raw);
    Write(out / "block", block->header.Encode());
    ledger::Proposal p;
    p.block = *block;
    const Bytes proposal = p.Encode();
    Write(out / "block", proposal);
    std::vector<uint8_t> framed(consensus::FramedSize(proposal.size()));
    consensus::FrameEntry(proposal, framed.data());
    Write(out / "consensus", ByteView(framed.data(), framed.size()));
    if (h == tip.height) {
      Write(out / "consensus", consensus::EncodeSnapshot(h + 7, 3, block->header.Encode()));
    }
    for (const auto& tx : block->txs) {
      if (txs++ > 300) break;
      Write(out / "transaction", tx->bytes());
      WriteText(out / "api_json", api::TxToJson(*tx).dump());
    }
  }
  if (auto g = (*st)->GetGenesis(); g.ok() && *g) {
    auto genesis = ledger::DecodeBody<ledger::Genesis>(**g, "genesis");
    if (genesis.ok()) WriteText(out / "api_json", api::GenesisToJson(*genesis).dump());
  }
  std::printf("fuzz_make_seeds: %llu blocks, %zu transactions\n",
              static_cast<unsigned long long>(tip.height + 1), txs);
  return 0;
}
