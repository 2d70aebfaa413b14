// Reading and validating JSON request bodies, field by field.
//
// Every refusal is a 400 whose message starts with the JSON path of the offending field
// ("auth.networking.allowed_hosts[2]: ports are not allowed"), then says what is accepted (API.md §9).
// Helpers take the parent object and the key, and the path of the parent ("" at the top level).
#pragma once

#include <cstddef>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>

#include "api/common/api.hpp"

namespace airlock::control {

// "" + "auth" -> "auth"; "auth" + "networking" -> "auth.networking".
std::string join_path(std::string_view parent, std::string_view key);
std::string index_path(std::string_view parent, std::size_t index);  // "hosts" + 2 -> "hosts[2]"

// The request body as a JSON object. No body (or an empty one, whatever its Content-Type) is an empty
// object; malformed JSON, or a JSON value that is not an object, is a 400.
json parse_body(const ApiRequest& request);

// Refuses keys of `object` that are not in `known`, naming the first such key.
void reject_unknown_fields(const json& object, std::initializer_list<std::string_view> known,
                           std::string_view path);

// Length in Unicode code points (the bodies are valid UTF-8: the JSON parser checked).
std::size_t utf8_length(std::string_view text);

const char* json_type_name(const json& value);

// A required string of min..max code points.
std::string required_string(const json& object, std::string_view key, std::string_view path, std::size_t min,
                            std::size_t max);
// An optional string: absent -> nullopt; null -> nullopt unless null_is_error; else min..max code points.
std::optional<std::string> optional_string(const json& object, std::string_view key, std::string_view path,
                                           std::size_t min, std::size_t max);
// Whether the key is present with a JSON null.
bool is_null(const json& object, std::string_view key);
bool has(const json& object, std::string_view key);

std::optional<bool> optional_bool(const json& object, std::string_view key, std::string_view path);
// The value at key, required to be an object (or absent -> nullptr).
const json* optional_object(const json& object, std::string_view key, std::string_view path);
const json& required_object(const json& object, std::string_view key, std::string_view path);
const json* optional_array(const json& object, std::string_view key, std::string_view path, std::size_t max);

// Metadata (API.md §7.7): at most 16 pairs, keys 1..64 and values 0..512 code points.
json metadata_for_create(const json& object, std::string_view path, std::string_view error_code = {});
// Patch semantics: a string upserts, null deletes (and "" too when empty_deletes), omitted keys are kept;
// the result must still satisfy the limits. Absent or null `metadata` keeps `current`.
json metadata_patch(const json& current, const json& object, std::string_view path, bool empty_deletes = false,
                    std::string_view error_code = {});

}  // namespace airlock::control
