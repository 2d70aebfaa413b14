// airlock::policies host patterns — the entries of a credential's or an environment's `allowed_hosts`, and
// matching them against the host Airlock connected to.
//
// Accepted entries (API.md: "a bare hostname, an IPv4 address or a `*.` wildcard"):
//   - a hostname: labels of letters, digits and '-' (LDH), 1-63 characters each, not starting or ending with
//     '-', separated by single dots, at most 253 characters in all. Single-label names ("localhost") are
//     accepted. Uppercase is accepted and normalised to lowercase. Internationalised names must be given in
//     punycode ("xn--bcher-kva.example"); underscores, spaces and any other character are refused.
//   - an IPv4 address as four decimal octets 0-255 without leading zeros ("192.0.2.1"). "010.0.0.1" is
//     refused (octal to inet_aton, decimal to others: ambiguous), and so is anything whose last label is
//     numeric or 0x-hex but which is not such a dotted quad ("1.2.3", "127.1", "0x7f000001"): resolvers
//     read those as addresses, and a top-level label is never numeric.
//   - "*." followed by a hostname of at least two labels ("*.example.com"). N4: "*", "*.com", "*.localhost",
//     "a.*.example.com", "*example.com" and wildcards over IPv4 addresses are refused. There is no public
//     suffix list: "*.co.uk" is accepted.
//   - Refused with a message naming the form: URLs, ports, paths, IPv6 addresses, a trailing dot, empty
//     labels, whitespace.
//
// Matching (host_matches): the host is what Airlock connected to, a DNS name or an IP literal.
//   - case-insensitive exact match of a hostname or IPv4 pattern;
//   - "*.example.com" matches any subdomain at any depth ("a.example.com", "a.b.example.com") but never
//     "example.com" itself;
//   - an IPv4 pattern matches only that address written canonically; an IPv6 host matches no pattern
//     (IPv6 patterns do not exist), and an IPv4-mapped IPv6 host does not match an IPv4 pattern;
//   - one trailing dot on the host is ignored: "api.example.com." is the fully qualified spelling of the
//     same DNS name, resolved without search domains, so it is the same upstream. The dot is removed
//     before matching, so "example.com." is "example.com" and does not match "*.example.com" either.
//   - fail closed: a pattern that validate_host_pattern refuses matches nothing, and a host that is not a
//     plausible DNS name or IPv4 address (empty, "..", ':', '/', '@', whitespace, NUL, two trailing dots,
//     a non-canonical numeric form) matches nothing. Host labels may contain '_' (real DNS names do), so
//     "a_b.example.com" matches "*.example.com". An IPv4 host with a trailing dot ("192.0.2.1.") matches
//     nothing: resolvers treat it as a DNS name, not as the address.
//
// All functions are pure and thread-safe; host_matches allocates nothing.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace airlock::policies {

// Validates one entry of a credential's or environment's allowed_hosts. Returns std::nullopt when valid,
// else a short message that names the problem and the accepted form, without the JSON path (the caller
// prefixes it), e.g. "ports are not allowed; give a bare hostname like api.example.com".
std::optional<std::string> validate_host_pattern(std::string_view entry);

// Normalises a valid pattern: ASCII lowercase. Precondition: validate_host_pattern(entry) is nullopt
// (otherwise the entry is only lowercased, never repaired).
std::string normalize_host_pattern(std::string_view entry);

// True when `host` matches `pattern` under the rules above.
bool host_matches(std::string_view pattern, std::string_view host) noexcept;

// True when `host` matches at least one of `patterns`.
bool host_matches_any(std::span<const std::string> patterns, std::string_view host) noexcept;

}  // namespace airlock::policies
