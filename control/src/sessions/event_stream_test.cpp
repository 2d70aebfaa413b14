// The session event stream (API.md §6 S9, §7.6): its frames byte for byte, the route through ControlApi,
// and whole streams through a real ApiServer on 127.0.0.1 (head and first ping at once, exactly the events
// appended after it opened, session.deleted then the end, pings, the client leaving, stop(), a client
// that stops reading); and the connection loop's head deadline.
#include <doctest/doctest.h>

#include <exception>
#include <functional>
#include <optional>
#include <string>

#include <boost/asio.hpp>

#include "http/api_server.hpp"
#include "http/deadline.hpp"
#include "sessions/event_hub.hpp"
#include "sessions/event_stream.hpp"
#include "sessions/session_factory.hpp"
#include "test_support.hpp"

namespace airlock::control {
namespace {

using namespace std::chrono_literals;
using asio::ip::tcp;
using testing::ApiFixture;
using testing::refusal;

struct SessionFixture : ApiFixture {
  std::string agent = ok_post("/v1/agents", {{"name", "bot"}, {"model", "claude-opus-5-5"}})["id"];
  std::string environment = ok_post("/v1/environments", {{"name", "env"}})["id"];
  std::string session = ok_post("/v1/sessions", {{"agent", agent}, {"environment_id", environment}})["id"];
  std::string events() const { return "/v1/sessions/" + session + "/events"; }
  std::string stream() const { return "/v1/sessions/" + session + "/events/stream"; }

  // Sends user.message events with these texts; returns the stored events (API.md S8's data).
  json send(std::initializer_list<std::string> texts) {
    json events_body = json::array();
    for (const std::string& text : texts) {
      events_body.push_back({{"type", "user.message"}, {"content", {{{"type", "text"}, {"text", text}}}}});
    }
    return ok_post(events(), {{"events", events_body}})["data"];
  }

  HttpReply handle(std::string method, std::string target) {
    http1::RequestHead head;
    head.method = std::move(method);
    head.target = std::move(target);
    head.headers.fields.push_back({"Authorization", fmt::format("Bearer {}", kKey)});
    return api.handle(head, {});
  }
};

// The frames API.md S8's response says the stream must carry, in order.
std::string frames_of(const json& stored) {
  std::string out;
  for (const json& event : stored) {
    out += sse_frame(event["type"].get<std::string>(), event.dump(), event["id"].get<std::string>());
  }
  return out;
}

std::string header_value(const HttpReply& reply, std::string_view name) {
  for (const auto& h : reply.headers) {
    if (h.name == name) return h.value;
  }
  return "<absent>";
}

// An ApiServer over the fixture's ControlApi on 127.0.0.1, on an io_context this thread runs, wired like
// serve.cpp wires it: every committed mutation wakes every stream.
struct ServerRig : SessionFixture {
  explicit ServerRig(ServerLimits limits) {
    tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    port = acceptor.local_endpoint().port();
    api.on_committed([this] { hub.notify_all(); });
    server.emplace(std::move(acceptor), api, hub, log, limits);
    asio::co_spawn(io, server->accept_loop(), asio::detached);
  }
  // A test that failed before run() stopped the server leaves its acceptor open: close it while the
  // io_context (whose socket service the acceptor needs) is still there.
  ~ServerRig() {
    if (server) server->stop();
  }
  ServerRig(const ServerRig&) = delete;
  ServerRig& operator=(const ServerRig&) = delete;

  // Runs `client` on the io_context, then stops the server and lets every connection end. The 30 s
  // bound only keeps a broken stream from hanging the suite.
  void run(std::function<asio::awaitable<void>()> client) {
    bool done = false;
    std::exception_ptr error;
    asio::co_spawn(io, client(), [&](std::exception_ptr e) {
      error = e;
      done = true;
      server->stop();
    });
    io.run_for(30s);
    REQUIRE_MESSAGE(done, "the client did not finish");
    if (error) std::rethrow_exception(error);
    CHECK(server->active() == 0);
    CHECK(hub.subscribers() == 0);
  }

  // Connects and sends a GET of `target`.
  asio::awaitable<tcp::socket> open(std::string target) {
    tcp::socket socket(io);
    co_await socket.async_connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port), asio::use_awaitable);
    std::string request = fmt::format("GET {} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {}\r\n"
                                      "Accept: application/json\r\n\r\n",
                                      target, kKey);
    co_await asio::async_write(socket, asio::buffer(request), asio::use_awaitable);
    co_return socket;
  }

  // Waits (on the io_context) until the server has no connection left.
  asio::awaitable<void> until_idle() {
    asio::steady_timer timer(io);
    while (server->active() > 0) {
      timer.expires_after(5ms);
      co_await timer.async_wait(asio::use_awaitable);
    }
  }

  EventHub hub;
  unsigned short port = 0;
  std::optional<ApiServer> server;
  asio::io_context io{1};  // last: destroyed first, with any coroutine still holding the server or the hub
};

// Reads the response head; the bytes after it stay in `buffer`.
asio::awaitable<std::string> read_head(tcp::socket& socket, std::string& buffer) {
  std::size_t n = co_await asio::async_read_until(socket, asio::dynamic_buffer(buffer), "\r\n\r\n", asio::use_awaitable);
  std::string head = buffer.substr(0, n);
  buffer.erase(0, n);
  co_return head;
}

// Reads until `buffer` holds at least `size` bytes (or the peer closes).
asio::awaitable<void> read_at_least(tcp::socket& socket, std::string& buffer, std::size_t size) {
  std::array<char, 4096> chunk{};
  while (buffer.size() < size) {
    auto [ec, n] = co_await socket.async_read_some(asio::buffer(chunk), asio::as_tuple(asio::use_awaitable));
    if (ec) co_return;
    buffer.append(chunk.data(), n);
  }
}

// Reads until the peer closes; returns how the read ended.
asio::awaitable<error_code> read_to_end(tcp::socket& socket, std::string& buffer) {
  std::array<char, 4096> chunk{};
  for (;;) {
    auto [ec, n] = co_await socket.async_read_some(asio::buffer(chunk), asio::as_tuple(asio::use_awaitable));
    if (ec) co_return ec;
    buffer.append(chunk.data(), n);
  }
}

ServerLimits limits_with(std::chrono::milliseconds ping_interval, std::chrono::seconds write_timeout = 30s) {
  ServerLimits limits;
  limits.stream_ping_interval = ping_interval;
  limits.write_timeout = write_timeout;
  return limits;
}

}  // namespace

TEST_CASE("event stream frames: event and data lines, then an empty line") {
  CHECK(sse_frame("user.message", R"({"a":1})") == "event: user.message\ndata: {\"a\":1}\n\n");
  CHECK(sse_frame("bad\r\nname", "{}") == "event: badname\ndata: {}\n\n");
  CHECK(sse_frame("user.message", "{}", "sevt_1\n") == "id: sevt_1\nevent: user.message\ndata: {}\n\n");
  CHECK(ping_frame() == "event: ping\ndata: {\"type\":\"ping\"}\n\n");
}

TEST_CASE("event stream frames: a stored event is the event list's JSON on one line") {
  store::Event event;
  event.id = "sevt_01abc";
  event.session_id = "sesn_01xyz";
  event.type = "user.message";
  event.processed_at = "2026-11-27T02:21:22.123456Z";
  event.doc = R"({"content":[{"type":"text","text":"line one\nline two \"quoted\" é"}]})";
  event.seq = 7;
  CHECK(event_frame(event) ==
        "id: sevt_01abc\n"
        "event: user.message\n"
        "data: {\"content\":[{\"text\":\"line one\\nline two \\\"quoted\\\" \xc3\xa9\",\"type\":\"text\"}],"
        "\"id\":\"sevt_01abc\",\"processed_at\":\"2026-11-27T02:21:22.123456Z\",\"type\":\"user.message\"}\n\n");
  CHECK(event_frame(event) == sse_frame("user.message", event_json(event).dump(), "sevt_01abc"));
}

TEST_CASE("event stream frames: session.deleted") {
  CHECK(session_deleted_frame("sevt_01del", "2026-11-27T02:21:22.123456Z") ==
        "event: session.deleted\n"
        "data: {\"id\":\"sevt_01del\",\"processed_at\":\"2026-11-27T02:21:22.123456Z\",\"type\":\"session.deleted\"}\n\n");
}

TEST_CASE("event stream route: a stream reply starting after the newest event, or the usual refusals") {
  SessionFixture f;
  HttpReply empty = f.handle("GET", f.stream());
  REQUIRE(empty.stream.has_value());
  CHECK(empty.status == 200);
  CHECK(empty.body.empty());
  CHECK(empty.stream->session_id == f.session);
  CHECK(empty.stream->after_seq == 0);
  CHECK(header_value(empty, "Content-Type") == "text/event-stream");
  CHECK(header_value(empty, "Cache-Control") == "no-cache");
  CHECK(header_value(empty, "request-id").starts_with("req_"));

  json stored = f.send({"one", "two"});
  std::int64_t newest = 0;
  auto page = f.store().list_events(f.session, store::EventQuery{});
  REQUIRE(page);
  REQUIRE(page.value().items.size() == 2);
  CHECK(page.value().items[1].id == stored[1]["id"]);
  newest = page.value().items[1].seq;
  HttpReply after = f.handle("GET", f.stream() + "?event_deltas%5B%5D=agent.message");
  REQUIRE(after.stream.has_value());
  CHECK(after.stream->after_seq == newest);

  // Archived sessions may be streamed.
  f.ok_post("/v1/sessions/" + f.session + "/archive");
  HttpReply archived = f.handle("GET", f.stream());
  REQUIRE(archived.stream.has_value());
  CHECK(archived.stream->after_seq == newest);

  // Unknown session: the normal 404 JSON error, no stream.
  testing::Response missing = f.get("/v1/sessions/sesn_01missing/events/stream");
  CHECK(refusal(missing) == "404 not_found_error: session sesn_01missing was not found");
  HttpReply missing_reply = f.handle("GET", "/v1/sessions/sesn_01missing/events/stream");
  CHECK_FALSE(missing_reply.stream.has_value());

  // Auth like every route; other methods are 405.
  testing::Response unauthenticated = f.request("GET", f.stream(), {}, {}, false);
  CHECK(unauthenticated.status == 401);
  testing::Response post = f.post(f.stream());
  CHECK(post.status == 405);
  CHECK(post.header("Allow") == "GET");

  // An ordinary GET after a stream route is an ordinary JSON reply.
  HttpReply list = f.handle("GET", f.events());
  CHECK_FALSE(list.stream.has_value());
  CHECK(header_value(list, "Content-Type") == "application/json");
}

TEST_CASE("event stream over HTTP: head and ping at once, exactly the new events, session.deleted, the end") {
  ServerRig rig(limits_with(3600s));
  json before = rig.send({"before the stream"});
  rig.run([&]() -> asio::awaitable<void> {
    tcp::socket socket = co_await rig.open(rig.stream() + "?event_deltas%5B%5D=agent.message");
    std::string buffer;
    std::string head = co_await read_head(socket, buffer);
    CHECK(head.starts_with("HTTP/1.1 200 OK\r\n"));
    CHECK(head.find("\r\nContent-Type: text/event-stream\r\n") != std::string::npos);
    CHECK(head.find("\r\nCache-Control: no-cache\r\n") != std::string::npos);
    CHECK(head.find("\r\nConnection: close\r\n") != std::string::npos);
    CHECK(head.find("\r\nrequest-id: req_") != std::string::npos);
    CHECK(head.find("Content-Length") == std::string::npos);
    co_await read_at_least(socket, buffer, ping_frame().size());
    CHECK(buffer == ping_frame());
    buffer.clear();

    json first = rig.send({"first", "second"});
    json second = rig.send({"third"});
    std::string expected = frames_of(first) + frames_of(second);
    co_await read_at_least(socket, buffer, expected.size());
    CHECK(buffer == expected);  // nothing from before the stream, no ping (the interval is an hour)
    buffer.clear();

    rig.ok("DELETE", "/v1/sessions/" + rig.session);
    error_code end = co_await read_to_end(socket, buffer);
    CHECK(end == asio::error::eof);
    const std::string prefix = "event: session.deleted\ndata: ";
    REQUIRE(buffer.starts_with(prefix));
    REQUIRE(buffer.ends_with("\n\n"));
    json deleted = json::parse(buffer.substr(prefix.size(), buffer.size() - prefix.size() - 2));
    CHECK(deleted.size() == 3);
    CHECK(deleted["type"] == "session.deleted");
    CHECK(deleted["id"].get<std::string>().starts_with("sevt_"));
    CHECK(deleted["processed_at"].get<std::string>().size() == std::string("2026-11-27T02:21:22.123456Z").size());
    co_await rig.until_idle();
  });
  CHECK(before.size() == 1);
}

TEST_CASE("event stream over HTTP: an unknown session is the normal 404 JSON reply") {
  ServerRig rig(limits_with(3600s));
  rig.run([&]() -> asio::awaitable<void> {
    tcp::socket socket = co_await rig.open("/v1/sessions/sesn_01missing/events/stream");
    std::string buffer;
    std::string head = co_await read_head(socket, buffer);
    CHECK(head.starts_with("HTTP/1.1 404 Not Found\r\n"));
    CHECK(head.find("\r\nContent-Type: application/json\r\n") != std::string::npos);
    CHECK(head.find("\r\nContent-Length: ") != std::string::npos);
    co_return;
  });
}

TEST_CASE("event stream over HTTP: pings at the interval, and stop() ends the stream at once") {
  ServerRig rig(limits_with(10ms));
  rig.run([&]() -> asio::awaitable<void> {
    tcp::socket socket = co_await rig.open(rig.stream());
    std::string buffer;
    (void)co_await read_head(socket, buffer);
    std::string pings = ping_frame() + ping_frame() + ping_frame();
    co_await read_at_least(socket, buffer, pings.size());
    CHECK(buffer.substr(0, pings.size()) == pings);
    buffer.erase(0, pings.size());

    rig.server->stop();
    error_code end = co_await read_to_end(socket, buffer);
    CHECK(end == asio::error::eof);
    // Pings written before stop() may still arrive; nothing else.
    while (buffer.starts_with(ping_frame())) buffer.erase(0, ping_frame().size());
    CHECK(buffer.empty());
    co_await rig.until_idle();
  });
}

TEST_CASE("event stream over HTTP: an idle stream ends as soon as the client closes") {
  ServerRig rig(limits_with(3600s));
  rig.run([&]() -> asio::awaitable<void> {
    tcp::socket socket = co_await rig.open(rig.stream());
    std::string buffer;
    (void)co_await read_head(socket, buffer);
    co_await read_at_least(socket, buffer, ping_frame().size());
    CHECK(rig.server->active() == 1);
    // The stream subscribes once its head is out; from then on it waits (for an hour) for something to send.
    asio::steady_timer timer(rig.io);
    while (rig.hub.subscribers() == 0) {
      timer.expires_after(1ms);
      co_await timer.async_wait(asio::use_awaitable);
    }
    socket.close();
    co_await rig.until_idle();  // the hour-long ping interval never comes into it
    CHECK(rig.hub.subscribers() == 0);
  });
}

TEST_CASE("event stream over HTTP: a client that stops reading loses its stream at the write deadline") {
  ServerRig rig(limits_with(3600s, 1s));
  rig.run([&]() -> asio::awaitable<void> {
    tcp::socket socket = co_await rig.open(rig.stream());
    std::string buffer;
    (void)co_await read_head(socket, buffer);
    // Far more than the loopback socket buffers hold, appended without a notification: the stream finds
    // them at its first wake-up and blocks writing them.
    std::string text(1 << 20, 'x');
    for (int i = 0; i < 32; ++i) {
      json doc = {{"content", {{{"type", "text"}, {"text", text}}}}};
      REQUIRE(rig.store().append_events(rig.session, {{"user.message", doc.dump(), {}}}));
    }
    rig.hub.notify(rig.session);
    co_await rig.until_idle();  // the client never reads again
    CHECK(rig.hub.subscribers() == 0);
  });
}

TEST_CASE("event hub: notify wakes the session's subscriptions only, notify_all every one") {
  asio::io_context io;
  EventHub hub;
  EventHub::Subscription a(hub, "sesn_a", io.get_executor());
  EventHub::Subscription b(hub, "sesn_b", io.get_executor());
  CHECK(hub.subscribers() == 2);
  CHECK_FALSE(a.take_notified());
  hub.notify("sesn_a");
  CHECK(a.take_notified());
  CHECK_FALSE(a.take_notified());
  CHECK_FALSE(b.take_notified());
  hub.notify_all();
  CHECK(a.take_notified());
  CHECK(b.take_notified());
  {
    EventHub::Subscription c(hub, "sesn_a", io.get_executor());
    CHECK(hub.subscribers() == 3);
  }
  CHECK(hub.subscribers() == 2);

  // A pending wait ends at once.
  bool woke = false;
  a.timer().expires_after(1h);
  a.timer().async_wait([&](error_code ec) { woke = ec == asio::error::operation_aborted; });
  hub.notify("sesn_a");
  io.run_for(10s);
  CHECK(woke);
  CHECK(a.take_notified());
}

}  // namespace airlock::control

namespace airlock::control {

TEST_CASE("api server: a head sent a byte at a time is cut at the head timeout, from its first byte, with 408") {
  // The stream rig's server, for its connection loop: each byte would restart a per-read timer, the
  // whole head's deadline does not move (slowloris).
  ServerLimits limits;
  limits.head_timeout = 1s;
  ServerRig rig(limits);
  rig.run([&]() -> asio::awaitable<void> {
    tcp::socket socket(rig.io);
    co_await socket.async_connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), rig.port), asio::use_awaitable);
    const std::string head = "GET /v1/vaults HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n";
    const auto started = std::chrono::steady_clock::now();
    asio::steady_timer timer(rig.io);
    std::size_t sent = 0;
    for (; sent < head.size(); ++sent) {
      auto [ec, n] = co_await asio::async_write(socket, asio::buffer(head.data() + sent, 1),
                                                asio::as_tuple(asio::use_awaitable));
      if (ec) break;
      timer.expires_after(100ms);
      co_await timer.async_wait(asio::use_awaitable);
      if (std::chrono::steady_clock::now() - started > 3s) break;
    }
    std::string answer;
    co_await read_to_end(socket, answer);
    const auto elapsed = std::chrono::steady_clock::now() - started;
    CHECK(sent < head.size());  // cut before the head could end
    CHECK(elapsed < 2500ms);
    CHECK(answer.starts_with("HTTP/1.1 408 Request Timeout\r\n"));
    CHECK(answer.find("\r\nrequest-id: req_") != std::string::npos);
    CHECK(answer.find(R"({"error":{"message":"request head timed out","type":"timeout_error"},"request_id":"req_)") !=
          std::string::npos);
  });
}

}  // namespace airlock::control
