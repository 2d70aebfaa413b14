// The proxy's log lines into the control plane's Logger (serve and the sidecar): the same levels, one
// line each.
#pragma once

#include <functional>
#include <string_view>

#include "airlock/proxy/proxy.hpp"
#include "daemon/log.hpp"

namespace airlock::control {

// `log` must outlive the proxy that calls the returned function.
inline std::function<void(proxy::LogLevel, std::string_view)> proxy_log(Logger& log) {
  return [&log](proxy::LogLevel level, std::string_view line) {
    static constexpr LogLevel kLevels[] = {LogLevel::debug, LogLevel::info, LogLevel::warn, LogLevel::error};
    log.log(kLevels[static_cast<int>(level)], "{}", line);
  };
}

// The proxy's level for ours (the enums list the same levels in the same order).
inline proxy::LogLevel proxy_log_level(LogLevel level) { return static_cast<proxy::LogLevel>(static_cast<int>(level)); }

}  // namespace airlock::control
