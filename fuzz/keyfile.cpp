// Copyright (c) medchain developers.
// Public identity files (what `medchain identity` shares): parsing never
// crashes. Encrypted key files are not fuzzed through DecryptKeyFile here:
// each attempt runs Argon2id at the file's stated cost.
#include "medchain/crypto/keyfile.h"
#include "fuzz_util.h"

using namespace medchain;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  (void)crypto::ParsePublicIdentity(fuzz::Text(data, size));
  return 0;
}
