// The session event stream: its route, its frames and its loop; see event_stream.hpp.
#include "sessions/event_stream.hpp"

#include <array>
#include <exception>
#include <optional>
#include <variant>

#include <boost/asio/experimental/awaitable_operators.hpp>

#include "http/deadline.hpp"
#include "http/printable.hpp"
#include "api/resources.hpp"
#include "sessions/session_factory.hpp"

namespace airlock::control {
namespace {

using asio::ip::tcp;
using Clock = std::chrono::steady_clock;

constexpr std::size_t kPageSize = 1000;            // events read from the store per query
constexpr std::size_t kFlushBytes = 64 * 1024;     // frames gathered into one write up to about this much

EventStreamStart open_stream(store::Store& store, ApiRequest& request) {
  const std::string& id = request.param("session_id");
  // A client reconnecting says the last event it saw: the stream goes on right after it.
  if (const std::string* last = request.headers.find("Last-Event-ID"); last != nullptr && !last->empty()) {
    std::optional<std::int64_t> seq = take(store.event_seq(id, *last), "session", id);
    if (!seq) {
      bad_request(fmt::format("Last-Event-ID: \"{}\" is not an event of session {}; reconnect without it to follow new "
                              "events only",
                              printable(*last), id));
    }
    return EventStreamStart{id, *seq};
  }
  store::EventQuery newest;
  newest.limit = 1;
  newest.ascending = false;
  store::Page<store::Event> page = take(store.list_events(id, newest), "session", id);
  return EventStreamStart{id, page.items.empty() ? 0 : page.items.front().seq};
}

asio::awaitable<bool> write_frames(tcp::socket& socket, const std::string& bytes, Clock::duration timeout) {
  auto [ec, n] = co_await write_for(socket, asio::buffer(bytes), timeout);
  co_return !ec;
}

// Sends every event after `after` (advancing it), page by page. nullopt: the stream goes on.
asio::awaitable<std::optional<StreamEnd>> send_new_events(tcp::socket& socket, store::Store& store,
                                                          const std::string& session_id, std::int64_t& after,
                                                          Clock::duration write_timeout, Logger& log) {
  for (;;) {
    store::EventQuery query;
    query.limit = kPageSize;
    query.after_seq = after;
    auto page = store.list_events(session_id, query);
    if (!page) {
      if (page.error() == store::Errc::not_found) {
        std::string frame = session_deleted_frame(store::random_id("sevt_"),
                                                  store::format_time(std::chrono::system_clock::now()));
        co_await write_frames(socket, frame, write_timeout);
        co_return StreamEnd::session_deleted;
      }
      log.error("event stream of session {}: reading events failed: {}", session_id, page.error().message());
      co_return StreamEnd::error;
    }
    std::string out;
    for (const store::Event& event : page.value().items) {
      out += event_frame(event);
      after = event.seq;
      if (out.size() >= kFlushBytes) {
        if (!co_await write_frames(socket, out, write_timeout)) co_return StreamEnd::write_failed;
        out.clear();
      }
    }
    if (!out.empty() && !co_await write_frames(socket, out, write_timeout)) co_return StreamEnd::write_failed;
    if (!page.value().next) co_return std::nullopt;
  }
}

}  // namespace

void add_event_stream_route(ControlApi& api, store::Store& store) {
  api.add_stream_route("/v1/sessions/{session_id}/events/stream",
                       [&store](ApiRequest& request) { return open_stream(store, request); });
}

std::string sse_frame(std::string_view event, std::string_view data, std::string_view id) {
  std::string out;
  auto field = [&out](std::string_view name, std::string_view value) {
    out += name;
    for (char c : value) {
      if (c != '\n' && c != '\r') out.push_back(c);
    }
    out += '\n';
  };
  if (!id.empty()) field("id: ", id);
  field("event: ", event);
  out += "data: ";
  out += data;
  out += "\n\n";
  return out;
}

std::string ping_frame() { return sse_frame("ping", R"({"type":"ping"})"); }

std::string event_frame(const store::Event& event) {
  // Stored docs are valid UTF-8; `replace` keeps one bad byte from ending every stream of the session.
  return sse_frame(event.type, event_json(event).dump(-1, ' ', false, json::error_handler_t::replace), event.id);
}

std::string session_deleted_frame(std::string_view id, std::string_view processed_at) {
  json data = {{"type", "session.deleted"}, {"id", id}, {"processed_at", processed_at}};
  return sse_frame("session.deleted", data.dump());
}

asio::awaitable<StreamEnd> run_event_stream(tcp::socket& socket, store::Store& store, EventHub& hub,
                                            EventStreamStart start, EventStreamLimits limits, Logger& log) {
  using namespace asio::experimental::awaitable_operators;
  EventHub::Subscription subscription(hub, start.session_id, co_await asio::this_coro::executor);
  std::int64_t after = start.after_seq;
  Clock::time_point next_ping = Clock::now() + limits.ping_interval;
  std::array<char, 1024> scratch{};  // a client has nothing to say on a stream: what it sends is dropped
  bool catch_up = true;              // events may have landed while the head was being written
  try {
    for (;;) {
      if (subscription.take_notified()) catch_up = true;
      if (catch_up) {
        catch_up = false;
        if (auto end = co_await send_new_events(socket, store, start.session_id, after, limits.write_timeout, log)) {
          co_return *end;
        }
        continue;  // notifications that arrived during the writes come first
      }
      if (Clock::now() >= next_ping) {
        if (!co_await write_frames(socket, ping_frame(), limits.write_timeout)) co_return StreamEnd::write_failed;
        next_ping = Clock::now() + limits.ping_interval;
        continue;
      }
      // Idle: wait for a notification (it cancels the timer), the ping time, or the client leaving.
      subscription.timer().expires_at(next_ping);
      auto woke = co_await (socket.async_read_some(asio::buffer(scratch), asio::as_tuple(asio::use_awaitable)) ||
                            subscription.timer().async_wait(asio::as_tuple(asio::use_awaitable)));
      if (woke.index() == 0) {
        if (auto [ec, n] = std::get<0>(woke); ec) co_return StreamEnd::client_gone;
        continue;
      }
      // At the ping time, catch up before the ping: it covers a notification nobody sent.
      if (Clock::now() >= next_ping) catch_up = true;
    }
  } catch (const std::exception& e) {
    // A stored event that does not parse; store and JSON messages never carry a secret value.
    log.error("event stream of session {} failed: {}", start.session_id, e.what());
    co_return StreamEnd::error;
  }
}

}  // namespace airlock::control
