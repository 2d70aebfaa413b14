// rewrite: the request Airlock sends upstream, built from the sandbox's request and the decision. Pure:
// heads in, heads out, and a streaming body filter; no I/O.
//
//   - the target becomes origin-form; url substitutions are applied to it (path and query);
//   - hop-by-hop fields go (Connection and the fields it names, Keep-Alive, Proxy-Authorization,
//     Proxy-Connection, TE, Upgrade unless upgrading); Expect goes too (the proxy answers 100 itself);
//   - header substitutions replace the placeholder in every value, and inside Authorization: Basic the
//     base64 is decoded, substituted and re-encoded (S5);
//   - a static_bearer sets Authorization: Bearer <token>, replacing the client's;
//   - toward a host that receives credentials (Plan::reflect), Accept-Encoding: identity, so the answer can be
//     redacted, and no Range / If-Range, so a secret cannot come back in pieces (S7, S11);
//   - framing fields are removed: the caller sets them for the body it will actually send (S6).
//
// The rewritten head holds secret values: the caller writes it and wipes the buffer; it is never logged.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "airlock/http1/parser.hpp"
#include "airlock/proxy/audit.hpp"
#include "airlock/proxy/replacer.hpp"
#include "decide.hpp"

namespace airlock::proxy {

enum class Framing {
  none,     // no body
  length,   // Content-Length
  chunked,  // Transfer-Encoding: chunked
  close,    // delimited by closing the connection (responses to HTTP/1.0 clients)
};

// The secret as bytes to write. Valid while the credential (and so its snapshot) lives.
std::string_view secret_view(const CredentialRule& credential) noexcept;

// Removes hop-by-hop fields (RFC 9110 §7.6.1) and the framing fields.
void strip_hop_by_hop(http1::Headers& headers, bool keep_upgrade);
// Sets the framing fields for `framing` (Content-Length: `length`, or Transfer-Encoding: chunked).
void set_framing(http1::Headers& headers, Framing framing, std::uint64_t length);

// An encoding of a secret that Airlock wrote into a request (the Authorization: Basic value it re-encoded
// after substituting), and what the sandbox sent in its place: an echo of `written` is redacted back to
// `sent` (redact.hpp). Both are wiped on destruction. `credentials`: the ones whose secrets it carries
// (for the redaction counts by secret_name); they live as long as the request's snapshot.
struct WrittenEncoding {
  std::string written;
  std::string sent;
  std::vector<const CredentialRule*> credentials;
  WrittenEncoding(std::string written_in, std::string sent_in, std::vector<const CredentialRule*> credentials_in = {})
      : written(std::move(written_in)), sent(std::move(sent_in)), credentials(std::move(credentials_in)) {}
  WrittenEncoding(WrittenEncoding&&) noexcept = default;
  WrittenEncoding& operator=(WrittenEncoding&&) noexcept = default;
  ~WrittenEncoding();
};

struct UpstreamRequest {
  http1::RequestHead head;                  // framing fields not yet set
  std::vector<EgressRecord::Use> uses;      // header and url substitutions made
  std::vector<WrittenEncoding> written;     // Basic values re-encoded with a secret inside
  UpstreamRequest() = default;
  UpstreamRequest(UpstreamRequest&&) noexcept = default;
  UpstreamRequest& operator=(UpstreamRequest&&) noexcept = default;
  ~UpstreamRequest();                       // wipes the target and header values when they hold a secret
};

// `origin_form`: the target to send ("/path?query"); `host_header`: the Host value to add when the client
// sent none (HTTP/1.0 absolute-form).
UpstreamRequest rewrite_head(const http1::RequestHead& client, std::string_view origin_form,
                             std::string_view host_header, const Plan& plan);

// Streaming body rewrite: substitution rules (placeholder → secret) and watches (a placeholder that
// refuses the request when it appears). A watched placeholder is detected before any of its bytes is
// handed out: the replacer holds back every possible needle prefix.
class BodyFilter {
 public:
  BodyFilter() = default;
  // Request bodies: plan.body substituted, plan.watch watched.
  static BodyFilter for_request(const Plan& plan);
  // Response bodies (redact.cpp): the given redaction rules, with a fixed hold-back (S10).
  static BodyFilter for_redaction(std::vector<StreamReplacer::Rule> rules);

  bool active() const noexcept { return replacer_ != nullptr; }
  // True when a rule can change the length (a substitution or a redaction, not a watch).
  bool changes_length() const noexcept { return substitutions_ > 0; }

  // Appends the filtered bytes of `in` to `out`. Returns the watch that matched, if any; then the
  // request must be refused and `out` discarded.
  const BodyWatch* feed(std::string_view in, std::string& out);
  const BodyWatch* finish(std::string& out);

  std::size_t replacements() const noexcept;  // substitutions and redactions made (watches excluded)
  // Whether rule `rule` (in the order given to for_redaction) has matched at least once so far.
  bool matched(std::size_t rule) const noexcept;
  std::vector<EgressRecord::Use> uses() const;  // request bodies: credentials substituted ("body")

  // Header redaction for responses: applies the same rules to one value. Returns replacements made.
  std::size_t redact_value(std::string& value);

 private:
  const BodyWatch* violated() const noexcept;

  std::unique_ptr<StreamReplacer> replacer_;
  std::vector<const CredentialRule*> credentials_;  // rule i < substitutions_: its credential
  std::size_t substitutions_ = 0;
  std::vector<BodyWatch> watches_;                  // rule substitutions_ + j: watches_[j]
};

// Frames body bytes for the wire.
class BodyEncoder {
 public:
  explicit BodyEncoder(Framing framing) : framing_(framing) {}
  Framing framing() const noexcept { return framing_; }
  void append(std::string& out, std::string_view data) const;
  // The end of the body: for chunked, the last chunk, `trailers` (may be null) and the final CRLF.
  void finish(std::string& out, const http1::Headers* trailers) const;

 private:
  Framing framing_;
};

// Overwrites a buffer that held secret bytes, then clears it.
void wipe(std::string& buffer) noexcept;

}  // namespace airlock::proxy
