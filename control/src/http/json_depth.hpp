// How deeply a JSON text nests, checked before it is parsed. nlohmann::json parses deep nesting fine but
// writes it back (dump) recursively, one stack frame per level: a request body or a harness line of a few
// hundred thousand brackets would overflow the stack of the thread that stores it. Texts from clients and
// from sandboxes are refused past a depth no real document needs.
#pragma once

#include <cstddef>
#include <string_view>

namespace airlock::control {

inline constexpr std::size_t kJsonDepthMax = 64;

// True when no object or array in `text` (taken as JSON; strings and escapes skipped) nests deeper than
// `max_depth`. Malformed text is not judged here: the parser refuses it.
constexpr bool json_depth_within(std::string_view text, std::size_t max_depth = kJsonDepthMax) noexcept {
  std::size_t depth = 0;
  bool in_string = false;
  bool escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      if (++depth > max_depth) return false;
    } else if ((c == '}' || c == ']') && depth > 0) {
      --depth;
    }
  }
  return true;
}

}  // namespace airlock::control
