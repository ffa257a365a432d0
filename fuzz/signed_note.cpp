// Copyright (c) medchain developers.
// Signed notes and checkpoints (C2SP signed-note, tlog-checkpoint) as an
// auditor receives them: parsing never crashes, and what parses formats to a
// fixed point (parse(format(parse(x))) formats the same), and verifier keys
// likewise.
#include "medchain/crypto/signed_note.h"
#include "fuzz_util.h"

using namespace medchain;

namespace {

// A checkpoint body that parses formats to a fixed point.
void CheckCheckpointBody(std::string_view text) {
  auto cp = crypto::ParseCheckpointBody(text);
  if (!cp.ok()) return;
  const std::string body = crypto::FormatCheckpointBody(*cp);
  auto again = crypto::ParseCheckpointBody(body);
  MC_FUZZ_CHECK(again.ok() && crypto::FormatCheckpointBody(*again) == body,
                "checkpoint format is a fixed point");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text = fuzz::Text(data, size);
  if (auto note = crypto::ParseNote(text); note.ok()) {
    const std::string once = crypto::FormatNote(*note);
    auto again = crypto::ParseNote(once);
    MC_FUZZ_CHECK(again.ok(), "a formatted note parses");
    MC_FUZZ_CHECK(crypto::FormatNote(*again) == once, "note format is a fixed point");
    CheckCheckpointBody(note->text);
  }
  CheckCheckpointBody(text);
  if (auto vk = crypto::ParseNoteVerifierKey(text); vk.ok()) {
    const std::string once = crypto::FormatNoteVerifierKey(*vk);
    auto again = crypto::ParseNoteVerifierKey(once);
    MC_FUZZ_CHECK(again.ok() && crypto::FormatNoteVerifierKey(*again) == once,
                  "verifier key format is a fixed point");
  }
  return 0;
}
