// `airlock agent --adapter claude-code`: Claude Code's print mode (`claude -p --output-format stream-json
// --verbose`) turned into the `stdin: json` harness protocol (docs/runtime.md, "The Claude Code adapter").
// This is the pure half: one stdout line of the CLI in, the session events it becomes out, so the rules
// are tested without a process. The CLI's output is taken as hostile: any bytes, any shape.
//
// A turn is one run of the CLI. It opens with a span.model_request_start; the CLI's lines map as
//   system/init        the session id, kept for the next turn's --resume (no event)
//   assistant          per content block: text -> agent.message, thinking -> agent.thinking,
//                      tool_use -> agent.tool_use (allowed; the CLI decided), named with an id of ours
//   user               per tool_result block -> agent.tool_result, pointing at that agent.tool_use
//   result             span.model_request_end with the turn's usage, a session.error when is_error, then
//                      session.status_idle (end_turn)
// Any other line is a diagnostic for stderr. A turn whose CLI ends without a result line is closed by
// end_without_result or end_interrupted.
#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace airlock::control::agent {

// The line limit for the CLI's stdout: its tool results can be large (a file read whole), but one line
// must not take the adapter's memory.
inline constexpr std::size_t kClaudeCodeLineMax = 8 << 20;

// The command run when `--adapter claude-code` names none.
const std::vector<std::string>& default_claude_code_command();

// The command line of a turn: `command`, then `--resume SESSION` when an earlier turn gave a session id.
std::vector<std::string> claude_code_turn_command(const std::vector<std::string>& command, const std::string& session_id);

struct MappedLine {
  std::vector<nlohmann::json> events;     // session events to print, in order
  std::optional<std::string> diagnostic;  // for stderr: a line the mapping does not use (bounded, valid UTF-8)
};

class ClaudeCodeMapping {
 public:
  using IdSource = std::function<std::string()>;
  // `new_id`: the ids the adapter names its events with ("sevt_..."; store::random_id by default).
  explicit ClaudeCodeMapping(IdSource new_id = {});

  // A turn starts: its span.model_request_start, named.
  nlohmann::json begin_turn();
  MappedLine map_line(std::string_view line);
  // After an interrupt: an error result the CLI still prints is not reported as a session.error.
  void mark_interrupted() { interrupted_ = true; }
  // Whether this turn's result line has been seen (its idle event is out).
  bool turn_ended() const { return turn_ended_; }
  // The turn's end when the CLI stopped without a result line: a session.error saying `why`, the span's
  // end and the idle event. Nothing when the result line came.
  std::vector<nlohmann::json> end_without_result(const std::string& why);
  // The turn's end after an interrupt: the span's end and the idle event. Nothing when the result came.
  std::vector<nlohmann::json> end_interrupted();

  // The session id of the latest system/init line; empty before one.
  const std::string& session_id() const { return session_id_; }

 private:
  void map_assistant(const nlohmann::json& message, MappedLine& out);
  void map_user(const nlohmann::json& message, MappedLine& out);
  void map_result(const nlohmann::json& result, MappedLine& out);
  nlohmann::json span_end(bool is_error, const nlohmann::json& usage) const;

  IdSource new_id_;
  std::string session_id_;
  std::string span_id_;
  bool turn_ended_ = true;
  bool interrupted_ = false;
  std::map<std::string, std::string> tool_use_events_;  // the CLI's tool_use id -> our agent.tool_use id
};

}  // namespace airlock::control::agent
