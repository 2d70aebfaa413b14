// ApiRequest's query accessors, ApiError and the common refusals.
#include "api/common/api.hpp"

#include "http/printable.hpp"

namespace airlock::control {

ApiError::ApiError(int status, std::string type, std::string_view message, std::string error_code)
    : std::runtime_error(printable(message)), status_(status), type_(std::move(type)),
      error_code_(std::move(error_code)) {}

std::optional<std::string> ApiRequest::query_value(std::string_view key) const {
  std::optional<std::string> found;
  auto [first, last] = query.equal_range(std::string(key));
  for (auto it = first; it != last; ++it) found = it->second;
  if (found && found->empty()) return std::nullopt;
  return found;
}

std::vector<std::string> ApiRequest::query_values(std::string_view key) const {
  std::vector<std::string> values;
  for (const std::string& k : {std::string(key), std::string(key) + "[]"}) {
    auto [first, last] = query.equal_range(k);
    for (auto it = first; it != last; ++it) values.push_back(it->second);
  }
  return values;
}

void bad_request(std::string_view message, std::string error_code) {
  throw ApiError(400, "invalid_request_error", message, std::move(error_code));
}

void not_found(std::string_view message, std::string error_code) {
  throw ApiError(404, "not_found_error", message, std::move(error_code));
}

void conflict(std::string_view message) {
  ApiError error(409, "conflict_error", message);
  error.headers.push_back({"x-should-retry", "false"});
  throw error;  // NOLINT(cert-err61-cpp): named to set its headers first
}

}  // namespace airlock::control
