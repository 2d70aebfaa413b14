// Fuzz target host_pattern: the allowed_hosts entries of credentials and environments and how they match
// the upstream host (policies/include/airlock/policies/host_pattern.hpp), with the two parsers a host meets
// on the way there: certs::validate_host (what a CONNECT target or SNI becomes) and
// policies::parse_address / Cidr::parse (address checks, N1, N2).
//
// Input: a pattern on the first line, the host in the rest ("api.example.com\nAPI.example.com.").
//
// Checks (a violation aborts):
//   - a pattern validate_host_pattern() accepts is made of LDH labels (a leading "*." aside) within the
//     length bounds, a wildcard covers at least two labels, an all-numeric name is a dotted quad without
//     leading zeros, and normalize_host_pattern() lowercases it, idempotently, into a pattern still valid;
//   - fail closed: a refused pattern matches nothing, and says why;
//   - host_matches() never matches where the plain rule (exact name, or a name under the wildcard's
//     domain; one trailing dot ignored) does not, and does match a plain lowercase name that it covers;
//     matching ignores ASCII case on both sides, and host_matches_any() agrees with host_matches();
//   - certs::validate_host and policies::parse_address agree on what is an address: a host validated as
//     IPv4 or IPv6 parses as that address (same canonical text), one validated as a DNS name is no address;
//     validate_host is idempotent on its own output;
//   - a Cidr that parses prints as text that parses to the same Cidr, and contains its network address.
#include <array>
#include <string>

#include "airlock/certs/host.hpp"
#include "airlock/policies/address.hpp"
#include "airlock/policies/host_pattern.hpp"
#include "airlock/policies/policy.hpp"  // covers_public_suffix
#include "fuzz_support.hpp"

namespace airlock::fuzz {
namespace {

std::string ascii_lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  return out;
}

std::string ascii_upper(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c;
  return out;
}

std::vector<std::string_view> labels_of(std::string_view name) {
  std::vector<std::string_view> labels;
  std::size_t start = 0;
  for (;;) {
    const std::size_t dot = name.find('.', start);
    labels.push_back(name.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start));
    if (dot == std::string_view::npos) return labels;
    start = dot + 1;
  }
}

bool all_digits(std::string_view text) {
  return !text.empty() && text.find_first_not_of("0123456789") == std::string_view::npos;
}

// A label resolvers read as a number: decimal, or 0x and hex digits (inet_aton).
bool numeric_label(std::string_view label) {
  if (label.starts_with("0x")) return label.find_first_not_of("0123456789abcdef", 2) == std::string_view::npos;
  return all_digits(label);
}

// The accepted forms, written out from the header's rules.
bool acceptable_pattern(std::string_view normalized) {
  std::string_view name = normalized;
  const bool wildcard = name.starts_with("*.");
  if (wildcard) name.remove_prefix(2);
  if (name.empty() || name.size() > 253) return false;
  const std::vector<std::string_view> labels = labels_of(name);
  for (const std::string_view label : labels) {
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') return false;
    if (label.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-") != std::string_view::npos) return false;
  }
  if (wildcard && labels.size() < 2) return false;
  const bool numeric = std::all_of(labels.begin(), labels.end(), [](std::string_view l) { return all_digits(l); });
  if (numeric) {
    if (wildcard || labels.size() != 4) return false;
    for (const std::string_view label : labels) {
      if ((label.size() > 1 && label[0] == '0') || label.size() > 3 || std::stoi(std::string(label)) > 255) return false;
    }
  } else if (numeric_label(labels.back())) {
    return false;
  }
  return true;
}

// The plain rule, for a valid normalized pattern.
bool plainly_matches(std::string_view pattern, std::string_view host) {
  std::string name = ascii_lower(host);
  if (name.ends_with('.')) name.pop_back();
  if (pattern.starts_with("*.")) return name.size() > pattern.size() - 1 && name.ends_with(pattern.substr(1));
  return name == pattern;
}

// Lowercase letters and digits in labels of 1 to 63, the last one not all digits: a name every matcher
// must take as it is.
bool plain_name(std::string_view host) {
  if (host.empty() || host.size() > 253) return false;
  const std::vector<std::string_view> labels = labels_of(host);
  for (const std::string_view label : labels) {
    if (label.empty() || label.size() > 63) return false;
    if (label.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789") != std::string_view::npos) return false;
  }
  return !numeric_label(labels.back());
}

void check_addresses(std::string_view host) {
  const auto validated = certs::validate_host(host);
  const std::optional<policies::Address> address = policies::parse_address(host);
  if (!validated) return;
  const auto again = certs::validate_host(validated->text());
  AIRLOCK_FUZZ_CHECK(again && *again == *validated);
  if (validated->kind() == certs::ValidatedHost::Kind::dns) {
    AIRLOCK_FUZZ_CHECK(!address);
    return;
  }
  AIRLOCK_FUZZ_CHECK(address.has_value());
  AIRLOCK_FUZZ_CHECK(address->is_v4() == (validated->kind() == certs::ValidatedHost::Kind::ipv4));
  const std::optional<policies::Address> canonical = policies::parse_address(validated->text());
  AIRLOCK_FUZZ_CHECK(canonical && *canonical == *address);
  (void)policies::AddressRules{}.check(*address, 443);
}

void check_cidr(std::string_view text) {
  const auto cidr = policies::Cidr::parse(text);
  if (!cidr) return;
  const auto again = policies::Cidr::parse(cidr.value().text());
  AIRLOCK_FUZZ_CHECK(again && again.value() == cidr.value());
  AIRLOCK_FUZZ_CHECK(cidr.value().contains(cidr.value().network()));
}

}  // namespace
}  // namespace airlock::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace airlock;
  using namespace airlock::fuzz;
  const auto [pattern, host] = split_once(as_text(data, size), "\n");
  check_addresses(host);
  check_cidr(pattern);

  const bool matches = policies::host_matches(pattern, host);
  AIRLOCK_FUZZ_CHECK(policies::host_matches(pattern, ascii_upper(host)) == matches);
  AIRLOCK_FUZZ_CHECK(policies::host_matches(pattern, ascii_lower(host)) == matches);
  const std::array<std::string, 2> patterns = {std::string(pattern), "unrelated.invalid"};
  AIRLOCK_FUZZ_CHECK(policies::host_matches_any(patterns, host) == (matches || policies::host_matches(patterns[1], host)));

  const std::optional<std::string> problem = policies::validate_host_pattern(pattern);
  if (problem) {
    AIRLOCK_FUZZ_CHECK(!problem->empty());
    AIRLOCK_FUZZ_CHECK(!matches);
    return 0;
  }
  const std::string normalized = policies::normalize_host_pattern(pattern);
  AIRLOCK_FUZZ_CHECK(normalized == ascii_lower(pattern));
  AIRLOCK_FUZZ_CHECK(acceptable_pattern(normalized));
  AIRLOCK_FUZZ_CHECK(!policies::validate_host_pattern(normalized));
  AIRLOCK_FUZZ_CHECK(policies::normalize_host_pattern(normalized) == normalized);
  AIRLOCK_FUZZ_CHECK(policies::host_matches(normalized, host) == matches);
  AIRLOCK_FUZZ_CHECK(policies::host_matches(ascii_upper(pattern), host) == matches);
  if (matches) AIRLOCK_FUZZ_CHECK(plainly_matches(normalized, host));
  if (plain_name(host) && plainly_matches(normalized, host)) AIRLOCK_FUZZ_CHECK(matches);
  if (normalized.starts_with("*.")) (void)policies::covers_public_suffix(normalized);
  return 0;
}
