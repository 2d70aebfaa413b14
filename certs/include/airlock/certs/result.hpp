// Errors of the certs area: an Errc (with a std::error_category, so callers can map it onto their own
// reasons) plus a readable message, carried in a small Result<T>.
//
// certs may depend only on OpenSSL and fmt, so it cannot use Boost.Outcome as store does; Result<T> is
// the same idea (value or error, no exceptions across the data plane) in a few lines. Messages name what
// failed and what to do; they never contain key material.
#pragma once

#include <optional>
#include <string>
#include <system_error>
#include <type_traits>
#include <utility>
#include <variant>

namespace airlock::certs {

enum class Errc {
  invalid_host = 1,  // K2: not an LDH DNS name or an IP literal; nothing is minted for it
  bad_certificate,   // PEM that does not parse as an X.509 certificate, or not a CA certificate
  bad_key,           // key bytes that do not parse as a private key
  key_mismatch,      // the private key does not belong to the certificate
  io,                // a file could not be read
  openssl,           // an OpenSSL operation failed (key generation, signing, context setup)
};
const std::error_category& error_category() noexcept;
std::error_code make_error_code(Errc e) noexcept;

struct Error {
  Errc code;
  std::string message;  // "<what failed>: <why>", safe to log and to show in a deny body

  std::error_code error_code() const noexcept { return make_error_code(code); }
};

// Holds either a T or an Error. Like std::expected: test with `if (result)`, read with `*result` or
// `result->`, and `error()` only when it holds no value.
template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : state_(std::in_place_index<0>, std::move(value)) {}      // NOLINT: implicit by design
  Result(Error error) : state_(std::in_place_index<1>, std::move(error)) {}  // NOLINT: implicit by design

  bool has_value() const noexcept { return state_.index() == 0; }
  explicit operator bool() const noexcept { return has_value(); }

  T& value() & { return std::get<0>(state_); }
  const T& value() const& { return std::get<0>(state_); }
  T&& value() && { return std::get<0>(std::move(state_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const Error& error() const& { return std::get<1>(state_); }
  Error&& error() && { return std::get<1>(std::move(state_)); }

 private:
  std::variant<T, Error> state_;
};

// Success or an Error, for operations that produce nothing.
template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)) {}  // NOLINT: implicit by design

  bool has_value() const noexcept { return !error_.has_value(); }
  explicit operator bool() const noexcept { return has_value(); }
  const Error& error() const& { return *error_; }
  Error&& error() && { return std::move(*error_); }

 private:
  std::optional<Error> error_;
};

using Status = Result<void>;

}  // namespace airlock::certs

template <>
struct std::is_error_code_enum<airlock::certs::Errc> : std::true_type {};
