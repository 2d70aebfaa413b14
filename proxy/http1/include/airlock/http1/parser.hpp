// airlock::http1 — HTTP/1.1 message parsing over bytes, with llhttp in strict mode behind it.
//
// Pure: no sockets, no clock. The caller reads bytes however it likes and feeds them in; the parser says
// when a message head is complete, hands over body bytes as they are decoded (chunked framing removed),
// and says when the message ends. One parser object parses a sequence of messages on one connection
// (keep-alive, pipelining): after message_done, parse() continues with the next message.
//
// Refused, with a message that names the problem (S6: no request smuggling): anything llhttp's strict mode
// refuses (bad tokens, conflicting Content-Length / Transfer-Encoding, Transfer-Encoding other than a final
// `chunked` in a request, invalid chunk sizes, NUL or CR in values), a header block or trailer section larger
// than Limits::max_header_bytes, obs-fold continuation lines, whitespace between a header name and its
// colon, a bare LF or bare CR anywhere in a head or trailer section, and, in requests, two Host fields, a
// CONNECT with a body, Transfer-Encoding in HTTP/1.0, and the HTTP/2 preface. Messages never quote input
// bytes. After an error the parser stays failed. The refused inputs are listed in testdata/refused_*.txt.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace airlock::http1 {

struct Header {
  std::string name;   // as sent
  std::string value;  // leading and trailing whitespace removed
};

struct Headers {
  std::vector<Header> fields;  // in the order received
  // First value whose name equals `name` case-insensitively, or nullptr.
  const std::string* find(std::string_view name) const noexcept;
  // Removes every field named `name` (case-insensitively); returns how many.
  std::size_t erase(std::string_view name);
  // Replaces the first field named `name` (and erases the rest), or appends it.
  void set(std::string_view name, std::string_view value);
};

struct RequestHead {
  std::string method;  // "GET", "CONNECT", ...
  std::string target;  // request-target as sent: "/p?q", "http://h/p", "host:443"
  int version_major = 1;
  int version_minor = 1;
  Headers headers;
  bool keep_alive = true;                      // per HTTP/1.x rules for this message (final at message_done)
  bool upgrade = false;                        // CONNECT or Upgrade: bytes after the head are not HTTP
  std::optional<std::uint64_t> content_length;  // when framed by Content-Length (never for CONNECT)
  bool chunked = false;                         // when framed by Transfer-Encoding: chunked
};

struct ResponseHead {
  int status = 0;
  std::string reason;
  int version_major = 1;
  int version_minor = 1;
  Headers headers;
  bool keep_alive = true;
  bool upgrade = false;  // 101 Switching Protocols, or 2xx to CONNECT: bytes after the head are not HTTP
  // The body's framing; nullopt / false when the response has no body whatever its headers say (to HEAD;
  // 1xx, 204, 304; tunnels). The header fields themselves are kept as received.
  std::optional<std::uint64_t> content_length;
  bool chunked = false;
};

struct Limits {
  // Start line + header fields, counted over the raw bytes up to and including the empty line (and any
  // empty lines before the start line). A chunked body's trailer section has the same bound.
  std::size_t max_header_bytes = 65536;
};

enum class State {
  need_more,     // every byte of the input was consumed; feed more
  head_done,     // head() is complete; body bytes (if any) follow in later calls
  body,          // some body bytes were appended; continue
  message_done,  // the current message ended; the next parse() starts the next message
  error,         // error() says why; the parser is unusable from here on
};

struct Step {
  State state = State::need_more;
  std::size_t consumed = 0;  // bytes of the input that were used; feed the rest again
};

// Parses requests. Body bytes are appended to the caller's vector as views into the input given to that
// call (never empty ones); they stay valid exactly as long as that input does. After message_done for a
// message whose head says upgrade, the rest of the input is tunnel data and parsing should stop; if the
// upgrade did not happen (the origin answered without 101), parse() may go on with the next request.
class RequestParser {
 public:
  explicit RequestParser(Limits limits = {});
  ~RequestParser();
  RequestParser(RequestParser&&) noexcept;
  RequestParser& operator=(RequestParser&&) noexcept;

  // Stops at the first of: head complete, message complete, error, input exhausted. Decoded body bytes
  // found on the way are appended to `body` (State::body when that is why it returned).
  Step parse(std::string_view input, std::vector<std::string_view>& body);

  const RequestHead& head() const noexcept;  // valid from head_done until the next message starts
  // Trailer fields of a chunked body; valid from message_done until the next message starts.
  const Headers& trailers() const noexcept;
  std::string_view error() const noexcept;   // empty unless State::error was returned

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Parses responses. `request_method` of the matching request decides whether a body can follow (HEAD,
// and 1xx/204/304 responses, have none; a 2xx to CONNECT is a tunnel).
class ResponseParser {
 public:
  explicit ResponseParser(Limits limits = {});
  ~ResponseParser();
  ResponseParser(ResponseParser&&) noexcept;
  ResponseParser& operator=(ResponseParser&&) noexcept;

  // Call before each response's head arrives. It holds through interim 1xx responses and is forgotten
  // when a final response completes (the default expects a method other than HEAD and CONNECT).
  void expect_response_to(std::string_view request_method);
  Step parse(std::string_view input, std::vector<std::string_view>& body);
  // A response framed by connection close ends when the peer closes: call this on EOF. Returns true when
  // that ends the message cleanly, false when the message was incomplete (truncated).
  bool finish_on_eof();

  const ResponseHead& head() const noexcept;
  const Headers& trailers() const noexcept;
  std::string_view error() const noexcept;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Serialising heads. Names and values are written as stored; callers have already validated them (a
// value with CR or LF never reaches here: parsed values cannot hold them, and ours are generated).
std::string serialize(const RequestHead& head);
std::string serialize(const ResponseHead& head);

}  // namespace airlock::http1
