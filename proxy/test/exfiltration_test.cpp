// Adversarial tests of the promise "a sandbox can use a credential but never read it" (SECURITY S7, S10,
// S11). Each test plays the sandbox (a client with only the placeholder) against origins an attacker
// controls or can use: an echo service, a store that keeps what it is sent and reads it back compressed,
// in ranges or under a false label, a server that streams guesses at the secret and pauses. A real Proxy
// on 127.0.0.1:0, real TLS both ways. Every test failed before the defences it names.
#include <doctest/doctest.h>

#include <poll.h>

#include <mutex>
#include <thread>

#include "compress_for_test.hpp"
#include "test_support.hpp"

namespace airlock::proxy::test {

namespace {

constexpr std::string_view kApi = "api.example.test";   // the credential's allowed host: a store with an echo
constexpr std::string_view kEvil = "evil.test";          // a host the sandbox may reach, not the credential

// The store: POST /store keeps the body; GET /load?mode=M answers it back in mode M.
struct Store {
  std::mutex mutex;
  std::string stored;

  std::string get() {
    std::lock_guard lock(mutex);
    return stored;
  }
};

std::string query_value(std::string_view target, std::string_view key) {
  const std::string needle = std::string(key) + "=";
  const auto at = target.find(needle);
  if (at == std::string_view::npos) return {};
  const std::string_view rest = target.substr(at + needle.size());
  return std::string(rest.substr(0, rest.find('&')));
}

std::string with_length(std::string_view status_line, std::string_view fields, std::string_view body) {
  return fmt::format("{}\r\n{}Content-Length: {}\r\n\r\n{}", status_line, fields, body.size(), body);
}

// The attacker's (and the store's) routes; anything else goes to the test origin's built-in ones.
std::optional<bool> attacker_routes(Store& store, const Captured& request, const Origin::Options::Write& write) {
  const std::string_view target = request.head.target;
  const std::string path(target.substr(0, target.find('?')));
  const std::string mode = query_value(target, "mode");
  if (path == "/store") {
    {
      std::lock_guard lock(store.mutex);
      store.stored = request.body;
    }
    return write(with_length("HTTP/1.1 201 Created", "", "stored"));
  }
  if (path == "/oracle") {
    // The streaming prefix oracle: a chunk that ends with the guess, a pause, then the end.
    const std::string chunk = "MARK|" + std::string(100, '.') + query_value(target, "guess");
    if (!write(fmt::format("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{}\r\n", chunk.size(), chunk))) {
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(600));
    return write("4\r\n|END\r\n0\r\n\r\n");
  }
  if (path != "/load") return std::nullopt;
  const std::string value = store.get();
  const std::string* accept = request.head.headers.find("Accept-Encoding");
  const std::string* range = request.head.headers.find("Range");
  if (mode == "gzip" || (mode.empty() && accept != nullptr && contains(*accept, "gzip"))) {
    return write(with_length("HTTP/1.1 200 OK", "Content-Encoding: gzip\r\n", gzip_for_test(value)));
  }
  if (mode == "br") return write(with_length("HTTP/1.1 200 OK", "Content-Encoding: br\r\n", brotli_for_test(value)));
  if (mode == "two-fields") {
    return write(with_length("HTTP/1.1 200 OK", "Content-Encoding: identity\r\nContent-Encoding: gzip\r\n",
                             gzip_for_test(value)));
  }
  if (mode == "label-br") return write(with_length("HTTP/1.1 200 OK", "Content-Encoding: br\r\n", value));
  if (mode == "label-zstd") return write(with_length("HTTP/1.1 200 OK", "Content-Encoding: zstd\r\n", value));
  if (mode == "te-gzip") {
    const std::string gz = gzip_for_test(value);
    return write(fmt::format("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n{:x}\r\n{}\r\n0\r\n\r\n",
                             gz.size(), gz));
  }
  if (mode == "206") {
    return write(with_length("HTTP/1.1 206 Partial Content", "Content-Range: bytes 0-9/100\r\n", value.substr(0, 10)));
  }
  if (mode == "b64") {
    // The stored value base64-encoded after `pad` bytes of its own, in the alphabet asked for.
    std::string encoded = b64(std::string(std::stoul("0" + query_value(target, "pad")), '#') + value + "!");
    if (query_value(target, "url") == "1") {
      for (char& c : encoded) c = c == '+' ? '-' : c == '/' ? '_' : c;
    }
    return write(with_length("HTTP/1.1 200 OK", "Content-Type: application/json\r\n", "{\"data\":\"" + encoded + "\"}"));
  }
  const std::string token = value.substr(value.find('=') + 1);  // "token=<secret>": the secret alone
  if (mode == "reason") return write(with_length("HTTP/1.1 401 Invalid token " + token, "", "no"));
  if (mode == "header-name") return write(with_length("HTTP/1.1 200 OK", "X-" + token + ": 1\r\n", "ok"));
  if (mode == "interim") {
    if (!write("HTTP/1.1 103 Early Hints " + token + "\r\nLink: </" + token + ">\r\nX-" + token + ": 1\r\n\r\n")) {
      return false;
    }
    return write(with_length("HTTP/1.1 200 OK", "", "after hints"));
  }
  if (mode == "trailer") {
    return write(fmt::format("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Stored\r\n\r\n2\r\nok\r\n0\r\n"
                             "X-Stored: {}\r\n\r\n",
                             value));
  }
  if (range != nullptr && range->starts_with("bytes=")) {
    // Honours a Range header, as most file servers do: the secret in pieces.
    const std::string spec = range->substr(6);
    const std::size_t dash = spec.find('-');
    const std::size_t from = std::stoul(spec.substr(0, dash));
    const std::size_t to = dash + 1 < spec.size() ? std::stoul(spec.substr(dash + 1)) : value.size() - 1;
    return write(with_length("HTTP/1.1 206 Partial Content",
                             fmt::format("Content-Range: bytes {}-{}/{}\r\n", from, to, value.size()),
                             value.substr(from, to - from + 1)));
  }
  return write(with_length("HTTP/1.1 200 OK", "", value));
}

struct AttackFixture {
  std::shared_ptr<Store> store = std::make_shared<Store>();
  Fixture f{Origin::Options{.tls = true, .fixed_name = {}, .record = true, .handler = [store = store](const Captured& request, const Origin::Options::Write& write) {
    return attacker_routes(*store, request, write);
  }}};

  AttackFixture() {
    // The credential may go to kApi only, header and body; the environment lets the sandbox reach both.
    f.slot.store(snapshot_of({session_entry(
        std::string(kSession), std::string(kToken),
        {env_credential("vcrd_1", "STORE_TOKEN", std::string(kPlaceholder), kSecret, {std::string(kApi)})})}));
    f.start();
  }

  std::string host(std::string_view name) const { return fmt::format("{}:{}", name, f.origin.port()); }

  // One request over a fresh tunnel; the response (head_text is the head as received).
  Response send(std::string_view name, const std::string& bytes, std::string_view method = "GET") {
    std::string head;
    Stream stream = f.tunnel(name, f.origin.port(), head);
    REQUIRE(contains(head, "200 Connection Established"));
    REQUIRE(head != "TLS FAILED");
    REQUIRE(stream.send(bytes));
    std::string leftover;
    return read_response(stream, leftover, method);
  }

  Response get(std::string_view name, std::string_view target, std::string extra = {}) {
    return send(name, fmt::format("GET {} HTTP/1.1\r\nHost: {}\r\n{}\r\n", target, host(name), extra));
  }

  // The sandbox stores the secret on the allowed host, with body injection: POST token=<placeholder>.
  void store_secret() {
    const std::string body = fmt::format("token={}", kPlaceholder);
    const Response stored = send(kApi, fmt::format("POST /store HTTP/1.1\r\nHost: {}\r\nContent-Length: {}\r\n\r\n{}",
                                                   host(kApi), body.size(), body));
    REQUIRE(stored.status == 201);
    REQUIRE(store->get() == fmt::format("token={}", kSecret));  // the origin holds the real value
  }
};

// No byte of the secret that identifies it: neither the value nor any of its base64 forms.
void check_no_secret(std::string_view bytes) {
  CHECK_FALSE(contains(bytes, kSecret));
  for (std::size_t pad = 0; pad < 3; ++pad) {
    const std::string encoded = b64(std::string(pad, '#') + std::string(kSecret) + "!");
    // The middle of the encoding depends on the secret alone.
    CHECK_FALSE(contains(bytes, std::string_view(encoded).substr(4, 24)));
  }
}

}  // namespace

TEST_CASE("S10: a host no credential allows is not scanned, so an echoed candidate list is no oracle") {
  AttackFixture a;
  // The sandbox posts candidates, the real value among them, to an echo service on a host the credential
  // does not allow. If that response were scanned, the one candidate that came back as the placeholder
  // would be the secret.
  std::string candidates;
  for (int i = 0; i < 50; ++i) candidates += fmt::format("sk-live-REAL-SECRET-VALUE-{:02}\n", i);
  const Response echoed = a.send(kEvil, fmt::format("POST /echo HTTP/1.1\r\nHost: {}\r\nContent-Length: {}\r\n\r\n{}",
                                                    a.host(kEvil), candidates.size(), candidates));
  CHECK(echoed.status == 200);
  CHECK(contains(echoed.body, candidates));  // unchanged, the real value included
  CHECK_FALSE(contains(echoed.body, kPlaceholder));
  REQUIRE(a.f.sink.wait_for(1));
  CHECK(a.f.proxy->stats().responses_redacted == 0);
}

TEST_CASE("S10: the streaming redactor is no timing oracle: the right next character looks like every other") {
  AttackFixture a;
  // An origin streams "MARK|....<guess>" and pauses. What the sandbox holds during the pause must not
  // depend on whether <guess> is a prefix of the secret (before the fix, that tail was held back).
  const std::string secret(kSecret);
  const std::string alphabet = "RSTUVWXY";  // secret[8] == 'R'
  REQUIRE(secret[8] == 'R');
  for (std::string_view name : {kApi, kEvil}) {
    CAPTURE(name);
    std::vector<std::size_t> during_pause(alphabet.size(), 0);
    std::vector<std::thread> probes;
    for (std::size_t i = 0; i < alphabet.size(); ++i) {
      probes.emplace_back([&, i] {
        const std::string guess = secret.substr(0, 8) + alphabet[i];
        std::string head;
        Stream stream = a.f.tunnel(name, a.f.origin.port(), head);
        if (!stream.send(fmt::format("GET /oracle?guess={} HTTP/1.1\r\nHost: {}\r\n\r\n", guess, a.host(name)))) return;
        // Decode what arrives until 250 ms pass with nothing new (the origin pauses 600 ms).
        http1::ResponseParser parser;
        std::vector<std::string_view> pieces;
        std::string data;
        char buffer[4096];
        for (;;) {
          pollfd p{stream.fd(), POLLIN, 0};
          if (SSL_pending(stream.ssl()) == 0 && ::poll(&p, 1, 250) <= 0) break;
          const std::size_t n = stream.recv(buffer, sizeof buffer);
          if (n == 0) break;
          data.assign(buffer, n);
          std::size_t offset = 0;
          while (offset < data.size()) {
            const auto step = parser.parse(std::string_view(data).substr(offset), pieces);
            offset += step.consumed;
            if (step.state == http1::State::error || step.state == http1::State::message_done) break;
          }
          for (auto piece : pieces) during_pause[i] += piece.size();
          pieces.clear();
        }
      });
    }
    for (auto& probe : probes) probe.join();
    for (std::size_t i = 0; i < alphabet.size(); ++i) {
      CAPTURE(alphabet[i]);
      CHECK(during_pause[i] == during_pause[1]);  // 'R' (the secret's next byte) is probe 0
    }
    CHECK(during_pause[0] > 0);
  }
}

TEST_CASE("S11: a secret stored on the allowed host cannot be read back compressed, in ranges or mislabelled") {
  AttackFixture a;
  a.store_secret();
  const std::string redacted = fmt::format("token={}", kPlaceholder);

  SUBCASE("Accept-Encoding: gzip on a request with no substitution: Airlock asks for identity") {
    const Response r = a.get(kApi, "/load", "Accept-Encoding: gzip\r\n");
    CHECK(r.status == 200);
    CHECK(r.body == redacted);
    CHECK(r.header("Content-Encoding") == nullptr);
    CHECK(*a.f.origin.last()->head.headers.find("Accept-Encoding") == "identity");
  }
  SUBCASE("an upstream that compresses anyway (gzip, br, or gzip under a second Content-Encoding field) is decoded and scanned") {
    for (std::string_view mode : {"gzip", "br", "two-fields"}) {
      CAPTURE(mode);
      const Response r = a.get(kApi, fmt::format("/load?mode={}", mode));
      CHECK(r.status == 200);
      CHECK(r.body == redacted);
      CHECK(r.header("Content-Encoding") == nullptr);
      CHECK(*r.header("Content-Length") == std::to_string(redacted.size()));
    }
  }
  SUBCASE("two Range requests reach the origin without Range: the whole value comes back, redacted") {
    for (std::string_view range : {"bytes=0-12", "bytes=13-"}) {
      const Response r = a.get(kApi, "/load", fmt::format("Range: {}\r\nIf-Range: \"v1\"\r\n", range));
      CHECK(r.status == 200);
      CHECK(r.body == redacted);
      CHECK(a.f.origin.last()->head.headers.find("Range") == nullptr);
      CHECK(a.f.origin.last()->head.headers.find("If-Range") == nullptr);
    }
  }
  SUBCASE("what cannot be scanned is refused with 502 and a reason") {
    struct Case {
      std::string_view mode;
      std::string_view reason;
      std::string_view detail;
    };
    for (const Case& c : {Case{"label-br", "response_unscannable", "the br body cannot be decoded"},
                          Case{"label-zstd", "response_unscannable", "Content-Encoding: zstd"},
                          Case{"te-gzip", "response_unscannable", "Transfer-Encoding: gzip"},
                          Case{"206", "partial_response", "(206)"}}) {
      CAPTURE(c.mode);
      const Response r = a.get(kApi, fmt::format("/load?mode={}", c.mode));
      CHECK(r.status == 502);
      CHECK(r.body.starts_with(std::string(c.reason) + ": "));
      CHECK(contains(r.body, c.detail));
      CHECK(*r.header("Proxy-Status") == fmt::format("airlock; error={}; details=\"{}\"",
                                                     c.reason == "partial_response" ? "http_protocol_error"
                                                                                     : "http_response_content_coding",
                                                     c.reason));
      check_no_secret(r.head_text + r.body);
      // The audit row follows the response: wait for it.
      std::optional<EgressRecord> record;
      for (int i = 0; i < 2000 && !(record && record->reason == c.reason); ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
        record = a.f.sink.last();
      }
      REQUIRE(record);
      CHECK(record->reason == c.reason);
      CHECK(record->decision == "error");
    }
  }
  SUBCASE("base64 of the stored value, at every alignment, in both alphabets") {
    for (int pad = 0; pad < 3; ++pad) {
      for (int url = 0; url < 2; ++url) {
        CAPTURE(pad);
        CAPTURE(url);
        const Response r = a.get(kApi, fmt::format("/load?mode=b64&pad={}&url={}", pad, url));
        CHECK(r.status == 200);
        CHECK(contains(r.body, "airlock-redacted"));
        check_no_secret(r.body);
      }
    }
  }
  SUBCASE("the reason phrase, header names, 1xx interim responses and trailers") {
    const Response reason = a.get(kApi, "/load?mode=reason");
    CHECK(reason.status == 401);
    CHECK(reason.head_text.starts_with("HTTP/1.1 401 Unauthorized\r\n"));
    check_no_secret(reason.head_text);

    const Response named = a.get(kApi, "/load?mode=header-name");
    CHECK(named.status == 200);
    CHECK(named.headers.find(fmt::format("X-{}", kPlaceholder)) != nullptr);
    check_no_secret(named.head_text);

    // The interim head is read past by read_response: look at the raw bytes.
    std::string head;
    Stream stream = a.f.tunnel(kApi, a.f.origin.port(), head);
    REQUIRE(stream.send(fmt::format("GET /load?mode=interim HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n", a.host(kApi))));
    const std::string raw = read_all(stream);
    CHECK(raw.starts_with("HTTP/1.1 103 Early Hints\r\n"));
    CHECK(contains(raw, fmt::format("Link: </{}>", kPlaceholder)));
    CHECK(contains(raw, fmt::format("X-{}: 1", kPlaceholder)));
    CHECK(contains(raw, "after hints"));
    check_no_secret(raw);

    const Response trailer = a.get(kApi, "/load?mode=trailer");
    CHECK(trailer.status == 200);
    REQUIRE(trailer.trailers.find("X-Stored") != nullptr);
    CHECK(*trailer.trailers.find("X-Stored") == redacted);
  }
}

TEST_CASE("S11: the Authorization: Basic value Airlock encoded comes back as the one the sandbox sent") {
  AttackFixture a;
  const std::string sent = b64(fmt::format("user:{}", kPlaceholder));
  const std::string written = b64(fmt::format("user:{}", kSecret));
  // /echo repeats the Authorization it received in X-Echo-Auth and the whole request head in the body.
  const Response r = a.get(kApi, "/echo", fmt::format("Authorization: Basic {}\r\n", sent));
  CHECK(r.status == 200);
  CHECK(*a.f.origin.last()->head.headers.find("Authorization") == "Basic " + written);  // the origin got the secret
  CHECK(*r.header("X-Echo-Auth") == "Basic " + sent);
  CHECK(contains(r.body, "Authorization: Basic " + sent));
  CHECK_FALSE(contains(r.head_text + r.body, written));
  check_no_secret(r.head_text + r.body);
}

TEST_CASE("S11: no WebSocket toward a host that receives credentials, elsewhere upgrades still work") {
  AttackFixture a;
  const std::string upgrade = "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                              "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";
  const Response refused = a.get(kApi, "/ws", upgrade);
  CHECK(refused.status == 403);
  CHECK(refused.body.starts_with("upgrade_refused: "));
  CHECK(contains(refused.body, "STORE_TOKEN"));
  CHECK(a.f.origin.requests().empty());  // nothing was sent
  const Response elsewhere = a.get(kEvil, "/ws", upgrade);
  CHECK(elsewhere.status == 101);
}

}  // namespace airlock::proxy::test
