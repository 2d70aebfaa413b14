// Headers (case-insensitive find / erase / set) and serialize() of request and response heads, including
// the round trip parse(serialize(head)).
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "airlock/http1/parser.hpp"
#include "test_support.hpp"

namespace airlock::http1 {
namespace {

Headers sample() {
  Headers headers;
  headers.fields = {{"Host", "a.example"}, {"X-Api-Key", "one"}, {"Accept", "*/*"}, {"x-api-key", "two"}};
  return headers;
}

TEST_CASE("Headers::find is case-insensitive and returns the first match") {
  const Headers headers = sample();
  REQUIRE(headers.find("X-API-KEY") != nullptr);
  CHECK(*headers.find("X-API-KEY") == "one");
  CHECK(*headers.find("host") == "a.example");
  CHECK(headers.find("X-Api-Ke") == nullptr);
  CHECK(headers.find("X-Api-Keys") == nullptr);
  CHECK(headers.find("") == nullptr);
}

TEST_CASE("Headers::erase removes every match and says how many") {
  Headers headers = sample();
  CHECK(headers.erase("X-API-key") == 2);
  REQUIRE(headers.fields.size() == 2);
  CHECK(headers.fields[0].name == "Host");
  CHECK(headers.fields[1].name == "Accept");
  CHECK(headers.erase("X-Api-Key") == 0);
}

TEST_CASE("Headers::set replaces the first match in place and drops the rest") {
  Headers headers = sample();
  headers.set("x-API-key", "real");
  REQUIRE(headers.fields.size() == 3);
  CHECK(headers.fields[1].name == "x-API-key");
  CHECK(headers.fields[1].value == "real");
  CHECK(headers.fields[2].name == "Accept");
}

TEST_CASE("Headers::set appends when absent") {
  Headers headers = sample();
  headers.set("Content-Length", "42");
  REQUIRE(headers.fields.size() == 5);
  CHECK(headers.fields[4].name == "Content-Length");
  CHECK(headers.fields[4].value == "42");
}

TEST_CASE("case folding is ASCII only") {
  Headers headers;
  headers.fields = {{"X-\xC3\x89t\xC3\xA9", "v"}};
  CHECK(headers.find("x-\xC3\x89t\xC3\xA9") != nullptr);
  CHECK(headers.find("x-\xC3\xA9t\xC3\xA9") == nullptr);
}

TEST_CASE("serialize(RequestHead)") {
  RequestHead head;
  head.method = "POST";
  head.target = "/v1/messages?beta=true";
  head.headers.fields = {{"Host", "api.example.com"}, {"Content-Length", "2"}};
  CHECK(serialize(head) ==
        "POST /v1/messages?beta=true HTTP/1.1\r\nHost: api.example.com\r\nContent-Length: 2\r\n\r\n");
  head.version_minor = 0;
  head.headers.fields.clear();
  CHECK(serialize(head) == "POST /v1/messages?beta=true HTTP/1.0\r\n\r\n");
}

TEST_CASE("serialize(ResponseHead)") {
  ResponseHead head;
  head.status = 404;
  head.reason = "Not Found";
  head.headers.fields = {{"Content-Length", "0"}};
  CHECK(serialize(head) == "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
  head.reason.clear();
  CHECK(serialize(head) == "HTTP/1.1 404 \r\nContent-Length: 0\r\n\r\n");
}

TEST_CASE("a parsed head serializes back to the bytes (modulo whitespace around values)") {
  const std::string request =
      "PATCH /a/b?c HTTP/1.1\r\nHost: h\r\nX-Thing:   padded  \r\nContent-Length: 0\r\n\r\n";
  const auto run = test::feed_whole<RequestParser>(request);
  REQUIRE(run.messages.size() == 1);
  const std::string written = serialize(run.messages[0].head);
  CHECK(written == "PATCH /a/b?c HTTP/1.1\r\nHost: h\r\nX-Thing: padded\r\nContent-Length: 0\r\n\r\n");
  const auto again = test::feed_whole<RequestParser>(written);
  REQUIRE(again.messages.size() == 1);
  CHECK(test::dump(again.messages[0].head) == test::dump(run.messages[0].head));

  const std::string response = "HTTP/1.1 201 Created\r\nLocation: /x\r\nContent-Length: 0\r\n\r\n";
  const auto response_run = test::feed_whole<ResponseParser>(response, {"POST"});
  REQUIRE(response_run.messages.size() == 1);
  CHECK(serialize(response_run.messages[0].head) == response);
}

}  // namespace
}  // namespace airlock::http1
