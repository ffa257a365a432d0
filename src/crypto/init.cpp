// Copyright (c) medchain developers.
#include "medchain/crypto/init.h"

#include <sodium.h>

#include <cstdio>
#include <cstdlib>

namespace medchain::crypto {

void Init() {
  // A function-local static is initialised once, under the compiler's
  // initialisation guard (C++11 "magic statics"), so racing callers block
  // until the first finishes. sodium_init returns 0 on first success and 1 if
  // already initialised; -1 is failure.
  static const bool ok = [] { return sodium_init() >= 0; }();
  if (!ok) {
    std::fputs("medchain: sodium_init failed (no randomness source?)\n", stderr);
    std::abort();
  }
}

}  // namespace medchain::crypto
