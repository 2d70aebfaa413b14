// RequestParser and ResponseParser: llhttp (strict mode, no lenient flags) driven one stop at a time.
//
// One Engine<Head> per connection direction owns an llhttp_t by value (no C allocation to free) and the
// head being built. llhttp runs through as many bytes as it can; our callbacks stop it with HPE_PAUSED at
// the three points a caller must see:
//   on_headers_complete  -> head_done     (resumes into llhttp's body framing decision)
//   on_chunk_header(0)   -> internal stop: the trailer section starts here, so HeadScanner takes over
//   on_message_complete  -> message_done  (resumes into the next message)
// `consumed` is always llhttp_get_error_pos() - input at the stop. When on_headers_complete itself decides
// "no body" (returns 1 or 2: HEAD, 1xx, 204, 304, CONNECT 2xx) llhttp cannot also pause there, so the head is
// reported at the on_message_complete stop (same byte position) and message_done on the following call.
//
// Phases of an Engine:
//   head      -> (head complete) -> body -> (message complete) -> head ...
//   body      -> (last chunk)    -> trailers -> (message complete) -> head
//   any       -> failed (terminal; error() says why); head/body -> closed after finish_on_eof().
// Invariants: HeadScanner sees every byte of a head or trailer section before llhttp does, and the end it
// finds must be where llhttp stops (checked); no exception leaves a callback (each one catches and returns an
// llhttp error code); body views always point into the input of the current parse() call.
#include "airlock/http1/parser.hpp"

#include <llhttp.h>

#include <algorithm>
#include <new>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

#include "head_scanner.hpp"

namespace airlock::http1 {
namespace {

bool ascii_iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i];
    char y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

// Removes leading and trailing OWS (SP / HTAB), RFC 9110 section 5.5.
void trim_ows(std::string& value) {
  const auto is_ows = [](char c) { return c == ' ' || c == '\t'; };
  std::size_t end = value.size();
  while (end > 0 && is_ows(value[end - 1])) --end;
  std::size_t begin = 0;
  while (begin < end && is_ows(value[begin])) ++begin;
  value.erase(end);
  value.erase(0, begin);
}

bool has_flag(const llhttp_t& parser, llhttp_flags flag) noexcept {
  return (parser.flags & static_cast<unsigned>(flag)) != 0;
}

}  // namespace

namespace detail {

enum class Phase { head, body, trailers, closed, failed };
enum class Stop { none, headers, last_chunk, message };

// on_headers_complete return values with a meaning to llhttp (llhttp.h, llhttp_settings_s).
constexpr int kProceed = 0;
constexpr int kNoBody = 1;
constexpr int kNoBodyUpgrade = 2;
constexpr int kCallbackFailed = -1;

constexpr std::size_t kNotFound = static_cast<std::size_t>(-1);

template <class Head>
class Engine {
  static constexpr bool kIsRequest = std::is_same_v<Head, RequestHead>;

 public:
  explicit Engine(Limits limits) : scanner_(limits.max_header_bytes), limits_(limits) {
    llhttp_init(&parser_, kIsRequest ? HTTP_REQUEST : HTTP_RESPONSE, &settings());
    parser_.data = this;
    scanner_.begin_head();
  }
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  const Head& head() const noexcept { return head_; }
  const Headers& trailers() const noexcept { return trailers_; }
  std::string_view error() const noexcept { return error_; }

  void expect_response_to(std::string_view method) { expected_method_.assign(method); }

  Step parse(std::string_view input, std::vector<std::string_view>& body) {
    if (phase_ == Phase::failed) return {State::error, 0};
    if (phase_ == Phase::closed) return fail("parse() called after the end of the stream", 0);
    if (message_done_pending_) {
      message_done_pending_ = false;
      end_message();
      return {State::message_done, 0};
    }
    const char* const data = input.empty() ? "" : input.data();
    const std::size_t size = input.size();
    const std::size_t body_before = body.size();
    body_ = &body;
    std::size_t offset = 0;
    std::size_t section_end = kNotFound;  // where HeadScanner says the head or trailers end
    bool scan = phase_ == Phase::head || phase_ == Phase::trailers;
    for (;;) {
      if (scan) {
        scan = false;
        const auto scanned = scanner_.scan(input.substr(offset));
        if (scanned.kind == detail::HeadScanner::Result::Kind::refused) {
          return fail(scanner_problem(scanned.problem), offset + scanned.position);
        }
        if (scanned.kind == detail::HeadScanner::Result::Kind::complete) {
          section_end = offset + scanned.position;
        }
      }
      resume();
      const llhttp_errno_t err = llhttp_execute(&parser_, data + offset, size - offset);
      body_ = nullptr;
      if (err == HPE_OK) {
        if (section_end != kNotFound) return fail("internal error: head end not recognised by llhttp", size);
        return {body.size() > body_before ? State::body : State::need_more, size};
      }
      const std::size_t position = static_cast<std::size_t>(llhttp_get_error_pos(&parser_) - data);
      if (err == HPE_PAUSED) {
        const Stop stop = std::exchange(stop_, Stop::none);
        if (stop == Stop::last_chunk) {
          phase_ = Phase::trailers;
          scanner_.begin_trailers();
          scan = true;
          section_end = kNotFound;
          offset = position;
          body_ = &body;
          continue;
        }
        if (phase_ != Phase::body && section_end != position) {
          return fail("internal error: llhttp and the head scanner disagree on the end of the head",
                      position);
        }
        if (stop == Stop::headers) {
          phase_ = Phase::body;
          return {State::head_done, position};
        }
        if (stop == Stop::message) {
          if (phase_ == Phase::head) {  // no body, decided in on_headers_complete: head first
            phase_ = Phase::body;
            message_done_pending_ = true;
            return {State::head_done, position};
          }
          end_message();
          return {State::message_done, position};
        }
        return fail("internal error: unexpected pause", position);
      }
      if (err == HPE_PAUSED_UPGRADE) {
        // Reached when parsing continues after an upgrade message (e.g. the upgrade was refused).
        offset = position;
        body_ = &body;
        continue;
      }
      return fail(describe_llhttp_error(err), position);
    }
  }

  bool finish_on_eof() {
    switch (phase_) {
      case Phase::failed:
        return false;
      case Phase::closed:
        return true;
      case Phase::head:
        if (scanner_.bytes_seen() != 0) {
          fail("stream ended inside a message head", 0);
          return false;
        }
        phase_ = Phase::closed;
        return true;
      case Phase::body:
      case Phase::trailers:
        break;
    }
    if (message_done_pending_) {
      phase_ = Phase::closed;
      return true;
    }
    if (llhttp_get_errno(&parser_) == HPE_PAUSED) {
      // Stopped at head_done: let llhttp take its body framing decision before it is told about EOF.
      resume();
      std::vector<std::string_view> none;
      body_ = &none;
      const llhttp_errno_t err = llhttp_execute(&parser_, "", 0);
      body_ = nullptr;
      if (err == HPE_PAUSED && stop_ == Stop::message) {
        stop_ = Stop::none;
        phase_ = Phase::closed;
        return true;
      }
      if (err != HPE_OK) {
        fail(describe_llhttp_error(err), 0);
        return false;
      }
    }
    finishing_ = true;
    const llhttp_errno_t err = llhttp_finish(&parser_);
    finishing_ = false;
    if (err != HPE_OK) {
      fail(err == HPE_INVALID_EOF_STATE ? std::string("stream ended before the message was complete")
                                        : describe_llhttp_error(err),
           0);
      return false;
    }
    phase_ = Phase::closed;
    return true;
  }

 private:
  static const llhttp_settings_t& settings() {
    static const llhttp_settings_t kSettings = [] {
      llhttp_settings_t s;
      llhttp_settings_init(&s);
      s.on_message_begin = &on_message_begin;
      if constexpr (kIsRequest) {
        s.on_method = &on_method;
        s.on_method_complete = &on_method_complete;
        s.on_url = &on_url;
      } else {
        s.on_status = &on_status;
      }
      s.on_header_field = &on_header_field;
      s.on_header_field_complete = &on_header_field_complete;
      s.on_header_value = &on_header_value;
      s.on_header_value_complete = &on_header_value_complete;
      s.on_headers_complete = &on_headers_complete;
      s.on_chunk_header = &on_chunk_header;
      s.on_body = &on_body;
      s.on_message_complete = &on_message_complete;
      return s;
    }();
    return kSettings;
  }

  // Runs `f` on the Engine behind `parser`. No exception may unwind through llhttp's C frames: a failure
  // becomes an llhttp error code, and its description is kept for error().
  template <class F>
  static int guarded(llhttp_t* parser, F&& f) noexcept {
    auto& self = *static_cast<Engine*>(parser->data);
    try {
      return std::forward<F>(f)(self);
    } catch (const std::bad_alloc&) {
      self.callback_error_ = "out of memory while storing the message head";
    } catch (...) {
      self.callback_error_ = "internal error while storing the message head";
    }
    return kCallbackFailed;
  }

  static int on_message_begin(llhttp_t* parser) {
    return guarded(parser, [](Engine& self) {
      self.head_ = Head{};
      self.trailers_.fields.clear();
      self.in_field_name_ = false;
      return kProceed;
    });
  }

  static int on_method(llhttp_t* parser, const char* at, std::size_t length) {
    return guarded(parser, [&](Engine& self) {
      if constexpr (kIsRequest) self.head_.method.append(at, length);
      return kProceed;
    });
  }

  static int on_method_complete(llhttp_t* parser) {
    return guarded(parser, [](Engine& self) {
      // llhttp reads "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" as one unit; refuse it before the head ends.
      if (self.parser_.method != HTTP_PRI) return kProceed;
      self.callback_error_ = "HTTP/2 connection preface (PRI) is not HTTP/1.1";
      return kCallbackFailed;
    });
  }

  static int on_url(llhttp_t* parser, const char* at, std::size_t length) {
    return guarded(parser, [&](Engine& self) {
      if constexpr (kIsRequest) self.head_.target.append(at, length);
      return kProceed;
    });
  }

  static int on_status(llhttp_t* parser, const char* at, std::size_t length) {
    return guarded(parser, [&](Engine& self) {
      if constexpr (!kIsRequest) {
        // RFC 9112 section 4: the reason phrase is HTAB, SP, visible characters and obs-text. llhttp lets
        // other control bytes through (NUL included), which would reach the sandbox as they came.
        const std::string_view reason(at, length);
        const auto control = [](char c) {
          const auto byte = static_cast<unsigned char>(c);  // obs-text (0x80 and up) is allowed
          return (byte < 0x20 && byte != '\t') || byte == 0x7f;
        };
        if (std::any_of(reason.begin(), reason.end(), control)) {
          self.callback_error_ = "a control character in the reason phrase";
          return kCallbackFailed;
        }
        self.head_.reason.append(reason);
      }
      return kProceed;
    });
  }

  // Header fields go to the head until it is complete, and to the trailers after.
  Headers& fields() noexcept { return phase_ == Phase::head ? head_.headers : trailers_; }

  static int on_header_field(llhttp_t* parser, const char* at, std::size_t length) {
    return guarded(parser, [&](Engine& self) {
      Headers& fields = self.fields();
      if (!self.in_field_name_) {
        fields.fields.emplace_back();
        self.in_field_name_ = true;
      }
      fields.fields.back().name.append(at, length);
      return kProceed;
    });
  }

  static int on_header_field_complete(llhttp_t* parser) {
    return guarded(parser, [](Engine& self) {
      // llhttp accepts a line that starts with ":" (no name at all, so no on_header_field); serialized again
      // it would be a field each hop reads its own way (S6).
      if (!self.in_field_name_ || self.fields().fields.back().name.empty()) {
        self.callback_error_ = "a header field with an empty name";
        return kCallbackFailed;
      }
      self.in_field_name_ = false;
      return kProceed;
    });
  }

  static int on_header_value(llhttp_t* parser, const char* at, std::size_t length) {
    return guarded(parser, [&](Engine& self) {
      Headers& fields = self.fields();
      if (fields.fields.empty()) {  // llhttp always reports the name first
        self.callback_error_ = "internal error: header value without a name";
        return kCallbackFailed;
      }
      fields.fields.back().value.append(at, length);
      return kProceed;
    });
  }

  static int on_header_value_complete(llhttp_t* parser) {
    return guarded(parser, [](Engine& self) {
      Headers& fields = self.fields();
      if (!fields.fields.empty()) trim_ows(fields.fields.back().value);
      return kProceed;
    });
  }

  static int on_headers_complete(llhttp_t* parser) {
    return guarded(parser, [&](Engine& self) { return self.headers_complete(); });
  }

  int headers_complete() {
    Head& head = head_;
    head.version_major = parser_.http_major;
    head.version_minor = parser_.http_minor;
    head.keep_alive = llhttp_should_keep_alive(&parser_) != 0;
    const bool chunked = has_flag(parser_, F_CHUNKED);
    std::optional<std::uint64_t> content_length;
    if (has_flag(parser_, F_CONTENT_LENGTH)) content_length = parser_.content_length;
    int verdict = kProceed;
    if constexpr (kIsRequest) {
      head.upgrade = parser_.upgrade != 0;
      const bool connect = parser_.method == HTTP_CONNECT;
      // S6: a CONNECT request has no content (RFC 9110 section 9.3.6); a body here would be read as tunnel
      // bytes by us and as a body by anything that honours the framing headers.
      if (connect && (has_flag(parser_, F_TRANSFER_ENCODING) || (content_length && *content_length > 0))) {
        callback_error_ = "CONNECT request with a body (Content-Length or Transfer-Encoding)";
        return kCallbackFailed;
      }
      // S6: RFC 9112 section 6.1 makes Transfer-Encoding in an HTTP/1.0 message faulty framing; an HTTP/1.0
      // hop behind us may ignore it and read the body differently.
      if (has_flag(parser_, F_TRANSFER_ENCODING) && head.version_major == 1 && head.version_minor == 0) {
        callback_error_ = "Transfer-Encoding in an HTTP/1.0 request";
        return kCallbackFailed;
      }
      // S6: a request's Transfer-Encoding must end in chunked (RFC 9112 section 6.3), and llhttp only says
      // so once it reaches the body, after the head has gone upstream. Refuse it with the head.
      if (has_flag(parser_, F_TRANSFER_ENCODING) && !chunked) {
        callback_error_ = "Transfer-Encoding whose final coding is not chunked";
        return kCallbackFailed;
      }
      // S6: two Host fields let two parsers disagree on the authority (RFC 9112 section 3.2).
      std::size_t hosts = 0;
      for (const Header& field : head.headers.fields) hosts += ascii_iequals(field.name, "Host") ? 1 : 0;
      if (hosts > 1) {
        callback_error_ = "more than one Host header field";
        return kCallbackFailed;
      }
      if (!connect) {
        head.chunked = chunked;
        head.content_length = chunked ? std::nullopt : content_length;
      }
    } else {
      const int status = parser_.status_code;
      head.status = status;
      const bool informational = status >= 100 && status < 200;
      if (status == 101 || (expected_method_ == "CONNECT" && status >= 200 && status < 300)) {
        // A tunnel: whatever follows the head is the other protocol, whatever framing headers say.
        head.upgrade = true;
        verdict = kNoBodyUpgrade;
      } else if (informational || status == 204 || status == 304 || expected_method_ == "HEAD") {
        // RFC 9112 section 6.3: these never have content, even with Content-Length or Transfer-Encoding.
        head.upgrade = false;
        verdict = kNoBody;
      } else {
        head.upgrade = false;
        head.chunked = chunked;
        head.content_length = chunked ? std::nullopt : content_length;
      }
    }
    if (verdict != kProceed) return verdict;
    stop_ = Stop::headers;
    return HPE_PAUSED;
  }

  static int on_chunk_header(llhttp_t* parser) {
    return guarded(parser, [](Engine& self) {
      if (self.parser_.content_length != 0) return kProceed;
      self.stop_ = Stop::last_chunk;  // the trailer section starts after this line
      return static_cast<int>(HPE_PAUSED);
    });
  }

  static int on_body(llhttp_t* parser, const char* at, std::size_t length) {
    return guarded(parser, [&](Engine& self) {
      if (self.body_ == nullptr) {
        self.callback_error_ = "internal error: body bytes outside parse()";
        return kCallbackFailed;
      }
      // llhttp flushes an open body span at the end of every execute, even an empty one.
      if (length != 0) self.body_->emplace_back(at, length);
      return kProceed;
    });
  }

  static int on_message_complete(llhttp_t* parser) {
    return guarded(parser, [](Engine& self) {
      // Final now: a HEAD response's framing, or a Connection field in the trailers, changes it.
      self.head_.keep_alive = llhttp_should_keep_alive(&self.parser_) != 0;
      if (self.finishing_) return kProceed;  // llhttp_finish(): there is nothing left to stop
      self.stop_ = Stop::message;
      return static_cast<int>(HPE_PAUSED);
    });
  }

  void resume() noexcept {
    const llhttp_errno_t paused = llhttp_get_errno(&parser_);
    if (paused == HPE_PAUSED)
      llhttp_resume(&parser_);
    else if (paused == HPE_PAUSED_UPGRADE)
      llhttp_resume_after_upgrade(&parser_);
  }

  void end_message() {
    phase_ = Phase::head;
    scanner_.begin_head();
    if constexpr (!kIsRequest) {
      // An interim (1xx) response leaves the request waiting for its final response.
      if (head_.status >= 200 || head_.status == 101) expected_method_.clear();
    }
  }

  std::string scanner_problem(detail::HeadProblem problem) const {
    std::string message(detail::describe(problem));
    if (problem == detail::HeadProblem::too_large) {
      message += " (max_header_bytes = " + std::to_string(limits_.max_header_bytes) + ")";
    }
    if (phase_ == Phase::trailers) message.insert(0, "trailer section: ");
    return message;
  }

  std::string describe_llhttp_error(llhttp_errno_t err) const {
    if (callback_error_ != nullptr) return callback_error_;
    std::string message = llhttp_errno_name(err);
    const char* reason = llhttp_get_error_reason(&parser_);
    if (reason != nullptr && *reason != '\0') {
      message += ": ";
      message += reason;
    }
    return message;
  }

  Step fail(std::string message, std::size_t consumed) {
    error_ = std::move(message);
    phase_ = Phase::failed;
    return {State::error, consumed};
  }

  llhttp_t parser_{};
  detail::HeadScanner scanner_;
  Limits limits_;
  Phase phase_ = Phase::head;
  Stop stop_ = Stop::none;             // why the last llhttp_execute() paused
  bool message_done_pending_ = false;  // head_done was returned for a message that is already complete
  bool in_field_name_ = false;         // between on_header_field and on_header_field_complete
  bool finishing_ = false;             // inside llhttp_finish()
  std::vector<std::string_view>* body_ = nullptr;  // the caller's body vector, during parse()
  Head head_;
  Headers trailers_;
  std::string expected_method_;  // responses: method of the request being answered
  std::string error_;
  const char* callback_error_ = nullptr;  // a static description set by a failing callback
};

}  // namespace detail

// ---- Headers ----

const std::string* Headers::find(std::string_view name) const noexcept {
  for (const Header& field : fields) {
    if (ascii_iequals(field.name, name)) return &field.value;
  }
  return nullptr;
}

std::size_t Headers::erase(std::string_view name) {
  const auto before = fields.size();
  std::erase_if(fields, [&](const Header& field) { return ascii_iequals(field.name, name); });
  return before - fields.size();
}

void Headers::set(std::string_view name, std::string_view value) {
  for (auto it = fields.begin(); it != fields.end(); ++it) {
    if (!ascii_iequals(it->name, name)) continue;
    it->name.assign(name);
    it->value.assign(value);
    const auto next = it + 1;
    fields.erase(std::remove_if(next, fields.end(),
                                [&](const Header& field) { return ascii_iequals(field.name, name); }),
                 fields.end());
    return;
  }
  fields.push_back(Header{std::string(name), std::string(value)});
}

// ---- RequestParser ----

struct RequestParser::Impl : detail::Engine<RequestHead> {
  using Engine::Engine;
};

RequestParser::RequestParser(Limits limits) : impl_(std::make_unique<Impl>(limits)) {}
RequestParser::~RequestParser() = default;
RequestParser::RequestParser(RequestParser&&) noexcept = default;
RequestParser& RequestParser::operator=(RequestParser&&) noexcept = default;

Step RequestParser::parse(std::string_view input, std::vector<std::string_view>& body) {
  return impl_->parse(input, body);
}
const RequestHead& RequestParser::head() const noexcept { return impl_->head(); }
const Headers& RequestParser::trailers() const noexcept { return impl_->trailers(); }
std::string_view RequestParser::error() const noexcept { return impl_->error(); }

// ---- ResponseParser ----

struct ResponseParser::Impl : detail::Engine<ResponseHead> {
  using Engine::Engine;
};

ResponseParser::ResponseParser(Limits limits) : impl_(std::make_unique<Impl>(limits)) {}
ResponseParser::~ResponseParser() = default;
ResponseParser::ResponseParser(ResponseParser&&) noexcept = default;
ResponseParser& ResponseParser::operator=(ResponseParser&&) noexcept = default;

void ResponseParser::expect_response_to(std::string_view request_method) {
  impl_->expect_response_to(request_method);
}
Step ResponseParser::parse(std::string_view input, std::vector<std::string_view>& body) {
  return impl_->parse(input, body);
}
bool ResponseParser::finish_on_eof() { return impl_->finish_on_eof(); }
const ResponseHead& ResponseParser::head() const noexcept { return impl_->head(); }
const Headers& ResponseParser::trailers() const noexcept { return impl_->trailers(); }
std::string_view ResponseParser::error() const noexcept { return impl_->error(); }

// ---- serialize ----

namespace {

void append_fields(std::string& out, const Headers& headers) {
  for (const Header& field : headers.fields) {
    out += field.name;
    out += ": ";
    out += field.value;
    out += "\r\n";
  }
  out += "\r\n";
}

std::string version_text(int major, int minor) {
  return "HTTP/" + std::to_string(major) + "." + std::to_string(minor);
}

}  // namespace

std::string serialize(const RequestHead& head) {
  std::string out;
  out.reserve(64 + head.target.size() + head.headers.fields.size() * 32);
  out += head.method;
  out += ' ';
  out += head.target;
  out += ' ';
  out += version_text(head.version_major, head.version_minor);
  out += "\r\n";
  append_fields(out, head.headers);
  return out;
}

std::string serialize(const ResponseHead& head) {
  std::string out;
  out.reserve(64 + head.reason.size() + head.headers.fields.size() * 32);
  out += version_text(head.version_major, head.version_minor);
  out += ' ';
  std::string status = std::to_string(head.status);
  if (status.size() < 3) status.insert(0, 3 - status.size(), '0');
  out += status;
  out += ' ';
  out += head.reason;
  out += "\r\n";
  append_fields(out, head.headers);
  return out;
}

}  // namespace airlock::http1
