// One streamed Messages API response, put back together: a pure core fed the stream's events in order.
//
// Content blocks complete at content_block_stop (a tool_use's input is the JSON its input_json_delta
// pieces spell, {} when none came), each with a string `type` and the fields of its type of the right
// JSON type (text, thinking and signature strings; a tool_use's id and name strings, its input an
// object), or the stream ends in error; usage is message_start's, with message_delta's counts laid over it
// (its output_tokens is the running total); an `error` event or a malformed event ends the stream with an
// error. Unknown events (ping, and any the API adds) are skipped, as the API asks clients to.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "agent/sse.hpp"

namespace airlock::control::agent {

struct ModelUsage {
  std::int64_t input_tokens = 0;
  std::int64_t output_tokens = 0;
  std::int64_t cache_creation_input_tokens = 0;
  std::int64_t cache_read_input_tokens = 0;

  // The fields of a span.model_request_end's model_usage.
  nlohmann::json to_json() const;
  // Lays the counts `usage` (a Messages API usage object) holds over these.
  void update_from(const nlohmann::json& usage);
};

struct ModelError {
  std::string type;     // the API's error type (overloaded_error, ...), or "stream_error" for a broken stream
  std::string message;
};

class MessageStream {
 public:
  // Takes one event. Returns the content block it completed, if any.
  std::optional<nlohmann::json> on_event(const SseEvent& event);

  bool finished() const noexcept { return finished_; }            // message_stop seen
  const std::optional<ModelError>& error() const noexcept { return error_; }
  const nlohmann::json& content() const noexcept { return content_; }  // the completed blocks, in order
  const std::string& stop_reason() const noexcept { return stop_reason_; }
  const ModelUsage& usage() const noexcept { return usage_; }

 private:
  struct OpenBlock {  // NOLINT(bugprone-exception-escape): the throw seen is inside nlohmann::json's noexcept destructor
    nlohmann::json block;
    std::string input_json;  // tool_use: the partial_json pieces so far
  };
  std::optional<nlohmann::json> handle(const std::string& type, const nlohmann::json& data);

  std::map<std::int64_t, OpenBlock> open_;
  nlohmann::json content_ = nlohmann::json::array();
  std::string stop_reason_;
  ModelUsage usage_;
  std::optional<ModelError> error_;
  bool finished_ = false;
};

}  // namespace airlock::control::agent
