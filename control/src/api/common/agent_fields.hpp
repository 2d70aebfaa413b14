// The nested fields of an agent (model, mcp_servers, tools, skills), validated the same way wherever they
// are accepted: agent create and update, and a session's agent_with_overrides. Each takes the value and
// its JSON path, and throws the 400 naming that path.
#pragma once

#include <string>
#include <string_view>

#include "api/common/api.hpp"

namespace airlock::control {

// A model id string or {id, effort?, inference_geo?, speed?}; effort is returned as {type} whatever form
// was sent.
json take_model(const json& model, const std::string& path);
// At most 20 {name, type: "url", url}, names unique.
json take_mcp_servers(const json& servers, const std::string& path);
// At most 256 tools of type agent_toolset_20260401, mcp_toolset or custom.
json take_tools(const json& tools, const std::string& path);
// At most 64 {skill_id, ...}.
json take_skills(const json& skills, const std::string& path);
// Every mcp_toolset names a declared MCP server and every declared server is used; `path` is the object
// holding both fields ("" at the top level).
void check_toolsets(const json& tools, const json& mcp_servers, std::string_view path);

}  // namespace airlock::control
