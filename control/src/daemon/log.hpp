// Logger: one line per event on stderr, "TIME LEVEL message key=value...". Callers never pass a header
// value, a body byte, a query string or a secret (S8); the request log names method, path, status,
// duration and request id only.
#pragma once

#include <mutex>
#include <string_view>

#include <fmt/format.h>

#include "daemon/config.hpp"

namespace airlock::control {

class Logger {
 public:
  explicit Logger(LogLevel level) : level_(level) {}

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
  std::mutex mutex_;  // lines from several threads must not interleave
};

}  // namespace airlock::control
