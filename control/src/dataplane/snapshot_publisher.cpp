// Building and publishing the proxy's snapshot; see snapshot_publisher.hpp.
#include "dataplane/snapshot_publisher.hpp"

#include <unordered_map>

#include <boost/asio/post.hpp>
#include <nlohmann/json.hpp>

#include "airlock/policies/host_pattern.hpp"
#include "airlock/policies/package_managers.hpp"

namespace airlock::control {
namespace {

using json = nlohmann::json;
using proxy::CredentialRule;

template <class T>
T need(store::Result<T>&& result, std::string_view what) {
  if (!result) throw std::runtime_error(fmt::format("{}: {}", what, result.error().message()));
  return std::move(result).value();
}

std::shared_ptr<const CredentialRule> make_rule(const store::ActiveCredential& credential) {
  json auth = json::parse(credential.doc).value("auth", json::object());
  auto rule = std::make_shared<CredentialRule>();
  rule->credential_id = credential.id;
  if (credential.auth_type == "environment_variable") {
    rule->kind = CredentialRule::Kind::environment_variable;
    rule->secret_name = credential.secret_name.value_or("");
    rule->placeholder = credential.placeholder.value_or("");
    json networking = auth.value("networking", json::object());
    rule->unrestricted = networking.value("type", "") == "unrestricted";
    for (const json& host : networking.value("allowed_hosts", json::array())) rule->allowed_hosts.push_back(host.get<std::string>());
    json location = auth.value("injection_location", json::object());
    rule->in_header = location.value("header", false);
    rule->in_body = location.value("body", false);
    rule->in_url = location.value("url", false);
  } else if (credential.auth_type == "static_bearer") {
    rule->kind = CredentialRule::Kind::static_bearer;
    rule->mcp_server_url = credential.mcp_server_url.value_or("");
    rule->bearer_header = bearer_header_for(rule->mcp_server_url);
  } else {
    return nullptr;  // mcp_oauth: stored, not injected by the proxy in this version
  }
  rule->value = certs::SecretBytes(credential.value.bytes());
  return rule;
}

// Everything a rule is made from but the secret's value, which the sealed bytes stand for.
std::string fingerprint(const store::ActiveCredential& credential) {
  std::string out;
  auto add = [&out](std::string_view part) {
    out.append(part);
    out.push_back('\x1f');
  };
  auto add_optional = [&add](const std::optional<std::string>& part) { add(part ? std::string_view(*part) : "\x1e"); };
  add(credential.auth_type);
  add(credential.doc);
  add_optional(credential.secret_name);
  add_optional(credential.placeholder);
  add_optional(credential.mcp_server_url);
  add(credential.sealed);
  return out;
}

// The host of an absolute URL as written ("https://u@Mcp.Example.com:8443/sse" -> "Mcp.Example.com");
// empty when the URL has none or it is an IPv6 literal.
std::string_view raw_host_of_url(std::string_view url) {
  const auto scheme = url.find("://");
  if (scheme == std::string_view::npos) return {};
  std::string_view rest = url.substr(scheme + 3);
  rest = rest.substr(0, rest.find_first_of("/?#"));
  if (const auto at = rest.rfind('@'); at != std::string_view::npos) rest = rest.substr(at + 1);
  if (!rest.empty() && rest.front() == '[') return {};
  return rest.substr(0, rest.find(':'));
}

// The host of an MCP server URL ("https://mcp.example.com:8443/sse" -> "mcp.example.com"), normalised as
// allowed_hosts entries are; empty when the URL has none (IPv6 literals are not allowed_hosts entries).
std::string host_of_url(std::string_view url) {
  const std::string_view host = raw_host_of_url(url);
  if (host.empty() || policies::validate_host_pattern(host)) return {};
  return policies::normalize_host_pattern(host);
}

// allow_mcp_servers: the hosts of the session's agent's MCP servers (at the version the session runs).
void add_mcp_server_hosts(store::Store& store, const store::Session& session, std::vector<std::string>& hosts) {
  auto agent = store.get_agent(session.agent_id, session.agent_version);
  if (!agent) return;
  const json doc = json::parse(agent.value().doc);
  for (const json& server : doc.value("mcp_servers", json::array())) {
    if (!server.is_object()) continue;
    if (std::string host = host_of_url(server.value("url", "")); !host.empty()) hosts.push_back(std::move(host));
  }
}

// The environment's network policy. An environment that no longer exists allows nothing (fail closed).
void apply_environment(store::Store& store, const store::Session& session,
                       const std::shared_ptr<const policies::PolicySet>& policies, proxy::SessionEntry& entry) {
  const std::string& environment_id = session.environment_id;
  auto environment = store.get_environment(environment_id);
  if (!environment) {
    entry.network_limited = true;
    return;
  }
  const json doc = json::parse(environment.value().doc);
  std::string policy_name;
  const json metadata = doc.value("metadata", json::object());
  if (const auto named = metadata.find(kPolicyMetadataKey); named != metadata.end() && named->is_string()) {
    policy_name = named->get<std::string>();
  } else if (policies) {
    policy_name = policies->default_policy;
  }
  if (!policy_name.empty()) {
    const policies::Policy* policy = policies ? policies->find(policy_name) : nullptr;
    if (policy != nullptr) {
      entry.policy = std::shared_ptr<const policies::Policy>(policies, policy);  // shares the set's lifetime
    } else {
      entry.unknown_policy = policy_name;  // fail closed until the file defines it
    }
  }
  json config = doc.value("config", json::object());
  json networking = config.value("networking", json::object());
  if (networking.value("type", "") == "limited") {
    entry.network_limited = true;
    for (const json& host : networking.value("allowed_hosts", json::array())) entry.allowed_hosts.push_back(host.get<std::string>());
    if (networking.value("allow_package_managers", false)) {
      for (std::string_view host : policies::kPackageManagerHosts) entry.allowed_hosts.emplace_back(host);
    }
    if (networking.value("allow_mcp_servers", false)) add_mcp_server_hosts(store, session, entry.allowed_hosts);
  }
}

}  // namespace

CredentialRule::BearerHeader bearer_header_for(std::string_view mcp_server_url) {
  // host_matches: any case, and the one trailing dot a DNS name may carry.
  const bool anthropic_api = policies::host_matches("api.anthropic.com", raw_host_of_url(mcp_server_url));
  return anthropic_api ? CredentialRule::BearerHeader::x_api_key : CredentialRule::BearerHeader::authorization;
}

std::shared_ptr<const proxy::CredentialSnapshot> build_snapshot(store::Store& store,
                                                                const std::shared_ptr<const policies::PolicySet>& policies,
                                                                std::vector<proxy::SourceRoute> transparent_sources,
                                                                CredentialRuleCache* cache) {
  auto held = [cache](const store::ActiveCredential& credential) {
    if (cache == nullptr) return false;
    const auto found = cache->by_id.find(credential.id);
    return found != cache->by_id.end() && found->second.made_from == fingerprint(credential);
  };
  CredentialRuleCache next;
  std::unordered_map<std::string, std::vector<std::shared_ptr<const CredentialRule>>> by_vault;
  for (const store::ActiveCredential& credential : need(store.active_credentials(held), "reading credentials")) {
    std::shared_ptr<const CredentialRule> rule;
    std::string made_from = fingerprint(credential);
    if (cache != nullptr) {
      if (const auto found = cache->by_id.find(credential.id);
          found != cache->by_id.end() && found->second.made_from == made_from) {
        rule = found->second.rule;  // unchanged: its value was not unsealed again
      } else {
        rule = make_rule(credential);
      }
      next.by_id.emplace(credential.id, CredentialRuleCache::Entry{std::move(made_from), rule});
    } else {
      rule = make_rule(credential);
    }
    if (rule) by_vault[credential.vault_id].push_back(std::move(rule));
  }
  if (cache != nullptr) *cache = std::move(next);  // credentials gone since are forgotten
  auto snapshot = std::make_shared<proxy::CredentialSnapshot>();
  for (const store::Session& session : need(store.active_sessions(), "reading sessions")) {
    proxy::SessionEntry entry;
    entry.session_id = session.id;
    entry.proxy_token = store.session_proxy_token(session.id);
    apply_environment(store, session, policies, entry);
    for (const std::string& vault_id : session.vault_ids) {
      auto found = by_vault.find(vault_id);
      if (found != by_vault.end()) entry.credentials.insert(entry.credentials.end(), found->second.begin(), found->second.end());
    }
    snapshot->sessions.emplace(session.id, std::move(entry));
  }
  snapshot->transparent_sources = std::move(transparent_sources);
  return snapshot;
}

SnapshotPublisher::SnapshotPublisher(boost::asio::io_context& control, store::Store& store, proxy::SnapshotSlot& slot,
                                     Logger& log)
    : control_(control), store_(store), slot_(slot), log_(log) {}

void SnapshotPublisher::request_rebuild() {
  stale_ = true;
  if (posted_) return;
  posted_ = true;
  boost::asio::post(control_, [this] {
    posted_ = false;
    flush();
  });
}

void SnapshotPublisher::set_policies(std::shared_ptr<const policies::PolicySet> policies) {
  policies_ = std::move(policies);
  stale_ = true;
  flush();
}

void SnapshotPublisher::set_transparent_sources(std::vector<proxy::SourceRoute> sources) {
  transparent_sources_ = std::move(sources);
  stale_ = true;
  flush();
}

void SnapshotPublisher::flush() {
  if (!stale_) return;
  stale_ = false;
  const auto started = std::chrono::steady_clock::now();
  try {
    auto snapshot = build_snapshot(store_, policies_, transparent_sources_, &rules_);
    log_.debug("proxy snapshot published sessions={}", snapshot->sessions.size());
    slot_.store(std::move(snapshot));
    ++stats_.builds;
  } catch (const std::exception& e) {
    log_.error("proxy snapshot could not be built, refusing all proxy traffic until the next change: {}", e.what());
    slot_.store(nullptr);
    ++stats_.failures;
  }
  build_duration_.observe(std::chrono::steady_clock::now() - started);
}

}  // namespace airlock::control
