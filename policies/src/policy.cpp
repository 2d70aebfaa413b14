// Network policies (see policy.hpp): loading with yaml-cpp, and the two decisions.
#include "airlock/policies/policy.hpp"

#include <libpsl.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <fstream>
#include <memory>
#include <sstream>

#include <fmt/format.h>

#include "airlock/policies/host_pattern.hpp"

namespace airlock::policies {

namespace {

// A message for a node: "FILE:LINE: PATH: WHY".
struct LoadError {
  std::string message;
};

class Loader {
 public:
  explicit Loader(std::string_view source) : source_(source) {}

  [[noreturn]] void fail(const YAML::Node& node, std::string_view path, std::string_view why) const {
    const int line = node.Mark().line >= 0 ? node.Mark().line + 1 : 0;
    throw LoadError{fmt::format("{}:{}: {}: {}", source_, line, path, why)};
  }
  std::string where(const YAML::Node& node) const {
    return fmt::format("{}:{}", source_, node.Mark().line >= 0 ? node.Mark().line + 1 : 0);
  }

  void check_keys(const YAML::Node& node, std::string_view path, std::initializer_list<std::string_view> keys) const {
    if (!node.IsMap()) fail(node, path, "expected a mapping");
    for (const auto& item : node) {
      const std::string key = item.first.as<std::string>();
      if (std::find(keys.begin(), keys.end(), key) == keys.end()) {
        std::string accepted;
        for (std::string_view k : keys) accepted += fmt::format("{}{}", accepted.empty() ? "" : ", ", k);
        fail(item.first, fmt::format("{}.{}", path, key), fmt::format("unknown key; accepted here: {}", accepted));
      }
    }
  }

  std::string scalar(const YAML::Node& node, std::string_view path) const {
    if (!node.IsScalar()) fail(node, path, "expected a single value");
    return node.as<std::string>();
  }

  // A scalar or a list of scalars.
  std::vector<std::pair<std::string, YAML::Node>> scalars(const YAML::Node& node, std::string_view path) const {
    std::vector<std::pair<std::string, YAML::Node>> out;
    if (node.IsScalar()) {
      out.emplace_back(node.as<std::string>(), node);
      return out;
    }
    if (!node.IsSequence() || node.size() == 0) fail(node, path, "expected a value or a non-empty list");
    for (std::size_t i = 0; i < node.size(); ++i) {
      out.emplace_back(scalar(node[i], fmt::format("{}[{}]", path, i)), node[i]);
    }
    return out;
  }

  Rule rule(const YAML::Node& node, const std::string& path) const {
    check_keys(node, path, {"allow", "deny", "ports", "methods", "paths", "max_request_body_bytes", "internal"});
    Rule rule;
    rule.where = where(node);
    const bool allow = static_cast<bool>(node["allow"]);
    const bool deny = static_cast<bool>(node["deny"]);
    if (allow == deny) fail(node, path, "a rule has exactly one of allow: or deny: (a host, a \"*.\" domain or a CIDR)");
    rule.action = allow ? Action::allow : Action::deny;
    const std::string key = allow ? "allow" : "deny";
    const std::string key_path = path + "." + key;
    for (auto& [text, item] : scalars(node[key], key_path)) add_target(rule, text, item, key_path);
    if (const YAML::Node ports = node["ports"]) {
      for (auto& [text, item] : scalars(ports, path + ".ports")) rule.ports.push_back(port_range(text, item, path + ".ports"));
    }
    if (const YAML::Node methods = node["methods"]) {
      for (auto& [text, item] : scalars(methods, path + ".methods")) {
        std::string method = text;
        std::transform(method.begin(), method.end(), method.begin(), [](unsigned char c) { return std::toupper(c); });
        if (method.empty() || method.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZ-") != std::string::npos) {
          fail(item, path + ".methods", fmt::format("{:?} is not an HTTP method", text));
        }
        rule.methods.push_back(std::move(method));
      }
    }
    if (const YAML::Node paths = node["paths"]) {
      for (auto& [text, item] : scalars(paths, path + ".paths")) {
        if (text.empty() || text.front() != '/' || text.find_first_of("?# \t") != std::string::npos) {
          fail(item, path + ".paths", fmt::format("{:?}: a path prefix starts with / and has no query", text));
        }
        rule.paths.push_back(text);
      }
    }
    if (const YAML::Node max = node["max_request_body_bytes"]) {
      rule.max_request_body_bytes = number(max, path + ".max_request_body_bytes", 0, std::uint64_t{1} << 40);
    }
    if (const YAML::Node internal = node["internal"]) {
      if (!internal.IsScalar() || (internal.as<std::string>() != "true" && internal.as<std::string>() != "false")) {
        fail(internal, path + ".internal", "expected true or false");
      }
      rule.internal = internal.as<std::string>() == "true";
      if (rule.internal && !allow) fail(internal, path + ".internal", "internal: true goes with allow:, not deny:");
    }
    return rule;
  }

  Policy policy(const std::string& name, const YAML::Node& node) const {
    const std::string path = "policies." + name;
    if (name.empty() || name.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") !=
                            std::string::npos) {
      fail(node, path, "a policy name has letters, digits, '_', '.' and '-' only");
    }
    check_keys(node, path, {"default", "rules"});
    Policy policy;
    policy.name = name;
    policy.where = where(node);
    if (!node["default"]) fail(node, path, "default: allow or default: deny is required");
    const std::string action = scalar(node["default"], path + ".default");
    if (action != "allow" && action != "deny") fail(node["default"], path + ".default", "expected allow or deny");
    policy.default_action = action == "allow" ? Action::allow : Action::deny;
    if (const YAML::Node rules = node["rules"]) {
      if (!rules.IsSequence()) fail(rules, path + ".rules", "expected a list of rules");
      for (std::size_t i = 0; i < rules.size(); ++i) policy.rules.push_back(rule(rules[i], fmt::format("{}.rules[{}]", path, i)));
    }
    return policy;
  }

 private:
  void add_target(Rule& rule, const std::string& text, const YAML::Node& node, const std::string& path) const {
    if (text.find('/') != std::string::npos || parse_address(text)) {
      auto range = Cidr::parse(text);
      if (!range) fail(node, path, range.error());
      rule.ranges.push_back(range.value());
      return;
    }
    if (std::any_of(text.begin(), text.end(), [](unsigned char c) { return c >= 0x80; })) {
      fail(node, path, fmt::format("{:?}: write international names in punycode (xn--...), as DNS carries them", text));
    }
    std::string pattern = text;
    if (pattern.size() > 1 && pattern.back() == '.') pattern.pop_back();  // the fully qualified spelling
    if (const auto problem = validate_host_pattern(pattern)) fail(node, path, fmt::format("{:?}: {}", text, *problem));
    pattern = normalize_host_pattern(pattern);
    if (pattern.starts_with("*.") && covers_public_suffix(pattern)) {
      fail(node, path,
           fmt::format("{:?} is too broad: {} is a public suffix, under which anyone can register a name; name "
                       "the domain itself, like *.example.{}",
                       text, pattern.substr(2), pattern.substr(2)));
    }
    rule.hosts.push_back(std::move(pattern));
  }

  PortRange port_range(const std::string& text, const YAML::Node& node, const std::string& path) const {
    const auto parse = [&](std::string_view digits) -> std::uint16_t {
      unsigned value = 0;
      const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
      if (digits.empty() || ec != std::errc() || end != digits.data() + digits.size() || value == 0 || value > 65535) {
        fail(node, path, fmt::format("{:?}: a port is a number from 1 to 65535, a range is \"8000-8100\"", text));
      }
      return static_cast<std::uint16_t>(value);
    };
    const std::size_t dash = text.find('-');
    if (dash == std::string::npos) {
      const std::uint16_t port = parse(text);
      return {port, port};
    }
    const PortRange range{parse(std::string_view(text).substr(0, dash)), parse(std::string_view(text).substr(dash + 1))};
    if (range.first > range.last) fail(node, path, fmt::format("{:?}: the range runs backwards", text));
    return range;
  }

  std::uint64_t number(const YAML::Node& node, const std::string& path, std::uint64_t min, std::uint64_t max) const {
    const std::string text = scalar(node, path);
    std::uint64_t value = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || ec != std::errc() || end != text.data() + text.size() || value < min || value > max) {
      fail(node, path, fmt::format("expected a whole number from {} to {}", min, max));
    }
    return value;
  }

  std::string source_;
};

bool host_matches_rule(const Rule& rule, const Target& target) noexcept {
  if (target.ip) {
    for (const Cidr& range : rule.ranges) {
      if (range.contains(*target.ip)) return true;
    }
  }
  return host_matches_any(rule.hosts, target.host);
}

bool port_matches(const Rule& rule, std::uint16_t port) noexcept {
  if (rule.ports.empty()) return true;
  return std::any_of(rule.ports.begin(), rule.ports.end(),
                     [&](const PortRange& range) { return port >= range.first && port <= range.last; });
}

bool request_matches(const Rule& rule, const RequestFacts& request) noexcept {
  if (!rule.methods.empty() &&
      std::find(rule.methods.begin(), rule.methods.end(), request.method) == rule.methods.end()) {
    return false;
  }
  if (rule.paths.empty()) return true;
  return std::any_of(rule.paths.begin(), rule.paths.end(),
                     [&](const std::string& prefix) { return request.path.starts_with(prefix); });
}

PolicyDecision from_rule(const Rule& rule) {
  PolicyDecision decision;
  decision.allowed = rule.action == Action::allow;
  decision.internal = decision.allowed && rule.internal;
  if (decision.allowed) decision.max_request_body_bytes = rule.max_request_body_bytes;
  decision.rule = &rule;
  return decision;
}

PolicyDecision from_default(const Policy& policy) {
  PolicyDecision decision;
  decision.allowed = policy.default_action == Action::allow;
  return decision;
}

const psl_ctx_t* public_suffixes() {
  // The newest of libpsl's built-in list and the system's (Debian's publicsuffix package), loaded once.
  static const std::unique_ptr<psl_ctx_t, decltype(&psl_free)> context(psl_latest(nullptr), &psl_free);
  return context ? context.get() : psl_builtin();
}

}  // namespace

const Policy* PolicySet::find(std::string_view name) const noexcept {
  for (const Policy& policy : policies) {
    if (policy.name == name) return &policy;
  }
  return nullptr;
}

bool covers_public_suffix(std::string_view wildcard_pattern) {
  if (!wildcard_pattern.starts_with("*.")) return false;
  const std::string domain(wildcard_pattern.substr(2));
  const psl_ctx_t* psl = public_suffixes();
  if (psl == nullptr) return domain.find('.') == std::string::npos;  // no list: only bare TLDs are known
  return psl_is_public_suffix2(psl, domain.c_str(), PSL_TYPE_ANY | PSL_TYPE_NO_STAR_RULE) != 0;
}

Result<PolicySet> parse_policies(std::string_view yaml, std::string_view source) {
  const Loader loader(source);
  try {
    const YAML::Node root = YAML::Load(std::string(yaml));
    if (!root || root.IsNull()) return fmt::format("{}: the file is empty; it needs a policies: mapping", source);
    loader.check_keys(root, "(top level)", {"policies", "default_policy"});
    PolicySet set;
    set.source = std::string(source);
    set.text = std::string(yaml);
    const YAML::Node policies = root["policies"];
    if (!policies || !policies.IsMap()) loader.fail(root, "policies", "expected a mapping of policy names to policies");
    for (const auto& item : policies) {
      set.policies.push_back(loader.policy(item.first.as<std::string>(), item.second));
    }
    if (const YAML::Node fallback = root["default_policy"]) {
      set.default_policy = loader.scalar(fallback, "default_policy");
      if (set.find(set.default_policy) == nullptr) {
        loader.fail(fallback, "default_policy", fmt::format("no policy named {:?} in this file", set.default_policy));
      }
    }
    return set;
  } catch (const LoadError& error) {
    return error.message;
  } catch (const YAML::Exception& error) {
    return fmt::format("{}:{}: not valid YAML: {}", source, error.mark.line + 1, error.msg);
  }
}

Result<PolicySet> load_policy_file(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return fmt::format("{}: cannot read the policy file", file.string());
  std::ostringstream text;
  text << in.rdbuf();
  return parse_policies(text.str(), file.string());
}

PolicyDecision decide_connection(const Policy& policy, const Target& target, bool intercepted) {
  // Allowed when some request could be: a conditional allow before the first rule that decides for every
  // request of this host and port. Without interception no request is ever seen, so conditions never hold.
  const Rule* conditional_allow = nullptr;
  for (const Rule& rule : policy.rules) {
    if (!host_matches_rule(rule, target) || !port_matches(rule, target.port)) continue;
    if (!rule.has_request_conditions()) {
      if (conditional_allow != nullptr && rule.action == Action::deny) return from_rule(*conditional_allow);
      return from_rule(rule);
    }
    if (intercepted && rule.action == Action::allow && conditional_allow == nullptr) conditional_allow = &rule;
  }
  if (conditional_allow != nullptr && policy.default_action == Action::deny) return from_rule(*conditional_allow);
  return from_default(policy);
}

PolicyDecision decide_request(const Policy& policy, const Target& target, const RequestFacts& request) {
  for (const Rule& rule : policy.rules) {
    if (host_matches_rule(rule, target) && port_matches(rule, target.port) && request_matches(rule, request)) {
      return from_rule(rule);
    }
  }
  return from_default(policy);
}

}  // namespace airlock::policies
