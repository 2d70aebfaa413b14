// The tools an agent definition offers the model, resolved once per session: the built-in toolset
// (agent_toolset_20260401) with its default_config and per-tool configs applied, and the agent's custom
// tools. A pure core: what is offered, and whether a call waits for the user's confirmation.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace airlock::control::agent {

enum class ToolKind { builtin, custom, mcp };

struct OfferedTool {
  std::string name;
  ToolKind kind = ToolKind::builtin;
  bool ask = false;         // permission_policy always_ask: the call waits for user.tool_confirmation
  nlohmann::json definition;  // {name, description, input_schema}, as the Messages API takes it
  std::string mcp_server;      // mcp: the server (mcp_servers[].name) and the tool's own name there
  std::string mcp_tool;
};

// An mcp_toolset of the agent: its server, and the toolset entry (default_config, configs) to apply to
// the tools the server lists once connected.
struct McpToolset {
  std::string server_name;
  nlohmann::json entry;
};

struct Toolset {
  std::vector<OfferedTool> tools;
  std::vector<McpToolset> mcp_toolsets;  // to connect to; their tools join `tools` then (add_mcp_tools)
  std::vector<std::string> notes;  // what the definition asked for and this harness does not offer, and why

  const OfferedTool* find(std::string_view name) const;
  nlohmann::json definitions() const;  // the request's `tools`
};

// The built-in tools this harness runs, in the order it offers them (web_search needs a search backend,
// which Airlock does not have: never offered).
const std::vector<std::string>& builtin_tool_names();

// `agent_tools`: the agent definition's `tools` array (params or resolved form).
Toolset resolve_toolset(const nlohmann::json& agent_tools);

// Offers the tools an MCP server listed ({name, description, inputSchema}), as its toolset's configs say.
// A tool whose name another offered tool has already is offered as "<server>__<name>".
void add_mcp_tools(Toolset& toolset, const McpToolset& from, const std::vector<nlohmann::json>& listed);

}  // namespace airlock::control::agent
