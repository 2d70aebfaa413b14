// Who a local sandbox is on the host; see sandbox_identity.hpp.
#include "runtime/sandbox_identity.hpp"

#include <grp.h>
#include <pwd.h>

#include <charconv>
#include <fstream>
#include <iterator>

#include <fmt/format.h>

namespace airlock::control {

std::optional<std::uint32_t> sandbox_uid_base_for(uid_t airlock_euid, std::uint32_t configured_base) {
  if (airlock_euid != 0) return std::nullopt;
  return configured_base;
}

RunAs sandbox_identity(std::uint32_t uid_base, int slot) {
  const auto id = static_cast<uid_t>(uid_base + 1 + static_cast<std::uint32_t>(slot));
  return RunAs{id, static_cast<gid_t>(id), {sandbox_group(uid_base)}};
}

std::vector<std::string> overlapping_subordinate_ranges(std::string_view file_text, std::uint32_t first,
                                                        std::uint32_t last) {
  std::vector<std::string> found;
  while (!file_text.empty()) {
    const std::size_t end = file_text.find('\n');
    std::string_view line = file_text.substr(0, end);
    file_text.remove_prefix(end == std::string_view::npos ? file_text.size() : end + 1);
    const std::size_t first_colon = line.find(':');
    const std::size_t second_colon = first_colon == std::string_view::npos ? first_colon : line.find(':', first_colon + 1);
    if (second_colon == std::string_view::npos) continue;  // a comment or a malformed line: not a range
    std::uint64_t start = 0;
    std::uint64_t count = 0;
    const std::string_view start_text = line.substr(first_colon + 1, second_colon - first_colon - 1);
    const std::string_view count_text = line.substr(second_colon + 1);
    if (std::from_chars(start_text.data(), start_text.data() + start_text.size(), start).ec != std::errc{} ||
        std::from_chars(count_text.data(), count_text.data() + count_text.size(), count).ec != std::errc{} || count == 0) {
      continue;
    }
    if (start <= last && start + count - 1 >= first) found.emplace_back(line);
  }
  return found;
}

std::vector<std::string> sandbox_id_conflicts(std::uint32_t first, std::uint32_t last) {
  std::vector<std::string> conflicts;
  // NOLINTBEGIN(concurrency-mt-unsafe): at startup, before any other thread, the non-reentrant lookups are fine.
  for (std::uint64_t id = first; id <= last; ++id) {
    if (const passwd* user = ::getpwuid(static_cast<uid_t>(id))) conflicts.push_back(fmt::format("uid {} is user {}", id, user->pw_name));
    if (const group* entry = ::getgrgid(static_cast<gid_t>(id))) conflicts.push_back(fmt::format("gid {} is group {}", id, entry->gr_name));
  }
  // NOLINTEND(concurrency-mt-unsafe)
  for (const char* file : {"/etc/subuid", "/etc/subgid"}) {
    std::ifstream in(file);
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    for (const std::string& line : overlapping_subordinate_ranges(text, first, last)) {
      conflicts.push_back(fmt::format("{} grants {}", file, line));
    }
  }
  return conflicts;
}

}  // namespace airlock::control
