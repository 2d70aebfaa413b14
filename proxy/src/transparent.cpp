// transparent: a connection from a transparent listener, up to where the tunnel's path takes over
// (see connection.hpp). The sandbox made no proxy request, so the connection itself says where it goes:
//
//   TLS   the ClientHello's SNI names the host (no SNI: the original destination's IP, checked against the
//         upstream certificate's IP SANs); port = the original destination's. A passthrough host is
//         spliced with the ClientHello replayed byte for byte; any other host is intercepted exactly like
//         a CONNECT tunnel: handshake with a leaf for that host, then tunnel_requests().
//   HTTP  the first request's Host header names the host; port = the original destination's. Then
//         tunnel_requests() with that head already read, as inside a plain-HTTP CONNECT tunnel.
//
// The original destination address is recorded and used for nothing else: Airlock resolves the host
// itself, under the address checks and policies (SECURITY.md S3, N1). Refusals before a TLS handshake
// are fatal TLS alerts (nothing else can be said), with an audit row as always.
#include <chrono>

#include "airlock/policies/host_pattern.hpp"
#include "client_hello.hpp"
#include "connection.hpp"
#include "target.hpp"

namespace airlock::proxy {

namespace {

constexpr unsigned char kTlsHandshakeRecord = 0x16;

bool is_own_listener(const Shared& shared, const tcp::endpoint& endpoint) {
  for (const policies::OwnListener& listener : shared.address_rules.own_listeners()) {
    if (listener.port == endpoint.port() && listener.address == endpoint.address()) return true;
  }
  return false;
}

}  // namespace

asio::awaitable<void> Connection::transparent() {
  shared_.counters.transparent_connections.fetch_add(1, std::memory_order_relaxed);
  const auto addresses = transparent_addresses(client_.socket().native_handle());
  if (!addresses) co_return;  // reset before we looked: nothing to serve
  original_destination_ = endpoint_text(addresses->original_destination);
  Exchange exchange;
  exchange.record.time = std::chrono::system_clock::now();
  exchange.record.original_destination = original_destination_;

  // One bound for the first bytes, however many reads they take (a ClientHello over several segments).
  const auto timeout = shared_.options.timeouts.client_handshake;
  const auto until = Clock::now() + timeout;
  client_.expires_after(timeout);
  const auto [ec, first_byte] = co_await client_.peek_byte();
  if (ec) co_return;  // the client left (or said nothing in time) without a word
  client_.expires_after(until - Clock::now());
  if (first_byte == kTlsHandshakeRecord) {
    co_await transparent_tls(*addresses, exchange);
  } else {
    co_await transparent_http(*addresses, exchange);
  }
}

asio::awaitable<Caller> Connection::transparent_caller(const TransparentAddresses& addresses, Exchange& exchange) {
  if (is_own_listener(shared_, addresses.original_destination)) {
    co_await deny(exchange, Reason::not_redirected, {});
    co_return Caller{};
  }
  const auto snapshot = shared_.snapshots.load();
  if (!snapshot->unavailable.empty()) {
    exchange.record.session_id = shared_.options.transparent_session;  // a sidecar's: its audit goes to its session
    co_await deny_offline(exchange, *snapshot);
    co_return Caller{};
  }
  Caller caller = identify_source(shared_.options.transparent_session, addresses.source.address(), snapshot);
  if (caller.session == nullptr) {
    const std::string source = addresses.source.address().to_string();
    co_await deny(exchange, Reason::unknown_source, RefusalFacts{.detail = source});
    co_return Caller{};
  }
  exchange.record.session_id = caller.session->session_id;
  co_return caller;
}

asio::awaitable<void> Connection::transparent_tls(const TransparentAddresses& addresses, Exchange& exchange) {
  alert_refusals_ = true;
  exchange.record.method = "CONNECT";
  ClientHelloScan hello = scan_client_hello(client_.peeked());
  while (hello.state == ClientHelloScan::State::need_more) {
    if (client_.peeked().size() >= kBufferSize) {
      hello = ClientHelloScan{ClientHelloScan::State::malformed, std::nullopt, "its records exceed 64 KiB"};
      break;
    }
    if (co_await client_.peek_more()) co_return;  // closed, or too slow: nobody to answer
    hello = scan_client_hello(client_.peeked());
  }
  client_.expires_never();
  const tcp::endpoint& original = addresses.original_destination;
  exchange.record.host = original.address().to_string();
  exchange.record.port = original.port();
  if (hello.state != ClientHelloScan::State::complete) {
    co_await deny(exchange, Reason::bad_client_hello, RefusalFacts{.detail = "not a TLS ClientHello"});
    co_return;
  }
  auto host = certs::validate_host(hello.server_name ? *hello.server_name : original.address().to_string());
  if (!host) {
    co_await deny(exchange, Reason::bad_client_hello, RefusalFacts{.detail = "its server name is not a host name"});
    co_return;
  }
  const Authority target{std::move(*host), original.port()};
  exchange.record.host = target.host.text();

  const Caller caller = co_await transparent_caller(addresses, exchange);
  if (caller.session == nullptr) co_return;
  if (policies::host_matches_any(shared_.options.passthrough_hosts, target.host.text())) {
    if (auto limited = admit(caller.session->session_id)) {  // intercepted requests are admitted one by one
      co_await deny_limited(exchange, *limited);
      co_return;
    }
    Reach reach = Reach::public_only;
    if (co_await refuse_tunnel(*caller.session, target, false, exchange, reach)) co_return;
    co_await passthrough(caller, target, reach, exchange, {});  // the ClientHello is still in client_
    co_return;
  }
  // Intercepted: the environment and the policy are checked per request inside the tunnel, where a
  // refusal can be an HTTP response that says what to change.
  const ClientTls handshake = co_await accept_client_tls(shared_, client_, target.host);
  if (handshake.failure) {
    exchange.refuse(*handshake.failure);  // nothing can be answered: audited only
    audit(shared_, exchange);
    co_return;
  }
  alert_refusals_ = false;
  http1::RequestParser parser(http1::Limits{shared_.options.max_header_bytes});
  if (co_await tunnel_requests(parser, false, caller.session->session_id, target, true, handshake.sni_mismatch)) {
    rejected_after_handshake(exchange, target.host);
  }
}

asio::awaitable<void> Connection::transparent_http(const TransparentAddresses& addresses, Exchange& exchange) {
  client_.expires_never();
  client_.take_pending(client_in_);
  http1::RequestParser parser(http1::Limits{shared_.options.max_header_bytes});
  const HeadResult result = co_await read_head(parser, true);
  if (result == HeadResult::closed || result == HeadResult::abandoned) co_return;
  if (result != HeadResult::ok) {
    co_await deny_head(result, parser);
    co_return;
  }
  const http1::RequestHead& head = parser.head();
  exchange = begin(head);
  const tcp::endpoint& original = addresses.original_destination;
  exchange.record.host = original.address().to_string();
  exchange.record.port = original.port();
  const std::string* host_header = head.headers.find("Host");
  if (host_header == nullptr) {
    co_await deny(exchange, Reason::bad_request,
                  RefusalFacts{.detail = "a request to a transparent listener needs a Host header naming its host"});
    co_return;
  }
  // The Host header names the host; the port is the one the sandbox dialled (a Host naming another
  // port is a mismatch, 421, in tunnel_requests).
  const auto named = parse_host_header(*host_header, original.port());
  if (!named) {
    co_await deny(exchange, Reason::bad_request, RefusalFacts{.detail = "the Host header is not a host[:port]"});
    co_return;
  }
  const Authority target{named->host, original.port()};
  exchange.record.host = target.host.text();
  const Caller caller = co_await transparent_caller(addresses, exchange);
  if (caller.session == nullptr) co_return;
  co_await tunnel_requests(parser, true, caller.session->session_id, target, false, false);  // never abandoned: the head is read
}

}  // namespace airlock::proxy
