// Unit tests of content decoding (pure): the codings a response names, gzip / deflate (zlib-wrapped and
// raw) / br round trips at every split point, stacked codings, and what must fail: corrupt, truncated,
// trailing garbage, over the cap (a decompression bomb stops at the cap).
#include <doctest/doctest.h>

#include "compress_for_test.hpp"
#include "decode.hpp"

namespace airlock::proxy {

namespace {

using test::brotli_for_test;
using test::deflate_for_test;
using test::gzip_for_test;

http1::Headers headers(std::vector<http1::Header> fields) {
  http1::Headers h;
  h.fields = std::move(fields);
  return h;
}

// Decodes `encoded` fed in two pieces split at `at`; returns the output or "ERROR: ...".
std::string decode(const std::vector<Coding>& codings, std::string_view encoded, std::size_t at,
                   std::size_t cap = 1 << 20) {
  ContentDecoder decoder(codings, cap);
  if (!decoder.feed(encoded.substr(0, at)) || !decoder.feed(encoded.substr(at)) || !decoder.finish()) {
    return "ERROR: " + std::string(decoder.error());
  }
  return decoder.output();
}

}  // namespace

TEST_CASE("content_codings: every field, in order, x-gzip is gzip, identity skipped, the first unknown named") {
  CHECK(content_codings(headers({})).applied.empty());
  CHECK(content_codings(headers({{"Content-Encoding", "identity"}})).applied.empty());
  // S11: two fields are one list; the second must not be missed.
  const Codings two = content_codings(headers({{"Content-Encoding", "identity"}, {"content-encoding", "GZIP"}}));
  CHECK(two.applied == std::vector<Coding>{Coding::gzip});
  CHECK(two.unknown.empty());
  const Codings stacked = content_codings(headers({{"Content-Encoding", "deflate, x-gzip ,br"}}));
  CHECK(stacked.applied == std::vector<Coding>{Coding::deflate, Coding::gzip, Coding::br});
  CHECK(content_codings(headers({{"Content-Encoding", "gzip, zstd"}, {"Content-Encoding", "compress"}})).unknown ==
        "zstd");
  CHECK(extra_transfer_coding(headers({{"Transfer-Encoding", "chunked"}})).empty());
  CHECK(extra_transfer_coding(headers({{"Transfer-Encoding", "gzip, chunked"}})) == "gzip");
}

TEST_CASE("gzip, deflate (zlib and raw) and br decode at every split point, stacked codings undo in reverse") {
  std::string plain;
  for (int i = 0; i < 300; ++i) plain += "the secret sk-live-0123456789 is here; ";
  const std::vector<std::pair<std::vector<Coding>, std::string>> cases = {
      {{Coding::gzip}, gzip_for_test(plain)},
      {{Coding::gzip}, gzip_for_test(plain.substr(0, 100)) + gzip_for_test(plain.substr(100))},  // two gzip members
      {{Coding::deflate}, deflate_for_test(plain, 15)},
      {{Coding::deflate}, deflate_for_test(plain, -15)},
      {{Coding::br}, brotli_for_test(plain)},
      {{Coding::gzip, Coding::br}, brotli_for_test(gzip_for_test(plain))},  // gzip applied first, then br
  };
  for (const auto& [codings, encoded] : cases) {
    for (std::size_t at = 0; at <= encoded.size(); at += encoded.size() < 64 ? 1 : 7) {
      CAPTURE(at);
      REQUIRE(decode(codings, encoded, at) == plain);
    }
  }
  CHECK(decode({Coding::gzip}, "", 0).empty());  // an empty body labelled gzip
}

TEST_CASE("what cannot be decoded is an error, never a pass-through") {
  const std::string plain = "hello, this is not compressed at all";
  CHECK(decode({Coding::br}, plain, 5).starts_with("ERROR: the br body cannot be decoded"));
  CHECK(decode({Coding::gzip}, plain, 5).starts_with("ERROR: the gzip body cannot be decoded"));
  const std::string gz = gzip_for_test(plain);
  CHECK(decode({Coding::gzip}, gz.substr(0, gz.size() - 4), 3) == "ERROR: the gzip body cannot be decoded (the stream is truncated)");
  CHECK(decode({Coding::gzip}, gz + "junk", 3).starts_with("ERROR: the gzip body cannot be decoded"));
  const std::string br = brotli_for_test(plain);
  CHECK(decode({Coding::br}, br + "x", 3) == "ERROR: the br body cannot be decoded (data after the end of the stream)");
  CHECK(decode({Coding::br}, br.substr(0, br.size() - 1), 3).starts_with("ERROR: the br body cannot be decoded"));
}

TEST_CASE("the cap holds against a decompression bomb, also nested") {
  const std::string zeros(4 << 20, '\0');
  const std::string bomb = gzip_for_test(zeros);
  CHECK(bomb.size() < 10'000);
  CHECK(decode({Coding::gzip}, bomb, 100, 1 << 20) == "ERROR: the decoded body is larger than 1048576 bytes");
  CHECK(decode({Coding::gzip}, bomb, 100, 4 << 20).size() == zeros.size());
  const std::string nested = gzip_for_test(bomb);
  CHECK(decode({Coding::gzip, Coding::gzip}, nested, 10, 1 << 20) ==
        "ERROR: the decoded body is larger than 1048576 bytes");
  ContentDecoder identity({}, 10);
  CHECK(identity.feed("0123456789"));
  CHECK_FALSE(identity.feed("x"));
}

}  // namespace airlock::proxy
