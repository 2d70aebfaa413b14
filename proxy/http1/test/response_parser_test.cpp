// ResponseParser: Content-Length, chunked and close-delimited bodies, responses without content (HEAD, 1xx,
// 204, 304), tunnels (101, 2xx to CONNECT), keep-alive, and truncation at EOF.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "airlock/http1/parser.hpp"
#include "test_support.hpp"

namespace airlock::http1 {
namespace {

using test::feed_whole;

TEST_CASE("response with Content-Length") {
  const std::string input =
      "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}";
  ResponseParser parser;
  parser.expect_response_to("GET");
  std::vector<std::string_view> body;
  Step step = parser.parse(input, body);
  REQUIRE(step.state == State::head_done);
  CHECK(step.consumed == input.size() - 2);
  const ResponseHead& head = parser.head();
  CHECK(head.status == 200);
  CHECK(head.reason == "OK");
  CHECK(head.version_major == 1);
  CHECK(head.version_minor == 1);
  CHECK(head.content_length == std::optional<std::uint64_t>(2));
  CHECK_FALSE(head.chunked);
  CHECK(head.keep_alive);
  CHECK_FALSE(head.upgrade);
  CHECK(*head.headers.find("content-type") == "application/json");

  step = parser.parse(std::string_view(input).substr(step.consumed), body);
  CHECK(step.state == State::message_done);
  CHECK(step.consumed == 2);
  REQUIRE(body.size() == 1);
  CHECK(body[0] == "{}");
}

TEST_CASE("chunked response with trailers") {
  const auto run = feed_whole<ResponseParser>(
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nstream\r\n3;last\r\ned!\r\n0\r\n"
      "Server-Timing: total;dur=12\r\n\r\n",
      {"POST"});
  INFO(test::dump(run));
  REQUIRE(run.error.empty());
  REQUIRE(run.messages.size() == 1);
  CHECK(run.messages[0].head.chunked);
  CHECK(run.messages[0].body == "streamed!");
  REQUIRE(run.messages[0].trailers.fields.size() == 1);
  CHECK(run.messages[0].trailers.fields[0].value == "total;dur=12");
  CHECK(run.messages[0].head.keep_alive);
}

TEST_CASE("close-delimited response ends at EOF via finish_on_eof") {
  const std::string input = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nall of this until close";
  ResponseParser parser;
  parser.expect_response_to("GET");
  std::vector<std::string_view> body;
  Step step = parser.parse(input, body);
  REQUIRE(step.state == State::head_done);
  CHECK_FALSE(parser.head().keep_alive);  // the close is the framing
  CHECK_FALSE(parser.head().content_length.has_value());
  CHECK_FALSE(parser.head().chunked);
  step = parser.parse(std::string_view(input).substr(step.consumed), body);
  CHECK(step.state == State::body);
  REQUIRE(body.size() == 1);
  CHECK(body[0] == "all of this until close");
  CHECK(parser.finish_on_eof());
  CHECK(parser.error().empty());
  CHECK(parser.finish_on_eof());  // idempotent
  body.clear();
  CHECK(parser.parse("late", body).state == State::error);
}

TEST_CASE("close-delimited response with EOF right after the head") {
  ResponseParser parser;
  std::vector<std::string_view> body;
  REQUIRE(parser.parse("HTTP/1.0 200 OK\r\n\r\n", body).state == State::head_done);
  CHECK(parser.finish_on_eof());
  CHECK(parser.error().empty());
}

TEST_CASE("finish_on_eof reports truncation") {
  SUBCASE("inside a Content-Length body") {
    ResponseParser parser;
    std::vector<std::string_view> body;
    REQUIRE(parser.parse("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", body).state == State::head_done);
    CHECK(parser.parse("abc", body).state == State::body);
    CHECK_FALSE(parser.finish_on_eof());
    CHECK(parser.error() == "stream ended before the message was complete");
  }
  SUBCASE("right after a head that announces a body") {
    ResponseParser parser;
    std::vector<std::string_view> body;
    REQUIRE(parser.parse("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", body).state == State::head_done);
    CHECK_FALSE(parser.finish_on_eof());
  }
  SUBCASE("inside a chunked body") {
    ResponseParser parser;
    std::vector<std::string_view> body;
    REQUIRE(parser.parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab", body).state ==
            State::head_done);
    CHECK_FALSE(parser.finish_on_eof());
  }
  SUBCASE("inside the head") {
    ResponseParser parser;
    std::vector<std::string_view> body;
    REQUIRE(parser.parse("HTTP/1.1 200 OK\r\nContent-Le", body).state == State::need_more);
    CHECK_FALSE(parser.finish_on_eof());
    CHECK(parser.error() == "stream ended inside a message head");
  }
  SUBCASE("between messages is a clean end") {
    ResponseParser parser;
    const auto run = test::feed(parser, {"HTTP/1.1 204 No Content\r\n\r\n"}, {"GET"});
    REQUIRE(run.messages.size() == 1);
    CHECK(parser.finish_on_eof());
  }
  SUBCASE("before any byte is a clean end") {
    ResponseParser parser;
    CHECK(parser.finish_on_eof());
  }
}

TEST_CASE("HEAD response: Content-Length describes the GET - no body is read") {
  const std::string head = "HTTP/1.1 200 OK\r\nContent-Length: 1234\r\nContent-Type: text/html\r\n\r\n";
  const std::string next = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc";
  ResponseParser parser;
  parser.expect_response_to("HEAD");
  std::vector<std::string_view> body;
  Step step = parser.parse(head + next, body);
  REQUIRE(step.state == State::head_done);
  CHECK(step.consumed == head.size());
  CHECK(parser.head().status == 200);
  CHECK(*parser.head().headers.find("Content-Length") == "1234");  // forwarded as is
  CHECK_FALSE(parser.head().content_length.has_value());           // but it frames nothing
  CHECK(parser.head().keep_alive);
  step = parser.parse(next, body);
  CHECK(step.state == State::message_done);
  CHECK(step.consumed == 0);
  CHECK(body.empty());

  parser.expect_response_to("GET");
  step = parser.parse(next, body);
  REQUIRE(step.state == State::head_done);
  CHECK(parser.head().content_length == std::optional<std::uint64_t>(3));
}

TEST_CASE("HEAD response without Content-Length is not close-delimited") {
  const auto run = feed_whole<ResponseParser>(
      "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
      {"HEAD", "GET"});
  INFO(test::dump(run));
  REQUIRE(run.error.empty());
  REQUIRE(run.messages.size() == 2);
  CHECK(run.messages[0].head.keep_alive);
}

TEST_CASE("204 and 304 never have a body whatever the framing headers say") {
  const auto run = feed_whole<ResponseParser>(
      "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n"
      "HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\nContent-Length: 100\r\n\r\n"
      "HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n"
      "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfives",
      {"DELETE", "GET", "GET", "GET"});
  INFO(test::dump(run));
  REQUIRE(run.error.empty());
  REQUIRE(run.messages.size() == 4);
  CHECK(run.messages[0].head.status == 204);
  CHECK(run.messages[0].body.empty());
  CHECK_FALSE(run.messages[0].head.content_length.has_value());
  CHECK(run.messages[1].head.status == 304);
  CHECK(run.messages[1].body.empty());
  CHECK(run.messages[2].head.status == 304);
  CHECK_FALSE(run.messages[2].head.chunked);
  CHECK(run.messages[3].body == "fives");
  for (const auto& message : run.messages) CHECK(message.head.keep_alive);
}

TEST_CASE("interim 1xx responses come first and the request's method holds until the final one") {
  const auto run = feed_whole<ResponseParser>(
      "HTTP/1.1 100 Continue\r\n\r\n"
      "HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n"
      "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n"
      "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi",
      {"HEAD", "GET"});
  INFO(test::dump(run));
  REQUIRE(run.error.empty());
  REQUIRE(run.messages.size() == 4);
  CHECK(run.messages[0].head.status == 100);
  CHECK(run.messages[1].head.status == 103);
  CHECK(run.messages[2].body.empty());  // still the HEAD's response
  CHECK(run.messages[3].body == "hi");
}

TEST_CASE("the method expectation resets after each final response") {
  ResponseParser parser;
  parser.expect_response_to("HEAD");
  const auto run = test::feed(
      parser,
      {"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc"});
  REQUIRE(run.messages.size() == 2);
  CHECK(run.messages[0].body.empty());
  CHECK(run.messages[1].body == "abc");
}

TEST_CASE("101 Switching Protocols is a tunnel: bytes after the head stay unconsumed") {
  const std::string head =
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";
  const std::string frames = "\x81\x05hello";
  ResponseParser parser;
  parser.expect_response_to("GET");
  std::vector<std::string_view> body;
  Step step = parser.parse(head + frames, body);
  REQUIRE(step.state == State::head_done);
  CHECK(step.consumed == head.size());
  CHECK(parser.head().status == 101);
  CHECK(parser.head().upgrade);
  step = parser.parse(frames, body);
  CHECK(step.state == State::message_done);
  CHECK(step.consumed == 0);
  CHECK(body.empty());
}

TEST_CASE("101 without Upgrade headers or with Content-Length is still a tunnel") {
  const auto run = feed_whole<ResponseParser>(
      "HTTP/1.1 101 Switching Protocols\r\nContent-Length: 3\r\n\r\nabcdef", {"GET"});
  REQUIRE(run.messages.size() == 1);
  CHECK(run.messages[0].head.upgrade);
  CHECK(run.messages[0].body.empty());
  CHECK(run.tunnel == "abcdef");
}

TEST_CASE("2xx to CONNECT is a tunnel - a refusal to CONNECT has a normal body") {
  SUBCASE("200") {
    const auto run = feed_whole<ResponseParser>(
        "HTTP/1.1 200 Connection Established\r\nContent-Length: 5\r\n\r\n\x16\x03\x03tls", {"CONNECT"});
    INFO(test::dump(run));
    REQUIRE(run.messages.size() == 1);
    CHECK(run.messages[0].head.upgrade);
    CHECK(run.messages[0].head.reason == "Connection Established");
    CHECK_FALSE(run.messages[0].head.content_length.has_value());  // ignored (RFC 9110 section 9.3.6)
    CHECK(run.tunnel == "\x16\x03\x03tls");
  }
  SUBCASE("299 is still 2xx") {
    const auto run = feed_whole<ResponseParser>("HTTP/1.1 299 Fine\r\nContent-Length: 5\r\n\r\ntunnel", {"CONNECT"});
    REQUIRE(run.messages.size() == 1);
    CHECK(run.messages[0].head.upgrade);
    CHECK(run.tunnel == "tunnel");
  }
  SUBCASE("300 and other 3xx are not a tunnel: their body is read by its framing") {
    for (const std::string status : {"300 Multiple Choices", "302 Found"}) {
      CAPTURE(status);
      const auto run = feed_whole<ResponseParser>(
          "HTTP/1.1 " + status + "\r\nLocation: /x\r\nContent-Length: 5\r\n\r\nmoved", {"CONNECT"});
      INFO(test::dump(run));
      REQUIRE(run.messages.size() == 1);
      CHECK_FALSE(run.messages[0].head.upgrade);
      CHECK(run.messages[0].body == "moved");
      CHECK(run.tunnel.empty());
    }
  }
  SUBCASE("403") {
    const auto run =
        feed_whole<ResponseParser>("HTTP/1.1 403 Forbidden\r\nContent-Length: 6\r\n\r\ndenied", {"CONNECT"});
    REQUIRE(run.messages.size() == 1);
    CHECK_FALSE(run.messages[0].head.upgrade);
    CHECK(run.messages[0].body == "denied");
  }
}

TEST_CASE("a 200 to GET that announces Upgrade without 101 is not a tunnel") {
  const auto run = feed_whole<ResponseParser>(
      "HTTP/1.1 200 OK\r\nUpgrade: h2c\r\nConnection: Upgrade\r\nContent-Length: 2\r\n\r\nok", {"GET"});
  REQUIRE(run.messages.size() == 1);
  CHECK_FALSE(run.messages[0].head.upgrade);
  CHECK(run.messages[0].body == "ok");
  CHECK_FALSE(run.upgraded);
}

TEST_CASE("response keep-alive") {
  struct Row {
    const char* response;
    bool keep_alive;
  };
  const Row rows[] = {
      {"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", true},
      {"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", false},
      {"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", false},
      {"HTTP/1.0 200 OK\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\n", true},
  };
  for (const Row& row : rows) {
    CAPTURE(row.response);
    const auto run = feed_whole<ResponseParser>(row.response, {"GET"});
    REQUIRE(run.messages.size() == 1);
    CHECK(run.messages[0].head.keep_alive == row.keep_alive);
  }
}

TEST_CASE("an empty reason phrase is allowed") {
  const auto run = feed_whole<ResponseParser>("HTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n", {"GET"});
  REQUIRE(run.error.empty());
  REQUIRE(run.messages.size() == 1);
  CHECK(run.messages[0].head.reason.empty());
}

TEST_CASE("a reason phrase may hold tabs and obs-text (bytes 0x80 and up), not other control bytes") {
  const auto run = feed_whole<ResponseParser>("HTTP/1.1 200 Tr\xc3\xa8s\tbien\r\nContent-Length: 0\r\n\r\n", {"GET"});
  REQUIRE(run.error.empty());
  REQUIRE(run.messages.size() == 1);
  CHECK(run.messages[0].head.reason == "Tr\xc3\xa8s\tbien");
  CHECK_FALSE(feed_whole<ResponseParser>("HTTP/1.1 200 O\x01K\r\nContent-Length: 0\r\n\r\n", {"GET"}).error.empty());
  CHECK_FALSE(feed_whole<ResponseParser>("HTTP/1.1 200 O\x7fK\r\nContent-Length: 0\r\n\r\n", {"GET"}).error.empty());
}

TEST_CASE("response header block limit: at the limit passes and one more byte fails") {
  constexpr std::size_t kLimit = 128;
  const std::string start = "HTTP/1.1 200 OK\r\nX-Pad: ";
  const std::string end = "\r\nContent-Length: 0\r\n\r\n";
  const std::string at_limit = start + std::string(kLimit - start.size() - end.size(), 'p') + end;
  REQUIRE(at_limit.size() == kLimit);
  CHECK(feed_whole<ResponseParser>(at_limit, {"GET"}, false, Limits{kLimit}).messages.size() == 1);
  const auto refused =
      feed_whole<ResponseParser>(start + "p" + at_limit.substr(start.size()), {"GET"}, false, Limits{kLimit});
  CHECK(refused.error == "header section larger than the limit (max_header_bytes = 128)");
}

}  // namespace
}  // namespace airlock::http1
