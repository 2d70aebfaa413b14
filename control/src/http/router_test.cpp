// Router: literal and {param} segments, 404 for an unknown path, 405 with an Allow header that lists every
// method of the matching path, and exact segment matching (no trailing-slash leniency).
#include <doctest/doctest.h>

#include <string>

#include "http/router.hpp"
#include "test_support.hpp"

namespace airlock::control {
namespace {

Handler marker(std::string name) {
  return [name = std::move(name)](ApiRequest&) { return Reply{200, json(name), {}}; };
}

Router sample_router() {
  Router router;
  router.add("POST", "/v1/vaults", marker("create"));
  router.add("GET", "/v1/vaults", marker("list"));
  router.add("GET", "/v1/vaults/{vault_id}", marker("get"));
  router.add("POST", "/v1/vaults/{vault_id}", marker("update"));
  router.add("DELETE", "/v1/vaults/{vault_id}", marker("delete"));
  router.add("POST", "/v1/vaults/{vault_id}/archive", marker("archive"));
  router.add("GET", "/v1/vaults/{vault_id}/credentials/{credential_id}", marker("get credential"));
  return router;
}

ApiRequest request_for(std::string method, std::string path) {
  ApiRequest request;
  request.method = std::move(method);
  request.path = std::move(path);
  return request;
}

// Which handler the router picked.
std::string routed(const Router& router, ApiRequest& request) {
  return router.match(request).handler(request).body.get<std::string>();
}

// The ApiError that match() throws.
ApiError match_error(const Router& router, std::string method, std::string path) {
  ApiRequest request = request_for(std::move(method), std::move(path));
  try {
    router.match(request);
  } catch (const ApiError& e) {
    return e;
  }
  FAIL("the route matched");
  return ApiError(0, "", "");
}

}  // namespace

TEST_CASE("router: literal routes and parameters") {
  Router router = sample_router();
  ApiRequest list = request_for("GET", "/v1/vaults");
  CHECK(routed(router, list) == "list");
  CHECK(list.params.empty());

  ApiRequest create = request_for("POST", "/v1/vaults");
  CHECK(routed(router, create) == "create");

  ApiRequest get = request_for("GET", "/v1/vaults/vlt_123");
  CHECK(routed(router, get) == "get");
  CHECK(get.param("vault_id") == "vlt_123");

  ApiRequest archive = request_for("POST", "/v1/vaults/vlt_9/archive");
  CHECK(routed(router, archive) == "archive");
  CHECK(archive.params.size() == 1);
  CHECK(archive.param("vault_id") == "vlt_9");

  ApiRequest credential = request_for("GET", "/v1/vaults/vlt_1/credentials/vcrd_2");
  CHECK(routed(router, credential) == "get credential");
  CHECK(credential.param("vault_id") == "vlt_1");
  CHECK(credential.param("credential_id") == "vcrd_2");
}

TEST_CASE("router: an unknown path is 404 with the method and path") {
  Router router = sample_router();
  ApiError error = match_error(router, "GET", "/v1/nothing");
  CHECK(error.status() == 404);
  CHECK(error.type() == "not_found_error");
  CHECK(std::string(error.what()) == "no route for GET /v1/nothing; see the API reference for the endpoints Airlock serves");
  CHECK(error.headers.empty());

  CHECK(match_error(router, "GET", "/v1/vaults/vlt_1/unknown").status() == 404);
  CHECK(match_error(router, "GET", "/").status() == 404);
  CHECK(match_error(router, "GET", "").status() == 404);
  CHECK(match_error(router, "GET", "/v1/vaults/vlt_1/credentials/vcrd_1/extra").status() == 404);
}

TEST_CASE("router: a known path with another method is 405 listing every method for that path") {
  Router router = sample_router();
  ApiError item = match_error(router, "PUT", "/v1/vaults/vlt_1");
  CHECK(item.status() == 405);
  CHECK(item.type() == "invalid_request_error");
  CHECK(std::string(item.what()) == "method PUT is not allowed on /v1/vaults/vlt_1; allowed: GET, POST, DELETE");
  REQUIRE(item.headers.size() == 1);
  CHECK(item.headers[0].name == "Allow");
  CHECK(item.headers[0].value == "GET, POST, DELETE");

  ApiError collection = match_error(router, "DELETE", "/v1/vaults");
  CHECK(collection.status() == 405);
  REQUIRE(collection.headers.size() == 1);
  CHECK(collection.headers[0].value == "POST, GET");

  ApiError archive = match_error(router, "GET", "/v1/vaults/vlt_1/archive");
  REQUIRE(archive.headers.size() == 1);
  CHECK(archive.headers[0].value == "POST");

  // Methods are case-sensitive tokens.
  ApiError lower = match_error(router, "get", "/v1/vaults");
  CHECK(lower.status() == 405);
}

TEST_CASE("router: a trailing slash or an empty segment is a different path") {
  Router router = sample_router();
  // "/v1/vaults/" has an empty third segment: not the collection, and an empty id is no id.
  ApiError trailing = match_error(router, "GET", "/v1/vaults/");
  CHECK(trailing.status() == 404);
  CHECK(std::string(trailing.what()) == "no route for GET /v1/vaults/; see the API reference for the endpoints Airlock serves");
  CHECK(match_error(router, "GET", "/v1/vaults/vlt_1/").status() == 404);
  CHECK(match_error(router, "POST", "/v1/vaults//archive").status() == 404);
  CHECK(match_error(router, "GET", "/v1//vaults").status() == 404);
}

}  // namespace airlock::control
