// ControlApi: one HTTP request in, one response out, for the REST control plane.
//
// Order of work for a request: /healthz (no auth) -> routes authorized otherwise (set_token_routes: a
// sidecar's, by a session's proxy token) -> API key -> route (404/405) -> for POST and DELETE, the
// Idempotency-Key replay check and a store transaction around the handler, so a refused request writes
// nothing and a created resource commits together with its idempotency record -> the JSON response with
// a request-id header. Runs on the control thread (the store's thread).
//
// A stream route (add_stream_route) answers with an HttpReply whose `stream` is set instead of a JSON
// body: ApiServer then writes the Server-Sent Events head and runs the stream on that connection.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <system_error>
#include <string_view>
#include <vector>

#include "airlock/http1/parser.hpp"
#include "airlock/store/store.hpp"
#include "daemon/log.hpp"
#include "api/resources.hpp"
#include "http/router.hpp"
#include "sessions/sandbox_env.hpp"

namespace airlock::control {

class SessionRuntime;

// Where a session's event stream (API.md S9) starts: events with a larger seq are sent.
struct EventStreamStart {
  std::string session_id;
  std::int64_t after_seq = 0;
};

struct HttpReply {
  int status = 200;
  std::vector<http1::Header> headers;
  std::string body;
  std::optional<EventStreamStart> stream;  // set: a 200 event stream, `body` unused
  // The route template that answered ("/v1/sessions/{session_id}"), "/healthz", "/metrics", "/console/", or "other"
  // (no route: unauthenticated, unknown path, wrong method): a bounded label for the metrics.
  std::string route = "other";
};

// A stream route's handler: checks the request (throwing ApiError refuses it with a normal JSON error,
// before any stream starts) and says where the stream starts.
using StreamHandler = std::function<EventStreamStart(ApiRequest&)>;

// API keys, compared in constant time.
class ApiKeys {
 public:
  explicit ApiKeys(const std::vector<std::string>& keys);
  bool accepts(std::string_view presented) const noexcept;

 private:
  std::vector<std::string> digests_;  // BLAKE2b of each key, so comparisons are fixed-length
};

class ControlApi {
 public:
  // `runtime` starts the sandboxes of the sessions the API creates; it must outlive the ControlApi.
  ControlApi(store::Store& store, ApiKeys keys, Logger& log, SessionRuntime& runtime,
             const SandboxEnvSettings& sandbox_env = {}, CredentialSettings credentials = {});

  // `metrics_listener`: the request came to --metrics-listen, where GET /metrics needs no API key and
  // nothing but /metrics and /healthz is served.
  HttpReply handle(const http1::RequestHead& head, std::string body, bool metrics_listener = false);
  // /healthz answers 200 only after the daemon says every listener is bound.
  void set_ready(bool ready) noexcept { ready_ = ready; }
  // Called after every committed POST or DELETE, before the response is sent.
  void on_committed(std::function<void()> callback) { on_committed_ = std::move(callback); }
  Router& router() noexcept { return router_; }
  store::Store& store() noexcept { return store_; }
  // A GET route answered with an event stream (HttpReply::stream) instead of a JSON body.
  void add_stream_route(std::string_view pattern, StreamHandler handler);
  // Routes that authorize requests themselves, asked first: a reply, or nullopt to go on to the API key
  // and the router. No idempotency replay and no transaction around them.
  using TokenRoutes = std::function<std::optional<Reply>(ApiRequest&)>;
  void set_token_routes(TokenRoutes routes) { token_routes_ = std::move(routes); }
  // GET /metrics, behind the API key: the Prometheus text this returns (metrics/daemon_metrics.hpp).
  void set_metrics(std::function<std::string()> render) { metrics_ = std::move(render); }

 private:
  // The reply, or the error body of the ApiError that refused the request; anything else propagates.
  HttpReply answer(std::string_view target, ApiRequest& request);
  HttpReply dispatch(ApiRequest& request);
  HttpReply run_mutation(const Router::Route& route, ApiRequest& request);
  // GET /console/... : the web console's files (console/console_assets.hpp), no API key needed: they hold
  // no data, and the page asks for the key before it calls the API.
  HttpReply console_file(const ApiRequest& request);
  // 507 (disk full), 503 (read-only database) or 500 for an error that escaped the handlers.
  HttpReply storage_error_reply(const std::system_error& e, const std::string& request_id);

  store::Store& store_;
  ApiKeys keys_;
  Logger& log_;
  Router router_;
  bool ready_ = false;
  std::function<void()> on_committed_;
  TokenRoutes token_routes_;
  std::function<std::string()> metrics_;
  std::string route_;  // the route template dispatch() matched for the request being handled
  bool metrics_listener_ = false;  // of the request being handled
  std::optional<EventStreamStart> opened_stream_;  // what the stream route just matched returned
};

// Splits "path?query" into a decoded path and decoded query pairs; false for a malformed escape.
bool decode_target(std::string_view target, std::string& path, std::multimap<std::string, std::string>& query);

}  // namespace airlock::control
