// Copyright (c) medchain developers.
// HTTP Message Signatures (RFC 9421) with Ed25519, the way medchain signs
// API requests (docs/api.md, "Signed requests"). Shared by the node, which
// verifies, and the CLI, which signs.
//
// A signed request carries two header fields, both RFC 8941 dictionaries
// keyed by a label (medchain uses "sig1"):
//
//   Signature-Input: sig1=("@method" "@target-uri");created=1618884473;
//                    nonce="3q2-7w";alg="ed25519";keyid="dr-demo"
//   Signature: sig1=:<base64 of the 64-byte Ed25519 signature>:
//
// What is signed is the signature base of RFC 9421 section 2.5: one line
// per covered component, `"<name>": <value>` followed by LF, in the order
// the Signature-Input lists them, then the line
// `"@signature-params": <the serialized inner list with its parameters>`
// with no LF after it. The component values are those of section 2.2:
//
//   @method      the request method, as sent ("GET")
//   @target-uri  the full target URI: scheme "://" authority path ["?" query]
//   @authority   the authority (host[:port]) with the host in lower case
//   @scheme      the URI scheme in lower case ("http")
//   @path        the absolute path, "/" when empty
//   @query       "?" followed by the query; "?" alone when there is none
//   a field      (lower-case field name) its value, trimmed of leading and
//                trailing whitespace
//
// What this module does not do (a verifier may refuse what it does not
// support, RFC 9421 section 3.2): component parameters (";sf", ";key",
// ";req", ";bs", ";name"), @request-target, @query-param, @status, and
// field values sent on more than one line. A Signature-Input naming any of
// them is refused as unsupported, never guessed at.
//
// The node's policy on top (which components must be covered, the time
// window, nonce memory, who the keyid is) is not here: see api/server.cpp
// and docs/api.md.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "medchain/core/bytes.h"
#include "medchain/core/status.h"
#include "medchain/crypto/ed25519.h"

namespace medchain::crypto {

// The label medchain's clients use.
inline constexpr std::string_view kSignatureLabel = "sig1";

// One signature parameter (RFC 9421 section 2.3): created/expires are
// integers, nonce/alg/keyid/tag strings. Order is kept: it is part of the
// signed @signature-params line.
struct SignatureParam {
  std::string name;
  std::variant<int64_t, std::string> value;
};

// The parsed (or to-be-serialized) value of one Signature-Input member.
struct SignatureInput {
  std::string label;
  std::vector<std::string> components;  // identifiers without quotes: "@method", "date"
  std::vector<SignatureParam> params;

  // Convenience lookups; nullopt when the parameter is absent or of the
  // other type.
  std::optional<int64_t> Int(std::string_view name) const;
  std::optional<std::string> Str(std::string_view name) const;
  bool Covers(std::string_view component) const;
};

// What a signature base is built from: a request as it was sent or
// received. `field` returns a header field's value (nullopt when absent);
// names are asked in lower case.
struct RequestView {
  std::string method;     // "GET"
  std::string scheme;     // "http" or "https"
  std::string authority;  // the Host header: "127.0.0.1:7070"
  std::string target;     // the request-target as sent: "/v1/x?y=1" (not percent-decoded)
  std::function<std::optional<std::string>(std::string_view)> field;
};

// `("@method" "@target-uri");created=...;keyid="..."`: the inner list with
// its parameters, serialized per RFC 8941 (the @signature-params value and
// the Signature-Input member value).
std::string SerializeSignatureParams(const SignatureInput& input);

// The signature base of RFC 9421 section 2.5. InvalidArgument naming the
// component when one is unsupported, duplicated, or absent from `request`.
Result<std::string> SignatureBase(const SignatureInput& input, const RequestView& request);

// The value of one component (section 2.2 for derived components; a field's
// trimmed value otherwise). InvalidArgument as above.
Result<std::string> ComponentValue(std::string_view component, const RequestView& request);

// Parses a Signature-Input field value: a dictionary of inner lists with
// parameters. InvalidArgument with the position on a syntax error or a
// construct this module does not support.
Result<std::vector<SignatureInput>> ParseSignatureInputField(std::string_view value);

// Parses a Signature field value: a dictionary of byte sequences, returned
// as (label, bytes) pairs.
Result<std::vector<std::pair<std::string, Bytes>>> ParseSignatureField(std::string_view value);

// The two header values a signer adds.
struct SignatureHeaders {
  std::string signature_input;  // "sig1=(...);created=..."
  std::string signature;        // "sig1=:...:"
};

// Signs `request` over `input` (input.label names the member) with `key`.
Result<SignatureHeaders> SignRequest(const SignatureInput& input, const RequestView& request,
                                     const SigningKey& key);

// medchain's request signature: covers @method and @target-uri, with
// created = `created_s` (seconds since the epoch), a fresh random nonce,
// alg "ed25519" and keyid `keyid`.
Result<SignatureHeaders> SignApiRequest(const RequestView& request, std::string_view keyid,
                                        int64_t created_s, const SigningKey& key);

// The target URI of a request to `base_url` ("http://host:port", no path)
// for `target` ("/v1/x?y=1"), split into the parts a RequestView needs.
// InvalidArgument unless base_url is http:// or https:// with an authority.
Result<RequestView> RequestViewFor(std::string method, std::string_view base_url,
                                   std::string target);

// A request's signature as sent: the chosen Signature-Input member and the
// bytes of the Signature member with the same label.
struct SignedRequest {
  SignatureInput input;
  Bytes signature;
};

// Finds member `label` in both fields (with `label` empty: the first member
// of Signature-Input). Unauthenticated with the reason when a field is
// missing, malformed, or lacks the member, or the member names something
// this module does not support.
Result<SignedRequest> ParseRequestSignature(std::string_view signature_input_field,
                                            std::string_view signature_field,
                                            std::string_view label);

// Rebuilds the signature base from `request` and checks the Ed25519
// signature with `key`. Unauthenticated with the reason on failure. It does
// not check time, nonce, alg/keyid or which components are covered: that is
// the caller's policy.
Status VerifyRequestSignature(const SignedRequest& signed_request, const RequestView& request,
                              const PublicKey& key);

}  // namespace medchain::crypto
