// Copyright (c) medchain developers.
// HTTP requests from this node to its peers, with a bound on the reply.
//
// A peer's reply is untrusted input: a faulty or hostile peer (or anything
// listening at a URL the ledger or the config lists) could answer a request
// with a body of any size, and cpp-httplib's plain Get/Post would keep all
// of it in memory. Every request a node makes to another node (forwarding a
// submission to the leader, catch-up block fetches, the /v1/cluster fan-out,
// the start-up height query) goes through PeerRequest, which stops reading
// once the body passes a limit (a Content-Length over it is refused before
// any of the body is read) and answers with an error that says so.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include <httplib.h>

#include "medchain/core/status.h"

namespace medchain::node {

// The limit of replies that are small JSON documents (GET /v1/node, the
// leader's answer to a forwarded submission, GET /v1/cluster?local=1): far
// above what a correct peer sends, far below what would hurt.
constexpr size_t kSmallPeerReplyMaxBytes = 1 << 20;

struct PeerReply {
  int status = 0;
  httplib::Headers headers;
  std::string body;
};

struct PeerCall {
  std::string method = "GET";
  std::string path;
  httplib::Headers headers;
  std::string body;          // sent when not empty, or when the method is POST
  std::string content_type;  // of `body`
  size_t max_reply_bytes = kSmallPeerReplyMaxBytes;
  // Stop reading (and fail) once this passes, whatever the socket timeouts
  // would still allow.
  std::optional<std::chrono::steady_clock::time_point> deadline;
};

// Sends `call` with `client` (its timeouts and keep-alive apply) to the
// peer at `url`, named `who` in messages ("the leader", "the peer"). Any
// HTTP status is a reply. Errors, all Unavailable:
//   "<who> at <url> did not answer (<httplib error>)"
//   "<who> at <url> sent a reply over <max_reply_bytes> bytes"
//   "<who> at <url> did not finish its reply in time" (deadline passed)
// After an error the client's connection is closed (never reused half read).
Result<PeerReply> PeerRequest(httplib::Client& client, const std::string& url, std::string_view who,
                              PeerCall call);

// Whether `status` is PeerRequest's "sent a reply over N bytes".
bool IsReplyTooLarge(const Status& status);

}  // namespace medchain::node
