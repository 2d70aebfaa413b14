// The built-in harness's turns: the conversation with the model, the events a session shows for it, and
// the tools it runs (docs/runtime.md, "The built-in agent").
//
// Each turn sends the conversation to the Messages API (streamed), prints each completed content block
// as a session event (agent.thinking, agent.message, agent.tool_use, agent.custom_tool_use) between a
// span.model_request_start and a span.model_request_end carrying the request's usage, runs the tools the
// model called, and sends again until the model ends its turn. A custom tool call or a tool that asks
// for confirmation ends the turn with requires_action; the matching user.custom_tool_result or
// user.tool_confirmation resumes it. Overloaded, rate-limited and failed requests are retried with
// backoff, each retry announced by a session.error.
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "agent/bash_tool.hpp"
#include "agent/https_client.hpp"
#include "agent/inbox.hpp"
#include "agent/mcp_client.hpp"
#include "agent/message_stream.hpp"
#include "agent/toolset.hpp"

namespace airlock::control::agent {

struct AgentSettings {
  ControlUrl model_api;                  // ANTHROPIC_BASE_URL
  std::string api_key;                   // ANTHROPIC_API_KEY: a placeholder the proxy swaps; may be empty
  std::string model;
  std::optional<std::string> system;
  Toolset toolset;
  nlohmann::json mcp_servers = nlohmann::json::array();  // the agent's mcp_servers: {name, type, url}
  std::filesystem::path workspace;       // where tools run
  int max_tokens = 8192;
  int max_retries = 3;
  std::chrono::milliseconds retry_base{1000};  // the first backoff, doubled for each retry
  std::chrono::milliseconds retry_after_max{60000};
};

class AgentLoop {
 public:
  // `print`: writes one event line (a JSON object) to the session.
  AgentLoop(AgentSettings settings, HttpsClient& client, Inbox& inbox, std::function<void(const nlohmann::json&)> print);

  // Handles client events until the end of input or a fatal error. Returns the exit status.
  int run(bool turn_waiting_for_input);

 private:
  enum class CallEnd { done, interrupted, failed, exhausted, fatal };
  struct ToolCall {  // NOLINT(bugprone-exception-escape): the throw seen is inside nlohmann::json's noexcept destructor
    std::string tool_use_id;  // the model's
    std::string event_id;     // of the agent.tool_use / agent.custom_tool_use event
    std::string name;
    nlohmann::json input;
    const OfferedTool* tool = nullptr;  // nullptr: not offered
    std::optional<nlohmann::json> result;  // the tool_result block, once there is one
  };

  std::string emit(nlohmann::json event);
  void end_turn(const nlohmann::json& stop_reason);
  void add_user_content(const nlohmann::json& content);

  // Runs the model and its tools until the turn ends (idle) or waits for the client (requires_action).
  // Returns false when the harness must stop.
  bool continue_turn();
  CallEnd call_model(std::string& stop_reason);
  void on_block(const nlohmann::json& block);
  void run_tool(ToolCall& call);
  // After tools: the tool results go to the model, or the turn waits for the client.
  bool after_tools();
  void answer_pending(const nlohmann::json& event);
  // The result of `call`: kept for the model, and shown as agent.tool_result (agent.mcp_tool_result for an
  // MCP tool).
  void record_result(ToolCall& call, nlohmann::json content, bool is_error);
  // Connects to the agent's MCP servers and offers their tools; a server that fails is a session.error.
  void connect_mcp_servers();
  void fill_unanswered(const std::string& why);

  AgentSettings settings_;
  HttpsClient& client_;
  Inbox& inbox_;
  std::function<void(const nlohmann::json&)> print_;
  BashTool bash_;
  std::map<std::string, std::unique_ptr<McpClient>> mcp_;  // by server name
  nlohmann::json messages_ = nlohmann::json::array();
  std::vector<ToolCall> calls_;  // of the model's last answer
  bool waiting_ = false;         // the turn ended with requires_action
};

}  // namespace airlock::control::agent
