// The agent's tools, resolved (see toolset.hpp).
#include "agent/toolset.hpp"

#include <algorithm>

#include "agent/json_fields.hpp"

namespace airlock::control::agent {

using json = nlohmann::json;

namespace {

json object_schema(json properties, json required) {
  return {{"type", "object"}, {"properties", std::move(properties)}, {"required", std::move(required)}};
}

// What the model reads about each built-in tool. The inputs are the SDK's Toolset20260401 inputs.
json builtin_definition(std::string_view name) {
  const json string = {{"type", "string"}};
  if (name == "bash") {
    return {{"name", "bash"},
            {"description",
             "Run a shell command with bash in the session's sandbox, in /workspace. stdout and stderr come back "
             "together (at most 100000 bytes); a non-zero exit status is reported. Network requests go through the "
             "egress proxy. Each call has a time limit (timeout_ms, default 120000, at most 600000)."},
            {"input_schema", object_schema({{"command", {{"type", "string"}, {"description", "The command to run."}}},
                                            {"timeout_ms", {{"type", "integer"}, {"description", "Time limit in ms."}}}},
                                           json::array({"command"}))}};
  }
  if (name == "read") {
    return {{"name", "read"},
            {"description",
             "Read a text file. Paths are relative to /workspace unless absolute. Lines come back numbered; "
             "view_range [start_line, end_line] (1-indexed, inclusive; end 0 or negative: to the end) reads part."},
            {"input_schema", object_schema({{"file_path", string},
                                            {"view_range", {{"type", "array"}, {"items", {{"type", "integer"}}}}}},
                                           json::array({"file_path"}))}};
  }
  if (name == "write") {
    return {{"name", "write"},
            {"description", "Write a file whole (created, with its directories, or overwritten)."},
            {"input_schema", object_schema({{"file_path", string}, {"content", string}}, json::array({"file_path", "content"}))}};
  }
  if (name == "edit") {
    return {{"name", "edit"},
            {"description",
             "Replace old_string with new_string in a file. old_string must occur exactly once unless replace_all "
             "is true."},
            {"input_schema", object_schema({{"file_path", string},
                                            {"old_string", string},
                                            {"new_string", string},
                                            {"replace_all", {{"type", "boolean"}}}},
                                           json::array({"file_path", "old_string", "new_string"}))}};
  }
  if (name == "glob") {
    return {{"name", "glob"},
            {"description", "List files matching a glob pattern (** spans directories), newest first, under path "
                            "(default /workspace)."},
            {"input_schema", object_schema({{"pattern", string}, {"path", string}}, json::array({"pattern"}))}};
  }
  if (name == "grep") {
    return {{"name", "grep"},
            {"description", "Search file contents for a regular expression (ECMAScript syntax) under path (a file or "
                            "a directory, default /workspace); matching lines come back as path:line:text."},
            {"input_schema", object_schema({{"pattern", string}, {"path", string}}, json::array({"pattern"}))}};
  }
  return {{"name", "web_fetch"},
          {"description", "Fetch a URL (http or https) through the egress proxy and return the response's status and "
                          "body (at most 100000 bytes)."},
          {"input_schema", object_schema({{"url", string}}, json::array({"url"}))}};
}

struct ToolConfig {
  bool enabled = true;
  bool ask = false;
};

// Applies a default_config or a configs[] entry; fields absent or null keep what `base` has.
ToolConfig apply(ToolConfig base, const json& config) {
  if (!config.is_object()) return base;
  if (auto enabled = config.find("enabled"); enabled != config.end() && enabled->is_boolean()) base.enabled = enabled->get<bool>();
  if (auto policy = config.find("permission_policy"); policy != config.end() && policy->is_object()) {
    // auto (the hosted server's own judgement per call) has no judge here: it allows, as always_allow does.
    base.ask = policy->value("type", "") == "always_ask";
  }
  return base;
}

}  // namespace

const std::vector<std::string>& builtin_tool_names() {
  static const std::vector<std::string> names = {"bash", "read", "write", "edit", "glob", "grep", "web_fetch"};
  return names;
}

const OfferedTool* Toolset::find(std::string_view name) const {
  auto found = std::find_if(tools.begin(), tools.end(), [name](const OfferedTool& tool) { return tool.name == name; });
  return found == tools.end() ? nullptr : &*found;
}

json Toolset::definitions() const {
  json out = json::array();
  for (const OfferedTool& tool : tools) out.push_back(tool.definition);
  return out;
}

Toolset resolve_toolset(const json& agent_tools) {
  Toolset toolset;
  if (!agent_tools.is_array()) return toolset;
  for (const json& entry : agent_tools) {
    if (!entry.is_object()) continue;
    const std::string type = entry.value("type", "");
    if (type == "agent_toolset_20260401") {
      const ToolConfig defaults = apply({}, entry.value("default_config", json::object()));
      for (const std::string& name : builtin_tool_names()) {
        ToolConfig config = defaults;
        for (const json& item : entry.value("configs", json::array())) {
          if (item.is_object() && item.value("name", "") == name) config = apply(config, item);
        }
        if (!config.enabled || toolset.find(name) != nullptr) continue;
        toolset.tools.push_back({name, ToolKind::builtin, config.ask, builtin_definition(name), {}, {}});
      }
      for (const json& item : entry.value("configs", json::array())) {
        if (item.is_object() && item.value("name", "") == "web_search" && apply(defaults, item).enabled) {
          toolset.notes.emplace_back("web_search is not offered: Airlock has no search backend");
        }
      }
    } else if (type == "custom") {
      const std::string name = entry.value("name", "");
      if (name.empty() || toolset.find(name) != nullptr) continue;
      toolset.tools.push_back({name, ToolKind::custom, false,
                               {{"name", name},
                                {"description", entry.value("description", "")},
                                {"input_schema", entry.value("input_schema", json{{"type", "object"}})}},
                               {},
                               {}});
    } else if (type == "mcp_toolset") {
      toolset.mcp_toolsets.push_back({entry.value("mcp_server_name", ""), entry});
    }
  }
  return toolset;
}

void add_mcp_tools(Toolset& toolset, const McpToolset& from, const std::vector<json>& listed) {
  const ToolConfig defaults = apply({}, from.entry.value("default_config", json::object()));
  for (const json& tool : listed) {
    const std::string name = string_field(tool, "name");
    if (name.empty()) continue;
    ToolConfig config = defaults;
    for (const json& item : from.entry.value("configs", json::array())) {
      if (item.is_object() && item.value("name", "") == name) config = apply(config, item);
    }
    if (!config.enabled) continue;
    const std::string offered = toolset.find(name) == nullptr ? name : from.server_name + "__" + name;
    if (toolset.find(offered) != nullptr) continue;
    json schema = tool.value("inputSchema", json{{"type", "object"}});
    if (!schema.is_object()) schema = {{"type", "object"}};
    toolset.tools.push_back({offered,
                             ToolKind::mcp,
                             config.ask,
                             {{"name", offered}, {"description", string_field(tool, "description")}, {"input_schema", schema}},
                             from.server_name,
                             name});
  }
}

}  // namespace airlock::control::agent
