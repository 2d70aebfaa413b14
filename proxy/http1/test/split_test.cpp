// Streaming: every message must parse to the same heads, bodies, trailers and tunnel bytes however the
// bytes are cut — at every single split point, one byte at a time, and in random chunkings. A failing random
// run prints its seed; AIRLOCK_HTTP1_SEED=<seed> replays it.
#include <doctest/doctest.h>

#include <random>
#include <string>
#include <vector>

#include "airlock/http1/parser.hpp"
#include "test_support.hpp"

namespace airlock::http1 {
namespace {

constexpr int kRandomRounds = 200;

const std::vector<std::string>& request_corpus() {
  static const std::vector<std::string> corpus = {
      "GET /v1/models HTTP/1.1\r\nHost: api.example.com\r\nUser-Agent: t/1\r\n\r\n",
      "POST /v1/messages HTTP/1.1\r\nHost: api.example.com\r\nContent-Type: application/json\r\n"
      "Content-Length: 26\r\n\r\n{\"model\":\"m\",\"max\":1024}\r\n",
      "POST /upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5;ext=1\r\nhello\r\n1a\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nX-Trailer: yes\r\nX-Two:  2 \r\n\r\n",
      "\r\nGET /after-empty-line HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
      // a pipeline mixing every framing
      "GET /1 HTTP/1.1\r\nHost: a\r\n\r\n"
      "PUT /2 HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n12345"
      "POST /3 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
      "HEAD /4 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
      "CONNECT api.example.com:443 HTTP/1.1\r\nHost: api.example.com:443\r\n\r\n\x16\x03\x01tunnel\r\n\r\n",
      "GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n\r\nframes",
  };
  return corpus;
}

struct ResponseCase {
  std::string bytes;
  std::vector<std::string> methods;
  bool eof = false;
};

const std::vector<ResponseCase>& response_corpus() {
  static const std::vector<ResponseCase> corpus = {
      {"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 12\r\n\r\nhello, world", {"GET"}},
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nwiki\r\n5;x=y\r\npedia\r\n0\r\nT: "
       "1\r\n\r\n",
       {"POST"}},
      {"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\ndata: a\n\ndata: b\n\n", {"GET"}, true},
      {"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok"
       "HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\n"
       "HTTP/1.1 204 No Content\r\nContent-Length: 9\r\n\r\n"
       "HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n"
       "HTTP/1.1 404 Not Found\r\nContent-Length: 4\r\n\r\nnope",
       {"POST", "HEAD", "GET", "GET", "GET"}},
      {"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n\x81\x02hi",
       {"GET"}},
      {"HTTP/1.1 200 Connection established\r\n\r\nserver-hello", {"CONNECT"}},
  };
  return corpus;
}

template <class Parser>
void check_all_splits(const std::string& bytes, const std::vector<std::string>& methods, bool eof) {
  CAPTURE(bytes);
  Parser whole_parser;
  const auto whole = test::feed(whole_parser, {bytes}, methods, eof);
  const std::string expected = test::dump(whole);
  INFO("reference run:\n" << expected);
  REQUIRE(whole.error.empty());
  REQUIRE(!whole.messages.empty());

  for (std::size_t split = 0; split <= bytes.size(); ++split) {
    CAPTURE(split);
    Parser parser;
    const auto run = test::feed(parser, {bytes.substr(0, split), bytes.substr(split)}, methods, eof);
    REQUIRE(test::dump(run) == expected);
  }

  std::vector<std::string> bytewise;
  for (char c : bytes) bytewise.emplace_back(1, c);
  Parser bytewise_parser;
  CHECK(test::dump(test::feed(bytewise_parser, bytewise, methods, eof)) == expected);

  const std::uint64_t seed = test::test_seed();
  INFO("random chunkings: seed " << seed << " (replay with AIRLOCK_HTTP1_SEED=" << seed << ")");
  std::mt19937_64 rng(seed);
  for (int round = 0; round < kRandomRounds; ++round) {
    CAPTURE(round);
    const auto chunks = test::random_chunks(bytes, rng);
    Parser parser;
    REQUIRE(test::dump(test::feed(parser, chunks, methods, eof)) == expected);
  }
}

TEST_CASE("requests: same result at every split point and bytewise and in random chunkings") {
  for (const std::string& bytes : request_corpus()) check_all_splits<RequestParser>(bytes, {}, false);
}

TEST_CASE("responses: same result at every split point and bytewise and in random chunkings") {
  for (const ResponseCase& c : response_corpus()) check_all_splits<ResponseParser>(c.bytes, c.methods, c.eof);
}

TEST_CASE("the whole request corpus as one pipelined stream in random chunkings") {
  // Everything but the upgrades, which end the stream.
  std::string stream;
  for (const std::string& bytes : request_corpus()) {
    if (bytes.find("Connection: close") != std::string::npos) continue;
    if (bytes.find("CONNECT") == 0 || bytes.find("Upgrade:") != std::string::npos) continue;
    stream += bytes;
  }
  check_all_splits<RequestParser>(stream, {}, false);
  const auto run = test::feed_whole<RequestParser>(stream);
  CHECK(run.messages.size() == 4);
}

TEST_CASE("the reference runs themselves are what the corpus says") {
  const auto pipeline = test::feed_whole<RequestParser>(request_corpus()[4]);
  INFO(test::dump(pipeline));
  REQUIRE(pipeline.messages.size() == 4);
  CHECK(pipeline.messages[1].body == "12345");
  CHECK(pipeline.messages[2].body == "abc");
  CHECK(pipeline.messages[2].head.chunked);
  CHECK_FALSE(pipeline.messages[3].head.keep_alive);

  const auto chunked = test::feed_whole<RequestParser>(request_corpus()[2]);
  REQUIRE(chunked.messages.size() == 1);
  CHECK(chunked.messages[0].body == "helloabcdefghijklmnopqrstuvwxyz");
  CHECK(test::dump(chunked.messages[0].trailers) == "  [X-Trailer]=[yes]\n  [X-Two]=[2]\n");

  const auto connect = test::feed_whole<RequestParser>(request_corpus()[5]);
  CHECK(connect.tunnel == "\x16\x03\x01tunnel\r\n\r\n");

  const auto mixed =
      test::feed_whole<ResponseParser>(response_corpus()[3].bytes, response_corpus()[3].methods);
  INFO(test::dump(mixed));
  REQUIRE(mixed.messages.size() == 6);
  CHECK(mixed.messages[0].head.status == 100);
  CHECK(mixed.messages[1].head.status == 201);
  CHECK(mixed.messages[1].body == "ok");
  CHECK(mixed.messages[2].head.status == 200);  // the HEAD response: no body despite Content-Length
  CHECK(mixed.messages[2].body.empty());
  CHECK(mixed.messages[3].head.status == 204);
  CHECK(mixed.messages[4].head.status == 304);
  CHECK(mixed.messages[5].body == "nope");
}

}  // namespace
}  // namespace airlock::http1
