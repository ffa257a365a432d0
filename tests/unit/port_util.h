// Copyright (c) medchain developers.
// Loopback ports for tests that must know a port before something listens
// on it (a Raft address written into a configuration).
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <mutex>
#include <string>

namespace medchain::testing {

// A free loopback port that no other test is handed: this process claims a
// slice of 128 ports below the kernel's ephemeral range (which starts at
// 32768) for as long as it lives — an flock on
// $TMPDIR/medchain-test-ports/<first port>, dropped by the kernel when the
// process exits — and hands each port out once. Tests running in parallel
// under `ctest -j` cannot race for a port, as bind-to-0-then-close would let
// them. (Functional tests use 10000-19983 the same way, mcutil.free_port.)
// Returns 0 when no port is left: the caller's bind then fails and says so.
inline int FreePort() {
  static std::mutex mu;
  static int base = -1, next = 0;
  std::lock_guard<std::mutex> lock(mu);
  if (base < 0) {
    const auto dir = std::filesystem::temp_directory_path() / "medchain-test-ports";
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    constexpr int kFirst = 20000, kSlices = 99;  // 20000..32671
    const int start = static_cast<int>(::getpid() % kSlices);
    for (int i = 0; i < kSlices && base < 0; ++i) {
      const int candidate = kFirst + ((start + i) % kSlices) * 128;
      const std::string path = (dir / std::to_string(candidate)).string();
      const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
      if (fd < 0) continue;
      if (::flock(fd, LOCK_EX | LOCK_NB) == 0) {
        base = candidate;  // fd stays open: the claim lasts until exit
      } else {
        ::close(fd);
      }
    }
    if (base < 0) return 0;
  }
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
    if (free) return port;  // else held by something outside the tests
  }
  return 0;
}

}  // namespace medchain::testing
