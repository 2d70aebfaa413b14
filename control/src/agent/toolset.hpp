// The tools an agent definition offers the model, resolved once per session: the built-in toolset
// (agent_toolset_20260401) with its default_config and per-tool configs applied, and the agent's custom
// tools. A pure core: what is offered, and whether a call waits for the user's confirmation.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace airlock::control::agent {

enum class ToolKind { builtin, custom };

struct OfferedTool {
  std::string name;
  ToolKind kind = ToolKind::builtin;
  bool ask = false;         // permission_policy always_ask: the call waits for user.tool_confirmation
  nlohmann::json definition;  // {name, description, input_schema}, as the Messages API takes it
};

struct Toolset {
  std::vector<OfferedTool> tools;
  std::vector<std::string> notes;  // what the definition asked for and this harness does not offer, and why

  const OfferedTool* find(std::string_view name) const;
  nlohmann::json definitions() const;  // the request's `tools`
};

// The built-in tools this harness runs, in the order it offers them (web_search needs a search backend,
// which Airlock does not have: never offered).
const std::vector<std::string>& builtin_tool_names();

// `agent_tools`: the agent definition's `tools` array (params or resolved form).
Toolset resolve_toolset(const nlohmann::json& agent_tools);

}  // namespace airlock::control::agent
