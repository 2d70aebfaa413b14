// printable(): bytes a client sent, made fit to quote in a message.
//
// Error messages quote what the request carried (ids in the path, query values, header values such as
// Idempotency-Key, keys of the JSON body), and those bytes may be anything: invalid UTF-8 makes the JSON
// serializer throw, and a NUL ends the C string of std::exception::what(). printable() keeps valid UTF-8
// as it is and writes each other byte, and each control character (C0, DEL, C1), as \xHH (lowercase hex).
// The result is valid UTF-8 without control characters, and rendering it again changes nothing, so a
// message that quotes an already rendered piece stays as it was.
#pragma once

#include <string>
#include <string_view>

namespace airlock::control {

std::string printable(std::string_view bytes);

}  // namespace airlock::control
