// The OpenSSL error queue, handled the same way by every certs function: clear it when we start (a stale
// error from another connection on this thread must not be blamed on us) and when we return (ours must
// not surface in the caller's next OpenSSL call), and turn what our failing call left into a message.
#pragma once

#include <string>
#include <string_view>

#include <openssl/err.h>

#include "airlock/certs/result.hpp"

namespace airlock::certs {

class ClearErrorsOnReturn {
 public:
  ClearErrorsOnReturn() noexcept { ERR_clear_error(); }
  ~ClearErrorsOnReturn() { ERR_clear_error(); }
  ClearErrorsOnReturn(const ClearErrorsOnReturn&) = delete;
  ClearErrorsOnReturn& operator=(const ClearErrorsOnReturn&) = delete;
};

// "<what>: <each queued OpenSSL error, oldest first, joined by "; ">", draining the queue. OpenSSL's
// messages name functions, files and reasons, never key bytes.
std::string openssl_message(std::string_view what);

inline Error openssl_error(std::string_view what, Errc code = Errc::openssl) {
  return Error{code, openssl_message(what)};
}

}  // namespace airlock::certs
