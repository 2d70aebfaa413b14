// Reading the case tables in control/cron/testdata/ (used by the unit tests only).
//
// A table is a text file: blank lines and lines starting with '#' are ignored; every other line is one
// row of columns separated by " | ". A column written in double quotes keeps its blanks exactly and
// understands \t, \" and \\ (so an expression with leading blanks or tabs can be written down).
//
// The folder is found by testing::source_path (tests/support), so the test binary also runs by hand.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "airlock/testing/source_path.hpp"

namespace airlock::cron::testing {

struct Row {
  int line = 0;                      // 1-based line number in the file, for failure messages
  std::vector<std::string> columns;  // unquoted, trimmed
};

inline std::filesystem::path testdata_dir() { return airlock::testing::source_path("control/cron/testdata"); }

inline std::string unquote(std::string_view text) {
  std::size_t begin = text.find_first_not_of(" \t");
  std::size_t end = text.find_last_not_of(" \t");
  if (begin == std::string_view::npos) return {};
  text = text.substr(begin, end - begin + 1);
  if (text.size() < 2 || text.front() != '"' || text.back() != '"') return std::string(text);
  std::string out;
  for (std::size_t i = 1; i + 1 < text.size(); ++i) {
    if (text[i] == '\\' && i + 2 < text.size()) {
      char next = text[++i];
      out += next == 't' ? '\t' : next;
    } else {
      out += text[i];
    }
  }
  return out;
}

// Splits on " | ", except inside a quoted column.
inline std::vector<std::string> split_row(std::string_view line) {
  std::vector<std::string> columns;
  std::size_t start = 0;
  bool quoted = false;
  for (std::size_t i = 0; i < line.size(); ++i) {
    if (line[i] == '\\' && quoted) {
      ++i;
    } else if (line[i] == '"') {
      quoted = !quoted;
    } else if (!quoted && line.compare(i, 3, " | ") == 0) {
      columns.push_back(unquote(line.substr(start, i - start)));
      start = i + 3;
      i += 2;
    }
  }
  columns.push_back(unquote(line.substr(start)));
  return columns;
}

// All rows of testdata/<name>; throws if the file is missing or a row has the wrong number of columns,
// so a broken table fails the test instead of passing with no rows.
inline std::vector<Row> read_table(const std::string& name, std::size_t columns) {
  std::filesystem::path path = testdata_dir() / name;
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read " + path.string());
  std::vector<Row> rows;
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    std::string_view view(line);
    std::size_t first = view.find_first_not_of(" \t");
    if (first == std::string_view::npos || view[first] == '#') continue;
    Row row{number, split_row(view)};
    if (row.columns.size() != columns) {
      throw std::runtime_error(path.string() + ":" + std::to_string(number) + ": expected " +
                               std::to_string(columns) + " columns");
    }
    rows.push_back(std::move(row));
  }
  if (rows.empty()) throw std::runtime_error(path.string() + " has no rows");
  return rows;
}

// Splits on blanks.
inline std::vector<std::string> words(std::string_view text) {
  std::vector<std::string> out;
  std::size_t pos = 0;
  while (true) {
    std::size_t begin = text.find_first_not_of(" \t", pos);
    if (begin == std::string_view::npos) break;
    std::size_t end = text.find_first_of(" \t", begin);
    out.emplace_back(text.substr(begin, end == std::string_view::npos ? std::string_view::npos : end - begin));
    if (end == std::string_view::npos) break;
    pos = end;
  }
  return out;
}

}  // namespace airlock::cron::testing
