// HeadScanner on its own: where a head ends, which bytes it refuses and at which offset, and the exact
// size bound, fed whole and in pieces.
#include "head_scanner.hpp"

#include <doctest/doctest.h>

#include <string>

namespace airlock::http1::detail {
namespace {

using Kind = HeadScanner::Result::Kind;

TEST_CASE("finds the end of a head and stops there") {
  HeadScanner scanner(1024);
  scanner.begin_head();
  const std::string head = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
  const auto result = scanner.scan(head + "BODY");
  CHECK(result.kind == Kind::complete);
  CHECK(result.position == head.size());
  CHECK(scanner.bytes_seen() == head.size());
}

TEST_CASE("the same end is found when fed a byte at a time") {
  HeadScanner scanner(1024);
  scanner.begin_head();
  const std::string head = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
  for (std::size_t i = 0; i + 1 < head.size(); ++i) {
    REQUIRE(scanner.scan(head.substr(i, 1)).kind == Kind::more);
  }
  const auto last = scanner.scan(head.substr(head.size() - 1) + "x");
  CHECK(last.kind == Kind::complete);
  CHECK(last.position == 1);
}

TEST_CASE("empty lines before the start line are skipped but counted") {
  HeadScanner scanner(1024);
  scanner.begin_head();
  const auto result = scanner.scan("\r\n\r\nGET / HTTP/1.1\r\n\r\n");
  CHECK(result.kind == Kind::complete);
  CHECK(result.position == 22);
}

TEST_CASE("trailers: an immediate empty line ends an empty section") {
  HeadScanner scanner(1024);
  scanner.begin_trailers();
  const auto result = scanner.scan("\r\nnext");
  CHECK(result.kind == Kind::complete);
  CHECK(result.position == 2);
}

TEST_CASE("refusals name the problem and point at the offending byte") {
  struct Row {
    std::string input;
    HeadProblem problem;
    std::size_t position;
  };
  const Row rows[] = {
      {"GET / HTTP/1.1\nHost: a\r\n\r\n", HeadProblem::bare_lf, 14},
      {"GET / HTTP/1.1\r\nHost: a\n\r\n", HeadProblem::bare_lf, 23},
      {"GET / HTTP/1.1\r\nHost: a\r\n\n", HeadProblem::bare_lf, 25},
      {"\nGET / HTTP/1.1\r\n\r\n", HeadProblem::bare_lf, 0},
      {"GET /\r HTTP/1.1\r\n\r\n", HeadProblem::bare_cr, 6},
      {"GET / HTTP/1.1\r\nX: a\rb\r\n\r\n", HeadProblem::bare_cr, 21},
      {"GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n", HeadProblem::obs_fold, 22},
      {"GET / HTTP/1.1\r\nX: a\r\n\tb\r\n\r\n", HeadProblem::obs_fold, 22},
      {"GET / HTTP/1.1\r\n Host: a\r\n\r\n", HeadProblem::obs_fold, 16},
      {"GET / HTTP/1.1\r\nHost : a\r\n\r\n", HeadProblem::space_before_colon, 20},
      {"GET / HTTP/1.1\r\nHost\t: a\r\n\r\n", HeadProblem::space_before_colon, 20},
  };
  for (const Row& row : rows) {
    CAPTURE(row.input);
    HeadScanner scanner(1024);
    scanner.begin_head();
    const auto result = scanner.scan(row.input);
    CHECK(result.kind == Kind::refused);
    CHECK(result.problem == row.problem);
    CHECK(result.position == row.position);
  }
}

TEST_CASE("spaces after the colon and inside values are fine - the start line is not a field line") {
  HeadScanner scanner(1024);
  scanner.begin_head();
  const auto result = scanner.scan("GET /a:b HTTP/1.1\r\nX:  a b : c\t\r\n\r\n");
  CHECK(result.kind == Kind::complete);
}

TEST_CASE("the size bound is exact") {
  const std::string head = "GET / HTTP/1.1\r\nX: 123456\r\n\r\n";  // 29 bytes
  REQUIRE(head.size() == 29);
  HeadScanner exact(29);
  exact.begin_head();
  CHECK(exact.scan(head).kind == Kind::complete);

  HeadScanner one_short(28);
  one_short.begin_head();
  const auto refused = one_short.scan(head);
  CHECK(refused.kind == Kind::refused);
  CHECK(refused.problem == HeadProblem::too_large);
  CHECK(refused.position == 28);
}

TEST_CASE("begin_head() starts a fresh count") {
  HeadScanner scanner(20);
  scanner.begin_head();
  REQUIRE(scanner.scan("GET / HTTP/1.1\r\n\r\n").kind == Kind::complete);
  scanner.begin_head();
  CHECK(scanner.bytes_seen() == 0);
  CHECK(scanner.scan("GET / HTTP/1.1\r\n\r\n").kind == Kind::complete);
}

TEST_CASE("describe() has a text for every problem") {
  for (HeadProblem problem : {HeadProblem::too_large, HeadProblem::bare_lf, HeadProblem::bare_cr,
                              HeadProblem::obs_fold, HeadProblem::space_before_colon}) {
    CHECK_FALSE(describe(problem).empty());
    CHECK(describe(problem) != describe(HeadProblem::none));
  }
}

}  // namespace
}  // namespace airlock::http1::detail
