// Fuzz target http1_response: ResponseParser (proxy/http1) over any byte stream an upstream can send,
// answering any sequence of request methods, ending with the connection's close.
//
// Input: the methods answered, as a first line of words ("GET HEAD CONNECT"; the last one repeats), then
// the upstream's bytes. An input that starts with "HTTP/" has no such line: every response answers a GET.
//
// Checks (a violation aborts):
//   - the Step contract on every call, and a failed parser stays failed (fuzz_support.hpp, drive);
//   - the same messages, bodies, trailers and error whether the bytes come whole, in random chunks or one
//     at a time (S6: the proxy and the sandbox must agree on where a response ends);
//   - no CR, LF or NUL in a reason, field name or value, and no blank or colon in a field name;
//   - Content-Length and chunked never both; a finished body framed by Content-Length has that length;
//     a response to HEAD, a 1xx, 204 or 304 has no body;
//   - serialize(head) parses back, answering the same method, to the same status, reason, fields and
//     framing: the head the proxy passes on is read as the head it parsed.
#include "http1_driver.hpp"

namespace airlock::fuzz {
namespace {

constexpr http1::Limits kLimits{1024};
constexpr std::size_t kMaxMethods = 8;

std::vector<std::string> methods_line(std::string_view& bytes) {
  if (bytes.starts_with("HTTP/")) return {};
  const auto [line, rest] = split_once(bytes, "\n");
  std::vector<std::string> methods;
  for (const std::string_view word : words_of(trim_blanks(line))) {
    if (methods.size() == kMaxMethods) break;
    methods.emplace_back(word);
  }
  bytes = rest;
  return methods;
}

void check_head(const http1::ResponseHead& head, std::string_view method) {
  AIRLOCK_FUZZ_CHECK(head.status >= 0 && head.status <= 999);
  AIRLOCK_FUZZ_CHECK(clean_field_text(head.reason));
  AIRLOCK_FUZZ_CHECK(clean_headers(head.headers));
  AIRLOCK_FUZZ_CHECK(!(head.content_length && head.chunked));
  const bool no_body = method == "HEAD" || (head.status >= 100 && head.status < 200) || head.status == 204 ||
                       head.status == 304;
  if (no_body) AIRLOCK_FUZZ_CHECK(!head.content_length && !head.chunked);
}

void check_round_trip(const http1::ResponseHead& head, std::string_view method) {
  const std::string text = http1::serialize(head);
  http1::ResponseParser parser;
  parser.expect_response_to(method);
  std::vector<std::string_view> body;
  const http1::Step step = parser.parse(text, body);
  // A response without a body is reported whole, at message_done.
  AIRLOCK_FUZZ_CHECK(step.state == http1::State::head_done || step.state == http1::State::message_done);
  const http1::ResponseHead& again = parser.head();
  AIRLOCK_FUZZ_CHECK(again.status == head.status);
  AIRLOCK_FUZZ_CHECK(again.reason == head.reason);
  AIRLOCK_FUZZ_CHECK(again.version_major == head.version_major && again.version_minor == head.version_minor);
  AIRLOCK_FUZZ_CHECK(dump(again.headers) == dump(head.headers));
  AIRLOCK_FUZZ_CHECK(again.content_length == head.content_length);
  AIRLOCK_FUZZ_CHECK(again.chunked == head.chunked);
  AIRLOCK_FUZZ_CHECK(again.upgrade == head.upgrade);
}

}  // namespace
}  // namespace airlock::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace airlock;
  using namespace airlock::fuzz;
  std::string_view bytes = as_text(data, size);
  const std::vector<std::string> methods = methods_line(bytes);

  http1::ResponseParser whole_parser(kLimits);
  const Transcript<http1::ResponseHead> whole = drive(whole_parser, {bytes}, methods, true);
  std::size_t next_method = 0;  // as drive() moves on: after each final response
  for (const auto& message : whole.messages) {
    const std::string method =
        methods.empty() ? std::string("GET") : methods[std::min(next_method, methods.size() - 1)];
    check_head(message.head, method);
    if (message.head.content_length) AIRLOCK_FUZZ_CHECK(message.body.size() == *message.head.content_length);
    if (!message.head.chunked) AIRLOCK_FUZZ_CHECK(message.trailers.fields.empty());
    AIRLOCK_FUZZ_CHECK(clean_headers(message.trailers));
    check_round_trip(message.head, method);
    if (message.head.status >= 200 || message.head.status == 101) ++next_method;
  }

  const std::string expected = whole.dump();
  http1::ResponseParser chunked_parser(kLimits);
  AIRLOCK_FUZZ_CHECK(drive(chunked_parser, random_chunks(bytes, hash_of(bytes)), methods, true).dump() == expected);
  if (bytes.size() <= 2048) {
    http1::ResponseParser byte_parser(kLimits);
    AIRLOCK_FUZZ_CHECK(drive(byte_parser, byte_chunks(bytes), methods, true).dump() == expected);
  }
  return 0;
}
