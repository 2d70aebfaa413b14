// Vault credentials (API.md §2, with Airlock's choices in §9): environment_variable, static_bearer and
// mcp_oauth. Write-only fields (secret_value, token, access_token, refresh_token, client_secret) go to the
// store as SecretValue and are sealed there; they never enter `doc`, a response, an error or a log line.
// The ones the proxy substitutes (secret_value, token) must also be strong enough (secret_strength.hpp).
#include <algorithm>
#include <chrono>
#include <regex>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "airlock/cron/cron.hpp"
#include "airlock/policies/host_pattern.hpp"
#include "api/common/fields.hpp"
#include "api/common/listing.hpp"
#include "daemon/log.hpp"
#include "api/resources.hpp"
#include "api/secret_strength.hpp"

namespace airlock::control {
namespace {

constexpr std::size_t kDisplayNameMax = 255;
constexpr std::size_t kSecretMax = 65536;
constexpr std::size_t kUrlMax = 2048;
constexpr std::size_t kAllowedHostsMax = 16;
constexpr std::size_t kTextFieldMax = 2048;

const std::regex& secret_name_pattern() {
  static const std::regex pattern("^[A-Za-z_][A-Za-z0-9_]{0,127}$");  // API.md §9
  return pattern;
}

// A write-only field. Secrets are substituted into headers, so CR, LF and NUL would let a value inject
// headers (S6); they are refused here, once, for every kind.
store::SecretValue take_secret(const json& object, std::string_view key, std::string_view path, bool required) {
  std::string field = join_path(path, key);
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) {
    if (required) bad_request(fmt::format("{}: required field is missing", field));
    return {};
  }
  if (!it->is_string()) bad_request(fmt::format("{}: expected a string, got {}", field, json_type_name(*it)));
  const auto& value = it->get_ref<const std::string&>();
  if (value.empty()) bad_request(fmt::format("{}: must not be empty", field));
  if (value.size() > kSecretMax) bad_request(fmt::format("{}: must be at most {} bytes", field, kSecretMax));
  if (value.find_first_of(std::string_view("\r\n\0", 3)) != std::string::npos) {
    bad_request(fmt::format("{}: must not contain CR, LF or NUL characters", field));
  }
  return store::SecretValue(value);
}

// The weak secret values one request stores under credentials.allow_weak_secrets, by JSON path, for the
// warning logged once the credential's id is known.
struct WeakSecrets {
  bool allowed = false;
  std::vector<std::string> paths;
};

// A write-only field the proxy substitutes into requests and redacts from responses (secret_value,
// token). Redaction turns an echoed value into its placeholder, so a sandbox could find a weak value by
// posting every candidate to an allowed host that echoes: such a value is refused, or noted when
// allowed. The message names the field and what is required, never the value or any part of it.
// mcp_oauth's tokens and client secret are stored only (the proxy does not use them in this version).
store::SecretValue take_substituted_secret(const json& object, std::string_view key, std::string_view path,
                                           bool required, WeakSecrets& weak) {
  store::SecretValue value = take_secret(object, key, path, required);
  if (value.empty() || strong_enough_secret(value.view())) return value;
  std::string field = join_path(path, key);
  if (!weak.allowed) {
    bad_request(fmt::format("{}: too weak: a secret value needs at least {} bytes and about {} bits of estimated "
                            "strength (its length times log2 of the number of distinct bytes in it), so that it "
                            "cannot be guessed through a host that echoes it; use the real API key or token, not a "
                            "short password or PIN",
                            field, kSecretMinBytes, kSecretMinEstimatedBits));
  }
  weak.paths.push_back(std::move(field));
  return value;
}

// Names the credential (id, and secret_name or mcp_server_url) and the fields, never a value.
void warn_weak_secrets(Logger& log, const store::Credential& credential, const WeakSecrets& weak) {
  if (weak.paths.empty()) return;
  std::string name = credential.secret_name ? fmt::format("secret_name={}", *credential.secret_name)
                                            : fmt::format("mcp_server_url={}", credential.mcp_server_url.value_or("-"));
  log.warn("credential {} {}: {} holds a weak secret value (under {} bytes or about {} bits of estimated strength), "
           "stored because credentials.allow_weak_secrets is true; a sandbox could guess it through an allowed host "
           "that echoes it",
           credential.id, name, fmt::join(weak.paths, ", "), kSecretMinBytes, kSecretMinEstimatedBits);
}

std::string take_url(const json& object, std::string_view key, std::string_view path) {
  std::string field = join_path(path, key);
  std::string url = required_string(object, key, path, 1, kUrlMax);
  bool scheme_ok = url.starts_with("https://") || url.starts_with("http://");
  std::size_t host_start = url.find("://") + 3;
  // Printable ASCII only (an IDN host in its xn-- form): a control byte, NUL included, or a raw non-ASCII
  // one would make a host the proxy could never match.
  const bool printable_ascii =
      std::all_of(url.begin(), url.end(), [](char c) { return c > 0x20 && c < 0x7f; });
  if (!scheme_ok || host_start >= url.size() || url[host_start] == '/' || !printable_ascii ||
      url.find_first_of("\"<>\\^`{|}") != std::string::npos) {
    bad_request(fmt::format("{}: must be an absolute http:// or https:// URL, e.g. https://mcp.example.com/mcp", field));
  }
  return url;
}

void reject_present(const json& object, std::string_view key, std::string_view path, std::string_view why) {
  if (has(object, key)) bad_request(fmt::format("{}: {}", join_path(path, key), why));
}

json take_networking(const json& auth, std::string_view path) {
  std::string field = join_path(path, "networking");
  const json& networking = required_object(auth, "networking", path);
  std::string type = required_string(networking, "type", field, 1, 64);
  if (type == "unrestricted") {
    reject_unknown_fields(networking, {"type"}, field);
    return {{"type", "unrestricted"}};
  }
  if (type != "limited") bad_request(fmt::format("{}.type: must be \"unrestricted\" or \"limited\", got \"{}\"", field, type));
  reject_unknown_fields(networking, {"type", "allowed_hosts"}, field);
  std::string hosts_path = join_path(field, "allowed_hosts");
  const json* hosts = optional_array(networking, "allowed_hosts", field, kAllowedHostsMax);
  if (hosts == nullptr || hosts->empty()) {
    bad_request(fmt::format("{}: list at least one host the secret may be sent to (limited networking)", hosts_path));
  }
  json normalized = json::array();
  for (std::size_t i = 0; i < hosts->size(); ++i) {
    std::string entry_path = index_path(hosts_path, i);
    const json& entry = (*hosts)[i];
    if (!entry.is_string()) bad_request(fmt::format("{}: expected a string, got {}", entry_path, json_type_name(entry)));
    const auto& host = entry.get_ref<const std::string&>();
    if (auto problem = policies::validate_host_pattern(host)) bad_request(fmt::format("{}: {}", entry_path, *problem));
    normalized.push_back(policies::normalize_host_pattern(host));
  }
  return {{"type", "limited"}, {"allowed_hosts", std::move(normalized)}};
}

// Create: omitted -> header and body on (the hosted API's behaviour); given -> a key left out is off.
// Update: keys patch the stored value. Either way header and body cannot both end up off (API.md §9).
json take_injection_location(const json& auth, std::string_view path, const json* current) {
  std::string field = join_path(path, "injection_location");
  const json* given = optional_object(auth, "injection_location", path);
  json location = current != nullptr ? *current : json{{"header", true}, {"body", true}, {"url", false}};
  if (given != nullptr) {
    reject_unknown_fields(*given, {"header", "body", "url"}, field);
    if (current == nullptr) location = {{"header", false}, {"body", false}, {"url", false}};
    for (const char* key : {"header", "body", "url"}) {
      if (auto value = optional_bool(*given, key, field)) location[key] = *value;
    }
  }
  if (!location.value("header", false) && !location.value("body", false)) {
    bad_request(fmt::format("{}: header and body cannot both be false; the placeholder would never be replaced", field));
  }
  return location;
}

std::string take_future_time(const json& object, std::string_view key, std::string_view path) {
  std::string field = join_path(path, key);
  std::string text = required_string(object, key, path, 1, 64);
  auto instant = cron::parse_rfc3339(text);
  if (!instant) bad_request(fmt::format("{}: \"{}\" is not an RFC 3339 timestamp", field, text));
  if (*instant <= std::chrono::system_clock::now()) bad_request(fmt::format("{}: must be in the future", field));
  return text;
}

json take_token_endpoint_auth(const json& refresh, std::string_view path, store::SecretFields& secrets,
                              bool required) {
  std::string field = join_path(path, "token_endpoint_auth");
  const json* auth = optional_object(refresh, "token_endpoint_auth", path);
  if (auth == nullptr) {
    if (required) bad_request(fmt::format("{}: required field is missing", field));
    return nullptr;
  }
  std::string type = required_string(*auth, "type", field, 1, 64);
  if (type == "none") {
    reject_unknown_fields(*auth, {"type"}, field);
  } else if (type == "client_secret_basic" || type == "client_secret_post") {
    reject_unknown_fields(*auth, {"type", "client_secret"}, field);
    if (auto secret = take_secret(*auth, "client_secret", field, required); !secret.empty()) {
      secrets.emplace_back("client_secret", std::move(secret));
    }
  } else {
    bad_request(fmt::format("{}.type: must be one of none, client_secret_basic, client_secret_post", field));
  }
  return {{"type", type}};
}

// auth for create: the response-shaped auth (no secrets) plus the secrets, and the store's key columns.
// NOLINTNEXTLINE(bugprone-exception-escape): the throw seen is inside nlohmann::json's noexcept destructor
struct NewAuth {
  json auth;
  store::SecretFields secrets;
  std::optional<std::string> secret_name;
  std::optional<std::string> mcp_server_url;
};

NewAuth take_auth_for_create(const json& body, WeakSecrets& weak) {
  const json& auth = required_object(body, "auth", "");
  std::string type = required_string(auth, "type", "auth", 1, 64);
  NewAuth out;
  if (type == "environment_variable") {
    reject_unknown_fields(auth, {"type", "secret_name", "secret_value", "networking", "injection_location"}, "auth");
    std::string name = required_string(auth, "secret_name", "auth", 1, 128);
    if (!std::regex_match(name, secret_name_pattern())) {
      bad_request(fmt::format("auth.secret_name: \"{}\" is not an environment variable name; use letters, digits "
                              "and _, not starting with a digit (at most 128)",
                              name));
    }
    out.secrets.emplace_back("secret_value", take_substituted_secret(auth, "secret_value", "auth", true, weak));
    out.auth = {{"type", type},
                {"secret_name", name},
                {"networking", take_networking(auth, "auth")},
                {"injection_location", take_injection_location(auth, "auth", nullptr)}};
    out.secret_name = name;
  } else if (type == "static_bearer") {
    reject_unknown_fields(auth, {"type", "mcp_server_url", "token"}, "auth");
    std::string url = take_url(auth, "mcp_server_url", "auth");
    out.secrets.emplace_back("token", take_substituted_secret(auth, "token", "auth", true, weak));
    out.auth = {{"type", type}, {"mcp_server_url", url}};
    out.mcp_server_url = url;
  } else if (type == "mcp_oauth") {
    reject_unknown_fields(auth, {"type", "mcp_server_url", "access_token", "expires_at", "refresh"}, "auth");
    std::string url = take_url(auth, "mcp_server_url", "auth");
    out.secrets.emplace_back("access_token", take_secret(auth, "access_token", "auth", true));
    json expires = is_null(auth, "expires_at") || !has(auth, "expires_at") ? json(nullptr)
                                                                           : json(take_future_time(auth, "expires_at", "auth"));
    json refresh = nullptr;
    if (const json* given = optional_object(auth, "refresh", "auth")) {
      reject_unknown_fields(*given, {"client_id", "refresh_token", "token_endpoint", "token_endpoint_auth", "resource", "scope"},
                            "auth.refresh");
      refresh = {{"client_id", required_string(*given, "client_id", "auth.refresh", 1, kTextFieldMax)},
                 {"token_endpoint", take_url(*given, "token_endpoint", "auth.refresh")},
                 {"token_endpoint_auth", take_token_endpoint_auth(*given, "auth.refresh", out.secrets, true)},
                 {"resource", nullptr},
                 {"scope", nullptr}};
      out.secrets.emplace_back("refresh_token", take_secret(*given, "refresh_token", "auth.refresh", true));
      if (auto resource = optional_string(*given, "resource", "auth.refresh", 0, kTextFieldMax)) refresh["resource"] = *resource;
      if (auto scope = optional_string(*given, "scope", "auth.refresh", 0, kTextFieldMax)) refresh["scope"] = *scope;
    }
    out.auth = {{"type", type}, {"mcp_server_url", url}, {"expires_at", expires}, {"refresh", refresh}};
    out.mcp_server_url = url;
  } else {
    bad_request(fmt::format("auth.type: must be one of environment_variable, static_bearer, mcp_oauth; got \"{}\"", type));
  }
  return out;
}

// auth for update: patches `current` (response-shaped) in place and collects replaced secrets.
void patch_auth(json& current, const json& auth, store::SecretFields& secrets, WeakSecrets& weak) {
  std::string stored_type = current.value("type", "");
  std::string type = required_string(auth, "type", "auth", 1, 64);
  if (type != stored_type) {
    bad_request(fmt::format("auth.type: a credential's type cannot change (it is \"{}\")", stored_type));
  }
  if (type == "environment_variable") {
    reject_present(auth, "secret_name", "auth", "is immutable; create a new credential for another name");
    reject_unknown_fields(auth, {"type", "secret_value", "networking", "injection_location"}, "auth");
    if (auto value = take_substituted_secret(auth, "secret_value", "auth", false, weak); !value.empty()) {
      secrets.emplace_back("secret_value", std::move(value));
    }
    if (optional_object(auth, "networking", "auth") != nullptr) current["networking"] = take_networking(auth, "auth");
    json location = current["injection_location"];
    current["injection_location"] = take_injection_location(auth, "auth", &location);
  } else if (type == "static_bearer") {
    reject_present(auth, "mcp_server_url", "auth", "is immutable; create a new credential for another server");
    reject_unknown_fields(auth, {"type", "token"}, "auth");
    if (auto token = take_substituted_secret(auth, "token", "auth", false, weak); !token.empty()) {
      secrets.emplace_back("token", std::move(token));
    }
  } else {
    reject_present(auth, "mcp_server_url", "auth", "is immutable; create a new credential for another server");
    reject_unknown_fields(auth, {"type", "access_token", "expires_at", "refresh"}, "auth");
    if (auto token = take_secret(auth, "access_token", "auth", false); !token.empty()) {
      secrets.emplace_back("access_token", std::move(token));
    }
    if (has(auth, "expires_at") && !is_null(auth, "expires_at")) current["expires_at"] = take_future_time(auth, "expires_at", "auth");
    if (const json* refresh = optional_object(auth, "refresh", "auth")) {
      reject_unknown_fields(*refresh, {"refresh_token", "scope", "token_endpoint_auth"}, "auth.refresh");
      json& stored = current["refresh"];
      if (!stored.is_object()) bad_request("auth.refresh: this credential was created without refresh settings");
      if (auto token = take_secret(*refresh, "refresh_token", "auth.refresh", false); !token.empty()) {
        secrets.emplace_back("refresh_token", std::move(token));
      }
      if (auto scope = optional_string(*refresh, "scope", "auth.refresh", 0, kTextFieldMax)) {
        stored["scope"] = scope->empty() ? json(nullptr) : json(*scope);
      }
      if (const json* endpoint_auth = optional_object(*refresh, "token_endpoint_auth", "auth.refresh")) {
        std::string stored_auth = stored["token_endpoint_auth"].value("type", "none");
        if (stored_auth != "client_secret_basic" && stored_auth != "client_secret_post") {
          bad_request("auth.refresh.token_endpoint_auth: this credential authenticates with \"none\"; there is no client secret to replace");
        }
        std::string given = required_string(*endpoint_auth, "type", "auth.refresh.token_endpoint_auth", 1, 64);
        if (given != "client_secret_basic" && given != "client_secret_post") {
          bad_request("auth.refresh.token_endpoint_auth.type: must be client_secret_basic or client_secret_post");
        }
        reject_unknown_fields(*endpoint_auth, {"type", "client_secret"}, "auth.refresh.token_endpoint_auth");
        // Only the secret is replaced; the stored type is kept even if the other one was sent (API.md C3).
        if (auto secret = take_secret(*endpoint_auth, "client_secret", "auth.refresh.token_endpoint_auth", false); !secret.empty()) {
          secrets.emplace_back("client_secret", std::move(secret));
        }
      }
    }
  }
}

json credential_json(const store::Credential& credential) {
  json doc = parse_doc(credential.doc);
  json out = {{"id", credential.id},
              {"type", "vault_credential"},
              {"vault_id", credential.vault_id},
              {"auth", doc.value("auth", json::object())},
              {"display_name", doc.value("display_name", json(nullptr))},
              {"metadata", doc.value("metadata", json::object())}};
  out.update(timestamps_json(credential.created_at, credential.updated_at, credential.archived_at));
  return out;
}

[[noreturn]] void name_in_use(const json& auth) {
  if (auth.contains("secret_name")) {
    conflict(fmt::format("auth.secret_name: \"{}\" is already used by an active credential in this vault; archive or "
                         "delete that one first, or choose another name",
                         auth["secret_name"].get<std::string>()));
  }
  conflict(fmt::format("auth.mcp_server_url: \"{}\" already has an active credential in this vault; archive or delete "
                       "that one first",
                       auth.value("mcp_server_url", "")));
}

Reply create(store::Store& store, const CredentialSettings& settings, Logger& log, ApiRequest& request) {
  const std::string& vault_id = request.param("vault_id");
  json body = parse_body(request);
  reject_unknown_fields(body, {"auth", "display_name", "metadata"}, "");
  WeakSecrets weak{settings.allow_weak_secrets, {}};
  NewAuth auth = take_auth_for_create(body, weak);
  json doc = {{"auth", auth.auth}, {"metadata", metadata_for_create(body, "")}, {"display_name", nullptr}};
  if (auto name = optional_string(body, "display_name", "", 0, kDisplayNameMax)) doc["display_name"] = *name;

  store::NewCredential credential{vault_id, auth.auth["type"].get<std::string>(), auth.secret_name,
                                  auth.mcp_server_url, doc.dump(), std::move(auth.secrets)};
  auto created = store.create_credential(std::move(credential));
  if (!created && created.error() == store::Errc::conflict) name_in_use(auth.auth);
  if (!created && created.error() == store::Errc::archived) {
    bad_request(fmt::format("vault {} is archived; credentials can only be added to an active vault", vault_id));
  }
  store::Credential stored = take(std::move(created), "vault", vault_id);
  warn_weak_secrets(log, stored, weak);
  return {200, credential_json(stored), {}};
}

Reply update(store::Store& store, const CredentialSettings& settings, Logger& log, ApiRequest& request) {
  const std::string& vault_id = request.param("vault_id");
  const std::string& id = request.param("credential_id");
  json body = parse_body(request);
  reject_unknown_fields(body, {"auth", "display_name", "metadata"}, "");
  store::Credential credential = take(store.get_credential(vault_id, id), "credential", id);
  if (credential.archived_at) bad_request(fmt::format("credential {} is archived; archived credentials cannot change", id));
  json doc = parse_doc(credential.doc);
  store::SecretFields secrets;
  WeakSecrets weak{settings.allow_weak_secrets, {}};
  if (const json* auth = optional_object(body, "auth", "")) patch_auth(doc["auth"], *auth, secrets, weak);
  if (auto name = optional_string(body, "display_name", "", 1, kDisplayNameMax)) doc["display_name"] = *name;
  doc["metadata"] = metadata_patch(doc.value("metadata", json::object()), body, "");
  store::Credential updated = take(store.update_credential(vault_id, id, doc.dump(), std::move(secrets)), "credential", id);
  warn_weak_secrets(log, updated, weak);
  return {200, credential_json(updated), {}};
}

}  // namespace

void add_credential_routes(Router& router, store::Store& store, CredentialSettings settings, Logger& log) {
  const std::string collection = "/v1/vaults/{vault_id}/credentials";
  const std::string item = collection + "/{credential_id}";
  router.add("POST", collection, [&store, settings, &log](ApiRequest& r) { return create(store, settings, log, r); });
  router.add("GET", collection, [&store](ApiRequest& r) {
    const std::string& vault_id = r.param("vault_id");
    return Reply{200, page_json(take(store.list_credentials(vault_id, list_query(r)), "vault", vault_id), credential_json), {}};
  });
  router.add("GET", item, [&store](ApiRequest& r) {
    const std::string& id = r.param("credential_id");
    return Reply{200, credential_json(take(store.get_credential(r.param("vault_id"), id), "credential", id)), {}};
  });
  router.add("POST", item, [&store, settings, &log](ApiRequest& r) { return update(store, settings, log, r); });
  router.add("POST", item + "/archive", [&store](ApiRequest& r) {
    const std::string& id = r.param("credential_id");
    return Reply{200, credential_json(take(store.archive_credential(r.param("vault_id"), id), "credential", id)), {}};
  });
  router.add("DELETE", item, [&store](ApiRequest& r) {
    const std::string& id = r.param("credential_id");
    take(store.delete_credential(r.param("vault_id"), id), "credential", id);
    return deleted_reply(id, "vault_credential_deleted");
  });
  router.add("POST", item + "/mcp_oauth_validate", [&store](ApiRequest& r) -> Reply {
    const std::string& id = r.param("credential_id");
    store::Credential credential = take(store.get_credential(r.param("vault_id"), id), "credential", id);
    if (credential.auth_type != "mcp_oauth") {
      bad_request(fmt::format("credential {} is {}; only mcp_oauth credentials can be validated", id, credential.auth_type));
    }
    throw ApiError(501, "api_error", "mcp_oauth validation is not available in this Airlock version");
  });
}

}  // namespace airlock::control
