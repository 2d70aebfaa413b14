// Shared by the control plane's tests: a temporary directory, a clock the test drives, and ApiFixture, a
// real ControlApi over a real store (SQLite file in the temp dir, random master key) that takes requests
// as RequestHead + body, exactly as the API server hands them over, without sockets.
#pragma once

#include "airlock/testing/temp_dir.hpp"
#include "airlock/testing/test_clock.hpp"
#include <stdlib.h>

#include <cctype>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <doctest/doctest.h>
#include <fmt/format.h>
#include <sodium.h>

#include "airlock/store/store.hpp"
#include "api/common/api.hpp"
#include "http/control_api.hpp"
#include "daemon/log.hpp"
#include "runtime/session_runtime.hpp"

namespace airlock::control::testing {

using namespace std::chrono_literals;
using TimePoint = std::chrono::system_clock::time_point;

inline constexpr std::string_view kInvalid = "invalid_request_error";

using TempDir = airlock::testing::TempDir;

using airlock::testing::test_epoch;

// The shared test clock, which can also say its instant as the store writes it.
struct TestClock : airlock::testing::TestClock {
  std::string text() const { return store::format_time(now); }
};

inline store::SecretValue random_master_key() {
  REQUIRE(sodium_init() >= 0);
  auto key = store::SecretValue::with_size(32);
  randombytes_buf(key.data(), key.size());
  return key;
}

// One response from ControlApi::handle, with its body parsed when it is JSON.
struct Response {
  int status = 0;
  std::vector<http1::Header> headers;
  std::string body;
  json json_body;

  // The value of the first header named `name` (case-insensitively), or "<absent>".
  std::string header(std::string_view name) const {
    for (const auto& h : headers) {
      if (lower(h.name) == lower(name)) return h.value;
    }
    return "<absent>";
  }
  std::size_t header_count(std::string_view name) const {
    std::size_t count = 0;
    for (const auto& h : headers) count += lower(h.name) == lower(name);
    return count;
  }
  static std::string lower(std::string_view text) {
    std::string out;
    for (char c : text) out.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    return out;
  }
};

// "STATUS TYPE: MESSAGE", plus " [ERROR_CODE]" when error.details carries one, after checking the shape of
// API.md §7.4: {type: "error", error: {type, message[, details]}, request_id} with request_id equal to the
// request-id header, and Content-Type: application/json.
inline std::string refusal(const Response& r) {
  CHECK(r.header("Content-Type") == "application/json");
  const json& body = r.json_body;
  if (!body.is_object() || !body.contains("error") || !body["error"].is_object()) {
    FAIL_CHECK("not an error body: " << r.body);
    return fmt::format("{} <not an error body>", r.status);
  }
  CHECK(body.size() == 3);
  CHECK(body.value("type", "") == "error");
  CHECK(body.value("request_id", "") == r.header("request-id"));
  const json& error = body["error"];
  std::string out = fmt::format("{} {}: {}", r.status, error.value("type", "<no type>"), error.value("message", "<no message>"));
  if (error.contains("details")) {
    CHECK(error.size() == 3);
    out += fmt::format(" [{}]", error["details"].value("error_code", "<no error_code>"));
  } else {
    CHECK(error.size() == 2);
  }
  return out;
}

// "400 invalid_request_error: MESSAGE", the usual refusal.
inline std::string bad(std::string_view message) { return fmt::format("400 {}: {}", kInvalid, message); }

class ApiFixture {
 public:
  static constexpr std::string_view kKey = "ak_test_primary";
  static constexpr std::string_view kSecondKey = "ak_test_secondary";
  static constexpr std::string_view kStrongSecret = "sk-test-4f9c2a7e1b8d3065";

  ApiFixture() : ApiFixture(CredentialSettings{}) {}
  explicit ApiFixture(CredentialSettings credentials)
      : store_(store::Store::open(store::Options{dir.path() / "airlock.db", random_master_key(), clock.clock(), "test key"})),
        api(*store_, ApiKeys({std::string(kKey), std::string(kSecondKey)}), log, runtime, {}, credentials) {}

  store::Store& store() { return *store_; }

  // A request with the API key as a Bearer token (unless `headers` already carry auth or `authenticate` is
  // false).
  Response request(std::string method, std::string target, std::string body = {},
                   std::vector<http1::Header> headers = {}, bool authenticate = true) {
    http1::RequestHead head;
    head.method = std::move(method);
    head.target = std::move(target);
    if (authenticate) head.headers.fields.push_back({"Authorization", fmt::format("Bearer {}", kKey)});
    for (auto& h : headers) head.headers.fields.push_back(std::move(h));
    if (!body.empty()) {
      head.headers.fields.push_back({"Content-Type", "application/json"});
      head.content_length = body.size();
    }
    HttpReply reply = api.handle(head, std::move(body));
    Response out{reply.status, std::move(reply.headers), std::move(reply.body), nullptr};
    out.json_body = json::parse(out.body, nullptr, /*allow_exceptions=*/false);
    CHECK_MESSAGE(out.header_count("request-id") == 1, "request-id header missing or repeated");
    CHECK(out.header("request-id").starts_with("req_"));
    return out;
  }
  Response get(std::string target) { return request("GET", std::move(target)); }
  Response post(std::string target, std::string body = {}) { return request("POST", std::move(target), std::move(body)); }
  Response post(std::string target, const json& body) { return request("POST", std::move(target), body.dump()); }
  Response del(std::string target) { return request("DELETE", std::move(target)); }

  // A request that must succeed with 200; returns its JSON body.
  json ok(std::string method, std::string target, std::string body = {}) {
    Response r = request(method, target, std::move(body));
    INFO(method, " ", target, " -> ", r.status, " ", r.body);
    REQUIRE(r.status == 200);
    REQUIRE(r.json_body.is_object());
    return r.json_body;
  }
  json ok_get(std::string target) { return ok("GET", std::move(target)); }
  json ok_post(std::string target, const json& body = json::object()) { return ok("POST", std::move(target), body.dump()); }

  std::string create_vault(std::string_view name = "Vault") {
    return ok_post("/v1/vaults", {{"display_name", name}})["id"].get<std::string>();
  }
  // An environment_variable credential limited to api.example.com. The default value passes the strength
  // rule (secret_strength.hpp), as every value a test stores must.
  json env_credential_body(std::string_view secret_name, std::string_view secret_value = kStrongSecret) {
    return {{"auth",
             {{"type", "environment_variable"},
              {"secret_name", secret_name},
              {"secret_value", secret_value},
              {"networking", {{"type", "limited"}, {"allowed_hosts", {"api.example.com"}}}}}}};
  }
  std::string create_env_credential(const std::string& vault_id, std::string_view secret_name,
                                    std::string_view secret_value = kStrongSecret) {
    return ok_post("/v1/vaults/" + vault_id + "/credentials", env_credential_body(secret_name, secret_value))["id"]
        .get<std::string>();
  }

  // Ids in a list response's data, in order.
  static std::vector<std::string> ids(const json& page) {
    std::vector<std::string> out;
    for (const json& item : page.at("data")) out.push_back(item.at("id").get<std::string>());
    return out;
  }

  void advance(std::chrono::system_clock::duration by) { clock.now += by; }

  TempDir dir;
  TestClock clock;

 private:
  std::unique_ptr<store::Store> store_;

 public:
  Logger log{LogLevel::error};
  // A runtime without harnesses: sessions are placed nowhere (none) unless a test configures one.
  boost::asio::io_context io;
  SessionRuntime runtime{io.get_executor(), *store_, RuntimeSettings{}, log};
  ControlApi api;
};

}  // namespace airlock::control::testing
