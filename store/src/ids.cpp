// Random ids, placeholders and the store's timestamp format.
#include <chrono>
#include <string>

#include <fmt/format.h>
#include <sodium.h>

#include "airlock/store/store.hpp"
#include "seal.hpp"

namespace airlock::store {

namespace {

// Bitcoin's base58: no 0/O/I/l, so an id read aloud or retyped is not misread.
constexpr std::string_view kBase58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
// 22 base58 characters carry 22 * log2(58) = 128.9 random bits.
constexpr std::size_t kIdRandomChars = 22;
constexpr std::string_view kAlnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

void append_random(std::string& out, std::string_view alphabet, std::size_t count) {
  require_sodium();
  for (std::size_t i = 0; i < count; ++i) {
    // randombytes_uniform has no modulo bias.
    out += alphabet[randombytes_uniform(static_cast<std::uint32_t>(alphabet.size()))];
  }
}

}  // namespace

std::string random_id(std::string_view prefix) {
  std::string id{prefix};
  id.reserve(prefix.size() + 2 + kIdRandomChars);
  id += "01";  // the shape of the hosted API's ids ("vlt_011CZk...")
  append_random(id, kBase58, kIdRandomChars);
  return id;
}

std::string make_placeholder() {
  std::string placeholder{kPlaceholderPrefix};
  placeholder.reserve(kPlaceholderLength);
  append_random(placeholder, kAlnum, kPlaceholderLength - kPlaceholderPrefix.size());  // 40 chars: 238 bits
  return placeholder;
}

std::string format_time(std::chrono::system_clock::time_point t) {
  using namespace std::chrono;
  const auto micros = floor<microseconds>(t);
  const auto day = floor<days>(micros);
  const year_month_day date{day};
  const hh_mm_ss time{micros - day};
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z", static_cast<int>(date.year()),
                     static_cast<unsigned>(date.month()), static_cast<unsigned>(date.day()), time.hours().count(),
                     time.minutes().count(), time.seconds().count(), time.subseconds().count());
}

}  // namespace airlock::store
