// forward: one allowed exchange, start to end. Writes the rewritten head upstream, pumps the request body
// (substituting, watching for violations), reads the response, redacts its head and body on the way to
// the sandbox, and reports whether both connections can carry another exchange. An Upgrade answered with
// 101 becomes a splice of both connections. Also: refusals, the splice, and the lingering close.
//
// Flow control is by construction (STYLE.md §2): each direction loops parse → filter → write → read over
// one fixed InputBuffer, so a slow reader stops the writer instead of filling memory. The only bodies
// held whole are rewritten Content-Length bodies up to ProxyOptions::max_held_body_bytes, to send them
// with their new length; longer ones are re-framed as chunked.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <boost/asio/awaitable.hpp>

#include "airlock/http1/parser.hpp"
#include "buffer.hpp"
#include "context.hpp"
#include "decide.hpp"
#include "exchange.hpp"
#include "intercept.hpp"
#include "io.hpp"
#include "network_policy.hpp"

namespace airlock::proxy {

// What one exchange borrows from its connection (STYLE.md §2: the connection frame owns, stages borrow).
struct ExchangeScope {
  Shared& shared;
  Worker& worker;
  Watchdog& watchdog;
  Leg& client;
  InputBuffer& client_in;
  http1::RequestParser& parser;
  UpstreamSlot& upstream;
};

// Where the request goes, as policy accepted it.
struct Destination {
  Authority authority;
  bool tls = true;
  std::string origin_form;  // the target to send upstream, before url substitution
  std::string host_header;  // the Host to add when the client sent none
  Reach reach = Reach::public_only;  // the addresses a reconnect may use (the policy's internal: true)
};

struct Forwarded {
  bool client_keep_alive = false;  // the client connection may carry another request
  bool refused = false;            // a refusal was sent (the connection closes with a lingering close)
  bool cut_short = false;          // the response broke off after its head: the client connection is reset
};

// Precondition: scope.upstream holds a connection to `destination` for `session` (ensure_upstream) and
// the parser stopped at head_done for `head`.
asio::awaitable<Forwarded> forward(ExchangeScope& scope, const http1::RequestHead& head, const Plan& plan,
                                   const SessionEntry& session, const Destination& destination, Exchange& exchange);

// Writes the refusal for `reason` (when it has a status) and records it in `exchange`.
asio::awaitable<void> refuse(Shared& shared, Leg& client, Reason reason, const RefusalFacts& facts, Exchange& exchange);

// Copies bytes both ways until both directions have ended (or one failed, or `idle` passed with nothing
// moving). `a_pending` / `b_pending`: bytes already read from a / b, to deliver first.
asio::awaitable<void> splice(Leg& a, std::string_view a_pending, Leg& b, std::string_view b_pending,
                             Clock::duration idle, std::uint64_t& a_to_b, std::uint64_t& b_to_a);

// After a refusal: stop sending, then read and discard what the client still sends (bounded in time and
// bytes) before closing, so that its unread request bytes do not turn our close into a reset that
// destroys the response before the client reads it.
asio::awaitable<void> lingering_close(Leg& client, const ProxyTimeouts& timeouts);

}  // namespace airlock::proxy
