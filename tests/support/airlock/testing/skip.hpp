// A test that cannot run on this machine (a tool missing, no root, no namespaces) must not pass by
// accident. AIRLOCK_SKIP_UNLESS(condition, why) returns from the test when `condition` is false:
//   - in CI (the environment has CI=true) that is a failure, saying why, so a missing install step shows;
//   - elsewhere the test prints "[skipped] <why>", which ctest reports as skipped, not passed
//     (SKIP_REGULAR_EXPRESSION in airlock_area, CMakeLists.txt).
#pragma once

#include <cstdlib>
#include <string_view>

#include <doctest/doctest.h>

namespace airlock::testing {

inline bool in_ci() {
  const char* ci = std::getenv("CI");
  return ci != nullptr && std::string_view(ci) == "true";
}

}  // namespace airlock::testing

#define AIRLOCK_SKIP_UNLESS(condition, why)                            \
  do {                                                                 \
    if (!(condition)) {                                                \
      if (::airlock::testing::in_ci()) {                               \
        FAIL_CHECK("cannot run here (CI=true makes that a failure): " << why); \
      } else {                                                         \
        MESSAGE("[skipped] " << why);                                  \
      }                                                                \
      return;                                                          \
    }                                                                  \
  } while (false)
