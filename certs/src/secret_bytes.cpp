// SecretBytes: key material wiped with OPENSSL_cleanse when released (see secret_bytes.hpp).
#include "airlock/certs/secret_bytes.hpp"

#include <algorithm>
#include <utility>

#include <openssl/crypto.h>

namespace airlock::certs {

SecretBytes::SecretBytes(std::size_t size) : data_(std::make_unique<unsigned char[]>(size)), size_(size) {}

SecretBytes::SecretBytes(std::span<const unsigned char> bytes) : SecretBytes(bytes.size()) {
  std::copy(bytes.begin(), bytes.end(), data_.get());
}

SecretBytes::SecretBytes(SecretBytes&& other) noexcept
    : data_(std::move(other.data_)), size_(std::exchange(other.size_, 0)) {}

SecretBytes& SecretBytes::operator=(SecretBytes&& other) noexcept {
  if (this != &other) {
    wipe();
    data_ = std::move(other.data_);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

SecretBytes::~SecretBytes() { wipe(); }

void SecretBytes::wipe() noexcept {
  if (data_ && size_ > 0) OPENSSL_cleanse(data_.get(), size_);
  data_.reset();
  size_ = 0;
}

}  // namespace airlock::certs
