// redact: response redaction (SECURITY.md S7). Every real value of the session's credentials that an
// upstream sends back is replaced before it reaches the sandbox: an environment_variable's value by its
// placeholder (so the agent sees what it sent), a static_bearer token by kRedactedToken. Response header
// values always; bodies when identity-encoded (a compressed body cannot be scanned; Airlock asks for
// identity on every request that carried a substitution). Bodies stream through BodyFilter, so a value
// split across reads or chunks is still found. Pure.
#pragma once

#include <cstddef>
#include <string_view>

#include "airlock/http1/parser.hpp"
#include "rewrite.hpp"

namespace airlock::proxy {

inline constexpr std::string_view kRedactedToken = "airlock-redacted-token";

// Redacts every header value in place. Returns the number of values replaced.
std::size_t redact_headers(BodyFilter& redactor, http1::Headers& headers);

}  // namespace airlock::proxy
