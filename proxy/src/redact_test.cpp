// Unit tests of response redaction (pure; SECURITY S7, S10, S11): which forms of a secret are replaced,
// by what, at every split point; and, over random inputs and chunkings, the two properties the redactor
// must keep: no secret byte sequence gets out, and how much gets out after each read depends on lengths
// only (replay a random run with AIRLOCK_TEST_SEED=<seed>).
#include <doctest/doctest.h>

#include <cstdlib>
#include <random>

#include "redact.hpp"
#include "test_support.hpp"

namespace airlock::proxy {

namespace {

constexpr std::string_view kPh = "airlock_ph_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
constexpr std::string_view kValue = "sk-value-1";

std::shared_ptr<const CredentialRule> credential() {
  return test::env_credential("c1", "A", std::string(kPh), kValue, {});
}

// Feeds `input` in pieces split at the given points; returns the output.
std::string run_filter(BodyFilter filter, std::string_view input, const std::vector<std::size_t>& splits) {
  std::string out;
  std::size_t start = 0;
  for (std::size_t i = 0; i <= splits.size(); ++i) {
    const std::size_t end = i < splits.size() ? splits[i] : input.size();
    filter.feed(input.substr(start, end - start), out);
    start = end;
  }
  filter.finish(out);
  return out;
}

std::uint64_t test_seed() {
  if (const char* s = std::getenv("AIRLOCK_TEST_SEED"); s != nullptr && *s != '\0') return std::stoull(s);
  return std::random_device{}();
}

}  // namespace

TEST_CASE("redaction: values become placeholders (static_bearer: a fixed word), across splits and in headers") {
  const auto env = credential();
  const auto bearer = test::bearer_credential("b1", "https://mcp.example/", "tok-secret-22");
  const std::vector<const CredentialRule*> reflect = {env.get(), bearer.get()};
  const std::string input = fmt::format("a {} b tok-secret-22 c {}", kValue, kValue);
  const std::string expected = fmt::format("a {} b {} c {}", kPh, kRedactedToken, kPh);
  for (std::size_t a = 0; a <= input.size(); ++a) {
    CAPTURE(a);
    Redaction redaction(reflect, {});
    CHECK(run_filter(std::move(redaction.body()), input, {a}) == expected);
  }
  Redaction redaction(reflect, {});
  http1::Headers headers;
  headers.fields = {{"X-Echo", fmt::format("Bearer {}", kValue)}, {"Other", "fine"}, {fmt::format("X-{}", kValue), "1"}};
  CHECK(redaction.headers(headers) == 2);
  CHECK(*headers.find("X-Echo") == fmt::format("Bearer {}", kPh));
  CHECK(*headers.find("Other") == "fine");
  CHECK(headers.fields[2].name == fmt::format("X-{}", kPh));  // S11: header names too
  CHECK_FALSE(Redaction({}, {}).active());
}

TEST_CASE("redaction: base64 forms of a secret at every alignment, both alphabets, and the Basic value Airlock wrote") {
  const std::string secret = "sk-live-\xfb\xff\xfe-0123456789abcdef";  // bytes that give + / and - _ in base64
  const auto env = test::env_credential("c1", "A", std::string(kPh), secret, {});
  const std::vector<const CredentialRule*> reflect = {env.get()};
  const std::vector<std::string> forms = base64_forms(secret);
  CHECK(forms.size() == 6);
  for (std::size_t before = 0; before < 3; ++before) {
    for (std::size_t after = 0; after < 3; ++after) {
      const std::string text = std::string(before, 'u') + "ser:" + secret + std::string(after, '!');
      for (const bool url_safe : {false, true}) {
        std::string encoded = test::b64(text);
        if (url_safe) {
          for (char& c : encoded) c = c == '+' ? '-' : c == '/' ? '_' : c;
        }
        Redaction redaction(reflect, {});
        std::string bytes = "{\"echo\":\"" + encoded + "\"}";
        CAPTURE(before);
        CAPTURE(after);
        CAPTURE(url_safe);
        CHECK(redaction.whole(bytes) == 1);
        CHECK(bytes.find(kRedactedEncoded) != std::string::npos);
        CHECK(bytes.find(secret) == std::string::npos);
      }
    }
  }
  // The exact Basic value Airlock wrote comes back as what the sandbox sent.
  const std::string sent = test::b64("user:" + std::string(kPh));
  const std::string written = test::b64("user:" + secret);
  const std::vector<WrittenEncoding> encodings = [&] {
    std::vector<WrittenEncoding> v;
    v.emplace_back(written, sent);
    return v;
  }();
  Redaction redaction(reflect, encodings);
  std::string echoed = "Basic " + written;
  CHECK(redaction.whole(echoed) == 1);
  CHECK(echoed == "Basic " + sent);
}

TEST_CASE("redaction: redacted() names the credentials whose secrets were replaced, in any form, each once") {
  const auto a = test::env_credential("c1", "A", std::string(kPh), kValue, {});
  const auto b = test::env_credential("c2", "B", "airlock_ph_BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB", "sk-other-22", {});
  const auto bearer = test::bearer_credential("b1", "https://mcp.example/", "tok-secret-22");
  const std::vector<const CredentialRule*> reflect = {a.get(), b.get(), bearer.get()};
  SUBCASE("nothing replaced: empty") {
    Redaction redaction(reflect, {});
    std::string text = "nothing to see";
    CHECK(redaction.whole(text) == 0);
    CHECK(redaction.redacted().empty());
  }
  SUBCASE("raw values in a header and the body, twice: each credential once, in the given order") {
    Redaction redaction(reflect, {});
    http1::Headers headers;
    headers.fields = {{"X-Echo", "tok-secret-22"}};
    CHECK(redaction.headers(headers) == 1);
    std::string out;
    redaction.body().feed(fmt::format("{} and {} and {}", kValue, kValue, "tok-secret-22"), out);
    redaction.body().finish(out);
    CHECK(redaction.redacted() == std::vector<const CredentialRule*>{a.get(), bearer.get()});
  }
  SUBCASE("a base64 form counts for its credential") {
    Redaction redaction(reflect, {});
    std::string echoed = test::b64("sk-other-22 in base64");
    CHECK(redaction.whole(echoed) == 1);
    CHECK(redaction.redacted() == std::vector<const CredentialRule*>{b.get()});
  }
  SUBCASE("a written encoding counts for every credential it carries") {
    const std::string written = test::b64(fmt::format("{}:{}", kValue, "sk-other-22"));
    std::vector<WrittenEncoding> encodings;
    encodings.emplace_back(written, "c2VudA==", std::vector<const CredentialRule*>{a.get(), b.get()});
    Redaction redaction(reflect, encodings);
    std::string echoed = "Basic " + written;
    CHECK(redaction.whole(echoed) == 1);
    CHECK(echoed == "Basic c2VudA==");
    CHECK(redaction.redacted() == std::vector<const CredentialRule*>{a.get(), b.get()});
  }
}

TEST_CASE("base64_forms: every character that depends on the secret alone, and forms of 8 characters are kept") {
  // Each form is base64 of the secret after 0, 1 or 2 other bytes, cut to the characters whose six bits all
  // come from the secret. 28 bytes after 2 others end on a character boundary: that form keeps its last
  // character ("m", the end of "def").
  const std::string secret = "sk-live-\xfb\xff\xfe-0123456789abcdef";
  CHECK(base64_forms(secret) == std::vector<std::string>{"c2stbGl2ZS37//4tMDEyMzQ1Njc4OWFiY2RlZ",
                                                         "NrLWxpdmUt+//+LTAxMjM0NTY3ODlhYmNkZW",
                                                         "zay1saXZlLfv//i0wMTIzNDU2Nzg5YWJjZGVm",
                                                         "c2stbGl2ZS37__4tMDEyMzQ1Njc4OWFiY2RlZ",
                                                         "NrLWxpdmUt-__-LTAxMjM0NTY3ODlhYmNkZW",
                                                         "zay1saXZlLfv__i0wMTIzNDU2Nzg5YWJjZGVm"});
  // Six bytes: 8 characters at the first alignment (kept: kMinEncodedNeedle is the shortest redacted), 7 at
  // the others (dropped); no + or /, so the URL-safe forms are the same and appear once.
  CHECK(base64_forms("abcdef") == std::vector<std::string>{"YWJjZGVm"});

  // "user:" puts the secret at the third alignment: the whole encoding from its first secret-only character
  // to the end is redacted, and only the edge character it shares with "user:" stays.
  const auto env = test::env_credential("c1", "A", std::string(kPh), secret, {});
  const std::vector<const CredentialRule*> reflect = {env.get()};
  Redaction redaction(reflect, {});
  std::string echoed = "Basic " + test::b64("user:" + secret);
  REQUIRE(echoed == "Basic dXNlcjpzay1saXZlLfv//i0wMTIzNDU2Nzg5YWJjZGVm");
  CHECK(redaction.whole(echoed) == 1);
  CHECK(echoed == "Basic dXNlcjpairlock-redacted");
}

TEST_CASE("random chunkings: no secret form gets out, and what gets out when depends on lengths only") {
  const std::uint64_t seed = test_seed();
  INFO("replay with AIRLOCK_TEST_SEED=" << seed);
  std::mt19937_64 rng(seed);
  const auto below = [&](std::size_t n) -> std::size_t { return rng() % n; };
  const std::string secret = "sk-ant-api03-Q1w2E3r4T5y6U7i8O9p0-zxcvbnmASDF";
  const auto env = test::env_credential("c1", "A", std::string(kPh), secret, {});
  const std::vector<const CredentialRule*> reflect = {env.get()};
  const std::vector<std::string> forms = base64_forms(secret);
  for (int round = 0; round < 400; ++round) {
    // Fragments an attacker would use: prefixes of the secret and of its encodings, then sometimes the
    // whole thing, between filler.
    std::string input;
    bool whole = false;
    for (std::size_t piece = below(12); piece > 0; --piece) {
      const std::string& source = below(2) == 0 ? secret : forms[below(forms.size())];
      if (below(6) == 0) {
        input += source;
        whole = true;
      } else {
        input += source.substr(0, below(source.size()));
      }
      input += std::string(below(5), "x{\"="[below(4)]);
    }
    // The same lengths with no secret material at all.
    const std::string blank(input.size(), '.');
    std::vector<std::size_t> cuts;
    for (std::size_t at = below(8); at < input.size(); at += 1 + below(round % 2 == 0 ? 5 : 90)) cuts.push_back(at);

    Redaction probe(reflect, {});
    Redaction control(reflect, {});
    std::string out, control_out;
    std::size_t from = 0;
    CAPTURE(round);
    for (std::size_t i = 0; i <= cuts.size(); ++i) {
      const std::size_t to = i < cuts.size() ? cuts[i] : input.size();
      probe.body().feed(std::string_view(input).substr(from, to - from), out);
      control.body().feed(std::string_view(blank).substr(from, to - from), control_out);
      from = to;
      // S10: until something matched whole, the sandbox holds exactly as many bytes as it would with
      // no secret in sight.
      if (probe.body().replacements() == 0) REQUIRE(out.size() == control_out.size());
    }
    probe.body().finish(out);
    REQUIRE(out.find(secret) == std::string::npos);
    for (const std::string& form : forms) REQUIRE(out.find(form) == std::string::npos);
    // The streaming result equals the one-shot one.
    Redaction one_shot(reflect, {});
    std::string expected = input;
    one_shot.whole(expected);
    REQUIRE(out == expected);
    if (!whole) REQUIRE(out == input);  // fragments alone are never touched
  }
}

}  // namespace airlock::proxy
