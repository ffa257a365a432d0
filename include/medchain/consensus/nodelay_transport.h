// Copyright (c) medchain developers.
// libraft's libuv TCP transport with TCP_NODELAY on every stream.
//
// libraft 0.15's TCP transport never disables Nagle's algorithm. Raft sends
// small messages (AppendEntries results, heartbeats) while earlier data is
// still unacknowledged, so Nagle holds them until the peer's delayed ACK
// fires: ~40 ms added to commits (notes/libraft.md). This wrapper implements
// `struct raft_uv_transport` by forwarding to the stock TCP transport and
// setting TCP_NODELAY on each stream it hands to libraft, both accepted and
// connected. It is also the place where mutual TLS between nodes would go.
//
// Used by RaftNode; public so tests can check the socket option. Loop thread
// only, like everything libuv.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>

struct raft_uv_transport;
struct uv_loop_s;
struct uv_stream_s;

namespace medchain::consensus {

class NoDelayTcpTransport {
 public:
  NoDelayTcpTransport();
  ~NoDelayTcpTransport();
  NoDelayTcpTransport(const NoDelayTcpTransport&) = delete;
  NoDelayTcpTransport& operator=(const NoDelayTcpTransport&) = delete;

  // Initialises the stock TCP transport on `loop`. `bind_address` may be
  // null (listen on the address given to raft_init). Returns 0 or a RAFT_*
  // error code. REQUIRES: called once, before transport() is used.
  int Init(uv_loop_s* loop, const char* bind_address);

  // The transport to hand to raft_uv_init. Owned by this object; must remain
  // live until libraft has closed it (the raft_close callback has run).
  raft_uv_transport* transport() const { return m_outer.get(); }

  // Releases the stock transport's memory. REQUIRES: the transport was closed
  // through its close() method (libraft does that in raft_close), or was
  // never listened on. Called by the destructor if not called before.
  void Release();

  // Streams that got TCP_NODELAY so far (accepted + connected). Any thread.
  uint64_t streams_configured() const { return m_configured->load(std::memory_order_relaxed); }

 private:
  struct Hooks;  // the C callbacks
  friend struct Hooks;

  std::unique_ptr<raft_uv_transport> m_outer;  // what libraft sees
  std::unique_ptr<raft_uv_transport> m_inner;  // the stock TCP transport
  bool m_initialised = false;
  // Shared with pending connect requests, which may complete after Release().
  std::shared_ptr<std::atomic<uint64_t>> m_configured;
  // libraft's callbacks (raft_uv_accept_cb, raft_uv_transport_close_cb),
  // set by listen() and close().
  void (*m_accept_cb)(raft_uv_transport*, unsigned long long, const char*, uv_stream_s*) = nullptr;
  void (*m_close_cb)(raft_uv_transport*) = nullptr;
};

}  // namespace medchain::consensus
