// HeadScanner: the raw-byte checks on a head or trailer section that llhttp 8.1 does not make (see
// head_scanner.hpp for the list and the reason).
#include "head_scanner.hpp"

namespace airlock::http1::detail {

std::string_view describe(HeadProblem problem) noexcept {
  switch (problem) {
    case HeadProblem::none:
      return "no problem";
    case HeadProblem::too_large:
      return "header section larger than the limit";
    case HeadProblem::bare_lf:
      return "line ending without CR (bare LF)";
    case HeadProblem::bare_cr:
      return "CR not followed by LF";
    case HeadProblem::obs_fold:
      return "obsolete line folding (a header line starting with whitespace)";
    case HeadProblem::space_before_colon:
      return "whitespace between a header name and its colon";
  }
  return "unknown problem";
}

void HeadScanner::begin_head() noexcept {
  seen_ = 0;
  line_length_ = 0;
  after_cr_ = false;
  on_start_line_ = true;
  started_ = false;
  in_name_ = true;
}

void HeadScanner::begin_trailers() noexcept {
  begin_head();
  on_start_line_ = false;
  started_ = true;
}

HeadScanner::Result HeadScanner::scan(std::string_view bytes) noexcept {
  using Kind = Result::Kind;
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    const char c = bytes[i];
    if (seen_ >= max_bytes_) return {Kind::refused, i, HeadProblem::too_large};
    ++seen_;
    if (after_cr_) {
      if (c != '\n') return {Kind::refused, i, HeadProblem::bare_cr};
      after_cr_ = false;
      if (line_length_ == 0) {
        if (started_) return {Kind::complete, i + 1, HeadProblem::none};
        continue;  // an empty line before the start line
      }
      line_length_ = 0;
      on_start_line_ = false;
      in_name_ = true;
      continue;
    }
    if (c == '\r') {
      after_cr_ = true;
      continue;
    }
    if (c == '\n') return {Kind::refused, i, HeadProblem::bare_lf};
    const bool whitespace = c == ' ' || c == '\t';
    if (!on_start_line_) {
      // S6: a folded line would be read as part of the previous value by some parsers and as a new field
      // (or garbage) by others; whitespace before the colon likewise splits parsers on the field's name.
      if (line_length_ == 0 && whitespace) return {Kind::refused, i, HeadProblem::obs_fold};
      if (in_name_) {
        if (c == ':') {
          in_name_ = false;
        } else if (whitespace) {
          return {Kind::refused, i, HeadProblem::space_before_colon};
        }
      }
    }
    started_ = true;
    ++line_length_;
  }
  return {Kind::more, bytes.size(), HeadProblem::none};
}

}  // namespace airlock::http1::detail
