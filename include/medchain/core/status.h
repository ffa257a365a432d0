// Copyright (c) medchain developers.
// Errors as values (after leveldb's Status and bitcoin's util::Result).
//
// A Status is either OK or carries a code and a human-readable message. The
// message is meant for operators and API clients: it says what was wrong and,
// where it helps, what the limit or expected value was. Messages must never
// contain secrets, keys or record plaintext.
//
// Result<T> holds either a value or a non-OK Status.
#pragma once

#include <cassert>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace medchain {

enum class Code : int {
  kOk = 0,
  kInvalidArgument,     // malformed input: bad encoding, bad field, wrong size
  kNotFound,            // the thing asked for does not exist
  kAlreadyExists,       // duplicate (e.g. transaction already known)
  kPermissionDenied,    // authenticated but not allowed
  kUnauthenticated,     // bad signature, wrong passphrase
  kCorruption,          // stored data does not match its hash / format
  kIOError,             // the disk or the network failed
  kResourceExhausted,   // a size or queue limit was reached
  kFailedPrecondition,  // state does not allow it (e.g. not leader, erased)
  kUnavailable,         // try again later (shutting down, no leader)
  kTimeout,             // a wait ran out
  kInternal,            // a bug in medchain
};

// Stable lower_snake name of a code, used as the "error" field of API errors.
std::string_view CodeName(Code code);

class [[nodiscard]] Status {
 public:
  Status() = default;  // OK

  static Status Ok() { return Status(); }
  static Status InvalidArgument(std::string msg) { return {Code::kInvalidArgument, std::move(msg)}; }
  static Status NotFound(std::string msg) { return {Code::kNotFound, std::move(msg)}; }
  static Status AlreadyExists(std::string msg) { return {Code::kAlreadyExists, std::move(msg)}; }
  static Status PermissionDenied(std::string msg) {
    return {Code::kPermissionDenied, std::move(msg)};
  }
  static Status Unauthenticated(std::string msg) { return {Code::kUnauthenticated, std::move(msg)}; }
  static Status Corruption(std::string msg) { return {Code::kCorruption, std::move(msg)}; }
  static Status IOError(std::string msg) { return {Code::kIOError, std::move(msg)}; }
  static Status ResourceExhausted(std::string msg) {
    return {Code::kResourceExhausted, std::move(msg)};
  }
  static Status FailedPrecondition(std::string msg) {
    return {Code::kFailedPrecondition, std::move(msg)};
  }
  static Status Unavailable(std::string msg) { return {Code::kUnavailable, std::move(msg)}; }
  static Status Timeout(std::string msg) { return {Code::kTimeout, std::move(msg)}; }
  static Status Internal(std::string msg) { return {Code::kInternal, std::move(msg)}; }

  bool ok() const { return m_code == Code::kOk; }
  Code code() const { return m_code; }
  const std::string& message() const { return m_message; }
  bool IsNotFound() const { return m_code == Code::kNotFound; }
  bool IsCorruption() const { return m_code == Code::kCorruption; }
  bool IsInvalidArgument() const { return m_code == Code::kInvalidArgument; }

  // "code: message", or "ok".
  std::string ToString() const;

  // Returns a copy whose message is prefixed with "context: ".
  Status Prefixed(std::string_view context) const;

 private:
  Status(Code code, std::string msg) : m_code(code), m_message(std::move(msg)) {}
  Code m_code = Code::kOk;
  std::string m_message;
};

// A value of type T, or the reason there is none.
template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : m_v(std::move(value)) {}  // NOLINT(google-explicit-constructor)
  Result(Status status) : m_v(std::move(status)) {  // NOLINT(google-explicit-constructor)
    assert(!std::get<Status>(m_v).ok());
  }

  bool ok() const { return std::holds_alternative<T>(m_v); }
  explicit operator bool() const { return ok(); }

  // REQUIRES: ok()
  T& value() & { return std::get<T>(m_v); }
  const T& value() const& { return std::get<T>(m_v); }
  T&& value() && { return std::get<T>(std::move(m_v)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  // OK when a value is held.
  Status status() const { return ok() ? Status::Ok() : std::get<Status>(m_v); }

 private:
  std::variant<T, Status> m_v;
};

}  // namespace medchain

// Returns from the calling function when `expr` (a Status) is not OK.
#define MC_RETURN_IF_ERROR(expr)             \
  do {                                       \
    ::medchain::Status mc_status_ = (expr);  \
    if (!mc_status_.ok()) return mc_status_; \
  } while (0)

#define MC_CONCAT_INNER_(a, b) a##b
#define MC_CONCAT_(a, b) MC_CONCAT_INNER_(a, b)
// `MC_ASSIGN_OR_RETURN(auto x, F());` declares x from a Result or returns its Status.
#define MC_ASSIGN_OR_RETURN(decl, expr) \
  MC_ASSIGN_OR_RETURN_IMPL_(MC_CONCAT_(mc_result_, __LINE__), decl, expr)
#define MC_ASSIGN_OR_RETURN_IMPL_(tmp, decl, expr) \
  auto tmp = (expr);                               \
  if (!tmp.ok()) return tmp.status();              \
  decl = std::move(tmp).value()
