// Fuzz target http1_request: RequestParser (proxy/http1) over any byte stream a sandbox can send.
//
// Checks (a violation aborts):
//   - the Step contract on every call, and a failed parser stays failed (fuzz_support.hpp, drive);
//   - the same messages, bodies, trailers and error whether the bytes come whole, in random chunks or one
//     at a time: where a message ends cannot depend on how TCP cut the stream (S6);
//   - no CR, LF or NUL in a method, target, field name or value, and no blank or colon in a field name
//     (serialize() writes them as they are);
//   - Content-Length and chunked never both; a finished body framed by Content-Length has that length;
//     CONNECT is an upgrade without a body;
//   - serialize(head) parses back to the same method, target, version, fields and framing: the head the
//     proxy writes upstream is read as the head it parsed.
#include "http1_driver.hpp"

namespace airlock::fuzz {
namespace {

// Small, so that fuzz-sized inputs reach the bound of a head and of a trailer section.
constexpr http1::Limits kLimits{1024};

void check_head(const http1::RequestHead& head) {
  AIRLOCK_FUZZ_CHECK(!head.method.empty() && clean_field_text(head.method));
  AIRLOCK_FUZZ_CHECK(head.method.find_first_of(" \t") == std::string::npos);
  AIRLOCK_FUZZ_CHECK(clean_field_text(head.target));
  AIRLOCK_FUZZ_CHECK(clean_headers(head.headers));
  AIRLOCK_FUZZ_CHECK(!(head.content_length && head.chunked));
  if (head.method == "CONNECT") AIRLOCK_FUZZ_CHECK(head.upgrade && !head.content_length && !head.chunked);
}

void check_round_trip(const http1::RequestHead& head) {
  const std::string text = http1::serialize(head);
  http1::RequestParser parser;  // default limits: the written head spaces its fields and may be longer
  std::vector<std::string_view> body;
  const http1::Step step = parser.parse(text, body);
  AIRLOCK_FUZZ_CHECK(step.state == http1::State::head_done);
  const http1::RequestHead& again = parser.head();
  AIRLOCK_FUZZ_CHECK(again.method == head.method);
  AIRLOCK_FUZZ_CHECK(again.target == head.target);
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
  const std::string_view bytes = as_text(data, size);

  http1::RequestParser whole_parser(kLimits);
  const Transcript<http1::RequestHead> whole = drive(whole_parser, {bytes});
  for (const auto& message : whole.messages) {
    check_head(message.head);
    if (message.head.content_length) AIRLOCK_FUZZ_CHECK(message.body.size() == *message.head.content_length);
    if (!message.head.chunked) AIRLOCK_FUZZ_CHECK(message.trailers.fields.empty());
    AIRLOCK_FUZZ_CHECK(clean_headers(message.trailers));
    check_round_trip(message.head);
  }

  const std::string expected = whole.dump();
  http1::RequestParser chunked_parser(kLimits);
  AIRLOCK_FUZZ_CHECK(drive(chunked_parser, random_chunks(bytes, hash_of(bytes))).dump() == expected);
  if (size <= 2048) {
    http1::RequestParser byte_parser(kLimits);
    AIRLOCK_FUZZ_CHECK(drive(byte_parser, byte_chunks(bytes)).dump() == expected);
  }
  return 0;
}
