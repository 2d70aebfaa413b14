// Sessions (API.md §6, API.md S1-S6): create (through create_session, shared with the deployment runner),
// retrieve, update, list (BidirectionalPageCursor), archive and delete. The events, egress and
// sandbox_env routes live in session_events.cpp and sandbox_env.cpp and are registered from here.
//
// A session's doc holds {agent: the agent snapshot, resources, metadata, title, budget, and the fields a
// runtime fills in later (outcome_evaluations, stats, usage)}; the store's columns hold the rest.
#include <algorithm>
#include <charconv>
#include <map>
#include <set>

#include <fmt/format.h>
#include <sodium.h>

#include "api/common/agent_fields.hpp"
#include "api/common/fields.hpp"
#include "api/common/listing.hpp"
#include "api/resources.hpp"
#include "sessions/session_factory.hpp"
#include "runtime/session_runtime.hpp"

namespace airlock::control {
namespace {

constexpr std::size_t kIdMax = 256;
constexpr std::size_t kNameMax = 256;
constexpr std::size_t kTextMax = 100000;
constexpr std::size_t kTitleMax = 1000;
constexpr std::size_t kVaultsMax = 50;
constexpr std::size_t kResourcesMax = 500;
constexpr std::size_t kInitialEventsMax = 50;
constexpr std::size_t kMountPathMax = 1024;
constexpr std::size_t kUrlMax = 2048;
constexpr std::size_t kInstructionsMax = 4096;
constexpr const char* kStatuses[] = {"idle", "running", "rescheduling", "terminated"};

[[noreturn]] void refuse(ApiError error, std::string_view run_error_type) {
  throw SessionCreationError(std::move(error), run_error_type);
}

ApiError bad_request_error(std::string_view message, std::string error_code = {}) {
  return ApiError(400, "invalid_request_error", message, std::move(error_code));
}

ApiError not_found_error(std::string_view message, std::string error_code = {}) {
  return ApiError(404, "not_found_error", message, std::move(error_code));
}

// --- resources ---

std::string repository_name(std::string_view url) {
  std::string_view rest = url;
  while (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  rest = rest.substr(rest.rfind('/') + 1);
  if (rest.ends_with(".git")) rest.remove_suffix(4);
  return std::string(rest);
}

std::optional<std::string> take_mount_path(const json& resource, const std::string& path) {
  auto mount = optional_string(resource, "mount_path", path, 1, kMountPathMax);
  if (mount && (mount->front() != '/' || mount->find("/../") != std::string::npos || mount->ends_with("/.."))) {
    bad_request(fmt::format("{}.mount_path: must be an absolute path without \"..\", e.g. /workspace/repo", path));
  }
  return mount;
}

json take_resource(const json& resource, const std::string& path) {
  if (!resource.is_object()) bad_request(fmt::format("{}: expected an object, got {}", path, json_type_name(resource)));
  std::string type = required_string(resource, "type", path, 1, 32);
  if (type == "github_repository") {
    reject_unknown_fields(resource, {"type", "url", "authorization_token", "checkout", "mount_path"}, path);
    if (has(resource, "authorization_token") && !is_null(resource, "authorization_token")) {
      bad_request(fmt::format("{}.authorization_token: not supported; keep the token in a vault as an environment_variable "
                              "credential limited to the git host, and the proxy supplies it",
                              path));
    }
    std::string url = required_string(resource, "url", path, 1, kUrlMax);
    if (!url.starts_with("https://") || url.size() <= 8 || url.find_first_of(" \t\r\n\"<>\\^`{|}") != std::string::npos ||
        repository_name(url).empty()) {
      bad_request(fmt::format("{}.url: must be an https:// repository URL, e.g. https://github.com/org/repo", path));
    }
    json checkout = nullptr;
    if (const json* given = optional_object(resource, "checkout", path)) {
      std::string checkout_path = join_path(path, "checkout");
      std::string kind = required_string(*given, "type", checkout_path, 1, 16);
      if (kind == "branch") {
        reject_unknown_fields(*given, {"type", "name"}, checkout_path);
        checkout = {{"type", "branch"}, {"name", required_string(*given, "name", checkout_path, 1, kNameMax)}};
      } else if (kind == "commit") {
        reject_unknown_fields(*given, {"type", "sha"}, checkout_path);
        checkout = {{"type", "commit"}, {"sha", required_string(*given, "sha", checkout_path, 1, 64)}};
      } else {
        bad_request(fmt::format("{}.type: must be branch or commit, got \"{}\"", checkout_path, kind));
      }
    }
    auto mount = take_mount_path(resource, path);
    return {{"type", type},
            {"url", url},
            {"checkout", checkout},
            {"mount_path", mount ? *mount : "/workspace/" + repository_name(url)}};
  }
  if (type == "file") {
    reject_unknown_fields(resource, {"type", "file_id", "mount_path"}, path);
    std::string file_id = required_string(resource, "file_id", path, 1, kIdMax);
    auto mount = take_mount_path(resource, path);
    return {{"type", type}, {"file_id", file_id}, {"mount_path", mount ? *mount : "/mnt/session/uploads/" + file_id}};
  }
  if (type == "memory_store") {
    reject_unknown_fields(resource, {"type", "memory_store_id", "access", "instructions"}, path);
    std::string id = required_string(resource, "memory_store_id", path, 1, kIdMax);
    auto access = optional_string(resource, "access", path, 1, 16);
    if (access && *access != "read_write" && *access != "read_only") {
      bad_request(fmt::format("{}.access: must be read_write or read_only, got \"{}\"", path, *access));
    }
    auto instructions = optional_string(resource, "instructions", path, 0, kInstructionsMax);
    return {{"type", type},
            {"memory_store_id", id},
            {"access", access ? *access : "read_write"},
            {"instructions", instructions ? json(*instructions) : json(nullptr)}};
  }
  bad_request(fmt::format("{}.type: must be one of github_repository, file, memory_store; got \"{}\"", path, type));
}

// --- the session object ---

// SessionAgent: the agent's fields without archived_at, metadata, created_at and updated_at.
json agent_snapshot(const store::Agent& agent) {
  json doc = parse_doc(agent.doc);
  return {{"id", agent.id},
          {"type", "agent"},
          {"version", agent.version},
          {"name", doc.value("name", "")},
          {"description", doc.value("description", json(nullptr))},
          {"system", doc.value("system", json(nullptr))},
          {"model", doc.value("model", json::object())},
          {"tools", doc.value("tools", json::array())},
          {"mcp_servers", doc.value("mcp_servers", json::array())},
          {"skills", doc.value("skills", json::array())},
          {"multiagent", doc.value("multiagent", json(nullptr))},
          {"execution_identity", doc.value("execution_identity", json{{"type", "service_account"}})}};
}

json session_json(const store::Session& session) {
  json doc = parse_doc(session.doc);
  json resources = doc.value("resources", json::array());
  for (json& resource : resources) {
    // A resource is as old as its session (resources are not added later yet).
    if (resource.value("type", "") == "memory_store") continue;
    resource["created_at"] = session.created_at;
    resource["updated_at"] = session.created_at;
  }
  json out = {{"id", session.id},
              {"type", "session"},
              {"status", session.status},
              {"agent", doc.value("agent", json::object())},
              {"environment_id", session.environment_id},
              {"vault_ids", session.vault_ids},
              {"resources", std::move(resources)},
              {"metadata", doc.value("metadata", json::object())},
              {"title", doc.value("title", json(nullptr))},
              {"budget", doc.value("budget", json(nullptr))},
              {"outcome_evaluations", doc.value("outcome_evaluations", json::array())},
              {"stats", doc.value("stats", json::object())},
              {"usage", doc.value("usage", json::object())},
              {"deployment_id", session.deployment_id ? json(*session.deployment_id) : json(nullptr)}};
  out.update(timestamps_json(session.created_at, session.updated_at, session.archived_at));
  return out;
}

store::Session find_session(store::Store& store, const std::string& id) {
  return take(store.get_session(id), "session", id);
}

// --- create ---

store::Agent resolve_agent(store::Store& store, const json& reference, const json& given) {
  const std::string id = reference["id"].get<std::string>();
  const std::string path = given.is_string() ? "agent" : "agent.id";
  std::optional<int> version;
  if (reference.contains("version")) version = reference["version"].get<int>();
  auto agent = store.get_agent(id, version);
  if (!agent && agent.error() == store::Errc::not_found) {
    if (version && store.get_agent(id)) {
      refuse(not_found_error(fmt::format("agent.version: agent {} has no version {}", id, *version)), kRunErrorRejected);
    }
    refuse(not_found_error(fmt::format("{}: agent {} was not found", path, id)), kRunErrorRejected);
  }
  store::Agent found = take(std::move(agent), "agent", id);
  if (found.archived_at) {
    refuse(bad_request_error(fmt::format("{}: agent {} is archived; sessions need an active agent", path, id)),
           kRunErrorAgentArchived);
  }
  return found;
}

// The environment as its API JSON (id, config, metadata), checked to exist and be active.
json check_environment(store::Store& store, const std::string& id) {
  auto environment = store.get_environment(id);
  if (!environment && environment.error() == store::Errc::not_found) {
    refuse(not_found_error(fmt::format("environment_id: environment {} was not found", id), "environment_not_found"),
           kRunErrorEnvironmentNotFound);
  }
  store::Document found = take(std::move(environment), "environment", id);
  if (found.archived_at) {
    refuse(bad_request_error(fmt::format("environment_id: environment {} is archived; sessions need an active environment", id),
                             "environment_archived"),
           kRunErrorEnvironmentArchived);
  }
  json doc = parse_doc(found.doc);
  doc["id"] = id;
  return doc;
}

void check_vaults(store::Store& store, const std::vector<std::string>& vault_ids) {
  for (std::size_t i = 0; i < vault_ids.size(); ++i) {
    const std::string path = index_path("vault_ids", i);
    auto vault = store.get_vault(vault_ids[i]);
    if (!vault && vault.error() == store::Errc::not_found) {
      refuse(not_found_error(fmt::format("{}: vault {} was not found", path, vault_ids[i])), kRunErrorVaultNotFound);
    }
    if (take(std::move(vault), "vault", vault_ids[i]).archived_at) {
      refuse(bad_request_error(fmt::format("{}: vault {} is archived; sessions can only use active vaults", path, vault_ids[i])),
             kRunErrorVaultArchived);
    }
  }
}

// Airlock stores no files and no memory stores, so a resource that names one names nothing.
void check_resources(const json& resources) {
  for (std::size_t i = 0; i < resources.size(); ++i) {
    const json& resource = resources[i];
    const std::string path = index_path("resources", i);
    if (resource["type"] == "file") {
      refuse(not_found_error(fmt::format("{}.file_id: file {} was not found; this Airlock stores no files", path,
                                         resource["file_id"].get<std::string>())),
             kRunErrorFileNotFound);
    }
    if (resource["type"] == "memory_store") {
      refuse(not_found_error(fmt::format("{}.memory_store_id: memory store {} was not found; this Airlock has no memory stores",
                                         path, resource["memory_store_id"].get<std::string>())),
             kRunErrorResourceNotFound);
    }
  }
}

json apply_overrides(json snapshot, const json& reference) {
  if (reference.value("type", "") != "agent_with_overrides") return snapshot;
  for (const char* key : {"model", "system", "tools", "mcp_servers", "skills"}) {
    if (reference.contains(key)) snapshot[key] = reference[key];
  }
  check_toolsets(snapshot["tools"], snapshot["mcp_servers"], "agent");
  return snapshot;
}

// --- list cursors ---
// A session list cursor names a row and a direction: "n" continues after it, "p" returns the page before
// it, both in the order the query asks for. base64url("n|p" "\n" created_at "\n" id).

std::string encode_list_cursor(char direction, const store::Session& row) {
  std::string bytes = fmt::format("{}\n{}\n{}", direction, row.created_at, row.id);
  std::string out(sodium_base64_ENCODED_LEN(bytes.size(), sodium_base64_VARIANT_URLSAFE_NO_PADDING), '\0');
  sodium_bin2base64(out.data(), out.size(), reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(),
                    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  out.resize(out.find('\0'));
  return out;
}

struct ListCursor {
  bool previous = false;
  store::Cursor at;
};

std::optional<ListCursor> decode_list_cursor(std::string_view text) {
  std::string bytes(text.size(), '\0');
  std::size_t length = 0;
  if (sodium_base642bin(reinterpret_cast<unsigned char*>(bytes.data()), bytes.size(), text.data(), text.size(), nullptr,
                        &length, nullptr, sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0) {
    return std::nullopt;
  }
  bytes.resize(length);
  if (bytes.size() < 2 || (bytes[0] != 'n' && bytes[0] != 'p') || bytes[1] != '\n') return std::nullopt;
  std::size_t split = bytes.find('\n', 2);
  if (split == std::string::npos) return std::nullopt;
  return ListCursor{bytes[0] == 'p', store::Cursor{bytes.substr(2, split - 2), bytes.substr(split + 1)}};
}

Reply list(store::Store& store, ApiRequest& request) {
  // list_query reads limit, include_archived and the created_at bounds; the page cursor is this file's.
  std::optional<std::string> page = request.query_value("page");
  ApiRequest without_page = request;
  without_page.query.erase("page");
  store::ListQuery base = list_query(without_page);
  store::SessionQuery query;
  static_cast<store::ListQuery&>(query) = base;

  query.agent_id = request.query_value("agent_id");
  if (auto text = request.query_value("agent_version")) {
    if (!query.agent_id) bad_request("agent_version: applies only together with agent_id");
    int version = 0;
    auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), version);
    if (ec != std::errc{} || end != text->data() + text->size() || version < 1) {
      bad_request(fmt::format("agent_version: expected an integer >= 1, got \"{}\"", *text));
    }
    query.agent_version = version;
  }
  query.deployment_id = request.query_value("deployment_id");
  std::size_t index = 0;
  for (const std::string& value : request.query_values("statuses")) {
    // Accept repeated keys and comma-separated values alike; skip empty ones (`statuses[]=`).
    std::string_view rest = value;
    while (!rest.empty()) {
      std::string_view status = rest.substr(0, rest.find(','));
      rest = status.size() < rest.size() ? rest.substr(status.size() + 1) : std::string_view{};
      if (status.empty()) continue;
      if (std::find(std::begin(kStatuses), std::end(kStatuses), status) == std::end(kStatuses)) {
        bad_request(fmt::format("statuses[{}]: must be one of idle, running, rescheduling, terminated; got \"{}\"", index, status));
      }
      query.statuses.emplace_back(status);
      ++index;
    }
  }
  std::string order = request.query_value("order").value_or("desc");
  if (order != "asc" && order != "desc") bad_request(fmt::format("order: must be asc or desc, got \"{}\"", order));
  const bool ascending = order == "asc";
  // Sessions never hold memory stores here, so filtering by one leaves nothing.
  const bool no_match = request.query_value("memory_store_id").has_value();

  std::optional<ListCursor> cursor;
  if (page) {
    cursor = decode_list_cursor(*page);
    if (!cursor) bad_request("page: not a cursor this server issued; pass next_page or prev_page from a previous list response");
  }
  json data = json::array();
  json next = nullptr;
  json previous = nullptr;
  if (!no_match) {
    // A "p" cursor reads backwards from its row (the opposite order) and turns the rows around.
    query.ascending = cursor && cursor->previous ? !ascending : ascending;
    if (cursor) query.after = cursor->at;
    store::Page<store::Session> rows = take(store.list_sessions(query), "sessions", "");
    if (cursor && cursor->previous) {
      std::reverse(rows.items.begin(), rows.items.end());
      if (rows.next && !rows.items.empty()) previous = encode_list_cursor('p', rows.items.front());
      if (!rows.items.empty()) next = encode_list_cursor('n', rows.items.back());
    } else {
      if (rows.next) next = encode_list_cursor('n', rows.items.back());
      if (cursor && !rows.items.empty()) previous = encode_list_cursor('p', rows.items.front());
    }
    for (const store::Session& session : rows.items) data.push_back(session_json(session));
  }
  return Reply{200, {{"data", std::move(data)}, {"next_page", std::move(next)}, {"prev_page", std::move(previous)}}, {}};
}

Reply create(store::Store& store, SessionRuntime& runtime, ApiRequest& request) {
  json body = parse_body(request);
  reject_unknown_fields(body, {"agent", "environment_id", "vault_ids", "resources", "initial_events", "metadata", "title", "budget"}, "");
  SessionRequest session;
  if (!has(body, "agent") || is_null(body, "agent")) bad_request("agent: required field is missing");
  session.agent = body["agent"];
  session.environment_id = required_string(body, "environment_id", "", 1, kIdMax);
  if (const json* vaults = optional_array(body, "vault_ids", "", kVaultsMax)) {
    for (std::size_t i = 0; i < vaults->size(); ++i) {
      const json& id = (*vaults)[i];
      if (!id.is_string()) bad_request(fmt::format("{}: expected a vault id, got {}", index_path("vault_ids", i), json_type_name(id)));
      if (id.get_ref<const std::string&>().empty()) bad_request(fmt::format("{}: must not be empty", index_path("vault_ids", i)));
      session.vault_ids.push_back(id.get<std::string>());
    }
  }
  if (const json* resources = optional_array(body, "resources", "", kResourcesMax)) session.resources = *resources;
  if (const json* events = optional_array(body, "initial_events", "", kInitialEventsMax)) {
    // Clients may start a session with user messages and outcomes; system messages come from deployments.
    session.initial_events = validate_events(*events, "initial_events", kInitialEventTypes, 0, kInitialEventsMax);
  }
  session.metadata = metadata_for_create(body, "");
  session.title = optional_string(body, "title", "", 0, kTitleMax);
  if (has(body, "budget")) session.budget = body["budget"];
  return Reply{200, create_session(store, session, runtime), {}};
}

Reply update(store::Store& store, ApiRequest& request) {
  const std::string& id = request.param("session_id");
  json body = parse_body(request);
  reject_unknown_fields(body, {"title", "metadata", "budget", "agent", "vault_ids"}, "");
  store::Session session = find_session(store, id);
  if (has(body, "vault_ids")) {
    bad_request("vault_ids: changing a session's vaults is not supported; create a new session with the vaults it needs");
  }
  if (session.archived_at) bad_request(fmt::format("session {} is archived; archived sessions cannot change", id));
  json doc = parse_doc(session.doc);
  if (has(body, "title")) {
    auto title = optional_string(body, "title", "", 0, kTitleMax);
    doc["title"] = title ? json(*title) : json(nullptr);
  }
  doc["metadata"] = metadata_patch(doc.value("metadata", json::object()), body, "");
  if (has(body, "budget")) {
    if (is_null(body, "budget")) {
      doc["budget"] = nullptr;
    } else {
      if (doc.value("budget", json(nullptr)).is_null()) {
        bad_request("budget: this session was created without a budget, and one cannot be added later");
      }
      doc["budget"] = validate_budget(body["budget"], "budget");
    }
  }
  if (const json* agent = optional_object(body, "agent", "")) {
    reject_unknown_fields(*agent, {"tools", "mcp_servers"}, "agent");
    if (session.status == "running") bad_request("agent: cannot change while the session is running; wait until it is idle");
    json snapshot = doc.value("agent", json::object());
    if (has(*agent, "mcp_servers")) {
      snapshot["mcp_servers"] = is_null(*agent, "mcp_servers") ? json::array() : take_mcp_servers((*agent)["mcp_servers"], "agent.mcp_servers");
    }
    if (has(*agent, "tools")) {
      snapshot["tools"] = is_null(*agent, "tools") ? json::array() : take_tools((*agent)["tools"], "agent.tools");
    }
    check_toolsets(snapshot.value("tools", json::array()), snapshot.value("mcp_servers", json::array()), "agent");
    doc["agent"] = std::move(snapshot);
  }
  return {200, session_json(take(store.update_session(id, doc.dump()), "session", id)), {}};
}

}  // namespace

// --- validators shared with deployments ---

json validate_agent_reference(const json& agent, std::string_view path, bool allow_overrides) {
  const std::string field(path);
  if (agent.is_string()) {
    const auto& id = agent.get_ref<const std::string&>();
    if (id.empty() || utf8_length(id) > kIdMax) bad_request(fmt::format("{}: expected an agent id", field));
    return {{"id", id}, {"type", "agent"}};
  }
  if (!agent.is_object()) {
    bad_request(fmt::format("{}: expected an agent id or an object with id and type, got {}", field, json_type_name(agent)));
  }
  std::string type = required_string(agent, "type", field, 1, 32);
  if (type == "agent") {
    reject_unknown_fields(agent, {"id", "type", "version"}, field);
  } else if (type == "agent_with_overrides" && allow_overrides) {
    reject_unknown_fields(agent, {"id", "type", "version", "model", "system", "tools", "mcp_servers", "skills"}, field);
  } else {
    bad_request(fmt::format("{}.type: must be {}; got \"{}\"", field,
                            allow_overrides ? "agent or agent_with_overrides" : "agent", type));
  }
  json out = {{"id", required_string(agent, "id", field, 1, kIdMax)}, {"type", type}};
  if (has(agent, "version") && !is_null(agent, "version")) {
    const json& version = agent["version"];
    if (!version.is_number_integer() || version.get<long long>() < 1 || version.get<long long>() > 1000000000) {
      bad_request(fmt::format("{}.version: expected an integer >= 1", field));
    }
    out["version"] = version.get<int>();
  }
  if (type == "agent_with_overrides") {
    if (has(agent, "model")) {
      if (is_null(agent, "model")) bad_request(fmt::format("{}.model: cannot be null", field));
      out["model"] = take_model(agent["model"], join_path(field, "model"));
    }
    if (has(agent, "system")) {
      auto system = optional_string(agent, "system", field, 0, kTextMax);
      out["system"] = system && !system->empty() ? json(*system) : json(nullptr);
    }
    if (has(agent, "tools")) {
      out["tools"] = is_null(agent, "tools") ? json::array() : take_tools(agent["tools"], join_path(field, "tools"));
    }
    if (has(agent, "mcp_servers")) {
      out["mcp_servers"] = is_null(agent, "mcp_servers") ? json::array()
                                                        : take_mcp_servers(agent["mcp_servers"], join_path(field, "mcp_servers"));
    }
    if (has(agent, "skills")) {
      out["skills"] = is_null(agent, "skills") ? json::array() : take_skills(agent["skills"], join_path(field, "skills"));
    }
  }
  return out;
}

json validate_resources(const json& resources, std::string_view path) {
  const std::string field(path);
  if (resources.is_null()) return json::array();
  if (!resources.is_array()) bad_request(fmt::format("{}: expected an array, got {}", field, json_type_name(resources)));
  if (resources.size() > kResourcesMax) {
    bad_request(fmt::format("{}: at most {} entries are allowed (got {})", field, kResourcesMax, resources.size()));
  }
  json out = json::array();
  std::set<std::string> mounts;
  for (std::size_t i = 0; i < resources.size(); ++i) {
    const std::string item = index_path(field, i);
    json resource = take_resource(resources[i], item);
    if (resource.contains("mount_path") && !mounts.insert(resource["mount_path"].get<std::string>()).second) {
      bad_request(fmt::format("{}.mount_path: \"{}\" is used by another resource", item, resource["mount_path"].get<std::string>()));
    }
    out.push_back(std::move(resource));
  }
  return out;
}

json validate_budget(const json& budget, std::string_view path) {
  const std::string field(path);
  if (!budget.is_object()) bad_request(fmt::format("{}: expected an object {{type: \"limit\", max_list_cost}}, got {}", field, json_type_name(budget)));
  reject_unknown_fields(budget, {"type", "max_list_cost"}, field);
  if (required_string(budget, "type", field, 1, 16) != "limit") bad_request(fmt::format("{}.type: must be \"limit\"", field));
  const std::string cost_path = join_path(field, "max_list_cost");
  const json& cost = required_object(budget, "max_list_cost", field);
  reject_unknown_fields(cost, {"amount", "currency"}, cost_path);
  std::string amount = required_string(cost, "amount", cost_path, 1, 18);
  bool digits = std::all_of(amount.begin(), amount.end(), [](char c) { return c >= '0' && c <= '9'; });
  if (!digits || (amount.size() > 1 && amount.front() == '0')) {
    bad_request(fmt::format("{}.amount: must be an integer in minor units without leading zeros, e.g. \"2500\" for $25.00", cost_path));
  }
  if (required_string(cost, "currency", cost_path, 1, 8) != "USD") bad_request(fmt::format("{}.currency: must be \"USD\"", cost_path));
  return {{"type", "limit"}, {"max_list_cost", {{"amount", amount}, {"currency", "USD"}}}};
}

// --- create_session ---

json create_session(store::Store& store, const SessionRequest& request, SessionRuntime& runtime) {
  // Shapes first, then what they name: a malformed request is refused the same way whatever exists.
  json reference = validate_agent_reference(request.agent, "agent", /*allow_overrides=*/true);
  if (request.environment_id.empty()) bad_request("environment_id: required field is missing");
  if (request.vault_ids.size() > kVaultsMax) {
    bad_request(fmt::format("vault_ids: at most {} entries are allowed (got {})", kVaultsMax, request.vault_ids.size()));
  }
  for (std::size_t i = 0; i < request.vault_ids.size(); ++i) {
    for (std::size_t j = 0; j < i; ++j) {
      if (request.vault_ids[i] == request.vault_ids[j]) {
        bad_request(fmt::format("{}: vault {} is already listed at vault_ids[{}]", index_path("vault_ids", i), request.vault_ids[i], j));
      }
    }
  }
  json resources = validate_resources(request.resources, "resources");
  json events = validate_events(request.initial_events, "initial_events", kDeploymentEventTypes, 0, kInitialEventsMax);
  json metadata = metadata_for_create(json{{"metadata", request.metadata}}, "");
  if (request.title && utf8_length(*request.title) > kTitleMax) {
    bad_request(fmt::format("title: must be at most {} characters", kTitleMax));
  }
  json budget = request.budget.is_null() ? json(nullptr) : validate_budget(request.budget, "budget");

  json environment = check_environment(store, request.environment_id);
  store::Agent agent = resolve_agent(store, reference, request.agent);
  check_vaults(store, request.vault_ids);
  check_resources(resources);
  // 409 on a secret_name two vaults define; 400 on a self_hosted environment.
  refuse_placeholders_outside_proxy(request.environment_id, environment, exposed_variables(store, request.vault_ids));
  Placement placement = runtime.place(environment);
  runtime.admit(placement);

  json doc = {{"agent", apply_overrides(agent_snapshot(agent), reference)},
              {"resources", std::move(resources)},
              {"metadata", std::move(metadata)},
              {"title", request.title ? json(*request.title) : json(nullptr)},
              {"budget", std::move(budget)},
              {"outcome_evaluations", json::array()},
              {"stats", json::object()},
              {"usage", json::object()},
              {"runtime", SessionRuntime::initial_doc(placement)}};
  for (json& resource : doc["resources"]) {
    if (resource["type"] != "memory_store") resource["id"] = store::random_id("sesrsc_");
  }

  store::NewSession row;
  row.agent_id = agent.id;
  row.agent_version = agent.version;
  row.environment_id = request.environment_id;
  row.deployment_id = request.deployment_id;
  row.vault_ids = request.vault_ids;
  row.doc = doc.dump();
  store::Store::Transaction transaction(store);  // the session and its initial events, or neither
  store::Session created = take(store.create_session(std::move(row)), "session", "");
  if (!events.empty()) (void)append_events(store, created.id, events);
  if (auto ec = transaction.commit()) throw std::system_error(ec);
  if (placement.kind == Placement::Kind::local) runtime.launch_after_commit(created.id);
  return session_json(created);
}

void refuse_placeholders_outside_proxy(std::string_view environment_id, const json& environment,
                                       const std::vector<ExposedVariable>& variables) {
  if (variables.empty() || !environment.contains("config") || environment["config"].value("type", "") != "self_hosted") return;
  std::string names;
  for (const ExposedVariable& variable : variables) {
    names += fmt::format("{}{} (vault {})", names.empty() ? "" : ", ", variable.secret_name, variable.vault_id);
  }
  refuse(bad_request_error(fmt::format(
             "environment_id: environment {} is self_hosted, so its sandboxes run outside Airlock's egress proxy and the "
             "placeholders of environment_variable credentials would never be swapped for their secrets: {}. Use a cloud "
             "environment (whose sandboxes reach the internet only through the proxy), or leave out the vaults that "
             "hold environment_variable credentials",
             environment_id, names),
             "self_hosted_placeholders"),
         kRunErrorRejected);
}

std::vector<ExposedVariable> exposed_variables(store::Store& store, const std::vector<std::string>& vault_ids) {
  std::vector<ExposedVariable> variables;
  std::map<std::string, std::size_t> by_name;
  for (const std::string& vault_id : vault_ids) {
    auto vault = store.get_vault(vault_id);
    if (!vault && vault.error() == store::Errc::not_found) continue;
    if (take(std::move(vault), "vault", vault_id).archived_at) continue;
    store::ListQuery query;
    query.limit = 1000;
    for (;;) {
      store::Page<store::Credential> page = take(store.list_credentials(vault_id, query), "vault", vault_id);
      for (const store::Credential& credential : page.items) {
        if (credential.auth_type != "environment_variable" || !credential.secret_name || !credential.placeholder) continue;
        auto [where, inserted] = by_name.emplace(*credential.secret_name, variables.size());
        if (!inserted) {
          ApiError clash(409, "conflict_error",
                         fmt::format("vault_ids: secret_name \"{}\" is defined in both vault {} and vault {}; a sandbox can "
                                     "hold only one value per variable. Archive one of the two credentials, or leave one "
                                     "of the vaults out",
                                     *credential.secret_name, variables[where->second].vault_id, vault_id));
          clash.headers.push_back({"x-should-retry", "false"});
          refuse(std::move(clash), kRunErrorRejected);
        }
        variables.push_back({*credential.secret_name, *credential.placeholder, vault_id, credential.id});
      }
      if (!page.next) break;
      query.after = page.next;
    }
  }
  return variables;
}

void add_session_routes(Router& router, store::Store& store, const SandboxEnvSettings& sandbox_env, SessionRuntime& runtime) {
  router.add("POST", "/v1/sessions", [&store, &runtime](ApiRequest& r) { return create(store, runtime, r); });
  router.add("GET", "/v1/sessions", [&store](ApiRequest& r) { return list(store, r); });
  router.add("GET", "/v1/sessions/{session_id}", [&store](ApiRequest& r) {
    return Reply{200, session_json(find_session(store, r.param("session_id"))), {}};
  });
  router.add("POST", "/v1/sessions/{session_id}", [&store](ApiRequest& r) { return update(store, r); });
  router.add("POST", "/v1/sessions/{session_id}/archive", [&store](ApiRequest& r) {
    const std::string& id = r.param("session_id");
    return Reply{200, session_json(take(store.archive_session(id), "session", id)), {}};
  });
  router.add("DELETE", "/v1/sessions/{session_id}", [&store, &runtime](ApiRequest& r) {
    const std::string& id = r.param("session_id");
    take(store.delete_session(id), "session", id);
    runtime.remove_files_after_commit(id);
    return deleted_reply(id, "session_deleted");
  });
  add_session_event_routes(router, store);
  add_egress_routes(router, store);
  add_sandbox_env_routes(router, store, sandbox_env);
  // Airlock's extension (docs/runtime.md): where the session runs and how its harness process went.
  router.add("GET", "/v1/sessions/{session_id}/runtime", [&store, &runtime](ApiRequest& r) {
    return Reply{200, runtime.describe(find_session(store, r.param("session_id"))), {}};
  });
}

}  // namespace airlock::control
