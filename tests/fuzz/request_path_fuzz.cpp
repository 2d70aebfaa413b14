// Fuzz target request_path: the proxy's request path as one pure function, bytes in, bytes out. What a
// sandbox sends through a tunnel (or as absolute-form http:// requests) is parsed (proxy/http1), checked
// the way connection.cpp checks it (Host and target against the tunnel, the environment's hosts), decided
// (decide.cpp), rewritten (rewrite.cpp: the head, the body through BodyFilter and BodyEncoder, the framing
// forward.cpp chooses) and written as it would reach the upstream, in the pieces the proxy would flush: the
// head and body bytes it has whenever the sandbox's bytes run out, a held body at once when it ends.
//
// Input: a first line naming the destination and the options, then the sandbox's bytes:
//   <host>:<port> https|http [violation_passthrough] [allow_plaintext_substitution] [limited]
//   absolute [violation_passthrough] [allow_plaintext_substitution] [limited]
// The first is a tunnel (CONNECT <host>:<port>, intercepted); `absolute` is plain http:// requests whose
// targets name their upstream. The two option words set DecideOptions; `limited` gives the environment
// allowed_hosts. The session holds the credentials of kCredentials.
//
// Checks (a violation aborts):
//   - S1: what is sent to an upstream does not depend on the secret of any credential that may not go there.
//     The path runs again with that one secret changed (other bytes, another length): the same requests go
//     to the same upstreams, and the bytes sent where that credential may not go are the same. Where each
//     credential may go is written out here (may_go), not asked of policies::host_matches, so that a
//     matching bug shows up as a leak;
//   - such a secret never appears in those bytes unless the sandbox sent it itself;
//   - everything sent parses again as exactly the requests that were forwarded whole, each with the head
//     and the body that were written; a request refused part-way through its body never arrives whole.
#include <array>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "decide.hpp"
#include "http1_driver.hpp"
#include "rewrite.hpp"
#include "target.hpp"

namespace airlock::fuzz {
namespace {

using proxy::CredentialRule;

// forward.cpp's max_held_body_bytes, made small so that fuzz-sized bodies take both paths: held whole to
// fix their length, or re-framed as chunked.
constexpr std::uint64_t kMaxHeldBodyBytes = 64;

struct Upstream {
  std::string host;  // validated text (lowercase name or canonical IP)
  std::uint16_t port = 0;
  bool tls = false;
  friend bool operator==(const Upstream&, const Upstream&) = default;
};

struct CredentialSpec {
  CredentialRule::Kind kind;
  std::string_view secret_name;
  std::string_view placeholder;    // environment_variable only
  std::vector<std::string> allowed_hosts;  // empty: unrestricted
  bool in_header, in_body, in_url;
  std::string_view mcp_server_url;  // static_bearer only
  std::string_view secret;
  std::string_view other_secret;    // the same credential's secret in the second run: other bytes, other length
  bool (*may_go)(const Upstream&);  // the oracle for S1
};

const std::array<CredentialSpec, 5> kCredentials = {{
    {CredentialRule::Kind::environment_variable, "API_KEY",
     "airlock_ph_APIKEY00000000000000000000000000000000000", {"api.example.com"}, true, true, true, "",
     "sk-api-5d0f27a9c1e84b36", "other-api-secret-value-9",
     [](const Upstream& u) { return u.host == "api.example.com"; }},
    {CredentialRule::Kind::environment_variable, "ORG_TOKEN",
     "airlock_ph_ORGTOKEN000000000000000000000000000000000", {"*.example.org"}, true, false, false, "",
     "org-7c41b9e05a3d", "other-org-token-2f",
     [](const Upstream& u) { return u.host.size() > 12 && u.host.ends_with(".example.org"); }},
    {CredentialRule::Kind::environment_variable, "ANY_TOKEN",
     "airlock_ph_ANYTOKEN000000000000000000000000000000000", {}, true, true, false, "",
     "any-e3b0c44298fc1c14", "other-any-token", [](const Upstream&) { return true; }},
    {CredentialRule::Kind::static_bearer, "", "", {}, false, false, false, "https://mcp.example.net/mcp",
     "mcp-b5bb9d8014a0f9b1d61e", "other-mcp-token-e21f",
     [](const Upstream& u) { return u.tls && u.port == 443 && u.host == "mcp.example.net"; }},
    {CredentialRule::Kind::environment_variable, "IP_KEY",
     "airlock_ph_IPKEY000000000000000000000000000000000000", {"192.0.2.1"}, true, true, true, "",
     "ip-0c8e2d5f7a19b346", "other-ip-key-44",
     [](const Upstream& u) { return u.host == "192.0.2.1"; }},
}};

struct Setup {
  std::optional<proxy::Authority> tunnel;  // nullopt: absolute-form
  bool tls = false;
  proxy::DecideOptions options;
  bool limited = false;
};

std::optional<Setup> setup_of(std::string_view line) {
  const std::vector<std::string_view> words = words_of(trim_blanks(line));
  if (words.empty()) return std::nullopt;
  Setup setup;
  std::size_t next = 1;
  if (words[0] != "absolute") {
    setup.tunnel = proxy::parse_connect_target(words[0]);
    if (!setup.tunnel || words.size() < 2 || (words[1] != "https" && words[1] != "http")) return std::nullopt;
    setup.tls = words[1] == "https";
    next = 2;
  }
  for (; next < words.size(); ++next) {
    if (words[next] == "violation_passthrough") {
      setup.options.violation_passthrough = true;
    } else if (words[next] == "allow_plaintext_substitution") {
      setup.options.allow_plaintext_substitution = true;
    } else if (words[next] == "limited") {
      setup.limited = true;
    } else {
      return std::nullopt;
    }
  }
  return setup;
}

certs::SecretBytes secret_bytes(std::string_view text) {
  return certs::SecretBytes(std::span(reinterpret_cast<const unsigned char*>(text.data()), text.size()));
}

// The session, with credential `changed` (if any) holding its other secret.
proxy::SessionEntry session_of(const Setup& setup, std::optional<std::size_t> changed) {
  proxy::SessionEntry session;
  session.session_id = "sesn_fuzz";
  session.proxy_token = "0123456789abcdef";
  session.network_limited = setup.limited;
  if (setup.limited) session.allowed_hosts = {"api.example.com", "*.example.org", "mcp.example.net", "192.0.2.1"};
  for (std::size_t i = 0; i < kCredentials.size(); ++i) {
    const CredentialSpec& spec = kCredentials[i];
    auto rule = std::make_shared<CredentialRule>();
    rule->kind = spec.kind;
    rule->credential_id = "vcrd_" + std::to_string(i);
    rule->secret_name = std::string(spec.secret_name);
    rule->placeholder = std::string(spec.placeholder);
    rule->unrestricted = spec.kind == CredentialRule::Kind::environment_variable && spec.allowed_hosts.empty();
    rule->allowed_hosts = spec.allowed_hosts;
    rule->in_header = spec.in_header;
    rule->in_body = spec.in_body;
    rule->in_url = spec.in_url;
    rule->mcp_server_url = std::string(spec.mcp_server_url);
    rule->value = secret_bytes(changed == i ? spec.other_secret : spec.secret);
    session.credentials.push_back(std::move(rule));
  }
  return session;
}

// connection.cpp's authority_text: the Host value to add when the request has none.
std::string authority_text(const proxy::Authority& authority, std::uint16_t default_port) {
  const std::string& host = authority.host.text();
  std::string text = authority.host.kind() == certs::ValidatedHost::Kind::ipv6 ? "[" + host + "]" : host;
  if (authority.port != default_port) text += ":" + std::to_string(authority.port);
  return text;
}

// One request as it reached its upstream.
struct Sent {
  Upstream upstream;
  std::string bytes;
  bool whole = false;            // the request ended, and the upstream got all of it
  http1::RequestHead head;       // the head written (framing set)
  std::string body;              // the body written, without its framing
};

// Where one admitted request goes, and what is substituted in it.
struct Admitted {
  proxy::Authority authority;
  bool tls;
  std::string origin_form;
  std::string host_header;
  proxy::Plan plan;
};

// The checks before decide() (connection.cpp: tunnel_requests and absolute_request), then decide().
std::optional<Admitted> admit(const Setup& setup, const http1::RequestHead& head, const proxy::SessionEntry& session) {
  std::optional<Admitted> admitted;
  if (setup.tunnel) {
    const proxy::Authority& target = *setup.tunnel;
    std::string origin_form = head.target;
    bool mismatch = head.method == "CONNECT";
    if (const std::string* host = head.headers.find("Host")) {
      mismatch = mismatch || !proxy::host_header_matches(*host, target.host, target.port);
    } else if (head.version_minor >= 1) {
      return std::nullopt;
    }
    if (!head.target.empty() && head.target.front() != '/' && head.target != "*") {
      const auto url = proxy::parse_absolute_url(head.target);
      mismatch = mismatch || !url || url->scheme != (setup.tls ? "https" : "http") ||
                 url->authority.host != target.host || url->authority.port != target.port;
      if (url) origin_form = url->origin_form;
    }
    if (mismatch || !proxy::environment_allows(session, target.host)) return std::nullopt;
    admitted = Admitted{target, setup.tls, std::move(origin_form), authority_text(target, setup.tls ? 443 : 80), {}};
  } else {
    const auto url = proxy::parse_absolute_url(head.target);
    if (!url || url->scheme != "http" || !proxy::environment_allows(session, url->authority.host)) return std::nullopt;
    if (const std::string* host = head.headers.find("Host");
        host != nullptr && !proxy::host_header_matches(*host, url->authority.host, url->authority.port)) {
      return std::nullopt;
    }
    admitted = Admitted{url->authority, false, url->origin_form, authority_text(url->authority, 80), {}};
  }
  const auto upstream = proxy::VerifiedUpstream::for_test(admitted->authority.host, admitted->authority.port, admitted->tls);
  proxy::Decision decision = proxy::decide(head, upstream, session, setup.options);
  if (std::holds_alternative<proxy::Refuse>(decision)) return std::nullopt;
  admitted->plan = std::move(std::get<proxy::Plan>(decision));
  return admitted;
}

// One request being forwarded (forward.cpp steps 1 and 3).
class Forwarding {
 public:
  Forwarding(const http1::RequestHead& client, Admitted admitted, Sent& sent)
      : admitted_(std::move(admitted)),
        request_(proxy::rewrite_head(client, admitted_.origin_form, admitted_.host_header, admitted_.plan)),
        filter_(proxy::BodyFilter::for_request(admitted_.plan)),
        encoder_(framing_for(client)),
        sent_(sent) {
    sent_.upstream = {admitted_.authority.host.text(), admitted_.authority.port, admitted_.tls};
    if (!hold_) {
      proxy::set_framing(request_.head.headers, encoder_.framing(), client.content_length.value_or(0));
      sent_.head = request_.head;
      pending_ = http1::serialize(request_.head);
    }
  }

  // False when a watched placeholder refuses the request: what was not flushed never leaves.
  bool body(std::string_view piece) {
    std::string filtered;
    if (filter_.feed(piece, filtered) != nullptr) return false;
    sent_.body += filtered;
    encoder_.append(hold_ ? held_ : pending_, filtered);
    return true;
  }

  bool end() {
    std::string filtered;
    if (filter_.finish(filtered) != nullptr) return false;
    sent_.body += filtered;
    encoder_.append(hold_ ? held_ : pending_, filtered);
    encoder_.finish(hold_ ? held_ : pending_, nullptr);  // request trailers are dropped
    if (hold_) {
      proxy::set_framing(request_.head.headers, proxy::Framing::length, held_.size());
      sent_.head = request_.head;
      pending_ = http1::serialize(request_.head) + held_;
    }
    flush();
    sent_.whole = true;
    return true;
  }

  // The sandbox's bytes ran out: the proxy writes what it has (a held body waits for its end).
  void flush() {
    sent_.bytes += pending_;
    pending_.clear();
  }

 private:
  proxy::Framing framing_for(const http1::RequestHead& client) {
    if (!proxy::has_body(client)) return proxy::Framing::none;
    if (filter_.changes_length()) {
      hold_ = client.content_length && *client.content_length <= kMaxHeldBodyBytes;
      return hold_ ? proxy::Framing::length : proxy::Framing::chunked;
    }
    return client.chunked ? proxy::Framing::chunked : proxy::Framing::length;
  }

  Admitted admitted_;
  proxy::UpstreamRequest request_;
  proxy::BodyFilter filter_;
  bool hold_ = false;  // set by framing_for, before encoder_ is built
  proxy::BodyEncoder encoder_;
  Sent& sent_;
  std::string pending_;  // written, not yet flushed
  std::string held_;
};

// The whole path over the sandbox's bytes, cut into `chunks` (the reads the proxy would make).
std::vector<Sent> run_path(const Setup& setup, const proxy::SessionEntry& session,
                           const std::vector<std::string_view>& chunks) {
  std::vector<Sent> sent;
  sent.reserve(64);  // Forwarding holds a reference to the last one
  http1::RequestParser parser;
  std::optional<Forwarding> forwarding;
  std::string pending;
  std::vector<std::string_view> pieces;
  bool stopped = false;
  for (const std::string_view chunk : chunks) {
    pending += chunk;
    std::size_t offset = 0;
    while (!stopped) {
      const std::string_view input = std::string_view(pending).substr(offset);
      pieces.clear();
      const http1::Step step = parser.parse(input, pieces);
      for (const std::string_view piece : pieces) {
        if (!forwarding->body(piece)) {
          stopped = true;
          break;
        }
      }
      offset += step.consumed;
      if (stopped) break;
      if (step.state == http1::State::error) {
        stopped = true;  // refused: the upstream keeps what it got of an unfinished request
      } else if (step.state == http1::State::head_done) {
        std::optional<Admitted> admitted = admit(setup, parser.head(), session);
        if (!admitted || sent.size() == sent.capacity()) {
          stopped = true;
        } else {
          forwarding.emplace(parser.head(), std::move(*admitted), sent.emplace_back());
        }
      } else if (step.state == http1::State::message_done) {
        if (!forwarding->end()) {
          stopped = true;
        } else {
          forwarding.reset();
          stopped = !parser.head().keep_alive || parser.head().upgrade;  // the rest is not for HTTP
        }
      } else {
        break;  // need_more or body: every byte of this read is used
      }
    }
    if (stopped) break;
    if (forwarding) forwarding->flush();
    pending.erase(0, offset);
  }
  return sent;
}

bool contains(std::string_view haystack, std::string_view needle) {
  return haystack.find(needle) != std::string_view::npos;
}

// Everything sent, parsed again, is the requests forwarded whole, in order, as written.
void check_sent_parses_again(const std::vector<Sent>& sent) {
  std::string all;
  std::size_t whole = 0;
  for (const Sent& request : sent) {
    all += request.bytes;
    whole += request.whole;
    if (!request.whole) AIRLOCK_FUZZ_CHECK(&request == &sent.back());  // the path stops at a refusal
  }
  http1::RequestParser parser;
  const Transcript<http1::RequestHead> again = drive(parser, {all});
  AIRLOCK_FUZZ_CHECK(again.error.empty());
  AIRLOCK_FUZZ_CHECK(again.messages.size() == whole);
  AIRLOCK_FUZZ_CHECK(again.tunnel.empty());
  for (std::size_t i = 0; i < whole; ++i) {
    const http1::RequestHead& written = sent[i].head;
    const http1::RequestHead& read = again.messages[i].head;
    AIRLOCK_FUZZ_CHECK(read.method == written.method && read.target == written.target);
    AIRLOCK_FUZZ_CHECK(dump(read.headers) == dump(written.headers));
    AIRLOCK_FUZZ_CHECK(again.messages[i].body == sent[i].body);
  }
}

}  // namespace
}  // namespace airlock::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace airlock;
  using namespace airlock::fuzz;
  const std::string_view input = as_text(data, size);
  const auto [line, sandbox_bytes] = split_once(input, "\n");
  const std::optional<Setup> setup = setup_of(line);
  if (!setup) return -1;  // not a destination: keep it out of the corpus
  const std::vector<std::string_view> chunks = random_chunks(sandbox_bytes, hash_of(input));

  const std::vector<Sent> sent = run_path(*setup, session_of(*setup, std::nullopt), chunks);
  check_sent_parses_again(sent);

  for (std::size_t c = 0; c < kCredentials.size(); ++c) {
    const CredentialSpec& credential = kCredentials[c];
    bool barred_somewhere = false;
    for (const Sent& request : sent) {
      if (credential.may_go(request.upstream)) continue;
      barred_somewhere = true;
      if (!contains(input, credential.secret)) AIRLOCK_FUZZ_CHECK(!contains(request.bytes, credential.secret));
    }
    if (!barred_somewhere) continue;
    const std::vector<Sent> changed = run_path(*setup, session_of(*setup, c), chunks);
    AIRLOCK_FUZZ_CHECK(changed.size() == sent.size());
    for (std::size_t i = 0; i < sent.size(); ++i) {
      AIRLOCK_FUZZ_CHECK(changed[i].upstream == sent[i].upstream && changed[i].whole == sent[i].whole);
      if (!credential.may_go(sent[i].upstream)) AIRLOCK_FUZZ_CHECK(changed[i].bytes == sent[i].bytes);
    }
  }
  return 0;
}
