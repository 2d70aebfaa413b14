// Fuzz target replacer: StreamReplacer (proxy/include/airlock/proxy/replacer.hpp) against a plain
// reference that scans left to right and replaces the longest needle at each position.
//
// Input: the rules, one a line ("needle" or "needle<TAB>replacement"), up to the first empty line; then the
// stream. Without an empty line, the first line is the one rule and the rest is the stream. The stream is
// fed in chunks drawn from the input.
//
// Checks (a violation aborts):
//   - replace_all(), and feed() + flush() over the chunks with either Hold, give the reference's bytes,
//     matched() flags and replacements() count;
//   - Hold::possible_match: after each feed() the output so far is a prefix of the final output, and no
//     more than max_held_back() bytes are held back;
//   - Hold::fixed (S10): after each feed() the output is exactly the reference's output for the input up to
//     where the fixed hold-back starts (or, when a match straddles that point, up to the match's end), and
//     the rest of the input is what is held back: what the sandbox sees depends on lengths and whole
//     matches only, never on a partial match;
//   - replace_all() on a replacer in the middle of a stream, and moving the replacer, do not change the
//     stream's output.
#include <string>
#include <tuple>
#include <vector>

#include "airlock/proxy/replacer.hpp"
#include "fuzz_support.hpp"
#include "replace_reference.hpp"

namespace airlock::fuzz {
namespace {

using proxy::StreamReplacer;

constexpr std::size_t kMaxRules = 8;
constexpr std::size_t kMaxNeedle = 64;

struct Parsed {
  std::vector<std::string> needles;       // the rules' bytes live here
  std::vector<std::string> replacements;
  std::string_view stream;
};

Parsed parse_input(std::string_view input) {
  Parsed parsed;
  auto [rules_text, stream] = split_once(input, "\n\n");
  if (stream.empty() && rules_text.size() == input.size()) std::tie(rules_text, stream) = split_once(input, "\n");
  parsed.stream = stream;
  while (!rules_text.empty() && parsed.needles.size() < kMaxRules) {
    auto [line, rest] = split_once(rules_text, "\n");
    rules_text = rest;
    auto [needle, replacement] = split_once(line, "\t");
    parsed.needles.emplace_back(needle.substr(0, kMaxNeedle));
    parsed.replacements.emplace_back(replacement);
  }
  return parsed;
}

}  // namespace
}  // namespace airlock::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace airlock;
  using namespace airlock::fuzz;
  const std::string_view input = as_text(data, size);
  const Parsed parsed = parse_input(input);
  std::vector<StreamReplacer::Rule> rules;
  for (std::size_t i = 0; i < parsed.needles.size(); ++i) rules.push_back({parsed.needles[i], parsed.replacements[i]});
  const std::string_view stream = parsed.stream;
  const Reference ref = reference_replace(stream, rules);
  const std::vector<std::string_view> chunks = random_chunks(stream, hash_of(input));

  std::vector<bool> matched;
  AIRLOCK_FUZZ_CHECK(proxy::replace_all(stream, rules, &matched) == ref.output);
  AIRLOCK_FUZZ_CHECK(matched == ref.matched);

  {  // Hold::possible_match (substitution)
    StreamReplacer replacer(rules);
    std::string out;
    for (const std::string_view chunk : chunks) {
      replacer.feed(chunk, out);
      AIRLOCK_FUZZ_CHECK(ref.output.starts_with(out));
      AIRLOCK_FUZZ_CHECK(replacer.held_back() <= replacer.max_held_back());
    }
    replacer.flush(out);
    AIRLOCK_FUZZ_CHECK(out == ref.output);
    AIRLOCK_FUZZ_CHECK(replacer.matched() == ref.matched);
    AIRLOCK_FUZZ_CHECK(replacer.replacements() == ref.replacements);
    AIRLOCK_FUZZ_CHECK(replacer.held_back() == 0);
  }

  {  // Hold::fixed (redaction, S10)
    StreamReplacer replacer(rules, StreamReplacer::Hold::fixed);
    const std::size_t hold_back = replacer.max_held_back();
    std::string out;
    std::size_t fed = 0;
    for (const std::string_view chunk : chunks) {
      replacer.feed(chunk, out);
      fed += chunk.size();
      std::size_t decided = fed > hold_back ? fed - hold_back : 0;
      if (ref.match_end_at[decided] != 0) decided = ref.match_end_at[decided];  // a match straddles it
      AIRLOCK_FUZZ_CHECK(out.size() == ref.output_at[decided]);
      AIRLOCK_FUZZ_CHECK(ref.output.starts_with(out));
      AIRLOCK_FUZZ_CHECK(replacer.held_back() == fed - decided);
    }
    replacer.flush(out);
    AIRLOCK_FUZZ_CHECK(out == ref.output);
    AIRLOCK_FUZZ_CHECK(replacer.matched() == ref.matched);
    AIRLOCK_FUZZ_CHECK(replacer.replacements() == ref.replacements);
  }

  {  // one-shot calls and a move in the middle of a stream
    StreamReplacer first(rules);
    std::string out;
    for (std::size_t c = 0; c < chunks.size(); ++c) {
      first.feed(chunks[c], out);
      if (c == chunks.size() / 2) {
        std::string whole;
        first.replace_all(chunks[c], whole);
        AIRLOCK_FUZZ_CHECK(whole == reference_replace(chunks[c], rules).output);
        StreamReplacer second(std::move(first));
        first = std::move(second);
      }
    }
    first.flush(out);
    AIRLOCK_FUZZ_CHECK(out == ref.output);
  }
  return 0;
}
