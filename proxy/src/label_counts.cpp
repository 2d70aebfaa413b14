// LabelCounts (see label_counts.hpp).
#include "label_counts.hpp"

#include "airlock/proxy/proxy.hpp"

namespace airlock::proxy {

void LabelCounts::add(std::string_view value, std::string_view detail) noexcept {
  try {
    std::lock_guard lock(mutex_);
    auto found = counts_.find(value);
    if (found == counts_.end()) {
      if (value != kOtherLabel && distinct_ < max_values_) {
        ++distinct_;
      } else {
        value = kOtherLabel;
      }
      found = counts_.try_emplace(std::string(value)).first;
    }
    Details& details = found->second;
    auto count = details.find(detail);
    if (count == details.end()) count = details.try_emplace(std::string(detail), 0).first;
    ++count->second;
  } catch (...) {
    // Out of memory for a counter: the exchange itself goes on, uncounted.
  }
}

std::map<std::pair<std::string, std::string>, std::uint64_t> LabelCounts::snapshot() const {
  std::map<std::pair<std::string, std::string>, std::uint64_t> out;
  std::lock_guard lock(mutex_);
  for (const auto& [value, details] : counts_) {
    for (const auto& [detail, count] : details) out.emplace(std::make_pair(value, detail), count);
  }
  return out;
}

}  // namespace airlock::proxy
