// Fuzz target model_stream: the built-in agent's reading of a model's streamed answer (control/src/agent:
// sse.hpp, message_stream.hpp): the bytes a model API, or anything posing as one, sends back, in any
// chunking.
//
// Input: the response body.
//
// Checks (a violation aborts):
//   - the only exception is SseTooLarge (a line past the parser's limit); a malformed event is the
//     stream's error, never a throw;
//   - framing does not depend on chunking: the body in random chunks and byte by byte give the same events
//     as the body whole, and the same completed blocks, stop reason, usage and error;
//   - every completed block is a JSON object with a string type, whose fields the agent reads are of
//     their type (text, thinking, signature, a tool_use's id and name strings, its input an object), and
//     content() is exactly the completed blocks in order;
//   - once the stream has an error or has finished, it completes no more blocks;
//   - everything it keeps serialises (invalid UTF-8 replaced), as the agent sends it back to the model.
#include <optional>
#include <string>
#include <vector>

#include "agent/message_stream.hpp"
#include "agent/sse.hpp"
#include "fuzz_support.hpp"

namespace airlock::fuzz {
namespace {

using control::agent::MessageStream;
using control::agent::SseEvent;
using control::agent::SseParser;
using control::agent::SseTooLarge;
using json = nlohmann::json;

constexpr std::size_t kLineLimit = 4096;

struct Outcome {
  bool too_large = false;
  std::vector<std::string> events;  // "event\ndata"
  std::vector<json> blocks;
  json content;
  std::string stop_reason;
  json usage;
  std::optional<std::string> error;
};

Outcome read(const std::vector<std::string_view>& chunks) {
  Outcome out;
  SseParser parser(kLineLimit);
  MessageStream stream;
  std::vector<SseEvent> events;
  try {
    for (std::string_view chunk : chunks) {
      events.clear();
      parser.feed(chunk, events);
      for (const SseEvent& event : events) {
        out.events.push_back(event.event + "\n" + event.data);
        const bool ended = stream.finished() || stream.error().has_value();
        std::optional<json> block = stream.on_event(event);
        if (!block) continue;
        AIRLOCK_FUZZ_CHECK(!ended);
        AIRLOCK_FUZZ_CHECK(block->is_object() && block->contains("type") && (*block)["type"].is_string());
        // What the agent reads of a block never throws (json::type_error on a field of another type).
        const std::string type = (*block)["type"].get<std::string>();
        if (type == "text") (void)block->value("text", "");
        if (type == "thinking") (void)(block->value("thinking", "") + block->value("signature", ""));
        if (type == "tool_use") {
          (void)(block->value("id", "") + block->value("name", ""));
          AIRLOCK_FUZZ_CHECK((*block)["input"].is_object());
        }
        out.blocks.push_back(*block);
      }
    }
  } catch (const SseTooLarge&) {
    out.too_large = true;
  }
  out.content = stream.content();
  out.stop_reason = stream.stop_reason();
  out.usage = stream.usage().to_json();
  if (stream.error()) out.error = stream.error()->type + "\n" + stream.error()->message;
  AIRLOCK_FUZZ_CHECK(out.content == json(out.blocks));
  (void)out.content.dump(-1, ' ', false, json::error_handler_t::replace);
  return out;
}

bool same(const Outcome& a, const Outcome& b) {
  return a.too_large == b.too_large && a.events == b.events && a.blocks == b.blocks && a.stop_reason == b.stop_reason &&
         a.usage == b.usage && a.error == b.error;
}

}  // namespace
}  // namespace airlock::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace airlock::fuzz;
  const std::string_view bytes = as_text(data, size);
  const Outcome whole = read({bytes});
  if (whole.too_large) return 0;  // where it stops depends on the chunk the limit is met in
  AIRLOCK_FUZZ_CHECK(same(whole, read(random_chunks(bytes, hash_of(bytes)))));
  if (size <= 4096) AIRLOCK_FUZZ_CHECK(same(whole, read(byte_chunks(bytes))));
  return 0;
}
