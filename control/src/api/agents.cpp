// Agents (API.md §3): create, retrieve (optionally a past version), update with optimistic locking,
// list, archive, and the list of versions. Each change stores a new version; the store keeps them all.
#include <charconv>
#include <limits>

#include <fmt/format.h>

#include "api/common/agent_fields.hpp"
#include "api/common/fields.hpp"
#include "api/common/listing.hpp"
#include "api/resources.hpp"

namespace airlock::control {
namespace {

constexpr std::size_t kNameMax = 256;
constexpr std::size_t kTextMax = 100000;
constexpr std::size_t kToolsMax = 256;
constexpr std::size_t kMcpServersMax = 20;
constexpr std::size_t kSkillsMax = 64;

// The top-level agent fields over the shared validators (agent_fields.hpp); absent or null is empty.
json mcp_servers_of(const json& body) {
  const json* servers = optional_array(body, "mcp_servers", "", kMcpServersMax);
  return servers != nullptr ? take_mcp_servers(*servers, "mcp_servers") : json::array();
}

json tools_of(const json& body, const json& mcp_servers) {
  const json* given = optional_array(body, "tools", "", kToolsMax);
  json tools = given != nullptr ? take_tools(*given, "tools") : json::array();
  check_toolsets(tools, mcp_servers, "");
  return tools;
}

json skills_of(const json& body) {
  const json* skills = optional_array(body, "skills", "", kSkillsMax);
  return skills != nullptr ? take_skills(*skills, "skills") : json::array();
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
  json mcp_servers = mcp_servers_of(body);
  json doc = {{"name", name},
              {"description", nullptr},
              {"system", nullptr},
              {"model", take_model(body.at("model"), "model")},
              {"tools", tools_of(body, mcp_servers)},
              {"mcp_servers", mcp_servers},
              {"skills", skills_of(body)},
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
  if (has(body, "model")) doc["model"] = take_model(body["model"], "model");
  for (const char* key : {"description", "system"}) {
    if (!has(body, key)) continue;
    auto text = optional_string(body, key, "", 0, kTextMax);
    doc[key] = text && !text->empty() ? json(*text) : json(nullptr);  // null or "" clears
  }
  if (has(body, "mcp_servers")) doc["mcp_servers"] = mcp_servers_of(body);
  if (has(body, "tools") || has(body, "mcp_servers")) {
    json tools_body = has(body, "tools") ? body : json{{"tools", doc["tools"]}};
    doc["tools"] = tools_of(tools_body, doc["mcp_servers"]);
  }
  if (has(body, "skills")) doc["skills"] = skills_of(body);
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
