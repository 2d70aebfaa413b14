// Zone validation and offsets (CRON.md "Time zone").
//
// Valid names are exactly the Z (zone) and L (link) lines of /usr/share/zoneinfo/tzdata.zi, less Factory.
// date::locate_zone alone would not do: in OS mode it accepts any file under /usr/share/zoneinfo,
// including Debian's "localtime" symlink, "posixrules", and the "right/" and "posix/" trees.
//
// Offsets come from date/tz up to the zone file's last explicit transition and from the file's footer
// rule (PosixTz) after it; both agree at the hand-over instant by RFC 8536's rules, and in practice the
// next footer change is months later, so the stretches chain cleanly.
#include <algorithm>
#include <cctype>
#include <exception>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "airlock/cron/cron.hpp"
#include "posix_tz.hpp"

namespace airlock::cron {
namespace {

constexpr std::string_view kZoneinfoDir = "/usr/share/zoneinfo/";

// The sorted zone and link names of tzdata.zi; empty if the file cannot be read (then every name is
// unknown, which fails closed).
std::vector<std::string> read_zone_names() {
  std::vector<std::string> names;
  std::ifstream in(std::string(kZoneinfoDir) + "tzdata.zi");
  std::string line;
  while (std::getline(in, line)) {
    // "Z America/New_York -4:56:2 - LMT 1883 N 18 17u" and "L America/New_York US/Eastern".
    std::string_view rest(line);
    auto next_word = [&rest]() {
      std::size_t start = rest.find_first_not_of(" \t");
      if (start == std::string_view::npos) return std::string_view{};
      std::size_t end = rest.find_first_of(" \t", start);
      std::string_view word = rest.substr(start, end == std::string_view::npos ? rest.npos : end - start);
      rest = end == std::string_view::npos ? std::string_view{} : rest.substr(end);
      return word;
    };
    std::string_view kind = next_word();
    std::string_view name;
    if (kind == "Z") {
      name = next_word();
    } else if (kind == "L") {
      next_word();  // the target
      name = next_word();
    }
    if (!name.empty() && name != "Factory") names.emplace_back(name);
  }
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  return names;
}

const std::vector<std::string>& zone_names() {
  static const std::vector<std::string> names = read_zone_names();  // read once; immutable afterwards
  return names;
}

bool equal_ignoring_case(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

std::string unknown_zone(std::string_view name) {
  std::string message = fmt::format("unknown time zone \"{}\"", name);
  for (const std::string& known : zone_names()) {
    if (equal_ignoring_case(known, name)) {
      message += fmt::format("; did you mean \"{}\"?", known);
      break;
    }
  }
  return message;
}

// The footer of a TZif version 2+ file: the text between the last two newlines (RFC 8536 section 3.3).
std::string read_footer(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (bytes.size() < 6 || bytes.compare(0, 4, "TZif") != 0 || bytes[4] < '2' || bytes.back() != '\n') return {};
  std::size_t start = bytes.rfind('\n', bytes.size() - 2);
  if (start == std::string::npos) return {};
  return bytes.substr(start + 1, bytes.size() - start - 2);
}

}  // namespace

Result<Zone> find_zone(std::string_view name) {
  const std::vector<std::string>& names = zone_names();
  auto found = std::lower_bound(names.begin(), names.end(), name);
  if (found == names.end() || *found != name) return Result<Zone>::failure(unknown_zone(name));

  const date::time_zone* tz = nullptr;
  try {
    tz = date::locate_zone(name);
  } catch (const std::exception&) {  // listed in tzdata.zi but without a TZif file
    return Result<Zone>::failure(unknown_zone(name));
  }

  // The name is one of tzdata.zi's, so the path cannot leave the zoneinfo directory.
  std::shared_ptr<const detail::PosixTz> tail;
  date::sys_seconds tail_from{};
  if (std::optional<detail::PosixTz> rule = detail::PosixTz::parse(read_footer(std::string(kZoneinfoDir) + *found));
      rule && rule->has_dst()) {
    // date/tz reports the stretch after the last explicit transition as lasting forever; the footer
    // takes over from its beginning.
    date::sys_info last = tz->get_info(date::sys_days{date::year{9999} / date::January / 1});
    tail_from = last.begin;
    tail = std::make_shared<const detail::PosixTz>(std::move(*rule));
  }
  return Zone(*found, tz, std::move(tail), tail_from);
}

date::sys_info Zone::info(date::sys_seconds t) const {
  if (tail_ && t >= tail_from_) {
    date::sys_info result = tail_->info(t);
    result.begin = std::max(result.begin, tail_from_);
    return result;
  }
  return tz_->get_info(t);
}

}  // namespace airlock::cron
