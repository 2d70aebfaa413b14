// Host pattern validation and matching (the rules are in host_pattern.hpp).
//
// One non-allocating checker classifies an entry into a Problem; validate_host_pattern turns the Problem
// into its message, and host_matches uses the same checker so that a pattern the API would refuse can
// never match anything (fail closed), even if it reached the proxy some other way.
#include "airlock/policies/host_pattern.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstddef>

namespace airlock::policies {
namespace {

constexpr std::size_t kMaxHostLength = 253;  // RFC 1035, without the trailing dot
constexpr std::size_t kMaxLabelLength = 63;

enum class Problem {
  none,
  empty,
  url,
  whitespace,
  path,
  ipv6,
  port,
  non_ascii,
  wildcard,
  wildcard_ipv4,
  trailing_dot,
  empty_label,
  too_long,
  label_too_long,
  hyphen,
  invalid_char,
  bad_ipv4,
};

struct Check {
  Problem problem = Problem::none;
  char bad = 0;  // the offending character, for Problem::invalid_char
};

constexpr bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }
constexpr bool is_alpha(char c) noexcept { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
constexpr bool is_hex(char c) noexcept {
  return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
constexpr char to_lower(char c) noexcept { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool iequals(std::string_view a, std::string_view b) noexcept {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) { return to_lower(x) == to_lower(y); });
}

// A label that resolvers read as a number (inet_aton accepts decimal, octal and 0x-hex parts). A name whose
// last label is one of these is an address or nothing.
bool is_numeric_label(std::string_view label) noexcept {
  if (label.size() >= 2 && label[0] == '0' && (label[1] == 'x' || label[1] == 'X')) {
    return std::all_of(label.begin() + 2, label.end(), is_hex);
  }
  return !label.empty() && std::all_of(label.begin(), label.end(), is_digit);
}

// Exactly four decimal octets 0-255 without leading zeros.
bool is_canonical_ipv4(std::string_view s) noexcept {
  int parts = 0;
  std::size_t start = 0;
  while (true) {
    const std::size_t dot = s.find('.', start);
    const std::string_view part = s.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (part.empty() || part.size() > 3 || !std::all_of(part.begin(), part.end(), is_digit)) return false;
    if (part.size() > 1 && part[0] == '0') return false;  // leading zero: octal to some parsers
    int value = 0;
    for (char c : part) value = value * 10 + (c - '0');
    if (value > 255) return false;
    ++parts;
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return parts == 4;
}

std::string_view last_label(std::string_view name) noexcept {
  const std::size_t dot = name.rfind('.');
  return dot == std::string_view::npos ? name : name.substr(dot + 1);
}

// Checks a name (no '*', no trailing dot) label by label. `allow_underscore` is for hosts, which may be
// any DNS name; patterns must be hostnames.
Check check_labels(std::string_view name, bool allow_underscore, bool check_hyphens) noexcept {
  std::size_t start = 0;
  while (true) {
    const std::size_t dot = name.find('.', start);
    const std::string_view label =
        name.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (label.empty()) return {Problem::empty_label};
    if (label.size() > kMaxLabelLength) return {Problem::label_too_long};
    for (char c : label) {
      if (!is_alpha(c) && !is_digit(c) && c != '-' && !(allow_underscore && c == '_')) {
        return {Problem::invalid_char, c};
      }
    }
    if (check_hyphens && (label.front() == '-' || label.back() == '-')) return {Problem::hyphen};
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return {};
}

Check check_pattern(std::string_view entry) noexcept {
  if (entry.empty()) return {Problem::empty};
  if (entry.find("://") != std::string_view::npos) return {Problem::url};
  std::size_t colons = 0;
  bool slash = false;
  bool bracket = false;
  bool non_ascii = false;
  for (char c : entry) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7f) return {Problem::whitespace};
    non_ascii = non_ascii || u >= 0x80;
    colons += c == ':';
    slash = slash || c == '/';
    bracket = bracket || c == '[' || c == ']';
  }
  if (slash) return {Problem::path};
  if (bracket || colons >= 2) return {Problem::ipv6};
  if (colons == 1) return {Problem::port};
  if (non_ascii) return {Problem::non_ascii};

  const bool wildcard = entry.size() >= 2 && entry[0] == '*' && entry[1] == '.';
  const std::string_view name = wildcard ? entry.substr(2) : entry;
  if (name.find('*') != std::string_view::npos) return {Problem::wildcard};
  if (wildcard && name.empty()) return {Problem::wildcard};
  if (name.back() == '.') {
    return {name.size() >= 2 && name[name.size() - 2] != '.' ? Problem::trailing_dot : Problem::empty_label};
  }
  if (entry.size() > kMaxHostLength) return {Problem::too_long};
  if (const Check labels = check_labels(name, false, true); labels.problem != Problem::none) return labels;
  if (is_numeric_label(last_label(name))) {
    if (wildcard) return {Problem::wildcard_ipv4};
    if (!is_canonical_ipv4(name)) return {Problem::bad_ipv4};
  }
  if (wildcard && name.find('.') == std::string_view::npos) return {Problem::wildcard};  // N4: "*.com"
  return {};
}

// The host Airlock connected to, without its one optional trailing dot, or nullopt when it is not a
// plausible DNS name or IPv4 address.
std::optional<std::string_view> canonical_host(std::string_view host) noexcept {
  const bool fqdn = !host.empty() && host.back() == '.';
  if (fqdn) host.remove_suffix(1);
  if (host.empty() || host.size() > kMaxHostLength) return std::nullopt;
  if (check_labels(host, true, false).problem != Problem::none) return std::nullopt;
  // "192.0.2.1." is not an address to resolvers but a DNS name under a numeric TLD: never an IPv4 match.
  if (is_numeric_label(last_label(host)) && (fqdn || !is_canonical_ipv4(host))) return std::nullopt;
  return host;
}

constexpr std::string_view kBareHostname = "give a bare hostname like api.example.com";

std::string message_for(const Check& check) {
  switch (check.problem) {
    case Problem::none: break;
    case Problem::empty: return fmt::format("empty host; {}", kBareHostname);
    case Problem::url: return fmt::format("URLs are not allowed; {}", kBareHostname);
    case Problem::whitespace: return fmt::format("spaces and control characters are not allowed; {}", kBareHostname);
    case Problem::path: return fmt::format("paths are not allowed; {}", kBareHostname);
    case Problem::ipv6: return "IPv6 addresses are not allowed; give a hostname or an IPv4 address like 192.0.2.1";
    case Problem::port: return fmt::format("ports are not allowed; {}", kBareHostname);
    case Problem::non_ascii:
      return "non-ASCII characters are not allowed; give internationalized names in punycode, like "
             "xn--bcher-kva.example";
    case Problem::wildcard:
      return "wildcards are only allowed as a leading '*.' followed by at least two labels, like *.example.com";
    case Problem::wildcard_ipv4: return "wildcards are not allowed on IPv4 addresses; give the address itself";
    case Problem::trailing_dot:
      return "a trailing dot is not allowed; give the hostname without it, like api.example.com";
    case Problem::empty_label: return "empty label; labels are separated by single dots, like api.example.com";
    case Problem::too_long: return "hostname longer than 253 characters";
    case Problem::label_too_long: return "label longer than 63 characters; labels are 1-63 characters";
    case Problem::hyphen: return "labels must not start or end with '-'";
    case Problem::invalid_char:
      return fmt::format("invalid character '{}'; hostnames use only letters, digits, '-' and '.'", check.bad);
    case Problem::bad_ipv4:
      return "IPv4 addresses must be four decimal numbers 0-255 without leading zeros, like 192.0.2.1";
  }
  return {};
}

}  // namespace

std::optional<std::string> validate_host_pattern(std::string_view entry) {
  const Check check = check_pattern(entry);
  if (check.problem == Problem::none) return std::nullopt;
  return message_for(check);
}

std::string normalize_host_pattern(std::string_view entry) {
  std::string out(entry);
  std::transform(out.begin(), out.end(), out.begin(), to_lower);
  return out;
}

bool host_matches(std::string_view pattern, std::string_view host) noexcept {
  if (check_pattern(pattern).problem != Problem::none) return false;
  const std::optional<std::string_view> name = canonical_host(host);
  if (!name) return false;
  if (pattern.starts_with("*.")) {
    const std::string_view suffix = pattern.substr(1);  // ".example.com": at least one host label before it
    return name->size() > suffix.size() && iequals(name->substr(name->size() - suffix.size()), suffix);
  }
  return iequals(*name, pattern);
}

bool host_matches_any(std::span<const std::string> patterns, std::string_view host) noexcept {
  return std::any_of(patterns.begin(), patterns.end(),
                     [host](const std::string& pattern) { return host_matches(pattern, host); });
}

}  // namespace airlock::policies
