// Whole-file writes: the bytes, and exactly the mode asked for, whatever the umask.
#include <doctest/doctest.h>

#include <sys/stat.h>

#include "airlock/testing/temp_dir.hpp"
#include "daemon/files.hpp"

namespace airlock::control {

TEST_CASE("files: write_file replaces the file with exactly the mode given, whatever the umask") {
  testing::TempDir dir;
  const auto file = dir.path() / "ca-bundle.pem";
  const mode_t previous = ::umask(077);
  write_file(file, "first", 0644);
  write_file(file, "second", 0644);
  ::umask(previous);
  struct stat info {};
  REQUIRE(::stat(file.c_str(), &info) == 0);
  CHECK((info.st_mode & 07777) == 0644);
  CHECK(read_file(file) == "second");
  CHECK_FALSE(std::filesystem::exists(dir.path() / "ca-bundle.pem.tmp"));
}

}  // namespace airlock::control
