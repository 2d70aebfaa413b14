// The log line formats: text as it always was; json with the message whole and its key=value words as fields.
#include "daemon/log.hpp"

#include <doctest/doctest.h>

namespace airlock::control {

TEST_CASE("log: a text line is time, level and message") {
  CHECK(format_log_line(LogFormat::text, "2026-12-06T10:00:00.000000Z", LogLevel::warn, "scheduler: late key=1") ==
        "2026-12-06T10:00:00.000000Z warn scheduler: late key=1\n");
}

TEST_CASE("log: a json line carries the message and each key=value word as a field") {
  CHECK(format_log_line(LogFormat::json_lines, "2026-12-06T10:00:00.000000Z", LogLevel::info,
                        "request method=GET path=/v1/vaults status=200 duration_ms=0.42 request_id=req_1") ==
        R"({"time":"2026-12-06T10:00:00.000000Z","level":"info",)"
        R"("msg":"request method=GET path=/v1/vaults status=200 duration_ms=0.42 request_id=req_1",)"
        R"("method":"GET","path":"/v1/vaults","status":"200","duration_ms":"0.42","request_id":"req_1"})"
        "\n");
}

TEST_CASE("log: json keeps the first of a repeated key, never overrides time, level or msg, and escapes") {
  CHECK(format_log_line(LogFormat::json_lines, "T", LogLevel::error,
                        "a=1 a=2 level=fake msg=x time=y Bad=z =v k= \"q\"=w quote=\"x\\ny\" bytes=\xff") ==
        R"({"time":"T","level":"error","msg":"a=1 a=2 level=fake msg=x time=y Bad=z =v k= \"q\"=w quote=\"x\\ny\" )"
        "bytes=\xef\xbf\xbd"
        R"(","a":"1","k":"","quote":"\"x\\ny\"","bytes":")"
        "\xef\xbf\xbd"
        R"("})"
        "\n");
}

}  // namespace airlock::control
