// MessageStream (see message_stream.hpp).
#include "agent/message_stream.hpp"

namespace airlock::control::agent {

using json = nlohmann::json;

namespace {

struct Malformed {};  // an event that does not fit the stream so far

bool string_or_absent(const json& block, const char* field) {
  auto found = block.find(field);
  return found == block.end() || found->is_string();
}

// What the agent reads of a completed block is there, of the right type (a hostile stream cannot make
// it throw later).
bool well_formed(const json& block) {
  auto type = block.find("type");
  if (type == block.end() || !type->is_string()) return false;
  const std::string& name = type->get_ref<const std::string&>();
  if (name == "text") return string_or_absent(block, "text");
  if (name == "thinking") return string_or_absent(block, "thinking") && string_or_absent(block, "signature");
  if (name == "tool_use") {
    return block.contains("id") && block["id"].is_string() && block.contains("name") && block["name"].is_string() &&
           block.contains("input") && block["input"].is_object();
  }
  return true;
}

}  // namespace

json ModelUsage::to_json() const {
  return {{"input_tokens", input_tokens},
          {"output_tokens", output_tokens},
          {"cache_creation_input_tokens", cache_creation_input_tokens},
          {"cache_read_input_tokens", cache_read_input_tokens}};
}

void ModelUsage::update_from(const json& usage) {
  if (!usage.is_object()) return;
  auto take = [&usage](const char* name, std::int64_t& into) {
    auto found = usage.find(name);
    if (found != usage.end() && found->is_number_integer()) into = found->get<std::int64_t>();
  };
  take("input_tokens", input_tokens);
  take("output_tokens", output_tokens);
  take("cache_creation_input_tokens", cache_creation_input_tokens);
  take("cache_read_input_tokens", cache_read_input_tokens);
}

std::optional<json> MessageStream::on_event(const SseEvent& event) {
  if (finished_ || error_) return std::nullopt;
  json data = json::parse(event.data, nullptr, /*allow_exceptions=*/false);
  if (!data.is_object()) {
    if (event.event == "ping") return std::nullopt;
    error_ = ModelError{"stream_error", "the model API sent an event that is not a JSON object"};
    return std::nullopt;
  }
  auto named = data.find("type");
  const std::string type = named != data.end() && named->is_string() ? named->get<std::string>() : event.event;
  try {
    return handle(type, data);
  } catch (const json::exception&) {  // a field missing or of the wrong type
    error_ = ModelError{"stream_error", "the model API sent a malformed " + type + " event"};
    return std::nullopt;
  } catch (const Malformed&) {
    error_ = ModelError{"stream_error", "the model API sent a malformed " + type + " event"};
    return std::nullopt;
  }
}

std::optional<json> MessageStream::handle(const std::string& type, const json& data) {
  if (type == "message_start") {
    usage_.update_from(data.at("message").value("usage", json::object()));
  } else if (type == "content_block_start") {
    OpenBlock open{data.at("content_block"), {}};
    if (!open.block.is_object()) throw Malformed{};
    open_[data.at("index").get<std::int64_t>()] = std::move(open);
  } else if (type == "content_block_delta") {
    auto found = open_.find(data.at("index").get<std::int64_t>());
    if (found == open_.end()) throw Malformed{};
    json& block = found->second.block;
    const json& delta = data.at("delta");
    const std::string kind = delta.value("type", "");
    if (kind == "text_delta") {
      block["text"] = block.value("text", "") + delta.at("text").get<std::string>();
    } else if (kind == "thinking_delta") {
      block["thinking"] = block.value("thinking", "") + delta.at("thinking").get<std::string>();
    } else if (kind == "signature_delta") {
      block["signature"] = block.value("signature", "") + delta.at("signature").get<std::string>();
    } else if (kind == "input_json_delta") {
      found->second.input_json += delta.at("partial_json").get<std::string>();
    }
  } else if (type == "content_block_stop") {
    auto found = open_.find(data.at("index").get<std::int64_t>());
    if (found == open_.end()) throw Malformed{};
    json block = std::move(found->second.block);
    if (block.value("type", "") == "tool_use" || block.value("type", "") == "server_tool_use") {
      const std::string& text = found->second.input_json;
      json input = text.empty() ? json::object() : json::parse(text, nullptr, /*allow_exceptions=*/false);
      if (!input.is_object()) {
        error_ = ModelError{"stream_error", "the model API sent a tool call whose input is not a JSON object"};
        return std::nullopt;
      }
      block["input"] = std::move(input);
    }
    open_.erase(found);
    if (!well_formed(block)) {
      error_ = ModelError{"stream_error", "the model API sent a content block without the fields its type has"};
      return std::nullopt;
    }
    content_.push_back(block);
    return block;
  } else if (type == "message_delta") {
    const json& delta = data.at("delta");
    if (delta.contains("stop_reason") && delta["stop_reason"].is_string()) stop_reason_ = delta["stop_reason"].get<std::string>();
    usage_.update_from(data.value("usage", json::object()));
  } else if (type == "message_stop") {
    finished_ = true;
  } else if (type == "error") {
    const json error = data.value("error", json::object());
    error_ = ModelError{error.value("type", "api_error"), error.value("message", "the model API reported an error")};
  }
  return std::nullopt;
}

}  // namespace airlock::control::agent
