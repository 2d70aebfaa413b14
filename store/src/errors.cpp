// The store's error category: Errc values as std::error_code.
#include <string>
#include <system_error>

#include "airlock/store/store.hpp"

namespace airlock::store {

namespace {

class Category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "airlock.store"; }
  std::string message(int value) const override {
    switch (static_cast<Errc>(value)) {
      case Errc::not_found:
        return "not found";
      case Errc::conflict:
        return "conflicts with an existing active row";
      case Errc::archived:
        return "archived";
      case Errc::version_conflict:
        return "version conflict";
      case Errc::newer_schema:
        return "database written by a newer Airlock";
      case Errc::wrong_master_key:
        return "wrong or malformed master key";
      case Errc::io:
        return "database or file system error";
      case Errc::disk_full:
        return "the data directory's file system is full";
      case Errc::read_only:
        return "the database is read-only";
    }
    return "unknown store error";
  }
};

}  // namespace

const std::error_category& error_category() noexcept {
  static const Category category;
  return category;
}

std::error_code make_error_code(Errc e) noexcept { return {static_cast<int>(e), error_category()}; }

}  // namespace airlock::store
