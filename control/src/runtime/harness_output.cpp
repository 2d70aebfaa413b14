// What a harness prints, turned into session events; see harness_output.hpp.
#include "runtime/harness_output.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdint>

#include "http/json_depth.hpp"

namespace airlock::control {
namespace {

using json = nlohmann::json;

constexpr std::array<std::string_view, 10> kHarnessEventTypes = {
    "agent.message",         "agent.thinking",           "agent.tool_use",         "agent.tool_result",
    "agent.mcp_tool_use",    "agent.mcp_tool_result",    "agent.custom_tool_use",  "span.model_request_start",
    "span.model_request_end", "session.error"};

// The usage counts of a span.model_request_end that the session's usage sums under the same name.
constexpr std::array<std::string_view, 3> kUsageCounts = {"input_tokens", "output_tokens", "cache_read_input_tokens"};

constexpr std::array<std::string_view, 3> kStopReasons = {"end_turn", "requires_action", "retries_exhausted"};

json text_event(std::string text) {  // text: valid UTF-8
  return {{"type", "agent.message"}, {"content", json::array({{{"type", "text"}, {"text", std::move(text)}}})}};
}

bool is_text_block(const json& block) {
  return block.is_object() && block.value("type", "") == "text" && block.contains("text") && block["text"].is_string();
}

// The harness's own event, checked where the API has a shape the SDK relies on; nullopt when it is not one.
std::optional<json> harness_event(std::string_view line) {
  if (!json_depth_within(line)) return std::nullopt;  // kept as text: it could not be stored as JSON safely
  json parsed = json::parse(line.begin(), line.end(), nullptr, /*allow_exceptions=*/false);
  if (!parsed.is_object()) return std::nullopt;
  auto type = parsed.find("type");
  if (type == parsed.end() || !type->is_string()) return std::nullopt;
  const std::string& name = type->get_ref<const std::string&>();
  if (std::find(kHarnessEventTypes.begin(), kHarnessEventTypes.end(), name) == kHarnessEventTypes.end()) return std::nullopt;
  if (auto id = parsed.find("id"); id != parsed.end() && !(id->is_string() && is_harness_event_id(id->get_ref<const std::string&>()))) {
    parsed.erase(id);
  }
  for (const char* server_field : {"processed_at", "session_id"}) parsed.erase(server_field);
  if (name == "agent.message") {
    auto content = parsed.find("content");
    if (content == parsed.end() || !content->is_array() || content->empty()) return std::nullopt;
    bool blocks_ok = std::all_of(content->begin(), content->end(), [](const json& block) {
      return is_text_block(block) || (block.is_object() && block.value("type", "") == "redacted");
    });
    if (!blocks_ok) return std::nullopt;
  } else if (name == "session.error") {
    auto error = parsed.find("error");
    if (error == parsed.end() || !error->is_object() || !error->contains("type") || !(*error)["type"].is_string() ||
        !error->contains("message") || !(*error)["message"].is_string()) {
      return std::nullopt;
    }
    if (!error->contains("retry_status")) (*error)["retry_status"] = {{"type", "terminal"}};
  }
  return parsed;
}

}  // namespace

void LineSplitter::feed(std::string_view bytes, std::vector<std::string>& lines) {
  while (!bytes.empty()) {
    auto newline = bytes.find('\n');
    std::string_view piece = bytes.substr(0, newline);
    // A line past the limit is emitted in pieces of max_line_ bytes.
    while (partial_.size() + piece.size() > max_line_) {
      std::size_t room = max_line_ - partial_.size();
      partial_.append(piece.substr(0, room));
      piece.remove_prefix(room);
      lines.push_back(std::move(partial_));
      partial_.clear();
    }
    partial_.append(piece);
    if (newline == std::string_view::npos) return;
    if (!partial_.empty() && partial_.back() == '\r') partial_.pop_back();
    lines.push_back(std::move(partial_));
    partial_.clear();
    bytes.remove_prefix(newline + 1);
  }
}

std::optional<std::string> LineSplitter::finish() {
  if (partial_.empty()) return std::nullopt;
  std::string last = std::move(partial_);
  partial_.clear();
  if (last.back() == '\r') last.pop_back();
  return last;
}

std::string valid_utf8(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  std::size_t i = 0;
  while (i < text.size()) {
    auto byte = static_cast<unsigned char>(text[i]);
    std::size_t length = byte < 0x80 ? 1 : (byte >> 5) == 0x6 ? 2 : (byte >> 4) == 0xE ? 3 : (byte >> 3) == 0x1E ? 4 : 0;
    bool ok = length > 0 && i + length <= text.size();
    for (std::size_t k = 1; ok && k < length; ++k) ok = (static_cast<unsigned char>(text[i + k]) & 0xC0) == 0x80;
    if (ok && length > 1) {
      // Overlong forms, surrogates and values past U+10FFFF are invalid too.
      auto b1 = static_cast<unsigned char>(text[i + 1]);
      if (length == 2) ok = byte >= 0xC2;
      if (length == 3) ok = !(byte == 0xE0 && b1 < 0xA0) && !(byte == 0xED && b1 >= 0xA0);
      if (length == 4) ok = !(byte == 0xF0 && b1 < 0x90) && !(byte == 0xF4 && b1 >= 0x90) && byte <= 0xF4;
    }
    if (ok) {
      out.append(text.substr(i, length));
      i += length;
    } else {
      out.append("\xEF\xBF\xBD");
      i += 1;
    }
  }
  return out;
}

std::optional<json> event_from_harness_line(std::string_view line) {
  if (line.find_first_not_of(" \t\r") == std::string_view::npos) return std::nullopt;
  std::string text = valid_utf8(line);
  std::string_view trimmed = std::string_view(text).substr(text.find_first_not_of(" \t"));
  if (trimmed.front() == '{') {
    if (auto event = harness_event(trimmed)) return event;
  }
  return text_event(std::move(text));
}

bool is_harness_event_id(std::string_view id) {
  constexpr std::string_view prefix = "sevt_";
  if (!id.starts_with(prefix)) return false;
  const std::string_view rest = id.substr(prefix.size());
  return rest.size() >= 8 && rest.size() <= 64 &&
         std::all_of(rest.begin(), rest.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; });
}

void add_model_usage(json& usage, const json& event) {
  if (event.value("type", "") != "span.model_request_end") return;
  const json model_usage = event.value("model_usage", json::object());
  if (!model_usage.is_object()) return;
  if (!usage.is_object()) usage = json::object();
  auto add = [](json& into, const std::string& name, const json& count) {
    if (!count.is_number_integer() || count.get<std::int64_t>() < 0) return;
    into[name] = into.value(name, std::int64_t{0}) + count.get<std::int64_t>();
  };
  for (std::string_view name : kUsageCounts) {
    if (auto count = model_usage.find(name); count != model_usage.end()) add(usage, std::string(name), *count);
  }
  if (auto count = model_usage.find("cache_creation_input_tokens"); count != model_usage.end()) {
    json& cache_creation = usage["cache_creation"];
    if (!cache_creation.is_object()) cache_creation = json::object();
    add(cache_creation, "ephemeral_5m_input_tokens", *count);
  }
}

bool starts_turn(std::string_view type) {
  return type == "user.message" || type == "user.custom_tool_result" || type == "user.tool_confirmation";
}

std::string stdin_text(const json& event) {
  std::string out;
  for (const json& block : event.value("content", json::array())) {
    if (!is_text_block(block)) continue;
    if (!out.empty()) out += '\n';
    out += block["text"].get<std::string>();
  }
  if (!out.empty()) out += '\n';
  return out;
}

const std::vector<std::string>& turn_input_types() {
  static const std::vector<std::string> kTypes = {"user.message", "user.custom_tool_result", "user.tool_confirmation",
                                                  "user.interrupt", "user.define_outcome"};
  return kTypes;
}

bool is_turn_input(std::string_view type) {
  const std::vector<std::string>& types = turn_input_types();
  return std::find(types.begin(), types.end(), type) != types.end();
}

std::string stdin_json_line(const json& event) {
  return event.dump(-1, ' ', false, json::error_handler_t::replace) + '\n';
}

std::optional<json> turn_end_from_harness_line(std::string_view line) {
  if (!json_depth_within(line)) return std::nullopt;
  json parsed = json::parse(line.begin(), line.end(), nullptr, /*allow_exceptions=*/false);
  if (!parsed.is_object() || parsed.value("type", json()) != "session.status_idle") return std::nullopt;
  json stop_reason = {{"type", "end_turn"}};
  if (auto given = parsed.find("stop_reason"); given != parsed.end() && given->is_object()) {
    auto type = given->find("type");
    if (type != given->end() && type->is_string() &&
        std::find(kStopReasons.begin(), kStopReasons.end(), type->get_ref<const std::string&>()) != kStopReasons.end()) {
      stop_reason = *given;
    }
  }
  return json{{"type", "session.status_idle"}, {"stop_reason", std::move(stop_reason)}, {"stop_details", nullptr}};
}

}  // namespace airlock::control
