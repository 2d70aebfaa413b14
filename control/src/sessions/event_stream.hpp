// The session event stream (API.md §6 S9, framing §7.6): GET /v1/sessions/{session_id}/events/stream.
//
// The route checks the session like any GET (unknown: the normal 404 JSON error; archived sessions may
// be streamed) and notes the seq of its newest event. ApiServer then writes the head at once (200,
// text/event-stream, no Content-Length: the body ends when the connection closes) with a first ping
// frame, and runs run_event_stream on the connection:
//   - every event stored after the stream opened, in seq order, as `id: <its id>\nevent: <type>\ndata:
//     <the event exactly as API.md S7 lists it>\n\n`; nothing stored before the stream opened is replayed,
//     unless the request names the last event a client saw (Last-Event-ID): then every event after it;
//   - a ping frame every ping_interval (the SDK skips them; they keep proxies and idle timers quiet);
//   - when the session is deleted, a session.deleted frame, then the end.
// The stream wakes on EventHub notifications, and catches up at every ping too, so a missed notification
// delays an event by one ping interval at worst. It ends when the client leaves (a read stays pending
// while the stream is idle, so EOF is noticed at once), when a write misses write_timeout (a client that
// stops reading loses its stream), or when ApiServer::stop() closes the socket.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include <boost/asio.hpp>

#include "airlock/store/store.hpp"
#include "http/control_api.hpp"
#include "sessions/event_hub.hpp"
#include "daemon/log.hpp"

namespace airlock::control {

// Registers GET /v1/sessions/{session_id}/events/stream (query event_deltas[] accepted and ignored).
void add_event_stream_route(ControlApi& api, store::Store& store);

// One SSE frame: ["id: <id>\n"] "event: <event>\ndata: <data>\n\n". `data` must be one line (compact JSON
// is); line breaks in `event` and `id` are dropped, since they would end the field.
std::string sse_frame(std::string_view event, std::string_view data, std::string_view id = {});
// event: ping, data {"type":"ping"}.
std::string ping_frame();
// A stored event, with its id (a client reconnects with Last-Event-ID), named by its type, its data the JSON
// the event list (API.md S7) returns for it.
std::string event_frame(const store::Event& event);
// The last frame of a stream whose session was deleted: {"id", "processed_at", "type":"session.deleted"}.
std::string session_deleted_frame(std::string_view id, std::string_view processed_at);

struct EventStreamLimits {
  std::chrono::steady_clock::duration ping_interval;
  std::chrono::steady_clock::duration write_timeout;
};

enum class StreamEnd {
  client_gone,      // EOF or a read error, including the socket closed by ApiServer::stop()
  write_failed,     // the client left or stopped reading (write deadline)
  session_deleted,  // after the session.deleted frame
  error,            // the store failed (logged)
};

// Runs a stream whose head (and first ping) the caller has written. Returns when it ends.
boost::asio::awaitable<StreamEnd> run_event_stream(boost::asio::ip::tcp::socket& socket, store::Store& store,
                                                   EventHub& hub, EventStreamStart start, EventStreamLimits limits,
                                                   Logger& log);

}  // namespace airlock::control
