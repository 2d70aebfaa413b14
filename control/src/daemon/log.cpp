// Logger output; see log.hpp.
#include "daemon/log.hpp"

#include <chrono>
#include <cstdio>

#include <nlohmann/json.hpp>

#include "airlock/store/store.hpp"

namespace airlock::control {
namespace {

bool is_key(std::string_view key) {
  if (key.empty()) return false;
  for (char c : key) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.')) return false;
  }
  return key != "time" && key != "level" && key != "msg";
}

}  // namespace

std::string format_log_line(LogFormat format, std::string_view time, LogLevel level, std::string_view message) {
  if (format == LogFormat::text) return fmt::format("{} {} {}\n", time, to_string(level), message);
  nlohmann::ordered_json line = {{"time", time}, {"level", to_string(level)}, {"msg", message}};
  for (std::size_t start = 0; start < message.size();) {
    std::size_t end = message.find(' ', start);
    if (end == std::string_view::npos) end = message.size();
    const std::string_view word = message.substr(start, end - start);
    if (const std::size_t equals = word.find('='); equals != std::string_view::npos) {
      const std::string key(word.substr(0, equals));
      if (is_key(key) && !line.contains(key)) line[key] = word.substr(equals + 1);
    }
    start = end + 1;
  }
  return line.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace) + "\n";
}

void Logger::write(LogLevel level, std::string_view message) {
  std::string line = format_log_line(format_, store::format_time(std::chrono::system_clock::now()), level, message);
  std::lock_guard lock(mutex_);
  // Nowhere to report a failed write to stderr.
  (void)std::fwrite(line.data(), 1, line.size(), stderr);
  (void)std::fflush(stderr);
}

}  // namespace airlock::control
