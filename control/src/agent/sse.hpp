// Server-sent events as the Messages API streams them: bytes in, (event, data) pairs out. A pure core,
// so framing is tested without a socket.
//
// Lines end with LF (a CR before it is dropped); "event:" names the event, "data:" lines are joined with
// LF, a line starting with ":" is a comment, and a blank line dispatches the event when it has data. One
// line may not exceed the limit: upstream bytes are hostile, memory stays bounded.
#pragma once

#include <cstddef>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace airlock::control::agent {

struct SseEvent {
  std::string event;  // "message" when the frame named none
  std::string data;
};

class SseTooLarge : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class SseParser {
 public:
  explicit SseParser(std::size_t max_line = 16 << 20) : max_line_(max_line) {}
  // Appends every event completed by `bytes` to `out`. Throws SseTooLarge past the line limit.
  void feed(std::string_view bytes, std::vector<SseEvent>& out);

 private:
  void line(std::string_view text, std::vector<SseEvent>& out);

  std::size_t max_line_;
  std::string partial_;
  SseEvent current_;
  bool has_data_ = false;
};

}  // namespace airlock::control::agent
