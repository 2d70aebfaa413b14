// NetworkPolicies (see network_policies.hpp).
#include "dataplane/network_policies.hpp"

#include <chrono>
#include <stdexcept>

#include <fmt/chrono.h>
#include <fmt/format.h>

namespace airlock::control {

namespace {

using json = nlohmann::json;

std::string now_text() {
  return fmt::format("{:%Y-%m-%dT%H:%M:%S}Z",
                     std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now()));
}

json rule_json(const policies::Rule& rule) {
  json ranges = json::array();
  for (const policies::Cidr& cidr : rule.ranges) ranges.push_back(cidr.text());
  json ports = json::array();
  for (const policies::PortRange& port : rule.ports) {
    ports.push_back(port.first == port.last ? fmt::format("{}", port.first) : fmt::format("{}-{}", port.first, port.last));
  }
  json out = {{"action", rule.action == policies::Action::allow ? "allow" : "deny"},
              {"hosts", rule.hosts},
              {"cidrs", std::move(ranges)},
              {"ports", std::move(ports)},
              {"methods", rule.methods},
              {"paths", rule.paths},
              {"max_request_body_bytes", nullptr},
              {"internal", rule.internal},
              {"where", rule.where}};
  if (rule.max_request_body_bytes) out["max_request_body_bytes"] = *rule.max_request_body_bytes;
  return out;
}

}  // namespace

NetworkPolicies::NetworkPolicies(NetworkPolicySettings settings) : settings_(std::move(settings)) {
  if (!settings_.file && !settings_.default_policy.empty()) {
    throw std::runtime_error(
        "proxy.default_policy is set but no policy file is: give one with --policy FILE or proxy.policy_file");
  }
  current_ = load();
  loaded_at_ = now_text();
}

std::shared_ptr<const policies::PolicySet> NetworkPolicies::load() const {
  if (!settings_.file) return nullptr;
  auto loaded = policies::load_policy_file(*settings_.file);
  if (!loaded) throw std::runtime_error(loaded.error());
  policies::PolicySet set = std::move(loaded).value();
  if (!settings_.default_policy.empty()) {
    if (set.find(settings_.default_policy) == nullptr) {
      throw std::runtime_error(fmt::format("proxy.default_policy names {:?}, which {} does not define",
                                           settings_.default_policy, set.source));
    }
    set.default_policy = settings_.default_policy;
  }
  return std::make_shared<const policies::PolicySet>(std::move(set));
}

std::optional<std::string> NetworkPolicies::reload() {
  if (!settings_.file) return "no policy file is configured (--policy FILE or proxy.policy_file)";
  try {
    current_ = load();
  } catch (const std::runtime_error& e) {
    return std::string(e.what());
  }
  loaded_at_ = now_text();
  return std::nullopt;
}

json NetworkPolicies::describe() const {
  json out = {{"type", "network_policies"}, {"source", nullptr},        {"default_policy", nullptr},
              {"loaded_at", loaded_at_},    {"policies", json::array()}, {"allow_private", json::array()}};
  for (const policies::AllowedRange& range : settings_.allow_private) {
    out["allow_private"].push_back({{"cidr", range.cidr.text()}, {"source", range.source}});
  }
  if (!current_) return out;
  out["source"] = current_->source;
  if (!current_->default_policy.empty()) out["default_policy"] = current_->default_policy;
  for (const policies::Policy& policy : current_->policies) {
    json rules = json::array();
    for (const policies::Rule& rule : policy.rules) rules.push_back(rule_json(rule));
    out["policies"].push_back({{"name", policy.name},
                               {"default", policy.default_action == policies::Action::allow ? "allow" : "deny"},
                               {"where", policy.where},
                               {"rules", std::move(rules)}});
  }
  return out;
}

}  // namespace airlock::control
