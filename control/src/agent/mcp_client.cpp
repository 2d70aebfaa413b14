// McpClient (see mcp_client.hpp).
#include "agent/mcp_client.hpp"

#include <fmt/format.h>

#include "agent/file_tools.hpp"
#include "agent/json_fields.hpp"
#include "agent/sse.hpp"

namespace airlock::control::agent {

using json = nlohmann::json;

namespace {

constexpr std::string_view kProtocolVersion = "2025-06-18";
constexpr int kToolPagesMax = 20;  // tools/list pages read at most (a server that pages forever)

bool is_event_stream(std::string_view content_type) { return content_type.find("text/event-stream") != std::string_view::npos; }

bool is_response_to(const json& message, std::int64_t id) {
  return message.is_object() && message.contains("id") && message["id"] == id &&
         (message.contains("result") || message.contains("error"));
}

}  // namespace

std::optional<json> find_rpc_response(std::string_view content_type, std::string_view body, std::int64_t id) {
  if (!is_event_stream(content_type)) {
    json message = json::parse(body, nullptr, /*allow_exceptions=*/false);
    if (is_response_to(message, id)) return message;
    return std::nullopt;
  }
  SseParser parser;
  std::vector<SseEvent> events;
  parser.feed(body, events);
  parser.feed("\n\n", events);  // a last event the server did not end with a blank line
  for (const SseEvent& event : events) {
    json message = json::parse(event.data, nullptr, /*allow_exceptions=*/false);
    if (is_response_to(message, id)) return message;
  }
  return std::nullopt;
}

json mcp_content_blocks(const json& result) {
  json blocks = json::array();
  const json content = result.is_object() ? result.value("content", json::array()) : json::array();
  for (const json& item : content.is_array() ? content : json::array()) {
    if (!item.is_object()) continue;
    const std::string text = string_field(item, "type") == "text" && item.contains("text") && item["text"].is_string()
                                 ? item["text"].get<std::string>()
                                 : item.dump(-1, ' ', false, json::error_handler_t::replace);
    blocks.push_back({{"type", "text"}, {"text", bounded_text(text)}});
  }
  if (blocks.empty()) blocks.push_back({{"type", "text"}, {"text", "(no content)"}});
  return blocks;
}

McpClient::McpClient(HttpsClient& http, std::string server_name, const std::string& url)
    : http_(http), server_name_(std::move(server_name)) {
  std::optional<HttpsRequest> endpoint = request_to(url);
  if (!endpoint) throw McpError(fmt::format("MCP server {}: \"{}\" is not an http(s) URL", server_name_, url), false);
  endpoint_ = std::move(*endpoint);
  endpoint_.method = "POST";
}

HttpAnswer McpClient::post(const json& message) {
  HttpsRequest request = endpoint_;
  request.headers = {{"Content-Type", "application/json"},
                     {"Accept", "application/json, text/event-stream"},
                     {"User-Agent", "airlock-agent"}};
  if (!session_id_.empty()) {
    request.headers.emplace_back("Mcp-Session-Id", session_id_);
    request.headers.emplace_back("MCP-Protocol-Version", std::string(kProtocolVersion));
  }
  request.body = message.dump(-1, ' ', false, json::error_handler_t::replace);
  HttpAnswer answer = http_.send(request, fmt::format("MCP server {}", server_name_), nullptr, 4 << 20);
  if (answer.status == 401 || answer.status == 403) {
    throw McpError(fmt::format("MCP server {} refused the request ({}): add a static_bearer credential for {}{} to a "
                               "vault of this session",
                               server_name_, answer.status, endpoint_.url.host, endpoint_.url.path_prefix + endpoint_.target),
                   true);
  }
  if (answer.status < 200 || answer.status >= 300) {
    throw McpError(fmt::format("MCP server {} answered {}{}", server_name_, answer.status,
                               answer.body.empty() ? std::string() : ": " + bounded_text(answer.body, 300)),
                   false);
  }
  return answer;
}

json McpClient::request(const std::string& method, json params) {
  const std::int64_t id = next_id_++;
  json message = {{"jsonrpc", "2.0"}, {"id", id}, {"method", method}};
  if (!params.is_null()) message["params"] = std::move(params);
  HttpAnswer answer = post(message);
  if (const std::string* session = answer.headers.find("Mcp-Session-Id"); session != nullptr && session_id_.empty()) {
    session_id_ = *session;
  }
  const std::string* content_type = answer.headers.find("Content-Type");
  std::optional<json> response = find_rpc_response(content_type ? *content_type : "", answer.body, id);
  if (!response) throw McpError(fmt::format("MCP server {} sent no answer to {}", server_name_, method), false);
  if (response->contains("error")) {
    const json& error = (*response)["error"];
    throw McpError(fmt::format("MCP server {}: {} failed: {}", server_name_, method,
                               string_field(error, "message", "an error")),
                   false);
  }
  json result = response->value("result", json::object());
  if (!result.is_object()) throw McpError(fmt::format("MCP server {}: the result of {} is not an object", server_name_, method), false);
  return result;
}

void McpClient::notify(const std::string& method) { (void)post({{"jsonrpc", "2.0"}, {"method", method}}); }

std::vector<json> McpClient::connect() {
  (void)request("initialize", {{"protocolVersion", kProtocolVersion},
                               {"capabilities", json::object()},
                               {"clientInfo", {{"name", "airlock-agent"}, {"version", "0.1.0"}}}});
  notify("notifications/initialized");
  std::vector<json> tools;
  json params = json::object();
  for (int page = 0; page < kToolPagesMax; ++page) {
    json result = request("tools/list", params);
    const json listed = result.value("tools", json::array());
    for (const json& tool : listed.is_array() ? listed : json::array()) {
      if (tool.is_object() && tool.contains("name") && tool["name"].is_string()) tools.push_back(tool);
    }
    if (!result.contains("nextCursor") || !result["nextCursor"].is_string()) break;
    params = {{"cursor", result["nextCursor"]}};
  }
  return tools;
}

json McpClient::call_tool(const std::string& name, const json& arguments) {
  return request("tools/call", {{"name", name}, {"arguments", arguments.is_object() ? arguments : json::object()}});
}

}  // namespace airlock::control::agent
