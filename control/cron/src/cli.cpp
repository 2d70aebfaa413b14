// `airlock cron next`: prints the next nominal fires of an expression, with exactly the parse, zone and
// evaluation code the scheduler uses (CRON.md "Tooling"). stdout carries only the instants, so scripts
// and tests can compare it line by line; every message goes to stderr.
#include <charconv>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "airlock/cron/cron.hpp"

namespace airlock::cron {
namespace {

constexpr std::string_view kUsage =
    "usage: airlock cron next --expr EXPR --tz ZONE [--from RFC3339] [--count N]\n"
    "  Prints the next N (default 5, at most 10000) nominal fire instants of the cron expression EXPR in\n"
    "  the IANA time zone ZONE, strictly after --from (default: now), one per line in RFC 3339 UTC.\n"
    "  Exit status: 0 on success, 1 for an invalid expression or zone, 2 for a usage error.\n";

constexpr unsigned kMaxCount = 10000;

int usage_error(std::ostream& err, std::string_view message) {
  err << "airlock cron next: " << message << "\n" << kUsage;
  return 2;
}

}  // namespace

int cron_next_command(std::span<const std::string_view> args, std::ostream& out, std::ostream& err,
                      Instant now) {
  std::optional<std::string_view> expr, tz, from_text, count_text;
  for (std::size_t i = 0; i < args.size(); ++i) {
    std::string_view arg = args[i];
    if (arg == "--help" || arg == "-h") {
      out << kUsage;
      return 0;
    }
    std::string_view flag = arg;
    std::optional<std::string_view> value;
    if (std::size_t equals = arg.find('='); arg.starts_with("--") && equals != std::string_view::npos) {
      flag = arg.substr(0, equals);  // --expr=VALUE
      value = arg.substr(equals + 1);
    }
    std::optional<std::string_view>* slot = flag == "--expr"    ? &expr
                                            : flag == "--tz"    ? &tz
                                            : flag == "--from"  ? &from_text
                                            : flag == "--count" ? &count_text
                                                                : nullptr;
    if (!slot) return usage_error(err, fmt::format("unknown argument \"{}\"", arg));
    if (slot->has_value()) return usage_error(err, fmt::format("{} given twice", flag));
    if (!value) {
      if (i + 1 == args.size()) return usage_error(err, fmt::format("{} needs a value", flag));
      value = args[++i];
    }
    *slot = *value;
  }
  if (!expr) return usage_error(err, "--expr is required");
  if (!tz) return usage_error(err, "--tz is required");

  Instant from = now;
  if (from_text) {
    std::optional<Instant> parsed = parse_rfc3339(*from_text);
    if (!parsed) {
      return usage_error(err, fmt::format("--from \"{}\" is not an RFC 3339 timestamp; use e.g. 2027-03-14T00:00:00Z",
                                          *from_text));
    }
    from = *parsed;
  }
  unsigned count = 5;
  if (count_text) {
    const char* first = count_text->data();
    const char* last = first + count_text->size();
    auto [end, ec] = std::from_chars(first, last, count);
    if (ec != std::errc{} || end != last || count < 1 || count > kMaxCount) {
      return usage_error(err, fmt::format("--count \"{}\" must be a whole number from 1 to {}", *count_text, kMaxCount));
    }
  }

  Result<Schedule> schedule = parse(*expr);
  if (!schedule) {
    err << "schedule.expression: " << schedule.error() << "\n";
    return 1;
  }
  Result<Zone> zone = find_zone(*tz);
  if (!zone) {
    err << "schedule.timezone: " << zone.error() << "\n";
    return 1;
  }
  std::vector<date::sys_seconds> fires = next_fires(*schedule, *zone, from, count);
  for (date::sys_seconds fire : fires) out << format_rfc3339(fire) << "\n";
  if (fires.size() < count) {
    err << fmt::format("airlock cron next: only {} of {} fires found: each search looks {} days ahead\n",
                       fires.size(), count, kSearchHorizon.count());
  }
  return 0;
}

}  // namespace airlock::cron
