// Copyright (c) medchain developers.
#include "medchain/crypto/http_signature.h"

#include <sodium.h>

#include <algorithm>
#include <cctype>
#include <charconv>

namespace medchain::crypto {

std::optional<int64_t> SignatureInput::Int(std::string_view name) const {
  for (const auto& p : params) {
    if (p.name == name) {
      if (const auto* v = std::get_if<int64_t>(&p.value)) return *v;
      return std::nullopt;
    }
  }
  return std::nullopt;
}

std::optional<std::string> SignatureInput::Str(std::string_view name) const {
  for (const auto& p : params) {
    if (p.name == name) {
      if (const auto* v = std::get_if<std::string>(&p.value)) return *v;
      return std::nullopt;
    }
  }
  return std::nullopt;
}

bool SignatureInput::Covers(std::string_view component) const {
  return std::find(components.begin(), components.end(), component) != components.end();
}

namespace {

char Lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

std::string LowerCopy(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = Lower(c);
  return out;
}

// RFC 8941 section 4.1.6: sf-string, with \ and " escaped. REQUIRES: every
// character is printable ASCII (checked by callers that take outside input).
std::string SerializeString(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  out.push_back('"');
  return out;
}

bool Printable(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c >= 0x20 && c <= 0x7e; });
}

// The authority as RFC 9421 section 2.2.3 wants it: host in lower case, the
// scheme's default port left out.
std::string NormalizeAuthority(std::string_view scheme, std::string_view authority) {
  std::string a = LowerCopy(authority);
  const std::string s = LowerCopy(scheme);
  auto strip = [&a](std::string_view suffix) {
    if (a.size() > suffix.size() && a.compare(a.size() - suffix.size(), suffix.size(), suffix) == 0)
      a.resize(a.size() - suffix.size());
  };
  if (s == "http") strip(":80");
  if (s == "https") strip(":443");
  return a;
}

std::string_view TrimOws(std::string_view v) {
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
  return v;
}

// A cursor over a structured field value (RFC 8941 section 4.2). Only what
// Signature-Input and Signature need: dictionaries whose members are inner
// lists of strings or byte sequences, parameters with integer, string,
// token or boolean values.
class SfParser {
 public:
  explicit SfParser(std::string_view text) : m_s(text) {
    while (m_pos < m_s.size() && m_s[m_pos] == ' ') ++m_pos;  // leading SP (4.2 step 2)
    while (!m_s.empty() && m_s.back() == ' ') m_s.remove_suffix(1);
  }

  bool AtEnd() const { return m_pos >= m_s.size(); }
  char Peek() const { return AtEnd() ? '\0' : m_s[m_pos]; }
  Status Error(std::string what) const {
    return Status::InvalidArgument(what + " at offset " + std::to_string(m_pos));
  }

  // sf-key: ( lcalpha / "*" ) *( lcalpha / DIGIT / "_" / "-" / "." / "*" )
  Result<std::string> Key() {
    char c = Peek();
    if (!((c >= 'a' && c <= 'z') || c == '*')) return Error("expected a key");
    size_t start = m_pos;
    while (!AtEnd()) {
      c = Peek();
      if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.' ||
          c == '*') {
        ++m_pos;
      } else {
        break;
      }
    }
    return std::string(m_s.substr(start, m_pos - start));
  }

  // A bare item: an integer, string, token, byte sequence or boolean.
  using Bare = std::variant<int64_t, std::string, Bytes, bool>;
  // Tokens and strings are both returned as std::string; `is_token` says which.
  Result<Bare> BareItem(bool* is_token = nullptr) {
    if (is_token) *is_token = false;
    char c = Peek();
    if (c == '-' || (c >= '0' && c <= '9')) return Integer();
    if (c == '"') return String();
    if (c == ':') return ByteSequence();
    if (c == '?') {
      ++m_pos;
      char b = Peek();
      if (b != '0' && b != '1') return Error("expected ?0 or ?1");
      ++m_pos;
      return Bare(b == '1');
    }
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '*') {
      if (is_token) *is_token = true;
      size_t start = m_pos;
      while (!AtEnd()) {
        char t = Peek();
        // tchar / ":" / "/"
        if (std::isalnum(static_cast<unsigned char>(t)) ||
            std::string_view("!#$%&'*+-.^_`|~:/").find(t) != std::string_view::npos) {
          ++m_pos;
        } else {
          break;
        }
      }
      return Bare(std::string(m_s.substr(start, m_pos - start)));
    }
    return Error("expected an item");
  }

  // Parameters: *( ";" *SP key [ "=" bare-item ] ). The parameters of
  // RFC 9421 are integers and strings; anything else (a bare key, a
  // boolean, a token, a byte sequence) is refused, since it could not be
  // serialized back into the same @signature-params line.
  Result<std::vector<SignatureParam>> Parameters() {
    std::vector<SignatureParam> out;
    while (Peek() == ';') {
      ++m_pos;
      while (Peek() == ' ') ++m_pos;
      MC_ASSIGN_OR_RETURN(std::string key, Key());
      if (!Consume('=')) return Error("parameter " + key + " needs a value");
      bool is_token = false;
      MC_ASSIGN_OR_RETURN(Bare v, BareItem(&is_token));
      SignatureParam p{key, int64_t{0}};
      if (auto* i = std::get_if<int64_t>(&v)) {
        p.value = *i;
      } else if (auto* s = std::get_if<std::string>(&v); s && !is_token) {
        p.value = *s;
      } else {
        return Error("parameter " + key + " must be an integer or a string");
      }
      // RFC 8941: a repeated key overwrites the earlier value in place.
      auto same =
          std::find_if(out.begin(), out.end(), [&](const auto& q) { return q.name == key; });
      if (same != out.end()) {
        same->value = p.value;
      } else {
        out.push_back(std::move(p));
      }
    }
    return out;
  }

  void SkipOws() {
    while (Peek() == ' ' || Peek() == '\t') ++m_pos;
  }
  void SkipSp() {
    while (Peek() == ' ') ++m_pos;
  }
  bool Consume(char c) {
    if (Peek() != c) return false;
    ++m_pos;
    return true;
  }

 private:
  Result<Bare> Integer() {
    size_t start = m_pos;
    if (Peek() == '-') ++m_pos;
    size_t digits = m_pos;
    while (Peek() >= '0' && Peek() <= '9') ++m_pos;
    if (m_pos == digits) return Error("expected a digit");
    if (Peek() == '.') return Error("decimals are not supported");
    if (m_pos - digits > 15) return Error("an integer has at most 15 digits");
    int64_t v = 0;
    std::from_chars(m_s.data() + start, m_s.data() + m_pos, v);
    return Bare(v);
  }

  Result<Bare> String() {
    ++m_pos;  // the opening quote
    std::string out;
    while (!AtEnd()) {
      char c = m_s[m_pos++];
      if (c == '\\') {
        if (AtEnd()) return Error("unterminated string");
        char e = m_s[m_pos++];
        if (e != '"' && e != '\\') return Error("bad escape in a string");
        out.push_back(e);
      } else if (c == '"') {
        return Bare(std::move(out));
      } else if (c < 0x20 || c > 0x7e) {
        return Error("a string may hold printable ASCII only");
      } else {
        out.push_back(c);
      }
    }
    return Error("unterminated string");
  }

  Result<Bare> ByteSequence() {
    ++m_pos;  // the opening colon
    size_t end = m_s.find(':', m_pos);
    if (end == std::string_view::npos) return Error("unterminated byte sequence");
    auto bytes = FromBase64(m_s.substr(m_pos, end - m_pos));
    if (!bytes) return Error("a byte sequence must be standard base64");
    m_pos = end + 1;
    return Bare(std::move(*bytes));
  }

  std::string_view m_s;
  size_t m_pos = 0;
};

// Walks a dictionary (RFC 8941 section 4.2.2), calling `member(key)` with
// the parser positioned at the member's value (after "="); a bare key
// (boolean true) is refused since neither field uses one.
Status ParseDictionary(SfParser& p, const std::function<Status(const std::string&)>& member) {
  while (!p.AtEnd()) {
    MC_ASSIGN_OR_RETURN(std::string key, p.Key());
    if (!p.Consume('=')) return p.Error("member " + key + " has no value");
    MC_RETURN_IF_ERROR(member(key));
    p.SkipOws();
    if (p.AtEnd()) return Status::Ok();
    if (!p.Consume(',')) return p.Error("expected a comma between members");
    p.SkipOws();
    if (p.AtEnd()) return p.Error("trailing comma");
  }
  return Status::Ok();
}

}  // namespace

std::string SerializeSignatureParams(const SignatureInput& input) {
  std::string out = "(";
  for (size_t i = 0; i < input.components.size(); ++i) {
    if (i) out.push_back(' ');
    out += SerializeString(input.components[i]);
  }
  out.push_back(')');
  for (const auto& p : input.params) {
    out += ";" + p.name + "=";
    if (const auto* v = std::get_if<int64_t>(&p.value)) {
      out += std::to_string(*v);
    } else {
      out += SerializeString(std::get<std::string>(p.value));
    }
  }
  return out;
}

Result<std::string> ComponentValue(std::string_view component, const RequestView& request) {
  if (component.empty()) return Status::InvalidArgument("an empty component name");
  if (component[0] != '@') {
    // A field, by its lower-case name (section 2.1).
    if (LowerCopy(component) != component) {
      return Status::InvalidArgument("field name " + std::string(component) +
                                     " must be lower case");
    }
    auto v = request.field ? request.field(component) : std::nullopt;
    if (!v)
      return Status::InvalidArgument("the request has no " + std::string(component) + " field");
    return std::string(TrimOws(*v));
  }
  const std::string_view target = request.target;
  if (target.empty() || target[0] != '/') {
    return Status::InvalidArgument(
        "only origin-form request targets (\"/path?query\") are supported");
  }
  const size_t q = target.find('?');
  if (component == "@method") return request.method;
  if (component == "@scheme") return LowerCopy(request.scheme);
  if (component == "@authority") return NormalizeAuthority(request.scheme, request.authority);
  if (component == "@target-uri") {
    return LowerCopy(request.scheme) + "://" +
           NormalizeAuthority(request.scheme, request.authority) + std::string(target);
  }
  if (component == "@path") return std::string(target.substr(0, q));
  if (component == "@query") {
    return q == std::string_view::npos ? std::string("?") : std::string(target.substr(q));
  }
  return Status::InvalidArgument("component " + std::string(component) + " is not supported");
}

Result<std::string> SignatureBase(const SignatureInput& input, const RequestView& request) {
  std::string base;
  for (size_t i = 0; i < input.components.size(); ++i) {
    const std::string& c = input.components[i];
    if (c == "@signature-params") {
      return Status::InvalidArgument("@signature-params cannot be a covered component");
    }
    // Section 2.5 step 2.1: a component listed twice makes the base invalid.
    if (std::find(input.components.begin(), input.components.begin() + i, c) !=
        input.components.begin() + i) {
      return Status::InvalidArgument("component " + c + " is listed twice");
    }
    MC_ASSIGN_OR_RETURN(std::string value, ComponentValue(c, request));
    if (!Printable(value)) {
      return Status::InvalidArgument("component " + c + " has a non-printable value");
    }
    base += SerializeString(c) + ": " + value + "\n";
  }
  base += "\"@signature-params\": " + SerializeSignatureParams(input);
  return base;
}

Result<std::vector<SignatureInput>> ParseSignatureInputField(std::string_view value) {
  SfParser p(value);
  std::vector<SignatureInput> out;
  Status s = ParseDictionary(p, [&](const std::string& label) -> Status {
    if (!p.Consume('(')) return p.Error("member " + label + " must be an inner list");
    SignatureInput in;
    in.label = label;
    for (;;) {
      p.SkipSp();
      if (p.Consume(')')) break;
      bool is_token = false;
      MC_ASSIGN_OR_RETURN(auto item, p.BareItem(&is_token));
      auto* name = std::get_if<std::string>(&item);
      if (!name || is_token || name->empty()) {
        return p.Error("a component identifier must be a string");
      }
      if (p.Peek() == ';') return p.Error("component parameters are not supported");
      in.components.push_back(*name);
      if (p.Peek() != ' ' && p.Peek() != ')') return p.Error("expected a space or )");
    }
    MC_ASSIGN_OR_RETURN(in.params, p.Parameters());
    auto same =
        std::find_if(out.begin(), out.end(), [&](const auto& x) { return x.label == label; });
    if (same != out.end()) {
      *same = std::move(in);  // RFC 8941: the last instance of a key wins
    } else {
      out.push_back(std::move(in));
    }
    return Status::Ok();
  });
  if (!s.ok()) return s.Prefixed("Signature-Input");
  if (out.empty()) return Status::InvalidArgument("Signature-Input: empty");
  return out;
}

Result<std::vector<std::pair<std::string, Bytes>>> ParseSignatureField(std::string_view value) {
  SfParser p(value);
  std::vector<std::pair<std::string, Bytes>> out;
  Status s = ParseDictionary(p, [&](const std::string& label) -> Status {
    if (p.Peek() != ':') return p.Error("member " + label + " must be a byte sequence");
    MC_ASSIGN_OR_RETURN(auto item, p.BareItem());
    MC_ASSIGN_OR_RETURN(auto params, p.Parameters());
    (void)params;
    auto same =
        std::find_if(out.begin(), out.end(), [&](const auto& x) { return x.first == label; });
    if (same != out.end()) {
      same->second = std::get<Bytes>(std::move(item));
    } else {
      out.emplace_back(label, std::get<Bytes>(std::move(item)));
    }
    return Status::Ok();
  });
  if (!s.ok()) return s.Prefixed("Signature");
  if (out.empty()) return Status::InvalidArgument("Signature: empty");
  return out;
}

Result<SignatureHeaders> SignRequest(const SignatureInput& input, const RequestView& request,
                                     const SigningKey& key) {
  for (const auto& p : input.params) {
    if (const auto* v = std::get_if<std::string>(&p.value); v && !Printable(*v)) {
      return Status::InvalidArgument("parameter " + p.name + " must be printable ASCII");
    }
  }
  MC_ASSIGN_OR_RETURN(std::string base, SignatureBase(input, request));
  Signature sig = key.Sign(AsBytes(base));
  return SignatureHeaders{input.label + "=" + SerializeSignatureParams(input),
                          input.label + "=:" + ToBase64(sig) + ":"};
}

Result<SignatureHeaders> SignApiRequest(const RequestView& request, std::string_view keyid,
                                        int64_t created_s, const SigningKey& key) {
  uint8_t nonce[16];
  randombytes_buf(nonce, sizeof nonce);
  SignatureInput in;
  in.label = std::string(kSignatureLabel);
  in.components = {"@method", "@target-uri"};
  in.params = {{"created", created_s},
               {"nonce", ToHex(ByteView(nonce, sizeof nonce))},
               {"alg", std::string("ed25519")},
               {"keyid", std::string(keyid)}};
  return SignRequest(in, request, key);
}

Result<RequestView> RequestViewFor(std::string method, std::string_view base_url,
                                   std::string target) {
  RequestView v;
  v.method = std::move(method);
  auto sep = base_url.find("://");
  if (sep == std::string_view::npos) {
    return Status::InvalidArgument("node URL " + std::string(base_url) + " has no scheme");
  }
  v.scheme = LowerCopy(base_url.substr(0, sep));
  if (v.scheme != "http" && v.scheme != "https") {
    return Status::InvalidArgument("node URL " + std::string(base_url) + ": http or https only");
  }
  std::string_view rest = base_url.substr(sep + 3);
  v.authority = std::string(rest.substr(0, rest.find('/')));
  if (v.authority.empty()) {
    return Status::InvalidArgument("node URL " + std::string(base_url) + " has no host");
  }
  v.target = std::move(target);
  return v;
}

Result<SignedRequest> ParseRequestSignature(std::string_view signature_input_field,
                                            std::string_view signature_field,
                                            std::string_view label) {
  if (signature_input_field.empty() || signature_field.empty()) {
    return Status::Unauthenticated("the request is not signed (Signature-Input and Signature)");
  }
  auto inputs = ParseSignatureInputField(signature_input_field);
  if (!inputs.ok()) return Status::Unauthenticated(inputs.status().message());
  auto sigs = ParseSignatureField(signature_field);
  if (!sigs.ok()) return Status::Unauthenticated(sigs.status().message());
  SignedRequest out;
  auto in = label.empty() ? inputs->begin()
                          : std::find_if(inputs->begin(), inputs->end(),
                                         [&](const auto& x) { return x.label == label; });
  if (in == inputs->end()) {
    return Status::Unauthenticated("Signature-Input has no member " + std::string(label));
  }
  out.input = std::move(*in);
  auto sig = std::find_if(sigs->begin(), sigs->end(),
                          [&](const auto& x) { return x.first == out.input.label; });
  if (sig == sigs->end()) {
    return Status::Unauthenticated("Signature has no member " + out.input.label);
  }
  out.signature = std::move(sig->second);
  return out;
}

Status VerifyRequestSignature(const SignedRequest& signed_request, const RequestView& request,
                              const PublicKey& key) {
  auto base = SignatureBase(signed_request.input, request);
  if (!base.ok()) return Status::Unauthenticated(base.status().message());
  if (!VerifyBytes(key, AsBytes(*base), signed_request.signature)) {
    return Status::Unauthenticated("the signature does not verify");
  }
  return Status::Ok();
}

}  // namespace medchain::crypto
