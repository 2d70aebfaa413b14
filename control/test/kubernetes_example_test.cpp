// examples/sidecar/kubernetes: every document parses, and the pod is wired as docs/sidecar.md says: the
// redirect installed by an init container with NET_ADMIN, the sidecar excluded from it by its uid and
// pointed at the control plane's Service, the sandbox with the trust bundle and no proxy variables.
#include <doctest/doctest.h>

#include <yaml-cpp/yaml.h>

#include <map>
#include <string>
#include <vector>

#include "airlock/testing/source_path.hpp"

namespace airlock::control {
namespace {

std::map<std::string, YAML::Node> documents_by_kind(const std::string& file) {
  std::map<std::string, YAML::Node> out;
  for (const YAML::Node& document : YAML::LoadAllFromFile(testing::source_path("examples/sidecar/kubernetes/" + file).string())) {
    REQUIRE(document["apiVersion"]);
    REQUIRE(document["metadata"]["name"]);
    out[document["kind"].as<std::string>() + "/" + document["metadata"]["name"].as<std::string>()] = document;
  }
  return out;
}

YAML::Node container(const YAML::Node& list, const std::string& name) {
  for (const YAML::Node& item : list) {
    if (item["name"].as<std::string>() == name) return item;
  }
  FAIL("no container " << name);
  return {};
}

}  // namespace

TEST_CASE("kubernetes example: the control plane and a sandbox pod with its sidecar") {
  const auto serve = documents_by_kind("airlock-serve.yaml");
  REQUIRE(serve.count("Deployment/airlock-serve") == 1);
  REQUIRE(serve.count("Service/airlock-serve") == 1);
  const YAML::Node airlock = container(serve.at("Deployment/airlock-serve")["spec"]["template"]["spec"]["containers"], "airlock");
  CHECK(airlock["args"][0].as<std::string>() == "serve");
  CHECK(serve.at("Service/airlock-serve")["spec"]["ports"][0]["port"].as<int>() == 8420);

  const auto pod_file = documents_by_kind("sandbox-pod.yaml");
  REQUIRE(pod_file.count("Pod/agent-sandbox") == 1);
  const YAML::Node spec = pod_file.at("Pod/agent-sandbox")["spec"];
  const YAML::Node redirect = container(spec["initContainers"], "redirect");
  CHECK(redirect["securityContext"]["capabilities"]["add"][0].as<std::string>() == "NET_ADMIN");
  const std::string rules = pod_file.at("ConfigMap/airlock-trust")["data"]["redirect.nft"].as<std::string>();
  CHECK(rules.find("meta skuid 1337 return") != std::string::npos);
  CHECK(rules.find("redirect to :15001") != std::string::npos);

  const YAML::Node sidecar = container(spec["containers"], "airlock-proxy");
  CHECK(sidecar["securityContext"]["runAsUser"].as<int>() == 1337);
  std::vector<std::string> args;
  for (const YAML::Node& arg : sidecar["args"]) args.push_back(arg.as<std::string>());
  CHECK(args.front() == "proxy");
  const auto after = [&](const std::string& flag) {
    for (std::size_t i = 0; i + 1 < args.size(); ++i) {
      if (args[i] == flag) return args[i + 1];
    }
    return std::string();
  };
  CHECK(after("--control-url") == "http://airlock-serve.airlock.svc:8420");
  CHECK(after("--transparent-listen") == "0.0.0.0:15001");
  CHECK(after("--token-file") == "/var/run/airlock/proxy-token");

  const YAML::Node sandbox = container(spec["containers"], "sandbox");
  bool trusts_bundle = false;
  for (const YAML::Node& variable : sandbox["env"]) {
    const std::string name = variable["name"].as<std::string>();
    CHECK(name.find("PROXY") == std::string::npos);  // no proxy variables: the redirect takes their place
    if (name == "SSL_CERT_FILE") trusts_bundle = variable["value"].as<std::string>() == "/etc/airlock/ca-bundle.pem";
  }
  CHECK(trusts_bundle);
}

}  // namespace airlock::control
