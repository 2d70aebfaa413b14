// SecretBytes: a move-only byte buffer for private-key material inside certs (the CA key's encoding on
// its way to be sealed, or just unsealed on its way in). Its bytes are wiped with OPENSSL_cleanse when it
// is destroyed or assigned over. It has no operator<< and no conversion to a string, so it cannot be
// formatted into a log line or a message.
#pragma once

#include <cstddef>
#include <memory>
#include <span>

namespace airlock::certs {

class SecretBytes {
 public:
  SecretBytes() noexcept = default;
  // `size` zero bytes, to fill through data().
  explicit SecretBytes(std::size_t size);
  explicit SecretBytes(std::span<const unsigned char> bytes);

  SecretBytes(SecretBytes&& other) noexcept;
  SecretBytes& operator=(SecretBytes&& other) noexcept;
  SecretBytes(const SecretBytes&) = delete;
  SecretBytes& operator=(const SecretBytes&) = delete;
  ~SecretBytes();

  std::span<const unsigned char> bytes() const noexcept { return {data_.get(), size_}; }
  unsigned char* data() noexcept { return data_.get(); }
  std::size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }

 private:
  void wipe() noexcept;

  std::unique_ptr<unsigned char[]> data_;
  std::size_t size_ = 0;
};

}  // namespace airlock::certs
