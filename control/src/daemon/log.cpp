// Logger output; see log.hpp.
#include "daemon/log.hpp"

#include <chrono>
#include <cstdio>

#include "airlock/store/store.hpp"

namespace airlock::control {

void Logger::write(LogLevel level, std::string_view message) {
  std::string line = fmt::format("{} {} {}\n", store::format_time(std::chrono::system_clock::now()), to_string(level), message);
  std::lock_guard lock(mutex_);
  // Nowhere to report a failed write to stderr.
  (void)std::fwrite(line.data(), 1, line.size(), stderr);
  (void)std::fflush(stderr);
}

}  // namespace airlock::control
