// redact: response redaction (SECURITY.md S7, S10, S11). A response from a host that one of the
// session's credentials may be sent to can carry that secret back (an echo endpoint, a stored value read
// back). Before such a response reaches the sandbox, every form of those secrets that Airlock can
// recognise is replaced:
//   - the raw value: by the credential's placeholder (an environment_variable, so the agent sees what it
//     sent), or by kRedactedToken (a static_bearer token);
//   - the exact encodings Airlock itself wrote into this request (the Authorization: Basic value it
//     re-encoded after substituting): by the value the sandbox sent;
//   - base64 of the value at each of the three byte alignments it can have inside a longer base64 text,
//     in the standard and the URL-safe alphabet: by kRedactedEncoded. Only the characters that depend on
//     the secret's bits alone are matched, so up to 4 bits of its first and of its last byte can stay
//     visible at the edges of such an encoding (docs/security.md).
// Other transformations (hex, reversed, case-changed, encrypted) by the upstream are out of any proxy's
// reach.
//
// Which secrets: only those of the credentials that may be sent to this upstream (Plan::reflect). A
// response from any other host cannot hold a secret that was never sent there, and scanning it for one
// would only offer an oracle (S10): post candidates to an echo service, see which comes back redacted.
//
// Streaming bodies use a fixed hold-back (StreamReplacer::Hold::fixed): what reaches the sandbox after
// each read depends on lengths only, never on whether the bytes so far begin a secret (S10).
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "airlock/http1/parser.hpp"
#include "rewrite.hpp"

namespace airlock::proxy {

inline constexpr std::string_view kRedactedToken = "airlock-redacted-token";
inline constexpr std::string_view kRedactedEncoded = "airlock-redacted";

// Base64 texts shorter than this are not redacted (they would match ordinary base64 data by chance); the
// credential API refuses secrets short enough to produce them.
inline constexpr std::size_t kMinEncodedNeedle = 8;

// The base64 forms of `secret` described above (standard and URL-safe, three alignments, deduplicated,
// none shorter than kMinEncodedNeedle). Pure; exposed for tests.
std::vector<std::string> base64_forms(std::string_view secret);

// What one response is scanned for. Owns the derived needles (wiped on destruction); the BodyFilter and
// the rules point into them, so a Redaction never moves.
class Redaction {
 public:
  // `credentials`: the ones that may reach this upstream; `written`: encodings this request carried.
  Redaction(std::span<const CredentialRule* const> credentials, std::span<const WrittenEncoding> written);
  ~Redaction();
  Redaction(const Redaction&) = delete;
  Redaction& operator=(const Redaction&) = delete;

  // False when nothing is scanned for (the upstream receives no credential).
  bool active() const noexcept { return body_.active(); }

  // The streaming filter for the body (fixed hold-back).
  BodyFilter& body() noexcept { return body_; }

  // Redacts every header field's name and value in place. Returns the number of replacements.
  std::size_t headers(http1::Headers& headers);
  // Redacts a whole buffer at once (a decoded body). Returns the number of replacements.
  std::size_t whole(std::string& bytes);

  // The credentials whose secrets (in any form above) this response has had replaced so far, through
  // headers(), whole() or body(), each once, in the order given. Empty, allocating nothing, when nothing
  // was replaced.
  std::vector<const CredentialRule*> redacted() const;

 private:
  struct RuleOwner {  // rule `rule` of body_ redacts `credential`'s secret (a written encoding: one per credential)
    std::size_t rule;
    const CredentialRule* credential;
  };
  std::vector<std::string> derived_;  // reserved once: the rules hold views into these strings
  std::vector<RuleOwner> owners_;     // by rule, ascending
  BodyFilter body_;
};

}  // namespace airlock::proxy
