// StoreError: how the store throws (only from open, load_master_key and Transaction's constructor).
// It is a std::system_error whose what() is exactly the message given: the store's messages already say
// what failed and what to do, so the category's generic text is not appended as std::system_error would.
#pragma once

#include <stdexcept>
#include <string>
#include <system_error>

namespace airlock::store {

class StoreError final : public std::system_error {
 public:
  StoreError(std::error_code code, const std::string& message) : std::system_error(code), message_(message) {}
  const char* what() const noexcept override { return message_.what(); }

 private:
  std::runtime_error message_;  // copying an exception must not throw; runtime_error shares its string
};

}  // namespace airlock::store
