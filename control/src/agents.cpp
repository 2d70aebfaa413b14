// Agents (API.md §3): create, retrieve (optionally a past version), update with optimistic locking,
// list, archive, and the list of versions. Each change stores a new version; the store keeps them all.
#include <charconv>
#include <limits>
#include <set>

#include <fmt/format.h>

#include "fields.hpp"
#include "listing.hpp"
#include "resources.hpp"

namespace airlock::control {
namespace {

constexpr std::size_t kNameMax = 256;
constexpr std::size_t kTextMax = 100000;
constexpr std::size_t kToolsMax = 256;
constexpr std::size_t kMcpServersMax = 20;
constexpr std::size_t kSkillsMax = 64;

bool one_of(std::string_view value, std::initializer_list<std::string_view> accepted) {
  for (std::string_view a : accepted) {
    if (a == value) return true;
  }
  return false;
}

json take_model(const json& body, std::string_view path) {
  std::string field = join_path(path, "model");
  const json& model = body.at("model");
  if (model.is_string()) {
    if (model.get_ref<const std::string&>().empty()) bad_request(fmt::format("{}: must not be empty", field));
    return {{"id", model}};
  }
  if (!model.is_object()) bad_request(fmt::format("{}: expected a model id string or an object with id, got {}", field, json_type_name(model)));
  reject_unknown_fields(model, {"id", "effort", "inference_geo", "speed"}, field);
  json out = {{"id", required_string(model, "id", field, 1, kNameMax)}};
  if (has(model, "effort") && !is_null(model, "effort")) {
    const json& effort = model["effort"];
    std::string level;
    if (effort.is_string()) {
      level = effort.get<std::string>();
    } else if (effort.is_object()) {
      reject_unknown_fields(effort, {"type"}, join_path(field, "effort"));
      level = required_string(effort, "type", join_path(field, "effort"), 1, 16);
    } else {
      bad_request(fmt::format("{}.effort: expected a string or {{type}}, got {}", field, json_type_name(effort)));
    }
    if (!one_of(level, {"low", "medium", "high", "xhigh", "max"})) {
      bad_request(fmt::format("{}.effort: must be one of low, medium, high, xhigh, max; got \"{}\"", field, level));
    }
    out["effort"] = {{"type", level}};  // returned as an object whatever form was sent
  }
  if (auto geo = optional_string(model, "inference_geo", field, 1, 64)) out["inference_geo"] = *geo;
  if (auto speed = optional_string(model, "speed", field, 1, 16)) {
    if (!one_of(*speed, {"standard", "fast"})) bad_request(fmt::format("{}.speed: must be standard or fast", field));
    out["speed"] = *speed;
  }
  return out;
}

json take_execution_identity(const json& body) {
  const json* identity = optional_object(body, "execution_identity", "");
  if (identity == nullptr) return {{"type", "service_account"}};
  std::string type = required_string(*identity, "type", "execution_identity", 1, 32);
  if (type == "service_account") {
    reject_unknown_fields(*identity, {"type"}, "execution_identity");
    return {{"type", type}};
  }
  if (type != "aws_role") bad_request("execution_identity.type: must be service_account or aws_role");
  reject_unknown_fields(*identity, {"type", "role_arn"}, "execution_identity");
  return {{"type", type}, {"role_arn", required_string(*identity, "role_arn", "execution_identity", 1, 2048)}};
}

json take_mcp_servers(const json& body) {
  const json* servers = optional_array(body, "mcp_servers", "", kMcpServersMax);
  json out = json::array();
  if (servers == nullptr) return out;
  std::set<std::string> names;
  for (std::size_t i = 0; i < servers->size(); ++i) {
    std::string path = index_path("mcp_servers", i);
    const json& server = (*servers)[i];
    if (!server.is_object()) bad_request(fmt::format("{}: expected an object, got {}", path, json_type_name(server)));
    reject_unknown_fields(server, {"name", "type", "url"}, path);
    std::string name = required_string(server, "name", path, 1, kNameMax);
    std::string type = required_string(server, "type", path, 1, 16);
    if (type != "url") bad_request(fmt::format("{}.type: must be \"url\"", path));
    std::string url = required_string(server, "url", path, 1, 2048);
    if (!names.insert(name).second) bad_request(fmt::format("{}.name: \"{}\" is used by another MCP server", path, name));
    out.push_back({{"name", name}, {"type", type}, {"url", url}});
  }
  return out;
}

json take_tools(const json& body, const json& mcp_servers) {
  const json* tools = optional_array(body, "tools", "", kToolsMax);
  json out = tools != nullptr ? *tools : json::array();
  std::set<std::string> referenced;
  for (std::size_t i = 0; i < out.size(); ++i) {
    std::string path = index_path("tools", i);
    const json& tool = out[i];
    if (!tool.is_object()) bad_request(fmt::format("{}: expected an object, got {}", path, json_type_name(tool)));
    std::string type = required_string(tool, "type", path, 1, 64);
    if (type == "mcp_toolset") {
      referenced.insert(required_string(tool, "mcp_server_name", path, 1, kNameMax));
    } else if (type == "custom") {
      (void)required_string(tool, "name", path, 1, kNameMax);
    } else if (type != "agent_toolset_20260401") {
      bad_request(fmt::format("{}.type: must be one of agent_toolset_20260401, mcp_toolset, custom; got \"{}\"", path, type));
    }
  }
  std::set<std::string> declared;
  for (const json& server : mcp_servers) declared.insert(server["name"].get<std::string>());
  for (const std::string& name : referenced) {
    if (!declared.contains(name)) bad_request(fmt::format("tools: an mcp_toolset names MCP server \"{}\", which is not in mcp_servers", name));
  }
  for (const std::string& name : declared) {
    if (!referenced.contains(name)) bad_request(fmt::format("mcp_servers: \"{}\" is not used by any mcp_toolset in tools", name));
  }
  return out;
}

json take_skills(const json& body) {
  const json* skills = optional_array(body, "skills", "", kSkillsMax);
  json out = skills != nullptr ? *skills : json::array();
  for (std::size_t i = 0; i < out.size(); ++i) {
    std::string path = index_path("skills", i);
    if (!out[i].is_object()) bad_request(fmt::format("{}: expected an object, got {}", path, json_type_name(out[i])));
    (void)required_string(out[i], "skill_id", path, 1, kNameMax);
  }
  return out;
}

json agent_json(const store::Agent& agent) {
  json out = parse_doc(agent.doc);
  out["id"] = agent.id;
  out["type"] = "agent";
  out["version"] = agent.version;
  out.update(timestamps_json(agent.created_at, agent.updated_at, agent.archived_at));
  return out;
}

const std::initializer_list<std::string_view> kAgentFields = {
    "name", "model", "description", "system", "metadata", "mcp_servers", "tools", "skills", "multiagent", "execution_identity"};

Reply create(store::Store& store, ApiRequest& request) {
  json body = parse_body(request);
  reject_unknown_fields(body, kAgentFields, "");
  std::string name = required_string(body, "name", "", 1, kNameMax);
  if (!has(body, "model") || is_null(body, "model")) bad_request("model: required field is missing");
  json mcp_servers = take_mcp_servers(body);
  json doc = {{"name", name},
              {"description", nullptr},
              {"system", nullptr},
              {"model", take_model(body, "")},
              {"tools", take_tools(body, mcp_servers)},
              {"mcp_servers", mcp_servers},
              {"skills", take_skills(body)},
              {"multiagent", nullptr},
              {"execution_identity", take_execution_identity(body)},
              {"metadata", metadata_for_create(body, "")}};
  if (auto text = optional_string(body, "description", "", 0, kTextMax)) doc["description"] = *text;
  if (auto text = optional_string(body, "system", "", 0, kTextMax)) doc["system"] = *text;
  if (const json* multiagent = optional_object(body, "multiagent", "")) doc["multiagent"] = *multiagent;
  return {200, agent_json(take(store.create_agent(doc.dump()), "agent", "")), {}};
}

Reply update(store::Store& store, ApiRequest& request) {
  const std::string& id = request.param("agent_id");
  json body = parse_body(request);
  std::initializer_list<std::string_view> fields = {"version", "name", "model", "description", "system", "metadata",
                                                    "mcp_servers", "tools", "skills", "multiagent", "execution_identity"};
  reject_unknown_fields(body, fields, "");
  std::optional<int> expected;
  if (has(body, "version") && !is_null(body, "version")) {
    const json& version = body["version"];
    bool in_range = version.is_number_integer() && version.get<long long>() >= 1 &&
                    version.get<long long>() <= std::numeric_limits<int>::max();
    if (!in_range) bad_request("version: expected an integer from 1 to 2147483647");
    expected = version.get<int>();
  }
  store::Agent agent = take(store.get_agent(id), "agent", id);
  if (agent.archived_at) bad_request(fmt::format("agent {} is archived; archived agents cannot change", id));
  if (expected && *expected != agent.version) {
    conflict(fmt::format("version: agent {} is at version {}, not {}; retrieve it and apply your change again", id,
                         agent.version, *expected));
  }
  json doc = parse_doc(agent.doc);
  for (const char* key : {"name", "model"}) {
    if (is_null(body, key)) bad_request(fmt::format("{}: cannot be cleared", key));
  }
  if (has(body, "name")) doc["name"] = required_string(body, "name", "", 1, kNameMax);
  if (has(body, "model")) doc["model"] = take_model(body, "");
  for (const char* key : {"description", "system"}) {
    if (!has(body, key)) continue;
    auto text = optional_string(body, key, "", 0, kTextMax);
    doc[key] = text && !text->empty() ? json(*text) : json(nullptr);  // null or "" clears
  }
  if (has(body, "mcp_servers")) doc["mcp_servers"] = take_mcp_servers(body);
  if (has(body, "tools") || has(body, "mcp_servers")) {
    json tools_body = has(body, "tools") ? body : json{{"tools", doc["tools"]}};
    doc["tools"] = take_tools(tools_body, doc["mcp_servers"]);
  }
  if (has(body, "skills")) doc["skills"] = take_skills(body);
  if (has(body, "multiagent")) {
    const json* multiagent = optional_object(body, "multiagent", "");
    doc["multiagent"] = multiagent != nullptr ? *multiagent : json(nullptr);
  }
  if (has(body, "execution_identity")) doc["execution_identity"] = take_execution_identity(body);
  doc["metadata"] = metadata_patch(doc.value("metadata", json::object()), body, "");
  auto updated = store.update_agent(id, doc.dump(), agent.version);
  if (!updated && updated.error() == store::Errc::version_conflict) {
    conflict(fmt::format("version: agent {} changed while this update was applied; retry", id));
  }
  return {200, agent_json(take(std::move(updated), "agent", id)), {}};
}

Reply retrieve(store::Store& store, ApiRequest& request) {
  const std::string& id = request.param("agent_id");
  std::optional<int> version;
  if (auto text = request.query_value("version")) {
    int parsed = 0;
    auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), parsed);
    if (ec != std::errc{} || end != text->data() + text->size() || parsed < 1) {
      bad_request(fmt::format("version: expected an integer >= 1, got \"{}\"", *text));
    }
    version = parsed;
  }
  auto agent = store.get_agent(id, version);
  if (!agent && version && agent.error() == store::Errc::not_found && store.get_agent(id)) {
    not_found(fmt::format("agent {} has no version {}", id, *version));
  }
  return {200, agent_json(take(std::move(agent), "agent", id)), {}};
}

}  // namespace

void add_agent_routes(Router& router, store::Store& store) {
  router.add("POST", "/v1/agents", [&store](ApiRequest& r) { return create(store, r); });
  router.add("GET", "/v1/agents", [&store](ApiRequest& r) {
    return Reply{200, page_json(take(store.list_agents(list_query(r)), "agents", ""), agent_json), {}};
  });
  router.add("GET", "/v1/agents/{agent_id}", [&store](ApiRequest& r) { return retrieve(store, r); });
  router.add("POST", "/v1/agents/{agent_id}", [&store](ApiRequest& r) { return update(store, r); });
  router.add("POST", "/v1/agents/{agent_id}/archive", [&store](ApiRequest& r) {
    const std::string& id = r.param("agent_id");
    return Reply{200, agent_json(take(store.archive_agent(id), "agent", id)), {}};
  });
  router.add("GET", "/v1/agents/{agent_id}/versions", [&store](ApiRequest& r) {
    const std::string& id = r.param("agent_id");
    return Reply{200, page_json(take(store.list_agent_versions(id, list_query(r)), "agent", id), agent_json), {}};
  });
}

}  // namespace airlock::control
