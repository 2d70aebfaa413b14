// Exposition: writes metrics in the Prometheus text exposition format, version 0.0.4
// (https://prometheus.io/docs/instrumenting/exposition_formats/). Pure: values in, text out.
//
// Each metric family is announced once with family() (its # HELP and # TYPE lines), then its samples
// follow. Label values are escaped (backslash, double quote, line feed); names are the caller's
// constants. Counters are named with their _total suffix by the caller.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "airlock/proxy/histogram.hpp"

namespace airlock::control {

using Labels = std::vector<std::pair<std::string_view, std::string_view>>;

class Exposition {
 public:
  enum class Type { counter, gauge, histogram };

  void family(std::string_view name, Type type, std::string_view help);
  void sample(std::string_view name, const Labels& labels, double value);
  void sample(std::string_view name, const Labels& labels, std::uint64_t value);
  void sample(std::string_view name, std::uint64_t value) { sample(name, {}, value); }
  // NAME_bucket{...,le="..."} (cumulative, +Inf last), NAME_sum, NAME_count.
  void histogram(std::string_view name, const Labels& labels, const proxy::HistogramSnapshot& histogram);

  const std::string& text() const noexcept { return text_; }

 private:
  void write_name_and_labels(std::string_view name, const Labels& labels, std::string_view le = {});
  std::string text_;
};

}  // namespace airlock::control
