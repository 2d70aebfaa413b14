// NetworkPolicies: the policy file in force (docs/policy.md) and how it is read again. Loaded at start (a
// file that does not load stops the daemon); reload() on SIGHUP and POST /v1/airlock/policies/reload
// keeps the policies in force when the file does not load, and says why. describe() is what
// GET /v1/airlock/policies shows. Lives on the control thread.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "airlock/policies/policy.hpp"

namespace airlock::control {

struct NetworkPolicySettings {
  std::optional<std::filesystem::path> file;   // proxy.policy_file, --policy
  std::string default_policy;                  // proxy.default_policy: replaces the file's
  std::vector<policies::AllowedRange> allow_private;  // shown by describe()
};

class NetworkPolicies {
 public:
  // Loads the file now; throws std::runtime_error with the file, line and reason when it does not load.
  explicit NetworkPolicies(NetworkPolicySettings settings);

  // Null when no policy file is configured.
  std::shared_ptr<const policies::PolicySet> current() const { return current_; }
  // Reads the file again. nullopt: the new policies are in force; else why not (the old ones stay).
  std::optional<std::string> reload();
  // {"type": "network_policies", "source", "default_policy", "loaded_at", "policies": [...], "allow_private": [...]}
  nlohmann::json describe() const;

 private:
  std::shared_ptr<const policies::PolicySet> load() const;  // throws std::runtime_error

  NetworkPolicySettings settings_;
  std::shared_ptr<const policies::PolicySet> current_;
  std::string loaded_at_;
};

}  // namespace airlock::control
