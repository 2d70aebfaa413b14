// The plain reference for StreamReplacer's semantics (replacer.hpp): scan left to right; at each position
// the longest non-empty needle that starts there (the lowest rule among equal needles) is replaced and
// scanning resumes after it; otherwise the byte is copied. Quadratic, obviously right, for small inputs.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "airlock/proxy/replacer.hpp"

namespace airlock::fuzz {

struct Reference {
  std::string output;
  std::vector<bool> matched;   // per rule: replaced at least once
  std::size_t replacements = 0;
  // Indexed by input position i: the output's length once the first i input bytes are decided (valid where
  // no match straddles i), and, where one does, the position at which that match ends (else 0).
  std::vector<std::size_t> output_at;
  std::vector<std::size_t> match_end_at;
};

inline Reference reference_replace(std::string_view input, const std::vector<proxy::StreamReplacer::Rule>& rules) {
  Reference ref;
  ref.matched.assign(rules.size(), false);
  ref.output_at.assign(input.size() + 1, 0);
  ref.match_end_at.assign(input.size() + 1, 0);
  std::size_t i = 0;
  while (i < input.size()) {
    ref.output_at[i] = ref.output.size();
    std::size_t best = rules.size();
    for (std::size_t r = 0; r < rules.size(); ++r) {
      const std::string_view needle = rules[r].needle;
      if (needle.empty() || input.substr(i, needle.size()) != needle) continue;
      if (best == rules.size() || needle.size() > rules[best].needle.size()) best = r;
    }
    if (best == rules.size()) {
      ref.output.push_back(input[i]);
      ++i;
      continue;
    }
    ref.output.append(rules[best].replacement);
    ref.matched[best] = true;
    ++ref.replacements;
    const std::size_t end = i + rules[best].needle.size();
    for (std::size_t inside = i + 1; inside < end; ++inside) ref.match_end_at[inside] = end;
    i = end;
  }
  ref.output_at[input.size()] = ref.output.size();
  return ref;
}

}  // namespace airlock::fuzz
