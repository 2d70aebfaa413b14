// The HTTP/1.1 side of the fuzz targets: a driver that feeds a parser (proxy/http1) the way a connection
// does, keeping what it did not consume, checks the Step contract on every call and records what came
// out, so that runs over different chunkings can be compared; and checks of parsed text.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "airlock/http1/parser.hpp"
#include "fuzz_support.hpp"

namespace airlock::fuzz {

// A CR, LF or NUL in a parsed name or value would let serialize() write a different message than the one
// parsed (S6): the parser must never hand one out.
inline bool clean_field_text(std::string_view text) {
  return text.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos;
}

inline bool clean_headers(const http1::Headers& headers) {
  for (const http1::Header& field : headers.fields) {
    if (field.name.empty() || !clean_field_text(field.name) || !clean_field_text(field.value)) return false;
    if (field.name.find_first_of(" \t:") != std::string::npos) return false;
  }
  return true;
}

inline std::string dump(const http1::Headers& headers) {
  std::string out;
  for (const http1::Header& field : headers.fields) out += "[" + field.name + "]=[" + field.value + "]\n";
  return out;
}

inline std::string dump_framing(bool keep_alive, bool upgrade, const std::optional<std::uint64_t>& length,
                                bool chunked) {
  return std::string(" keep_alive=") + (keep_alive ? "1" : "0") + " upgrade=" + (upgrade ? "1" : "0") +
         " length=" + (length ? std::to_string(*length) : "none") + " chunked=" + (chunked ? "1" : "0") + "\n";
}

inline std::string dump(const http1::RequestHead& head) {
  return head.method + " [" + head.target + "] " + std::to_string(head.version_major) + "." +
         std::to_string(head.version_minor) +
         dump_framing(head.keep_alive, head.upgrade, head.content_length, head.chunked) + dump(head.headers);
}

inline std::string dump(const http1::ResponseHead& head) {
  return std::to_string(head.status) + " [" + head.reason + "] " + std::to_string(head.version_major) + "." +
         std::to_string(head.version_minor) +
         dump_framing(head.keep_alive, head.upgrade, head.content_length, head.chunked) + dump(head.headers);
}

template <class Head>
struct Message {
  Head head;
  std::string body;
  http1::Headers trailers;
};

// What a parser made of a whole byte stream.
template <class Head>
struct Transcript {
  std::vector<Message<Head>> messages;
  std::string error;            // the parser's error(), when parse() returned State::error
  bool upgraded = false;        // stopped after a message whose head says upgrade
  std::string tunnel;           // the bytes after that message, which are not HTTP
  bool head_in_progress = false;
  std::string body_so_far;      // the body of a message whose head came and whose end did not

  std::string dump() const {
    std::string out;
    for (const auto& message : messages) {
      out += fuzz::dump(message.head) + "body=[" + message.body + "]\ntrailers:\n" + fuzz::dump(message.trailers);
    }
    if (head_in_progress) out += "unfinished, body so far=[" + body_so_far + "]\n";
    // Which check notices a malformed stream first may depend on where it was cut (the head scanner or
    // llhttp): that it is refused, and after which messages, may not.
    out += error.empty() ? "no error\n" : "refused\n";
    if (upgraded) out += "upgraded, tunnel=[" + tunnel + "]\n";
    return out;
  }
};

// Feeds `chunks` one after the other, keeping what the parser did not consume, and checks the Step
// contract (http1/parser.hpp) on every call. Responses answer `methods` in order (the last one repeats);
// `eof` calls finish_on_eof() at the end.
template <class Parser, class Head = std::decay_t<decltype(std::declval<Parser&>().head())>>
Transcript<Head> drive(Parser& parser, const std::vector<std::string_view>& chunks,
                       const std::vector<std::string>& methods = {}, bool eof = false) {
  Transcript<Head> run;
  std::size_t next_method = 0;
  const auto expect_next = [&] {
    if constexpr (requires { parser.expect_response_to(std::string_view{}); }) {
      if (methods.empty()) return;
      parser.expect_response_to(methods[std::min(next_method, methods.size() - 1)]);
      ++next_method;
    }
  };
  expect_next();
  std::string pending;
  std::vector<std::string_view> body;
  for (const std::string_view chunk : chunks) {
    if (run.upgraded) {
      run.tunnel += chunk;
      continue;
    }
    pending += chunk;
    std::size_t offset = 0;
    for (;;) {
      const std::string_view input = std::string_view(pending).substr(offset);
      body.clear();
      const http1::Step step = parser.parse(input, body);
      AIRLOCK_FUZZ_CHECK(step.consumed <= input.size());
      for (const std::string_view piece : body) {
        AIRLOCK_FUZZ_CHECK(!piece.empty());
        AIRLOCK_FUZZ_CHECK(piece.data() >= input.data() && piece.data() + piece.size() <= input.data() + input.size());
        AIRLOCK_FUZZ_CHECK(run.head_in_progress);
        run.body_so_far.append(piece);
      }
      offset += step.consumed;
      if (step.state == http1::State::error) {
        run.error = std::string(parser.error());
        AIRLOCK_FUZZ_CHECK(!run.error.empty());
        // The parser stays failed.
        std::vector<std::string_view> again;
        AIRLOCK_FUZZ_CHECK(parser.parse("GET / HTTP/1.1\r\nHost: a\r\n\r\n", again).state == http1::State::error);
        return run;
      }
      AIRLOCK_FUZZ_CHECK(parser.error().empty());
      if (step.state == http1::State::need_more || step.state == http1::State::body) {
        AIRLOCK_FUZZ_CHECK(step.consumed == input.size());
        AIRLOCK_FUZZ_CHECK((step.state == http1::State::body) == !body.empty());
        break;
      }
      if (step.state == http1::State::head_done) {
        AIRLOCK_FUZZ_CHECK(!run.head_in_progress);
        AIRLOCK_FUZZ_CHECK(body.empty());
        run.head_in_progress = true;
        continue;
      }
      AIRLOCK_FUZZ_CHECK(step.state == http1::State::message_done);
      AIRLOCK_FUZZ_CHECK(run.head_in_progress);
      run.messages.push_back({parser.head(), std::move(run.body_so_far), parser.trailers()});
      run.body_so_far.clear();
      run.head_in_progress = false;
      if (parser.head().upgrade) {
        run.upgraded = true;
        run.tunnel = pending.substr(offset);
        break;
      }
      if constexpr (requires { parser.expect_response_to(std::string_view{}); }) {
        if (parser.head().status >= 200 || parser.head().status == 101) expect_next();
      }
    }
    pending.erase(0, offset);
  }
  if constexpr (requires { parser.finish_on_eof(); }) {
    if (eof && !run.upgraded) {
      if (parser.finish_on_eof()) {
        if (run.head_in_progress) {
          run.messages.push_back({parser.head(), std::move(run.body_so_far), parser.trailers()});
          run.body_so_far.clear();
          run.head_in_progress = false;
        }
      } else {
        run.error = std::string(parser.error());
        AIRLOCK_FUZZ_CHECK(!run.error.empty());
      }
    }
  }
  return run;
}

}  // namespace airlock::fuzz
