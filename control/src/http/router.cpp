// Route matching by path segments; see router.hpp.
#include "http/router.hpp"

#include <fmt/format.h>

namespace airlock::control {
namespace {

std::vector<std::string> split_path(std::string_view path) {
  std::vector<std::string> segments;
  std::size_t start = 0;
  if (!path.empty() && path.front() == '/') start = 1;
  while (start <= path.size()) {
    std::size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    segments.emplace_back(path.substr(start, end - start));
    start = end + 1;
  }
  return segments;
}

bool is_param(const std::string& segment) { return segment.size() > 2 && segment.front() == '{'; }

bool matches(const Router::Route& route, const std::vector<std::string>& segments) {
  if (route.segments.size() != segments.size()) return false;
  for (std::size_t i = 0; i < segments.size(); ++i) {
    if (is_param(route.segments[i])) {
      if (segments[i].empty()) return false;
    } else if (route.segments[i] != segments[i]) {
      return false;
    }
  }
  return true;
}

}  // namespace

void Router::add(std::string method, std::string_view pattern, Handler handler) {
  routes_.push_back(Route{std::move(method), std::string(pattern), split_path(pattern), std::move(handler)});
}

const Router::Route& Router::match(ApiRequest& request) const {
  std::vector<std::string> segments = split_path(request.path);
  std::string allow;
  for (const Route& route : routes_) {
    if (!matches(route, segments)) continue;
    if (route.method != request.method) {
      allow += fmt::format("{}{}", allow.empty() ? "" : ", ", route.method);
      continue;
    }
    for (std::size_t i = 0; i < segments.size(); ++i) {
      if (is_param(route.segments[i])) {
        const std::string& name = route.segments[i];
        request.params[name.substr(1, name.size() - 2)] = segments[i];
      }
    }
    return route;
  }
  if (!allow.empty()) {
    ApiError error(405, "invalid_request_error",
                   fmt::format("method {} is not allowed on {}; allowed: {}", request.method, request.path, allow));
    error.headers.push_back({"Allow", allow});
    throw error;  // NOLINT(cert-err61-cpp): named to set its headers first
  }
  not_found(fmt::format("no route for {} {}; see the API reference for the endpoints Airlock serves", request.method,
                        request.path));
}

}  // namespace airlock::control
