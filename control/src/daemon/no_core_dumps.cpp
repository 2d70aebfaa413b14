// disable_core_dumps (see no_core_dumps.hpp).
#include "daemon/no_core_dumps.hpp"

#include <sys/prctl.h>
#include <sys/resource.h>

#include <cerrno>
#include <system_error>

#include <fmt/format.h>

namespace airlock::control {

std::string disable_core_dumps() {
  std::string failed;
  const rlimit none{0, 0};
  if (::setrlimit(RLIMIT_CORE, &none) != 0) {
    failed = fmt::format("setrlimit(RLIMIT_CORE, 0): {}", std::generic_category().message(errno));
  }
  if (::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) {
    if (!failed.empty()) failed += "; ";
    failed += fmt::format("prctl(PR_SET_DUMPABLE, 0): {}", std::generic_category().message(errno));
  }
  return failed;
}

}  // namespace airlock::control
