// printable(): valid UTF-8 kept, every other byte and every control character as \xHH, idempotent, and
// always serializable as JSON.
#include <doctest/doctest.h>

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "http/printable.hpp"

namespace airlock::control {
namespace {

using namespace std::string_view_literals;

struct Case {
  std::string_view bytes;
  std::string_view rendered;
};

}  // namespace

TEST_CASE("printable: valid UTF-8 is kept, other bytes and control characters become \\xHH") {
  const Case cases[] = {
      {"", ""},
      {"vlt_0123abc", "vlt_0123abc"},
      {"a b \"quoted\" \\ / ~", "a b \"quoted\" \\ / ~"},
      {"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x91", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x91"},  // é € 🔑
      {"x\xffy", "x\\xffy"},
      {"x\0y"sv, "x\\x00y"},
      {"\r\n\t\x1b[31m\x7f", "\\x0d\\x0a\\x09\\x1b[31m\\x7f"},
      {"\xc2\x85 \xc2\x9f \xc2\xa0", "\\xc2\\x85 \\xc2\\x9f \xc2\xa0"},  // C1 controls; U+00A0 is kept
      {"\x80\xbf", "\\x80\\xbf"},                                          // continuation bytes alone
      {"\xc0\xaf \xe0\x80\xaf \xf0\x80\x80\xaf", "\\xc0\\xaf \\xe0\\x80\\xaf \\xf0\\x80\\x80\\xaf"},  // overlong
      {"\xed\xa0\x80", "\\xed\\xa0\\x80"},                                 // a UTF-16 surrogate
      {"\xf4\x90\x80\x80 \xf5\x80", "\\xf4\\x90\\x80\\x80 \\xf5\\x80"},   // beyond U+10FFFF
      {"\xe2\x82", "\\xe2\\x82"},                                          // truncated at the end
      {"\xe2\x82z", "\\xe2\\x82z"},                                        // truncated before ASCII
      {"\xc3\xa9\xc3", "\xc3\xa9\\xc3"},
  };
  for (const Case& c : cases) {
    std::string expected(c.rendered);
    CAPTURE(expected);
    std::string rendered = printable(c.bytes);
    CHECK(rendered == c.rendered);
    CHECK(printable(rendered) == rendered);  // idempotent
    CHECK(rendered.find('\0') == std::string::npos);
    CHECK_NOTHROW((void)nlohmann::json(rendered).dump());
  }
}

TEST_CASE("printable: every single byte and every pair of bytes renders to serializable text") {
  for (int first = 0; first < 256; ++first) {
    for (int second = 0; second < 256; ++second) {
      const char pair[] = {static_cast<char>(first), static_cast<char>(second)};
      std::string rendered = printable(std::string_view(pair, 2));
      CHECK_NOTHROW((void)nlohmann::json(rendered).dump());
      if (printable(rendered) != rendered) FAIL_CHECK("not idempotent for ", first, " ", second);
    }
  }
}

}  // namespace airlock::control
