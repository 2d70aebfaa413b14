// airlock::proxy streaming replacer — replaces several needles with their replacements in a byte stream
// that arrives in arbitrary chunks. The proxy uses it both ways: substitution (placeholder → secret value)
// in request heads and bodies, and response redaction (secret value → placeholder, SECURITY S7).
//
// Semantics (the same for every chunking of the input, and for replace_all):
//   - scan left to right; at each position the LONGEST needle that starts there wins, and scanning resumes
//     after it; replacements are never rescanned. Longest-first matters for redaction: when one secret is a
//     prefix of another, the longer is redacted whole instead of leaving its tail in clear.
//   - needles that are equal: the rule with the lowest index wins; the others never match.
//   - an empty needle never matches (a credential with an empty value has nothing to redact).
//   - needles need no common prefix (secrets have none); bytes are compared exactly (no case folding).
//
// Streaming: feed() appends to `out` the rewritten bytes that are final and holds back a tail of at most
// max_held_back() = (longest needle length - 1) input bytes; flush() at the end of the stream releases it.
// Which tail is held is the Hold policy:
//   - Hold::possible_match (substitution): only the bytes that could still be the start of a needle, so
//     that everything else moves on at once;
//   - Hold::fixed (redaction, SECURITY S10): always exactly the last max_held_back() bytes of the input so
//     far (fewer only at the very start), whatever they are. A stream that holds back "the bytes that might
//     be the start of a secret" tells whoever watches what arrives when that those bytes ARE a prefix of a
//     secret; with a fixed hold-back, what is delivered after each feed() depends only on the input's length,
//     except where a whole needle matched (and a whole match shows anyway, as its replacement).
// Held-back bytes may be a prefix of a secret: they are kept in a buffer allocated once and wiped
// (explicit_bzero) when released and on destruction.
//
// Cost: a first-byte table skips bytes that start no needle (memchr when all needles share their first
// byte, as placeholders do) and a 64 Kbit table of first byte pairs rejects most other positions; at a
// remaining candidate, a binary search over the sorted needles advances one byte at a time, so the work
// per position is bounded by the longest common prefix of the input and a needle. Construction is
// O(total needle bytes + 8 KiB); build one replacer per stream, not per byte range.
//
// Lifetime (why views): Rule holds views, so secret values are not copied out of their owner's secure
// memory. The bytes that every Rule's needle and replacement refer to must stay valid and unchanged for
// the lifetime of the StreamReplacer (the proxy keeps its credential snapshot alive for the whole
// request), and for the duration of a replace_all call. `out` receives replacement bytes, i.e. secret
// values when substituting: the caller owns that buffer and its wiping.
//
// Threading: a StreamReplacer is one stream's state; use it from one thread at a time. Move-only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace airlock::proxy {

class StreamReplacer {
 public:
  struct Rule {
    std::string_view needle;       // bytes to find; must outlive the replacer (see above)
    std::string_view replacement;  // bytes written instead; must outlive the replacer
  };
  enum class Hold { possible_match, fixed };

  explicit StreamReplacer(std::vector<Rule> rules, Hold hold = Hold::possible_match);
  ~StreamReplacer();
  StreamReplacer(StreamReplacer&&) noexcept;
  StreamReplacer& operator=(StreamReplacer&&) noexcept;
  StreamReplacer(const StreamReplacer&) = delete;
  StreamReplacer& operator=(const StreamReplacer&) = delete;

  // Appends the rewritten bytes that are final to `out`; keeps a possible needle prefix back.
  void feed(std::string_view chunk, std::string& out);
  // End of stream: appends the held-back tail, rewritten. The replacer can then start a new stream.
  void flush(std::string& out);

  // One-shot over a complete input (a header value, a request target): appends the rewritten input to
  // `out`. Independent of any stream in progress (it neither uses nor changes the held-back tail); updates
  // matched() and replacements().
  void replace_all(std::string_view input, std::string& out);

  const std::vector<bool>& matched() const noexcept { return matched_; }  // per rule: seen at least once
  std::size_t replacements() const noexcept { return replacements_; }     // total needles replaced
  std::size_t max_held_back() const noexcept { return max_needle_ == 0 ? 0 : max_needle_ - 1; }
  std::size_t held_back() const noexcept { return pending_.size(); }      // bytes held back right now

 private:
  struct Entry {  // one non-empty needle, sorted by needle bytes, then rule index
    std::string_view needle;
    std::size_t rule;
  };
  enum class Walk { none, match, undecided };

  Walk longest_at(std::string_view buf, std::size_t pos, bool at_end, std::size_t& entry) const noexcept;
  std::size_t scan(std::string_view buf, std::size_t pos, std::size_t limit, bool at_end, std::string& out);
  void keep_pending_from(std::size_t pos);
  void wipe_pending() noexcept;

  std::vector<Rule> rules_;
  std::vector<Entry> entries_;
  std::vector<unsigned> first_begin_;  // entries_ starting with byte b: [first_begin_[b], first_begin_[b + 1])
  std::vector<std::uint64_t> pairs_;   // bit (b0 << 8 | b1): some match can start with bytes b0 b1
  int single_first_ = -1;              // the one first byte every needle shares, or -1
  std::size_t max_needle_ = 0;
  Hold hold_ = Hold::possible_match;
  std::vector<char> pending_;          // held-back tail; capacity fixed in the constructor, never reallocated
  std::vector<bool> matched_;
  std::size_t replacements_ = 0;
};

// The one-shot form, for small inputs (header values, URL targets). `matched`, when given, is resized to
// rules.size() and receives the per-rule flags of this call.
std::string replace_all(std::string_view input, std::span<const StreamReplacer::Rule> rules,
                        std::vector<bool>* matched = nullptr);

}  // namespace airlock::proxy
