// Field validation: strings measured in code points, wrong types, metadata limits at the limit and one past
// it, patch semantics, body parsing and unknown fields, each with its exact message.
#include <doctest/doctest.h>

#include <string>

#include "api/common/fields.hpp"
#include "test_support.hpp"

namespace airlock::control {
namespace {

// The message of the 400 that `f` throws; "<...>" when it throws something else or nothing.
template <class F>
std::string refused(F&& f) {
  try {
    f();
  } catch (const ApiError& e) {
    CHECK(e.status() == 400);
    CHECK(e.type() == "invalid_request_error");
    if (!e.error_code().empty()) return fmt::format("{} [{}]", e.what(), e.error_code());
    return e.what();
  }
  return "<accepted>";
}

ApiRequest with_body(std::string body) {
  ApiRequest request;
  request.method = "POST";
  request.path = "/v1/vaults";
  request.body = std::move(body);
  return request;
}

// n copies of `unit` (which may be a multi-byte UTF-8 sequence).
std::string repeat(std::string_view unit, std::size_t n) {
  std::string out;
  for (std::size_t i = 0; i < n; ++i) out += unit;
  return out;
}

json metadata_of(std::size_t pairs) {
  json metadata = json::object();
  for (std::size_t i = 0; i < pairs; ++i) metadata[fmt::format("k{:02}", i)] = "v";
  return metadata;
}

}  // namespace

TEST_CASE("fields: join_path and index_path") {
  CHECK(join_path("", "auth") == "auth");
  CHECK(join_path("auth", "networking") == "auth.networking");
  CHECK(index_path("auth.networking.allowed_hosts", 2) == "auth.networking.allowed_hosts[2]");
}

TEST_CASE("fields: utf8_length counts code points") {
  CHECK(utf8_length("") == 0);
  CHECK(utf8_length("abc") == 3);
  CHECK(utf8_length("\xC3\xA9") == 1);              // é, 2 bytes
  CHECK(utf8_length("\xE2\x82\xAC") == 1);          // €, 3 bytes
  CHECK(utf8_length("\xF0\x9F\x94\x91") == 1);      // 🔑, 4 bytes
  CHECK(utf8_length("a\xC3\xA9\xF0\x9F\x94\x91z") == 4);
}

TEST_CASE("fields: required_string") {
  json body = {{"name", "abc"}, {"empty", ""}, {"number", 5}, {"null", nullptr}, {"list", json::array()}};
  CHECK(required_string(body, "name", "", 1, 3) == "abc");
  CHECK(refused([&] { required_string(body, "missing", "", 1, 3); }) == "missing: required field is missing");
  CHECK(refused([&] { required_string(body, "missing", "auth", 1, 3); }) == "auth.missing: required field is missing");
  CHECK(refused([&] { required_string(body, "empty", "", 1, 3); }) == "empty: must not be empty");
  CHECK(refused([&] { required_string(body, "name", "", 4, 10); }) == "name: must be at least 4 characters");
  CHECK(refused([&] { required_string(body, "name", "", 1, 2); }) == "name: must be at most 2 characters (got 3)");
  CHECK(refused([&] { required_string(body, "number", "x", 1, 3); }) == "x.number: expected a string, got a number");
  CHECK(refused([&] { required_string(body, "null", "", 1, 3); }) == "null: expected a string, got null");
  CHECK(refused([&] { required_string(body, "list", "", 1, 3); }) == "list: expected a string, got an array");
}

TEST_CASE("fields: string limits count code points not bytes") {
  // 255 four-byte characters are 1020 bytes but 255 code points: accepted at max 255.
  json at_limit = {{"name", repeat("\xF0\x9F\x94\x91", 255)}};
  CHECK(required_string(at_limit, "name", "", 1, 255) == repeat("\xF0\x9F\x94\x91", 255));
  json over = {{"name", repeat("\xC3\xA9", 256)}};
  CHECK(refused([&] { required_string(over, "name", "", 1, 255); }) == "name: must be at most 255 characters (got 256)");
  json short_text = {{"name", "\xE2\x82\xAC\xE2\x82\xAC"}};  // 6 bytes, 2 code points
  CHECK(refused([&] { required_string(short_text, "name", "", 3, 10); }) == "name: must be at least 3 characters");
}

TEST_CASE("fields: optional_string") {
  json body = {{"text", "hi"}, {"null", nullptr}, {"empty", ""}, {"flag", true}};
  CHECK(optional_string(body, "text", "", 0, 10) == std::optional<std::string>("hi"));
  CHECK_FALSE(optional_string(body, "absent", "", 0, 10).has_value());
  CHECK_FALSE(optional_string(body, "null", "", 0, 10).has_value());
  CHECK(optional_string(body, "empty", "", 0, 10) == std::optional<std::string>(""));
  CHECK(refused([&] { optional_string(body, "empty", "", 1, 10); }) == "empty: must not be empty");
  CHECK(refused([&] { optional_string(body, "flag", "p", 0, 10); }) == "p.flag: expected a string or null, got a boolean");
  CHECK(refused([&] { optional_string(body, "text", "", 0, 1); }) == "text: must be at most 1 characters (got 2)");
}

TEST_CASE("fields: optional_bool optional_object required_object optional_array") {
  json body = {{"yes", true}, {"text", "true"}, {"obj", json::object()}, {"arr", {1, 2, 3}}, {"null", nullptr}};
  CHECK(optional_bool(body, "yes", "") == std::optional<bool>(true));
  CHECK_FALSE(optional_bool(body, "null", "").has_value());
  CHECK_FALSE(optional_bool(body, "absent", "").has_value());
  CHECK(refused([&] { optional_bool(body, "text", "loc"); }) == "loc.text: expected a boolean, got a string");

  CHECK(optional_object(body, "obj", "") == &body["obj"]);
  CHECK(optional_object(body, "null", "") == nullptr);
  CHECK(refused([&] { optional_object(body, "arr", ""); }) == "arr: expected an object, got an array");
  CHECK(&required_object(body, "obj", "") == &body["obj"]);
  CHECK(refused([&] { required_object(body, "null", "auth"); }) == "auth.null: required field is missing");
  CHECK(refused([&] { required_object(body, "absent", ""); }) == "absent: required field is missing");

  CHECK(optional_array(body, "arr", "", 3) == &body["arr"]);
  CHECK(optional_array(body, "null", "", 3) == nullptr);
  CHECK(refused([&] { optional_array(body, "arr", "", 2); }) == "arr: at most 2 entries are allowed (got 3)");
  CHECK(refused([&] { optional_array(body, "obj", "", 2); }) == "obj: expected an array, got an object");
}

TEST_CASE("fields: json_type_name") {
  CHECK(std::string(json_type_name(json(nullptr))) == "null");
  CHECK(std::string(json_type_name(json(false))) == "a boolean");
  CHECK(std::string(json_type_name(json("s"))) == "a string");
  CHECK(std::string(json_type_name(json::array())) == "an array");
  CHECK(std::string(json_type_name(json::object())) == "an object");
  CHECK(std::string(json_type_name(json(-1))) == "a number");
  CHECK(std::string(json_type_name(json(1u))) == "a number");
  CHECK(std::string(json_type_name(json(1.5))) == "a number");
}

TEST_CASE("fields: metadata_for_create limits at the limit and one past it") {
  CHECK(metadata_for_create(json::object(), "") == json::object());
  CHECK(metadata_for_create({{"metadata", nullptr}}, "") == json::object());
  CHECK(metadata_for_create({{"metadata", metadata_of(16)}}, "") == metadata_of(16));
  CHECK(refused([&] { metadata_for_create({{"metadata", metadata_of(17)}}, ""); }) ==
        "metadata: at most 16 metadata pairs are allowed (got 17)");

  std::string key64 = repeat("\xC3\xA9", 64);  // 64 code points, 128 bytes
  CHECK(metadata_for_create({{"metadata", {{key64, "v"}}}}, "") == json{{key64, "v"}});
  std::string key65 = repeat("k", 65);
  CHECK(refused([&] { metadata_for_create({{"metadata", {{key65, "v"}}}}, ""); }) ==
        fmt::format("metadata.{}: metadata keys must be at most 64 characters", key65));

  std::string value512 = repeat("\xE2\x82\xAC", 512);  // 512 code points, 1536 bytes
  CHECK(metadata_for_create({{"metadata", {{"k", value512}}}}, "") == json{{"k", value512}});
  CHECK(refused([&] { metadata_for_create({{"metadata", {{"k", repeat("v", 513)}}}}, ""); }) ==
        "metadata.k: metadata values must be at most 512 characters");
  CHECK(metadata_for_create({{"metadata", {{"k", ""}}}}, "") == json{{"k", ""}});  // values may be empty

  CHECK(refused([&] { metadata_for_create({{"metadata", {{"", "v"}}}}, ""); }) == "metadata: metadata keys must not be empty");
  CHECK(refused([&] { metadata_for_create({{"metadata", {{"k", 1}}}}, ""); }) ==
        "metadata.k: metadata values must be strings, got a number");
  CHECK(refused([&] { metadata_for_create({{"metadata", {{"k", nullptr}}}}, ""); }) ==
        "metadata.k: metadata values must be strings, got null");
  CHECK(refused([&] { metadata_for_create({{"metadata", json::array()}}, ""); }) ==
        "metadata: expected an object, got an array");
  CHECK(refused([&] { metadata_for_create({{"metadata", {{"k", 1}}}}, "outer", "invalid_metadata"); }) ==
        "outer.metadata.k: metadata values must be strings, got a number [invalid_metadata]");
}

TEST_CASE("fields: metadata_patch upserts and deletes and keeps omitted keys") {
  json current = {{"keep", "1"}, {"change", "2"}, {"drop", "3"}};
  json patched = metadata_patch(current, {{"metadata", {{"change", "two"}, {"drop", nullptr}, {"new", "4"}}}}, "");
  CHECK(patched == json{{"keep", "1"}, {"change", "two"}, {"new", "4"}});

  // Absent or null metadata keeps everything; a non-object current starts empty.
  CHECK(metadata_patch(current, json::object(), "") == current);
  CHECK(metadata_patch(current, {{"metadata", nullptr}}, "") == current);
  CHECK(metadata_patch(nullptr, {{"metadata", {{"a", "b"}}}}, "") == json{{"a", "b"}});

  // Deleting a key that is not there is fine.
  CHECK(metadata_patch(current, {{"metadata", {{"absent", nullptr}}}}, "") == current);

  // "" is a value unless empty_deletes.
  CHECK(metadata_patch(current, {{"metadata", {{"keep", ""}}}}, "") == json{{"keep", ""}, {"change", "2"}, {"drop", "3"}});
  CHECK(metadata_patch(current, {{"metadata", {{"keep", ""}}}}, "", /*empty_deletes=*/true) ==
        json{{"change", "2"}, {"drop", "3"}});
}

TEST_CASE("fields: metadata_patch checks the limits on the result") {
  json full = metadata_of(16);
  CHECK(refused([&] { metadata_patch(full, {{"metadata", {{"extra", "v"}}}}, ""); }) ==
        "metadata: at most 16 metadata pairs are allowed (got 17)");
  // One in, one out: still 16.
  json swapped = metadata_patch(full, {{"metadata", {{"extra", "v"}, {"k00", nullptr}}}}, "");
  CHECK(swapped.size() == 16);
  CHECK(swapped.contains("extra"));
  CHECK_FALSE(swapped.contains("k00"));
  CHECK(refused([&] { metadata_patch(json::object(), {{"metadata", {{"k", repeat("v", 513)}}}}, ""); }) ==
        "metadata.k: metadata values must be at most 512 characters");
  CHECK(refused([&] { metadata_patch(json::object(), {{"metadata", {{repeat("k", 65), "v"}}}}, "", false, "invalid_metadata"); }) ==
        fmt::format("metadata.{}: metadata keys must be at most 64 characters [invalid_metadata]", repeat("k", 65)));
  CHECK(refused([&] { metadata_patch(json::object(), {{"metadata", {{"k", true}}}}, ""); }) ==
        "metadata.k: metadata values must be strings, got a boolean");
  CHECK(refused([&] { metadata_patch(json::object(), {{"metadata", "text"}}, ""); }) ==
        "metadata: expected an object, got a string");
}

TEST_CASE("fields: parse_body") {
  CHECK(parse_body(with_body("")) == json::object());
  CHECK(parse_body(with_body(" \r\n\t ")) == json::object());
  CHECK(parse_body(with_body(R"({"a":1})")) == json{{"a", 1}});
  CHECK(parse_body(with_body(" {} ")) == json::object());
  CHECK(refused([] { parse_body(with_body(R"({"a":)")); }) == "body: malformed JSON at byte 6; send a JSON object");
  CHECK(refused([] { parse_body(with_body(R"({"a" 1})")); }) == "body: malformed JSON at byte 6; send a JSON object");
  CHECK(refused([] { parse_body(with_body("{} x")); }) == "body: malformed JSON at byte 4; send a JSON object");
  CHECK(refused([] { parse_body(with_body(R"({"name": 1e999})")); }) ==
        "body: malformed JSON: a number out of range; send a JSON object");
  // A raw NUL would end the parser's input: what follows it must not be ignored.
  CHECK(refused([] { parse_body(with_body(std::string(R"({"display_name":"ab"})") + '\0' + R"({"x":1})")); }) ==
        "body: malformed JSON at byte 22: a NUL byte (inside a string, write \\u0000)");
  CHECK(refused([] { parse_body(with_body(std::string(R"({"a":"x)") + '\0' + R"("})")); }) ==
        "body: malformed JSON at byte 8: a NUL byte (inside a string, write \\u0000)");
  CHECK(refused([] { parse_body(with_body("[1,2]")); }) == "body: expected a JSON object, got an array");
  CHECK(refused([] { parse_body(with_body("\"text\"")); }) == "body: expected a JSON object, got a string");
  CHECK(refused([] { parse_body(with_body("null")); }) == "body: expected a JSON object, got null");
  CHECK(refused([] { parse_body(with_body("42")); }) == "body: expected a JSON object, got a number");
  // Invalid UTF-8 inside a string is malformed JSON, so later code-point counts can trust the bytes.
  CHECK(refused([] { parse_body(with_body("{\"a\":\"\xFF\"}")); }).starts_with("body: malformed JSON at byte "));
  // Nesting past 64 levels is refused before parsing: writing it back would recurse once per level.
  const std::string deep = "{\"a\":" + std::string(400000, '[') + std::string(400000, ']') + "}";
  CHECK(refused([&] { parse_body(with_body(deep)); }) == "body: JSON nested deeper than 64 levels; no field of this API needs that");
  const std::string ok = "{\"a\":" + std::string(63, '[') + std::string(63, ']') + "}";
  CHECK(parse_body(with_body(ok)).dump() == ok);
}

TEST_CASE("fields: reject_unknown_fields names the first unknown key and the accepted ones") {
  json body = {{"display_name", "x"}, {"metdata", json::object()}};
  CHECK(refused([&] { reject_unknown_fields(body, {"display_name", "metadata"}, ""); }) ==
        "metdata: unknown field; accepted fields here: display_name, metadata");
  CHECK(refused([&] { reject_unknown_fields(body, {"display_name"}, "auth.networking"); }) ==
        "auth.networking.metdata: unknown field; accepted fields here: display_name");
  CHECK(refused([&] { reject_unknown_fields(body, {"display_name", "metdata", "x"}, ""); }) == "<accepted>");
  CHECK(refused([&] { reject_unknown_fields(json::object(), {"a"}, ""); }) == "<accepted>");
}

TEST_CASE("fields: has and is_null") {
  json body = {{"a", nullptr}, {"b", 0}};
  CHECK(has(body, "a"));
  CHECK(is_null(body, "a"));
  CHECK(has(body, "b"));
  CHECK_FALSE(is_null(body, "b"));
  CHECK_FALSE(has(body, "c"));
  CHECK_FALSE(is_null(body, "c"));
}

}  // namespace airlock::control
