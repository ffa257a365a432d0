// Copyright (c) medchain developers.
// Shared by the fuzz targets (docs/developers.md, "Fuzzing"). Each target is
// one LLVMFuzzerTestOneInput: built with libFuzzer under clang
// (-DMEDCHAIN_FUZZ=ON, scripts/fuzz.sh), and with replay_main.cpp under any
// compiler, to run the checked-in corpus as a regression test in ctest.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "medchain/core/bytes.h"

// A property the input broke: print it and abort, so libFuzzer keeps the
// input as a crash artifact and the replay test fails.
#define MC_FUZZ_CHECK(cond, what)                                           \
  do {                                                                      \
    if (!(cond)) {                                                          \
      std::fprintf(stderr, "fuzz property failed: %s (%s)\n", #cond, what); \
      std::abort();                                                         \
    }                                                                       \
  } while (0)

namespace medchain::fuzz {

inline ByteView Input(const uint8_t* data, size_t size) {
  return ByteView(data, size);
}
inline std::string_view Text(const uint8_t* data, size_t size) {
  return std::string_view(reinterpret_cast<const char*>(data), size);
}

}  // namespace medchain::fuzz
