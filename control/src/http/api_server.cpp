// The REST API's connection loop; see api_server.hpp.
#include "http/api_server.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <optional>

#include "http/deadline.hpp"
#include "sessions/event_stream.hpp"

namespace airlock::control {
namespace {

using asio::ip::tcp;
using Clock = std::chrono::steady_clock;

HttpReply plain_error(int status, std::string_view type, std::string_view message) {
  // Transport-level refusals (before a request could be parsed) in the API's error shape, with a request id
  // like every other response (API.md §7.2).
  const std::string request_id = store::random_id("req_");
  json body = {{"type", "error"}, {"error", {{"type", type}, {"message", message}}}, {"request_id", request_id}};
  return HttpReply{status, {{"Content-Type", "application/json"}, {"request-id", request_id}}, body.dump(), std::nullopt};
}

std::string serialize_reply(const HttpReply& reply, bool keep_alive, bool head_only) {
  http1::ResponseHead head;
  head.status = reply.status;
  head.reason = std::string(reason_phrase(reply.status));
  head.headers.fields = reply.headers;
  head.headers.set("Content-Length", std::to_string(reply.body.size()));
  head.headers.set("Connection", keep_alive ? "keep-alive" : "close");
  std::string out = http1::serialize(head);
  if (!head_only) out += reply.body;
  return out;
}

}  // namespace

std::string_view reason_phrase(int status) {
  switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 413: return "Content Too Large";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 507: return "Insufficient Storage";
    default: return "Status";
  }
}

ApiServer::ApiServer(tcp::acceptor acceptor, ControlApi& api, EventHub& events, Logger& log, ServerLimits limits)
    : acceptor_(std::move(acceptor)), api_(api), events_(events), log_(log), limits_(limits) {}

asio::awaitable<void> ApiServer::accept_loop() {
  while (!stopping_) {
    auto [ec, socket] = co_await acceptor_.async_accept(asio::as_tuple(asio::use_awaitable));
    if (ec) {
      if (stopping_ || ec == asio::error::operation_aborted) break;
      log_.warn("api accept failed: {}", ec.message());
      continue;
    }
    asio::co_spawn(acceptor_.get_executor(), serve(std::move(socket)), [this](const std::exception_ptr& error) {
      if (!error) return;
      try {
        std::rethrow_exception(error);
      } catch (const std::exception& e) {
        log_.error("api connection failed: {}", e.what());
      }
    });
  }
}

void ApiServer::stop() {
  stopping_ = true;
  error_code ignored;
  acceptor_.close(ignored);
  for (Connection& connection : connections_) {
    if (connection.idle) connection.socket->close(ignored);
  }
}

asio::awaitable<void> ApiServer::serve(tcp::socket socket) {
  error_code peer_error;
  const tcp::endpoint peer = socket.remote_endpoint(peer_error);
  const std::string source = peer_error ? std::string("?") : peer.address().to_string();
  std::size_t& from_source = per_source_[source];
  if (limits_.max_connections_per_source > 0 && from_source >= limits_.max_connections_per_source) {
    const std::string message =
        fmt::format("{} already holds {} open connections to the API, the limit for one address; close some or reuse "
                    "them (keep-alive), or raise api.max_connections_per_source",
                    source, limits_.max_connections_per_source);
    ++refused_connections_;
    HttpReply reply = plain_error(429, "rate_limit_error", message);
    reply.headers.push_back({"retry-after", "1"});
    const std::string bytes = serialize_reply(reply, false, false);
    co_await write_for(socket, asio::buffer(bytes), limits_.write_timeout);
    co_return;
  }
  ++from_source;
  connections_.push_back({&socket, true});
  auto self = std::prev(connections_.end());
  struct Unregister {
    std::list<Connection>& list;
    std::list<Connection>::iterator it;
    std::unordered_map<std::string, std::size_t>& per_source;
    const std::string& source;
    ~Unregister() {
      list.erase(it);
      if (auto found = per_source.find(source); found != per_source.end() && --found->second == 0) per_source.erase(found);
    }
  } unregister{connections_, self, per_source_, source};

  http1::RequestParser parser(http1::Limits{limits_.max_header_bytes});
  std::array<char, 16384> buffer{};
  std::string pending;  // bytes read but not yet parsed
  bool first = true;

  auto send = [&](const HttpReply& reply, bool keep_alive, bool head_only) -> asio::awaitable<bool> {
    std::string bytes = serialize_reply(reply, keep_alive, head_only);
    auto [ec, n] = co_await write_for(socket, asio::buffer(bytes), limits_.write_timeout);
    co_return !ec;
  };

  while (!stopping_ || first) {
    // Read one request: head, then body, each read with its deadline.
    std::string body;
    bool have_head = false;
    bool complete = false;
    http1::State last = http1::State::need_more;
    self->idle = pending.empty();
    // The whole head has one deadline, from its first byte (from the accept for a connection's first
    // request): a client that sends a byte now and then cannot hold the connection open (slowloris).
    bool got_bytes = !pending.empty();  // of this request
    std::optional<Clock::time_point> head_deadline;
    if (first || got_bytes) head_deadline = Clock::now() + limits_.head_timeout;
    while (!complete) {
      // After head_done the parser may finish the message without more input (no body).
      if (pending.empty() && last != http1::State::head_done) {
        Clock::duration timeout = limits_.keep_alive_timeout;
        if (have_head) {
          timeout = limits_.body_idle_timeout;
        } else if (head_deadline) {
          timeout = std::max(Clock::duration::zero(), *head_deadline - Clock::now());
        }
        auto [ec, n] = co_await read_some_for(socket, asio::buffer(buffer), timeout);
        if (ec) {
          if (got_bytes && ec == asio::error::timed_out) {
            co_await send(plain_error(408, "timeout_error",
                                      have_head ? "request body timed out" : "request head timed out"),
                          false, false);
          }
          co_return;  // peer closed, idle timeout, or stop(): nothing to answer
        }
        pending.assign(buffer.data(), n);
        got_bytes = true;
        if (!head_deadline) head_deadline = Clock::now() + limits_.head_timeout;
        self->idle = false;
      }
      std::vector<std::string_view> chunks;
      http1::Step step = parser.parse(pending, chunks);
      for (std::string_view chunk : chunks) body.append(chunk);
      pending.erase(0, step.consumed);
      last = step.state;
      if (body.size() > limits_.max_body_bytes) {
        co_await send(plain_error(413, "invalid_request_error", "request body is larger than 8 MiB"), false, false);
        co_return;
      }
      switch (step.state) {
        case http1::State::need_more:
        case http1::State::body: break;
        case http1::State::head_done: {
          have_head = true;
          const http1::RequestHead& head = parser.head();
          if (head.content_length && *head.content_length > limits_.max_body_bytes) {
            co_await send(plain_error(413, "invalid_request_error", "request body is larger than 8 MiB"), false, false);
            co_return;
          }
          if (head.upgrade) {
            co_await send(plain_error(400, "invalid_request_error",
                                      "this is Airlock's API port; send proxy traffic (CONNECT) to the proxy port"),
                          false, false);
            co_return;
          }
          if (const std::string* expect = head.headers.find("Expect"); expect && *expect == "100-continue") {
            static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
            if (auto [ec, n] = co_await write_for(socket, asio::buffer(kContinue), limits_.write_timeout); ec) co_return;
          }
          break;
        }
        case http1::State::message_done: complete = true; break;
        case http1::State::error: {
          co_await send(plain_error(400, "invalid_request_error", fmt::format("malformed HTTP request: {}", parser.error())), false, false);
          co_return;
        }
      }
    }
    first = false;

    const http1::RequestHead& head = parser.head();
    auto started = Clock::now();
    HttpReply reply = api_.handle(head, std::move(body), limits_.metrics_only);
    const std::string* request_id = nullptr;
    for (const http1::Header& header : reply.headers) {
      if (header.name == "request-id") request_id = &header.value;
    }
    std::string_view path = std::string_view(head.target).substr(0, head.target.find('?'));  // never the query
    // Bounded labels: llhttp knows a fixed set of methods, and routes are templates.
    ++requests_[ApiStats::Key{head.method, reply.route, reply.status}];
    if (!reply.stream) durations_[reply.route].observe(Clock::now() - started);
    auto log_request = [&] {
      double millis = std::chrono::duration<double, std::milli>(Clock::now() - started).count();
      log_.info("request method={} path={} status={} duration_ms={:.2f} request_id={}", head.method, path,
                reply.status, millis, request_id ? *request_id : "-");
    };
    if (reply.stream) {
      // The head goes out at once (the client's timeout runs until it arrives); the stream ends the
      // connection. Idle from here: stop() closes it instead of waiting for it.
      self->idle = true;
      http1::ResponseHead stream_head;
      stream_head.status = 200;
      stream_head.reason = std::string(reason_phrase(200));
      stream_head.headers.fields = reply.headers;
      stream_head.headers.set("Connection", "close");
      std::string bytes = http1::serialize(stream_head) + ping_frame();
      auto [ec, n] = co_await write_for(socket, asio::buffer(bytes), limits_.write_timeout);
      if (!ec && !stopping_) {
        co_await run_event_stream(socket, api_.store(), events_, std::move(*reply.stream),
                                  EventStreamLimits{limits_.stream_ping_interval, limits_.write_timeout}, log_);
      }
      log_request();
      co_return;
    }
    log_request();

    bool keep_alive = head.keep_alive && !stopping_;
    if (!co_await send(reply, keep_alive, head.method == "HEAD") || !keep_alive) co_return;
  }
}

ApiStats ApiServer::stats() const {
  ApiStats stats;
  stats.requests = requests_;
  for (const auto& [route, histogram] : durations_) stats.durations.emplace(route, histogram.snapshot());
  stats.open_connections = connections_.size();
  stats.refused_connections = refused_connections_;
  return stats;
}

}  // namespace airlock::control
