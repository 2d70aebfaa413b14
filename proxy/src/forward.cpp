// forward (see forward.hpp).
//
// One exchange, in order:
//   1. rewrite the head (rewrite.cpp); choose the request framing: as received, or, when a substitution
//      can change the body's length, held (Content-Length <= max_held_body_bytes) or chunked;
//   2. answer Expect: 100-continue ourselves (Expect is not forwarded);
//   3. send head and body (pump_body: parse → BodyFilter → BodyEncoder → write); a watched placeholder
//      stops the pump before its bytes leave, the upstream connection is dropped, the client gets 403;
//   4. read the response head (1xx interim answers other than 100 are passed on); a reused pooled
//      connection that turns out dead before any response byte is replaced and a replayable request
//      (no body, or a held one) is sent again, once;
//   5. redact the response head; a response from a host that receives credentials and that cannot be
//      scanned (206, an unknown coding) is refused, a compressed one is decoded whole (S11); choose the
//      response framing (redaction may re-frame as chunked, or hold a short Content-Length body to fix
//      its length); pump the body back;
//   6. report keep-alive for both sides: the upstream goes back to the pool only after a complete,
//      keep-alive response with nothing unread.
#include "forward.hpp"

#include <algorithm>
#include <type_traits>
#include <vector>

#include <boost/asio/experimental/awaitable_operators.hpp>

#include "decode.hpp"
#include "redact.hpp"
#include "rewrite.hpp"
#include "target.hpp"

namespace airlock::proxy {

namespace {

constexpr std::size_t kFlushAt = 64 * 1024;
constexpr std::size_t kSpliceBuffer = 16 * 1024;
constexpr std::size_t kLingerBytes = 1 << 20;
constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";

enum class PumpEnd { done, violation, bad_message, read_failed, write_failed, undecodable };

struct Pump {
  PumpEnd end = PumpEnd::done;
  error_code ec;
  const BodyWatch* violation = nullptr;
  std::string detail;
};

// Writes `out` to `to` and clears it (wiping it when it may hold secrets).
asio::awaitable<error_code> flush(Leg& to, std::string& out, Clock::duration idle, std::uint64_t& written, bool secret) {
  if (out.empty()) co_return error_code{};
  to.expires_after(idle);
  const error_code ec = co_await to.write_all(out);
  if (!ec) written += out.size();
  if (secret) {
    wipe(out);
  } else {
    out.clear();
  }
  co_return ec;
}

// Moves one message body from `from` to `to` (or into `*hold`). `out` may already hold bytes to send
// first (the head); they are sent together with the first body bytes.
template <class Parser>
asio::awaitable<Pump> pump_body_impl(Parser& parser, Leg& from, InputBuffer& in, Leg& to, BodyFilter& filter,
                                const BodyEncoder& encoder, std::string& out, std::string* hold, Clock::duration idle,
                                std::uint64_t& written, Redaction* trailer_redactor) {
  Pump result;
  std::vector<std::string_view> pieces;
  std::string filtered;
  std::string& sink = hold != nullptr ? *hold : out;
  const bool secret = filter.changes_length();
  bool ended = false;
  for (;;) {
    const http1::Step step = parser.parse(in.data(), pieces);
    for (const std::string_view piece : pieces) {
      if (!filter.active()) {
        encoder.append(sink, piece);
        continue;
      }
      filtered.clear();
      if (const BodyWatch* violation = filter.feed(piece, filtered)) {
        wipe(filtered);
        result.end = PumpEnd::violation;
        result.violation = violation;
        co_return result;
      }
      encoder.append(sink, filtered);
    }
    pieces.clear();
    in.consume(step.consumed);  // after the pieces are used: they point into `in`
    if (step.state == http1::State::error) {
      result.end = PumpEnd::bad_message;
      result.detail = std::string(parser.error());
      co_return result;
    }
    if (step.state == http1::State::message_done) ended = true;

    if (!ended && in.empty()) {
      if (error_code ec = co_await flush(to, out, idle, written, secret)) {
        result.end = PumpEnd::write_failed;
        result.ec = ec;
        co_return result;
      }
      from.expires_after(idle);
      auto [ec, n] = co_await from.read_some(in.space());
      if (ec) {
        if constexpr (std::is_same_v<Parser, http1::ResponseParser>) {
          // A response framed by the connection's end is complete at a clean end only (close_notify, or FIN
          // on plain TCP): a reset or a TLS close without close_notify may have cut it (RFC 9112 §9.8).
          if (ec == asio::error::eof && parser.finish_on_eof()) {
            ended = true;
          }
        }
        if (!ended) {
          result.end = PumpEnd::read_failed;
          result.ec = ec;
          co_return result;
        }
      } else {
        in.commit(n);
      }
    }
    if (ended) {
      filtered.clear();
      if (const BodyWatch* violation = filter.finish(filtered)) {
        wipe(filtered);
        result.end = PumpEnd::violation;
        result.violation = violation;
        co_return result;
      }
      encoder.append(sink, filtered);
      if (trailer_redactor != nullptr) {
        // Response trailers pass on, redacted like the head (S7); request trailers are dropped.
        http1::Headers trailers = parser.trailers();
        trailer_redactor->headers(trailers);
        encoder.finish(sink, &trailers);
      } else {
        encoder.finish(sink, nullptr);
      }
      if (secret) wipe(filtered);
      if (hold == nullptr) {
        if (error_code ec = co_await flush(to, out, idle, written, secret)) {
          result.end = PumpEnd::write_failed;
          result.ec = ec;
        }
      }
      co_return result;
    }
    if (out.size() >= kFlushAt) {
      if (error_code ec = co_await flush(to, out, idle, written, secret)) {
        result.end = PumpEnd::write_failed;
        result.ec = ec;
        co_return result;
      }
    }
  }
}

// The reading phase of a pump ends with it: no deadline may stay armed on `from` (io.hpp).
template <class Parser>
asio::awaitable<Pump> pump_body(Parser& parser, Leg& from, InputBuffer& in, Leg& to, BodyFilter& filter,
                                const BodyEncoder& encoder, std::string& out, std::string* hold, Clock::duration idle,
                                std::uint64_t& written, Redaction* trailer_redactor) {
  Pump result =
      co_await pump_body_impl(parser, from, in, to, filter, encoder, out, hold, idle, written, trailer_redactor);
  from.expires_never();
  co_return result;
}

// Reads a whole response body into `decoder` (S11: a compressed response from a credential host is
// decoded, scanned and sent whole). Ends with no deadline armed on `from`, like pump_body.
asio::awaitable<Pump> read_encoded_body(http1::ResponseParser& parser, Leg& from, InputBuffer& in,
                                        ContentDecoder& decoder, Clock::duration idle) {
  Pump result;
  std::vector<std::string_view> pieces;
  for (;;) {
    const http1::Step step = parser.parse(in.data(), pieces);
    bool decoded = true;
    for (const std::string_view piece : pieces) decoded = decoded && decoder.feed(piece);
    pieces.clear();
    in.consume(step.consumed);
    if (step.state == http1::State::error) {
      result.end = PumpEnd::bad_message;
      result.detail = std::string(parser.error());
      break;
    }
    if (!decoded || (step.state == http1::State::message_done && !decoder.finish())) {
      result.end = PumpEnd::undecodable;
      result.detail = std::string(decoder.error());
      break;
    }
    if (step.state == http1::State::message_done) break;
    if (!in.empty()) continue;
    from.expires_after(idle);
    auto [ec, n] = co_await from.read_some(in.space());
    if (ec) {
      if (ec == asio::error::eof && parser.finish_on_eof()) {  // a clean end only, as in pump_body_impl
        if (!decoder.finish()) {
          result.end = PumpEnd::undecodable;
          result.detail = std::string(decoder.error());
        }
        break;
      }
      result.end = PumpEnd::read_failed;
      result.ec = ec;
      break;
    }
    in.commit(n);
  }
  from.expires_never();
  co_return result;
}

bool expects_continue(const http1::RequestHead& head) {
  const std::string* expect = head.headers.find("Expect");
  return expect != nullptr && iequals(*expect, "100-continue");
}

RefusalFacts facts_for(const Destination& destination, const CredentialRule* credential) {
  RefusalFacts facts;
  facts.host = destination.authority.host.text();
  facts.port = destination.authority.port;
  if (credential != nullptr) facts.secret_name = credential->secret_name;
  return facts;
}

// Reads a response head, passing interim 1xx answers (except 100, which we already sent) to the client.
// Returns the error that stopped it, if any; `any_byte` says whether the upstream sent anything at all.
struct HeadRead {
  error_code ec;
  bool bad = false;
  bool client_failed = false;  // writing an interim response to the client failed
  bool any_byte = false;
  std::string detail;
};

// Records in the exchange which secrets `redaction` has replaced so far, by secret_name, each name once
// (two vaults may hold credentials of one name). Allocates only when something was redacted.
void note_redactions(const Redaction& redaction, Exchange& exchange) {
  const std::vector<const CredentialRule*> credentials = redaction.redacted();
  if (credentials.empty()) return;
  exchange.redacted_secrets.clear();
  for (const CredentialRule* credential : credentials) {
    const auto& names = exchange.redacted_secrets;
    if (std::find(names.begin(), names.end(), credential->secret_name) == names.end()) {
      exchange.redacted_secrets.push_back(credential->secret_name);
    }
  }
}

asio::awaitable<HeadRead> read_response_head(ExchangeScope& scope, http1::ResponseParser& parser, InputBuffer& in,
                                             Redaction& redaction, Exchange& exchange) {
  HeadRead result;
  const auto& timeouts = scope.shared.options.timeouts;
  Leg& upstream = *scope.upstream.leg;
  std::vector<std::string_view> none;
  for (;;) {
    const http1::Step step = parser.parse(in.data(), none);
    in.consume(step.consumed);
    if (step.state == http1::State::error) {
      result.bad = true;
      result.detail = std::string(parser.error());
      co_return result;
    }
    if (step.state == http1::State::head_done) {
      const int status = parser.head().status;
      if (status >= 200 || status == 101) co_return result;
      // Interim: its message ends at once; then the final response follows.
      const http1::Step end = parser.parse(in.data(), none);
      in.consume(end.consumed);
      if (status != 100) {
        http1::ResponseHead interim = parser.head();
        interim.reason = std::string(status_text(static_cast<unsigned>(status)));  // S11: never the upstream's
        redaction.headers(interim.headers);
        std::string bytes = http1::serialize(interim);
        scope.client.expires_after(timeouts.body_idle);
        if (error_code ec = co_await scope.client.write_all(bytes)) {
          result.ec = ec;
          result.client_failed = true;
          co_return result;
        }
        exchange.record.bytes_down += bytes.size();
      }
      continue;
    }
    if (step.state == http1::State::need_more) {
      upstream.expires_after(timeouts.upstream_response);
      auto [ec, n] = co_await upstream.read_some(in.space());
      upstream.expires_never();
      if (ec) {
        result.ec = ec;
        co_return result;
      }
      result.any_byte = true;
      in.commit(n);
    }
  }
}

}  // namespace

asio::awaitable<void> refuse(Shared& shared, Leg& client, Reason reason, const RefusalFacts& facts, Exchange& exchange) {
  exchange.refuse(reason);
  const RefusalRow& row = refusal_row(reason);
  if (row.status == 0) co_return;
  exchange.record.status = static_cast<int>(row.status);
  if (client.failed()) co_return;
  const std::string response = render_refusal(reason, facts);
  client.expires_after(shared.options.timeouts.body_idle);
  if (!co_await client.write_all(response)) exchange.record.bytes_down += response.size();
}

namespace {

// A request body that could not be sent: a placeholder where its credential may not go, or a malformed
// body, is answered (true: the client got a refusal); a client that went away is only recorded.
asio::awaitable<bool> refuse_failed_pump(Shared& shared, Leg& client, const Pump& pumped, const Destination& destination,
                                         Exchange& exchange) {
  if (pumped.end == PumpEnd::violation) {
    co_await refuse(shared, client, pumped.violation->reason, facts_for(destination, pumped.violation->credential),
                    exchange);
    co_return true;
  }
  if (pumped.end == PumpEnd::bad_message) {
    co_await refuse(shared, client, Reason::bad_request, RefusalFacts{.detail = pumped.detail}, exchange);
    co_return true;
  }
  exchange.refuse(Reason::client_closed);
  co_return false;
}

}  // namespace

asio::awaitable<Forwarded> forward(ExchangeScope& scope, const http1::RequestHead& head, const Plan& plan,
                                   const SessionEntry& session, const Destination& destination, Exchange& exchange) {
  Shared& shared = scope.shared;
  const ProxyOptions& options = shared.options;
  const auto& timeouts = options.timeouts;
  const Clock::duration idle = timeouts.body_idle;
  Forwarded result;
  EgressRecord& record = exchange.record;

  // 1. Head and request framing.
  UpstreamRequest request = rewrite_head(head, destination.origin_form, destination.host_header, plan);
  BodyFilter body_filter = BodyFilter::for_request(plan);
  const bool body = has_body(head);
  bool hold = false;
  Framing framing = Framing::none;
  if (body) {
    if (body_filter.changes_length()) {
      hold = head.content_length && *head.content_length <= options.max_held_body_bytes;
      framing = hold ? Framing::length : Framing::chunked;
    } else {
      framing = head.chunked ? Framing::chunked : Framing::length;
    }
  }
  const BodyEncoder request_encoder(framing);
  const bool secret_head = !request.uses.empty();
  record.credentials = request.uses;

  // 2. Expect: 100-continue is answered here; the body then comes straight to us.
  if (body && expects_continue(head) && head.version_minor >= 1) {
    scope.client.expires_after(idle);
    if (co_await scope.client.write_all(kContinue)) co_return result;
    record.bytes_down += kContinue.size();
  }

  // 3. Send. A held body is read and rewritten whole first, so its length is known.
  std::string held;
  if (hold) {
    std::string unused;
    const Pump pumped = co_await pump_body(scope.parser, scope.client, scope.client_in, *scope.upstream.leg, body_filter,
                                           request_encoder, unused, &held, idle, record.bytes_up, nullptr);
    if (pumped.end != PumpEnd::done) {
      wipe(held);
      release_upstream(scope.worker, scope.watchdog, scope.upstream, true);  // nothing was sent on it
      result.refused = co_await refuse_failed_pump(shared, scope.client, pumped, destination, exchange);
      co_return result;
    }
  }
  for (const auto& use : body_filter.uses()) record.credentials.push_back(use);

  http1::ResponseParser response_parser(http1::Limits{options.max_header_bytes});
  InputBuffer upstream_in(&scope.worker.buffers);
  Redaction redaction(plan.reflect, request.written);
  bool request_complete = true;
  HeadRead head_read;
  for (int attempt = 0;; ++attempt) {
    set_framing(request.head.headers, framing, hold ? held.size() : head.content_length.value_or(0));
    std::string out = http1::serialize(request.head);
    response_parser = http1::ResponseParser(http1::Limits{options.max_header_bytes});
    response_parser.expect_response_to(head.method);
    upstream_in.clear();
    error_code send_error;
    if (!body || hold) {
      out += held;
      send_error = co_await flush(*scope.upstream.leg, out, idle, record.bytes_up, secret_head || hold);
    } else {
      const Pump pumped = co_await pump_body(scope.parser, scope.client, scope.client_in, *scope.upstream.leg,
                                             body_filter, request_encoder, out, nullptr, idle, record.bytes_up, nullptr);
      wipe(out);
      if (pumped.end == PumpEnd::violation || pumped.end == PumpEnd::bad_message || pumped.end == PumpEnd::read_failed) {
        // The upstream holds half a request: that connection is finished.
        release_upstream(scope.worker, scope.watchdog, scope.upstream, false);
        result.refused = co_await refuse_failed_pump(shared, scope.client, pumped, destination, exchange);
        record.credentials.clear();
        co_return result;
      }
      for (const auto& use : body_filter.uses()) {
        bool known = false;
        for (const auto& have : record.credentials) known = known || (have.credential_id == use.credential_id && have.location == use.location);
        if (!known) record.credentials.push_back(use);
      }
      if (pumped.end == PumpEnd::write_failed) {
        send_error = pumped.ec;
        request_complete = false;  // the upstream may still have answered early (413, 401, ...)
      }
    }

    // 4. The response head.
    if (send_error && request_complete) {
      head_read.ec = send_error;
    } else {
      head_read = co_await read_response_head(scope, response_parser, upstream_in, redaction, exchange);
    }
    const bool stale = head_read.ec && !head_read.any_byte && is_peer_close(head_read.ec);
    if (stale && attempt == 0 && scope.upstream.reused && (!body || hold) && request_complete) {
      // A pooled connection the upstream had closed: open a new one and send again.
      if (auto failure = co_await ensure_upstream(shared, scope.worker, scope.watchdog, scope.upstream,
                                                  session.session_id, destination.authority, destination.tls, true,
                                                  destination.reach)) {
        co_await refuse(shared, scope.client, failure->reason,
                        RefusalFacts{.host = destination.authority.host.text(), .port = destination.authority.port,
                                     .detail = failure->detail},
                        exchange);
        result.refused = true;
        wipe(held);
        co_return result;
      }
      continue;
    }
    break;
  }
  wipe(held);
  exchange.substituted = !record.credentials.empty();

  if (head_read.bad || head_read.ec) {
    release_upstream(scope.worker, scope.watchdog, scope.upstream, false);
    if (head_read.client_failed) {
      exchange.refuse(Reason::client_closed);
      co_return result;
    }
    Reason reason = Reason::upstream_closed;
    if (head_read.bad) {
      reason = Reason::upstream_bad_response;
    } else if (head_read.ec == asio::error::timed_out) {
      reason = Reason::upstream_response_timeout;
    }
    co_await refuse(shared, scope.client, reason,
                    RefusalFacts{.host = destination.authority.host.text(), .port = destination.authority.port,
                                 .detail = head_read.detail},
                    exchange);
    result.refused = true;
    co_return result;
  }

  // 5. The response.
  const http1::ResponseHead& upstream_head = response_parser.head();
  const int status = upstream_head.status;
  http1::ResponseHead response = upstream_head;
  response.version_major = 1;
  response.version_minor = 1;
  response.reason = std::string(status_text(static_cast<unsigned>(status)));  // S11: never the upstream's
  redaction.headers(response.headers);
  note_redactions(redaction, exchange);  // a refusal below still counts what the head had (interim heads too)
  record.status = status;

  if (status == 101) {
    if (!head.upgrade) {
      release_upstream(scope.worker, scope.watchdog, scope.upstream, false);
      co_await refuse(shared, scope.client, Reason::upstream_bad_response,
                      RefusalFacts{.host = destination.authority.host.text(), .detail = "101 without an Upgrade request"},
                      exchange);
      result.refused = true;
      co_return result;
    }
    strip_hop_by_hop(response.headers, true);
    std::string bytes = http1::serialize(response);
    scope.client.expires_after(idle);
    if (co_await scope.client.write_all(bytes)) co_return result;
    record.bytes_down += bytes.size();
    // Frames after the upgrade are spliced as they are; decide() refuses upgrades toward hosts that
    // receive credentials, so no secret can come back this way (S11).
    std::uint64_t up = 0, down = 0;
    co_await splice(scope.client, scope.client_in.data(), *scope.upstream.leg, upstream_in.data(),
                    timeouts.tunnel_idle, up, down);
    scope.client_in.consume(scope.client_in.data().size());
    record.bytes_up += up;
    record.bytes_down += down;
    release_upstream(scope.worker, scope.watchdog, scope.upstream, false);
    co_return result;
  }

  const bool no_body = head.method == "HEAD" || status == 204 || status == 304 || status < 200;
  const bool close_delimited = !no_body && !upstream_head.content_length && !upstream_head.chunked;
  const bool client_http11 = head.version_major == 1 && head.version_minor >= 1;
  const bool scan_body = !no_body && redaction.active();
  bool decode = false;
  Codings codings;
  if (redaction.active()) {
    // S11: a response from a host that receives credentials is scanned whole, or not forwarded at all.
    std::string unscannable;
    if (status == 206) {
      unscannable = "206";
    } else if (!no_body) {
      codings = content_codings(upstream_head.headers);
      const std::string transfer = extra_transfer_coding(upstream_head.headers);
      if (!transfer.empty()) {
        unscannable = "Transfer-Encoding: " + transfer;
      } else if (!codings.unknown.empty()) {
        unscannable = "Content-Encoding: " + codings.unknown;
      }
      decode = !codings.applied.empty();
    }
    if (!unscannable.empty()) {
      release_upstream(scope.worker, scope.watchdog, scope.upstream, false);
      co_await refuse(shared, scope.client, status == 206 ? Reason::partial_response : Reason::response_unscannable,
                      RefusalFacts{.host = destination.authority.host.text(), .port = destination.authority.port,
                                   .detail = unscannable},
                      exchange);
      result.refused = true;
      co_return result;
    }
  }
  bool hold_response = decode;
  Framing response_framing = Framing::none;
  if (!no_body) {
    if (decode) {  // NOLINT(bugprone-branch-clone): the cases in the order they are decided
      response_framing = Framing::length;
    } else if (scan_body) {
      hold_response = upstream_head.content_length && *upstream_head.content_length <= options.max_held_body_bytes;
      response_framing = hold_response ? Framing::length : (client_http11 ? Framing::chunked : Framing::close);
    } else if (upstream_head.content_length) {
      response_framing = Framing::length;
    } else {
      response_framing = client_http11 ? Framing::chunked : Framing::close;
    }
  }
  const bool client_keep = head.keep_alive && request_complete && response_framing != Framing::close &&
                           !shared.draining.load(std::memory_order_relaxed);
  {
    const std::string* length = response.headers.find("Content-Length");
    const std::string kept_length = no_body && length != nullptr ? *length : std::string();
    strip_hop_by_hop(response.headers, false);
    if (decode) response.headers.erase("Content-Encoding");  // the sandbox gets the decoded body
    if (no_body) {
      if (!kept_length.empty()) response.headers.set("Content-Length", kept_length);  // HEAD, 304: as received
    } else if (response_framing == Framing::length && !hold_response) {
      set_framing(response.headers, Framing::length, *upstream_head.content_length);
    } else {
      set_framing(response.headers, response_framing, 0);
    }
    if (!client_keep) {
      response.headers.set("Connection", "close");
    } else if (!client_http11) {
      response.headers.set("Connection", "keep-alive");
    }
  }

  const BodyEncoder response_encoder(response_framing);
  BodyFilter passthrough_filter;
  BodyFilter& response_filter = scan_body ? redaction.body() : passthrough_filter;
  std::string out;
  Pump pumped;
  if (hold_response) {
    std::string held_response;
    if (decode) {
      ContentDecoder decoder(codings.applied, options.max_decoded_body_bytes);
      pumped = co_await read_encoded_body(response_parser, *scope.upstream.leg, upstream_in, decoder, idle);
      if (pumped.end == PumpEnd::done) {
        held_response = std::move(decoder.output());
        redaction.whole(held_response);
      } else {
        wipe(decoder.output());
      }
    } else {
      std::string unused;
      std::uint64_t none = 0;
      pumped = co_await pump_body(response_parser, *scope.upstream.leg, upstream_in, scope.client, response_filter,
                                  response_encoder, unused, &held_response, idle, none, &redaction);
    }
    if (pumped.end != PumpEnd::done) {
      // Nothing was sent to the client yet: it gets a refusal that says why.
      release_upstream(scope.worker, scope.watchdog, scope.upstream, false);
      const Reason reason = pumped.end == PumpEnd::undecodable   ? Reason::response_unscannable
                            : pumped.end == PumpEnd::bad_message ? Reason::upstream_bad_response
                                                                 : Reason::upstream_closed;
      co_await refuse(shared, scope.client, reason,
                      RefusalFacts{.host = destination.authority.host.text(), .port = destination.authority.port,
                                   .detail = pumped.detail},
                      exchange);
      result.refused = true;
      co_return result;
    }
    set_framing(response.headers, Framing::length, held_response.size());
    out = http1::serialize(response);
    out += held_response;
    wipe(held_response);
    if (error_code ec = co_await flush(scope.client, out, idle, record.bytes_down, false)) {
      pumped.end = PumpEnd::write_failed;
      pumped.ec = ec;
    }
  } else {
    out = http1::serialize(response);
    if (no_body) {
      if (error_code ec = co_await flush(scope.client, out, idle, record.bytes_down, false)) {
        pumped.end = PumpEnd::write_failed;
        pumped.ec = ec;
      } else {
        // Consume the (empty) message's end.
        std::vector<std::string_view> none;
        const http1::Step end = response_parser.parse(upstream_in.data(), none);
        upstream_in.consume(end.consumed);
        if (end.state != http1::State::message_done) pumped.end = PumpEnd::bad_message;
      }
    } else {
      pumped = co_await pump_body(response_parser, *scope.upstream.leg, upstream_in, scope.client, response_filter,
                                  response_encoder, out, nullptr, idle, record.bytes_down, &redaction);
    }
  }
  note_redactions(redaction, exchange);  // head, trailers, and the body, streamed or whole

  // 6. What can be reused.
  const bool upstream_keep = pumped.end == PumpEnd::done && upstream_head.keep_alive && !close_delimited &&
                             upstream_in.empty() && request_complete;
  if (upstream_keep) {
    keep_upstream(scope.upstream);
  } else {
    release_upstream(scope.worker, scope.watchdog, scope.upstream, false);
  }
  if (pumped.end == PumpEnd::read_failed || pumped.end == PumpEnd::bad_message) {
    // The client has the head already; all that is left is to end its connection, by a reset, so that a
    // body framed by the connection's end cannot pass for whole.
    exchange.refuse(pumped.end == PumpEnd::bad_message ? Reason::upstream_bad_response : Reason::upstream_closed);
    result.cut_short = true;
    co_return result;
  }
  result.client_keep_alive = client_keep && pumped.end == PumpEnd::done;
  co_return result;
}

// ---- splice ----

namespace {

asio::awaitable<void> one_way(Leg& from, Leg& to, std::string_view pending, Clock::duration idle, std::uint64_t& count) {
  if (!pending.empty()) {
    to.expires_after(idle);
    if (co_await to.write_all(pending)) {
      from.abort();
      to.abort();
      co_return;
    }
    count += pending.size();
  }
  std::vector<char> buffer(kSpliceBuffer);
  for (;;) {
    from.expires_after(idle);
    auto [ec, n] = co_await from.read_some(buffer);
    from.expires_never();
    if (ec) {
      if (ec == asio::error::eof) {
        to.expires_after(idle);
        co_await to.shutdown_send();  // pass the half-close on; the other direction may still run
      } else {
        from.abort();
        to.abort();
      }
      co_return;
    }
    to.expires_after(idle);
    if (co_await to.write_all(std::string_view(buffer.data(), n))) {
      from.abort();
      to.abort();
      co_return;
    }
    count += n;
  }
}

}  // namespace

asio::awaitable<void> splice(Leg& a, std::string_view a_pending, Leg& b, std::string_view b_pending,
                             Clock::duration idle, std::uint64_t& a_to_b, std::uint64_t& b_to_a) {
  using namespace asio::experimental::awaitable_operators;
  // The pending bytes live in the callers' buffers, which outlive this await.
  co_await (one_way(a, b, a_pending, idle, a_to_b) && one_way(b, a, b_pending, idle, b_to_a));
}

asio::awaitable<void> lingering_close(Leg& client, const ProxyTimeouts& timeouts) {
  if (client.failed()) {
    client.close_now();
    co_return;
  }
  client.expires_after(timeouts.tls_shutdown);
  co_await client.shutdown_send();
  std::vector<char> sink(kSpliceBuffer);
  std::size_t discarded = 0;
  // The whole linger is bounded by one deadline and a byte budget.
  client.expires_after(timeouts.tls_shutdown);
  while (discarded < kLingerBytes) {
    auto [ec, n] = co_await client.read_some(sink);
    if (ec) break;
    discarded += n;
  }
  client.expires_never();
  client.close_now();
}

}  // namespace airlock::proxy
