// Tables and cells for the admin CLI; see table.hpp.
#include "cli/table.hpp"

#include <algorithm>
#include <string>

namespace airlock::control::cli {
namespace {

using json = nlohmann::json;

// Display width in code points: a UTF-8 continuation byte adds nothing.
std::size_t width(std::string_view text) {
  return static_cast<std::size_t>(
      std::count_if(text.begin(), text.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

std::string printable(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7F) c = '?';
  }
  return out;
}

}  // namespace

std::string render_table(const std::vector<std::string>& headers, const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::vector<std::string>> lines;
  lines.reserve(rows.size() + 1);
  lines.push_back(headers);
  for (const auto& row : rows) {
    std::vector<std::string> cells;
    cells.reserve(row.size());
    for (const std::string& value : row) cells.push_back(printable(value));
    lines.push_back(std::move(cells));
  }
  std::vector<std::size_t> widths(headers.size(), 0);
  for (const auto& line : lines) {
    for (std::size_t i = 0; i < line.size() && i < widths.size(); ++i) widths[i] = std::max(widths[i], width(line[i]));
  }
  std::string out;
  for (const auto& line : lines) {
    std::string text;
    for (std::size_t i = 0; i < widths.size(); ++i) {
      const std::string& value = i < line.size() ? line[i] : std::string();
      text += value;
      if (i + 1 < widths.size()) text.append(widths[i] - width(value) + 2, ' ');
    }
    while (!text.empty() && text.back() == ' ') text.pop_back();
    out += text;
    out += '\n';
  }
  return out;
}

std::string cell(const json& value) {
  if (value.is_null()) return "-";
  if (value.is_string()) return value.get<std::string>();
  if (value.is_array() && std::all_of(value.begin(), value.end(), [](const json& v) { return v.is_primitive(); })) {
    std::string out;
    for (const json& item : value) {
      if (!out.empty()) out += ",";
      out += item.is_string() ? item.get<std::string>() : item.dump();
    }
    return out.empty() ? "-" : out;
  }
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

const json& at_pointer(const json& object, std::string_view pointer) {
  static const json kNull;  // immutable: the shared "absent" answer
  const json* at = &object;
  while (!pointer.empty()) {
    pointer.remove_prefix(1);  // the '/'
    const std::size_t slash = pointer.find('/');
    const std::string key(pointer.substr(0, slash));
    pointer = slash == std::string_view::npos ? std::string_view() : pointer.substr(slash);
    if (at->is_object()) {
      auto found = at->find(key);
      if (found == at->end()) return kNull;
      at = &*found;
    } else if (at->is_array() && !key.empty() && std::all_of(key.begin(), key.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      const std::size_t index = std::stoul(key);
      if (index >= at->size()) return kNull;
      at = &(*at)[index];
    } else {
      return kNull;
    }
  }
  return *at;
}

}  // namespace airlock::control::cli
