// Connection (see connection.hpp): the stages strung together, top to bottom.
#include "connection.hpp"

#include <chrono>
#include <utility>
#include <vector>

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/this_coro.hpp>
#include <fmt/format.h>

#include "airlock/policies/host_pattern.hpp"
#include "decide.hpp"
#include "forward.hpp"
#include "network_policy.hpp"
#include "target.hpp"

namespace airlock::proxy {

namespace {

constexpr std::string_view kEstablished = "HTTP/1.1 200 Connection Established\r\n\r\n";
constexpr unsigned char kTlsHandshakeRecord = 0x16;

std::string authority_text(const Authority& authority, std::uint16_t default_port) {
  const std::string& host = authority.host.text();
  std::string text = authority.host.kind() == certs::ValidatedHost::Kind::ipv6 ? "[" + host + "]" : host;
  if (authority.port != default_port) text += fmt::format(":{}", authority.port);
  return text;
}

// How long a keep-alive client may sit between requests before its kept upstream connection goes back to
// the pool (UpstreamSlot).
constexpr auto kKeptUpstreamIdle = std::chrono::milliseconds(250);

RefusalFacts facts_of(const Exchange& exchange) {
  return RefusalFacts{.host = exchange.record.host, .port = exchange.record.port};
}

RefusalFacts policy_facts(const Exchange& exchange, const PolicyCheck& policy) {
  return RefusalFacts{.host = exchange.record.host, .port = exchange.record.port, .session = exchange.record.session_id,
                      .detail = policy.detail};
}

}  // namespace

Connection::Connection(Shared& shared, Worker& worker, Socket socket)
    : shared_(shared),
      worker_(worker),
      client_(std::move(socket), worker.buffers),
      watchdog_(client_.socket().get_executor()),
      client_in_(&worker.buffers) {
  watchdog_.watch(client_);
  registration_ = worker_.connections.insert(worker_.connections.end(), this);
  shared_.counters.connections_open.fetch_add(1, std::memory_order_relaxed);
  if (shared_.draining.load(std::memory_order_relaxed)) draining_ = true;
}

Connection::~Connection() {
  release_upstream(worker_, watchdog_, upstream_, false);
  watchdog_.unwatch(client_);
  worker_.connections.erase(registration_);
  shared_.counters.connections_open.fetch_sub(1, std::memory_order_relaxed);
}

void Connection::drain() noexcept {
  draining_ = true;
  if (idle_) client_.abort();
}

void Connection::abort() noexcept {
  draining_ = true;
  client_.abort();
  if (upstream_.leg) upstream_.leg->abort();
}

asio::awaitable<void> Connection::run(bool transparent) {
  using namespace asio::experimental::awaitable_operators;
  co_await (serve(transparent) || watchdog_.run());
}

Exchange Connection::begin(const http1::RequestHead& head) const {
  Exchange exchange;
  exchange.record.time = std::chrono::system_clock::now();
  exchange.record.method = head.method;
  exchange.record.path = head.method == "CONNECT" ? std::string() : std::string(path_of(head.target));
  exchange.record.original_destination = original_destination_;
  return exchange;
}

std::optional<Reason> Connection::admit(const std::string& session_id) {
  if (!lease_.held() || lease_.key() != session_id) {
    SessionLimits::Lease lease = shared_.limits.connect(session_id);
    if (!lease.held()) return Reason::session_connection_limit;
    lease_ = std::move(lease);
  }
  if (!shared_.limits.request(session_id)) return Reason::session_rate_limit;
  return std::nullopt;
}

asio::awaitable<void> Connection::deny_limited(Exchange& exchange, Reason reason) {
  const ProxyOptions& options = shared_.options;
  const std::string limit = reason == Reason::session_connection_limit
                                ? fmt::format("{}", options.max_connections_per_session)
                                : fmt::format("{:g}", options.max_requests_per_second_per_session);
  RefusalFacts facts = facts_of(exchange);
  facts.session = exchange.record.session_id;
  facts.detail = limit;
  co_await deny(exchange, reason, facts);
}

asio::awaitable<void> Connection::deny_offline(Exchange& exchange, const CredentialSnapshot& snapshot) {
  co_await deny(exchange, Reason::proxy_offline, RefusalFacts{.detail = snapshot.unavailable});
}

asio::awaitable<void> Connection::deny(Exchange& exchange, Reason reason, RefusalFacts facts) {
  if (alert_refusals_) {
    // Before the handshake of a transparent TLS connection nothing but TLS can be answered: a fatal
    // alert, access_denied for a refusal (RFC 8446 §6.2), decode_error for an unreadable ClientHello.
    exchange.refuse(reason);
    const char description = static_cast<char>(reason == Reason::bad_client_hello              ? 50
                                               : refusal_row(reason).decision == "denied" ? 49
                                                                                           : 80);
    const char alert[] = {0x15, 0x03, 0x03, 0x00, 0x02, 0x02, description};
    client_.expires_after(shared_.options.timeouts.tls_shutdown);
    co_await client_.write_all(std::string_view(alert, sizeof alert));
    audit(shared_, exchange);
    linger_ = true;
    co_return;
  }
  co_await refuse(shared_, client_, reason, facts, exchange);
  audit(shared_, exchange);
  linger_ = true;
}

asio::awaitable<void> Connection::serve(bool transparent) {
  if (transparent) {
    co_await this->transparent();
  } else {
    http1::RequestParser parser(http1::Limits{shared_.options.max_header_bytes});
    for (bool first = true;; first = false) {
      const HeadResult result = co_await read_head(parser, first);
      if (result == HeadResult::closed || result == HeadResult::abandoned) break;
      if (result != HeadResult::ok) {
        co_await deny_head(result, parser);
        break;
      }
      if (parser.head().method == "CONNECT") {
        co_await connect_tunnel(parser);
        break;
      }
      if (!co_await absolute_request(parser)) break;
    }
  }
  end_upstream(worker_, watchdog_, upstream_);
  if (reset_) {
    client_.reset_now();
  } else if (linger_) {
    co_await lingering_close(client_, shared_.options.timeouts);
  } else {
    co_await client_.close(shared_.options.timeouts.tls_shutdown);
  }
}

asio::awaitable<Connection::HeadResult> Connection::read_head(http1::RequestParser& parser, bool first) {
  const auto& timeouts = shared_.options.timeouts;
  if (client_in_.empty()) {
    // Idle (a new connection, or keep-alive between requests): no buffer held, only a readiness wait,
    // which drain() may cut short.
    client_in_.release_if_empty();
    if (draining_) co_return HeadResult::closed;
    idle_ = true;
    error_code ec;
    if (!first && upstream_.idle) {
      // A busy client's next request comes well within this and finds its upstream connection warm; an
      // idle client hands it to the pool (capped per host), so idle connections do not each hold one.
      client_.expires_after(kKeptUpstreamIdle);
      ec = co_await client_.wait_readable();
      if (ec == asio::error::timed_out && !draining_) {
        client_.reopen_after_read_timeout();
        end_upstream(worker_, watchdog_, upstream_);
        client_.expires_after(timeouts.keep_alive_idle - kKeptUpstreamIdle);
        ec = co_await client_.wait_readable();
      }
    } else {
      client_.expires_after(first ? timeouts.request_head : timeouts.keep_alive_idle);
      ec = co_await client_.wait_readable();
    }
    idle_ = false;
    if (first && !draining_ && is_peer_close(ec)) co_return HeadResult::abandoned;
    if (ec || draining_) co_return HeadResult::closed;
  }
  client_.expires_after(timeouts.request_head);  // one bound for the whole head (slow senders included)
  bool any_byte = !client_in_.empty();
  std::vector<std::string_view> none;
  for (;;) {
    const http1::Step step = parser.parse(client_in_.data(), none);
    client_in_.consume(step.consumed);
    if (step.state == http1::State::head_done) {
      client_.expires_never();
      co_return HeadResult::ok;
    }
    if (step.state == http1::State::error) {
      client_.expires_never();
      co_return HeadResult::malformed;
    }
    if (step.state != http1::State::need_more) continue;
    auto [ec, n] = co_await client_.read_some(client_in_.space());
    if (ec) co_return ec == asio::error::timed_out && any_byte ? HeadResult::timed_out : HeadResult::closed;
    any_byte = true;
    client_in_.commit(n);
  }
}

asio::awaitable<void> Connection::deny_head(HeadResult result, http1::RequestParser& parser,
                                            const std::string& session_id, const Authority* target) {
  Exchange exchange;
  exchange.record.time = std::chrono::system_clock::now();
  exchange.record.session_id = session_id;
  if (target != nullptr) {
    exchange.record.host = target->host.text();
    exchange.record.port = target->port;
  }
  if (result == HeadResult::timed_out) {
    client_.reopen_after_read_timeout();
    co_await deny(exchange, Reason::request_timeout, {});
  } else {
    // S6: whatever llhttp (strict) or the head scanner refused: 400, then close.
    co_await deny(exchange, Reason::bad_request, RefusalFacts{.detail = parser.error()});
  }
}

// ---- CONNECT ----

asio::awaitable<void> Connection::connect_tunnel(http1::RequestParser& parser) {
  const http1::RequestHead& head = parser.head();
  Exchange exchange = begin(head);
  const auto target = parse_connect_target(head.target);
  if (!target) {
    co_await deny(exchange, Reason::bad_request,
                  RefusalFacts{.detail = "a CONNECT target is host:port, with a DNS name or an IP address"});
    co_return;
  }
  exchange.record.host = target->host.text();
  exchange.record.port = target->port;

  const auto snapshot = shared_.snapshots.load();
  if (!snapshot->unavailable.empty()) {
    co_await deny_offline(exchange, *snapshot);
    co_return;
  }
  const Caller caller = identify(head.headers, snapshot);
  if (caller.session == nullptr) {
    co_await deny(exchange, Reason::proxy_auth_required, facts_of(exchange));
    co_return;
  }
  exchange.record.session_id = caller.session->session_id;
  if (auto limited = admit(caller.session->session_id)) {
    co_await deny_limited(exchange, *limited);
    co_return;
  }
  const bool passthrough_host = policies::host_matches_any(shared_.options.passthrough_hosts, target->host.text());
  Reach reach = Reach::public_only;
  if (co_await refuse_tunnel(*caller.session, *target, !passthrough_host, exchange, reach)) co_return;

  // The CONNECT message ends at its head; anything after it is tunnel data (a client that did not wait
  // for the 200 before its ClientHello): it goes to the handshake first.
  std::vector<std::string_view> none;
  const http1::Step end = parser.parse(client_in_.data(), none);
  client_in_.consume(end.consumed);
  client_.preload(client_in_.data());
  client_in_.clear();

  if (passthrough_host) {
    co_await passthrough(caller, *target, reach, exchange, kEstablished);
    co_return;
  }

  client_.expires_after(shared_.options.timeouts.request_head);
  if (co_await client_.write_all(kEstablished)) co_return;

  client_.expires_after(shared_.options.timeouts.client_handshake);
  const auto [peeked, first_byte] = co_await client_.peek_byte();
  if (peeked) co_return;  // the client left without a word
  const bool tls = first_byte == kTlsHandshakeRecord;
  bool sni_mismatch = false;
  if (!tls) client_.take_pending(client_in_);  // plain HTTP inside the tunnel: the bytes are a request
  if (tls) {
    const ClientTls handshake = co_await accept_client_tls(shared_, client_, target->host);
    if (handshake.failure) {
      exchange.refuse(*handshake.failure);  // nothing can be answered: audited only
      audit(shared_, exchange);
      co_return;
    }
    sni_mismatch = handshake.sni_mismatch;
  }
  // The CONNECT itself is not an exchange: each request inside the tunnel is audited on its own.
  http1::RequestParser inner(http1::Limits{shared_.options.max_header_bytes});
  if (co_await tunnel_requests(inner, false, caller.session->session_id, *target, tls, sni_mismatch) && tls) {
    rejected_after_handshake(exchange, target->host);
  }
}

void Connection::rejected_after_handshake(Exchange& exchange, const certs::ValidatedHost& host) {
  exchange.refuse(Reason::client_untrusted_ca);
  audit(shared_, exchange);
  warn_untrusted_ca(shared_, host);
}

asio::awaitable<bool> Connection::refuse_tunnel(const SessionEntry& session, const Authority& target, bool intercepted,
                                                Exchange& exchange, Reach& reach) {
  if (!environment_allows(session, target.host)) {
    co_await deny(exchange, Reason::host_not_allowed, facts_of(exchange));
    co_return true;
  }
  const PolicyCheck policy = policy_for_connection(session, target, intercepted);
  if (policy.refused) {
    co_await deny(exchange, *policy.refused, policy_facts(exchange, policy));
    co_return true;
  }
  if (auto refused = refused_ip_target(shared_, target, policy.reach)) {
    co_await deny(exchange, refused->reason,
                  RefusalFacts{.host = target.host.text(), .port = target.port, .detail = refused->detail});
    co_return true;
  }
  reach = policy.reach;
  co_return false;
}

asio::awaitable<void> Connection::passthrough(const Caller& caller, const Authority& target, Reach reach,
                                              Exchange& exchange, std::string_view established) {
  if (auto failure = co_await ensure_upstream(shared_, worker_, watchdog_, upstream_, caller.session->session_id, target,
                                              false, true, reach)) {
    co_await deny(exchange, failure->reason,
                  RefusalFacts{.host = target.host.text(), .port = target.port, .detail = failure->detail});
    co_return;
  }
  exchange.passthrough = true;
  alert_refusals_ = false;  // from here on the bytes are the upstream's
  client_.expires_after(shared_.options.timeouts.request_head);
  if (!co_await client_.write_all(established)) {
    exchange.record.status = 200;
    exchange.record.bytes_down += established.size();
    co_await splice(client_, {}, *upstream_.leg, {}, shared_.options.timeouts.tunnel_idle, exchange.record.bytes_up,
                    exchange.record.bytes_down);
  }
  release_upstream(worker_, watchdog_, upstream_, false);
  audit(shared_, exchange);
}

asio::awaitable<bool> Connection::tunnel_requests(http1::RequestParser& parser, bool head_ready, std::string session_id,
                                                  const Authority& target, bool tls, bool sni_mismatch) {
  const std::uint16_t default_port = tls ? 443 : 80;
  for (bool first = true;; first = false) {
    const HeadResult result = std::exchange(head_ready, false) ? HeadResult::ok : co_await read_head(parser, first);
    if (result == HeadResult::abandoned) co_return true;
    if (result == HeadResult::closed) co_return false;
    if (result != HeadResult::ok) {
      co_await deny_head(result, parser, session_id, &target);
      co_return false;
    }
    const http1::RequestHead& head = parser.head();
    Exchange exchange = begin(head);
    exchange.record.host = target.host.text();
    exchange.record.port = target.port;
    exchange.record.session_id = session_id;

    // The session may have ended since the CONNECT: look it up in the current snapshot, every request.
    const auto snapshot = shared_.snapshots.load();
    if (!snapshot->unavailable.empty()) {
      co_await deny_offline(exchange, *snapshot);
      co_return false;
    }
    const Caller caller = find_session(session_id, snapshot);
    if (caller.session == nullptr) {
      co_await deny(exchange, Reason::session_closed, RefusalFacts{.session = session_id});
      co_return false;
    }
    if (auto limited = admit(session_id)) {
      co_await deny_limited(exchange, *limited);
      co_return false;
    }
    // S2: the host substitution is decided for is the CONNECT target; SNI and Host must agree with it.
    std::string origin_form = head.target;
    bool mismatch = sni_mismatch || head.method == "CONNECT";
    if (const std::string* host = head.headers.find("Host")) {
      mismatch = mismatch || !host_header_matches(*host, target.host, target.port);
    } else if (head.version_minor >= 1) {
      co_await deny(exchange, Reason::bad_request, RefusalFacts{.detail = "an HTTP/1.1 request needs a Host header"});
      co_return false;
    }
    if (!head.target.empty() && head.target.front() != '/' && head.target != "*") {
      const auto url = parse_absolute_url(head.target);
      mismatch = mismatch || !url || url->scheme != (tls ? "https" : "http") || url->authority.host != target.host ||
                 url->authority.port != target.port;
      if (url) origin_form = url->origin_form;
    }
    if (mismatch) {
      co_await deny(exchange, Reason::host_mismatch, facts_of(exchange));
      co_return false;
    }
    if (!environment_allows(*caller.session, target.host)) {
      co_await deny(exchange, Reason::host_not_allowed, facts_of(exchange));
      co_return false;
    }
    const PolicyCheck policy = policy_for_request(*caller.session, target, head);
    if (policy.refused) {
      co_await deny(exchange, *policy.refused, policy_facts(exchange, policy));
      co_return false;
    }

    if (auto failure =
            co_await ensure_upstream(shared_, worker_, watchdog_, upstream_, session_id, target, tls, false, policy.reach)) {
      co_await deny(exchange, failure->reason,
                    RefusalFacts{.host = target.host.text(), .port = target.port, .detail = failure->detail});
      co_return false;
    }
    const Decision decision = decide(head, *upstream_.verified, *caller.session,
                                     DecideOptions{shared_.options.placeholder_violation_passthrough,
                                                   shared_.options.allow_plaintext_substitution});
    if (const auto* refused = std::get_if<Refuse>(&decision)) {
      release_upstream(worker_, watchdog_, upstream_, true);  // nothing was sent on it
      RefusalFacts facts = facts_of(exchange);
      if (refused->credential != nullptr) facts.secret_name = refused->credential->secret_name;
      co_await deny(exchange, refused->reason, facts);
      co_return false;
    }
    ExchangeScope scope{shared_, worker_, watchdog_, client_, client_in_, parser, upstream_};
    const Destination destination{target, tls, std::move(origin_form), authority_text(target, default_port),
                                  policy.reach};
    const Forwarded forwarded =
        co_await forward(scope, head, std::get<Plan>(decision), *caller.session, destination, exchange);
    audit(shared_, exchange);
    reset_ = forwarded.cut_short;
    if (forwarded.refused) {
      linger_ = true;
      co_return false;
    }
    if (!forwarded.client_keep_alive || draining_) co_return false;
  }
}

// ---- absolute-form (HTTP_PROXY) ----

asio::awaitable<bool> Connection::absolute_request(http1::RequestParser& parser) {
  const http1::RequestHead& head = parser.head();
  Exchange exchange = begin(head);
  const auto url = parse_absolute_url(head.target);
  if (!url) {
    if (!head.target.empty() && (head.target.front() == '/' || head.target == "*")) {
      co_await deny(exchange, Reason::not_a_proxy_request, {});
    } else {
      co_await deny(exchange, Reason::bad_request,
                    RefusalFacts{.detail = "the request target must be an absolute http:// URL"});
    }
    co_return false;
  }
  exchange.record.host = url->authority.host.text();
  exchange.record.port = url->authority.port;
  if (url->scheme != "http") {
    co_await deny(exchange, Reason::bad_request,
                  RefusalFacts{.detail = "send https:// requests through CONNECT (HTTPS_PROXY)"});
    co_return false;
  }
  const auto snapshot = shared_.snapshots.load();
  if (!snapshot->unavailable.empty()) {
    co_await deny_offline(exchange, *snapshot);
    co_return false;
  }
  const Caller caller = identify(head.headers, snapshot);
  if (caller.session == nullptr) {
    co_await deny(exchange, Reason::proxy_auth_required, facts_of(exchange));
    co_return false;
  }
  exchange.record.session_id = caller.session->session_id;
  if (auto limited = admit(caller.session->session_id)) {
    co_await deny_limited(exchange, *limited);
    co_return false;
  }
  if (!environment_allows(*caller.session, url->authority.host)) {
    co_await deny(exchange, Reason::host_not_allowed, facts_of(exchange));
    co_return false;
  }
  if (const std::string* host = head.headers.find("Host");
      host != nullptr && !host_header_matches(*host, url->authority.host, url->authority.port)) {
    co_await deny(exchange, Reason::host_mismatch, facts_of(exchange));
    co_return false;
  }
  // Plain HTTP is always seen whole, so the policy decides the connection and then the request.
  PolicyCheck policy = policy_for_connection(*caller.session, url->authority, true);
  if (!policy.refused) policy = policy_for_request(*caller.session, url->authority, head);
  if (policy.refused) {
    co_await deny(exchange, *policy.refused, policy_facts(exchange, policy));
    co_return false;
  }
  if (auto failure = co_await ensure_upstream(shared_, worker_, watchdog_, upstream_, caller.session->session_id,
                                              url->authority, false, false, policy.reach)) {
    co_await deny(exchange, failure->reason,
                  RefusalFacts{.host = url->authority.host.text(), .port = url->authority.port, .detail = failure->detail});
    co_return false;
  }
  // A passthrough host gets its request as sent: no substitution and no placeholder checks.
  const bool passthrough = policies::host_matches_any(shared_.options.passthrough_hosts, url->authority.host.text());
  Decision decision = Plan{};
  if (!passthrough) {
    decision = decide(head, *upstream_.verified, *caller.session,
                      DecideOptions{shared_.options.placeholder_violation_passthrough,
                                    shared_.options.allow_plaintext_substitution});
  }
  if (const auto* refused = std::get_if<Refuse>(&decision)) {
    release_upstream(worker_, watchdog_, upstream_, true);
    RefusalFacts facts = facts_of(exchange);
    if (refused->credential != nullptr) facts.secret_name = refused->credential->secret_name;
    co_await deny(exchange, refused->reason, facts);
    co_return false;
  }
  ExchangeScope scope{shared_, worker_, watchdog_, client_, client_in_, parser, upstream_};
  const Destination destination{url->authority, false, url->origin_form, authority_text(url->authority, 80), policy.reach};
  const Forwarded forwarded = co_await forward(scope, head, std::get<Plan>(decision), *caller.session, destination, exchange);
  audit(shared_, exchange);
  reset_ = forwarded.cut_short;
  if (forwarded.refused) {
    linger_ = true;
    co_return false;
  }
  co_return forwarded.client_keep_alive && !draining_;
}

asio::awaitable<void> serve_connection(Shared& shared, Worker& worker, Socket socket) {
  Connection connection(shared, worker, std::move(socket));
  co_await connection.run();
}

asio::awaitable<void> serve_transparent(Shared& shared, Worker& worker, Socket socket) {
  Connection connection(shared, worker, std::move(socket));
  co_await connection.run(true);
}

}  // namespace airlock::proxy
