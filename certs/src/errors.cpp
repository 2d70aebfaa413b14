// The certs error category, and OpenSSL's error queue turned into a message.
#include <string>
#include <system_error>

#include <fmt/format.h>
#include <openssl/err.h>

#include "airlock/certs/result.hpp"
#include "openssl_error.hpp"

namespace airlock::certs {

namespace {

class Category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "airlock.certs"; }
  std::string message(int value) const override {
    switch (static_cast<Errc>(value)) {
      case Errc::invalid_host: return "invalid host name";
      case Errc::bad_certificate: return "not a usable certificate";
      case Errc::bad_key: return "not a usable private key";
      case Errc::key_mismatch: return "private key does not match the certificate";
      case Errc::io: return "file could not be read";
      case Errc::openssl: return "OpenSSL operation failed";
    }
    return "unknown certs error";
  }
};

}  // namespace

const std::error_category& error_category() noexcept {
  static const Category category;
  return category;
}

std::error_code make_error_code(Errc e) noexcept { return {static_cast<int>(e), error_category()}; }

std::string openssl_message(std::string_view what) {
  std::string message{what};
  const char* data = nullptr;
  int flags = 0;
  bool first = true;
  // A failing call can leave a long trail (the decoders try every format); the first few say enough.
  constexpr int kMaxErrors = 4;
  int count = 0;
  while (unsigned long code = ERR_get_error_all(nullptr, nullptr, nullptr, &data, &flags)) {
    if (count++ == kMaxErrors) {
      message += "; ...";
      ERR_clear_error();
      break;
    }
    char text[256];
    ERR_error_string_n(code, text, sizeof text);
    message += first ? ": " : "; ";
    message += text;
    if ((flags & ERR_TXT_STRING) != 0 && data != nullptr && *data != '\0') message += fmt::format(" ({})", data);
    first = false;
  }
  if (first) message += ": unknown OpenSSL error";
  return message;
}

}  // namespace airlock::certs
