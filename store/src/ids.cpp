// Random ids, placeholders and the store's timestamp format.
#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
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
// time_ordered_id: the first 10 of them are the time, the other 12 carry 70 random bits.
constexpr std::size_t kIdTimeChars = 10;
constexpr std::string_view kAlnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

// Uniform characters of `alphabet` (at most 256 of them): random bytes drawn a block at a time (one
// getrandom call per block, not per character: the egress audit makes an id per exchange), each byte
// used only below the largest multiple of the alphabet's size, so no character is likelier than another.
void append_random(std::string& out, std::string_view alphabet, std::size_t count) {
  require_sodium();
  const unsigned size = static_cast<unsigned>(alphabet.size());
  const unsigned usable = 256 - 256 % size;
  std::array<unsigned char, 64> block{};
  std::size_t used = block.size();
  while (count > 0) {
    if (used == block.size()) {
      randombytes_buf(block.data(), block.size());
      used = 0;
    }
    const unsigned byte = block[used++];
    if (byte >= usable) continue;
    out += alphabet[byte % size];
    --count;
  }
  sodium_memzero(block.data(), block.size());  // no random bytes left behind on the stack
}

}  // namespace

std::string random_id(std::string_view prefix) {
  std::string id{prefix};
  id.reserve(prefix.size() + 2 + kIdRandomChars);
  id += "01";  // the shape of the hosted API's ids ("vlt_011CZk...")
  append_random(id, kBase58, kIdRandomChars);
  return id;
}

std::string time_ordered_id(std::string_view prefix, std::chrono::system_clock::time_point now) {
  std::string id{prefix};
  id.reserve(prefix.size() + 2 + kIdRandomChars);
  id += "01";
  // 10 base58 digits of microseconds since 1970 (they last until the year 15,000), most significant first:
  // kBase58 is in ASCII order, so the ids of later rows sort after earlier ones.
  auto micros = static_cast<std::uint64_t>(
      std::max<std::int64_t>(0, std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch()).count()));
  std::array<char, kIdTimeChars> digits{};
  for (std::size_t i = kIdTimeChars; i-- > 0;) {
    digits[i] = kBase58[micros % kBase58.size()];
    micros /= kBase58.size();
  }
  id.append(digits.data(), digits.size());
  append_random(id, kBase58, kIdRandomChars - kIdTimeChars);
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
