// The Prometheus text format writer; see exposition.hpp.
#include "metrics/exposition.hpp"

#include <cmath>

#include <fmt/format.h>

namespace airlock::control {
namespace {

std::string_view type_word(Exposition::Type type) {
  switch (type) {
    case Exposition::Type::counter: return "counter";
    case Exposition::Type::gauge: return "gauge";
    case Exposition::Type::histogram: return "histogram";
  }
  return "untyped";
}

// Go's strconv 'g' formatting as Prometheus clients print it: the shortest text that reads back the same.
std::string number(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  return fmt::format("{}", value);
}

}  // namespace

void Exposition::family(std::string_view name, Type type, std::string_view help) {
  // HELP text escapes backslash and line feed only.
  std::string escaped;
  for (char c : help) {
    if (c == '\\') {
      escaped += "\\\\";
    } else if (c == '\n') {
      escaped += "\\n";
    } else {
      escaped += c;
    }
  }
  text_ += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, escaped, name, type_word(type));
}

void Exposition::write_name_and_labels(std::string_view name, const Labels& labels, std::string_view le) {
  text_ += name;
  if (labels.empty() && le.empty()) return;
  text_ += '{';
  bool first = true;
  auto write = [&](std::string_view label, std::string_view value) {
    if (!first) text_ += ',';
    first = false;
    text_ += label;
    text_ += "=\"";
    for (char c : value) {
      if (c == '\\') {
        text_ += "\\\\";
      } else if (c == '"') {
        text_ += "\\\"";
      } else if (c == '\n') {
        text_ += "\\n";
      } else {
        text_ += c;
      }
    }
    text_ += '"';
  };
  for (const auto& [label, value] : labels) write(label, value);
  if (!le.empty()) write("le", le);
  text_ += '}';
}

void Exposition::sample(std::string_view name, const Labels& labels, double value) {
  write_name_and_labels(name, labels);
  text_ += ' ';
  text_ += number(value);
  text_ += '\n';
}

void Exposition::sample(std::string_view name, const Labels& labels, std::uint64_t value) {
  write_name_and_labels(name, labels);
  text_ += fmt::format(" {}\n", value);
}

void Exposition::histogram(std::string_view name, const Labels& labels, const proxy::HistogramSnapshot& histogram) {
  const std::string bucket = fmt::format("{}_bucket", name);
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < histogram.counts.size(); ++i) {
    cumulative += histogram.counts[i];
    const std::string le = i < histogram.upper_bounds.size() ? number(histogram.upper_bounds[i]) : "+Inf";
    write_name_and_labels(bucket, labels, le);
    text_ += fmt::format(" {}\n", cumulative);
  }
  sample(fmt::format("{}_sum", name), labels, histogram.sum_seconds);
  sample(fmt::format("{}_count", name), labels, histogram.count);
}

}  // namespace airlock::control
