// ApiServer: the REST API's HTTP/1.1 listener. One coroutine per connection owns its socket and buffers;
// requests on a connection are handled one at a time (keep-alive, pipelining in order), each read and
// write with a deadline, bodies capped. Runs on the control io_context, the store's thread.
//
// Shutdown: stop() closes the acceptor and every idle connection at once; a connection in the middle of
// an exchange finishes it, answers with Connection: close, and ends. active() reaches 0 when drained.
//
// A reply with HttpReply::stream (the session event stream, event_stream.hpp) is written as a Server-Sent
// Events head (200, no Content-Length, Connection: close) and a ping, at once; the stream then runs on the
// connection, which ends with it. An open stream counts as idle: stop() closes it at once.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <list>
#include <map>
#include <string>
#include <tuple>
#include <unordered_map>

#include <boost/asio.hpp>

#include "airlock/proxy/histogram.hpp"
#include "http/control_api.hpp"
#include "sessions/event_hub.hpp"
#include "daemon/log.hpp"

namespace airlock::control {

struct ServerLimits {
  std::size_t max_header_bytes = 65536;
  std::size_t max_body_bytes = 8u << 20;  // initial events may carry long rubrics; far more is an error
  std::chrono::seconds head_timeout{30};
  std::chrono::seconds body_idle_timeout{30};
  std::chrono::seconds keep_alive_timeout{60};
  std::chrono::seconds write_timeout{30};
  std::chrono::milliseconds stream_ping_interval{15000};  // event streams: a ping frame this often
  // Open connections from one address (api.max_connections_per_source; 0: no limit): past it a new one
  // gets 429 and is closed, so one client cannot hold every descriptor with idle connections.
  std::size_t max_connections_per_source = 256;
  // The --metrics-listen server: GET /metrics without an API key, and /healthz; every other path is 404.
  bool metrics_only = false;
};

// The API's requests since the start (GET /metrics). Labels are bounded: the methods llhttp parses,
// route templates (HttpReply::route), the statuses the API sends.
struct ApiStats {
  struct Key {
    std::string method;
    std::string route;
    int status = 0;
    bool operator<(const Key& other) const {
      return std::tie(method, route, status) < std::tie(other.method, other.route, other.status);
    }
  };
  std::map<Key, std::uint64_t> requests;
  // Request read -> reply ready, by route; event streams are left out (their length is the client's).
  std::map<std::string, proxy::HistogramSnapshot> durations;
  std::size_t open_connections = 0;
  std::uint64_t refused_connections = 0;  // turned away by api.max_connections_per_source
};

class ApiServer {
 public:
  // `events` wakes the event streams; it must outlive the server.
  ApiServer(boost::asio::ip::tcp::acceptor acceptor, ControlApi& api, EventHub& events, Logger& log,
            ServerLimits limits);

  boost::asio::awaitable<void> accept_loop();
  void stop();
  std::size_t active() const noexcept { return connections_.size(); }
  ApiStats stats() const;

 private:
  struct Connection {
    boost::asio::ip::tcp::socket* socket;
    bool idle;  // waiting for the next request: closed at once on stop()
  };
  boost::asio::awaitable<void> serve(boost::asio::ip::tcp::socket socket);

  boost::asio::ip::tcp::acceptor acceptor_;
  ControlApi& api_;
  EventHub& events_;
  Logger& log_;
  ServerLimits limits_;
  std::list<Connection> connections_;
  std::unordered_map<std::string, std::size_t> per_source_;  // open connections by peer address
  bool stopping_ = false;
  std::map<ApiStats::Key, std::uint64_t> requests_;
  std::map<std::string, proxy::LatencyHistogram> durations_;
  std::uint64_t refused_connections_ = 0;
};

// The reason phrase for a status this server sends.
std::string_view reason_phrase(int status);

}  // namespace airlock::control
