// intercept (see intercept.hpp): resolve, check, connect, verify; and the sandbox-side handshake.
#include "intercept.hpp"

#include <string>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <fmt/format.h>

#include "airlock/certs/upstream.hpp"
#include "airlock/policies/address.hpp"

namespace airlock::proxy {

struct UpstreamVerifier {
  static VerifiedUpstream make(const certs::ValidatedHost& host, std::uint16_t port, bool tls) {
    return VerifiedUpstream(host, port, tls);
  }
};

namespace {

constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);

struct Resolved {
  std::vector<tcp::endpoint> endpoints;
  std::optional<ConnectFailure> failure;
};

// Resolves once: --resolve overrides, IP literals as they are, else getaddrinfo (N2: the addresses found
// here are the only ones this connection will use).
asio::awaitable<Resolved> resolve(Shared& shared, const certs::ValidatedHost& host, std::uint16_t port) {
  Resolved out;
  std::string literal = host.is_ip() ? host.text() : std::string();
  for (const auto& [name, address] : shared.options.resolve) {
    if (iequals(name, host.text())) literal = address;
  }
  if (!literal.empty()) {
    error_code ec;
    const auto address = asio::ip::make_address(literal, ec);
    if (ec) {
      out.failure = ConnectFailure{Reason::upstream_unresolvable, "the --resolve entry for it is not an IP address"};
    } else {
      out.endpoints.emplace_back(address, port);
    }
    co_return out;
  }

  using namespace asio::experimental::awaitable_operators;
  const auto executor = co_await asio::this_coro::executor;
  tcp::resolver resolver(executor);
  asio::steady_timer timer(executor, shared.options.timeouts.upstream_connect);
  auto result = co_await (resolver.async_resolve(host.text(), std::to_string(port), kNoThrow) ||
                          timer.async_wait(kNoThrow));
  if (result.index() == 1) {
    resolver.cancel();
    out.failure = ConnectFailure{Reason::upstream_connect_timeout, "name resolution timed out"};
    co_return out;
  }
  auto [ec, entries] = std::get<0>(std::move(result));
  if (ec) {
    out.failure = ConnectFailure{Reason::upstream_unresolvable, ec.message()};
    co_return out;
  }
  for (const auto& entry : entries) out.endpoints.push_back(entry.endpoint());
  if (out.endpoints.empty()) out.failure = ConnectFailure{Reason::upstream_unresolvable, "no addresses"};
  co_return out;
}

// N1: the first address of `resolved` the rules refuse, as the refusal's words; nullopt when all pass.
std::optional<ConnectFailure> refused_address(const policies::AddressRules& rules, const certs::ValidatedHost& host,
                                              const std::vector<tcp::endpoint>& resolved, Reach reach) {
  for (const tcp::endpoint& endpoint : resolved) {
    const policies::AddressVerdict verdict =
        rules.check(endpoint.address(), endpoint.port(), reach == Reach::internal);
    if (verdict.allowed) continue;
    const std::string address = endpoint.address().to_string();
    std::string where = host.is_ip() && host.text() == address
                            ? fmt::format("{} is", address)
                            : fmt::format("{} resolves to {}, which is", host.text(), address);
    return ConnectFailure{Reason::address_not_allowed,
                          fmt::format("{} {} ({}); {}", where, verdict.range, verdict.cidr, verdict.hint)};
  }
  return std::nullopt;
}

}  // namespace

std::optional<ConnectFailure> refused_ip_target(const Shared& shared, const Authority& target, Reach reach) {
  if (!target.host.is_ip()) return std::nullopt;
  error_code ec;
  const auto address = asio::ip::make_address(target.host.text(), ec);
  if (ec) return ConnectFailure{Reason::bad_request, "the target is not an IP address"};
  return refused_address(shared.address_rules, target.host, {tcp::endpoint(address, target.port)}, reach);
}

namespace {

bool sni_names(std::string_view sni, const certs::ValidatedHost& host) {
  if (!sni.empty() && sni.back() == '.') sni.remove_suffix(1);
  if (host.is_ip()) {
    auto parsed = certs::validate_host(sni);
    return parsed && parsed->text() == host.text();
  }
  return iequals(sni, host.text());
}

}  // namespace

asio::awaitable<std::optional<ConnectFailure>> ensure_upstream(Shared& shared, Worker& worker, Watchdog& watchdog,
                                                               UpstreamSlot& slot, std::string_view session_id,
                                                               const Authority& destination, bool tls, bool fresh,
                                                               Reach reach) {
  const std::string key = UpstreamPool::key(session_id, destination.host, destination.port, tls);
  if (slot.leg && slot.key == key && !fresh) {
    if (slot.idle) shared.counters.upstream_connections_reused.fetch_add(1, std::memory_order_relaxed);
    slot.idle = false;
    co_return std::nullopt;
  }
  if (slot.leg) release_upstream(worker, watchdog, slot, slot.idle && !fresh);

  if (!fresh) {
    if (auto pooled = worker.pool.take(key)) {
      slot.leg = std::move(pooled->leg);
      slot.verified.emplace(std::move(pooled->verified));
      slot.key = key;
      slot.reused = true;
      watchdog.watch(*slot.leg);
      shared.counters.upstream_connections_reused.fetch_add(1, std::memory_order_relaxed);
      co_return std::nullopt;
    }
  }

  const auto& timeouts = shared.options.timeouts;
  auto leg = std::make_unique<Leg>(Socket(co_await asio::this_coro::executor), worker.buffers);
  watchdog.watch(*leg);
  // One deadline covers resolving, every connect attempt and the TLS handshake.
  leg->expires_after(timeouts.upstream_connect);
  const auto connect_started = std::chrono::steady_clock::now();

  Resolved resolved = co_await resolve(shared, destination.host, destination.port);
  if (!resolved.failure) resolved.failure = refused_address(shared.address_rules, destination.host, resolved.endpoints, reach);
  if (resolved.failure) {
    watchdog.unwatch(*leg);
    co_return resolved.failure;
  }

  // Only the addresses just checked, in order (N2: no second lookup).
  error_code last;
  bool connected = false;
  for (const auto& endpoint : resolved.endpoints) {
    last = co_await leg->connect(endpoint, shared.upstream_mark);
    if (!last) {
      connected = true;
      break;
    }
    if (last == asio::error::timed_out) break;
  }
  if (!connected) {
    watchdog.unwatch(*leg);
    if (last == asio::error::timed_out) co_return ConnectFailure{Reason::upstream_connect_timeout, {}};
    co_return ConnectFailure{Reason::upstream_connect_failed, last.message()};
  }
  shared.counters.upstream_connections_opened.fetch_add(1, std::memory_order_relaxed);
  leg->count_while_open(shared.counters.upstream_connections_open);

  if (tls) {
    ERR_clear_error();
    certs::SslPtr ssl{SSL_new(shared.upstream_tls.get())};
    if (!ssl || !certs::configure_upstream(ssl.get(), destination.host, destination.port)) {
      ERR_clear_error();
      leg->close_now();
      watchdog.unwatch(*leg);
      co_return ConnectFailure{Reason::upstream_tls_failed, "could not set up TLS"};
    }
    if (error_code ec = co_await leg->connect_tls(std::move(ssl))) {
      std::optional<ConnectFailure> failure;
      if (auto why = certs::verify_failure_reason(leg->ssl())) {
        failure = ConnectFailure{Reason::upstream_cert_invalid, std::move(*why)};  // S3: never continue
      } else if (ec == asio::error::timed_out) {
        failure = ConnectFailure{Reason::upstream_connect_timeout, {}};
      } else {
        failure = ConnectFailure{Reason::upstream_tls_failed, {}};
      }
      leg->close_now();
      watchdog.unwatch(*leg);
      co_return failure;
    }
  }
  leg->expires_never();
  if (tls) shared.counters.upstream_tls_handshakes.fetch_add(1, std::memory_order_relaxed);
  shared.counters.upstream_connect_duration.observe(std::chrono::steady_clock::now() - connect_started);
  slot.leg = std::move(leg);
  slot.verified.emplace(UpstreamVerifier::make(destination.host, destination.port, tls));
  slot.key = key;
  slot.reused = false;
  co_return std::nullopt;
}

void release_upstream(Worker& worker, Watchdog& watchdog, UpstreamSlot& slot, bool reusable) {
  if (!slot.leg) return;
  watchdog.unwatch(*slot.leg);
  if (reusable && slot.verified && !slot.leg->failed()) {
    worker.pool.put(slot.key, PooledUpstream{std::move(slot.leg), std::move(*slot.verified)});
  } else {
    slot.leg->close_now();
  }
  slot.leg.reset();
  slot.verified.reset();
  slot.key.clear();
  slot.reused = false;
  slot.idle = false;
}

void keep_upstream(UpstreamSlot& slot) noexcept {
  if (!slot.leg) return;
  slot.leg->expires_never();
  slot.reused = true;
  slot.idle = true;
}

namespace {

// The sandbox refused our certificate: an alert that says so, or a close right after our certificate went
// out (clients that close without an alert), instead of its next handshake message.
bool client_rejected_certificate(const Leg& client, const error_code& ec) {
  if (ec == make_error(StreamErrc::certificate_rejected)) return true;
  if (!is_peer_close(ec) || client.ssl() == nullptr) return false;
  switch (SSL_get_state(client.ssl())) {
    case TLS_ST_SW_SRVR_DONE:  // TLS 1.2: our flight, certificate included, is out
    case TLS_ST_SW_FINISHED:   // TLS 1.3: likewise
    case TLS_ST_SR_CERT:
    case TLS_ST_SR_KEY_EXCH:
    case TLS_ST_SR_CERT_VRFY:
    case TLS_ST_SR_CHANGE:
    case TLS_ST_SR_FINISHED:
    case TLS_ST_EARLY_DATA:  // TLS 1.3: where OpenSSL waits for the client's Finished after our flight
      return true;
    default:
      return false;
  }
}

}  // namespace

void warn_untrusted_ca(Shared& shared, const certs::ValidatedHost& host) noexcept {
  if (!shared.options.log || shared.options.log_level > LogLevel::warn) return;
  try {
    std::string line = refusal_body(Reason::client_untrusted_ca, RefusalFacts{.host = host.text()});
    if (!line.empty() && line.back() == '\n') line.pop_back();
    shared.options.log(LogLevel::warn, "proxy: " + line);
  } catch (...) {
  }
}

asio::awaitable<ClientTls> accept_client_tls(Shared& shared, Leg& client, const certs::ValidatedHost& host) {
  ClientTls out;
  auto context = shared.leaves->server_context(host);
  if (!context) {
    out.failure = Reason::certificate_unavailable;
    out.detail = context.error().message;
    co_return out;
  }
  client.expires_after(shared.options.timeouts.client_handshake);
  if (error_code ec = co_await client.accept_tls(context->get())) {
    out.failure = client_rejected_certificate(client, ec) ? Reason::client_untrusted_ca : Reason::client_tls_failed;
    out.detail = ec.message();
    if (out.failure == Reason::client_untrusted_ca) warn_untrusted_ca(shared, host);
    co_return out;
  }
  shared.counters.client_tls_handshakes.fetch_add(1, std::memory_order_relaxed);
  const char* sni = SSL_get_servername(client.ssl(), TLSEXT_NAMETYPE_host_name);
  // S2: no SNI is fine (clients send none for an IP target); a different name is domain fronting.
  out.sni_mismatch = sni != nullptr && !sni_names(sni, host);
  co_return out;
}

}  // namespace airlock::proxy
