// Copyright (c) medchain developers.
// NoDelayTcpTransport: every stream libraft receives has TCP_NODELAY set.
// The control case shows that libraft's stock TCP transport leaves Nagle on,
// i.e. that the check below can fail.
#include <gtest/gtest.h>

#include "port_util.h"
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>

#include "medchain/consensus/nodelay_transport.h"

extern "C" {
#include <raft.h>
#include <raft/uv.h>
#include <uv.h>
}

namespace medchain::consensus {
namespace {

using medchain::testing::FreePort;


// -1 if the option cannot be read.
int NoDelayOf(uv_stream_s* stream) {
  uv_os_fd_t fd;
  if (uv_fileno(reinterpret_cast<uv_handle_t*>(stream), &fd) != 0) return -1;
  int value = -1;
  socklen_t len = sizeof(value);
  if (getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &value, &len) != 0) return -1;
  return value != 0 ? 1 : 0;
}

struct Probe {
  int accepted_nodelay = -1;
  int connected_nodelay = -1;
  raft_id accepted_id = 0;
  std::string accepted_address;
  int connect_status = -1;
  bool accepted = false;
  bool connected = false;
  bool closed = false;
};

void CloseStream(uv_stream_s* stream) {
  uv_close(reinterpret_cast<uv_handle_t*>(stream), [](uv_handle_t* h) { raft_free(h); });
}

void OnAccept(raft_uv_transport* t, raft_id id, const char* address, uv_stream_s* stream) {
  auto* probe = static_cast<Probe*>(t->data);
  probe->accepted = true;
  probe->accepted_id = id;
  probe->accepted_address = address;
  probe->accepted_nodelay = NoDelayOf(stream);
  CloseStream(stream);
}

void OnConnect(raft_uv_connect* req, uv_stream_s* stream, int status) {
  auto* probe = static_cast<Probe*>(req->data);
  probe->connected = true;
  probe->connect_status = status;
  if (status == 0) {
    probe->connected_nodelay = NoDelayOf(stream);
    CloseStream(stream);
  }
}

// Connects `t` to itself (the stock transport accepts a handshake from any
// server) and records the socket option on both ends.
Probe ConnectToSelf(uv_loop_t* loop, raft_uv_transport* t) {
  Probe probe;
  t->data = &probe;  // libraft would put its own object here
  const std::string address = "127.0.0.1:" + std::to_string(FreePort());
  EXPECT_EQ(t->init(t, 1, address.c_str()), 0) << t->errmsg;
  EXPECT_EQ(t->listen(t, &OnAccept), 0) << t->errmsg;
  raft_uv_connect req{};
  req.data = &probe;
  EXPECT_EQ(t->connect(t, &req, 1, address.c_str(), &OnConnect), 0) << t->errmsg;

  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!(probe.accepted && probe.connected) && std::chrono::steady_clock::now() < deadline) {
    uv_run(loop, UV_RUN_ONCE);
  }
  EXPECT_EQ(probe.accepted_address, address);
  t->close(t, [](raft_uv_transport* tr) { static_cast<Probe*>(tr->data)->closed = true; });
  while (!probe.closed && std::chrono::steady_clock::now() < deadline) uv_run(loop, UV_RUN_ONCE);
  uv_run(loop, UV_RUN_DEFAULT);  // finish closing the streams
  EXPECT_TRUE(probe.closed);
  return probe;
}

TEST(ConsensusTransport, StreamsGetTcpNoDelayBothWays) {
  uv_loop_t loop;
  ASSERT_EQ(uv_loop_init(&loop), 0);
  {
    NoDelayTcpTransport transport;
    ASSERT_EQ(transport.Init(&loop, nullptr), 0);
    Probe probe = ConnectToSelf(&loop, transport.transport());
    ASSERT_TRUE(probe.accepted);
    ASSERT_TRUE(probe.connected);
    EXPECT_EQ(probe.connect_status, 0);
    EXPECT_EQ(probe.accepted_id, 1u);
    EXPECT_EQ(probe.accepted_nodelay, 1);
    EXPECT_EQ(probe.connected_nodelay, 1);
    EXPECT_EQ(transport.streams_configured(), 2u);
    transport.Release();
  }
  EXPECT_EQ(uv_loop_close(&loop), 0);
}

TEST(ConsensusTransport, StockTransportLeavesNagleOn) {
  uv_loop_t loop;
  ASSERT_EQ(uv_loop_init(&loop), 0);
  raft_uv_transport stock{};
  ASSERT_EQ(raft_uv_tcp_init(&stock, &loop), 0);
  Probe probe = ConnectToSelf(&loop, &stock);
  raft_uv_tcp_close(&stock);
  EXPECT_EQ(uv_loop_close(&loop), 0);
  ASSERT_TRUE(probe.accepted);
  ASSERT_TRUE(probe.connected);
  EXPECT_EQ(probe.accepted_nodelay, 0);
  EXPECT_EQ(probe.connected_nodelay, 0);
}

}  // namespace
}  // namespace medchain::consensus
