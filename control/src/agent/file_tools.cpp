// The file tools (see file_tools.hpp).
#include "agent/file_tools.hpp"

#include <fnmatch.h>

#include <algorithm>
#include <fstream>
#include <regex>
#include <sstream>
#include <system_error>
#include <vector>

#include <fmt/format.h>

#include "runtime/harness_output.hpp"

namespace airlock::control::agent {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

constexpr std::uintmax_t kReadFileMax = 64 << 20;  // a larger file is not read whole
constexpr std::size_t kGlobResultsMax = 1000;
constexpr std::size_t kGrepMatchesMax = 500;
constexpr std::uintmax_t kGrepFileMax = 8 << 20;

ToolOutcome fail(std::string text) { return {std::move(text), true}; }

// A required string field of the input, or nullopt.
std::optional<std::string> text_field(const json& input, const char* name) {
  if (!input.is_object()) return std::nullopt;
  auto found = input.find(name);
  if (found == input.end() || !found->is_string()) return std::nullopt;
  return found->get<std::string>();
}

fs::path resolve(const fs::path& cwd, const std::string& path) {
  fs::path p(path);
  return p.is_absolute() ? p : cwd / p;
}

std::optional<std::string> slurp(const fs::path& path, std::string& error) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    error = fmt::format("{} is a directory", path.string());
    return std::nullopt;
  }
  const std::uintmax_t size = fs::file_size(path, ec);
  if (ec) {
    error = fmt::format("cannot read {}: {}", path.string(), ec.message());
    return std::nullopt;
  }
  if (size > kReadFileMax) {
    error = fmt::format("{} is {} bytes, more than this tool reads ({})", path.string(), size, kReadFileMax);
    return std::nullopt;
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    error = fmt::format("cannot open {}", path.string());
    return std::nullopt;
  }
  std::ostringstream out;
  out << in.rdbuf();
  return std::move(out).str();
}

bool spill(const fs::path& path, std::string_view content, std::string& error) {
  std::error_code ec;
  if (path.has_parent_path()) fs::create_directories(path.parent_path(), ec);
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(content.data(), static_cast<std::streamsize>(content.size()));
  out.close();
  if (!out) {
    error = fmt::format("cannot write {}", path.string());
    return false;
  }
  return true;
}

std::vector<std::string_view> split_path(std::string_view path) {
  std::vector<std::string_view> parts;
  while (!path.empty()) {
    const std::size_t slash = path.find('/');
    std::string_view part = path.substr(0, slash);
    if (!part.empty() && part != ".") parts.push_back(part);
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
  return parts;
}

bool match_parts(std::span<const std::string_view> pattern, std::span<const std::string_view> path) {
  if (pattern.empty()) return path.empty();
  if (pattern.front() == "**") {
    for (std::size_t skip = 0; skip <= path.size(); ++skip) {
      if (match_parts(pattern.subspan(1), path.subspan(skip))) return true;
    }
    return false;
  }
  if (path.empty()) return false;
  const std::string segment(pattern.front());
  const std::string name(path.front());
  return ::fnmatch(segment.c_str(), name.c_str(), FNM_PERIOD) == 0 && match_parts(pattern.subspan(1), path.subspan(1));
}

// The files under `root` (regular files only), not following directory symlinks, skipping what cannot
// be read.
template <typename Visit>
void walk_files(const fs::path& root, Visit&& visit) {
  std::error_code ec;
  if (fs::is_regular_file(root, ec)) {
    visit(root);
    return;
  }
  fs::recursive_directory_iterator it(root, fs::directory_options::skip_permission_denied, ec);
  for (; !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (it->is_regular_file(ec) && !visit(it->path())) return;
  }
}

}  // namespace

std::string bounded_text(std::string_view text, std::size_t max) {
  if (text.size() <= max) return valid_utf8(text);
  std::size_t cut = max;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;  // not inside a character
  return valid_utf8(text.substr(0, cut)) + fmt::format("\n[{} more bytes not shown]", text.size() - cut);
}

bool glob_matches(std::string_view pattern, std::string_view relative_path) {
  const std::vector<std::string_view> p = split_path(pattern);
  const std::vector<std::string_view> f = split_path(relative_path);
  return match_parts(p, f);
}

ToolOutcome read_tool(const json& input, const fs::path& cwd) {
  auto file = text_field(input, "file_path");
  if (!file) return fail("read needs file_path, a string");
  std::string error;
  auto content = slurp(resolve(cwd, *file), error);
  if (!content) return fail(error);
  std::int64_t first = 1;
  std::int64_t last = 0;
  if (auto range = input.find("view_range"); range != input.end() && range->is_array() && !range->empty()) {
    if ((*range)[0].is_number_integer()) first = std::max<std::int64_t>(1, (*range)[0].get<std::int64_t>());
    if (range->size() > 1 && (*range)[1].is_number_integer()) last = (*range)[1].get<std::int64_t>();
  }
  std::string out;
  std::int64_t number = 0;
  std::string_view rest = *content;
  while (!rest.empty()) {
    const std::size_t newline = rest.find('\n');
    const std::string_view line = rest.substr(0, newline);
    ++number;
    if (number >= first && (last <= 0 || number <= last)) out += fmt::format("{:>6}\t{}\n", number, line);
    if (out.size() > kToolOutputMax) break;
    if (newline == std::string_view::npos) break;
    rest.remove_prefix(newline + 1);
  }
  if (content->empty()) return {"(the file is empty)", false};
  return {bounded_text(out), false};
}

ToolOutcome write_tool(const json& input, const fs::path& cwd) {
  auto file = text_field(input, "file_path");
  auto content = text_field(input, "content");
  if (!file || !content) return fail("write needs file_path and content, both strings");
  const fs::path path = resolve(cwd, *file);
  std::string error;
  if (!spill(path, *content, error)) return fail(error);
  return {fmt::format("wrote {} bytes to {}", content->size(), path.string()), false};
}

ToolOutcome edit_tool(const json& input, const fs::path& cwd) {
  auto file = text_field(input, "file_path");
  auto old_text = text_field(input, "old_string");
  auto new_text = text_field(input, "new_string");
  if (!file || !old_text || !new_text) return fail("edit needs file_path, old_string and new_string, all strings");
  if (old_text->empty()) return fail("old_string is empty; use write to create a file");
  const bool replace_all = input.value("replace_all", false);
  const fs::path path = resolve(cwd, *file);
  std::string error;
  auto content = slurp(path, error);
  if (!content) return fail(error);
  std::size_t count = 0;
  for (std::size_t at = content->find(*old_text); at != std::string::npos; at = content->find(*old_text, at + old_text->size())) {
    ++count;
  }
  if (count == 0) return fail(fmt::format("old_string was not found in {}", path.string()));
  if (count > 1 && !replace_all) {
    return fail(fmt::format("old_string occurs {} times in {}; give more context to make it unique, or set replace_all",
                            count, path.string()));
  }
  std::string edited;
  std::size_t from = 0;
  for (std::size_t at = content->find(*old_text); at != std::string::npos; at = content->find(*old_text, from)) {
    edited.append(*content, from, at - from);
    edited += *new_text;
    from = at + old_text->size();
  }
  edited.append(*content, from);
  if (!spill(path, edited, error)) return fail(error);
  return {fmt::format("replaced {} occurrence{} in {}", count, count == 1 ? "" : "s", path.string()), false};
}

ToolOutcome glob_tool(const json& input, const fs::path& cwd) {
  auto pattern = text_field(input, "pattern");
  if (!pattern) return fail("glob needs pattern, a string");
  const fs::path root = resolve(cwd, text_field(input, "path").value_or("."));
  std::vector<std::pair<fs::file_time_type, std::string>> found;
  walk_files(root, [&](const fs::path& file) {
    const std::string relative = file.lexically_relative(root).generic_string();
    if (glob_matches(*pattern, relative)) {
      std::error_code ec;
      found.emplace_back(fs::last_write_time(file, ec), relative);
    }
    return found.size() < 100 * kGlobResultsMax;
  });
  if (found.empty()) return {fmt::format("no files under {} match {}", root.string(), *pattern), false};
  std::sort(found.begin(), found.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  std::string out;
  for (std::size_t i = 0; i < found.size() && i < kGlobResultsMax; ++i) out += found[i].second + "\n";
  if (found.size() > kGlobResultsMax) out += fmt::format("[{} more not shown]\n", found.size() - kGlobResultsMax);
  return {bounded_text(out), false};
}

ToolOutcome grep_tool(const json& input, const fs::path& cwd) {
  auto pattern = text_field(input, "pattern");
  if (!pattern) return fail("grep needs pattern, a string");
  std::regex expression;
  try {
    expression = std::regex(*pattern, std::regex::ECMAScript);
  } catch (const std::regex_error& e) {
    return fail(fmt::format("pattern is not a valid regular expression: {}", e.what()));
  }
  const fs::path root = resolve(cwd, text_field(input, "path").value_or("."));
  const bool single_file = fs::is_regular_file(root);
  std::string out;
  std::size_t matches = 0;
  walk_files(root, [&](const fs::path& file) {
    std::error_code ec;
    if (fs::file_size(file, ec) > kGrepFileMax || ec) return true;
    std::string error;
    auto content = slurp(file, error);
    if (!content || content->find('\0') != std::string::npos) return true;  // unreadable or binary
    const std::string name = single_file ? file.string() : file.lexically_relative(root).generic_string();
    std::istringstream lines(*content);
    std::string line;
    for (std::size_t number = 1; std::getline(lines, line); ++number) {
      if (!std::regex_search(line, expression)) continue;
      out += fmt::format("{}:{}:{}\n", name, number, line);
      if (++matches >= kGrepMatchesMax || out.size() > kToolOutputMax) return false;
    }
    return true;
  });
  if (matches == 0) return {"no matches", false};
  if (matches >= kGrepMatchesMax) out += fmt::format("[stopped at {} matches]\n", kGrepMatchesMax);
  return {bounded_text(out), false};
}

}  // namespace airlock::control::agent
