// decode: undoing the content codings an upstream applied to a response body (gzip, deflate, br), so that
// a response from a host that receives credentials can be scanned for them even when it arrives
// compressed (SECURITY S11). Pure: bytes in, bytes out, zlib and libbrotli behind it.
//
// Airlock asks such hosts for `Accept-Encoding: identity`; a host that compresses anyway (or labels a
// plain body as compressed) is decoded here in full, within a cap on the decoded size, and the sandbox
// gets the decoded body. Anything that cannot be decoded (an unknown coding, a corrupt or truncated
// stream, more than the cap) is an error, and the response is refused rather than forwarded unscanned.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "airlock/http1/parser.hpp"

namespace airlock::proxy {

enum class Coding { gzip, deflate, br };

struct Codings {
  std::vector<Coding> applied;  // in the order the sender applied them (the header's order); identity left out
  std::string unknown;          // the first coding Airlock cannot decode, lowercased; empty when none
};

// Every Content-Encoding field of `headers`, each a comma-separated list, joined in order (RFC 9110 §8.4:
// several fields are one list, so `Content-Encoding: identity` followed by `Content-Encoding: gzip` means
// gzip). "x-gzip" is gzip; "identity" and empty elements are skipped.
Codings content_codings(const http1::Headers& headers);

// The transfer codings of a response other than its final "chunked" (which the parser removes): a
// response from a credential host whose body still carries one is not scannable. Empty when none.
std::string extra_transfer_coding(const http1::Headers& headers);

class ContentDecoder {
 public:
  // Decodes `applied` (outermost last) into at most `max_output` bytes.
  ContentDecoder(const std::vector<Coding>& applied, std::size_t max_output);
  ~ContentDecoder();
  ContentDecoder(const ContentDecoder&) = delete;
  ContentDecoder& operator=(const ContentDecoder&) = delete;

  // Feeds encoded bytes; false once the stream is known to be bad (error() says why).
  bool feed(std::string_view encoded);
  // The end of the encoded body: false when a stream was truncated or anything failed before.
  bool finish();

  std::string& output() noexcept { return output_; }  // the decoded bytes so far
  std::string_view error() const noexcept { return error_; }

 private:
  struct Stage;
  bool push(std::size_t stage, std::string_view input, bool at_end);

  std::vector<std::unique_ptr<Stage>> stages_;  // stages_[0] undoes the outermost coding
  std::size_t max_output_;
  bool fed_ = false;  // any encoded byte arrived
  std::string output_;
  std::string error_;
};

}  // namespace airlock::proxy
