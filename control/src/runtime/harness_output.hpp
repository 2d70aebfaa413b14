// What a harness prints, turned into session events: a pure core, so the rules for hostile output are
// tested without a sandbox.
//
// stdout is read as lines (LF; a CR before it is dropped). A line that is a JSON object whose `type` is
// one a harness may emit (agent.message, agent.thinking, agent.tool_use, ..., span.model_request_* and
// session.error) is stored as that event, without any server field it brought (processed_at, an id not of
// the shape a harness may name); every other non-blank line is
// stored as an agent.message with the line as its text. Invalid UTF-8 is replaced (U+FFFD), so a binary
// byte never fails a store write. A line longer than the limit is cut into pieces, each its own text event.
// (How much of a session's output is stored at all is the runtime's bound: runtime.stdout_event_bytes.)
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace airlock::control {

inline constexpr std::size_t kHarnessLineMax = 1000000;  // the text limit of a stored event

// Bytes in, complete lines out; bounded memory per line.
class LineSplitter {
 public:
  explicit LineSplitter(std::size_t max_line = kHarnessLineMax) : max_line_(max_line) {}
  void feed(std::string_view bytes, std::vector<std::string>& lines);
  // At end of stream: the last line when it had no newline.
  std::optional<std::string> finish();

 private:
  std::size_t max_line_;
  std::string partial_;
};

// `text` with every invalid UTF-8 sequence replaced by U+FFFD.
std::string valid_utf8(std::string_view text);

// The event a stdout line becomes (type and fields, no server fields but an `id` the harness may name),
// or nullopt for a blank line.
std::optional<nlohmann::json> event_from_harness_line(std::string_view line);

// An id a harness may give its event (docs/runtime.md, "Turns"): "sevt_" and 8 to 64 letters or digits.
bool is_harness_event_id(std::string_view id);

// Adds a span.model_request_end's model_usage to a session's `usage` (docs/runtime.md, "Usage"); other
// events, and counts that are not non-negative integers, change nothing.
void add_model_usage(nlohmann::json& usage, const nlohmann::json& event);

// Under `stdin: json`: whether a client event of this type starts the next turn of a harness that ended its.
bool starts_turn(std::string_view type);

// The text a harness reads on stdin for a user.message event: its text blocks joined by newlines, ended by
// one; other content blocks (images, documents) are left out. Empty for an event without text.
std::string stdin_text(const nlohmann::json& event);

// `stdin: json` (docs/runtime.md, "Turns"): the types of the client events a harness reads, each as one
// line holding the event exactly as the event list returns it.
const std::vector<std::string>& turn_input_types();
bool is_turn_input(std::string_view type);
std::string stdin_json_line(const nlohmann::json& event);
// Under `stdin: json`, the stdout line that ends a turn, {"type": "session.status_idle", "stop_reason":
// {...}}: the session.status_idle event to store (its stop_reason as given when its type is end_turn,
// requires_action or retries_exhausted, else end_turn), or nullopt for any other line.
std::optional<nlohmann::json> turn_end_from_harness_line(std::string_view line);

}  // namespace airlock::control
