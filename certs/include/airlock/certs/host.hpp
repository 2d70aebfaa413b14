// ValidatedHost: a host name Airlock is willing to mint a certificate for (SECURITY.md K2).
//
// A CONNECT target or SNI value comes from the sandbox and is untrusted. validate_host() accepts only
//   - a DNS name of LDH labels (letters, digits, hyphen; 1-63 characters each, no leading or trailing
//     hyphen; at most 253 characters in all), lower-cased; the last label may not be all digits, so that
//     "1.2.3.999" is not mistaken for a name; no trailing dot, no wildcard, no port; or
//   - an IPv4 address, in dotted-quad form or any other spelling inet_aton reads ("127.1", "2130706433",
//     "0x7f000001", "0177.0.0.1"), or an IPv6 literal without brackets; both stored in canonical form
//     ("127.0.0.1", "::ffff:127.0.0.1"), so the address checks (SECURITY.md N2) see the address a resolver would.
// Anything else is refused with a message saying what is accepted. Only this type reaches the minting
// code, so junk names cannot fill the certificate cache or be written into a certificate.
#pragma once

#include <string>
#include <string_view>
#include <utility>

#include "airlock/certs/result.hpp"

namespace airlock::certs {

class ValidatedHost {
 public:
  enum class Kind { dns, ipv4, ipv6 };

  // Normalised text: a lower-cased DNS name, or the canonical IP literal (no brackets).
  const std::string& text() const noexcept { return text_; }
  Kind kind() const noexcept { return kind_; }
  bool is_ip() const noexcept { return kind_ != Kind::dns; }

  friend bool operator==(const ValidatedHost&, const ValidatedHost&) = default;

 private:
  friend Result<ValidatedHost> validate_host(std::string_view host);
  ValidatedHost(std::string text, Kind kind) : text_(std::move(text)), kind_(kind) {}

  std::string text_;
  Kind kind_;
};

// Errc::invalid_host when `host` is neither form; the message quotes (escaped, shortened) the input.
Result<ValidatedHost> validate_host(std::string_view host);

}  // namespace airlock::certs
