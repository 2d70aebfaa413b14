// Test support for airlock_http1_tests: drives a parser the way a connection does (keep the unconsumed
// bytes, append what arrives, feed again), checks the Step contract on every call, and records what came
// out, so tests can compare whole runs. Also: escape decoding for the testdata/ tables, and a dump of a head
// that names every field, so a mismatch shows up readably in doctest's output.
#pragma once

#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "airlock/testing/source_path.hpp"
#include "airlock/http1/parser.hpp"

namespace airlock::http1::test {

template <class Head>
struct Message {
  Head head;
  std::string body;
  Headers trailers;
};

template <class Head>
struct Run {
  std::vector<Message<Head>> messages;
  std::string error;              // the parser's error(), when a parse() returned State::error
  std::string tunnel;             // bytes after an upgrade message, left unconsumed by the parser
  bool upgraded = false;          // stopped after a message whose head says upgrade
  bool head_in_progress = false;  // a head was reported but its message_done was not (yet)
  std::string body_so_far;        // body of that unfinished message
};

inline std::string dump(const Headers& headers) {
  std::string out;
  for (const Header& field : headers.fields) out += "  [" + field.name + "]=[" + field.value + "]\n";
  return out;
}

inline std::string dump_framing(bool keep_alive, bool upgrade, const std::optional<std::uint64_t>& length,
                                bool chunked) {
  return std::string("keep_alive=") + (keep_alive ? "1" : "0") + " upgrade=" + (upgrade ? "1" : "0") +
         " content_length=" + (length ? std::to_string(*length) : "none") +
         " chunked=" + (chunked ? "1" : "0");
}

inline std::string dump(const RequestHead& head) {
  return head.method + " [" + head.target + "] HTTP/" + std::to_string(head.version_major) + "." +
         std::to_string(head.version_minor) + " " +
         dump_framing(head.keep_alive, head.upgrade, head.content_length, head.chunked) + "\n" +
         dump(head.headers);
}

inline std::string dump(const ResponseHead& head) {
  return std::to_string(head.status) + " [" + head.reason + "] HTTP/" + std::to_string(head.version_major) +
         "." + std::to_string(head.version_minor) + " " +
         dump_framing(head.keep_alive, head.upgrade, head.content_length, head.chunked) + "\n" +
         dump(head.headers);
}

template <class Head>
std::string dump(const Run<Head>& run) {
  std::string out;
  for (const auto& message : run.messages) {
    out += dump(message.head) + "  body=[" + message.body + "]\n";
    if (!message.trailers.fields.empty()) out += "  trailers:\n" + dump(message.trailers);
  }
  if (run.head_in_progress) out += "unfinished message, body so far=[" + run.body_so_far + "]\n";
  if (!run.error.empty()) out += "error: " + run.error + "\n";
  if (run.upgraded) out += "upgraded, tunnel=[" + run.tunnel + "]\n";
  return out;
}

// Feeds `chunks` one after the other. `methods` (responses only) are the request methods answered, in
// order; `eof` calls finish_on_eof() at the end and records a close-delimited message it completes.
template <class Parser, class Head = std::decay_t<decltype(std::declval<Parser&>().head())>>
Run<Head> feed(Parser& parser, const std::vector<std::string>& chunks,
               const std::vector<std::string>& methods = {}, bool eof = false) {
  Run<Head> run;
  std::size_t next_method = 0;
  const auto expect_next = [&] {
    if constexpr (requires { parser.expect_response_to(std::string_view{}); }) {
      if (next_method < methods.size()) parser.expect_response_to(methods[next_method++]);
    }
  };
  expect_next();
  std::string pending;  // bytes received and not consumed yet
  std::vector<std::string_view> body;
  for (std::size_t c = 0; c < chunks.size(); ++c) {
    if (run.upgraded) {
      run.tunnel += chunks[c];
      continue;
    }
    pending += chunks[c];
    std::size_t offset = 0;
    for (;;) {
      const std::string_view input = std::string_view(pending).substr(offset);
      body.clear();
      const Step step = parser.parse(input, body);
      REQUIRE(step.consumed <= input.size());
      for (std::string_view piece : body) {
        // Views must point into this call's input.
        REQUIRE(piece.data() >= input.data());
        REQUIRE(piece.data() + piece.size() <= input.data() + input.size());
        REQUIRE(run.head_in_progress);
        run.body_so_far.append(piece);
      }
      offset += step.consumed;
      if (step.state == State::error) {
        run.error = std::string(parser.error());
        REQUIRE(!run.error.empty());
        return run;
      }
      REQUIRE(parser.error().empty());
      if (step.state == State::need_more || step.state == State::body) {
        REQUIRE(step.consumed == input.size());
        CHECK((step.state == State::body) == !body.empty());
        break;
      }
      if (step.state == State::head_done) {
        REQUIRE(!run.head_in_progress);
        REQUIRE(body.empty());
        run.head_in_progress = true;
        continue;
      }
      REQUIRE(step.state == State::message_done);
      REQUIRE(run.head_in_progress);
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
        REQUIRE(!run.error.empty());
      }
    }
  }
  return run;
}

template <class Parser>
auto feed_whole(std::string_view bytes, const std::vector<std::string>& methods = {}, bool eof = false,
                Limits limits = {}) {
  Parser parser(limits);
  return feed(parser, {std::string(bytes)}, methods, eof);
}

// Splits `bytes` into chunks whose sizes are drawn from `rng` (1 to 16 bytes, sometimes larger).
inline std::vector<std::string> random_chunks(std::string_view bytes, std::mt19937_64& rng) {
  std::vector<std::string> chunks;
  std::uniform_int_distribution<std::size_t> small(1, 16);
  std::uniform_int_distribution<int> pick(0, 9);
  std::size_t at = 0;
  while (at < bytes.size()) {
    std::size_t size = pick(rng) == 0 ? small(rng) * 16 : small(rng);
    if (pick(rng) == 0) chunks.emplace_back();  // an empty read now and then
    size = std::min(size, bytes.size() - at);
    chunks.emplace_back(bytes.substr(at, size));
    at += size;
  }
  return chunks;
}

// The seed for randomised tests: AIRLOCK_HTTP1_SEED when set (to replay a failure), else a fresh one.
inline std::uint64_t test_seed() {
  if (const char* fixed = std::getenv("AIRLOCK_HTTP1_SEED"); fixed != nullptr && *fixed != '\0') {
    return std::strtoull(fixed, nullptr, 10);
  }
  std::random_device device;
  return (static_cast<std::uint64_t>(device()) << 32) ^ device();
}

// Decodes the escapes used in testdata/: \r \n \t \0 \\ and \xHH.
inline std::string unescape(std::string_view text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '\\' || i + 1 == text.size()) {
      out += text[i];
      continue;
    }
    const char e = text[++i];
    switch (e) {
      case 'r':
        out += '\r';
        break;
      case 'n':
        out += '\n';
        break;
      case 't':
        out += '\t';
        break;
      case '0':
        out += '\0';
        break;
      case '\\':
        out += '\\';
        break;
      case 'x': {
        REQUIRE(i + 2 < text.size());
        out += static_cast<char>(std::stoi(std::string(text.substr(i + 1, 2)), nullptr, 16));
        i += 2;
        break;
      }
      default:
        FAIL("unknown escape \\" << e);
    }
  }
  return out;
}

struct TableCase {
  int line = 0;
  std::string name;
  std::string expected;  // text the error message must contain
  std::string input;     // decoded bytes
};

// Reads proxy/http1/testdata/<file>: "name | expected error text | escaped input" per line, '#' comments.
inline std::vector<TableCase> load_table(const std::string& file) {
  const auto path = airlock::testing::source_path("proxy/http1/testdata/" + file);
  std::ifstream in(path);
  REQUIRE_MESSAGE(in.good(), "cannot open " << path.string());
  std::vector<TableCase> cases;
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (line.empty() || line[0] == '#') continue;
    const auto first = line.find(" | ");
    const auto second = first == std::string::npos ? first : line.find(" | ", first + 3);
    REQUIRE_MESSAGE(second != std::string::npos,
                    file << ":" << number << ": expected 'name | error | input'");
    cases.push_back({number, line.substr(0, first), line.substr(first + 3, second - first - 3),
                     unescape(std::string_view(line).substr(second + 3))});
  }
  REQUIRE(!cases.empty());
  return cases;
}

}  // namespace airlock::http1::test
