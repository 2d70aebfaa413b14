// SecretValue: plaintext held in sodium_malloc'ed memory, zeroed by sodium_free (see secret.hpp).
#include "airlock/store/secret.hpp"

#include <cstring>
#include <new>
#include <utility>

#include <sodium.h>

#include "seal.hpp"

namespace airlock::store {

SecretValue SecretValue::with_size(std::size_t size) {
  SecretValue value;
  if (size == 0) return value;  // nothing to protect; view() of an empty value is ""
  require_sodium();             // sodium_malloc needs the page size sodium_init reads
  value.data_ = sodium_malloc(size);
  if (value.data_ == nullptr) throw std::bad_alloc();
  value.size_ = size;
  return value;
}

SecretValue::SecretValue(std::string_view bytes) : SecretValue(with_size(bytes.size())) {
  if (!bytes.empty()) std::memcpy(data_, bytes.data(), bytes.size());
}

SecretValue::SecretValue(std::span<const unsigned char> bytes) : SecretValue(with_size(bytes.size())) {
  if (!bytes.empty()) std::memcpy(data_, bytes.data(), bytes.size());
}

SecretValue::SecretValue(SecretValue&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)) {}

SecretValue& SecretValue::operator=(SecretValue&& other) noexcept {
  if (this != &other) {
    SecretValue old{std::move(*this)};  // freed (and zeroed) at the end of this scope
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

SecretValue::~SecretValue() {
  if (data_ != nullptr) sodium_free(data_);  // zeroes the bytes before releasing the guarded pages
}

}  // namespace airlock::store
