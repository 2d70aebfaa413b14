// The built-in toolset's file tools (read, write, edit, glob, grep), run in the sandbox by the agent
// harness. Each takes the model's input and returns the text the model reads back; a bad input or a
// failed operation is an error result the model can act on, never an exception. Output is bounded and
// valid UTF-8 (file contents are the sandbox's, hence arbitrary bytes).
#pragma once

#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace airlock::control::agent {

inline constexpr std::size_t kToolOutputMax = 100000;  // bytes of a tool result the model reads

struct ToolOutcome {
  std::string text;
  bool is_error = false;
};

ToolOutcome read_tool(const nlohmann::json& input, const std::filesystem::path& cwd);
ToolOutcome write_tool(const nlohmann::json& input, const std::filesystem::path& cwd);
ToolOutcome edit_tool(const nlohmann::json& input, const std::filesystem::path& cwd);
ToolOutcome glob_tool(const nlohmann::json& input, const std::filesystem::path& cwd);
ToolOutcome grep_tool(const nlohmann::json& input, const std::filesystem::path& cwd);

// Doublestar matching of a relative path: "**" spans any number of directories (none included), "*", "?"
// and "[...]" match within one name.
bool glob_matches(std::string_view pattern, std::string_view relative_path);

// `text` cut to at most `max` bytes (on a UTF-8 boundary, with a note saying how much was left out) and
// made valid UTF-8.
std::string bounded_text(std::string_view text, std::size_t max = kToolOutputMax);

}  // namespace airlock::control::agent
