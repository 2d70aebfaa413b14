// decide() (see decide.hpp). Header fields are scanned once per credential; sessions hold a handful of
// credentials, so a plain substring search beats building a multi-needle scanner per request.
#include "decide.hpp"

#include <span>
#include <string_view>

#include "airlock/policies/host_pattern.hpp"
#include "target.hpp"

namespace airlock::proxy {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool contains(std::string_view haystack, std::string_view needle) {
  return !needle.empty() && haystack.find(needle) != std::string_view::npos;
}

// Fields never forwarded upstream (hop-by-hop toward the proxy): a placeholder there goes nowhere.
bool is_proxy_field(std::string_view name) {
  return iequals(name, "Proxy-Authorization") || iequals(name, "Proxy-Connection");
}

// S5: the placeholder is looked for in the raw value and, for Authorization: Basic, in the decoded
// user:password as well.
bool in_headers(const http1::Headers& headers, std::string_view placeholder) {
  for (const auto& field : headers.fields) {
    if (is_proxy_field(field.name)) continue;
    if (contains(field.value, placeholder)) return true;
    if (iequals(field.name, "Authorization")) {
      const std::string_view value = trim(field.value);
      const auto space = value.find(' ');
      if (space != std::string_view::npos && iequals(value.substr(0, space), "basic")) {
        if (const auto decoded = base64_decode(trim(value.substr(space + 1))); decoded && contains(*decoded, placeholder)) {
          return true;
        }
      }
    }
  }
  return false;
}

// Does the request go to `url` (static_bearer's mcp_server_url)? Same scheme, host, port, and a path
// under the URL's path at a segment boundary ("/mcp" covers "/mcp", "/mcp/x", "/mcp?q", not "/mcpx").
// Returns the matched prefix length + 1, or 0 for no match.
std::size_t bearer_match(const CredentialRule& credential, const VerifiedUpstream& upstream, std::string_view path) {
  const auto url = parse_absolute_url(credential.mcp_server_url);
  if (!url || (url->scheme == "https") != upstream.tls() || url->authority.host != upstream.host() ||
      url->authority.port != upstream.port()) {
    return 0;
  }
  const std::string_view prefix = path_of(url->origin_form);
  if (path.substr(0, prefix.size()) != prefix) return 0;
  if (path.size() > prefix.size() && !prefix.empty() && prefix.back() != '/' && path[prefix.size()] != '/') return 0;
  return prefix.size() + 1;
}

// Whether a static_bearer's token may be sent to this upstream (its URL's scheme, host and port; any path).
bool bearer_host(const CredentialRule& credential, const VerifiedUpstream& upstream) {
  const auto url = parse_absolute_url(credential.mcp_server_url);
  return url && (url->scheme == "https") == upstream.tls() && url->authority.host == upstream.host() &&
         url->authority.port == upstream.port();
}

}  // namespace

bool environment_allows(const SessionEntry& session, const certs::ValidatedHost& host) noexcept {
  return !session.network_limited || policies::host_matches_any(session.allowed_hosts, host.text());
}

bool credential_allows(const CredentialRule& credential, const certs::ValidatedHost& host) noexcept {
  return credential.unrestricted || policies::host_matches_any(credential.allowed_hosts, host.text());
}

bool has_body(const http1::RequestHead& head) noexcept {
  return head.chunked || head.content_length.value_or(0) > 0;
}

bool is_compressed(const http1::Headers& headers) noexcept {
  const std::string* encoding = headers.find("Content-Encoding");
  if (encoding == nullptr) return false;
  const std::string_view value = trim(*encoding);
  return !value.empty() && !iequals(value, "identity");
}

Decision decide(const http1::RequestHead& head, const VerifiedUpstream& upstream, const SessionEntry& session,
                const DecideOptions& options) {
  const certs::ValidatedHost& host = upstream.host();
  if (!environment_allows(session, host)) return Refuse{Reason::host_not_allowed};

  const bool plaintext_refused = !upstream.tls() && !options.allow_plaintext_substitution;
  const bool body = has_body(head);
  const bool compressed = body && is_compressed(head.headers);
  const std::string_view path = path_of(head.target);

  Plan plan;
  std::size_t bearer_best = 0;
  for (const auto& shared : session.credentials) {
    const CredentialRule& credential = *shared;
    if (credential.kind == CredentialRule::Kind::static_bearer) {
      if (bearer_host(credential, upstream)) plan.reflect.push_back(&credential);
      if (const std::size_t match = bearer_match(credential, upstream, path); match > bearer_best) {
        bearer_best = match;
        plan.bearer = &credential;
      }
      continue;
    }
    const std::string_view placeholder = credential.placeholder;
    if (placeholder.empty()) continue;
    const bool seen_in_headers = in_headers(head.headers, placeholder);
    const bool seen_in_target = contains(head.target, placeholder);

    if (!credential_allows(credential, host)) {
      if (options.violation_passthrough) continue;  // forwarded unchanged, never substituted
      if (seen_in_headers || seen_in_target) return Refuse{Reason::placeholder_violation, &credential};
      if (body) plan.watch.push_back({&credential, Reason::placeholder_violation});
      continue;
    }
    plan.reflect.push_back(&credential);
    const bool header = seen_in_headers && credential.in_header;
    const bool url = seen_in_target && credential.in_url;
    if ((header || url) && plaintext_refused) return Refuse{Reason::plaintext_substitution, &credential};
    if (header) plan.header.push_back(&credential);
    if (url) plan.url.push_back(&credential);
    if (credential.in_body && body) {
      if (compressed) {
        plan.watch.push_back({&credential, Reason::compressed_body});
      } else if (plaintext_refused) {
        plan.watch.push_back({&credential, Reason::plaintext_substitution});
      } else {
        plan.body.push_back(&credential);
      }
    }
  }
  if (plan.bearer != nullptr && plaintext_refused) return Refuse{Reason::plaintext_substitution, plan.bearer};
  if (head.upgrade && !plan.reflect.empty()) return Refuse{Reason::upgrade_refused, plan.reflect.front()};
  return plan;
}

}  // namespace airlock::proxy
