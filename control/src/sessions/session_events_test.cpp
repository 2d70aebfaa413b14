// Session events (API.md S7 list, API.md S8 send) and the egress audit list (API.md §10) over the API.
#include <doctest/doctest.h>

#include <string>

#include "test_support.hpp"

namespace airlock::control {
namespace {

using namespace std::chrono_literals;
using testing::ApiFixture;
using testing::bad;
using testing::refusal;
using testing::Response;

struct EventsFixture : ApiFixture {
  std::string agent = ok_post("/v1/agents", {{"name", "bot"}, {"model", "claude-opus-5-5"}})["id"];
  std::string environment = ok_post("/v1/environments", {{"name", "env"}})["id"];
  std::string session = ok_post("/v1/sessions", {{"agent", agent}, {"environment_id", environment}})["id"];
  std::string events() const { return "/v1/sessions/" + session + "/events"; }
  std::string egress() const { return "/v1/sessions/" + session + "/egress"; }

  json send(const json& events_body) { return ok_post(events(), {{"events", events_body}}); }
  std::string send_refusal(const json& events_body) { return refusal(post(events(), json{{"events", events_body}})); }
};

json text_message(const std::string& text) {
  return {{"type", "user.message"}, {"content", {{{"type", "text"}, {"text", text}}}}};
}

std::vector<std::string> types_of(const json& page) {
  std::vector<std::string> out;
  for (const json& event : page["data"]) out.push_back(event["type"]);
  return out;
}

store::EgressRow egress_row(const std::string& session, const std::string& path, const std::string& decision = "allowed") {
  store::EgressRow row;
  row.session_id = session;
  row.created_at = "2026-11-27T02:21:30.000000Z";
  row.method = "GET";
  row.host = "api.example.com";
  row.port = 443;
  row.path = path;
  row.status = decision == "allowed" ? 200 : 403;
  row.bytes_up = 512;
  row.bytes_down = 2048;
  row.decision = decision;
  row.reason = decision == "allowed" ? "" : "host_not_allowed";
  row.credentials_doc = decision == "allowed"
                            ? R"([{"credential_id":"vcrd_01x","secret_name":"METRICS_API_TOKEN","location":"header"}])"
                            : "[]";
  return row;
}

}  // namespace

TEST_CASE("events: send returns the stored events, each accepted type keeps its fields") {
  EventsFixture f;
  json sent = f.send({text_message("hello"),
                      {{"type", "user.interrupt"}},
                      {{"type", "user.tool_confirmation"}, {"result", "deny"}, {"tool_use_id", "toolu_1"}, {"deny_message", "no"}},
                      {{"type", "user.custom_tool_result"}, {"custom_tool_use_id", "ctu_1"}, {"content", {{{"type", "text"}, {"text", "42"}}}}, {"is_error", false}},
                      {{"type", "user.tool_result"}, {"tool_use_id", "toolu_2"}, {"is_error", true}},
                      {{"type", "system.message"}, {"content", {{{"type", "text"}, {"text", "heads up"}}}}},
                      {{"type", "user.define_outcome"}, {"description", "d"}, {"rubric", {{"type", "file"}, {"file_id", "file_01r"}}}, {"max_iterations", 5}}});
  REQUIRE(sent.size() == 1);
  json data = sent["data"];
  REQUIRE(data.size() == 7);
  const std::string now = f.clock.text();
  for (const json& event : data) {
    CHECK(event["id"].get<std::string>().starts_with("sevt_01"));
    CHECK(event["processed_at"] == now);
  }
  CHECK(data[0] == json{{"id", data[0]["id"]}, {"type", "user.message"}, {"processed_at", now}, {"content", {{{"type", "text"}, {"text", "hello"}}}}});
  CHECK(data[1] == json{{"id", data[1]["id"]}, {"type", "user.interrupt"}, {"processed_at", now}});
  CHECK(data[2] == json{{"id", data[2]["id"]}, {"type", "user.tool_confirmation"}, {"processed_at", now}, {"result", "deny"},
                        {"tool_use_id", "toolu_1"}, {"deny_message", "no"}});
  CHECK(data[3] == json{{"id", data[3]["id"]}, {"type", "user.custom_tool_result"}, {"processed_at", now},
                        {"custom_tool_use_id", "ctu_1"}, {"content", {{{"type", "text"}, {"text", "42"}}}}, {"is_error", false}});
  CHECK(data[4] == json{{"id", data[4]["id"]}, {"type", "user.tool_result"}, {"processed_at", now}, {"tool_use_id", "toolu_2"}, {"is_error", true}});
  CHECK(data[5]["content"] == json{{{"type", "text"}, {"text", "heads up"}}});
  CHECK(data[6]["max_iterations"] == 5);
  CHECK(data[6]["rubric"] == json{{"type", "file"}, {"file_id", "file_01r"}});
  CHECK(data[6]["outcome_id"].get<std::string>().starts_with("outc_01"));

  CHECK(f.ok_get(f.events() + "?limit=1000")["data"] == data);
}

TEST_CASE("events: send refuses other types, bad fields, empty lists, unknown and archived sessions") {
  EventsFixture f;
  CHECK(f.send_refusal({{{"type", "agent.message"}, {"content", json::array()}}}) ==
        bad("events[0].type: must be one of user.message, user.interrupt, user.tool_confirmation, user.custom_tool_result, "
            "user.define_outcome, user.tool_result, system.message; got \"agent.message\""));
  CHECK(f.send_refusal(json::array()) == bad("events: at least 1 event is required"));
  CHECK(f.send_refusal({text_message("a"), {{"type", "user.tool_confirmation"}, {"result", "maybe"}, {"tool_use_id", "t"}}}) ==
        bad("events[1].result: must be allow or deny, got \"maybe\""));
  CHECK(f.send_refusal({{{"type", "system.message"}, {"content", {{{"type", "image"}, {"source", json::object()}}}}}}) ==
        bad("events[0].content[0].type: must be \"text\""));
  CHECK(f.send_refusal({{{"type", "user.message"}, {"content", "hi"}}}) ==
        bad("events[0].content: expected an array of content blocks, got a string"));
  CHECK(f.send_refusal({{{"type", "user.message"}, {"content", {{{"type", "text"}, {"text", "x"}}}}, {"extra", 1}}}) ==
        bad("events[0].extra: unknown field; accepted fields here: type, content"));
  CHECK(refusal(f.post(f.events(), json{{"events", json::array({text_message("x")})}, {"other", 1}})) ==
        bad("other: unknown field; accepted fields here: events"));
  CHECK(refusal(f.post(f.events(), json::object())) == bad("events: required field is missing"));
  CHECK(f.ok_get(f.events())["data"].empty());  // nothing was stored

  CHECK(refusal(f.post("/v1/sessions/sesn_01nope/events", json{{"events", json::array({text_message("x")})}})) ==
        "404 not_found_error: session sesn_01nope was not found");
  f.ok_post("/v1/sessions/" + f.session + "/archive");
  CHECK(f.send_refusal(json::array({text_message("late")})) ==
        bad("session " + f.session + " is archived; archived sessions take no events"));
}

TEST_CASE("events: list pages oldest first, or newest first, filtered by type and processed_at") {
  EventsFixture f;
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) {
    json event = i % 2 == 0 ? text_message("m" + std::to_string(i))
                            : json{{"type", "system.message"}, {"content", {{{"type", "text"}, {"text", "s"}}}}};
    ids.push_back(f.send(json::array({event}))["data"][0]["id"]);
    f.advance(1s);
  }
  json first = f.ok_get(f.events() + "?limit=2");
  CHECK(ApiFixture::ids(first) == std::vector<std::string>{ids[0], ids[1]});
  REQUIRE(first["next_page"].is_string());
  json second = f.ok_get(f.events() + "?limit=2&page=" + first["next_page"].get<std::string>());
  CHECK(ApiFixture::ids(second) == std::vector<std::string>{ids[2], ids[3]});
  json third = f.ok_get(f.events() + "?limit=2&page=" + second["next_page"].get<std::string>());
  CHECK(ApiFixture::ids(third) == std::vector<std::string>{ids[4]});
  CHECK(third["next_page"] == nullptr);
  CHECK(third.size() == 2);  // {data, next_page}

  CHECK(ApiFixture::ids(f.ok_get(f.events() + "?order=desc&limit=3")) == std::vector<std::string>{ids[4], ids[3], ids[2]});
  CHECK(types_of(f.ok_get(f.events() + "?types%5B%5D=system.message")) == std::vector<std::string>{"system.message", "system.message"});
  CHECK(ApiFixture::ids(f.ok_get(f.events() + "?types%5B%5D=system.message&types%5B%5D=user.message")) == ids);
  CHECK(f.ok_get(f.events() + "?types=agent.message")["data"].empty());
  // created_at bounds compare processed_at: the events sent at +1 s and +2 s.
  CHECK(ApiFixture::ids(f.ok_get(f.events() + "?created_at%5Bgte%5D=2026-11-27T02:21:23.123456Z&created_at%5Blt%5D=2026-11-27T02:21:25.123456Z")) ==
        std::vector<std::string>{ids[1], ids[2]});
  CHECK(ApiFixture::ids(f.ok_get(f.events() + "?limit=1000")) == ids);

  CHECK(refusal(f.get(f.events() + "?limit=1001")) == bad("limit: must be an integer from 1 to 1000, got \"1001\""));
  CHECK(refusal(f.get(f.events() + "?order=sideways")) == bad("order: must be asc or desc, got \"sideways\""));
  CHECK(refusal(f.get(f.events() + "?page=bm9wZQ")) ==
        bad("page: not a cursor this server issued; pass next_page from a previous list response"));
  CHECK(refusal(f.get("/v1/sessions/sesn_01nope/events")) == "404 not_found_error: session sesn_01nope was not found");
}

TEST_CASE("events: the default page is 20") {
  EventsFixture f;
  f.send(json(std::vector<json>(25, text_message("x"))));
  json page = f.ok_get(f.events());
  CHECK(page["data"].size() == 20);
  CHECK(page["next_page"].is_string());
}

TEST_CASE("egress: the audit of a session, oldest first, in the shape of API.md §10") {
  EventsFixture f;
  std::string other = f.ok_post("/v1/sessions", {{"agent", f.agent}, {"environment_id", f.environment}})["id"];
  std::vector<store::EgressRow> rows;
  for (int i = 0; i < 4; ++i) rows.push_back(egress_row(f.session, "/v1/x" + std::to_string(i), i == 2 ? "denied" : "allowed"));
  rows[3].original_destination = "203.0.113.7:443";  // through a transparent listener
  rows.push_back(egress_row(other, "/elsewhere"));
  REQUIRE(f.store().record_egress(rows).has_value());

  json page = f.ok_get(f.egress());
  CHECK(page["next_page"] == nullptr);
  REQUIRE(page["data"].size() == 4);
  json first = page["data"][0];
  CHECK(first["id"].get<std::string>().starts_with("egr_01"));
  CHECK(first == json{{"type", "egress_event"},
                      {"id", first["id"]},
                      {"created_at", "2026-11-27T02:21:30.000000Z"},
                      {"method", "GET"},
                      {"host", "api.example.com"},
                      {"port", 443},
                      {"path", "/v1/x0"},
                      {"status", 200},
                      {"bytes_up", 512},
                      {"bytes_down", 2048},
                      {"decision", "allowed"},
                      {"reason", nullptr},
                      {"credentials", {{{"credential_id", "vcrd_01x"}, {"secret_name", "METRICS_API_TOKEN"}, {"location", "header"}}}},
                      {"original_destination", nullptr}});
  CHECK(page["data"][3]["original_destination"] == "203.0.113.7:443");
  json denied = page["data"][2];
  CHECK(denied["decision"] == "denied");
  CHECK(denied["reason"] == "host_not_allowed");
  CHECK(denied["status"] == 403);
  CHECK(denied["credentials"] == json::array());

  json one = f.ok_get(f.egress() + "?limit=3");
  CHECK(one["data"].size() == 3);
  REQUIRE(one["next_page"].is_string());
  json two = f.ok_get(f.egress() + "?limit=3&page=" + one["next_page"].get<std::string>());
  REQUIRE(two["data"].size() == 1);
  CHECK(two["data"][0]["path"] == "/v1/x3");
  CHECK(two["next_page"] == nullptr);

  CHECK(refusal(f.get(f.egress() + "?limit=1001")) == bad("limit: must be an integer from 1 to 1000, got \"1001\""));
  CHECK(refusal(f.get("/v1/sessions/sesn_01nope/egress")) == "404 not_found_error: session sesn_01nope was not found");
  CHECK(refusal(f.post(f.egress(), json::object())).starts_with("405 invalid_request_error: method POST is not allowed"));
}

TEST_CASE("egress: the default page is 100") {
  EventsFixture f;
  std::vector<store::EgressRow> rows(120, egress_row(f.session, "/p"));
  REQUIRE(f.store().record_egress(rows).has_value());
  json page = f.ok_get(f.egress());
  CHECK(page["data"].size() == 100);
  CHECK(page["next_page"].is_string());
  CHECK(f.ok_get(f.egress() + "?limit=1000")["data"].size() == 120);
}

}  // namespace airlock::control
