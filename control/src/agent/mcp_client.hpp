// A client of one MCP server over streamable HTTP (JSON-RPC 2.0 in POST requests, answered with JSON or
// an event stream), reached like every other host: through the egress proxy, which adds the server's
// credential (a static_bearer for its URL). What the built-in agent needs of it: the tools, and calls.
#pragma once

#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "agent/https_client.hpp"

namespace airlock::control::agent {

class McpError : public std::runtime_error {
 public:
  McpError(const std::string& message, bool authentication) : std::runtime_error(message), authentication_(authentication) {}
  bool authentication() const noexcept { return authentication_; }  // the server refused the credential

 private:
  bool authentication_;
};

class McpClient {
 public:
  // `url`: the server's endpoint (an agent's mcp_servers[].url). Throws McpError when it is not http(s).
  McpClient(HttpsClient& http, std::string server_name, const std::string& url);

  // initialize, notifications/initialized, then tools/list (every page): the server's tools as it
  // describes them ({name, description, inputSchema}). Throws McpError.
  std::vector<nlohmann::json> connect();
  // tools/call: the call's result ({content, isError}). Throws McpError, or RequestCancelled.
  nlohmann::json call_tool(const std::string& name, const nlohmann::json& arguments);

  const std::string& server_name() const noexcept { return server_name_; }

 private:
  nlohmann::json request(const std::string& method, nlohmann::json params);
  void notify(const std::string& method);
  HttpAnswer post(const nlohmann::json& message);

  HttpsClient& http_;
  std::string server_name_;
  HttpsRequest endpoint_;
  std::string session_id_;  // Mcp-Session-Id, once the server gave one
  std::int64_t next_id_ = 1;
};

// The JSON-RPC response with `id` in an MCP answer body: the body itself (application/json) or one of the
// events of an event stream. nullopt when none is there.
std::optional<nlohmann::json> find_rpc_response(std::string_view content_type, std::string_view body, std::int64_t id);

// An MCP tool result's content as the text blocks a session event and the model take: text items as they
// are, anything else (images, resources) as its JSON, bounded.
nlohmann::json mcp_content_blocks(const nlohmann::json& result);

}  // namespace airlock::control::agent
