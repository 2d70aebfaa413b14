// Session events (API.md §6, API.md S7 list and API.md S8 send) and the egress audit (API.md §10, GET .../egress).
//
// An event is stored as its type plus a doc of its other fields; the store adds the id ("sevt_..."),
// processed_at and the order (seq). Clients send user.* and system.message events; a user.define_outcome
// gets an outcome_id assigned here. Both lists are PageCursor pages whose opaque cursor carries the
// last row's sequence number, so a cursor stays valid while new rows arrive.
#include <algorithm>
#include <charconv>

#include <fmt/format.h>

#include "api/common/fields.hpp"
#include "api/common/listing.hpp"
#include "api/resources.hpp"
#include "sessions/session_factory.hpp"

namespace airlock::control {
namespace {

constexpr std::size_t kSendMax = 100;
constexpr std::size_t kContentBlocksMax = 1000;
constexpr std::size_t kTextMax = 1000000;
constexpr std::size_t kIdMax = 256;
constexpr std::size_t kRubricMax = 262144;
constexpr std::size_t kTypesMax = 64;
constexpr int kMaxIterationsDefault = 3;
constexpr int kMaxIterationsMax = 20;

// Content blocks (text, image, document, search_result, redacted): the kinds the SDK sends. Text is
// checked; the other kinds are kept as given (their sources are the model's business, not Airlock's).
json take_content(const json& event, std::string_view path, bool required, bool text_only) {
  std::string field = join_path(path, "content");
  auto it = event.find("content");
  if (it == event.end() || it->is_null()) {
    if (required) bad_request(fmt::format("{}: required field is missing", field));
    return nullptr;
  }
  if (!it->is_array()) bad_request(fmt::format("{}: expected an array of content blocks, got {}", field, json_type_name(*it)));
  if (required && it->empty()) bad_request(fmt::format("{}: must hold at least one content block", field));
  if (it->size() > kContentBlocksMax) {
    bad_request(fmt::format("{}: at most {} content blocks are allowed (got {})", field, kContentBlocksMax, it->size()));
  }
  for (std::size_t i = 0; i < it->size(); ++i) {
    std::string item = index_path(field, i);
    const json& block = (*it)[i];
    if (!block.is_object()) bad_request(fmt::format("{}: expected a content block object, got {}", item, json_type_name(block)));
    std::string type = required_string(block, "type", item, 1, 32);
    if (type == "text") {
      reject_unknown_fields(block, {"type", "text", "cache_control", "citations"}, item);
      (void)required_string(block, "text", item, 0, kTextMax);
    } else if (text_only) {
      bad_request(fmt::format("{}.type: must be \"text\"", item));
    } else if (type != "image" && type != "document" && type != "search_result" && type != "redacted") {
      bad_request(fmt::format("{}.type: must be one of text, image, document, search_result, redacted; got \"{}\"", item, type));
    } else if (type != "redacted" && !block.contains("source") && type != "search_result") {
      bad_request(fmt::format("{}.source: required field is missing", item));
    }
  }
  return *it;
}

json take_rubric(const json& event, std::string_view path) {
  std::string field = join_path(path, "rubric");
  const json& rubric = required_object(event, "rubric", path);
  std::string type = required_string(rubric, "type", field, 1, 16);
  if (type == "text") {
    reject_unknown_fields(rubric, {"type", "content"}, field);
    return {{"type", "text"}, {"content", required_string(rubric, "content", field, 1, kRubricMax)}};
  }
  if (type == "file") {
    reject_unknown_fields(rubric, {"type", "file_id"}, field);
    return {{"type", "file"}, {"file_id", required_string(rubric, "file_id", field, 1, kIdMax)}};
  }
  bad_request(fmt::format("{}.type: must be text or file, got \"{}\"", field, type));
}

std::optional<bool> take_is_error(const json& event, std::string_view path) { return optional_bool(event, "is_error", path); }

// The sequence number a cursor of this file carries (encode_cursor of {timestamp, seq}).
std::optional<std::int64_t> cursor_seq(const store::ListQuery& query) {
  if (!query.after) return std::nullopt;
  const std::string& text = query.after->id;
  std::int64_t seq = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), seq);
  if (ec != std::errc{} || end != text.data() + text.size() || seq < 0) {
    bad_request("page: not a cursor this server issued; pass next_page from a previous list response");
  }
  return seq;
}

store::Session find_active_session(store::Store& store, const std::string& id) {
  store::Session session = take(store.get_session(id), "session", id);
  if (session.archived_at) bad_request(fmt::format("session {} is archived; archived sessions take no events", id));
  return session;
}

Reply list_events(store::Store& store, ApiRequest& request) {
  const std::string& id = request.param("session_id");
  store::ListQuery page = list_query(request, ListLimits{.default_limit = 20, .max_limit = 1000});
  store::EventQuery query;
  query.limit = page.limit;
  query.after_seq = cursor_seq(page);
  query.processed_gt = page.created_gt;
  query.processed_gte = page.created_gte;
  query.processed_lt = page.created_lt;
  query.processed_lte = page.created_lte;
  std::string order = request.query_value("order").value_or("asc");
  if (order != "asc" && order != "desc") bad_request(fmt::format("order: must be asc or desc, got \"{}\"", order));
  query.ascending = order == "asc";
  for (const std::string& type : request.query_values("types")) {
    if (type.empty()) continue;
    if (type.size() > 64) bad_request(fmt::format("types[{}]: not an event type", query.types.size()));
    query.types.push_back(type);
  }
  if (query.types.size() > kTypesMax) bad_request(fmt::format("types: at most {} types are allowed", kTypesMax));
  return Reply{200, page_json(take(store.list_events(id, query), "session", id), event_json), {}};
}

Reply send_events(store::Store& store, ApiRequest& request) {
  const std::string& id = request.param("session_id");
  store::Session session = find_active_session(store, id);
  json body = parse_body(request);
  reject_unknown_fields(body, {"events"}, "");
  if (!has(body, "events") || is_null(body, "events")) bad_request("events: required field is missing");
  json events = validate_events(body["events"], "events", kSendableEventTypes, 1, kSendMax);
  return Reply{200, {{"data", append_events(store, session.id, events)}}, {}};
}

json egress_json(const store::EgressEntry& entry) {
  json credentials = json::parse(entry.credentials_doc, nullptr, /*allow_exceptions=*/false);
  if (!credentials.is_array()) credentials = json::array();
  return {{"type", "egress_event"},
          {"id", entry.id},
          {"created_at", entry.created_at},
          {"method", entry.method},
          {"host", entry.host},
          {"port", entry.port},
          {"path", entry.path},
          {"status", entry.status},
          {"bytes_up", entry.bytes_up},
          {"bytes_down", entry.bytes_down},
          {"decision", entry.decision},
          {"reason", entry.reason.empty() ? json(nullptr) : json(entry.reason)},
          {"credentials", std::move(credentials)},
          {"original_destination",
           entry.original_destination.empty() ? json(nullptr) : json(entry.original_destination)}};
}

Reply list_egress(store::Store& store, ApiRequest& request) {
  const std::string& id = request.param("session_id");
  store::ListQuery page = list_query(request, ListLimits{.default_limit = 100, .max_limit = 1000});
  auto entries = store.list_egress(id, page.limit, cursor_seq(page));
  return Reply{200, page_json(take(std::move(entries), "session", id), egress_json), {}};
}

// Airlock's extension for the console's overview: the newest refusals of every session, among the newest
// kRefusalWindow exchanges, so the cost is bounded however large the audit grows.
constexpr std::size_t kRefusalWindow = 100'000;

Reply list_recent_refusals(store::Store& store, ApiRequest& request) {
  store::ListQuery page = list_query(request, ListLimits{.default_limit = 20, .max_limit = 100});
  auto entries = store.list_recent_refusals(page.limit, kRefusalWindow);
  if (!entries) throw std::system_error(entries.error());
  json data = json::array();
  for (const store::EgressEntry& entry : entries.value()) {
    json item = egress_json(entry);
    item["session_id"] = entry.session_id;
    data.push_back(std::move(item));
  }
  return Reply{200, {{"data", std::move(data)}, {"window", kRefusalWindow}}, {}};
}

}  // namespace

json validate_event(const json& event, std::string_view path, std::span<const std::string_view> allowed) {
  if (!event.is_object()) bad_request(fmt::format("{}: expected an event object, got {}", path, json_type_name(event)));
  std::string type = required_string(event, "type", path, 1, 64);
  if (std::find(allowed.begin(), allowed.end(), type) == allowed.end()) {
    std::string accepted;
    for (std::string_view a : allowed) accepted += fmt::format("{}{}", accepted.empty() ? "" : ", ", a);
    bad_request(fmt::format("{}.type: must be one of {}; got \"{}\"", path, accepted, type));
  }
  json out = {{"type", type}};
  if (type == "user.message") {
    reject_unknown_fields(event, {"type", "content"}, path);
    out["content"] = take_content(event, path, true, false);
  } else if (type == "system.message") {
    reject_unknown_fields(event, {"type", "content"}, path);
    out["content"] = take_content(event, path, true, true);
  } else if (type == "user.define_outcome") {
    reject_unknown_fields(event, {"type", "description", "rubric", "max_iterations"}, path);
    out["description"] = required_string(event, "description", path, 1, kTextMax);
    out["rubric"] = take_rubric(event, path);
    out["max_iterations"] = kMaxIterationsDefault;
    if (has(event, "max_iterations") && !is_null(event, "max_iterations")) {
      const json& value = event["max_iterations"];
      if (!value.is_number_integer() || value.get<long long>() < 1 || value.get<long long>() > kMaxIterationsMax) {
        bad_request(fmt::format("{}.max_iterations: expected an integer from 1 to {}", path, kMaxIterationsMax));
      }
      out["max_iterations"] = value.get<int>();
    }
  } else if (type == "user.interrupt") {
    reject_unknown_fields(event, {"type", "session_thread_id"}, path);
    if (auto thread = optional_string(event, "session_thread_id", path, 1, kIdMax)) out["session_thread_id"] = *thread;
  } else if (type == "user.tool_confirmation") {
    reject_unknown_fields(event, {"type", "result", "tool_use_id", "deny_message", "session_thread_id"}, path);
    std::string result = required_string(event, "result", path, 1, 16);
    if (result != "allow" && result != "deny") bad_request(fmt::format("{}.result: must be allow or deny, got \"{}\"", path, result));
    out["result"] = result;
    out["tool_use_id"] = required_string(event, "tool_use_id", path, 1, kIdMax);
    if (auto message = optional_string(event, "deny_message", path, 0, kTextMax)) out["deny_message"] = *message;
    if (auto thread = optional_string(event, "session_thread_id", path, 1, kIdMax)) out["session_thread_id"] = *thread;
  } else {  // user.custom_tool_result, user.tool_result
    const char* id_key = type == "user.custom_tool_result" ? "custom_tool_use_id" : "tool_use_id";
    reject_unknown_fields(event, {"type", id_key, "content", "is_error", "session_thread_id"}, path);
    out[id_key] = required_string(event, id_key, path, 1, kIdMax);
    if (json content = take_content(event, path, false, false); !content.is_null()) out["content"] = std::move(content);
    if (auto is_error = take_is_error(event, path)) out["is_error"] = *is_error;
    if (auto thread = optional_string(event, "session_thread_id", path, 1, kIdMax)) out["session_thread_id"] = *thread;
  }
  return out;
}

json validate_events(const json& events, std::string_view path, std::span<const std::string_view> allowed,
                     std::size_t min, std::size_t max) {
  if (events.is_null() && min == 0) return json::array();
  if (!events.is_array()) bad_request(fmt::format("{}: expected an array of events, got {}", path, json_type_name(events)));
  if (events.size() < min) bad_request(fmt::format("{}: at least {} event{} required", path, min, min == 1 ? " is" : "s are"));
  if (events.size() > max) bad_request(fmt::format("{}: at most {} events are allowed (got {})", path, max, events.size()));
  json out = json::array();
  for (std::size_t i = 0; i < events.size(); ++i) out.push_back(validate_event(events[i], index_path(path, i), allowed));
  return out;
}

json event_json(const store::Event& event) {
  json out = parse_doc(event.doc);
  out["id"] = event.id;
  out["type"] = event.type;
  out["processed_at"] = event.processed_at;
  return out;
}

json append_events(store::Store& store, const std::string& session_id, const json& events) {
  std::vector<store::NewEvent> rows;
  for (const json& event : events) {
    json doc = event;
    std::string type = doc["type"].get<std::string>();
    doc.erase("type");
    std::string id;  // only a harness's events carry one (harness_output.hpp); clients' are validated without
    if (auto named = doc.find("id"); named != doc.end()) {
      if (named->is_string()) id = named->get<std::string>();
      doc.erase(named);
    }
    if (type == "user.define_outcome") doc["outcome_id"] = store::random_id("outc_");
    rows.push_back({std::move(type), doc.dump(), std::move(id)});
  }
  std::vector<store::Event> stored = take(store.append_events(session_id, std::move(rows)), "session", session_id);
  json out = json::array();
  for (const store::Event& event : stored) out.push_back(event_json(event));
  return out;
}

void add_session_event_routes(Router& router, store::Store& store) {
  router.add("GET", "/v1/sessions/{session_id}/events", [&store](ApiRequest& r) { return list_events(store, r); });
  router.add("POST", "/v1/sessions/{session_id}/events", [&store](ApiRequest& r) { return send_events(store, r); });
}

void add_egress_routes(Router& router, store::Store& store) {
  router.add("GET", "/v1/sessions/{session_id}/egress", [&store](ApiRequest& r) { return list_egress(store, r); });
  router.add("GET", "/v1/airlock/refusals", [&store](ApiRequest& r) { return list_recent_refusals(store, r); });
}

}  // namespace airlock::control
