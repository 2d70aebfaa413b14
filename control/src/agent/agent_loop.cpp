// AgentLoop (see agent_loop.hpp).
#include "agent/agent_loop.hpp"

#include <algorithm>
#include <charconv>

#include <fmt/format.h>

#include "agent/file_tools.hpp"
#include "agent/json_fields.hpp"
#include "airlock/store/store.hpp"

namespace airlock::control::agent {

using json = nlohmann::json;

namespace {

constexpr std::size_t kEventLineMax = 900000;  // below the runtime's line limit, so an event is never cut

json text_blocks(const std::string& text) { return json::array({{{"type", "text"}, {"text", text}}}); }

// What the model reads of a tool call's result.
json tool_result_block(const std::string& tool_use_id, json content, bool is_error) {
  json block = {{"type", "tool_result"}, {"tool_use_id", tool_use_id}, {"content", std::move(content)}};
  if (is_error) block["is_error"] = true;
  return block;
}

std::string origin_of(const ControlUrl& url) {
  const bool default_port = url.port == (url.tls ? 443 : 80);
  return fmt::format("{}://{}{}", url.tls ? "https" : "http", url.host, default_port ? "" : fmt::format(":{}", url.port));
}

// The model API's error answer: its error.type and error.message when it sent JSON.
ModelError answer_error(const HttpAnswer& answer) {
  json body = json::parse(answer.body, nullptr, /*allow_exceptions=*/false);
  if (body.is_object() && body.contains("error") && body["error"].is_object()) {
    const json& error = body["error"];
    return {string_field(error, "type", "api_error"),
            string_field(error, "message", fmt::format("the model API answered {}", answer.status))};
  }
  return {"api_error", fmt::format("the model API answered {}{}", answer.status,
                                   answer.body.empty() ? std::string() : ": " + bounded_text(answer.body, 300))};
}

std::optional<std::chrono::milliseconds> retry_after(const HttpAnswer& answer) {
  const std::string* value = answer.headers.find("retry-after");
  if (value == nullptr) return std::nullopt;
  long seconds = 0;
  auto [end, ec] = std::from_chars(value->data(), value->data() + value->size(), seconds);
  if (ec != std::errc{} || end != value->data() + value->size() || seconds < 0) return std::nullopt;
  return std::chrono::milliseconds(seconds * 1000);
}

bool is_retryable_type(const std::string& type) {
  return type == "overloaded_error" || type == "rate_limit_error" || type == "api_error" || type == "stream_error" ||
         type == "connection_error";
}

}  // namespace

AgentLoop::AgentLoop(AgentSettings settings, HttpsClient& client, Inbox& inbox, std::function<void(const json&)> print)
    : settings_(std::move(settings)), client_(client), inbox_(inbox), print_(std::move(print)), bash_(settings_.workspace) {
  inbox_.on_interrupt([this] {
    client_.cancel();
    bash_.cancel();
  });
}

std::string AgentLoop::emit(json event) {
  // The harness names its events, so the ids clients answer with (tool_use_id, custom_tool_use_id) are
  // ones it knows (docs/runtime.md).
  std::string id = store::random_id("sevt_");
  event["id"] = id;
  if (event.contains("input") && event.dump(-1, ' ', false, json::error_handler_t::replace).size() > kEventLineMax) {
    event["input"] = {{"airlock_note", "the input is too large to show"}};
  }
  print_(event);
  return id;
}

void AgentLoop::end_turn(const json& stop_reason) { print_({{"type", "session.status_idle"}, {"stop_reason", stop_reason}}); }

void AgentLoop::add_user_content(const json& content) {
  json blocks = json::array();
  for (const json& block : content.is_array() ? content : json::array()) {
    if (block.is_object()) blocks.push_back(block);
  }
  if (blocks.empty()) return;
  // The API takes alternating roles: content for a user turn already open joins it.
  if (!messages_.empty() && messages_.back().value("role", "") == "user") {
    for (json& block : blocks) messages_.back()["content"].push_back(std::move(block));
    return;
  }
  messages_.push_back({{"role", "user"}, {"content", std::move(blocks)}});
}

void AgentLoop::connect_mcp_servers() {
  for (const McpToolset& wanted : settings_.toolset.mcp_toolsets) {
    std::string url;
    for (const json& server : settings_.mcp_servers) {
      if (server.is_object() && server.value("name", "") == wanted.server_name) url = server.value("url", "");
    }
    try {
      if (url.empty()) throw McpError(fmt::format("the agent has no MCP server named {}", wanted.server_name), false);
      auto client = std::make_unique<McpClient>(client_, wanted.server_name, url);
      add_mcp_tools(settings_.toolset, wanted, client->connect());
      mcp_[wanted.server_name] = std::move(client);
    } catch (const McpError& e) {
      emit({{"type", "session.error"},
            {"error",
             {{"type", e.authentication() ? "mcp_authentication_failed_error" : "mcp_connection_failed_error"},
              {"mcp_server_name", wanted.server_name},
              {"message", fmt::format("{}; its tools are not offered", e.what())},
              {"retry_status", {{"type", "terminal"}}}}}});
    } catch (const std::exception& e) {  // unreachable, or an answer that is not MCP
      emit({{"type", "session.error"},
            {"error",
             {{"type", "mcp_connection_failed_error"},
              {"mcp_server_name", wanted.server_name},
              {"message", fmt::format("MCP server {}: {}; its tools are not offered", wanted.server_name, e.what())},
              {"retry_status", {{"type", "terminal"}}}}}});
    }
  }
}

int AgentLoop::run(bool turn_waiting_for_input) {
  connect_mcp_servers();
  if (!turn_waiting_for_input) end_turn({{"type", "end_turn"}});  // nothing to do until a message comes
  while (std::optional<json> event = inbox_.next()) {
    const std::string type = event->value("type", "");
    if (type == "user.interrupt") {
      // Whatever it stopped has ended its turn already; a turn waiting for the client ends here.
      inbox_.clear_interrupt();
      client_.reset();
      bash_.reset();
      if (waiting_) {
        waiting_ = false;
        fill_unanswered("interrupted by the user");
        end_turn({{"type", "end_turn"}});
      }
    } else if (type == "user.message") {
      if (waiting_) {
        waiting_ = false;
        fill_unanswered("the user sent a new message instead of an answer");
      }
      add_user_content(event->value("content", json::array()));
      if (!continue_turn()) return 0;
    } else if ((type == "user.custom_tool_result" || type == "user.tool_confirmation") && waiting_) {
      answer_pending(*event);
      const bool answered = std::all_of(calls_.begin(), calls_.end(), [](const ToolCall& call) { return call.result.has_value(); });
      if (inbox_.interrupted()) continue;  // the queued interrupt ends the turn
      if (!answered) {
        json still = json::array();
        for (const ToolCall& call : calls_) {
          if (!call.result) still.push_back(call.event_id);
        }
        end_turn({{"type", "requires_action"}, {"event_ids", still}});
        continue;
      }
      waiting_ = false;
      fill_unanswered("");  // every call has its result: this hands them to the model
      if (!continue_turn()) return 0;
    } else if (type == "user.custom_tool_result" || type == "user.tool_confirmation") {
      // Nothing waits for it, yet Airlock started a turn for it: the turn ends at once.
      end_turn({{"type", "end_turn"}});
    }
    // user.define_outcome: outcomes are not evaluated by this harness (docs/api.md).
  }
  return 0;
}

void AgentLoop::fill_unanswered(const std::string& why) {
  if (calls_.empty()) return;
  json results = json::array();
  for (ToolCall& call : calls_) {
    if (!call.result) call.result = tool_result_block(call.tool_use_id, text_blocks(why), true);
    results.push_back(*call.result);
  }
  calls_.clear();
  add_user_content(results);
}

bool AgentLoop::continue_turn() {
  for (;;) {
    std::string stop_reason;
    const CallEnd end = call_model(stop_reason);
    if (end == CallEnd::fatal) return false;
    if (end == CallEnd::interrupted || end == CallEnd::failed) {
      calls_.clear();  // the answer was not kept: nothing of it waits for a result
      end_turn({{"type", "end_turn"}});
      return true;
    }
    if (end == CallEnd::exhausted) {
      calls_.clear();
      end_turn({{"type", "retries_exhausted"}});
      return true;
    }
    if (!calls_.empty()) {
      if (!after_tools()) return true;
      continue;
    }
    if (stop_reason == "pause_turn") continue;
    if (std::optional<json> queued = inbox_.take_queued_message()) {  // sent while the model was answering
      add_user_content(queued->value("content", json::array()));
      continue;
    }
    end_turn({{"type", "end_turn"}});
    return true;
  }
}

bool AgentLoop::after_tools() {
  json waiting_for = json::array();
  for (ToolCall& call : calls_) {
    if (inbox_.interrupted()) break;
    if (call.tool == nullptr) {
      record_result(call, text_blocks(fmt::format("the tool {} is not offered to this agent", call.name)), true);
    } else if (call.tool->kind == ToolKind::custom || call.tool->ask) {
      waiting_for.push_back(call.event_id);
    } else {
      run_tool(call);
    }
  }
  if (inbox_.interrupted()) {
    fill_unanswered("interrupted by the user");
    end_turn({{"type", "end_turn"}});
    return false;
  }
  if (!waiting_for.empty()) {
    waiting_ = true;
    end_turn({{"type", "requires_action"}, {"event_ids", waiting_for}});
    return false;
  }
  fill_unanswered("");
  return true;
}

void AgentLoop::answer_pending(const json& event) {
  const std::string type = event.value("type", "");
  const std::string id = event.value(type == "user.custom_tool_result" ? "custom_tool_use_id" : "tool_use_id", "");
  auto call = std::find_if(calls_.begin(), calls_.end(),
                           [&id](const ToolCall& c) { return c.event_id == id && !c.result && c.tool != nullptr; });
  if (call == calls_.end()) return;  // not one this turn waits for
  if (type == "user.custom_tool_result" && call->tool->kind == ToolKind::custom) {
    json content = json::array();
    for (const json& block : event.value("content", json::array())) {
      if (block.is_object()) content.push_back(block);
    }
    call->result = tool_result_block(call->tool_use_id, std::move(content), event.value("is_error", false));
  } else if (type == "user.tool_confirmation" && call->tool->kind != ToolKind::custom && call->tool->ask) {
    if (event.value("result", "") == "allow") {
      run_tool(*call);
      return;
    }
    std::string text = "the user denied this call";
    if (event.contains("deny_message") && event["deny_message"].is_string()) text += ": " + event["deny_message"].get<std::string>();
    record_result(*call, text_blocks(text), true);
  }
}

void AgentLoop::record_result(ToolCall& call, json content, bool is_error) {
  call.result = tool_result_block(call.tool_use_id, content, is_error);
  const bool mcp = call.tool != nullptr && call.tool->kind == ToolKind::mcp;
  emit({{"type", mcp ? "agent.mcp_tool_result" : "agent.tool_result"},
        {mcp ? "mcp_tool_use_id" : "tool_use_id", call.event_id},
        {"content", std::move(content)},
        {"is_error", is_error}});
}

void AgentLoop::run_tool(ToolCall& call) {
  ToolOutcome outcome;
  const json& input = call.input;
  try {
    if (call.tool != nullptr && call.tool->kind == ToolKind::mcp) {
      const json result = mcp_.at(call.tool->mcp_server)->call_tool(call.tool->mcp_tool, input);
      record_result(call, mcp_content_blocks(result), bool_field(result, "isError"));
      return;
    }
    if (call.name == "bash") {
      if (input.value("restart", false) && !input.contains("command")) {
        outcome = {"every bash call starts a fresh shell in /workspace; nothing to restart", false};
      } else if (!input.contains("command") || !input["command"].is_string()) {
        outcome = {"bash needs command, a string", true};
      } else {
        std::chrono::milliseconds timeout = BashTool::kDefaultTimeout;
        if (auto ms = input.find("timeout_ms"); ms != input.end() && ms->is_number_integer() && ms->get<std::int64_t>() > 0) {
          timeout = std::min(BashTool::kMaxTimeout, std::chrono::milliseconds(ms->get<std::int64_t>()));
        }
        outcome = bash_.run(input["command"].get<std::string>(), timeout);
      }
    } else if (call.name == "read") {
      outcome = read_tool(input, settings_.workspace);
    } else if (call.name == "write") {
      outcome = write_tool(input, settings_.workspace);
    } else if (call.name == "edit") {
      outcome = edit_tool(input, settings_.workspace);
    } else if (call.name == "glob") {
      outcome = glob_tool(input, settings_.workspace);
    } else if (call.name == "grep") {
      outcome = grep_tool(input, settings_.workspace);
    } else if (call.name == "web_fetch") {
      const std::string url = input.value("url", "");
      std::optional<HttpsRequest> request = request_to(url);
      if (!request) {
        outcome = {"web_fetch needs url, an absolute http or https URL", true};
      } else {
        request->headers = {{"Accept", "*/*"}, {"User-Agent", "airlock-agent"}};
        HttpAnswer answer = client_.send(*request, "the fetched site", nullptr, 4 * kToolOutputMax);
        outcome = {bounded_text(fmt::format("HTTP {}\n\n{}", answer.status, answer.body)), false};
      }
    }
  } catch (const RequestCancelled&) {
    outcome = {"interrupted", true};
  } catch (const std::exception& e) {
    outcome = {bounded_text(e.what()), true};
  }
  record_result(call, text_blocks(outcome.text), outcome.is_error);
}

void AgentLoop::on_block(const json& block) {
  const std::string type = block.value("type", "");
  if (type == "thinking" || type == "redacted_thinking") {
    emit({{"type", "agent.thinking"}});
  } else if (type == "text") {
    const std::string text = block.value("text", "");
    if (!text.empty()) emit({{"type", "agent.message"}, {"content", text_blocks(text)}});
  } else if (type == "tool_use") {
    ToolCall call;
    call.tool_use_id = block.value("id", "");
    call.name = block.value("name", "");
    call.input = block.value("input", json::object());
    call.tool = settings_.toolset.find(call.name);
    json event = {{"name", call.name}, {"input", call.input}};
    if (call.tool != nullptr && call.tool->kind == ToolKind::custom) {
      event["type"] = "agent.custom_tool_use";
    } else if (call.tool != nullptr && call.tool->kind == ToolKind::mcp) {
      event = {{"type", "agent.mcp_tool_use"},
               {"name", call.tool->mcp_tool},
               {"mcp_server_name", call.tool->mcp_server},
               {"input", call.input},
               {"evaluated_permission", call.tool->ask ? "ask" : "allow"}};
    } else {
      event["type"] = "agent.tool_use";
      event["evaluated_permission"] = call.tool == nullptr ? "deny" : call.tool->ask ? "ask" : "allow";
    }
    call.event_id = emit(std::move(event));
    calls_.push_back(std::move(call));
  }
}

AgentLoop::CallEnd AgentLoop::call_model(std::string& stop_reason) {
  const std::string start_id = emit({{"type", "span.model_request_start"}});
  auto end_span = [&](bool is_error, const ModelUsage& usage) {
    emit({{"type", "span.model_request_end"},
          {"model_request_start_id", start_id},
          {"is_error", is_error},
          {"model_usage", usage.to_json()}});
  };
  json body = {{"model", settings_.model}, {"max_tokens", settings_.max_tokens}, {"stream", true}, {"messages", messages_}};
  if (settings_.system && !settings_.system->empty()) body["system"] = *settings_.system;
  if (!settings_.toolset.tools.empty()) body["tools"] = settings_.toolset.definitions();
  HttpsRequest request;
  request.method = "POST";
  request.url = settings_.model_api;
  request.target = "/v1/messages";
  request.headers = {{"Content-Type", "application/json"},
                     {"Accept", "text/event-stream"},
                     {"anthropic-version", "2023-06-01"},
                     {"User-Agent", "airlock-agent"}};
  if (!settings_.api_key.empty()) request.headers.emplace_back("x-api-key", settings_.api_key);
  request.body = body.dump(-1, ' ', false, json::error_handler_t::replace);

  for (int attempt = 0;; ++attempt) {
    MessageStream stream;
    SseParser sse;
    bool shown = false;  // a block of this answer became an event: a retry would show it twice
    calls_.clear();
    std::vector<SseEvent> events;
    const std::function<bool(std::string_view)> on_body = [&](std::string_view piece) {
      events.clear();
      sse.feed(piece, events);
      for (const SseEvent& event : events) {
        if (std::optional<json> block = stream.on_event(event)) {
          on_block(*block);
          shown = true;
        }
        if (stream.error() || stream.finished()) return false;
      }
      return true;
    };
    ModelError error;
    int status = 0;
    std::optional<std::chrono::milliseconds> wait;
    try {
      const HttpAnswer answer = client_.send(request, "the model API", &on_body, 1 << 20);
      status = answer.status;
      if (status >= 200 && status < 300) {
        if (stream.finished() && !stream.error()) {
          stop_reason = stream.stop_reason();
          end_span(false, stream.usage());
          if (!stream.content().empty()) messages_.push_back({{"role", "assistant"}, {"content", stream.content()}});
          return CallEnd::done;
        }
        error = stream.error().value_or(ModelError{"stream_error", "the model API's stream ended before message_stop"});
      } else {
        error = answer_error(answer);
        wait = retry_after(answer);
      }
    } catch (const RequestCancelled&) {
      end_span(true, stream.usage());
      return CallEnd::interrupted;
    } catch (const SseTooLarge& e) {
      error = {"stream_error", e.what()};
    } catch (const ConnectionFailed& e) {
      error = {"connection_error", e.what()};
    }
    if (inbox_.interrupted()) {
      end_span(true, stream.usage());
      return CallEnd::interrupted;
    }

    bool retryable = !shown && is_retryable_type(error.type);
    if (status == 408 || status == 429 || status >= 500) retryable = !shown;
    if (status >= 400 && status < 500 && status != 408 && status != 429) retryable = false;
    const std::string session_type = status == 529 || error.type == "overloaded_error" ? "model_overloaded_error"
                                     : status == 429 || error.type == "rate_limit_error" ? "model_rate_limited_error"
                                                                                         : "model_request_failed_error";
    if (retryable && attempt < settings_.max_retries) {
      emit({{"type", "session.error"},
            {"error", {{"type", session_type}, {"message", error.message}, {"retry_status", {{"type", "retrying"}}}}}});
      const std::chrono::milliseconds delay =
          wait ? std::min(*wait, settings_.retry_after_max) : settings_.retry_base * (1 << attempt);
      if (inbox_.sleep_unless_interrupted(delay)) {
        end_span(true, stream.usage());
        return CallEnd::interrupted;
      }
      continue;
    }
    const bool fatal = status == 401 || (status == 403 && (error.type == "authentication_error" || error.type == "permission_error"));
    std::string message = error.message;
    if (fatal) {
      const std::string origin = origin_of(settings_.model_api);
      message = fmt::format(
          "the model API at {} refused the request ({} {}: {}). {}: add to a vault of this session an "
          "environment_variable credential with secret_name ANTHROPIC_API_KEY whose networking allows {}, or a "
          "static_bearer credential whose mcp_server_url is {} (Airlock then sends its token as x-api-key)",
          origin, status, error.type, error.message,
          settings_.api_key.empty() ? "ANTHROPIC_API_KEY is not set in the sandbox and no credential added a key"
                                    : "The key the proxy sent was not accepted",
          settings_.model_api.host, origin);
    }
    emit({{"type", "session.error"},
          {"error", {{"type", session_type}, {"message", message}, {"retry_status", {{"type", retryable ? "exhausted" : "terminal"}}}}}});
    end_span(true, stream.usage());
    if (fatal) return CallEnd::fatal;
    return retryable ? CallEnd::exhausted : CallEnd::failed;
  }
}

}  // namespace airlock::control::agent
