// Pure parsing of what the sandbox names as its destination: a CONNECT target ("host:port"), an
// absolute-form URL ("http://host:port/path?query"), a Host header; the path without its query (for
// audit rows and logs, S8); and strict base64 (Proxy-Authorization and Authorization: Basic).
//
// These are claims made by the sandbox. A host that parses here is also run through
// certs::validate_host, so everything downstream sees a normalised LDH name or IP literal.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "airlock/certs/host.hpp"

namespace airlock::proxy {

struct Authority {
  certs::ValidatedHost host;
  std::uint16_t port;
};

// "host:port" or "[v6]:port" with a port in 1..65535 (RFC 9110 authority-form: the port is required).
std::optional<Authority> parse_connect_target(std::string_view target);

struct AbsoluteUrl {
  std::string scheme;  // lowercase: "http" or "https"
  Authority authority;
  std::string origin_form;  // "/path?query" ("/" when the URL has no path)
};

// "http://host[:port][/path][?query]" or https. No userinfo, no fragment. Default ports 80 / 443.
std::optional<AbsoluteUrl> parse_absolute_url(std::string_view target);

// A Host header value ("host", "host:port", "[v6]:port") as an authority; `default_port` when it names
// none. What a transparent plain-HTTP connection is for (with the original destination's port).
std::optional<Authority> parse_host_header(std::string_view value, std::uint16_t default_port);

// True when a Host header value names `host` (case-insensitively) and either names `port` or no port at
// all. A client may leave out the port only when it is the scheme's default, but some omit it regardless;
// accepting a missing port is harmless because the connection goes to `port` either way.
bool host_header_matches(std::string_view value, const certs::ValidatedHost& host, std::uint16_t port);

// The request target without its query: "/v1/x?key=1" -> "/v1/x"; an absolute URL's path likewise.
std::string_view path_of(std::string_view target) noexcept;

// Strict base64 (RFC 4648 §4, padding required, no whitespace). nullopt when malformed.
std::optional<std::string> base64_decode(std::string_view text);
std::string base64_encode(std::string_view bytes);

bool iequals(std::string_view a, std::string_view b) noexcept;

}  // namespace airlock::proxy
