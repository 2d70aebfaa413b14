// SecretValue: ownership, moves, and that formatting never shows the bytes.
#include <doctest/doctest.h>
#include <fmt/format.h>

#include <string>
#include <utility>

#include "airlock/store/secret.hpp"

namespace airlock::store {

TEST_CASE("a SecretValue formats as [redacted] and never as its bytes") {
  const SecretValue secret{std::string_view{"sk-live-TOPSECRET"}};
  CHECK(fmt::format("{}", secret) == "[redacted]");
  CHECK(fmt::format("token={}!", secret) == "token=[redacted]!");
  CHECK(fmt::format("{:>12}", secret) == "  [redacted]");
  CHECK(fmt::format("{}", secret).find("TOPSECRET") == std::string::npos);
  CHECK(secret.view() == "sk-live-TOPSECRET");
}

TEST_CASE("a SecretValue holds a copy of its bytes and moves them") {
  std::string source("abc\0def\0", 8);
  SecretValue first{std::string_view{source}};
  source.assign(source.size(), 'x');  // the value keeps its own copy
  CHECK(first.size() == 8);
  CHECK(first.view() == std::string_view{"abc\0def\0", 8});

  SecretValue second{std::move(first)};
  CHECK(first.empty());  // NOLINT(bugprone-use-after-move): moved-from is empty by contract
  CHECK(first.view().empty());
  CHECK(second.view() == std::string_view{"abc\0def\0", 8});

  SecretValue third{std::string_view{"other"}};
  third = std::move(second);
  CHECK(third.view() == std::string_view{"abc\0def\0", 8});
  CHECK(second.empty());  // NOLINT(bugprone-use-after-move)
}

TEST_CASE("with_size gives writable storage of that size - size 0 is an empty value") {
  auto value = SecretValue::with_size(4);
  REQUIRE(value.size() == 4);
  value.data()[0] = 'k';
  value.data()[1] = 'e';
  value.data()[2] = 'y';
  value.data()[3] = '!';
  CHECK(value.view() == "key!");
  const unsigned char raw[] = {1, 2, 3};
  const SecretValue from_span{std::span<const unsigned char>{raw}};
  CHECK(from_span.bytes().size() == 3);
  CHECK(from_span.bytes()[2] == 3);
  CHECK(SecretValue::with_size(0).empty());
  CHECK(SecretValue{std::string_view{}}.view() == "");
}

}  // namespace airlock::store
