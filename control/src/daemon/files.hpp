// Whole-file reads and writes of the control plane's own files (CA files, a session's initial events).
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <string>
#include <string_view>

namespace airlock::control {

// The file's bytes; throws std::runtime_error naming the file when it cannot be read.
std::string read_file(const std::filesystem::path& path);

// Writes `bytes` with exactly `mode` (the umask does not apply) through a temporary file, fsync and rename,
// so a crash leaves the old file or the new one, never half. Throws std::runtime_error naming the file on
// failure.
void write_file(const std::filesystem::path& path, std::string_view bytes, mode_t mode);

}  // namespace airlock::control
