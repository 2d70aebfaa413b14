// TestClock: a clock the test drives, starting at a fixed instant, for code that takes its time from a
// clock function (the store's, the scheduler's). Shared by every area's unit tests.
#pragma once

#include <chrono>
#include <functional>

namespace airlock::testing {

// 2026-11-27T02:21:22.123456Z, a fixed starting instant.
inline std::chrono::system_clock::time_point test_epoch() {
  using namespace std::chrono;
  return sys_days{year{2026} / November / 27} + 2h + 21min + 22s + 123456us;
}

// Returns `now` until the test moves it; tests that need ties simply leave it alone.
struct TestClock {
  std::chrono::system_clock::time_point now = test_epoch();
  std::function<std::chrono::system_clock::time_point()> clock() {
    return [this] { return now; };
  }
};

}  // namespace airlock::testing
