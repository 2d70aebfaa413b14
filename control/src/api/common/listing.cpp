// Pagination and list filters; see listing.hpp.
#include "api/common/listing.hpp"

#include <charconv>

#include <fmt/format.h>
#include <sodium.h>

#include "airlock/cron/cron.hpp"

namespace airlock::control {
namespace {

constexpr char kCursorSeparator = '\n';

std::optional<store::Cursor> decode_cursor(std::string_view text) {
  std::string bytes(text.size(), '\0');
  std::size_t length = 0;
  if (sodium_base642bin(reinterpret_cast<unsigned char*>(bytes.data()), bytes.size(), text.data(), text.size(),
                        nullptr, &length, nullptr, sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0) {
    return std::nullopt;
  }
  bytes.resize(length);
  std::size_t split = bytes.find(kCursorSeparator);
  if (split == std::string::npos) return std::nullopt;
  return store::Cursor{bytes.substr(0, split), bytes.substr(split + 1)};
}

std::optional<std::string> time_bound(const ApiRequest& request, const std::string& key) {
  std::optional<std::string> value = request.query_value(key);
  if (!value) return std::nullopt;
  auto instant = cron::parse_rfc3339(*value);
  if (!instant) {
    bad_request(fmt::format("{}: \"{}\" is not an RFC 3339 timestamp; use e.g. 2026-01-01T00:00:00Z", key, *value));
  }
  return store::format_time(std::chrono::time_point_cast<std::chrono::system_clock::duration>(*instant));
}

}  // namespace

std::string encode_cursor(const store::Cursor& cursor) {
  std::string bytes = cursor.created_at + kCursorSeparator + cursor.id;
  std::string out(sodium_base64_ENCODED_LEN(bytes.size(), sodium_base64_VARIANT_URLSAFE_NO_PADDING), '\0');
  sodium_bin2base64(out.data(), out.size(), reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(),
                    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  out.resize(out.find('\0'));
  return out;
}

bool query_bool(const ApiRequest& request, std::string_view key, bool fallback) {
  std::optional<std::string> value = request.query_value(key);
  if (!value) return fallback;
  if (*value == "true") return true;
  if (*value == "false") return false;
  bad_request(fmt::format("{}: expected true or false, got \"{}\"", key, *value));
}

store::ListQuery list_query(const ApiRequest& request, ListLimits limits) {
  store::ListQuery query;
  query.limit = limits.default_limit;
  if (std::optional<std::string> text = request.query_value("limit")) {
    std::size_t limit = 0;
    auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), limit);
    if (ec != std::errc{} || end != text->data() + text->size() || limit < 1 || limit > limits.max_limit) {
      bad_request(fmt::format("limit: must be an integer from 1 to {}, got \"{}\"", limits.max_limit, *text));
    }
    query.limit = limit;
  }
  if (std::optional<std::string> page = request.query_value("page")) {
    query.after = decode_cursor(*page);
    if (!query.after) bad_request("page: not a cursor this server issued; pass next_page from a previous list response");
  }
  query.include_archived = query_bool(request, "include_archived", false);
  query.created_gt = time_bound(request, "created_at[gt]");
  query.created_gte = time_bound(request, "created_at[gte]");
  query.created_lt = time_bound(request, "created_at[lt]");
  query.created_lte = time_bound(request, "created_at[lte]");
  return query;
}

}  // namespace airlock::control
