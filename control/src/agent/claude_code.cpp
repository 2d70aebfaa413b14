// ClaudeCodeMapping (see claude_code.hpp).
#include "agent/claude_code.hpp"

#include <algorithm>
#include <array>
#include <cstdint>

#include <fmt/format.h>

#include "agent/file_tools.hpp"
#include "airlock/store/store.hpp"
#include "http/json_depth.hpp"
#include "runtime/harness_output.hpp"

namespace airlock::control::agent {

namespace {

using json = nlohmann::json;

constexpr std::size_t kDiagnosticMax = 2000;    // bytes of an unused line shown in stderr
constexpr std::size_t kErrorMessageMax = 4000;  // bytes of a failed result's message
constexpr std::size_t kInputMax = 900000;       // a tool input past this is not shown (an event stays one line)
constexpr std::size_t kSessionIdMax = 128;

constexpr std::array<std::string_view, 4> kUsageCounts = {"input_tokens", "output_tokens", "cache_read_input_tokens",
                                                           "cache_creation_input_tokens"};

json text_blocks(std::string text) { return json::array({{{"type", "text"}, {"text", std::move(text)}}}); }

std::string dump(const json& value) { return value.dump(-1, ' ', false, json::error_handler_t::replace); }

std::string string_field(const json& object, const char* name) {
  auto it = object.find(name);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// A session id is passed back as an argument: only the characters the CLI's ids (UUIDs) use.
bool plausible_session_id(std::string_view id) {
  return !id.empty() && id.size() <= kSessionIdMax && id.front() != '-' &&
         std::all_of(id.begin(), id.end(), [](char c) {
           return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
         });
}

// A tool result's content (a string, or blocks of which text is kept) as one bounded text.
std::string tool_result_text(const json& content) {
  std::string text;
  if (content.is_string()) {
    text = content.get<std::string>();
  } else if (content.is_array()) {
    for (const json& block : content) {
      if (!block.is_object()) continue;
      const std::string type = string_field(block, "type");
      if (!text.empty()) text += "\n";
      text += type == "text" ? string_field(block, "text") : fmt::format("[{} block not shown]", type.empty() ? "a" : type);
    }
  }
  if (text.empty()) text = "(no output)";
  return bounded_text(text);
}

// The four counts Airlock adds to the session's usage, each a non-negative integer (0 when missing).
json model_usage(const json& usage) {
  json counts = json::object();
  for (std::string_view name : kUsageCounts) {
    std::uint64_t value = 0;
    if (usage.is_object()) {
      auto it = usage.find(name);
      // nlohmann reads every non-negative integer as unsigned: a negative or fractional count stays 0.
      if (it != usage.end() && it->is_number_unsigned()) value = it->get<std::uint64_t>();
    }
    counts[std::string(name)] = value;
  }
  return counts;
}

json idle_event() { return {{"type", "session.status_idle"}, {"stop_reason", {{"type", "end_turn"}}}}; }

json error_event(std::string message) {
  return {{"type", "session.error"},
          {"error", {{"type", "model_request_failed_error"}, {"message", std::move(message)}, {"retry_status", {{"type", "terminal"}}}}}};
}

std::string diagnostic(std::string_view why, std::string_view line) {
  return fmt::format("{}: {}", why, bounded_text(line, kDiagnosticMax));
}

}  // namespace

const std::vector<std::string>& default_claude_code_command() {
  static const std::vector<std::string> kCommand = {"claude", "-p", "--output-format", "stream-json", "--verbose"};
  return kCommand;
}

std::vector<std::string> claude_code_turn_command(const std::vector<std::string>& command, const std::string& session_id) {
  std::vector<std::string> argv = command.empty() ? default_claude_code_command() : command;
  if (!session_id.empty()) {
    argv.emplace_back("--resume");
    argv.push_back(session_id);
  }
  return argv;
}

ClaudeCodeMapping::ClaudeCodeMapping(IdSource new_id) : new_id_(std::move(new_id)) {
  if (!new_id_) new_id_ = [] { return store::random_id("sevt_"); };
}

json ClaudeCodeMapping::begin_turn() {
  span_id_ = new_id_();
  turn_ended_ = false;
  interrupted_ = false;
  tool_use_events_.clear();
  return {{"type", "span.model_request_start"}, {"id", span_id_}};
}

MappedLine ClaudeCodeMapping::map_line(std::string_view raw) {
  MappedLine out;
  const std::string line = valid_utf8(raw);
  if (line.find_first_not_of(" \t\r") == std::string::npos) return out;
  if (!json_depth_within(line)) {
    out.diagnostic = diagnostic("a line nested too deeply to read", line);
    return out;
  }
  const json parsed = json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (!parsed.is_object()) {
    out.diagnostic = diagnostic("not a stream-json line", line);
    return out;
  }
  const std::string type = string_field(parsed, "type");
  if (type == "system" && string_field(parsed, "subtype") == "init") {
    const std::string id = string_field(parsed, "session_id");
    if (plausible_session_id(id)) {
      session_id_ = id;
    } else {
      out.diagnostic = diagnostic("a system/init line without a usable session_id", line);
    }
  } else if (turn_ended_) {
    // Between turns nothing should arrive; what does is shown, not turned into events of no turn.
    out.diagnostic = diagnostic("a line after the turn's result", line);
  } else if (type == "assistant" && parsed.contains("message") && parsed["message"].is_object()) {
    map_assistant(parsed["message"], out);
  } else if (type == "user" && parsed.contains("message") && parsed["message"].is_object()) {
    map_user(parsed["message"], out);
  } else if (type == "result") {
    map_result(parsed, out);
  } else if (type != "system") {
    out.diagnostic = diagnostic("a stream-json line of a type the adapter does not map", line);
  }
  return out;
}

void ClaudeCodeMapping::map_assistant(const json& message, MappedLine& out) {
  const json content = message.value("content", json::array());
  if (!content.is_array()) return;
  for (const json& block : content) {
    if (!block.is_object()) continue;
    const std::string type = string_field(block, "type");
    if (type == "text") {
      std::string text = string_field(block, "text");
      if (!text.empty()) out.events.push_back({{"type", "agent.message"}, {"content", text_blocks(std::move(text))}});
    } else if (type == "thinking" || type == "redacted_thinking") {
      out.events.push_back({{"type", "agent.thinking"}});
    } else if (type == "tool_use") {
      const std::string event_id = new_id_();
      const std::string tool_use_id = string_field(block, "id");
      if (!tool_use_id.empty()) tool_use_events_[tool_use_id] = event_id;
      json input = block.contains("input") ? block["input"] : json::object();
      if (dump(input).size() > kInputMax) input = {{"airlock_note", "the input is too large to show"}};
      out.events.push_back({{"type", "agent.tool_use"},
                            {"id", event_id},
                            {"name", string_field(block, "name")},
                            {"input", std::move(input)},
                            {"evaluated_permission", "allow"}});
    }
  }
}

void ClaudeCodeMapping::map_user(const json& message, MappedLine& out) {
  const json content = message.value("content", json::array());
  if (!content.is_array()) return;  // a plain-text user message: the prompt, which the session holds already
  for (const json& block : content) {
    if (!block.is_object() || string_field(block, "type") != "tool_result") continue;
    const std::string tool_use_id = string_field(block, "tool_use_id");
    auto event = tool_use_events_.find(tool_use_id);
    if (event == tool_use_events_.end()) {
      out.diagnostic = diagnostic("a tool_result for a tool_use not seen in this turn", tool_use_id);
      continue;
    }
    const bool is_error = block.contains("is_error") && block["is_error"].is_boolean() && block["is_error"].get<bool>();
    out.events.push_back({{"type", "agent.tool_result"},
                          {"tool_use_id", event->second},
                          {"content", text_blocks(tool_result_text(block.contains("content") ? block["content"] : json()))},
                          {"is_error", is_error}});
  }
}

void ClaudeCodeMapping::map_result(const json& result, MappedLine& out) {
  const bool is_error = result.contains("is_error") && result["is_error"].is_boolean() && result["is_error"].get<bool>();
  out.events.push_back(span_end(is_error, result.contains("usage") ? result["usage"] : json()));
  if (is_error && !interrupted_) {
    std::string message = string_field(result, "result");
    if (message.empty() && result.contains("errors") && result["errors"].is_array()) {
      for (const json& error : result["errors"]) {
        if (!error.is_string()) continue;
        if (!message.empty()) message += "; ";
        message += error.get<std::string>();
      }
    }
    if (message.empty()) message = fmt::format("Claude Code ended the turn with an error ({})", string_field(result, "subtype"));
    out.events.push_back(error_event(bounded_text(message, kErrorMessageMax)));
  }
  out.events.push_back(idle_event());
  turn_ended_ = true;
}

json ClaudeCodeMapping::span_end(bool is_error, const json& usage) const {
  return {{"type", "span.model_request_end"},
          {"model_request_start_id", span_id_},
          {"is_error", is_error},
          {"model_usage", model_usage(usage)}};
}

std::vector<json> ClaudeCodeMapping::end_without_result(const std::string& why) {
  if (turn_ended_) return {};
  turn_ended_ = true;
  return {error_event(why), span_end(true, json()), idle_event()};
}

std::vector<json> ClaudeCodeMapping::end_interrupted() {
  if (turn_ended_) return {};
  turn_ended_ = true;
  return {span_end(true, json()), idle_event()};
}

}  // namespace airlock::control::agent
