// The admin CLI's tables and cells: exact text, alignment by code points, control characters neutralised.
#include "cli/table.hpp"

#include <doctest/doctest.h>

namespace airlock::control::cli {

using json = nlohmann::json;

TEST_CASE("cli table: columns padded to the widest cell, two spaces apart, no trailing spaces") {
  CHECK(render_table({"ID", "NAME", "ARCHIVED"}, {{"vlt_1", "metrics", "-"}, {"vlt_22", "é", "2026-12-06T10:00:00Z"}}) ==
        "ID      NAME     ARCHIVED\n"
        "vlt_1   metrics  -\n"
        "vlt_22  é        2026-12-06T10:00:00Z\n");
  CHECK(render_table({"A", "B"}, {}) == "A  B\n");
  CHECK(render_table({"A", "B"}, {{"x"}}) == "A  B\nx\n");  // a short row
}

TEST_CASE("cli table: a control character in a cell cannot move the cursor or fake a line") {
  CHECK(render_table({"NAME"}, {{"a\nb\x1b[2Jc\x7f"}}) == "NAME\na?b?[2Jc?\n");
}

TEST_CASE("cli cell: strings as they are, null as -, scalars as JSON, scalar arrays joined, the rest compact") {
  CHECK(cell(json("text")) == "text");
  CHECK(cell(json(nullptr)) == "-");
  CHECK(cell(json(3)) == "3");
  CHECK(cell(json(true)) == "true");
  CHECK(cell(json::array({"a.example.com", "b.example.com"})) == "a.example.com,b.example.com");
  CHECK(cell(json::array()) == "-");
  CHECK(cell(json{{"k", 1}}) == R"({"k":1})");
  CHECK(cell(json::array({json{{"k", 1}}})) == R"([{"k":1}])");
}

TEST_CASE("cli at_pointer: objects and array indexes, anything missing is null") {
  const json doc = {{"schedule", {{"expression", "0 9 * * 1-5"}, {"upcoming_runs_at", {"2026-12-07T09:00:00Z"}}}}};
  CHECK(at_pointer(doc, "/schedule/expression") == "0 9 * * 1-5");
  CHECK(at_pointer(doc, "/schedule/upcoming_runs_at/0") == "2026-12-07T09:00:00Z");
  CHECK(at_pointer(doc, "/schedule/upcoming_runs_at/1").is_null());
  CHECK(at_pointer(doc, "/schedule/upcoming_runs_at/x").is_null());
  CHECK(at_pointer(doc, "/nothing/here").is_null());
  CHECK(at_pointer(doc, "") == doc);
}

}  // namespace airlock::control::cli
