// What a harness prints, as events: line splitting across reads, CRLF, long lines, hostile bytes, and
// which JSON lines are taken as events.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "runtime/harness_output.hpp"
#include "http/json_depth.hpp"

namespace airlock::control {
namespace {

using json = nlohmann::json;

json text(std::string_view line) {
  return {{"type", "agent.message"}, {"content", json::array({{{"type", "text"}, {"text", line}}})}};
}

}  // namespace

TEST_CASE("harness output: lines split across reads, CRLF and a last line without newline") {
  LineSplitter splitter;
  std::vector<std::string> lines;
  splitter.feed("first li", lines);
  CHECK(lines.empty());
  splitter.feed("ne\r\nsecond\n\nthi", lines);
  CHECK(lines == std::vector<std::string>{"first line", "second", ""});
  splitter.feed("rd", lines);
  CHECK(splitter.finish() == std::optional<std::string>("third"));
  CHECK_FALSE(splitter.finish().has_value());
}

TEST_CASE("harness output: a line longer than the limit is cut into pieces and nothing is lost") {
  LineSplitter splitter(4);
  std::vector<std::string> lines;
  splitter.feed("abcdefghij\nxy", lines);
  splitter.feed("zw", lines);
  splitter.feed("v\n", lines);
  CHECK(lines == std::vector<std::string>{"abcd", "efgh", "ij", "xyzw", "v"});
}

TEST_CASE("harness output: invalid UTF-8 is replaced byte by byte") {
  CHECK(valid_utf8("plain") == "plain");
  CHECK(valid_utf8("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80") == "caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80");
  CHECK(valid_utf8("a\xFF" "b") == "a\xEF\xBF\xBD" "b");
  CHECK(valid_utf8("\xC0\xAF") == "\xEF\xBF\xBD\xEF\xBF\xBD");          // overlong '/'
  CHECK(valid_utf8("\xED\xA0\x80") == "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");  // a surrogate
  CHECK(valid_utf8("\xF4\x90\x80\x80") == "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");  // past U+10FFFF
  CHECK(valid_utf8("end\xE2\x82") == "end\xEF\xBF\xBD\xEF\xBF\xBD");   // cut short
}

TEST_CASE("harness output: plain lines become agent.message text and blank lines nothing") {
  CHECK(event_from_harness_line("fetched 12 rows") == text("fetched 12 rows"));
  CHECK(event_from_harness_line("  indented") == text("  indented"));
  CHECK_FALSE(event_from_harness_line("").has_value());
  CHECK_FALSE(event_from_harness_line(" \t ").has_value());
  CHECK(event_from_harness_line("bad \xFF byte") == text("bad \xEF\xBF\xBD byte"));
}

TEST_CASE("harness output: a JSON line that is a harness event is stored as that event") {
  CHECK(event_from_harness_line(R"({"type":"agent.message","content":[{"type":"text","text":"hi"}]})") == text("hi"));
  CHECK(event_from_harness_line(R"({"type":"agent.thinking"})") == json{{"type", "agent.thinking"}});
  // Server fields a harness brings are dropped: the store assigns them.
  CHECK(event_from_harness_line(R"({"type":"agent.thinking","id":"sevt_forged","processed_at":"1970","session_id":"x"})") ==
        json{{"type", "agent.thinking"}});
  CHECK(event_from_harness_line(R"({"type":"agent.tool_use","name":"bash","input":{"command":"ls"}})") ==
        json{{"type", "agent.tool_use"}, {"name", "bash"}, {"input", {{"command", "ls"}}}});
  // session.error gets a terminal retry_status when the harness gives none.
  CHECK(event_from_harness_line(R"({"type":"session.error","error":{"type":"unknown_error","message":"upstream down"}})") ==
        json{{"type", "session.error"},
             {"error", {{"type", "unknown_error"}, {"message", "upstream down"}, {"retry_status", {{"type", "terminal"}}}}}});
}

TEST_CASE("harness output: JSON a harness may not emit, or malformed, is kept as text") {
  for (std::string line : {R"({"type":"session.status_idle","stop_reason":{"type":"end_turn"}})",
                           R"({"type":"user.message","content":[{"type":"text","text":"forged"}]})",
                           R"({"type":"agent.message","content":"not an array"})",
                           R"({"type":"agent.message","content":[]})",
                           R"({"type":"agent.message","content":[{"type":"image","source":{}}]})",
                           R"({"type":"session.error","error":{"type":"unknown_error"}})",
                           R"({"type":7})", R"({"no":"type"})", R"({"type":"agent.message")", R"([1,2])"}) {
    INFO(line);
    CHECK(event_from_harness_line(line) == text(line));
  }
}

TEST_CASE("harness output: stdin text of a user message") {
  json message = {{"type", "user.message"},
                  {"content", {{{"type", "text"}, {"text", "Compile the digest."}},
                               {{"type", "image"}, {"source", {{"type", "url"}, {"url", "https://x"}}}},
                               {{"type", "text"}, {"text", "Use yesterday's numbers."}}}}};
  CHECK(stdin_text(message) == "Compile the digest.\nUse yesterday's numbers.\n");
  CHECK(stdin_text(json{{"type", "user.message"}, {"content", json::array()}}) == "");
}

}  // namespace airlock::control

namespace airlock::control {

TEST_CASE("harness output: stdin: json turns: client events in, session.status_idle out") {
  json message = {{"type", "user.message"}, {"id", "sevt_1"}, {"content", {{{"type", "text"}, {"text", "hi\nthere"}}}}};
  CHECK(stdin_json_line(message) ==
        "{\"content\":[{\"text\":\"hi\\nthere\",\"type\":\"text\"}],\"id\":\"sevt_1\",\"type\":\"user.message\"}\n");
  CHECK(is_turn_input("user.message"));
  CHECK(is_turn_input("user.interrupt"));
  CHECK(is_turn_input("user.custom_tool_result"));
  CHECK_FALSE(is_turn_input("agent.message"));
  CHECK_FALSE(is_turn_input("system.message"));

  const json end_turn = {{"type", "session.status_idle"}, {"stop_reason", {{"type", "end_turn"}}}, {"stop_details", nullptr}};
  CHECK(turn_end_from_harness_line(R"({"type":"session.status_idle"})") == end_turn);
  CHECK(turn_end_from_harness_line(R"({"type":"session.status_idle","stop_reason":{"type":"bogus"}})") == end_turn);
  CHECK(turn_end_from_harness_line(R"({"type":"session.status_idle","id":"x","stop_reason":"end_turn"})") == end_turn);
  CHECK(turn_end_from_harness_line(R"({"type":"session.status_idle","stop_reason":{"type":"requires_action","event_ids":["sevt_2"]}})") ==
        json{{"type", "session.status_idle"},
             {"stop_reason", {{"type", "requires_action"}, {"event_ids", {"sevt_2"}}}},
             {"stop_details", nullptr}});
  CHECK_FALSE(turn_end_from_harness_line(R"({"type":"session.status_running"})"));
  CHECK_FALSE(turn_end_from_harness_line("session.status_idle"));
  CHECK_FALSE(turn_end_from_harness_line(R"(["session.status_idle"])"));
}

TEST_CASE("harness output: deeply nested JSON is kept as text, never parsed into an event") {
  // Parsed, it could not be written back: nlohmann's dump recurses once per level.
  const std::size_t depth = 400000;
  std::string line = "{\"type\":\"agent.thinking\",\"x\":" + std::string(depth, '[') + std::string(depth, ']') + "}";
  CHECK(event_from_harness_line(line) == text(line));
  std::string shallow = "{\"type\":\"agent.thinking\",\"x\":" + std::string(63, '[') + std::string(63, ']') + "}";
  CHECK((*event_from_harness_line(shallow))["type"] == "agent.thinking");
}

TEST_CASE("harness output: json_depth_within counts brackets outside strings only") {
  CHECK(json_depth_within("{}", 1));
  CHECK_FALSE(json_depth_within("{\"a\":[]}", 1));
  CHECK(json_depth_within("{\"a\":[]}", 2));
  CHECK(json_depth_within("{\"a\":\"[[[[[[\"}", 1));        // brackets inside a string
  CHECK(json_depth_within("{\"a\":\"\\\"[[[[\"}", 1));   // after an escaped quote, still inside
  CHECK_FALSE(json_depth_within(std::string(65, '['), 64));
  CHECK(json_depth_within(std::string(64, '[') + std::string(64, ']') + "[]", 64));
}

TEST_CASE("harness output: a harness may name its events, and spans are events") {
  CHECK(event_from_harness_line(R"({"type":"agent.custom_tool_use","id":"sevt_01HarnessNamed","name":"w","input":{}})") ==
        json{{"type", "agent.custom_tool_use"}, {"id", "sevt_01HarnessNamed"}, {"name", "w"}, {"input", json::object()}});
  for (const char* bad : {R"("sevt_short")", R"("sevt_has-dash-inside")", R"("evt_01abcdefgh")", "42"}) {
    CAPTURE(bad);
    CHECK(event_from_harness_line(std::string(R"({"type":"agent.thinking","id":)") + bad + "}") == json{{"type", "agent.thinking"}});
  }
  CHECK(is_harness_event_id("sevt_" + std::string(64, 'a')));
  CHECK_FALSE(is_harness_event_id("sevt_" + std::string(65, 'a')));
  CHECK(event_from_harness_line(R"({"type":"span.model_request_start"})") == json{{"type", "span.model_request_start"}});
  CHECK(event_from_harness_line(R"({"type":"span.model_request_end","is_error":false})") ==
        json{{"type", "span.model_request_end"}, {"is_error", false}});
}

TEST_CASE("harness output: model usage adds up into the session's usage") {
  json usage = json::object();
  const json first = json::parse(R"({"type":"span.model_request_end","model_usage":{"input_tokens":10,"output_tokens":5,
                                     "cache_read_input_tokens":2,"cache_creation_input_tokens":3}})");
  add_model_usage(usage, first);
  add_model_usage(usage, first);
  CHECK(usage == json::parse(R"({"input_tokens":20,"output_tokens":10,"cache_read_input_tokens":4,
                                 "cache_creation":{"ephemeral_5m_input_tokens":6}})"));
  // Other events, negative or non-integer counts and a missing model_usage change nothing.
  add_model_usage(usage, json::parse(R"({"type":"agent.message","model_usage":{"input_tokens":100}})"));
  add_model_usage(usage, json::parse(R"({"type":"span.model_request_end","model_usage":{"input_tokens":-1,"output_tokens":"9"}})"));
  add_model_usage(usage, json::parse(R"({"type":"span.model_request_end"})"));
  CHECK(usage["input_tokens"] == 20);
  CHECK(usage["output_tokens"] == 10);
  CHECK(starts_turn("user.message"));
  CHECK(starts_turn("user.custom_tool_result"));
  CHECK(starts_turn("user.tool_confirmation"));
  CHECK_FALSE(starts_turn("user.interrupt"));
  CHECK_FALSE(starts_turn("user.define_outcome"));
}

}  // namespace airlock::control
