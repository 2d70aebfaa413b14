// The REST control plane's request pipeline; see control_api.hpp.
#include "http/control_api.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstring>
#include <exception>
#include <utility>

#include <fmt/format.h>
#include <sodium.h>

#include "console/console_assets.hpp"
#include "sessions/event_stream.hpp"
#include "http/printable.hpp"
#include "api/resources.hpp"

namespace airlock::control {
namespace {

// /healthz, /metrics and the console's files answer GET (and HEAD) only.
void require_get(const ApiRequest& request, std::string_view what) {
  if (request.method == "GET" || request.method == "HEAD") return;
  ApiError error(405, "invalid_request_error", fmt::format("method not allowed on {}; allowed: GET", what));
  error.headers.push_back({"Allow", "GET"});
  throw error;  // NOLINT(cert-err61-cpp): named to set its headers first
}

// Whether a handler set its own type (our code always spells it so).
bool has_content_type(const std::vector<http1::Header>& headers) {
  return std::any_of(headers.begin(), headers.end(),
                     [](const http1::Header& header) { return header.name == "Content-Type"; });
}

constexpr std::string_view kIdempotencyKeyHeader = "Idempotency-Key";
constexpr std::string_view kMetricsContentType = "text/plain; version=0.0.4; charset=utf-8";
constexpr std::size_t kMaxIdempotencyKeyLength = 255;

std::string digest(std::string_view text) {
  std::array<unsigned char, crypto_generichash_BYTES> out{};
  crypto_generichash(out.data(), out.size(), reinterpret_cast<const unsigned char*>(text.data()), text.size(),
                     nullptr, 0);
  return std::string(reinterpret_cast<const char*>(out.data()), out.size());
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// In the path (plus_is_space false) an encoded slash stays "%2F": decoding it would split a segment, so
// "/v1/vaults/ID%2Farchive" is the vault "ID%2Farchive" (404), never the archive route of ID.
bool percent_decode(std::string_view in, std::string& out, bool plus_is_space) {
  out.clear();
  for (std::size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '%') {
      if (i + 2 >= in.size()) return false;
      int hi = hex_value(in[i + 1]);
      int lo = hex_value(in[i + 2]);
      if (hi < 0 || lo < 0) return false;
      char decoded = static_cast<char>(hi * 16 + lo);
      if (decoded == '/' && !plus_is_space) {
        out.append(in.substr(i, 3));
      } else {
        out.push_back(decoded);
      }
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  return true;
}

HttpReply json_reply(int status, const json& body, std::vector<http1::Header> headers) {
  HttpReply reply;
  reply.status = status;
  reply.headers = std::move(headers);
  reply.body = body.dump();
  return reply;
}

HttpReply error_reply(const ApiError& error, std::string_view request_id) {
  json inner = {{"type", error.type()}, {"message", error.what()}};
  if (!error.error_code().empty()) inner["details"] = {{"error_code", error.error_code()}};
  json body = {{"type", "error"}, {"error", inner}, {"request_id", request_id}};
  return json_reply(error.status(), body, error.headers);
}

}  // namespace

bool decode_target(std::string_view target, std::string& path, std::multimap<std::string, std::string>& query) {
  std::size_t mark = target.find('?');
  if (!percent_decode(target.substr(0, mark), path, false)) return false;
  if (mark == std::string_view::npos) return true;
  std::string_view rest = target.substr(mark + 1);
  while (!rest.empty()) {
    std::size_t amp = rest.find('&');
    std::string_view pair = rest.substr(0, amp);
    rest = amp == std::string_view::npos ? std::string_view{} : rest.substr(amp + 1);
    if (pair.empty()) continue;
    std::size_t eq = pair.find('=');
    std::string key;
    std::string value;
    if (!percent_decode(pair.substr(0, eq), key, true)) return false;
    if (eq != std::string_view::npos && !percent_decode(pair.substr(eq + 1), value, true)) return false;
    query.emplace(std::move(key), std::move(value));
  }
  return true;
}

ApiKeys::ApiKeys(const std::vector<std::string>& keys) {
  for (const std::string& key : keys) digests_.push_back(digest(key));
}

bool ApiKeys::accepts(std::string_view presented) const noexcept {
  if (presented.empty()) return false;
  std::string candidate = digest(presented);
  bool accepted = false;
  for (const std::string& d : digests_) {
    accepted |= sodium_memcmp(d.data(), candidate.data(), d.size()) == 0;  // no early exit: constant time
  }
  return accepted;
}

ControlApi::ControlApi(store::Store& store, ApiKeys keys, Logger& log, SessionRuntime& runtime,
                       const SandboxEnvSettings& sandbox_env, CredentialSettings credentials)
    : store_(store), keys_(std::move(keys)), log_(log) {
  add_vault_routes(router_, store_);
  add_credential_routes(router_, store_, credentials, log_);
  add_agent_routes(router_, store_);
  add_environment_routes(router_, store_);
  add_session_routes(router_, store_, sandbox_env, runtime);
  add_event_stream_route(*this, store_);
  add_deployment_routes(router_, store_, runtime, log_);
}

// A write the data dir cannot take is the operator's to fix, so the client is told which state it is in:
// 507 for a full disk, 503 for a read-only one (the SDKs retry both). Either way the store rolled the
// write back: nothing of the request was kept. Any other failure is a 500.
HttpReply ControlApi::storage_error_reply(const std::system_error& e, const std::string& request_id) {
  if (e.code() == store::Errc::disk_full) {
    log_.error("request_id={}: the data directory's file system is full; free space there ({})", request_id,
               printable(store_.last_error()));
    return error_reply(ApiError(507, "api_error",
                                "the server's data directory is full, so nothing of this request was stored; "
                                "free space there and retry"),
                       request_id);
  }
  if (e.code() == store::Errc::read_only) {
    log_.error("request_id={}: the database cannot be written: read-only file system or file ({})", request_id,
               printable(store_.last_error()));
    return error_reply(ApiError(503, "api_error",
                                "the server's database is read-only, so nothing of this request was stored; "
                                "make the data directory writable and retry"),
                       request_id);
  }
  // A store failure's own words are SQLite's (store.last_error(): never a bound value, so never a secret).
  const bool from_store = e.code().category() == store::error_category();
  log_.error("internal error request_id={}: {}{}{}", request_id, printable(e.what()), from_store ? ": " : "",
             from_store ? printable(store_.last_error()) : std::string{});
  return error_reply(ApiError(500, "api_error", "internal error; the request id is in the daemon's log"), request_id);
}

HttpReply ControlApi::handle(const http1::RequestHead& head, std::string body, bool metrics_listener) {
  ApiRequest request;
  request.method = head.method;
  request.headers = head.headers;
  request.body = std::move(body);
  request.request_id = store::random_id("req_");

  HttpReply reply;
  route_ = "other";
  metrics_listener_ = metrics_listener;
  try {
    reply = answer(head.target, request);
  } catch (const std::system_error& e) {
    reply = storage_error_reply(e, request.request_id);
  } catch (const std::exception& e) {
    // Whatever failed, in a handler or while serializing a response (a refusal included), the client gets
    // a 500, never a dropped connection. Nothing internal reaches it; the log has the cause under the
    // request id. Exception messages here come from the store and the JSON library and never carry a
    // secret value.
    log_.error("internal error request_id={}: {}", request.request_id, printable(e.what()));
    reply = error_reply(ApiError(500, "api_error", "internal error; the request id is in the daemon's log"),
                        request.request_id);
  }
  reply.route = route_;
  reply.headers.push_back({"request-id", request.request_id});
  if (reply.stream) {
    reply.headers.push_back({"Content-Type", "text/event-stream"});
    reply.headers.push_back({"Cache-Control", "no-cache"});
  } else if (!has_content_type(reply.headers)) {  // a scrape's text and the console's files have their own
    reply.headers.push_back({"Content-Type", "application/json"});
  }
  return reply;
}

void ControlApi::add_stream_route(std::string_view pattern, StreamHandler handler) {
  // The router's handlers return JSON replies; this one parks its start for dispatch to pick up.
  router_.add("GET", pattern, [this, handler = std::move(handler)](ApiRequest& request) {
    opened_stream_ = handler(request);
    return Reply{};
  });
}

HttpReply ControlApi::answer(std::string_view target, ApiRequest& request) {
  try {
    if (!decode_target(target, request.path, request.query)) {
      bad_request("the request target has a malformed percent-escape");
    }
    return dispatch(request);
  } catch (const ApiError& error) {
    return error_reply(error, request.request_id);  // if even this throws, handle() answers 500
  }
}

HttpReply ControlApi::dispatch(ApiRequest& request) {
  if (request.path == "/healthz") {
    route_ = "/healthz";
    require_get(request, "/healthz");
    if (!ready_) throw ApiError(503, "api_error", "starting: listeners are not bound yet");
    return json_reply(200, {{"status", "ok"}}, {});
  }
  if (metrics_listener_ && request.path != "/metrics") {
    not_found(fmt::format("this is Airlock's metrics listener: it serves GET /metrics and /healthz only; send {} {} "
                          "to the API listener",
                          request.method, request.path));
  }
  if (request.path == "/console" || request.path.starts_with("/console/")) return console_file(request);
  if (token_routes_ && !metrics_listener_) {
    if (std::optional<Reply> reply = token_routes_(request)) {
      return json_reply(reply->status, reply->body, std::move(reply->headers));
    }
  }

  std::string presented;
  if (const std::string* auth = request.headers.find("Authorization")) {
    constexpr std::string_view kBearer = "bearer ";  // the scheme is case-insensitive (RFC 9110 §11.1)
    std::string_view value = *auth;
    if (value.size() > kBearer.size() && std::equal(kBearer.begin(), kBearer.end(), value.begin(), [](char a, char b) {
          return a == std::tolower(static_cast<unsigned char>(b));
        })) {
      presented = std::string(value.substr(kBearer.size()));
    }
  }
  if (presented.empty()) {
    if (const std::string* key = request.headers.find("x-api-key")) presented = *key;
  }
  if (!keys_.accepts(presented) && !(metrics_listener_ && request.path == "/metrics")) {
    throw ApiError(401, "authentication_error",
                   presented.empty() ? "missing API key: send Authorization: Bearer <key> or x-api-key: <key>"
                                     : "invalid API key");
  }

  if (request.path == "/metrics" && metrics_) {
    route_ = "/metrics";
    require_get(request, "/metrics");
    HttpReply reply;
    reply.body = metrics_();
    reply.headers.push_back({"Content-Type", std::string(kMetricsContentType)});
    return reply;
  }

  const Router::Route& route = router_.match(request);
  route_ = route.pattern;
  if (request.method == "GET") {
    opened_stream_.reset();
    Reply reply = route.handler(request);
    if (opened_stream_) {
      HttpReply stream;
      stream.stream = std::exchange(opened_stream_, std::nullopt);
      return stream;
    }
    return json_reply(reply.status, reply.body, std::move(reply.headers));
  }
  return run_mutation(route, request);
}

HttpReply ControlApi::console_file(const ApiRequest& request) {
  route_ = "/console/";
  require_get(request, "the console's files");
  HttpReply reply;
  if (request.path == "/console") {  // relative links in the page need the slash
    reply.status = 308;
    reply.headers.push_back({"Location", "/console/"});
    reply.headers.push_back({"Content-Type", "text/plain; charset=utf-8"});
    reply.body = "the console is at /console/\n";
    return reply;
  }
  const ConsoleAsset* asset = find_console_asset(std::string_view(request.path).substr(std::strlen("/console/")));
  if (asset == nullptr) not_found(fmt::format("the console has no file {}; open /console/", request.path));
  reply.body = std::string(asset->body);
  reply.headers = {
      {"Content-Type", std::string(asset->content_type)},
      {"Cache-Control", "no-cache"},
      // The page runs only its own script and talks only to this API; nothing may frame it or learn
      // where it was, and no response is taken for another type than it says.
      {"Content-Security-Policy",
       "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; "
       "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"},
      {"X-Content-Type-Options", "nosniff"},
      {"Referrer-Policy", "no-referrer"},
      {"X-Frame-Options", "DENY"},
  };
  return reply;
}

HttpReply ControlApi::run_mutation(const Router::Route& route, ApiRequest& request) {
  const std::string* key = request.headers.find(kIdempotencyKeyHeader);
  std::string request_hash;
  if (key != nullptr) {
    if (key->empty() || key->size() > kMaxIdempotencyKeyLength) {
      bad_request(fmt::format("Idempotency-Key: must be 1 to {} characters", kMaxIdempotencyKeyLength));
    }
    request_hash = store_.request_fingerprint(fmt::format("{} {}\n{}", request.method, request.path, request.body));
    auto found = store_.find_idempotent(*key);
    if (!found) throw std::system_error(found.error());
    if (const auto& previous = found.value()) {
      if (previous->request_hash != request_hash) {
        conflict(fmt::format("Idempotency-Key \"{}\" was already used for a different request; use a new key for "
                             "a new request",
                             *key));
      }
      HttpReply replay;
      replay.status = previous->status;
      replay.body = previous->body;
      replay.headers.push_back({"Idempotent-Replayed", "true"});
      return replay;
    }
  }

  store::Store::Transaction transaction(store_);
  Reply reply = route.handler(request);
  HttpReply http = json_reply(reply.status, reply.body, std::move(reply.headers));
  if (key != nullptr) {
    auto remembered = store_.remember_idempotent(*key, {request_hash, http.status, http.body, {}});
    if (!remembered) throw std::system_error(remembered.error());
  }
  if (auto ec = transaction.commit()) throw std::system_error(ec);
  if (on_committed_) on_committed_();
  return http;
}

}  // namespace airlock::control
