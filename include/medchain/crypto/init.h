// Copyright (c) medchain developers.
// libsodium initialisation for the crypto module.
#pragma once

namespace medchain::crypto {

// Initialises libsodium (sodium_init) exactly once. Idempotent and
// thread-safe: the first call from any thread does the work, concurrent
// callers wait for it. Every entry point of medchain::crypto calls it, so
// callers never need to; it is public for code that uses libsodium directly.
// Aborts the process if libsodium cannot initialise (it then has no source of
// randomness, and no key could be generated safely).
void Init();

}  // namespace medchain::crypto
