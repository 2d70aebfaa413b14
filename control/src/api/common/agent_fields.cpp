// Validation of an agent's nested fields; see agent_fields.hpp.
#include "api/common/agent_fields.hpp"

#include <algorithm>
#include <initializer_list>
#include <set>

#include <fmt/format.h>

#include "api/common/fields.hpp"

namespace airlock::control {
namespace {

constexpr std::size_t kNameMax = 256;
constexpr std::size_t kUrlMax = 2048;
constexpr std::size_t kToolsMax = 256;
constexpr std::size_t kMcpServersMax = 20;
constexpr std::size_t kSkillsMax = 64;

bool one_of(std::string_view value, std::initializer_list<std::string_view> accepted) {
  return std::find(accepted.begin(), accepted.end(), value) != accepted.end();
}

}  // namespace

json take_model(const json& model, const std::string& path) {
  if (model.is_string()) {
    if (model.get_ref<const std::string&>().empty()) bad_request(fmt::format("{}: must not be empty", path));
    return {{"id", model}};
  }
  if (!model.is_object()) {
    bad_request(fmt::format("{}: expected a model id string or an object with id, got {}", path, json_type_name(model)));
  }
  reject_unknown_fields(model, {"id", "effort", "inference_geo", "speed"}, path);
  json out = {{"id", required_string(model, "id", path, 1, kNameMax)}};
  if (has(model, "effort") && !is_null(model, "effort")) {
    const json& effort = model["effort"];
    std::string level;
    if (effort.is_string()) {
      level = effort.get<std::string>();
    } else if (effort.is_object()) {
      reject_unknown_fields(effort, {"type"}, join_path(path, "effort"));
      level = required_string(effort, "type", join_path(path, "effort"), 1, 16);
    } else {
      bad_request(fmt::format("{}.effort: expected a string or {{type}}, got {}", path, json_type_name(effort)));
    }
    if (!one_of(level, {"low", "medium", "high", "xhigh", "max"})) {
      bad_request(fmt::format("{}.effort: must be one of low, medium, high, xhigh, max; got \"{}\"", path, level));
    }
    out["effort"] = {{"type", level}};
  }
  if (auto geo = optional_string(model, "inference_geo", path, 1, 64)) out["inference_geo"] = *geo;
  if (auto speed = optional_string(model, "speed", path, 1, 16)) {
    if (!one_of(*speed, {"standard", "fast"})) bad_request(fmt::format("{}.speed: must be standard or fast", path));
    out["speed"] = *speed;
  }
  return out;
}

json take_mcp_servers(const json& servers, const std::string& path) {
  if (!servers.is_array()) bad_request(fmt::format("{}: expected an array, got {}", path, json_type_name(servers)));
  if (servers.size() > kMcpServersMax) bad_request(fmt::format("{}: at most {} entries are allowed (got {})", path, kMcpServersMax, servers.size()));
  json out = json::array();
  std::set<std::string> names;
  for (std::size_t i = 0; i < servers.size(); ++i) {
    std::string item = index_path(path, i);
    const json& server = servers[i];
    if (!server.is_object()) bad_request(fmt::format("{}: expected an object, got {}", item, json_type_name(server)));
    reject_unknown_fields(server, {"name", "type", "url"}, item);
    std::string name = required_string(server, "name", item, 1, kNameMax);
    if (required_string(server, "type", item, 1, 16) != "url") bad_request(fmt::format("{}.type: must be \"url\"", item));
    std::string url = required_string(server, "url", item, 1, kUrlMax);
    if (!names.insert(name).second) bad_request(fmt::format("{}.name: \"{}\" is used by another MCP server", item, name));
    out.push_back({{"name", name}, {"type", "url"}, {"url", url}});
  }
  return out;
}

json take_tools(const json& tools, const std::string& path) {
  if (!tools.is_array()) bad_request(fmt::format("{}: expected an array, got {}", path, json_type_name(tools)));
  if (tools.size() > kToolsMax) bad_request(fmt::format("{}: at most {} entries are allowed (got {})", path, kToolsMax, tools.size()));
  for (std::size_t i = 0; i < tools.size(); ++i) {
    std::string item = index_path(path, i);
    const json& tool = tools[i];
    if (!tool.is_object()) bad_request(fmt::format("{}: expected an object, got {}", item, json_type_name(tool)));
    std::string type = required_string(tool, "type", item, 1, 64);
    if (type == "mcp_toolset") {
      (void)required_string(tool, "mcp_server_name", item, 1, kNameMax);
    } else if (type == "custom") {
      (void)required_string(tool, "name", item, 1, kNameMax);
    } else if (type != "agent_toolset_20260401") {
      bad_request(fmt::format("{}.type: must be one of agent_toolset_20260401, mcp_toolset, custom; got \"{}\"", item, type));
    }
  }
  return tools;
}

json take_skills(const json& skills, const std::string& path) {
  if (!skills.is_array()) bad_request(fmt::format("{}: expected an array, got {}", path, json_type_name(skills)));
  if (skills.size() > kSkillsMax) bad_request(fmt::format("{}: at most {} entries are allowed (got {})", path, kSkillsMax, skills.size()));
  for (std::size_t i = 0; i < skills.size(); ++i) {
    std::string item = index_path(path, i);
    if (!skills[i].is_object()) bad_request(fmt::format("{}: expected an object, got {}", item, json_type_name(skills[i])));
    (void)required_string(skills[i], "skill_id", item, 1, kNameMax);
  }
  return skills;
}

void check_toolsets(const json& tools, const json& mcp_servers, std::string_view path) {
  std::set<std::string> declared;
  std::set<std::string> referenced;
  for (const json& server : mcp_servers) declared.insert(server.value("name", ""));
  for (const json& tool : tools) {
    if (tool.value("type", "") == "mcp_toolset") referenced.insert(tool.value("mcp_server_name", ""));
  }
  for (const std::string& name : referenced) {
    if (!declared.contains(name)) {
      bad_request(fmt::format("{}: an mcp_toolset names MCP server \"{}\", which is not in mcp_servers", join_path(path, "tools"), name));
    }
  }
  for (const std::string& name : declared) {
    if (!referenced.contains(name)) {
      bad_request(fmt::format("{}: \"{}\" is not used by any mcp_toolset in tools", join_path(path, "mcp_servers"), name));
    }
  }
}

}  // namespace airlock::control
