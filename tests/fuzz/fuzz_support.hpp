// What the fuzz targets share: invariant checks that abort (libFuzzer and the replay both report an abort
// as a failure, with the input that caused it), splitting an input into its parts, and chunkings drawn
// from the input itself (so a failing input replays with the same chunking).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace airlock::fuzz {

[[noreturn]] inline void invariant_violated(const char* condition, const char* file, int line) {
  std::fprintf(stderr, "fuzz invariant violated: %s (%s:%d)\n", condition, file, line);
  std::abort();
}

// Unlike assert(), never compiled out: a fuzz target that cannot fail finds nothing.
#define AIRLOCK_FUZZ_CHECK(condition) \
  ((condition) ? static_cast<void>(0) : ::airlock::fuzz::invariant_violated(#condition, __FILE__, __LINE__))

inline std::string_view as_text(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// The text before the first `separator` and the text after it; without one, the whole text and nothing.
inline std::pair<std::string_view, std::string_view> split_once(std::string_view text, std::string_view separator) {
  const std::size_t at = text.find(separator);
  if (at == std::string_view::npos) return {text, {}};
  return {text.substr(0, at), text.substr(at + separator.size())};
}

// Words separated by blanks (spaces and tabs).
inline std::vector<std::string_view> words_of(std::string_view text) {
  std::vector<std::string_view> words;
  std::size_t at = 0;
  while (at < text.size()) {
    const std::size_t start = text.find_first_not_of(" \t", at);
    if (start == std::string_view::npos) break;
    const std::size_t end = std::min(text.find_first_of(" \t", start), text.size());
    words.push_back(text.substr(start, end - start));
    at = end;
  }
  return words;
}

inline std::string_view trim_blanks(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t' || text.back() == '\r')) text.remove_suffix(1);
  return text;
}

// FNV-1a: the seed of an input's chunking. Any mutation of the input gives another chunking.
inline std::uint64_t hash_of(std::string_view bytes) {
  std::uint64_t hash = 14695981039346656037ull;
  for (const char c : bytes) {
    hash ^= static_cast<unsigned char>(c);
    hash *= 1099511628211ull;
  }
  return hash;
}

// splitmix64: small, and the same on every platform.
class Random {
 public:
  explicit Random(std::uint64_t seed) : state_(seed) {}
  std::uint64_t next() {
    std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  std::size_t below(std::size_t bound) { return bound == 0 ? 0 : static_cast<std::size_t>(next() % bound); }

 private:
  std::uint64_t state_;
};

// `bytes` cut into pieces of 1 to 16 bytes, now and then up to 256, with an empty piece now and then (a
// read that returned nothing new).
inline std::vector<std::string_view> random_chunks(std::string_view bytes, std::uint64_t seed) {
  Random random(seed);
  std::vector<std::string_view> chunks;
  std::size_t at = 0;
  while (at < bytes.size()) {
    if (random.below(16) == 0) chunks.emplace_back();
    std::size_t size = random.below(8) == 0 ? 1 + random.below(256) : 1 + random.below(16);
    size = std::min(size, bytes.size() - at);
    chunks.push_back(bytes.substr(at, size));
    at += size;
  }
  return chunks;
}

inline std::vector<std::string_view> byte_chunks(std::string_view bytes) {
  std::vector<std::string_view> chunks;
  for (std::size_t i = 0; i < bytes.size(); ++i) chunks.push_back(bytes.substr(i, 1));
  return chunks;
}

}  // namespace airlock::fuzz
