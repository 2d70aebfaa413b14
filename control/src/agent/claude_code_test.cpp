// The Claude Code adapter: stream-json lines mapped to session events (a turn as the CLI prints it, error
// results, hostile lines), and the runner driving a stand-in CLI (a shell script): turns, --resume, the
// prompt on stdin, an exit without a result, interrupts.
#include <doctest/doctest.h>

#include <signal.h>
#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "agent/claude_code.hpp"
#include "agent/claude_code_runner.hpp"
#include "agent/inbox.hpp"
#include "airlock/testing/temp_dir.hpp"

namespace airlock::control::agent {
namespace {

using json = nlohmann::json;

ClaudeCodeMapping counting_mapping() {
  auto next = std::make_shared<int>(0);
  return ClaudeCodeMapping([next] { return "sevt_test" + std::to_string(++*next) + "aaaaaaaa"; });
}

std::vector<json> events_of(ClaudeCodeMapping& mapping, const std::string& line) {
  MappedLine mapped = mapping.map_line(line);
  CHECK_FALSE(mapped.diagnostic);
  return mapped.events;
}

std::string diagnostic_of(ClaudeCodeMapping& mapping, std::string_view line) {
  MappedLine mapped = mapping.map_line(line);
  CHECK(mapped.events.empty());
  REQUIRE(mapped.diagnostic);
  return *mapped.diagnostic;
}

const json kIdle = {{"type", "session.status_idle"}, {"stop_reason", {{"type", "end_turn"}}}};

}  // namespace

TEST_CASE("claude code mapping: a turn as the CLI prints it, with a Bash call, its result and the usage") {
  ClaudeCodeMapping mapping = counting_mapping();
  CHECK(mapping.session_id().empty());
  CHECK(mapping.begin_turn() == json{{"type", "span.model_request_start"}, {"id", "sevt_test1aaaaaaaa"}});
  CHECK(events_of(mapping, R"({"type":"system","subtype":"init","cwd":"/workspace","session_id":"5eca4491-013e-4736-b195-ae4e1f19573f","tools":["Bash"]})")
            .empty());
  CHECK(mapping.session_id() == "5eca4491-013e-4736-b195-ae4e1f19573f");

  CHECK(events_of(mapping, R"({"type":"assistant","message":{"id":"msg_1","role":"assistant","content":[{"type":"thinking","thinking":"hm","signature":"s"},{"type":"text","text":"Let me run a command."}],"usage":{"input_tokens":120,"output_tokens":1}},"parent_tool_use_id":null,"session_id":"5eca"})") ==
        std::vector<json>{{{"type", "agent.thinking"}},
                          {{"type", "agent.message"}, {"content", {{{"type", "text"}, {"text", "Let me run a command."}}}}}});
  CHECK(events_of(mapping, R"({"type":"assistant","message":{"content":[{"type":"tool_use","id":"toolu_01v","name":"Bash","input":{"command":"id -un","description":"who"}}]}})") ==
        std::vector<json>{{{"type", "agent.tool_use"},
                           {"id", "sevt_test2aaaaaaaa"},
                           {"name", "Bash"},
                           {"input", {{"command", "id -un"}, {"description", "who"}}},
                           {"evaluated_permission", "allow"}}});
  CHECK(events_of(mapping, R"({"type":"user","message":{"role":"user","content":[{"tool_use_id":"toolu_01v","type":"tool_result","content":"nobody","is_error":false}]},"tool_use_result":{"stdout":"nobody"}})") ==
        std::vector<json>{{{"type", "agent.tool_result"},
                           {"tool_use_id", "sevt_test2aaaaaaaa"},
                           {"content", {{{"type", "text"}, {"text", "nobody"}}}},
                           {"is_error", false}}});
  CHECK_FALSE(mapping.turn_ended());
  CHECK(events_of(mapping, R"({"duration_ms":1245,"usage":{"input_tokens":240,"cache_creation_input_tokens":10,"cache_read_input_tokens":20,"output_tokens":60,"server_tool_use":{"web_search_requests":0}},"is_error":false,"num_turns":2,"subtype":"success","result":"Done.","type":"result"})") ==
        std::vector<json>{{{"type", "span.model_request_end"},
                           {"model_request_start_id", "sevt_test1aaaaaaaa"},
                           {"is_error", false},
                           {"model_usage",
                            {{"input_tokens", 240}, {"output_tokens", 60}, {"cache_read_input_tokens", 20}, {"cache_creation_input_tokens", 10}}}},
                          kIdle});
  CHECK(mapping.turn_ended());
  // Once the result is out, nothing closes the turn a second time.
  CHECK(mapping.end_without_result("exited").empty());
  CHECK(mapping.end_interrupted().empty());
}

TEST_CASE("claude code mapping: error results, tool results as blocks, and counts that are not counts") {
  ClaudeCodeMapping mapping = counting_mapping();
  mapping.begin_turn();
  events_of(mapping, R"({"type":"assistant","message":{"content":[{"type":"tool_use","id":"t1","name":"Read","input":{}}]}})");
  std::vector<json> result = events_of(
      mapping, R"({"type":"user","message":{"content":[{"type":"tool_result","tool_use_id":"t1","is_error":true,"content":[{"type":"text","text":"no such file"},{"type":"image","source":{}}]}]}})");
  REQUIRE(result.size() == 1);
  CHECK(result[0]["content"] == json::array({{{"type", "text"}, {"text", "no such file\n[image block not shown]"}}}));
  CHECK(result[0]["is_error"] == true);
  result = events_of(mapping, R"({"type":"user","message":{"content":[{"type":"tool_result","tool_use_id":"t1"}]}})");
  REQUIRE(result.size() == 1);
  CHECK(result[0]["content"][0]["text"] == "(no output)");

  std::vector<json> end = events_of(
      mapping, R"({"type":"result","subtype":"success","is_error":true,"result":"API Error: 401 invalid x-api-key","usage":{"input_tokens":-5,"output_tokens":"7","cache_read_input_tokens":1.5}})");
  REQUIRE(end.size() == 3);
  CHECK(end[0]["is_error"] == true);
  CHECK(end[0]["model_usage"] ==
        json{{"input_tokens", 0}, {"output_tokens", 0}, {"cache_read_input_tokens", 0}, {"cache_creation_input_tokens", 0}});
  CHECK(end[1] == json{{"type", "session.error"},
                       {"error", {{"type", "model_request_failed_error"}, {"message", "API Error: 401 invalid x-api-key"}, {"retry_status", {{"type", "terminal"}}}}}});
  CHECK(end[2] == kIdle);

  mapping.begin_turn();
  end = events_of(mapping, R"({"type":"result","subtype":"error_max_turns","is_error":true,"errors":["too many turns","again",3]})");
  REQUIRE(end.size() == 3);
  CHECK(end[1]["error"]["message"] == "too many turns; again");

  // After an interrupt the CLI's error result is the interrupt's doing, not an error to report.
  mapping.begin_turn();
  mapping.mark_interrupted();
  end = events_of(mapping, R"({"type":"result","subtype":"error_during_execution","is_error":true})");
  REQUIRE(end.size() == 2);
  CHECK(end[0]["type"] == "span.model_request_end");
  CHECK(end[1] == kIdle);
}

TEST_CASE("claude code mapping: hostile and unknown lines are diagnostics, never events") {
  ClaudeCodeMapping mapping = counting_mapping();
  mapping.begin_turn();
  CHECK(mapping.map_line("").events.empty());
  CHECK_FALSE(mapping.map_line("  \r").diagnostic);
  CHECK(diagnostic_of(mapping, "Error: something broke") == "not a stream-json line: Error: something broke");
  CHECK(diagnostic_of(mapping, "[1,2]").find("not a stream-json line") == 0);
  CHECK(diagnostic_of(mapping, "bad \xff\xfe bytes") == "not a stream-json line: bad \xEF\xBF\xBD\xEF\xBF\xBD bytes");
  CHECK(diagnostic_of(mapping, std::string(100000, '[')).find("nested too deeply") != std::string::npos);
  CHECK(diagnostic_of(mapping, std::string(5000, 'x')).size() < 2200);  // bounded
  CHECK(diagnostic_of(mapping, R"({"type":"stream_event","event":{}})").find("does not map") != std::string::npos);
  CHECK(mapping.map_line(R"({"type":"system","subtype":"api_retry","attempt":1})").events.empty());
  // A tool_result for a tool_use it never showed has nothing to point at.
  CHECK(diagnostic_of(mapping, R"({"type":"user","message":{"content":[{"type":"tool_result","tool_use_id":"toolu_x"}]}})")
            .find("toolu_x") != std::string::npos);
  // A session id is passed back as an argument: one that could be an option, or is not an id, is refused.
  diagnostic_of(mapping, R"({"type":"system","subtype":"init","session_id":"--dangerously-skip-permissions"})");
  diagnostic_of(mapping, R"({"type":"system","subtype":"init","session_id":"a b"})");
  CHECK(mapping.session_id().empty());
  // Content that is not blocks, blocks that are not objects, and an empty text: nothing.
  CHECK(mapping.map_line(R"({"type":"assistant","message":{"content":"hi"}})").events.empty());
  CHECK(mapping.map_line(R"({"type":"assistant","message":{"content":[1,null,{"type":"text","text":""}]}})").events.empty());
  // A huge tool input is not shown whole: the event stays one line Airlock stores.
  const std::string big = R"({"type":"assistant","message":{"content":[{"type":"tool_use","id":"t","name":"Write","input":{"content":")" +
                          std::string(950000, 'a') + R"("}}]}})";
  std::vector<json> events = mapping.map_line(big).events;
  REQUIRE(events.size() == 1);
  CHECK(events[0]["input"] == json{{"airlock_note", "the input is too large to show"}});

  std::vector<json> end = mapping.end_without_result("claude exited with status 1 without printing a result");
  REQUIRE(end.size() == 3);
  CHECK(end[0]["error"]["message"] == "claude exited with status 1 without printing a result");
  CHECK(end[1]["type"] == "span.model_request_end");
  CHECK(end[1]["is_error"] == true);
  CHECK(end[2] == kIdle);
  // Between turns, lines are shown, not made into events.
  CHECK(diagnostic_of(mapping, R"({"type":"assistant","message":{"content":[{"type":"text","text":"late"}]}})")
            .find("after the turn's result") != std::string::npos);
}

TEST_CASE("claude code mapping: the command line of a turn") {
  CHECK(claude_code_turn_command({}, "") == default_claude_code_command());
  CHECK(default_claude_code_command() == std::vector<std::string>{"claude", "-p", "--output-format", "stream-json", "--verbose"});
  CHECK(claude_code_turn_command({"/opt/claude", "-p"}, "abc-1") ==
        std::vector<std::string>{"/opt/claude", "-p", "--resume", "abc-1"});
}

namespace {

// Runs the runner on `command` over the given client events, then the end of input; the events it printed.
// SIGPIPE ignored while it lives, as `airlock agent` ignores it (agent_command.cpp): a CLI that exits
// without reading its prompt makes the prompt's write fail, not kill the process.
class IgnoringSigpipe {
 public:
  IgnoringSigpipe() {
    struct sigaction ignore {};
    ignore.sa_handler = SIG_IGN;
    ::sigaction(SIGPIPE, &ignore, &previous_);
  }
  ~IgnoringSigpipe() { ::sigaction(SIGPIPE, &previous_, nullptr); }
  IgnoringSigpipe(const IgnoringSigpipe&) = delete;
  IgnoringSigpipe& operator=(const IgnoringSigpipe&) = delete;

 private:
  struct sigaction previous_ {};
};

std::vector<json> run_adapter(const std::vector<std::string>& command, const std::string& workdir, const std::vector<json>& input,
                              const std::function<void(Inbox&)>& meanwhile = {}) {
  const IgnoringSigpipe sigpipe;
  Inbox inbox;
  std::mutex mutex;
  std::vector<json> printed;
  ClaudeCodeRunner runner(command, workdir, inbox, [&](const json& event) {
    std::lock_guard lock(mutex);
    printed.push_back(event);
  });
  for (const json& event : input) inbox.push(event);
  std::thread driver([&] {
    if (meanwhile) meanwhile(inbox);
    inbox.close();
  });
  CHECK(runner.run(true) == 0);
  driver.join();
  return printed;
}

json user_message(const std::string& text) {
  return {{"type", "user.message"}, {"id", "sevt_x"}, {"content", {{{"type", "text"}, {"text", text}}}}};
}

std::vector<std::string> types_of(const std::vector<json>& events) {
  std::vector<std::string> types;
  for (const json& event : events) types.push_back(event.value("type", ""));
  return types;
}

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

TEST_CASE("claude code runner: a turn per message, the prompt on stdin, --resume from the first turn's init") {
  testing::TempDir dir;
  // A stand-in CLI: records its arguments and stdin, and prints a turn.
  const auto script = dir.write("cli.sh", R"(#!/bin/sh
echo "$*" >> args.log
cat >> prompts.log
echo 'starting up'
echo '{"type":"system","subtype":"init","session_id":"sess-1"}'
echo '{"type":"assistant","message":{"content":[{"type":"text","text":"hi"}]}}'
echo 'a diagnostic' >&2
printf '{"type":"result","is_error":false,"usage":{"input_tokens":3,"output_tokens":4}}'
)");
  std::vector<json> printed = run_adapter({"/bin/sh", script.string(), "-p"}, dir.path().string(),
                                          {user_message("first"), user_message("second")});
  const std::vector<std::string> one_turn = {"span.model_request_start", "agent.message", "span.model_request_end",
                                             "session.status_idle"};
  std::vector<std::string> expected = one_turn;
  expected.insert(expected.end(), one_turn.begin(), one_turn.end());
  CHECK(types_of(printed) == expected);
  CHECK(printed[2]["model_usage"]["output_tokens"] == 4);
  CHECK(read_file(dir.path() / "args.log") == "-p\n-p --resume sess-1\n");
  CHECK(read_file(dir.path() / "prompts.log") == "first\nsecond\n");
}

TEST_CASE("claude code runner: an exit without a result, a command that cannot start, messages without text") {
  testing::TempDir dir;
  const auto script = dir.write("cli.sh", "#!/bin/sh\necho '{\"type\":\"system\",\"subtype\":\"init\",\"session_id\":\"s\"}'\nexit 3\n");
  std::vector<json> printed =
      run_adapter({"/bin/sh", script.string()}, dir.path().string(),
                  {user_message("go"), {{"type", "user.message"}, {"content", json::array()}}, {{"type", "user.define_outcome"}}});
  CHECK(types_of(printed) == std::vector<std::string>{"span.model_request_start", "session.error", "span.model_request_end",
                                                      "session.status_idle", "span.model_request_start", "session.error",
                                                      "span.model_request_end", "session.status_idle"});
  CHECK(printed[1]["error"]["message"] == "/bin/sh exited with status 3 without printing a result");
  CHECK(printed[5]["error"]["message"] == "the message has no text for Claude Code to read");

  printed = run_adapter({(dir.path() / "no-such-cli").string()}, dir.path().string(), {user_message("go")});
  REQUIRE(printed.size() == 4);
  CHECK(printed[1]["error"]["message"].get<std::string>().find("cannot start") == 0);
  CHECK(printed[3] == kIdle);
}

TEST_CASE("claude code runner: an interrupt stops the CLI's group (SIGINT, then SIGKILL) and ends the turn") {
  testing::TempDir dir;
  // It ignores SIGINT, and so does what it started: only the SIGKILL 2 s later ends them.
  const auto script = dir.write("cli.sh", R"(#!/bin/sh
trap '' INT
echo '{"type":"system","subtype":"init","session_id":"s"}'
echo '{"type":"assistant","message":{"content":[{"type":"text","text":"working"}]}}'
touch started
sleep 30
)");
  const auto started = std::chrono::steady_clock::now();
  std::vector<json> printed = run_adapter(
      {"/bin/sh", script.string()}, dir.path().string(), {user_message("go")}, [&dir](Inbox& inbox) {
        for (int i = 0; i < 100 && !std::filesystem::exists(dir.path() / "started"); ++i) {
          std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
        inbox.push({{"type", "user.interrupt"}});
      });
  const auto took = std::chrono::steady_clock::now() - started;
  CHECK(took < std::chrono::seconds(10));
  CHECK(took >= std::chrono::seconds(2));
  CHECK(types_of(printed) ==
        std::vector<std::string>{"span.model_request_start", "agent.message", "span.model_request_end", "session.status_idle"});
  CHECK(printed[2]["is_error"] == true);
}

}  // namespace airlock::control::agent
