// Copyright (c) medchain developers.
// Loopback ports for tests that must know a port before something listens
// on it (a Raft address written into a configuration).
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <mutex>

namespace medchain::testing {

// A free loopback port, never handed out twice by this process and not one
// the kernel hands to anyone else: ports are taken below the ephemeral range
// (32768 and up on Linux), from a slice of 128 chosen by the process id, so
// tests running in parallel under `ctest -j` do not race for the same port
// as bind-to-0-then-close would. A port something else holds is skipped.
inline int FreePort() {
  static std::mutex mu;
  static int next = 0;
  std::lock_guard<std::mutex> lock(mu);
  const int base = 20000 + static_cast<int>(::getpid() % 99) * 128;  // 20000..32767
  while (next < 128) {
    const int port = base + next++;
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<uint16_t>(port));
    const bool free = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    ::close(fd);
    if (free) return port;
  }
  return 0;  // the slice is exhausted: the caller's bind fails and says so
}

}  // namespace medchain::testing
