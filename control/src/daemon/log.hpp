// Logger: one line per event on stderr. Callers never pass a header value, a body byte, a query string
// or a secret (S8); the request log names method, path, status, duration and request id only.
//
// Formats (log.format, --log-format):
//   text  "TIME LEVEL message key=value..." (the default)
//   json  {"time":"...","level":"info","msg":"message key=value...","key":"value",...}: the whole message,
//         and each key=value word of it as a field of its own (the first of a repeated key; never one named
//         time, level or msg). Bytes that are not UTF-8 become U+FFFD.
#pragma once

#include <string>

#include <mutex>
#include <string_view>

#include <fmt/format.h>

#include "daemon/config.hpp"

namespace airlock::control {

// One log line, as written (with its line feed); pure, for tests.
std::string format_log_line(LogFormat format, std::string_view time, LogLevel level, std::string_view message);

class Logger {
 public:
  explicit Logger(LogLevel level, LogFormat format = LogFormat::text) : level_(level), format_(format) {}

  bool enabled(LogLevel level) const noexcept { return level >= level_; }

  template <class... Args>
  void log(LogLevel level, fmt::format_string<Args...> format, Args&&... args) {
    if (enabled(level)) write(level, fmt::format(format, std::forward<Args>(args)...));
  }
  template <class... Args>
  void debug(fmt::format_string<Args...> format, Args&&... args) { log(LogLevel::debug, format, std::forward<Args>(args)...); }
  template <class... Args>
  void info(fmt::format_string<Args...> format, Args&&... args) { log(LogLevel::info, format, std::forward<Args>(args)...); }
  template <class... Args>
  void warn(fmt::format_string<Args...> format, Args&&... args) { log(LogLevel::warn, format, std::forward<Args>(args)...); }
  template <class... Args>
  void error(fmt::format_string<Args...> format, Args&&... args) { log(LogLevel::error, format, std::forward<Args>(args)...); }

 private:
  void write(LogLevel level, std::string_view message);

  LogLevel level_;
  LogFormat format_;
  std::mutex mutex_;  // lines from several threads must not interleave
};

}  // namespace airlock::control
