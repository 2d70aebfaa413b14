// The control plane's request and response values, and ApiError: how handlers refuse a request.
//
// Handlers receive an ApiRequest (decoded path, query and body), return a Reply, and throw ApiError for
// every refusal; the router turns it into the body of API.md §7.4 with the request id. Anything else that
// escapes a handler becomes a 500 that reveals nothing internal.
//
// A message may quote request bytes as they came (an id from the path, a query value, a header value, a
// JSON key): ApiError renders the whole message with printable() (printable.hpp), so every refusal is
// valid UTF-8 without a NUL whatever the client sent, and can be serialized. Callers pass the raw bytes.
#pragma once

#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "airlock/http1/parser.hpp"

namespace airlock::control {

using json = nlohmann::json;

struct ApiRequest {
  std::string method;
  std::string path;                                // percent-decoded, without the query
  std::multimap<std::string, std::string> query;   // keys and values percent-decoded
  http1::Headers headers;
  std::string body;
  std::string request_id;
  std::map<std::string, std::string, std::less<>> params;  // path parameters, e.g. "vault_id"

  const std::string& param(std::string_view name) const { return params.find(name)->second; }
  // The last value of a query key, or nullopt. An empty value counts as absent (the SDK sends `page=`
  // for an explicit null).
  std::optional<std::string> query_value(std::string_view key) const;
  std::vector<std::string> query_values(std::string_view key) const;
};

struct Reply {
  int status = 200;
  json body;
  std::vector<http1::Header> headers;  // extra headers (e.g. x-should-retry, Allow)
};

class ApiError : public std::runtime_error {
 public:
  // `message` as it came, request bytes included: it is rendered with printable().
  ApiError(int status, std::string type, std::string_view message, std::string error_code = {});
  int status() const noexcept { return status_; }
  const std::string& type() const noexcept { return type_; }
  const std::string& error_code() const noexcept { return error_code_; }
  std::vector<http1::Header> headers;

 private:
  int status_;
  std::string type_;
  std::string error_code_;
};

// The common refusals. A business conflict carries x-should-retry: false, since the SDK retries 409.
[[noreturn]] void bad_request(std::string_view message, std::string error_code = {});
[[noreturn]] void not_found(std::string_view message, std::string error_code = {});
[[noreturn]] void conflict(std::string_view message);

}  // namespace airlock::control
