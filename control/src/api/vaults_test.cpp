// Vaults over the API (API.md §1): exact objects for create, retrieve, update, list, archive and delete,
// and the refusals with their messages.
#include <doctest/doctest.h>

#include <string>

#include "test_support.hpp"

namespace airlock::control {
namespace {

using testing::ApiFixture;
using testing::bad;
using testing::refusal;

std::string repeat(std::string_view unit, std::size_t n) {
  std::string out;
  for (std::size_t i = 0; i < n; ++i) out += unit;
  return out;
}

}  // namespace

TEST_CASE("vaults: create returns the full object") {
  ApiFixture f;
  json vault = f.ok_post("/v1/vaults", {{"display_name", "Alice"}, {"metadata", {{"external_user_id", "usr_abc123"}}}});
  std::string id = vault["id"];
  CHECK(id.starts_with("vlt_01"));
  CHECK(id.size() == 4 + 24);
  const std::string now = f.clock.text();
  CHECK(vault == json{{"id", id},
                      {"type", "vault"},
                      {"display_name", "Alice"},
                      {"metadata", {{"external_user_id", "usr_abc123"}}},
                      {"created_at", now},
                      {"updated_at", now},
                      {"archived_at", nullptr}});
  // Metadata is always present.
  json bare = f.ok_post("/v1/vaults", {{"display_name", "Bob"}});
  CHECK(bare["metadata"] == json::object());
  json null_metadata = f.ok_post("/v1/vaults", {{"display_name", "Carol"}, {"metadata", nullptr}});
  CHECK(null_metadata["metadata"] == json::object());
}

TEST_CASE("vaults: retrieve returns what create returned") {
  ApiFixture f;
  json created = f.ok_post("/v1/vaults", {{"display_name", "Alice"}});
  f.advance(std::chrono::seconds(3));
  CHECK(f.ok_get("/v1/vaults/" + created["id"].get<std::string>()) == created);
}

TEST_CASE("vaults: create refusals") {
  ApiFixture f;
  CHECK(refusal(f.post("/v1/vaults")) == bad("display_name: required field is missing"));
  CHECK(refusal(f.post("/v1/vaults", json{{"display_name", ""}})) == bad("display_name: must not be empty"));
  CHECK(refusal(f.post("/v1/vaults", json{{"display_name", nullptr}})) == bad("display_name: expected a string, got null"));
  CHECK(refusal(f.post("/v1/vaults", json{{"display_name", 7}})) == bad("display_name: expected a string, got a number"));
  CHECK(refusal(f.post("/v1/vaults", json{{"display_name", std::string(256, 'x')}})) ==
        bad("display_name: must be at most 255 characters (got 256)"));
  CHECK(refusal(f.post("/v1/vaults", json{{"display_name", "x"}, {"name", "y"}})) ==
        bad("name: unknown field; accepted fields here: display_name, metadata"));
  CHECK(refusal(f.post("/v1/vaults", json{{"display_name", "x"}, {"metadata", {{"k", 1}}}})) ==
        bad("metadata.k: metadata values must be strings, got a number"));
  CHECK(refusal(f.post("/v1/vaults", std::string("{\"display_name\":"))) ==
        bad("body: malformed JSON at byte 17; send a JSON object"));
  CHECK(refusal(f.post("/v1/vaults", std::string("[]"))) == bad("body: expected a JSON object, got an array"));
  CHECK(f.ok_get("/v1/vaults")["data"].empty());
}

TEST_CASE("vaults: display_name length is in code points") {
  ApiFixture f;
  std::string name = repeat("\xE2\x82\xAC", 255);  // 765 bytes
  CHECK(f.ok_post("/v1/vaults", {{"display_name", name}})["display_name"] == name);
  CHECK(refusal(f.post("/v1/vaults", json{{"display_name", repeat("\xE2\x82\xAC", 256)}})) ==
        bad("display_name: must be at most 255 characters (got 256)"));
}

TEST_CASE("vaults: metadata limits on create") {
  ApiFixture f;
  json sixteen = json::object();
  for (int i = 0; i < 16; ++i) sixteen[fmt::format("key{}", i)] = std::string(512, 'v');
  sixteen["key0"] = "";
  sixteen[std::string(64, 'k')] = "v";
  sixteen.erase("key15");
  CHECK(f.ok_post("/v1/vaults", {{"display_name", "full"}, {"metadata", sixteen}})["metadata"] == sixteen);

  json seventeen = sixteen;
  seventeen["extra"] = "v";
  CHECK(refusal(f.post("/v1/vaults", json{{"display_name", "x"}, {"metadata", seventeen}})) ==
        bad("metadata: at most 16 metadata pairs are allowed (got 17)"));
  CHECK(refusal(f.post("/v1/vaults", json{{"display_name", "x"}, {"metadata", {{std::string(65, 'k'), "v"}}}})) ==
        bad(fmt::format("metadata.{}: metadata keys must be at most 64 characters", std::string(65, 'k'))));
  CHECK(refusal(f.post("/v1/vaults", json{{"display_name", "x"}, {"metadata", {{"k", std::string(513, 'v')}}}})) ==
        bad("metadata.k: metadata values must be at most 512 characters"));
}

TEST_CASE("vaults: update patches display_name and metadata") {
  ApiFixture f;
  json created = f.ok_post("/v1/vaults", {{"display_name", "Alice"}, {"metadata", {{"a", "1"}, {"b", "2"}}}});
  std::string id = created["id"];
  f.advance(std::chrono::seconds(10));

  json updated = f.ok_post("/v1/vaults/" + id, {{"display_name", "Alice B"}, {"metadata", {{"a", nullptr}, {"c", "3"}}}});
  CHECK(updated == json{{"id", id},
                        {"type", "vault"},
                        {"display_name", "Alice B"},
                        {"metadata", {{"b", "2"}, {"c", "3"}}},
                        {"created_at", created["created_at"]},
                        {"updated_at", f.clock.text()},
                        {"archived_at", nullptr}});
  CHECK(f.ok_get("/v1/vaults/" + id) == updated);

  // null or omitted: keep (API.md §9).
  json kept = f.ok_post("/v1/vaults/" + id, {{"display_name", nullptr}, {"metadata", nullptr}});
  CHECK(kept["display_name"] == "Alice B");
  CHECK(kept["metadata"] == json{{"b", "2"}, {"c", "3"}});
  CHECK(f.ok_post("/v1/vaults/" + id)["display_name"] == "Alice B");  // empty body
}

TEST_CASE("vaults: update refusals") {
  ApiFixture f;
  json created = f.ok_post("/v1/vaults", {{"display_name", "Alice"}, {"metadata", {{"k", "v"}}}});
  std::string id = created["id"];
  CHECK(refusal(f.post("/v1/vaults/" + id, json{{"display_name", ""}})) == bad("display_name: must not be empty"));
  CHECK(refusal(f.post("/v1/vaults/" + id, json{{"archived_at", "now"}})) ==
        bad("archived_at: unknown field; accepted fields here: display_name, metadata"));
  json full = json::object();
  for (int i = 0; i < 16; ++i) full[fmt::format("n{}", i)] = "v";
  CHECK(refusal(f.post("/v1/vaults/" + id, json{{"metadata", full}})) ==
        bad("metadata: at most 16 metadata pairs are allowed (got 17)"));
  CHECK(refusal(f.post("/v1/vaults/vlt_missing", json{{"display_name", "x"}})) ==
        "404 not_found_error: vault vlt_missing was not found");
  CHECK(f.ok_get("/v1/vaults/" + id) == created);  // nothing changed
}

TEST_CASE("vaults: archive sets archived_at and is idempotent") {
  ApiFixture f;
  json created = f.ok_post("/v1/vaults", {{"display_name", "Alice"}});
  std::string id = created["id"];
  f.advance(std::chrono::minutes(1));
  const std::string archived_at = f.clock.text();
  json archived = f.ok_post("/v1/vaults/" + id + "/archive");
  json expected = created;
  expected["archived_at"] = archived_at;
  expected["updated_at"] = archived_at;
  CHECK(archived == expected);

  f.advance(std::chrono::minutes(1));
  CHECK(f.ok_post("/v1/vaults/" + id + "/archive") == expected);  // archiving again changes nothing
  CHECK(f.ok_get("/v1/vaults/" + id) == expected);
  CHECK(refusal(f.post("/v1/vaults/vlt_missing/archive")) == "404 not_found_error: vault vlt_missing was not found");
}

TEST_CASE("vaults: list returns objects newest first") {
  ApiFixture f;
  json a = f.ok_post("/v1/vaults", {{"display_name", "A"}});
  f.advance(std::chrono::seconds(1));
  json b = f.ok_post("/v1/vaults", {{"display_name", "B"}});
  CHECK(f.ok_get("/v1/vaults") == json{{"data", {b, a}}, {"next_page", nullptr}});
}

TEST_CASE("vaults: delete returns the deleted marker and removes the credentials") {
  ApiFixture f;
  std::string id = f.create_vault();
  std::string credential = f.create_env_credential(id, "API_KEY");
  json deleted = f.ok("DELETE", "/v1/vaults/" + id);
  CHECK(deleted == json{{"id", id}, {"type", "vault_deleted"}});
  CHECK(refusal(f.get("/v1/vaults/" + id)) == fmt::format("404 not_found_error: vault {} was not found", id));
  CHECK(refusal(f.del("/v1/vaults/" + id)) == fmt::format("404 not_found_error: vault {} was not found", id));
  CHECK(refusal(f.get("/v1/vaults/" + id + "/credentials/" + credential)).starts_with("404 not_found_error: "));
  CHECK(f.ok_get("/v1/vaults?include_archived=true")["data"].empty());
  auto active = f.store().active_credentials();
  REQUIRE(active.has_value());
  CHECK(active.value().empty());
}

TEST_CASE("vaults: an archived vault can be deleted") {
  ApiFixture f;
  std::string id = f.create_vault();
  f.ok_post("/v1/vaults/" + id + "/archive");
  CHECK(f.ok("DELETE", "/v1/vaults/" + id) == json{{"id", id}, {"type", "vault_deleted"}});
}

TEST_CASE("vaults: unknown ids are 404 naming the id") {
  ApiFixture f;
  CHECK(refusal(f.get("/v1/vaults/vlt_nope")) == "404 not_found_error: vault vlt_nope was not found");
  CHECK(refusal(f.get("/v1/vaults/vlt%20nope")) == "404 not_found_error: vault vlt nope was not found");
}

}  // namespace airlock::control
