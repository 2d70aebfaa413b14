// load_master_key: the 32-byte key every sealed value depends on.
//
// Sources, in order: AIRLOCK_MASTER_KEY (64 hex characters, or base64 of 32 bytes, standard or URL-safe,
// padded or not); else DATA_DIR/master.key, 64 lowercase hex characters and a newline. A missing file is
// generated: created with O_CREAT|O_EXCL and mode 0600 (so two first starts cannot both write one), then
// fsync'ed together with its directory, since losing the key loses every secret sealed under it. The key
// and its text form only ever live in sodium_malloc'ed memory; no message contains them.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <optional>
#include <string>
#include <system_error>
#include <utility>

#include <fmt/format.h>
#include <sodium.h>

#include "airlock/store/store.hpp"
#include "errors.hpp"
#include "seal.hpp"

namespace airlock::store {

namespace {

constexpr std::string_view kEnvName = "AIRLOCK_MASTER_KEY";
constexpr std::string_view kFileName = "master.key";
constexpr std::size_t kHexChars = 2 * kMasterKeyBytes;
// Longer than any acceptable file (64 hex + whitespace); anything bigger is not a key file.
constexpr std::size_t kMaxFileBytes = 128;

class FileDescriptor {
 public:
  explicit FileDescriptor(int fd) noexcept : fd_(fd) {}
  ~FileDescriptor() {
    if (fd_ >= 0) ::close(fd_);
  }
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  int get() const noexcept { return fd_; }
  // close(2) reports write-back errors on some file systems, so the writer checks it.
  int close() noexcept { return ::close(std::exchange(fd_, -1)); }

 private:
  int fd_;
};

[[noreturn]] void throw_errno(int error, std::string_view what, const std::filesystem::path& path) {
  throw StoreError(Errc::io,
                   fmt::format("cannot {} {}: {}", what, path.string(), std::system_category().message(error)));
}

std::string_view trim(std::string_view text) {
  constexpr std::string_view kSpace = " \t\r\n";
  const auto first = text.find_first_not_of(kSpace);
  if (first == std::string_view::npos) return {};
  return text.substr(first, text.find_last_not_of(kSpace) - first + 1);
}

std::optional<SecretValue> from_hex(std::string_view text) {
  if (text.size() != kHexChars) return std::nullopt;
  auto key = SecretValue::with_size(kMasterKeyBytes);
  std::size_t length = 0;
  const char* end = nullptr;
  if (sodium_hex2bin(key.data(), key.size(), text.data(), text.size(), nullptr, &length, &end) != 0 ||
      length != kMasterKeyBytes || end != text.data() + text.size()) {
    return std::nullopt;
  }
  return key;
}

std::optional<SecretValue> from_base64(std::string_view text) {
  for (const int variant : {sodium_base64_VARIANT_ORIGINAL, sodium_base64_VARIANT_ORIGINAL_NO_PADDING,
                            sodium_base64_VARIANT_URLSAFE, sodium_base64_VARIANT_URLSAFE_NO_PADDING}) {
    auto key = SecretValue::with_size(kMasterKeyBytes);
    std::size_t length = 0;
    const char* end = nullptr;
    if (sodium_base642bin(key.data(), key.size(), text.data(), text.size(), nullptr, &length, &end, variant) == 0 &&
        length == kMasterKeyBytes && end == text.data() + text.size()) {
      return key;
    }
  }
  return std::nullopt;
}

MasterKey read_key_file(int fd, const std::filesystem::path& path) {
  struct stat info {};
  // The file should be readable by its owner only; tighten it rather than refuse to start. A file we
  // may not chmod (a read-only secret mount) is used as it is.
  if (::fstat(fd, &info) == 0 && (info.st_mode & 077) != 0) (void)::fchmod(fd, 0600);
  auto text = SecretValue::with_size(kMaxFileBytes + 1);
  std::size_t size = 0;
  while (size < text.size()) {
    const ssize_t got = ::read(fd, text.data() + size, text.size() - size);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) throw_errno(errno, "read the master key file", path);
    if (got == 0) break;
    size += static_cast<std::size_t>(got);
  }
  std::optional<SecretValue> key;
  if (size <= kMaxFileBytes) key = from_hex(trim(text.view().substr(0, size)));
  if (!key) {
    throw StoreError(
        Errc::wrong_master_key,
        fmt::format("{} is not a valid master key file: expected 64 hex characters followed by a newline. Restore "
                    "the original file (or set AIRLOCK_MASTER_KEY); delete it only if no database was ever created "
                    "with it, since every sealed secret depends on it",
                    path.string()));
  }
  return MasterKey{std::move(*key), false, path.string()};
}

// Writes the key as hex and a newline, then fsyncs; returns 0 or the errno of the failure.
int write_key_text(int fd, const SecretValue& key) {
  auto text = SecretValue::with_size(kHexChars + 1);
  sodium_bin2hex(reinterpret_cast<char*>(text.data()), text.size(), key.bytes().data(), key.size());  // + NUL
  text.data()[kHexChars] = '\n';
  std::size_t written = 0;
  while (written < text.size()) {
    const ssize_t put = ::write(fd, text.data() + written, text.size() - written);
    if (put < 0 && errno == EINTR) continue;
    if (put < 0) return errno;
    written += static_cast<std::size_t>(put);
  }
  return ::fsync(fd) == 0 ? 0 : errno;
}

void sync_directory(const std::filesystem::path& dir) {
  FileDescriptor fd{::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
  if (fd.get() < 0) throw_errno(errno, "open the data directory", dir);
  if (::fsync(fd.get()) != 0) throw_errno(errno, "sync the data directory", dir);
}

}  // namespace

MasterKey load_master_key(const std::filesystem::path& data_dir, std::string_view env_value) {
  require_sodium();
  if (const auto value = trim(env_value); !value.empty()) {
    auto key = from_hex(value);
    if (!key) key = from_base64(value);
    if (!key) {
      throw StoreError(
          Errc::wrong_master_key,
          fmt::format("{} is not a valid master key ({} characters): expected 64 hex characters or the base64 of "
                      "32 bytes, e.g. the output of `openssl rand -hex 32`",
                      kEnvName, value.size()));
    }
    return MasterKey{std::move(*key), false, std::string{kEnvName}};
  }

  const auto path = data_dir / kFileName;
  // Two passes at most: if another process creates the file between our read and our O_EXCL create, the
  // second pass reads the key it wrote.
  for (int attempt = 0; attempt < 2; ++attempt) {
    FileDescriptor existing{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
    if (existing.get() >= 0) return read_key_file(existing.get(), path);
    if (errno != ENOENT) throw_errno(errno, "open the master key file", path);

    FileDescriptor created{::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)};
    if (created.get() < 0) {
      if (errno == EEXIST) continue;
      throw_errno(errno, "create the master key file", path);
    }
    auto key = SecretValue::with_size(kMasterKeyBytes);
    randombytes_buf(key.data(), key.size());
    int error = write_key_text(created.get(), key);
    if (created.close() != 0 && error == 0) error = errno;
    if (error != 0) {
      ::unlink(path.c_str());  // a partial key file would only stop the next start
      throw_errno(error, "write the master key file", path);
    }
    sync_directory(data_dir);
    return MasterKey{std::move(key), true, path.string()};
  }
  throw StoreError(Errc::io, fmt::format("cannot read or create the master key file {}", path.string()));
}

}  // namespace airlock::store
