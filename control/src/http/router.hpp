// Routes: (method, path pattern) -> handler. Patterns are literal segments and {name} parameters, e.g.
// "/v1/vaults/{vault_id}/credentials/{credential_id}". An unknown path is 404; a known path with another
// method is 405 with an Allow header (API.md §9).
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "api/common/api.hpp"

namespace airlock::control {

using Handler = std::function<Reply(ApiRequest&)>;

class Router {
 public:
  void add(std::string method, std::string_view pattern, Handler handler);

  struct Route {
    std::string method;
    std::string pattern;                // as added, e.g. "/v1/vaults/{vault_id}": the metrics' route label
    std::vector<std::string> segments;  // "{name}" for a parameter
    Handler handler;
  };
  // The route for the request, with its parameters filled in; throws the 404 or 405 ApiError.
  const Route& match(ApiRequest& request) const;

 private:
  std::vector<Route> routes_;
};

}  // namespace airlock::control
