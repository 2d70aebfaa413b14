// Text the admin CLI prints for people: aligned tables, and the cells they are made of. Pure.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace airlock::control::cli {

// Columns padded to their widest cell, two spaces apart, the header first; no trailing spaces. Control
// characters in a cell are shown as '?' so that a value cannot move the cursor or fake a line.
std::string render_table(const std::vector<std::string>& headers, const std::vector<std::vector<std::string>>& rows);

// A JSON value as one cell: strings as they are, null or absent as "-", other scalars as JSON, arrays of
// scalars comma-separated, anything else as compact JSON.
std::string cell(const nlohmann::json& value);

// The value at a JSON pointer ("/schedule/expression"), or null when any part of the path is missing.
const nlohmann::json& at_pointer(const nlohmann::json& object, std::string_view pointer);

}  // namespace airlock::control::cli
