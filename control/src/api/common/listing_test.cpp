// List endpoints: limit bounds, cursor pages that cover every row once in a stable order (ties included),
// bad cursors, include_archived, and the created_at[gt|gte|lt|lte] filters sent percent-encoded.
#include <doctest/doctest.h>

#include <algorithm>
#include <set>
#include <string>

#include "api/common/listing.hpp"
#include "test_support.hpp"

namespace airlock::control {
namespace {

using testing::ApiFixture;
using testing::bad;
using testing::refusal;

// Every page of `base` (a target with a query, or without), following next_page; checks each page's size.
std::vector<std::string> all_pages(ApiFixture& f, const std::string& base, std::size_t limit, std::size_t* pages = nullptr) {
  std::vector<std::string> seen;
  std::string separator = base.find('?') == std::string::npos ? "?" : "&";
  std::string target = fmt::format("{}{}limit={}", base, separator, limit);
  std::size_t count = 0;
  for (;;) {
    json page = f.ok_get(target);
    ++count;
    REQUIRE(count < 50);
    for (const auto& id : ApiFixture::ids(page)) seen.push_back(id);
    CHECK(page["data"].size() <= limit);
    if (page["next_page"].is_null()) break;
    CHECK(page["data"].size() == limit);
    REQUIRE(page["next_page"].is_string());
    target = fmt::format("{}{}limit={}&page={}", base, separator, limit, page["next_page"].get<std::string>());
  }
  if (pages != nullptr) *pages = count;
  return seen;
}

ApiRequest query_request(std::initializer_list<std::pair<const std::string, std::string>> query) {
  ApiRequest request;
  request.method = "GET";
  request.path = "/v1/vaults";
  request.query = std::multimap<std::string, std::string>(query);
  return request;
}

template <class F>
std::string refused(F&& f) {
  try {
    f();
  } catch (const ApiError& e) {
    return fmt::format("{} {}: {}", e.status(), e.type(), e.what());
  }
  return "<accepted>";
}

}  // namespace

TEST_CASE("list_query: defaults and parsed values") {
  store::ListQuery defaults = list_query(query_request({}));
  CHECK(defaults.limit == 20);
  CHECK_FALSE(defaults.after.has_value());
  CHECK(defaults.include_archived == false);
  CHECK_FALSE(defaults.created_gte.has_value());

  store::ListQuery parsed = list_query(query_request({{"limit", "7"},
                                                      {"include_archived", "true"},
                                                      {"created_at[gte]", "2026-01-01T00:00:00Z"},
                                                      {"created_at[lte]", "2026-01-02T03:04:05.5+02:00"},
                                                      {"created_at[gt]", "2026-01-01T00:00:00.1234567Z"},
                                                      {"created_at[lt]", "2026-12-31t23:59:59z"}}));
  CHECK(parsed.limit == 7);
  CHECK(parsed.include_archived == true);
  CHECK(parsed.created_gte == std::optional<std::string>("2026-01-01T00:00:00.000000Z"));
  CHECK(parsed.created_lte == std::optional<std::string>("2026-01-02T01:04:05.500000Z"));
  CHECK(parsed.created_gt == std::optional<std::string>("2026-01-01T00:00:00.123456Z"));
  CHECK(parsed.created_lt == std::optional<std::string>("2026-12-31T23:59:59.000000Z"));

  store::ListQuery custom = list_query(query_request({}), ListLimits{5, 10});
  CHECK(custom.limit == 5);
  CHECK(refused([] { list_query(query_request({{"limit", "11"}}), ListLimits{5, 10}); }) ==
        "400 invalid_request_error: limit: must be an integer from 1 to 10, got \"11\"");
}

TEST_CASE("list_query: the last value of a repeated key wins and an empty value is absent") {
  CHECK(list_query(query_request({{"limit", "3"}, {"limit", "4"}})).limit == 4);
  CHECK(list_query(query_request({{"limit", ""}})).limit == 20);
  CHECK_FALSE(list_query(query_request({{"page", ""}})).after.has_value());
  CHECK(list_query(query_request({{"include_archived", ""}})).include_archived == false);
}

TEST_CASE("encode_cursor round-trips through list_query") {
  std::string cursor = encode_cursor(store::Cursor{"2026-11-27T02:21:22.123456Z", "vlt_01abc"});
  CHECK(cursor.find_first_of("+/=") == std::string::npos);  // URL-safe, unpadded: no escaping needed in a query
  store::ListQuery query = list_query(query_request({{"page", cursor}}));
  REQUIRE(query.after.has_value());
  CHECK(query.after->created_at == "2026-11-27T02:21:22.123456Z");
  CHECK(query.after->id == "vlt_01abc");
}

TEST_CASE("list_query: limit bounds") {
  for (std::string_view value : {"0", "101", "-1", "abc", "5x", "1.5", " 5", "99999999999999999999999"}) {
    CAPTURE(value);
    CHECK(refused([&] { list_query(query_request({{"limit", std::string(value)}})); }) ==
          fmt::format("400 invalid_request_error: limit: must be an integer from 1 to 100, got \"{}\"", value));
  }
  CHECK(list_query(query_request({{"limit", "1"}})).limit == 1);
  CHECK(list_query(query_request({{"limit", "100"}})).limit == 100);
}

TEST_CASE("list endpoints: limit bounds over HTTP") {
  ApiFixture f;
  CHECK(refusal(f.get("/v1/vaults?limit=0")) == bad("limit: must be an integer from 1 to 100, got \"0\""));
  CHECK(refusal(f.get("/v1/vaults?limit=101")) == bad("limit: must be an integer from 1 to 100, got \"101\""));
  CHECK(refusal(f.get("/v1/agents?limit=ten")) == bad("limit: must be an integer from 1 to 100, got \"ten\""));
  CHECK(refusal(f.get("/v1/environments?limit=-3")) == bad("limit: must be an integer from 1 to 100, got \"-3\""));
  CHECK(f.get("/v1/vaults?limit=100").status == 200);
  CHECK(f.get("/v1/vaults?limit=1").status == 200);
  CHECK(f.get("/v1/vaults?limit=").status == 200);  // the SDK's explicit null
}

TEST_CASE("list endpoints: the default page is 20 and next_page is null on the last page") {
  ApiFixture f;
  for (int i = 0; i < 21; ++i) {
    f.create_vault(fmt::format("v{}", i));
    f.advance(std::chrono::milliseconds(1));
  }
  json first = f.ok_get("/v1/vaults");
  CHECK(first["data"].size() == 20);
  REQUIRE(first["next_page"].is_string());
  json second = f.ok_get("/v1/vaults?page=" + first["next_page"].get<std::string>());
  CHECK(second["data"].size() == 1);
  CHECK(second["next_page"].is_null());
  CHECK(second["data"][0]["display_name"] == "v0");  // newest first: the oldest is last
  CHECK(first["data"][0]["display_name"] == "v20");

  json exact = f.ok_get("/v1/vaults?limit=21");
  CHECK(exact["data"].size() == 21);
  CHECK(exact["next_page"].is_null());  // no empty trailing page
}

TEST_CASE("list endpoints: cursor pages cover every row once newest first with ties broken by id") {
  ApiFixture f;
  struct Row {
    std::string created_at;
    std::string id;
  };
  std::vector<Row> rows;
  for (int i = 0; i < 4; ++i) {
    json vault = f.ok_post("/v1/vaults", {{"display_name", fmt::format("distinct {}", i)}});
    rows.push_back({vault["created_at"], vault["id"]});
    f.advance(std::chrono::seconds(1));
  }
  for (int i = 0; i < 3; ++i) {  // three at the same instant
    json vault = f.ok_post("/v1/vaults", {{"display_name", fmt::format("tied {}", i)}});
    rows.push_back({vault["created_at"], vault["id"]});
  }
  std::sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) {
    return std::tie(a.created_at, a.id) > std::tie(b.created_at, b.id);
  });
  std::vector<std::string> expected;
  for (const Row& row : rows) expected.push_back(row.id);

  for (std::size_t limit : {1, 2, 3, 7}) {
    CAPTURE(limit);
    std::size_t pages = 0;
    CHECK(all_pages(f, "/v1/vaults", limit, &pages) == expected);
    CHECK(pages == (expected.size() + limit - 1) / limit);
  }
}

TEST_CASE("list endpoints: a cursor stays valid when newer rows are added") {
  ApiFixture f;
  for (int i = 0; i < 4; ++i) {
    f.create_vault(fmt::format("v{}", i));
    f.advance(std::chrono::seconds(1));
  }
  json first = f.ok_get("/v1/vaults?limit=2");
  CHECK(ApiFixture::ids(first).size() == 2);
  f.create_vault("newer");  // inserted between the two page requests
  json second = f.ok_get("/v1/vaults?limit=2&page=" + first["next_page"].get<std::string>());
  std::vector<std::string> names;
  for (const json& vault : second["data"]) names.push_back(vault["display_name"]);
  CHECK(names == std::vector<std::string>{"v1", "v0"});
  CHECK(second["next_page"].is_null());
}

TEST_CASE("list endpoints: a cursor the server did not issue is 400") {
  ApiFixture f;
  const std::string message = "page: not a cursor this server issued; pass next_page from a previous list response";
  CHECK(refusal(f.get("/v1/vaults?page=not-a-cursor!")) == bad(message));
  CHECK(refusal(f.get("/v1/vaults?page=%2B%2B%2B")) == bad(message));
  // Valid base64 without the separator inside.
  std::string no_separator = "YWJj";  // "abc"
  CHECK(refusal(f.get("/v1/vaults?page=" + no_separator)) == bad(message));
  CHECK(refusal(f.get("/v1/agents?page=zz")) == bad(message));
  CHECK(f.get("/v1/vaults?page=").status == 200);  // empty means absent
}

TEST_CASE("list endpoints: include_archived") {
  ApiFixture f;
  std::string active = f.create_vault("active");
  f.advance(std::chrono::seconds(1));
  std::string archived = f.create_vault("archived");
  f.ok_post("/v1/vaults/" + archived + "/archive");

  CHECK(ApiFixture::ids(f.ok_get("/v1/vaults")) == std::vector<std::string>{active});
  CHECK(ApiFixture::ids(f.ok_get("/v1/vaults?include_archived=false")) == std::vector<std::string>{active});
  CHECK(ApiFixture::ids(f.ok_get("/v1/vaults?include_archived=true")) == std::vector<std::string>{archived, active});
  CHECK(refusal(f.get("/v1/vaults?include_archived=yes")) == bad("include_archived: expected true or false, got \"yes\""));
  CHECK(refusal(f.get("/v1/vaults?include_archived=1")) == bad("include_archived: expected true or false, got \"1\""));
  CHECK(refusal(f.get("/v1/vaults?include_archived=TRUE")) == bad("include_archived: expected true or false, got \"TRUE\""));
}

TEST_CASE("list endpoints: created_at filters are inclusive or exclusive as named") {
  ApiFixture f;
  using namespace std::chrono_literals;
  std::vector<std::string> ids;  // oldest first, one second apart starting at the test epoch
  std::vector<std::string> times;
  for (int i = 0; i < 4; ++i) {
    json agent = f.ok_post("/v1/agents", {{"name", fmt::format("a{}", i)}, {"model", "claude-opus-5-5"}});
    ids.push_back(agent["id"]);
    times.push_back(agent["created_at"]);
    f.advance(1s);
  }
  CHECK(times[1] == "2026-11-27T02:21:23.123456Z");

  // Keys as the SDK sends them: brackets and colons percent-encoded.
  CHECK(ApiFixture::ids(f.ok_get("/v1/agents?created_at%5Bgte%5D=2026-11-27T02%3A21%3A23.123456Z")) ==
        std::vector<std::string>{ids[3], ids[2], ids[1]});
  CHECK(ApiFixture::ids(f.ok_get("/v1/agents?created_at%5Blte%5D=2026-11-27T02%3A21%3A23.123456Z")) ==
        std::vector<std::string>{ids[1], ids[0]});
  CHECK(ApiFixture::ids(f.ok_get("/v1/agents?created_at%5Bgt%5D=2026-11-27T02%3A21%3A23.123456Z")) ==
        std::vector<std::string>{ids[3], ids[2]});
  CHECK(ApiFixture::ids(f.ok_get("/v1/agents?created_at%5Blt%5D=2026-11-27T02%3A21%3A23.123456Z")) ==
        std::vector<std::string>{ids[0]});
  // Both bounds; unencoded brackets work as well; an offset is converted to UTC.
  CHECK(ApiFixture::ids(f.ok_get("/v1/agents?created_at[gte]=2026-11-27T02:21:23Z&created_at[lte]=2026-11-27T04:21:24.5%2B02:00")) ==
        std::vector<std::string>{ids[2], ids[1]});
  // Filters combine with pagination: the cursor request repeats the same query.
  CHECK(all_pages(f, "/v1/agents?created_at%5Bgte%5D=2026-11-27T02%3A21%3A23Z", 1) ==
        std::vector<std::string>{ids[3], ids[2], ids[1]});
  // Vaults and environments take them too.
  f.create_vault("late");
  CHECK(f.ok_get("/v1/vaults?created_at%5Blt%5D=2026-11-27T02%3A21%3A22Z")["data"].empty());
  CHECK(f.ok_get("/v1/vaults?created_at%5Bgte%5D=2026-11-27T02%3A21%3A22Z")["data"].size() == 1);
}

TEST_CASE("list endpoints: a created_at bound that is not RFC 3339 is 400") {
  ApiFixture f;
  CHECK(refusal(f.get("/v1/agents?created_at%5Bgte%5D=yesterday")) ==
        bad("created_at[gte]: \"yesterday\" is not an RFC 3339 timestamp; use e.g. 2026-01-01T00:00:00Z"));
  CHECK(refusal(f.get("/v1/vaults?created_at[lte]=2026-01-01")) ==
        bad("created_at[lte]: \"2026-01-01\" is not an RFC 3339 timestamp; use e.g. 2026-01-01T00:00:00Z"));
  // An unencoded '+' in a query is a space (form encoding), so the offset must be sent as %2B.
  CHECK(refusal(f.get("/v1/vaults?created_at[lt]=2026-01-01T00:00:00+02:00")) ==
        bad("created_at[lt]: \"2026-01-01T00:00:00 02:00\" is not an RFC 3339 timestamp; use e.g. 2026-01-01T00:00:00Z"));
}

}  // namespace airlock::control
