// The web console's files (control/console/), built into the binary: `airlock serve` answers
// GET /console/<name> from these, without reading the disk or the network.
#pragma once

#include <string_view>

namespace airlock::control {

struct ConsoleAsset {
  std::string_view name;          // "index.html", "console.js", ...
  std::string_view content_type;  // by the name's extension
  std::string_view body;
};

// The file of that name ("" is index.html), or nullptr.
const ConsoleAsset* find_console_asset(std::string_view name) noexcept;

}  // namespace airlock::control
