// The refusal tables in proxy/http1/testdata/: every request in refused_requests.txt and every response in
// refused_responses.txt must end in State::error with the expected reason, fed whole and split at every byte.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "airlock/http1/parser.hpp"
#include "test_support.hpp"

namespace airlock::http1 {
namespace {

template <class Parser>
void check_refused(const test::TableCase& c, const std::vector<std::string>& methods) {
  INFO("case '" << c.name << "' (line " << c.line << ")");
  for (std::size_t split = 0; split <= c.input.size(); ++split) {
    CAPTURE(split);
    Parser parser;
    const auto run = test::feed(parser, {c.input.substr(0, split), c.input.substr(split)}, methods);
    INFO(test::dump(run));
    REQUIRE_FALSE(run.error.empty());
    CHECK_MESSAGE(run.error.find(c.expected) != std::string::npos,
                  "error '" << run.error << "' does not contain '" << c.expected << "'");
    if (run.error.find(c.expected) == std::string::npos) return;  // one report per case is enough
  }
}

TEST_CASE("refused requests (testdata/refused_requests.txt)") {
  const auto cases = test::load_table("refused_requests.txt");
  CHECK(cases.size() >= 40);
  for (const auto& c : cases) check_refused<RequestParser>(c, {});
}

TEST_CASE("a request whose Transfer-Encoding does not end in chunked is refused with its head, before any of it is passed on") {
  // llhttp itself notices only when it reaches the body: by then the head would have gone upstream.
  for (const std::string_view value : {"identity", "gzip", "xchunked", "chunked;q=1", "chunked, gzip", "gzip, identity",
                                  "chunkedx", "deflate"}) {
    CAPTURE(value);
    RequestParser parser;
    const auto run =
        test::feed(parser, {"POST /a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: " + std::string(value) + "\r\n\r\n"}, {});
    INFO(test::dump(run));
    CHECK_FALSE(run.error.empty());
    CHECK(run.messages.empty());
    CHECK_FALSE(run.head_in_progress);
  }
  RequestParser parser;  // the one accepted form
  const auto run = test::feed(parser, {"POST /a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n"}, {});
  CHECK(run.error.empty());
  CHECK(run.messages.size() == 1);
}

TEST_CASE("refused responses (testdata/refused_responses.txt)") {
  const auto cases = test::load_table("refused_responses.txt");
  CHECK(cases.size() >= 10);
  for (const auto& c : cases) check_refused<ResponseParser>(c, {"GET"});
}

TEST_CASE("the table's escapes decode as documented") {
  CHECK(test::unescape("a\\r\\n\\t\\\\\\x41\\x0b") == std::string("a\r\n\t\\A\x0b"));
  CHECK(test::unescape("\\0") == std::string(1, '\0'));
}

}  // namespace
}  // namespace airlock::http1
