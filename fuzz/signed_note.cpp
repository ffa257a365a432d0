// Copyright (c) medchain developers.
// Signed notes and checkpoints (C2SP signed-note, tlog-checkpoint) as an
// auditor receives them: parsing never crashes, and what parses formats to a
// fixed point (parse(format(parse(x))) formats the same), and verifier keys
// likewise.
#include "fuzz_util.h"
#include "medchain/crypto/signed_note.h"

using namespace medchain;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text = fuzz::Text(data, size);
  if (auto note = crypto::ParseNote(text); note.ok()) {
    const std::string once = crypto::FormatNote(*note);
    auto again = crypto::ParseNote(once);
    MC_FUZZ_CHECK(again.ok(), "a formatted note parses");
    MC_FUZZ_CHECK(crypto::FormatNote(*again) == once, "note format is a fixed point");
    if (auto cp = crypto::ParseCheckpointBody(note->text); cp.ok()) {
      const std::string body = crypto::FormatCheckpointBody(*cp);
      auto cp2 = crypto::ParseCheckpointBody(body);
      MC_FUZZ_CHECK(cp2.ok() && crypto::FormatCheckpointBody(*cp2) == body,
                    "checkpoint format is a fixed point");
    }
  }
  if (auto cp = crypto::ParseCheckpointBody(text); cp.ok()) {
    const std::string body = crypto::FormatCheckpointBody(*cp);
    auto cp2 = crypto::ParseCheckpointBody(body);
    MC_FUZZ_CHECK(cp2.ok() && crypto::FormatCheckpointBody(*cp2) == body,
                  "checkpoint format is a fixed point");
  }
  if (auto vk = crypto::ParseNoteVerifierKey(text); vk.ok()) {
    const std::string once = crypto::FormatNoteVerifierKey(*vk);
    auto again = crypto::ParseNoteVerifierKey(once);
    MC_FUZZ_CHECK(again.ok() && crypto::FormatNoteVerifierKey(*again) == once,
                  "verifier key format is a fixed point");
  }
  return 0;
}
