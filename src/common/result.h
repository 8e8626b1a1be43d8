#pragma once
// One error channel for the whole code base: Result<T> holds a value or an Error.
// Exceptions are converted to Error at library boundaries (Boost.Asio, yaml-cpp, threads).

#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace keygate {

enum class ErrorCode {
  kOk = 0,
  kInvalidArgument,     // bad input from a user, a manifest or a config file
  kNotFound,
  kAlreadyExists,
  kConflict,            // optimistic-concurrency failure (stale resourceVersion)
  kGone,                // resourceVersion / continue token too old (HTTP 410)
  kUnauthenticated,     // HTTP 401
  kPermissionDenied,    // HTTP 403
  kFailedPrecondition,
  kResourceExhausted,   // HTTP 429 (Retry-After honoured)
  kDeadlineExceeded,    // timeouts (client side or HTTP 504)
  kCancelled,
  kUnavailable,         // transient: connection refused, 503, dropped stream
  kInternal,            // 5xx or a broken invariant
  kUnimplemented,
};

const char* errorCodeName(ErrorCode code);

// One cause of an API validation failure (Kubernetes StatusCause).
struct ErrorCause {
  std::string reason;
  std::string message;
  std::string field;
};

struct Error {
  ErrorCode code = ErrorCode::kInternal;
  std::string message;
  // Filled when the error came from an HTTP API (Kubernetes Status), else empty/zero.
  int httpStatus = 0;
  std::string reason;                       // Status.reason, e.g. "AlreadyExists"
  std::vector<ErrorCause> causes;           // Status.details.causes
  std::optional<double> retryAfterSeconds;  // Retry-After header / details.retryAfterSeconds

  Error() = default;
  Error(ErrorCode c, std::string msg) : code(c), message(std::move(msg)) {}

  // "Conflict: the object has been modified ..." — for logs and CLI output.
  std::string toString() const;
  bool isTransient() const;  // worth retrying with backoff
};

inline Error makeError(ErrorCode code, std::string message) { return Error(code, std::move(message)); }

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}          // NOLINT: implicit by design
  Result(Error error) : v_(std::move(error)) {}      // NOLINT
  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  const Error& error() const { return std::get<1>(v_); }
  Error&& takeError() { return std::get<1>(std::move(v_)); }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : e_(std::move(error)) {}  // NOLINT
  bool ok() const { return !e_.has_value(); }
  explicit operator bool() const { return ok(); }
  const Error& error() const { return *e_; }
  Error&& takeError() { return std::move(*e_); }

 private:
  std::optional<Error> e_;
};

using Status = Result<void>;
inline Status okStatus() { return Status(); }

}  // namespace keygate

#define KG_CONCAT_INNER(a, b) a##b
#define KG_CONCAT(a, b) KG_CONCAT_INNER(a, b)

#define RETURN_IF_ERROR(expr)                         \
  do {                                                \
    auto&& kg_status_ = (expr);                       \
    if (!kg_status_.ok()) return kg_status_.takeError(); \
  } while (0)

#define KG_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                             \
  if (!tmp.ok()) return tmp.takeError();         \
  lhs = std::move(tmp).value()

#define ASSIGN_OR_RETURN(lhs, expr) KG_ASSIGN_OR_RETURN_IMPL(KG_CONCAT(kg_result_, __LINE__), lhs, expr)
