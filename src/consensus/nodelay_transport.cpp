// Copyright (c) medchain developers.
#include "medchain/consensus/nodelay_transport.h"

#include <cstring>

extern "C" {
#include <raft.h>
#include <raft/uv.h>
#include <uv.h>
}

namespace medchain::consensus {

namespace {

// Returns true if the option was set. Streams of the TCP transport are
// uv_tcp_t; anything else (a future transport) is left alone.
bool SetNoDelay(uv_stream_s* stream) {
  if (stream == nullptr || stream->type != UV_TCP) return false;
  return uv_tcp_nodelay(reinterpret_cast<uv_tcp_t*>(stream), 1) == 0;
}

void CopyErrmsg(raft_uv_transport* to, const raft_uv_transport* from) {
  std::memcpy(to->errmsg, from->errmsg, sizeof(to->errmsg));
  to->errmsg[sizeof(to->errmsg) - 1] = '\0';
}

// One outgoing connection attempt. Independent of the transport object: the
// stock transport may complete a cancelled connect after it was closed.
struct ConnectCtx {
  raft_uv_connect inner_req{};
  raft_uv_connect* req = nullptr;  // libraft's request
  raft_uv_connect_cb cb = nullptr;
  std::shared_ptr<std::atomic<uint64_t>> configured;
};

}  // namespace

struct NoDelayTcpTransport::Hooks {
  static NoDelayTcpTransport* FromOuter(raft_uv_transport* t) {
    return static_cast<NoDelayTcpTransport*>(t->impl);
  }
  static NoDelayTcpTransport* FromInner(raft_uv_transport* t) {
    return static_cast<NoDelayTcpTransport*>(t->data);
  }

  static int Init(raft_uv_transport* t, raft_id id, const char* address) noexcept {
    NoDelayTcpTransport* self = FromOuter(t);
    int rv = self->m_inner->init(self->m_inner.get(), id, address);
    if (rv != 0) CopyErrmsg(t, self->m_inner.get());
    return rv;
  }

  static void Accepted(raft_uv_transport* inner, raft_id id, const char* address,
                       uv_stream_s* stream) noexcept {
    NoDelayTcpTransport* self = FromInner(inner);
    if (SetNoDelay(stream)) self->m_configured->fetch_add(1, std::memory_order_relaxed);
    self->m_accept_cb(self->m_outer.get(), id, address, stream);
  }

  static int Listen(raft_uv_transport* t, raft_uv_accept_cb cb) noexcept {
    NoDelayTcpTransport* self = FromOuter(t);
    self->m_accept_cb = cb;
    int rv = self->m_inner->listen(self->m_inner.get(), &Accepted);
    if (rv != 0) CopyErrmsg(t, self->m_inner.get());
    return rv;
  }

  static void Connected(raft_uv_connect* inner_req, uv_stream_s* stream, int status) noexcept {
    auto* ctx = static_cast<ConnectCtx*>(inner_req->data);
    if (status == 0 && SetNoDelay(stream)) {
      ctx->configured->fetch_add(1, std::memory_order_relaxed);
    }
    raft_uv_connect* req = ctx->req;
    raft_uv_connect_cb cb = ctx->cb;
    delete ctx;
    cb(req, stream, status);
  }

  static int Connect(raft_uv_transport* t, raft_uv_connect* req, raft_id id, const char* address,
                     raft_uv_connect_cb cb) noexcept {
    NoDelayTcpTransport* self = FromOuter(t);
    auto* ctx = new ConnectCtx;
    ctx->inner_req.data = ctx;
    ctx->req = req;
    ctx->cb = cb;
    ctx->configured = self->m_configured;
    req->cb = cb;
    int rv = self->m_inner->connect(self->m_inner.get(), &ctx->inner_req, id, address, &Connected);
    if (rv != 0) {
      CopyErrmsg(t, self->m_inner.get());
      delete ctx;
    }
    return rv;
  }

  static void InnerClosed(raft_uv_transport* inner) noexcept {
    NoDelayTcpTransport* self = FromInner(inner);
    if (self->m_close_cb != nullptr) self->m_close_cb(self->m_outer.get());
  }

  static void Close(raft_uv_transport* t, raft_uv_transport_close_cb cb) noexcept {
    NoDelayTcpTransport* self = FromOuter(t);
    self->m_close_cb = cb;
    self->m_inner->close(self->m_inner.get(), &InnerClosed);
  }
};

NoDelayTcpTransport::NoDelayTcpTransport()
    : m_outer(std::make_unique<raft_uv_transport>()),
      m_inner(std::make_unique<raft_uv_transport>()),
      m_configured(std::make_shared<std::atomic<uint64_t>>(0)) {
  std::memset(m_outer.get(), 0, sizeof(raft_uv_transport));
  std::memset(m_inner.get(), 0, sizeof(raft_uv_transport));
}

NoDelayTcpTransport::~NoDelayTcpTransport() {
  Release();
}

int NoDelayTcpTransport::Init(uv_loop_s* loop, const char* bind_address) {
  int rv = raft_uv_tcp_init(m_inner.get(), loop);
  if (rv != 0) return rv;
  m_initialised = true;
  m_inner->data = this;
  if (bind_address != nullptr) {
    rv = raft_uv_tcp_set_bind_address(m_inner.get(), bind_address);
    if (rv != 0) {
      CopyErrmsg(m_outer.get(), m_inner.get());
      return rv;
    }
  }
  // libraft owns `data` of the transport it is given; `impl` is ours.
  m_outer->impl = this;
  m_outer->init = &Hooks::Init;
  m_outer->listen = &Hooks::Listen;
  m_outer->connect = &Hooks::Connect;
  m_outer->close = &Hooks::Close;
  return 0;
}

void NoDelayTcpTransport::Release() {
  if (!m_initialised) return;
  m_initialised = false;
  raft_uv_tcp_close(m_inner.get());
}

}  // namespace medchain::consensus
