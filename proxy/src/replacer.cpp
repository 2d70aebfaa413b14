// StreamReplacer: leftmost-longest multi-needle replacement over a chunked byte stream (contract in
// replacer.hpp).
//
// How: the needles are sorted once. At a position whose byte starts some needle, the range of needles
// sharing the bytes seen so far is narrowed one byte at a time by binary search; needles equal to the
// bytes seen so far sort first in the range, so the last one met is the longest match. When the input
// ends while longer needles are still possible the position is "undecided": feed() holds the bytes from
// there back, and the next feed() re-scans them joined with the head of the next chunk.
//
// Invariant between calls: pending_ holds fewer than max_needle_ bytes and none of them has been written
// to `out`. feed() joins pending_ with at most max_needle_ bytes of the new chunk, so every position inside
// the old pending_ can be decided there (its window is longer than any needle); pending_ therefore fits
// in 2 * max_needle_ bytes, reserved once, so the bytes are never reallocated and left unwiped.
#include "airlock/proxy/replacer.hpp"

#include <algorithm>
#include <cassert>
#include <cstdint>
#include <cstring>
#include <string.h>  // explicit_bzero (glibc)
#include <utility>

namespace airlock::proxy {
namespace {

unsigned char byte_at(std::string_view s, std::size_t i) noexcept { return static_cast<unsigned char>(s[i]); }

}  // namespace

StreamReplacer::StreamReplacer(std::vector<Rule> rules, Hold hold)
    : rules_(std::move(rules)), first_begin_(257, 0), hold_(hold), matched_(rules_.size(), false) {
  for (std::size_t i = 0; i < rules_.size(); ++i) {
    if (rules_[i].needle.empty()) continue;  // never matches
    entries_.push_back({rules_[i].needle, i});
    max_needle_ = std::max(max_needle_, rules_[i].needle.size());
  }
  // Byte order is unsigned (char_traits<char> compares as unsigned char); equal needles keep rule order.
  std::sort(entries_.begin(), entries_.end(), [](const Entry& a, const Entry& b) {
    const int c = a.needle.compare(b.needle);
    return c != 0 ? c < 0 : a.rule < b.rule;
  });
  for (const Entry& e : entries_) ++first_begin_[byte_at(e.needle, 0) + 1];
  for (std::size_t b = 1; b < first_begin_.size(); ++b) first_begin_[b] += first_begin_[b - 1];
  // Two-byte filter: pair (b0, b1) can start a match only if some needle starts with it, or a one-byte
  // needle is b0. Most candidate positions in ordinary text fail here without touching entries_.
  pairs_.assign(65536 / 64, 0);
  const auto set_pair = [this](unsigned pair) { pairs_[pair / 64] |= std::uint64_t{1} << (pair % 64); };
  for (const Entry& e : entries_) {
    const unsigned b0 = byte_at(e.needle, 0);
    if (e.needle.size() == 1) {
      for (unsigned b1 = 0; b1 < 256; ++b1) set_pair(b0 << 8 | b1);
    } else {
      set_pair(b0 << 8 | byte_at(e.needle, 1));
    }
  }
  if (!entries_.empty() && byte_at(entries_.front().needle, 0) == byte_at(entries_.back().needle, 0)) {
    single_first_ = byte_at(entries_.front().needle, 0);
  }
  pending_.reserve(2 * max_needle_);
}

StreamReplacer::~StreamReplacer() { wipe_pending(); }

// A moved vector hands over its buffer, so no held-back byte is left behind in `other`.
StreamReplacer::StreamReplacer(StreamReplacer&&) noexcept = default;

StreamReplacer& StreamReplacer::operator=(StreamReplacer&& other) noexcept {
  if (this != &other) {
    wipe_pending();  // our buffer is freed by the move below
    rules_ = std::move(other.rules_);
    entries_ = std::move(other.entries_);
    first_begin_ = std::move(other.first_begin_);
    pairs_ = std::move(other.pairs_);
    single_first_ = other.single_first_;
    max_needle_ = other.max_needle_;
    hold_ = other.hold_;
    pending_ = std::move(other.pending_);
    matched_ = std::move(other.matched_);
    replacements_ = other.replacements_;
  }
  return *this;
}

void StreamReplacer::wipe_pending() noexcept {
  if (!pending_.empty()) explicit_bzero(pending_.data(), pending_.size());
  pending_.clear();
}

// Keeps pending_[pos..] as the new held-back tail, wiping the bytes it no longer holds.
void StreamReplacer::keep_pending_from(std::size_t pos) {
  const std::size_t n = pending_.size();
  const std::size_t keep = n - pos;
  std::memmove(pending_.data(), pending_.data() + pos, keep);
  explicit_bzero(pending_.data() + keep, n - keep);
  pending_.resize(keep);
}

// Finds the longest needle starting at buf[pos]. `undecided` when buf ends before that can be known and
// more input may follow (!at_end).
StreamReplacer::Walk StreamReplacer::longest_at(std::string_view buf, std::size_t pos, bool at_end,
                                                std::size_t& entry) const noexcept {
  const unsigned char first = byte_at(buf, pos);
  auto lo = entries_.begin() + first_begin_[first];
  auto hi = entries_.begin() + first_begin_[first + 1];
  bool found = false;
  for (std::size_t depth = 1; lo != hi; ++depth) {
    // Every entry in [lo, hi) starts with buf[pos, pos + depth); the ones equal to it sort first.
    if (lo->needle.size() == depth) {
      entry = static_cast<std::size_t>(lo - entries_.begin());  // lowest rule among equal needles
      found = true;
      while (lo != hi && lo->needle.size() == depth) ++lo;
      if (lo == hi) break;
    }
    if (pos + depth == buf.size()) {
      if (at_end) break;
      return Walk::undecided;  // a longer needle may still complete in the next chunk
    }
    const unsigned char next = byte_at(buf, pos + depth);
    lo = std::partition_point(lo, hi, [&](const Entry& e) { return byte_at(e.needle, depth) < next; });
    hi = std::partition_point(lo, hi, [&](const Entry& e) { return byte_at(e.needle, depth) == next; });
  }
  return found ? Walk::match : Walk::none;
}

// Rewrites the positions [pos, limit) of buf into `out` (a match starting before `limit` may end after
// it). Returns where it stopped: >= limit when every position was decided, else the first undecided one,
// whose bytes have not been written.
std::size_t StreamReplacer::scan(std::string_view buf, std::size_t pos, std::size_t limit, bool at_end,
                                 std::string& out) {
  std::size_t run = pos;  // start of the bytes copied through unchanged
  std::size_t p = pos;
  while (p < limit) {
    if (single_first_ >= 0) {
      const void* hit = std::memchr(buf.data() + p, single_first_, limit - p);
      if (hit == nullptr) {
        p = limit;
        break;
      }
      p = static_cast<std::size_t>(static_cast<const char*>(hit) - buf.data());
    } else {
      while (p < limit && first_begin_[byte_at(buf, p)] == first_begin_[byte_at(buf, p) + 1u]) ++p;
      if (p == limit) break;
    }
    if (p + 1 < buf.size()) {
      const unsigned pair = static_cast<unsigned>(byte_at(buf, p)) << 8 | byte_at(buf, p + 1);
      if ((pairs_[pair / 64] >> (pair % 64) & 1) == 0) {
        ++p;
        continue;
      }
    }
    std::size_t entry = 0;
    switch (longest_at(buf, p, at_end, entry)) {
      case Walk::none:
        ++p;
        break;
      case Walk::undecided:
        out.append(buf.data() + run, p - run);
        return p;
      case Walk::match: {
        const Entry& e = entries_[entry];
        out.append(buf.data() + run, p - run);
        out.append(rules_[e.rule].replacement);
        matched_[e.rule] = true;
        ++replacements_;
        p += e.needle.size();
        run = p;
        break;
      }
    }
  }
  out.append(buf.data() + run, p - run);
  return p;
}

void StreamReplacer::feed(std::string_view chunk, std::string& out) {
  if (entries_.empty()) {
    out.append(chunk);
    return;
  }
  // Positions before `decide_end` (counted over pending_ + chunk) are decided now; with Hold::fixed that
  // is all but the last max_needle_ - 1 bytes, so a needle starting there always ends inside the input
  // and scan() never stops undecided.
  const std::size_t old = pending_.size();
  const std::size_t total = old + chunk.size();
  const std::size_t hold_back = max_needle_ - 1;
  const std::size_t decide_end = hold_ == Hold::fixed ? (total > hold_back ? total - hold_back : 0) : total;
  std::size_t from = 0;  // where scanning of `chunk` itself starts
  if (old > 0) {
    const std::size_t joined = std::min(chunk.size(), max_needle_);
    pending_.insert(pending_.end(), chunk.begin(), chunk.begin() + static_cast<std::ptrdiff_t>(joined));
    const std::size_t stop = scan({pending_.data(), pending_.size()}, 0, std::min(old, decide_end), false, out);
    if (stop < old) {
      // Undecided (or held back) inside the old tail: only possible when the whole chunk fitted into the join.
      assert(joined == chunk.size());
      keep_pending_from(stop);
      return;
    }
    from = stop - old;  // a match may have run into the chunk
    wipe_pending();
  }
  const std::size_t limit = decide_end > old ? decide_end - old : 0;
  const std::size_t stop = from >= limit ? from : scan(chunk, from, limit, false, out);
  if (stop < chunk.size()) {
    pending_.assign(chunk.begin() + static_cast<std::ptrdiff_t>(stop), chunk.end());
  }
}

void StreamReplacer::flush(std::string& out) {
  if (pending_.empty()) return;
  scan({pending_.data(), pending_.size()}, 0, pending_.size(), true, out);
  wipe_pending();
}

void StreamReplacer::replace_all(std::string_view input, std::string& out) {
  if (entries_.empty()) {
    out.append(input);
    return;
  }
  scan(input, 0, input.size(), true, out);
}

std::string replace_all(std::string_view input, std::span<const StreamReplacer::Rule> rules,
                        std::vector<bool>* matched) {
  StreamReplacer replacer(std::vector<StreamReplacer::Rule>(rules.begin(), rules.end()));
  std::string out;
  out.reserve(input.size());
  replacer.replace_all(input, out);
  if (matched != nullptr) *matched = replacer.matched();
  return out;
}

}  // namespace airlock::proxy
