// Tests for the streaming replacer: exact outputs for hand-written cases, then the same inputs fed at every
// split point and in random chunkings, which must give the one-shot result and agree with a naive
// reference written independently here. Random runs print their seed on failure; replay one with
// AIRLOCK_TEST_SEED=<seed>.
#include "airlock/proxy/replacer.hpp"

#include <doctest/doctest.h>

#include <cstdint>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

namespace airlock::proxy {
namespace {

using Rule = StreamReplacer::Rule;

// Leftmost-longest, first rule among equal needles: the contract in replacer.hpp, by brute force.
std::string reference(std::string_view in, const std::vector<Rule>& rules, std::vector<bool>& matched) {
  matched.assign(rules.size(), false);
  std::string out;
  std::size_t p = 0;
  while (p < in.size()) {
    std::size_t best = rules.size();
    for (std::size_t i = 0; i < rules.size(); ++i) {
      const std::string_view needle = rules[i].needle;
      if (needle.empty() || !in.substr(p).starts_with(needle)) continue;
      if (best == rules.size() || needle.size() > rules[best].needle.size()) best = i;
    }
    if (best == rules.size()) {
      out += in[p++];
    } else {
      out += rules[best].replacement;
      matched[best] = true;
      p += rules[best].needle.size();
    }
  }
  return out;
}

// Feeds `chunks` in order, checking the held-back bound after each; returns the whole output. With
// Hold::fixed, also that exactly the last max_held_back() input bytes are held (fewer only at the start)
// unless a match ran into them.
std::string stream(StreamReplacer& replacer, const std::vector<std::string_view>& chunks,
                   StreamReplacer::Hold hold = StreamReplacer::Hold::possible_match) {
  std::string out;
  std::size_t total = 0;
  const std::size_t matches_before = replacer.replacements();
  for (std::string_view chunk : chunks) {
    replacer.feed(chunk, out);
    total += chunk.size();
    REQUIRE(replacer.held_back() <= replacer.max_held_back());
    if (hold == StreamReplacer::Hold::fixed && replacer.replacements() == matches_before) {
      REQUIRE(replacer.held_back() == std::min(total, replacer.max_held_back()));
    }
  }
  replacer.flush(out);
  REQUIRE(replacer.held_back() == 0);
  return out;
}

std::vector<std::string_view> split(std::string_view in, std::vector<std::size_t> cuts) {
  std::vector<std::string_view> chunks;
  std::size_t from = 0;
  for (std::size_t cut : cuts) {
    chunks.push_back(in.substr(from, cut - from));
    from = cut;
  }
  chunks.push_back(in.substr(from));
  return chunks;
}

// Checks one input under every 1- and 2-cut split (2-cut only for short inputs) and byte by byte.
void check_all_splits(std::string_view in, const std::vector<Rule>& rules) {
  std::vector<bool> expected_matched;
  const std::string expected = reference(in, rules, expected_matched);
  std::vector<bool> one_shot_matched;
  REQUIRE(replace_all(in, rules, &one_shot_matched) == expected);
  REQUIRE(one_shot_matched == expected_matched);
  for (std::size_t a = 0; a <= in.size(); ++a) {
    INFO("split at " << a);
    StreamReplacer replacer(rules);
    REQUIRE(stream(replacer, split(in, {a})) == expected);
    REQUIRE(replacer.matched() == expected_matched);
  }
  if (in.size() <= 160) {
    for (std::size_t a = 0; a <= in.size(); ++a) {
      for (std::size_t b = a; b <= in.size(); ++b) {
        INFO("split at " << a << " and " << b);
        StreamReplacer replacer(rules);
        REQUIRE(stream(replacer, split(in, {a, b})) == expected);
      }
    }
  }
  std::vector<std::size_t> every_byte;
  for (std::size_t i = 1; i < in.size(); ++i) every_byte.push_back(i);
  StreamReplacer replacer(rules);
  REQUIRE(stream(replacer, split(in, every_byte)) == expected);
  REQUIRE(replacer.matched() == expected_matched);
  // The redaction policy gives the same bytes, whatever the chunking.
  for (std::size_t a = 0; a <= in.size(); ++a) {
    INFO("fixed hold-back, split at " << a);
    StreamReplacer fixed(rules, StreamReplacer::Hold::fixed);
    REQUIRE(stream(fixed, split(in, {a}), StreamReplacer::Hold::fixed) == expected);
  }
  StreamReplacer fixed(rules, StreamReplacer::Hold::fixed);
  REQUIRE(stream(fixed, split(in, every_byte), StreamReplacer::Hold::fixed) == expected);
  REQUIRE(fixed.matched() == expected_matched);
}

std::uint64_t test_seed() {
  if (const char* s = std::getenv("AIRLOCK_TEST_SEED"); s != nullptr && *s != '\0') return std::stoull(s);
  return std::random_device{}();
}

// A placeholder shaped like store's: "airlock_ph_" and 40 characters of [A-Za-z0-9].
std::string placeholder(char fill, std::string_view tail = "") {
  return "airlock_ph_" + std::string(40 - tail.size(), fill) + std::string(tail);
}

const std::string kPh1 = placeholder('A');
const std::string kPh2 = placeholder('A', "B");  // shares 50 bytes with kPh1
const std::string kPh3 = placeholder('z');
const std::string kSecret1 = "sk-live-1234";                            // shorter than its placeholder
const std::string kSecret2 = std::string(120, 'k') + "-long-secret";    // longer
const std::string kSecret3 = "s3cr3t-of-exactly-fifty-one-bytes-0123456789abcdefg";  // same length

std::vector<Rule> substitution_rules() {
  return {{kPh1, kSecret1}, {kPh2, kSecret2}, {kPh3, kSecret3}};
}

TEST_CASE("fixtures have the lengths the cases rely on") {
  CHECK(kPh1.size() == 51);
  CHECK(kPh2.size() == 51);
  CHECK(kSecret3.size() == 51);
  CHECK(kPh1.substr(0, 50) == kPh2.substr(0, 50));
  CHECK(kPh1 != kPh2);
}

TEST_CASE("substitution: exact outputs") {
  const std::vector<Rule> rules = substitution_rules();
  std::vector<bool> matched;
  CHECK(replace_all("Bearer " + kPh1, rules, &matched) == "Bearer sk-live-1234");
  CHECK(matched == std::vector<bool>{true, false, false});
  CHECK(replace_all(kPh2 + "\r\n", rules, &matched) == kSecret2 + "\r\n");
  CHECK(matched == std::vector<bool>{false, true, false});
  CHECK(replace_all("{\"k\":\"" + kPh3 + "\"}", rules, &matched) == "{\"k\":\"" + kSecret3 + "\"}");
  CHECK(matched == std::vector<bool>{false, false, true});
  // adjacent, repeated, at start and end
  CHECK(replace_all(kPh1 + kPh1 + kPh3, rules, &matched) == kSecret1 + kSecret1 + kSecret3);
  CHECK(matched == std::vector<bool>{true, false, true});
  // a truncated placeholder, or one with a byte changed, is left alone
  CHECK(replace_all(kPh1.substr(0, 50), rules, &matched) == kPh1.substr(0, 50));
  CHECK(matched == std::vector<bool>{false, false, false});
  CHECK(replace_all("airlock_ph_", rules) == "airlock_ph_");
  std::string changed = kPh1;
  changed[20] = 'a';
  CHECK(replace_all(changed, rules) == changed);
}

TEST_CASE("no needles: output is the input, byte for byte") {
  std::string binary;
  for (int i = 0; i < 256; ++i) binary += static_cast<char>(i);
  binary += binary;
  for (const std::vector<Rule>& rules : {std::vector<Rule>{}, std::vector<Rule>{{"", "x"}, {"", ""}}}) {
    StreamReplacer replacer(rules);
    CHECK(replacer.max_held_back() == 0);
    std::string out;
    replacer.feed(binary.substr(0, 7), out);
    CHECK(replacer.held_back() == 0);
    replacer.feed(binary.substr(7), out);
    replacer.flush(out);
    CHECK(out == binary);
    CHECK(replacer.matched() == std::vector<bool>(rules.size(), false));
    CHECK(replace_all(binary, rules) == binary);
  }
}

TEST_CASE("held-back bound: a possible needle prefix is held, and released as soon as it cannot match") {
  StreamReplacer replacer(substitution_rules());
  CHECK(replacer.max_held_back() == 50);
  std::string out;
  replacer.feed("GET /?k=airlock_ph", out);
  CHECK(out == "GET /?k=");
  CHECK(replacer.held_back() == 10);
  replacer.feed("_AAAA", out);
  CHECK(out == "GET /?k=");
  CHECK(replacer.held_back() == 15);
  replacer.feed("!", out);  // "airlock_ph_AAAA!" starts no needle; nor does any suffix of it
  CHECK(out == "GET /?k=airlock_ph_AAAA!");
  CHECK(replacer.held_back() == 0);
  // 50 bytes of kPh1 held back: the most ever needed.
  replacer.feed(kPh1.substr(0, 50), out);
  CHECK(replacer.held_back() == 50);
  replacer.feed(kPh1.substr(50), out);
  CHECK(replacer.held_back() == 0);
  CHECK(out == "GET /?k=airlock_ph_AAAA!" + kSecret1);
  // flush releases a tail that never completed.
  replacer.feed(" airlock_", out);
  CHECK(replacer.held_back() == 8);
  replacer.flush(out);
  CHECK(out == "GET /?k=airlock_ph_AAAA!" + kSecret1 + " airlock_");
  CHECK(replacer.held_back() == 0);
  CHECK(replacer.replacements() == 1);
}

TEST_CASE("every split point: substitution inputs") {
  const std::vector<Rule> rules = substitution_rules();
  const std::vector<std::string> inputs{
      kPh1,
      kPh2,
      "x" + kPh3 + "y",
      kPh1 + kPh2 + kPh3,
      kPh1 + kPh1,
      "airlock_" + kPh1,                       // a near-start that is not one
      "airlock_ph_airlock_ph_" + kPh3,         // overlapping prefixes
      kPh1.substr(0, 50) + kPh1,               // 50 bytes that look like kPh1, then kPh1
      kPh1.substr(0, 50) + "B" + kPh2.substr(50),  // that is kPh2
      "Authorization: Bearer " + kPh2 + "\r\nX-Other: " + kPh1 + "\r\n\r\n",
      kPh1.substr(0, 30),
      "",
  };
  for (const std::string& in : inputs) {
    INFO("input: " << in);
    check_all_splits(in, rules);
  }
}

TEST_CASE("redaction: secrets without a common prefix, one a prefix of another") {
  const std::string ph_a = placeholder('a');
  const std::string ph_b = placeholder('b');
  const std::string ph_c = placeholder('c');
  const std::vector<Rule> rules{{"tok_abc", ph_a}, {"tok_abcdef", ph_b}, {"XYZ", ph_c}};
  std::vector<bool> matched;
  CHECK(replace_all("tok_abcdef", rules, &matched) == ph_b);  // the longer secret wins, whole
  CHECK(matched == std::vector<bool>{false, true, false});
  CHECK(replace_all("tok_abcdeX", rules, &matched) == ph_a + "deX");
  CHECK(matched == std::vector<bool>{true, false, false});
  CHECK(replace_all("XYZtok_abc", rules) == ph_c + ph_a);
  CHECK(replace_all("tok_tok_abcdefXY", rules) == "tok_" + ph_b + "XY");
  for (const std::string_view in : std::vector<std::string_view>{"tok_abcdef", "tok_abcdeX", "XYZtok_abc",
                                                                 "tok_tok_abcdefXY", "tok_abcde", "XYXYZ",
                                                                 "{\"echo\":\"tok_abcdef tok_abc XYZ\"}"}) {
    INFO("input: " << in);
    check_all_splits(in, rules);
  }
  // Streaming must hold "tok_abc" until it knows whether "def" follows.
  StreamReplacer replacer(rules);
  std::string out;
  replacer.feed("..tok_abc", out);
  CHECK(out == "..");
  CHECK(replacer.held_back() == 7);
  replacer.feed("d", out);
  CHECK(out == "..");
  replacer.feed("x", out);
  CHECK(out == ".." + ph_a + "dx");
  CHECK(replacer.held_back() == 0);
}

TEST_CASE("self-overlapping needles resume after the match") {
  const std::vector<Rule> rules{{"abab", "X"}, {"aab", "Y"}};
  CHECK(replace_all("ababab", rules) == "Xab");
  CHECK(replace_all("abababab", rules) == "XX");
  CHECK(replace_all("aaab", rules) == "aY");
  CHECK(replace_all("aabab", rules) == "Yab");
  for (const std::string_view in :
       std::vector<std::string_view>{"ababab", "abababab", "aaab", "aabab", "aaaaaaabababababa", "abaabab"}) {
    INFO("input: " << in);
    check_all_splits(in, rules);
  }
}

TEST_CASE("replacements are not rescanned, and among equal needles the first rule wins") {
  const std::vector<Rule> chain{{"a", "b"}, {"b", "c"}};
  CHECK(replace_all("ab", chain) == "bc");
  const std::vector<Rule> twice{{"secret", "P1"}, {"secret", "P2"}, {"other", "P3"}};
  std::vector<bool> matched;
  CHECK(replace_all("secret other secret", twice, &matched) == "P1 P3 P1");
  CHECK(matched == std::vector<bool>{true, false, true});
  const std::vector<Rule> shrink{{"abc", ""}};
  CHECK(replace_all("xabcabcy", shrink) == "xy");
}

TEST_CASE("bytes are compared exactly: case, NUL and high bytes") {
  const std::string nul_needle("a\0b", 3);
  const std::string high_needle("\xff\xfe\x80", 3);
  const std::vector<Rule> rules{{nul_needle, "N"}, {high_needle, "H"}, {"Key", "K"}};
  CHECK(replace_all(std::string("xa\0b\xff\xfe\x80yKEYKey", 14), rules) == "xNHyKEYK");
  check_all_splits(std::string("\xff\xff\xfe\x80\0a\0a\0bKe", 12), rules);
}

TEST_CASE("a moved replacer carries its held-back tail") {
  StreamReplacer first(substitution_rules());
  std::string out;
  first.feed("<" + kPh3.substr(0, 20), out);
  CHECK(out == "<");
  StreamReplacer second(std::move(first));
  second.feed(kPh3.substr(20) + ">", out);
  second.flush(out);
  CHECK(out == "<" + kSecret3 + ">");
  StreamReplacer third(std::vector<Rule>{});
  third = std::move(second);
  third.feed(kPh1.substr(0, 9), out);
  third.feed(kPh1.substr(9), out);
  third.flush(out);
  CHECK(out == "<" + kSecret3 + ">" + kSecret1);
  CHECK(third.matched() == std::vector<bool>{true, false, true});
}

TEST_CASE("random inputs and chunkings equal the one-shot result") {
  const std::uint64_t seed = test_seed();
  INFO("replay with AIRLOCK_TEST_SEED=" << seed);
  std::mt19937_64 rng(seed);
  auto below = [&](std::size_t n) -> std::size_t { return rng() % n; };

  for (int round = 0; round < 300; ++round) {
    // Needles over a small alphabet so that near-misses and overlaps are frequent.
    std::vector<std::string> needles;
    std::vector<std::string> replacements;
    const std::size_t rule_count = 1 + below(5);
    for (std::size_t i = 0; i < rule_count; ++i) {
      std::string needle;
      const std::size_t len = 1 + below(round % 3 == 0 ? 60 : 6);
      for (std::size_t j = 0; j < len; ++j) needle += "abc\xff"[below(4)];
      needles.push_back(needle);
      replacements.push_back(std::string(below(8), static_cast<char>('P' + i)));
    }
    std::vector<Rule> rules;
    for (std::size_t i = 0; i < rule_count; ++i) rules.push_back({needles[i], replacements[i]});

    std::string input;
    const std::size_t pieces = below(30);
    for (std::size_t i = 0; i < pieces; ++i) {
      if (below(3) == 0) {
        input += needles[below(rule_count)];
      } else {
        const std::string& n = needles[below(rule_count)];
        input += n.substr(0, below(n.size() + 1));  // a prefix: a possible near-miss
        input += "abcx\xff"[below(5)];
      }
    }
    std::vector<bool> expected_matched;
    const std::string expected = reference(input, rules, expected_matched);
    std::vector<bool> one_shot_matched;
    REQUIRE(replace_all(input, rules, &one_shot_matched) == expected);
    REQUIRE(one_shot_matched == expected_matched);

    for (int chunking = 0; chunking < 10; ++chunking) {
      std::vector<std::size_t> cuts;
      for (std::size_t at = below(8); at < input.size(); at += 1 + below(chunking < 5 ? 4 : 70)) cuts.push_back(at);
      INFO("round " << round << " chunking " << chunking);
      StreamReplacer replacer(rules);
      REQUIRE(stream(replacer, split(input, cuts)) == expected);
      REQUIRE(replacer.matched() == expected_matched);
      StreamReplacer fixed(rules, StreamReplacer::Hold::fixed);
      REQUIRE(stream(fixed, split(input, cuts), StreamReplacer::Hold::fixed) == expected);
      REQUIRE(fixed.matched() == expected_matched);
    }
  }
}

// S10: with Hold::fixed, how many bytes come out after each feed is a function of the chunk lengths alone
// when nothing matches, so a stream that begins a secret cannot be told from one that does not.
TEST_CASE("fixed hold-back: what comes out when depends on lengths only, never on a secret's prefix") {
  const std::string secret = "sk-ant-api03-R2D2C3POxWingYWing0123456789";
  const std::vector<Rule> rules = {{secret, "PLACEHOLDER"}};
  StreamReplacer prefix_probe(rules, StreamReplacer::Hold::fixed);
  StreamReplacer other_probe(rules, StreamReplacer::Hold::fixed);
  CHECK(prefix_probe.max_held_back() == secret.size() - 1);
  std::string a, b;
  for (std::size_t n = 1; n < secret.size(); ++n) {
    // The same lengths: "MARK|" + n bytes that are a prefix of the secret, or that are not.
    prefix_probe.feed("MARK|" + secret.substr(0, n), a);
    other_probe.feed("MARK|" + std::string(n, '#'), b);
    CAPTURE(n);
    REQUIRE(a.size() == b.size());
    REQUIRE(prefix_probe.held_back() == other_probe.held_back());
  }
  // The old policy held back exactly the prefix: the oracle this test guards against.
  StreamReplacer adaptive(rules);
  std::string c;
  adaptive.feed("MARK|" + secret.substr(0, 5), c);
  CHECK(c == "MARK|");
  StreamReplacer adaptive_other(rules);
  std::string d;
  adaptive_other.feed("MARK|#####", d);
  CHECK(d == "MARK|#####");
}

TEST_CASE("fixed hold-back: the tail is released at flush, and a match is replaced whole") {
  const std::vector<Rule> rules = {{"secret-value-0001", "PH"}};
  StreamReplacer replacer(rules, StreamReplacer::Hold::fixed);
  std::string out;
  replacer.feed("0123456789abcdefghij", out);
  CHECK(out == "0123");  // 20 in, 16 held
  replacer.feed("xsecret-value-0001y", out);
  CHECK(out == "0123456789abcdefghijxPH");
  CHECK(replacer.held_back() == 1);
  replacer.flush(out);
  CHECK(out == "0123456789abcdefghijxPHy");
}

TEST_CASE("a large stream with placeholders at random offsets") {
  const std::uint64_t seed = test_seed();
  INFO("replay with AIRLOCK_TEST_SEED=" << seed);
  std::mt19937_64 rng(seed);
  const std::vector<Rule> rules = substitution_rules();
  std::string input;
  std::string expected;
  std::size_t placed = 0;
  while (input.size() < (1u << 20)) {
    const std::size_t filler = rng() % 3000;
    for (std::size_t i = 0; i < filler; ++i) input += "airlock_ph_ xyzA"[rng() % 16];
    const std::size_t which = rng() % 3;
    input += std::string(rules[which].needle);
    ++placed;
  }
  std::vector<bool> matched;
  expected = reference(input, rules, matched);
  CHECK(matched == std::vector<bool>{true, true, true});
  StreamReplacer replacer(rules);
  std::string out;
  for (std::size_t at = 0; at < input.size();) {
    const std::size_t n = std::min<std::size_t>(1 + rng() % 16384, input.size() - at);
    replacer.feed(std::string_view(input).substr(at, n), out);
    REQUIRE(replacer.held_back() <= 50);
    at += n;
  }
  replacer.flush(out);
  CHECK(out == expected);
  CHECK(replacer.replacements() == placed);
}

}  // namespace
}  // namespace airlock::proxy
