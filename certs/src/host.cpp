// Host validation before minting (SECURITY.md K2): LDH DNS names and IP literals only (see host.hpp).
#include "airlock/certs/host.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cstddef>
#include <string>

#include <fmt/format.h>

namespace airlock::certs {

namespace {

constexpr std::size_t kMaxNameLength = 253;  // RFC 1035 §2.3.4, without the trailing dot
constexpr std::size_t kMaxLabelLength = 63;
constexpr std::size_t kShownCharacters = 64;  // of an untrusted host quoted in a message
constexpr std::string_view kAccepted =
    "expected a DNS name (letters, digits and hyphens; labels of 1-63 characters; at most 253 characters "
    "in all) or an IP address";

bool is_ascii_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); }
bool is_ascii_digit(char c) { return c >= '0' && c <= '9'; }
char to_lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

// The host as it may appear in a message: escaped (it came from the sandbox and may hold control
// characters) and shortened.
std::string shown(std::string_view host) {
  if (host.size() <= kShownCharacters) return fmt::format("{:?}", host);
  return fmt::format("{:?}... ({} characters)", host.substr(0, kShownCharacters), host.size());
}

Error refuse(std::string_view host, std::string_view why) {
  return Error{Errc::invalid_host, fmt::format("host {}: {}; {}", shown(host), why, kAccepted)};
}

// Returns an empty string when `label` is acceptable, else why not.
std::string label_problem(std::string_view label) {
  if (label.empty()) return "empty label (two dots in a row, or a leading or trailing dot)";
  if (label.size() > kMaxLabelLength) return fmt::format("label of {} characters (at most 63)", label.size());
  for (char c : label) {
    if (c == '*') return "wildcards are not allowed";
    if (!is_ascii_alnum(c) && c != '-') return fmt::format("character {:?} is not allowed", c);
  }
  if (label.front() == '-' || label.back() == '-') return "a label may not start or end with a hyphen";
  return {};
}

}  // namespace

Result<ValidatedHost> validate_host(std::string_view host) {
  if (host.empty()) return refuse(host, "empty");
  const std::string text{host};
  if (text.find('\0') != std::string::npos) return refuse(host, "contains a NUL byte");

  if (host.find(':') != std::string_view::npos || host.find('[') != std::string_view::npos) {
    in6_addr address{};
    if (inet_pton(AF_INET6, text.c_str(), &address) == 1) {
      char canonical[INET6_ADDRSTRLEN];
      if (inet_ntop(AF_INET6, &address, canonical, sizeof canonical) != nullptr) {
        return ValidatedHost{canonical, ValidatedHost::Kind::ipv6};
      }
    }
    if (host.front() == '[') return refuse(host, "give an IPv6 address without brackets");
    return refuse(host, "not an IPv6 address, and a port is not part of a host");
  }

  // Every spelling a resolver reads as an IPv4 address becomes that address (N2): the dotted quad, and
  // what inet_aton also takes ("127.1", "2130706433", "0x7f000001", "0177.0.0.1"), which the sandbox's
  // resolver and getaddrinfo would turn into an address too. inet_aton stops at the first space, so only
  // the characters of a number spelling get that far.
  in_addr address4{};
  const bool number_spelling = std::all_of(host.begin(), host.end(), [](char c) {
    return is_ascii_digit(c) || c == '.' || c == 'x' || c == 'X' || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
  });
  if (number_spelling && inet_aton(text.c_str(), &address4) != 0) {
    char canonical[INET_ADDRSTRLEN];
    if (inet_ntop(AF_INET, &address4, canonical, sizeof canonical) != nullptr) {
      return ValidatedHost{canonical, ValidatedHost::Kind::ipv4};
    }
  }

  if (host.size() > kMaxNameLength) return refuse(host, fmt::format("{} characters (at most 253)", host.size()));
  std::string_view last_label;
  for (std::size_t start = 0;;) {
    const std::size_t dot = host.find('.', start);
    const std::string_view label =
        host.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (std::string problem = label_problem(label); !problem.empty()) return refuse(host, problem);
    last_label = label;
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  // No top-level domain is numeric; a name ending in digits is a mistyped IPv4 address ("1.2.3.999",
  // "010.0.0.1"), and clients would read it as one rather than match it against a dNSName.
  if (std::all_of(last_label.begin(), last_label.end(), is_ascii_digit)) {
    return refuse(host, "looks like an IPv4 address but is not a valid dotted quad");
  }

  std::string lowered(host.size(), '\0');
  std::transform(host.begin(), host.end(), lowered.begin(), to_lower);
  return ValidatedHost{std::move(lowered), ValidatedHost::Kind::dns};
}

}  // namespace airlock::certs
