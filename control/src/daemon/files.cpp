// Whole-file reads and writes; see files.hpp.
#include "daemon/files.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <stdexcept>
#include <system_error>

#include <fmt/format.h>

namespace airlock::control {

namespace fs = std::filesystem;

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(fmt::format("cannot read {}", path.string()));
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

void write_file(const fs::path& path, std::string_view bytes, mode_t mode) {
  fs::path temporary = path;
  temporary += ".tmp";
  int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) {
    throw std::runtime_error(
        fmt::format("cannot create {}: {}", temporary.string(), std::generic_category().message(errno)));
  }
  // Exactly `mode`, whatever the umask: a sandbox that is not root must be able to read the CA bundle.
  bool ok = ::fchmod(fd, mode) == 0 && ::write(fd, bytes.data(), bytes.size()) == static_cast<ssize_t>(bytes.size()) &&
            ::fsync(fd) == 0;
  ::close(fd);
  if (!ok || ::rename(temporary.c_str(), path.c_str()) != 0) {
    throw std::runtime_error(fmt::format("cannot write {}: {}", path.string(), std::generic_category().message(errno)));
  }
}

}  // namespace airlock::control
