// The built-in agent's pure cores: SSE framing, a Messages API stream put back together, the toolset as
// configured, and the file tools on a real directory.
#include <doctest/doctest.h>

#include <chrono>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "agent/bash_tool.hpp"
#include "agent/file_tools.hpp"
#include "agent/https_client.hpp"
#include "agent/mcp_client.hpp"
#include "agent/message_stream.hpp"
#include "agent/sse.hpp"
#include "agent/toolset.hpp"
#include "airlock/testing/temp_dir.hpp"

namespace airlock::control::agent {
namespace {

using json = nlohmann::json;

std::vector<SseEvent> parse_all(SseParser& parser, std::string_view bytes) {
  std::vector<SseEvent> out;
  parser.feed(bytes, out);
  return out;
}

// The frames the Messages API sends for a text block, a tool call and the end of the message.
const char* const kStream =
    "event: message_start\n"
    "data: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\","
    "\"content\":[],\"model\":\"m\",\"stop_reason\":null,\"usage\":{\"input_tokens\":25,\"cache_creation_input_tokens\":3,"
    "\"cache_read_input_tokens\":7,\"output_tokens\":1}}}\n\n"
    "event: content_block_start\n"
    "data: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n"
    "event: ping\n"
    "data: {\"type\": \"ping\"}\n\n"
    "event: content_block_delta\n"
    "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hel\"}}\n\n"
    "event: content_block_delta\n"
    "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"lo\"}}\n\n"
    "event: content_block_stop\n"
    "data: {\"type\":\"content_block_stop\",\"index\":0}\n\n"
    "event: content_block_start\n"
    "data: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_1\","
    "\"name\":\"bash\",\"input\":{}}}\n\n"
    "event: content_block_delta\n"
    "data: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"comm\"}}\n\n"
    "event: content_block_delta\n"
    "data: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"and\\\": \\\"ls\\\"}\"}}\n\n"
    "event: content_block_stop\n"
    "data: {\"type\":\"content_block_stop\",\"index\":1}\n\n"
    "event: message_delta\n"
    "data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":42}}\n\n"
    "event: message_stop\n"
    "data: {\"type\":\"message_stop\"}\n\n";

}  // namespace

TEST_CASE("agent sse: frames split anywhere, CRLF, comments, multi-line data") {
  SseParser parser;
  std::vector<SseEvent> events;
  parser.feed("event: a\r\ndata: {\"x\"", events);
  CHECK(events.empty());
  parser.feed(":1}\r\n\r\n: a comment\n\ndata: one\ndata: two\n\n", events);
  REQUIRE(events.size() == 2);
  CHECK(events[0].event == "a");
  CHECK(events[0].data == "{\"x\":1}");
  CHECK(events[1].event == "message");
  CHECK(events[1].data == "one\ntwo");

  SseParser small(64);
  CHECK_THROWS_AS(parse_all(small, std::string(100, 'x')), SseTooLarge);
}

TEST_CASE("agent message stream: blocks complete at their stop, tool input from its pieces, usage laid over") {
  // Fed one byte at a time: framing never depends on how reads split the stream.
  SseParser parser;
  MessageStream stream;
  std::vector<json> completed;
  const std::string bytes = kStream;
  for (char c : bytes) {
    for (const SseEvent& event : parse_all(parser, std::string_view(&c, 1))) {
      if (auto block = stream.on_event(event)) completed.push_back(*block);
    }
  }
  CHECK(stream.finished());
  CHECK_FALSE(stream.error());
  REQUIRE(completed.size() == 2);
  CHECK(completed[0] == json{{"type", "text"}, {"text", "Hello"}});
  CHECK(completed[1] == json{{"type", "tool_use"}, {"id", "toolu_1"}, {"name", "bash"}, {"input", {{"command", "ls"}}}});
  CHECK(stream.content() == json::array({completed[0], completed[1]}));
  CHECK(stream.stop_reason() == "tool_use");
  CHECK(stream.usage().to_json() ==
        json{{"input_tokens", 25}, {"output_tokens", 42}, {"cache_creation_input_tokens", 3}, {"cache_read_input_tokens", 7}});
}

TEST_CASE("agent message stream: an error event, malformed events and a tool input that is not an object") {
  MessageStream overloaded;
  overloaded.on_event({"error", R"({"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}})"});
  REQUIRE(overloaded.error());
  CHECK(overloaded.error()->type == "overloaded_error");
  CHECK(overloaded.error()->message == "Overloaded");

  MessageStream orphan;  // a delta for a block that never started
  orphan.on_event({"content_block_delta", R"({"type":"content_block_delta","index":3,"delta":{"type":"text_delta","text":"x"}})"});
  REQUIRE(orphan.error());
  CHECK(orphan.error()->type == "stream_error");

  MessageStream not_json;
  not_json.on_event({"message_start", "{not json"});
  CHECK(not_json.error());

  MessageStream bad_input;
  bad_input.on_event({"content_block_start",
                      R"({"type":"content_block_start","index":0,"content_block":{"type":"tool_use","id":"t","name":"n","input":{}}})"});
  bad_input.on_event({"content_block_delta",
                      R"({"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"[1,2]"}})"});
  CHECK_FALSE(bad_input.on_event({"content_block_stop", R"({"type":"content_block_stop","index":0})"}));
  REQUIRE(bad_input.error());
  CHECK(bad_input.error()->type == "stream_error");
}

TEST_CASE("agent toolset: defaults, configs, custom tools, and what is not offered") {
  Toolset all = resolve_toolset(json::array({{{"type", "agent_toolset_20260401"}}}));
  std::vector<std::string> names;
  for (const OfferedTool& tool : all.tools) names.push_back(tool.name);
  CHECK(names == builtin_tool_names());
  CHECK_FALSE(all.find("bash")->ask);
  CHECK(all.find("web_search") == nullptr);
  CHECK(all.definitions()[0]["input_schema"]["required"] == json::array({"command"}));

  Toolset configured = resolve_toolset(json::parse(R"([
    {"type": "agent_toolset_20260401",
     "default_config": {"enabled": false, "permission_policy": {"type": "always_ask"}},
     "configs": [{"name": "bash", "enabled": true},
                 {"name": "read", "enabled": true, "permission_policy": {"type": "always_allow"}},
                 {"name": "web_search", "enabled": true}]},
    {"type": "custom", "name": "get_weather", "description": "Weather for a city",
     "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}},
    {"type": "mcp_toolset", "mcp_server_name": "github"}])"));
  REQUIRE(configured.tools.size() == 3);
  CHECK(configured.tools[0].name == "bash");
  CHECK(configured.tools[0].ask);  // the default's policy, kept where the config names none
  CHECK(configured.tools[1].name == "read");
  CHECK_FALSE(configured.tools[1].ask);
  CHECK(configured.tools[2].kind == ToolKind::custom);
  CHECK(configured.tools[2].definition ==
        json::parse(R"({"name": "get_weather", "description": "Weather for a city",
                        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}})"));
  CHECK(configured.notes == std::vector<std::string>{"web_search is not offered: Airlock has no search backend"});
  REQUIRE(configured.mcp_toolsets.size() == 1);
  CHECK(configured.mcp_toolsets[0].server_name == "github");
}

TEST_CASE("agent toolset: an MCP server's tools, as its toolset configures them, a clashing name with the server's") {
  Toolset toolset = resolve_toolset(json::parse(R"([{"type": "agent_toolset_20260401"},
    {"type": "mcp_toolset", "mcp_server_name": "tracker",
     "default_config": {"permission_policy": {"type": "always_ask"}},
     "configs": [{"name": "delete_issue", "enabled": false}, {"name": "search", "permission_policy": {"type": "always_allow"}}]}])"));
  const std::vector<json> listed = {
      json::parse(R"({"name": "search", "description": "Find issues", "inputSchema": {"type": "object", "properties": {"q": {"type": "string"}}}})"),
      json::parse(R"({"name": "delete_issue", "inputSchema": {"type": "object"}})"),
      json::parse(R"({"name": "bash", "description": "The tracker's own shell"})")};
  add_mcp_tools(toolset, toolset.mcp_toolsets.at(0), listed);
  const OfferedTool* search = toolset.find("search");
  REQUIRE(search != nullptr);
  CHECK(search->kind == ToolKind::mcp);
  CHECK_FALSE(search->ask);
  CHECK(search->mcp_server == "tracker");
  CHECK(search->mcp_tool == "search");
  CHECK(search->definition == json::parse(R"({"name": "search", "description": "Find issues",
                                              "input_schema": {"type": "object", "properties": {"q": {"type": "string"}}}})"));
  CHECK(toolset.find("delete_issue") == nullptr);
  const OfferedTool* shell = toolset.find("tracker__bash");
  REQUIRE(shell != nullptr);
  CHECK(shell->ask);  // the toolset's default
  CHECK(shell->mcp_tool == "bash");
  CHECK(shell->definition["input_schema"] == json{{"type", "object"}});
  CHECK(toolset.find("bash")->kind == ToolKind::builtin);
}

TEST_CASE("agent mcp: the JSON-RPC response in a JSON body or in an event stream, and a result's content") {
  CHECK(find_rpc_response("application/json", R"({"jsonrpc":"2.0","id":3,"result":{"ok":true}})", 3) ==
        json::parse(R"({"jsonrpc":"2.0","id":3,"result":{"ok":true}})"));
  CHECK_FALSE(find_rpc_response("application/json", R"({"jsonrpc":"2.0","id":2,"result":{}})", 3));
  CHECK_FALSE(find_rpc_response("application/json", "not json", 3));
  // A notification first, then the response, the last event without its blank line.
  const std::string stream = "event: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\"}\n\n"
                             "event: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":7,\"error\":{\"code\":-32602,\"message\":\"no\"}}\n";
  CHECK(find_rpc_response("text/event-stream; charset=utf-8", stream, 7) ==
        json::parse(R"({"jsonrpc":"2.0","id":7,"error":{"code":-32602,"message":"no"}})"));
  CHECK(mcp_content_blocks(json::parse(R"({"content":[{"type":"text","text":"3 issues"},{"type":"image","data":"AA==","mimeType":"image/png"}]})")) ==
        json::parse(R"([{"type":"text","text":"3 issues"},{"type":"text","text":"{\"data\":\"AA==\",\"mimeType\":\"image/png\",\"type\":\"image\"}"}])"));
  CHECK(mcp_content_blocks(json::object()) == json::array({{{"type", "text"}, {"text", "(no content)"}}}));
}

TEST_CASE("agent file tools: write, read with ranges, edit, glob and grep in a directory") {
  testing::TempDir dir;
  const auto& cwd = dir.path();
  CHECK(write_tool({{"file_path", "src/a.txt"}, {"content", "one\ntwo\nthree\n"}}, cwd).text ==
        "wrote 14 bytes to " + (cwd / "src/a.txt").string());
  CHECK(read_tool({{"file_path", "src/a.txt"}}, cwd).text == "     1\tone\n     2\ttwo\n     3\tthree\n");
  CHECK(read_tool({{"file_path", "src/a.txt"}, {"view_range", {2, 2}}}, cwd).text == "     2\ttwo\n");
  CHECK(read_tool({{"file_path", "missing"}}, cwd).is_error);
  CHECK(read_tool({{"path", "wrong field"}}, cwd).is_error);

  ToolOutcome twice = edit_tool({{"file_path", "src/a.txt"}, {"old_string", "o"}, {"new_string", "0"}}, cwd);
  CHECK(twice.is_error);
  CHECK(twice.text == "old_string occurs 2 times in " + (cwd / "src/a.txt").string() +
                          "; give more context to make it unique, or set replace_all");
  CHECK_FALSE(edit_tool({{"file_path", "src/a.txt"}, {"old_string", "two"}, {"new_string", "2"}}, cwd).is_error);
  CHECK(edit_tool({{"file_path", "src/a.txt"}, {"old_string", "o"}, {"new_string", "0"}, {"replace_all", true}}, cwd).text ==
        "replaced 1 occurrence in " + (cwd / "src/a.txt").string());
  CHECK(read_tool({{"file_path", (cwd / "src/a.txt").string()}}, cwd).text == "     1\t0ne\n     2\t2\n     3\tthree\n");

  CHECK_FALSE(write_tool({{"file_path", "src/deep/b.py"}, {"content", "print('x')\n"}}, cwd).is_error);
  CHECK_FALSE(write_tool({{"file_path", "c.py"}, {"content", "import os\n"}}, cwd).is_error);
  CHECK(glob_tool({{"pattern", "**/*.py"}}, cwd).text.find("src/deep/b.py\n") != std::string::npos);
  CHECK(glob_tool({{"pattern", "**/*.py"}}, cwd).text.find("c.py\n") != std::string::npos);
  CHECK(glob_tool({{"pattern", "*.txt"}}, cwd).text == "no files under " + (cwd / ".").string() + " match *.txt");
  CHECK(grep_tool({{"pattern", "^thr"}}, cwd).text == "src/a.txt:3:three\n");
  CHECK(grep_tool({{"pattern", "("}}, cwd).is_error);

  CHECK(glob_matches("**/*.go", "main.go"));
  CHECK(glob_matches("**/*.go", "a/b/main.go"));
  CHECK(glob_matches("src/**", "src/x/y"));
  CHECK_FALSE(glob_matches("*.go", "a/main.go"));
  CHECK_FALSE(glob_matches("*", ".hidden"));
}

TEST_CASE("agent file tools: output is bounded and valid UTF-8") {
  const std::string long_text(kToolOutputMax + 10, 'a');
  CHECK(bounded_text(long_text) == std::string(kToolOutputMax, 'a') + "\n[10 more bytes not shown]");
  CHECK(bounded_text("ok \xff") == "ok \xEF\xBF\xBD");
  // Not cut inside a character: "é" is two bytes.
  CHECK(bounded_text("aé", 2) == "a\n[2 more bytes not shown]");
}

TEST_CASE("agent bash tool: output and stderr together, exit status, time limit, cancel") {
  testing::TempDir dir;
  BashTool bash(dir.path());
  ToolOutcome ok = bash.run("echo out; echo err >&2; pwd", std::chrono::seconds(10));
  CHECK_FALSE(ok.is_error);
  CHECK(ok.text == "out\nerr\n" + dir.path().string() + "\n");
  ToolOutcome failed = bash.run("echo nope; exit 3", std::chrono::seconds(10));
  CHECK(failed.is_error);
  CHECK(failed.text == "nope\n\nexit status 3");
  CHECK(bash.run("true", std::chrono::seconds(10)).text == "(no output)");

  // A background child keeps the pipe open: the call still ends with its shell.
  const auto started = std::chrono::steady_clock::now();
  CHECK(bash.run("sleep 30 & echo started", std::chrono::seconds(10)).text == "started\n");
  ToolOutcome slow = bash.run("echo begun; sleep 30", std::chrono::milliseconds(300));
  CHECK(slow.is_error);
  CHECK(slow.text == "begun\n\ntimed out after 300 ms; the command was killed");

  std::thread canceller([&bash] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    bash.cancel();
  });
  ToolOutcome cancelled = bash.run("sleep 30", std::chrono::seconds(20));
  canceller.join();
  CHECK(cancelled.is_error);
  CHECK(cancelled.text == "interrupted");
  CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(10));
  bash.reset();
  CHECK(bash.run("echo again", std::chrono::seconds(10)).text == "again\n");
}

TEST_CASE("agent https client: the proxy URL's user and password become its Proxy-Authorization") {
  auto proxy = HttpsClient::parse_proxy("http://sesn_01abc:0f1e2d@127.0.0.1:3128");
  REQUIRE(proxy);
  CHECK(proxy->url.host == "127.0.0.1");
  CHECK(proxy->url.port == 3128);
  CHECK(proxy->authorization == "Basic c2Vzbl8wMWFiYzowZjFlMmQ=");  // base64("sesn_01abc:0f1e2d")
  auto plain = HttpsClient::parse_proxy("http://proxy.internal:8080/");
  REQUIRE(plain);
  CHECK(plain->authorization.empty());
  CHECK(plain->url.host == "proxy.internal");
  CHECK_FALSE(HttpsClient::parse_proxy("https://proxy.internal:8080"));
  CHECK_FALSE(HttpsClient::parse_proxy("socks5://127.0.0.1:1080"));
}

}  // namespace airlock::control::agent
