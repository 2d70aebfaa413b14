// SseParser (see sse.hpp).
#include "agent/sse.hpp"

namespace airlock::control::agent {

void SseParser::feed(std::string_view bytes, std::vector<SseEvent>& out) {
  while (!bytes.empty()) {
    const std::size_t newline = bytes.find('\n');
    const std::string_view piece = bytes.substr(0, newline);
    if (partial_.size() + piece.size() > max_line_) throw SseTooLarge("an event stream line is longer than the limit");
    partial_.append(piece);
    if (newline == std::string_view::npos) return;
    if (!partial_.empty() && partial_.back() == '\r') partial_.pop_back();
    line(partial_, out);
    partial_.clear();
    bytes.remove_prefix(newline + 1);
  }
}

void SseParser::line(std::string_view text, std::vector<SseEvent>& out) {
  if (text.empty()) {
    if (has_data_) {
      if (current_.event.empty()) current_.event = "message";
      out.push_back(std::move(current_));
    }
    current_ = {};
    has_data_ = false;
    return;
  }
  if (text.front() == ':') return;
  const std::size_t colon = text.find(':');
  const std::string_view field = text.substr(0, colon);
  std::string_view value = colon == std::string_view::npos ? std::string_view() : text.substr(colon + 1);
  if (value.starts_with(' ')) value.remove_prefix(1);
  if (field == "event") {
    current_.event = std::string(value);
  } else if (field == "data") {
    if (has_data_) current_.data.push_back('\n');
    current_.data.append(value);
    if (current_.data.size() > max_line_) throw SseTooLarge("an event stream event is larger than the limit");
    has_data_ = true;
  }
}

}  // namespace airlock::control::agent
