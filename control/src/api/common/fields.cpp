// Field validation for request bodies; see fields.hpp.
#include "api/common/fields.hpp"

#include <fmt/format.h>

#include "http/json_depth.hpp"

namespace airlock::control {
namespace {

constexpr std::size_t kMetadataPairs = 16;
constexpr std::size_t kMetadataKeyLength = 64;
constexpr std::size_t kMetadataValueLength = 512;

[[noreturn]] void wrong_type(std::string_view path, std::string_view expected, const json& value) {
  bad_request(fmt::format("{}: expected {}, got {}", path, expected, json_type_name(value)));
}

void check_length(std::string_view path, const std::string& value, std::size_t min, std::size_t max) {
  std::size_t length = utf8_length(value);
  if (length < min) {
    if (min == 1) bad_request(fmt::format("{}: must not be empty", path));
    bad_request(fmt::format("{}: must be at least {} characters", path, min));
  }
  if (length > max) bad_request(fmt::format("{}: must be at most {} characters (got {})", path, max, length));
}

void check_metadata_pair(std::string_view path, const std::string& key, const json& value,
                         std::string_view error_code) {
  std::string key_path = join_path(path, key);
  if (!value.is_string()) {
    bad_request(fmt::format("{}: metadata values must be strings, got {}", key_path, json_type_name(value)),
                std::string(error_code));
  }
  if (key.empty()) bad_request(fmt::format("{}: metadata keys must not be empty", path), std::string(error_code));
  if (utf8_length(key) > kMetadataKeyLength) {
    bad_request(fmt::format("{}: metadata keys must be at most {} characters", key_path, kMetadataKeyLength),
                std::string(error_code));
  }
  if (utf8_length(value.get_ref<const std::string&>()) > kMetadataValueLength) {
    bad_request(fmt::format("{}: metadata values must be at most {} characters", key_path, kMetadataValueLength),
                std::string(error_code));
  }
}

void check_metadata_count(std::string_view path, const json& metadata, std::string_view error_code) {
  if (metadata.size() > kMetadataPairs) {
    bad_request(fmt::format("{}: at most {} metadata pairs are allowed (got {})", path, kMetadataPairs,
                            metadata.size()),
                std::string(error_code));
  }
}

}  // namespace

std::string join_path(std::string_view parent, std::string_view key) {
  if (parent.empty()) return std::string(key);
  return fmt::format("{}.{}", parent, key);
}

std::string index_path(std::string_view parent, std::size_t index) { return fmt::format("{}[{}]", parent, index); }

json parse_body(const ApiRequest& request) {
  bool blank = request.body.find_first_not_of(" \t\r\n") == std::string::npos;
  if (blank) return json::object();
  if (!json_depth_within(request.body)) {
    bad_request(fmt::format("body: JSON nested deeper than {} levels; no field of this API needs that", kJsonDepthMax));
  }
  // A raw NUL is never JSON, and the parser would take it for the end of the input, ignoring what follows.
  if (const std::size_t nul = request.body.find('\0'); nul != std::string::npos) {
    bad_request(fmt::format("body: malformed JSON at byte {}: a NUL byte (inside a string, write \\u0000)", nul + 1));
  }
  json body = json::parse(request.body, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded()) {
    // Parse again for the position of the problem; this path is rare.
    try {
      [[maybe_unused]] json reparsed = json::parse(request.body);
    } catch (const json::parse_error& e) {
      bad_request(fmt::format("body: malformed JSON at byte {}; send a JSON object", e.byte));
    } catch (const json::exception&) {  // out_of_range: a number too large for a double (1e999)
      bad_request("body: malformed JSON: a number out of range; send a JSON object");
    }
    bad_request("body: malformed JSON; send a JSON object");
  }
  if (!body.is_object()) bad_request(fmt::format("body: expected a JSON object, got {}", json_type_name(body)));
  return body;
}

void reject_unknown_fields(const json& object, std::initializer_list<std::string_view> known,
                           std::string_view path) {
  for (const auto& [key, value] : object.items()) {
    bool found = false;
    for (std::string_view k : known) found = found || k == key;
    if (!found) {
      std::string allowed;
      for (std::string_view k : known) allowed += fmt::format("{}{}", allowed.empty() ? "" : ", ", k);
      bad_request(fmt::format("{}: unknown field; accepted fields here: {}", join_path(path, key), allowed));
    }
  }
}

std::size_t utf8_length(std::string_view text) {
  std::size_t count = 0;
  for (unsigned char c : text) count += (c & 0xC0) != 0x80;
  return count;
}

const char* json_type_name(const json& value) {
  switch (value.type()) {
    case json::value_t::null: return "null";
    case json::value_t::boolean: return "a boolean";
    case json::value_t::string: return "a string";
    case json::value_t::array: return "an array";
    case json::value_t::object: return "an object";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
    case json::value_t::number_float: return "a number";
    default: return "an unsupported value";
  }
}

bool has(const json& object, std::string_view key) { return object.contains(key); }

bool is_null(const json& object, std::string_view key) {
  auto it = object.find(key);
  return it != object.end() && it->is_null();
}

std::string required_string(const json& object, std::string_view key, std::string_view path, std::size_t min,
                            std::size_t max) {
  std::string field = join_path(path, key);
  auto it = object.find(key);
  if (it == object.end()) bad_request(fmt::format("{}: required field is missing", field));
  if (!it->is_string()) wrong_type(field, "a string", *it);
  const auto& value = it->get_ref<const std::string&>();
  check_length(field, value, min, max);
  return value;
}

std::optional<std::string> optional_string(const json& object, std::string_view key, std::string_view path,
                                           std::size_t min, std::size_t max) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return std::nullopt;
  std::string field = join_path(path, key);
  if (!it->is_string()) wrong_type(field, "a string or null", *it);
  const auto& value = it->get_ref<const std::string&>();
  check_length(field, value, min, max);
  return value;
}

std::optional<bool> optional_bool(const json& object, std::string_view key, std::string_view path) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return std::nullopt;
  if (!it->is_boolean()) wrong_type(join_path(path, key), "a boolean", *it);
  return it->get<bool>();
}

const json* optional_object(const json& object, std::string_view key, std::string_view path) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return nullptr;
  if (!it->is_object()) wrong_type(join_path(path, key), "an object", *it);
  return &*it;
}

const json& required_object(const json& object, std::string_view key, std::string_view path) {
  const json* value = optional_object(object, key, path);
  if (value == nullptr) bad_request(fmt::format("{}: required field is missing", join_path(path, key)));
  return *value;
}

const json* optional_array(const json& object, std::string_view key, std::string_view path, std::size_t max) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return nullptr;
  std::string field = join_path(path, key);
  if (!it->is_array()) wrong_type(field, "an array", *it);
  if (it->size() > max) bad_request(fmt::format("{}: at most {} entries are allowed (got {})", field, max, it->size()));
  return &*it;
}

json metadata_for_create(const json& object, std::string_view path, std::string_view error_code) {
  std::string field = join_path(path, "metadata");
  const json* metadata = optional_object(object, "metadata", path);
  if (metadata == nullptr) return json::object();
  check_metadata_count(field, *metadata, error_code);
  for (const auto& [key, value] : metadata->items()) check_metadata_pair(field, key, value, error_code);
  return *metadata;
}

json metadata_patch(const json& current, const json& object, std::string_view path, bool empty_deletes,
                    std::string_view error_code) {
  std::string field = join_path(path, "metadata");
  const json* patch = optional_object(object, "metadata", path);
  json result = current.is_object() ? current : json::object();
  if (patch == nullptr) return result;
  for (const auto& [key, value] : patch->items()) {
    bool deletes = value.is_null() || (empty_deletes && value.is_string() && value.get_ref<const std::string&>().empty());
    if (deletes) {
      result.erase(key);
      continue;
    }
    check_metadata_pair(field, key, value, error_code);
    result[key] = value;
  }
  check_metadata_count(field, result, error_code);
  return result;
}

}  // namespace airlock::control
