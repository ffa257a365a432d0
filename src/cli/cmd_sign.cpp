// Copyright (c) medchain developers.
// medchain sign-request: the RFC 9421 headers for one API request, for
// clients that cannot sign themselves (curl, scripts, the functional tests).
#include <iostream>

#include "cli/client.h"
#include "cli/command.h"
#include "medchain/crypto/http_signature.h"

namespace medchain::cli {
namespace {

struct SignArgs {
  std::string key, method = "GET", url;
  int64_t created = 0;  // 0: now
};

int Sign(const SignArgs& a) {
  auto key = LoadKey(a.key);
  if (!key.ok()) return Fail(key.status().message());
  // URL = base + request-target: split after the authority.
  auto sep = a.url.find("://");
  auto slash = sep == std::string::npos ? std::string::npos : a.url.find('/', sep + 3);
  std::string base = slash == std::string::npos ? a.url : a.url.substr(0, slash);
  std::string target = slash == std::string::npos ? "/" : a.url.substr(slash);
  auto view = crypto::RequestViewFor(a.method, base, target);
  if (!view.ok()) return Fail(view.status().message(), kExitUsage);
  const std::string keyid =
      key->participant_id.empty() ? ToHex(key->signing.public_key()) : key->participant_id;
  auto h = crypto::SignApiRequest(
      *view, keyid, a.created ? a.created : static_cast<int64_t>(NowMs() / 1000), key->signing);
  if (!h.ok()) return Fail(h.status().message());
  std::cout << "Signature-Input: " << h->signature_input << "\n"
            << "Signature: " << h->signature << "\n";
  return kExitOk;
}

CommandGroup g_sign("sign-request", [](CLI::App& app, ExitCode& rc) {
  auto a = std::make_shared<SignArgs>();
  auto* c = app.add_subcommand("sign-request",
                               "Print the Signature-Input and Signature headers (RFC 9421) that "
                               "sign one API request with a key file (docs/api.md)");
  c->add_option("--key", a->key, "your key file")->required();
  c->add_option("--method", a->method, "the request method (default GET)");
  c->add_option("--created", a->created, "the created time, s since the epoch (default: now)");
  c->add_option("URL", a->url, "the full URL, e.g. http://127.0.0.1:7070/v1/patients/pat-1/audit")
      ->required();
  c->callback([a, &rc] { rc = Sign(*a); });
});

}  // namespace
}  // namespace medchain::cli
