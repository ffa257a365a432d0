// Copyright (c) medchain developers.
#include "node/peer_http.h"

#include <charconv>

namespace medchain::node {

namespace {
constexpr std::string_view kTooLarge = " sent a reply over ";
}  // namespace

bool IsReplyTooLarge(const Status& status) {
  return status.code() == Code::kUnavailable &&
         status.message().find(kTooLarge) != std::string::npos;
}

Result<PeerReply> PeerRequest(httplib::Client& client, const std::string& url, std::string_view who,
                              PeerCall call) {
  const std::string peer = std::string(who) + " at " + url;
  enum class Stop { kNone, kTooLarge, kLate } stop = Stop::kNone;
  PeerReply reply;

  httplib::Request req;
  req.method = call.method;
  req.path = call.path;
  req.headers = std::move(call.headers);
  if (!call.body.empty() || call.method == "POST") {
    req.body = std::move(call.body);
    if (!call.content_type.empty()) req.set_header("Content-Type", call.content_type);
  }
  // Headers are in: refuse a declared length over the limit before reading.
  req.response_handler = [&](const httplib::Response& r) {
    if (r.has_header("Content-Length")) {
      const std::string v = r.get_header_value("Content-Length");
      uint64_t n = 0;
      auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
      if (ec == std::errc::result_out_of_range ||
          (ec == std::errc() && end == v.data() + v.size() && n > call.max_reply_bytes)) {
        stop = Stop::kTooLarge;
        return false;
      }
    }
    return true;
  };
  // The body, chunk by chunk (after any Content-Encoding is undone, so a
  // compressed reply is bounded by what it inflates to).
  req.content_receiver = [&](const char* data, size_t n, uint64_t, uint64_t) {
    if (n > call.max_reply_bytes - reply.body.size()) {
      stop = Stop::kTooLarge;
      return false;
    }
    if (call.deadline && std::chrono::steady_clock::now() > *call.deadline) {
      stop = Stop::kLate;
      return false;
    }
    reply.body.append(data, n);
    return true;
  };

  httplib::Response res;
  httplib::Error error = httplib::Error::Success;
  bool ok = false;
  try {
    ok = client.send(req, res, error);
  } catch (const std::exception& e) {
    client.stop();
    return Status::Unavailable(peer + " did not answer (" + e.what() + ")");
  }
  if (!ok) {
    client.stop();  // a half-read reply leaves the connection unusable
    switch (stop) {
      case Stop::kTooLarge:
        return Status::Unavailable(peer + std::string(kTooLarge) +
                                   std::to_string(call.max_reply_bytes) + " bytes");
      case Stop::kLate:
        return Status::Unavailable(peer + " did not finish its reply in time");
      case Stop::kNone:
        break;
    }
    return Status::Unavailable(peer + " did not answer (" + httplib::to_string(error) + ")");
  }
  reply.status = res.status;
  reply.headers = std::move(res.headers);
  return reply;
}

}  // namespace medchain::node
