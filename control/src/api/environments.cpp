// Environments (API.md §4): where sessions run, and the network policy their traffic gets.
// Typed refusals carry error.details.error_code (environment_not_found, environment_archived,
// invalid_config_type_change, invalid_metadata), which the SDK turns into its own error classes.
#include <fmt/format.h>

#include "airlock/policies/host_pattern.hpp"
#include "api/common/fields.hpp"
#include "api/common/listing.hpp"
#include "api/resources.hpp"

namespace airlock::control {
namespace {

constexpr std::size_t kNameMax = 256;
constexpr std::size_t kDescriptionMax = 10000;
constexpr std::size_t kAllowedHostsMax = 256;
constexpr std::size_t kPackagesMax = 256;
constexpr const char* kPackageManagers[] = {"apt", "cargo", "gem", "go", "npm", "pip"};

json empty_packages() {
  json packages = {{"type", "packages"}};
  for (const char* manager : kPackageManagers) packages[manager] = json::array();
  return packages;
}

json default_config() {
  return {{"type", "cloud"}, {"networking", {{"type", "unrestricted"}}}, {"packages", empty_packages()}};
}

json take_allowed_hosts(const json& networking, std::string_view path) {
  const json* hosts = optional_array(networking, "allowed_hosts", path, kAllowedHostsMax);
  json out = json::array();
  if (hosts == nullptr) return out;
  std::string hosts_path = join_path(path, "allowed_hosts");
  for (std::size_t i = 0; i < hosts->size(); ++i) {
    const json& entry = (*hosts)[i];
    std::string entry_path = index_path(hosts_path, i);
    if (!entry.is_string()) bad_request(fmt::format("{}: expected a string, got {}", entry_path, json_type_name(entry)));
    if (auto problem = policies::validate_host_pattern(entry.get_ref<const std::string&>())) {
      bad_request(fmt::format("{}: {}", entry_path, *problem));
    }
    out.push_back(policies::normalize_host_pattern(entry.get_ref<const std::string&>()));
  }
  return out;
}

// Networking params over `current` (the stored value, or null on create); omitted fields keep.
json take_networking(const json& config, const json& current) {
  const json* networking = optional_object(config, "networking", "config");
  if (networking == nullptr) return current.is_object() ? current : json{{"type", "unrestricted"}};
  std::string type = required_string(*networking, "type", "config.networking", 1, 32);
  if (type == "unrestricted") {
    reject_unknown_fields(*networking, {"type"}, "config.networking");
    return {{"type", type}};
  }
  if (type != "limited") bad_request(fmt::format("config.networking.type: must be unrestricted or limited, got \"{}\"", type));
  reject_unknown_fields(*networking, {"type", "allowed_hosts", "allow_mcp_servers", "allow_package_managers"}, "config.networking");
  bool was_limited = current.is_object() && current.value("type", "") == "limited";
  json out = {{"type", "limited"},
              {"allowed_hosts", was_limited ? current["allowed_hosts"] : json::array()},
              {"allow_mcp_servers", was_limited ? current.value("allow_mcp_servers", false) : false},
              {"allow_package_managers", was_limited ? current.value("allow_package_managers", false) : false}};
  if (has(*networking, "allowed_hosts") && !is_null(*networking, "allowed_hosts")) {
    out["allowed_hosts"] = take_allowed_hosts(*networking, "config.networking");
  }
  for (const char* key : {"allow_mcp_servers", "allow_package_managers"}) {
    if (auto value = optional_bool(*networking, key, "config.networking")) out[key] = *value;
  }
  return out;
}

json take_packages(const json& config, const json& current) {
  const json* packages = optional_object(config, "packages", "config");
  json out = current.is_object() ? current : empty_packages();
  if (packages == nullptr) return out;
  reject_unknown_fields(*packages, {"type", "apt", "cargo", "gem", "go", "npm", "pip"}, "config.packages");
  if (auto type = optional_string(*packages, "type", "config.packages", 1, 16); type && *type != "packages") {
    bad_request("config.packages.type: must be \"packages\"");
  }
  for (const char* manager : kPackageManagers) {
    if (!has(*packages, manager)) continue;
    const json* list = optional_array(*packages, manager, "config.packages", kPackagesMax);
    json names = json::array();
    if (list != nullptr) {
      for (std::size_t i = 0; i < list->size(); ++i) {
        std::string path = index_path(join_path("config.packages", manager), i);
        const json& name = (*list)[i];
        if (!name.is_string() || name.get_ref<const std::string&>().empty()) bad_request(fmt::format("{}: expected a package name", path));
        names.push_back(name);
      }
    }
    out[manager] = std::move(names);
  }
  return out;
}

bool has_packages(const json& packages) {
  for (const char* manager : kPackageManagers) {
    if (!packages.value(manager, json::array()).empty()) return true;
  }
  return false;
}

// The config for create (current null) or update (current the stored config).
json take_config(const json& body, const json& current) {
  const json* config = optional_object(body, "config", "");
  if (config == nullptr) return current.is_object() ? current : default_config();
  std::string type = required_string(*config, "type", "config", 1, 32);
  if (current.is_object() && current.value("type", "") != type) {
    bad_request(fmt::format("config.type: an environment's config type cannot change (it is \"{}\")", current.value("type", "")),
                "invalid_config_type_change");
  }
  if (type == "self_hosted") {
    reject_unknown_fields(*config, {"type"}, "config");
    return {{"type", type}};
  }
  if (type != "cloud") bad_request(fmt::format("config.type: must be cloud or self_hosted, got \"{}\"", type));
  reject_unknown_fields(*config, {"type", "networking", "packages"}, "config");
  json networking = take_networking(*config, current.is_object() ? current["networking"] : json(nullptr));
  json packages = take_packages(*config, current.is_object() ? current["packages"] : json(nullptr));
  if (networking["type"] == "limited" && has_packages(packages) && !networking.value("allow_package_managers", false)) {
    bad_request("config.packages: limited networking installs packages only with config.networking.allow_package_managers: true");
  }
  return {{"type", "cloud"}, {"networking", std::move(networking)}, {"packages", std::move(packages)}};
}

void check_scope(const json& body) {
  if (auto scope = optional_string(body, "scope", "", 1, 32)) {
    if (*scope == "account") bad_request("scope: \"account\" is not supported; use \"organization\"");
    if (*scope != "organization") bad_request(fmt::format("scope: must be \"organization\", got \"{}\"", *scope));
  }
}

json environment_json(const store::Document& environment) {
  json doc = parse_doc(environment.doc);
  json out = {{"id", environment.id},
              {"type", "environment"},
              {"name", doc.value("name", "")},
              {"description", doc.value("description", json(nullptr))},
              {"config", doc.value("config", default_config())},
              {"metadata", doc.value("metadata", json::object())},
              {"scope", "organization"}};
  out.update(timestamps_json(environment.created_at, environment.updated_at, environment.archived_at));
  return out;
}

store::Document find(store::Store& store, const std::string& id) {
  auto environment = store.get_environment(id);
  if (!environment && environment.error() == store::Errc::not_found) {
    not_found(fmt::format("environment {} was not found", id), "environment_not_found");
  }
  return take(std::move(environment), "environment", id);
}

Reply create(store::Store& store, ApiRequest& request) {
  json body = parse_body(request);
  reject_unknown_fields(body, {"name", "config", "description", "metadata", "scope"}, "");
  check_scope(body);
  json doc = {{"name", required_string(body, "name", "", 1, kNameMax)},
              {"description", nullptr},
              {"config", take_config(body, nullptr)},
              {"metadata", metadata_for_create(body, "", "invalid_metadata")}};
  if (auto description = optional_string(body, "description", "", 0, kDescriptionMax)) doc["description"] = *description;
  return {200, environment_json(take(store.create_environment(doc.dump()), "environment", "")), {}};
}

Reply update(store::Store& store, ApiRequest& request) {
  const std::string& id = request.param("environment_id");
  json body = parse_body(request);
  reject_unknown_fields(body, {"name", "config", "description", "metadata", "scope"}, "");
  store::Document environment = find(store, id);
  if (environment.archived_at) {
    bad_request(fmt::format("environment {} is archived; archived environments cannot change", id), "environment_archived");
  }
  check_scope(body);
  json doc = parse_doc(environment.doc);
  if (auto name = optional_string(body, "name", "", 1, kNameMax)) doc["name"] = *name;
  if (has(body, "description")) {
    auto description = optional_string(body, "description", "", 0, kDescriptionMax);
    doc["description"] = description ? json(*description) : json(nullptr);  // "" is kept as ""
  }
  doc["config"] = take_config(body, doc.value("config", default_config()));
  doc["metadata"] = metadata_patch(doc.value("metadata", json::object()), body, "", /*empty_deletes=*/true, "invalid_metadata");
  return {200, environment_json(take(store.update_environment(id, doc.dump()), "environment", id)), {}};
}

}  // namespace

void add_environment_routes(Router& router, store::Store& store) {
  router.add("POST", "/v1/environments", [&store](ApiRequest& r) { return create(store, r); });
  router.add("GET", "/v1/environments", [&store](ApiRequest& r) {
    return Reply{200, page_json(take(store.list_environments(list_query(r)), "environments", ""), environment_json), {}};
  });
  router.add("GET", "/v1/environments/{environment_id}", [&store](ApiRequest& r) {
    return Reply{200, environment_json(find(store, r.param("environment_id"))), {}};
  });
  router.add("POST", "/v1/environments/{environment_id}", [&store](ApiRequest& r) { return update(store, r); });
  router.add("POST", "/v1/environments/{environment_id}/archive", [&store](ApiRequest& r) {
    const std::string& id = r.param("environment_id");
    find(store, id);
    return Reply{200, environment_json(take(store.archive_environment(id), "environment", id)), {}};
  });
  router.add("DELETE", "/v1/environments/{environment_id}", [&store](ApiRequest& r) {
    const std::string& id = r.param("environment_id");
    find(store, id);
    take(store.delete_environment(id), "environment", id);
    return deleted_reply(id, "environment_deleted");
  });
}

}  // namespace airlock::control
