// SecretValue: the only type that holds a plaintext secret (a credential's value, the master key).
//
// Bytes live in sodium_malloc'ed memory (guard pages, mlock'ed where the system allows), are zeroed when
// the value is destroyed, and the type is move-only. It has no operator<<, and its fmt formatter prints
// "[redacted]", so a secret cannot reach a log line by accident. Read it through view() at the one place
// that needs the bytes (sealing, and later the proxy's substitution).
#pragma once

#include <cstddef>
#include <span>
#include <string_view>

#include <fmt/format.h>

namespace airlock::store {

class SecretValue {
 public:
  SecretValue() noexcept = default;
  explicit SecretValue(std::string_view bytes);
  explicit SecretValue(std::span<const unsigned char> bytes);
  // Uninitialised storage of `size` bytes, for filling through data().
  static SecretValue with_size(std::size_t size);

  SecretValue(SecretValue&& other) noexcept;
  SecretValue& operator=(SecretValue&& other) noexcept;
  SecretValue(const SecretValue&) = delete;
  SecretValue& operator=(const SecretValue&) = delete;
  ~SecretValue();

  std::string_view view() const noexcept { return {static_cast<const char*>(data_), size_}; }
  std::span<const unsigned char> bytes() const noexcept { return {static_cast<const unsigned char*>(data_), size_}; }
  unsigned char* data() noexcept { return static_cast<unsigned char*>(data_); }
  std::size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }

 private:
  void* data_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace airlock::store

template <>
struct fmt::formatter<airlock::store::SecretValue> : fmt::formatter<std::string_view> {
  template <class Context>
  auto format(const airlock::store::SecretValue&, Context& ctx) const {
    return fmt::formatter<std::string_view>::format("[redacted]", ctx);
  }
};
