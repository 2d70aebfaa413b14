// HeadScanner: a byte-level check of a message head (start line + header fields) and of a chunked trailer
// section, run over the raw bytes before llhttp sees them.
//
// Why it exists (S6): Debian's llhttp 8.1 still accepts obs-fold continuation lines and a bare LF as the
// final line of a head or trailer section, even in strict mode, and its callbacks never show line endings, so
// neither can be detected from the parsed values. The scanner sees every byte of the head, so it also gives
// an exact size limit: it refuses the byte that takes the section past max_bytes, before any of it is stored.
//
// It does not parse: it only finds line boundaries and the empty line that ends the section, and refuses
//   - a LF without CR before it, and a CR without LF after it;
//   - a field line that starts with SP or HTAB (obs-fold);
//   - SP or HTAB in a field line before its colon (`Host : x`);
//   - a section longer than max_bytes (counting every byte up to and including the final CRLF).
// Empty lines before the start line (allowed by RFC 9112 section 2.2) count toward the limit.
// Everything else (tokens, versions, values, framing headers) is llhttp's job.
#pragma once

#include <cstddef>
#include <string_view>

namespace airlock::http1::detail {

enum class HeadProblem {
  none,
  too_large,           // more than max_bytes before the end of the section
  bare_lf,             // LF not preceded by CR
  bare_cr,             // CR not followed by LF
  obs_fold,            // a field line starting with whitespace
  space_before_colon,  // whitespace between a field name and its colon
};

// A fixed English description of `problem` (no input bytes in it).
std::string_view describe(HeadProblem problem) noexcept;

class HeadScanner {
 public:
  explicit HeadScanner(std::size_t max_bytes) noexcept : max_bytes_(max_bytes) {}

  // Starts a message head: a start line, then field lines, then an empty line.
  void begin_head() noexcept;
  // Starts a trailer section (after the last chunk): field lines, then an empty line.
  void begin_trailers() noexcept;

  struct Result {
    enum class Kind { more, complete, refused } kind = Kind::more;
    // complete: offset just past the final LF; refused: offset of the offending byte; more: bytes.size().
    std::size_t position = 0;
    HeadProblem problem = HeadProblem::none;
  };

  // Scans the next bytes of the section. After `complete` or `refused`, call begin_*() before scanning again.
  Result scan(std::string_view bytes) noexcept;

  // Bytes of the current section scanned so far.
  std::size_t bytes_seen() const noexcept { return seen_; }

 private:
  std::size_t max_bytes_;
  std::size_t seen_ = 0;
  std::size_t line_length_ = 0;  // bytes on the current line, CR excluded
  bool after_cr_ = false;        // the previous byte was CR
  bool on_start_line_ = true;    // head: the current line is the start line (not a field line)
  bool started_ = false;         // head: a byte other than CR/LF has been seen
  bool in_name_ = true;          // field line: no colon seen yet
};

}  // namespace airlock::http1::detail
