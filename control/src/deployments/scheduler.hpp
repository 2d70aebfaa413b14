// The deployment scheduler: fires each active deployment's cron schedule at its nominal instants plus the
// deployment's jitter, by one timer on the control io_context.
//
// Every armed deployment has one pending fire, kept in a set ordered by due time (nominal + jitter); the
// loop sleeps on a single steady_timer until the earliest one is due, so deployments cost nothing between
// fires. The store reports every deployment write (Store::on_deployment_changed); the scheduler notes the
// id, wakes the loop, and re-reads that one deployment from its own turn of the event loop, after the
// request that wrote it has committed or rolled back: create, update, pause, unpause and archive re-arm
// (or disarm) it at once.
//
// Which fire is pending (CRON.md "Fires, jitter, downtime"): the first nominal instant strictly after the
// deployment's fire_after (now at create, at a schedule change and at unpause: no backfill; each scheduled
// run moves it to its nominal instant). If that fire is already overdue (due <= now: the daemon was down),
// only the most recent overdue fire runs, and only if it is at most catch_up_window old; the others are
// skipped and logged.
//
// A fire, in order: re-read the deployment (still active, same schedule?); Store::begin_run commits the
// run row for (deployment, nominal instant) on its own, which the store's UNIQUE key makes the one and
// only run of that fire; then finish_run creates the session and records the outcome in one transaction
// (auto-pausing on the errors API.md §5 lists). start() first finishes runs a crash left unfinished: it
// creates their session if the fire is still within the catch-up window and the deployment still
// active, else records unknown_error.
//
// Threading: everything runs on the store's thread (the control io_context's); not synchronised. No code
// on that thread may hold a store transaction open across a suspension point: a fire's run row must
// commit on its own, not join someone else's transaction.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>

#include <boost/asio/awaitable.hpp>

#include "airlock/proxy/histogram.hpp"
#include "airlock/store/store.hpp"
#include "deployments/deployments.hpp"
#include "daemon/log.hpp"

namespace airlock::control {

// Crash points a test can stop the daemon at (AIRLOCK_CRASH_AT_FOR_TEST).
inline constexpr std::string_view kCrashAfterRunRow = "after_run_row";          // run row committed, no session yet
inline constexpr std::string_view kCrashAfterRunFinished = "after_run_finished";  // run and session committed

struct SchedulerOptions {
  store::Clock clock;                           // "now"; the daemon's clock, or a test's
  std::chrono::seconds max_jitter{60};          // scheduler.max_jitter_seconds (0: no jitter)
  std::chrono::seconds catch_up_window{900};    // scheduler.catch_up_window_seconds
  // Called at each crash point with its name; empty outside crash tests.
  std::function<void(std::string_view point)> crash_point_for_test{};
};

// What the scheduler has done since the start (GET /metrics).
struct SchedulerStats {
  std::uint64_t fires = 0;      // fires that recorded a run
  std::uint64_t catch_ups = 0;  // missed fires run late at a start, within the catch-up window
  std::uint64_t skipped = 0;    // missed fires not run (past the window, or not the most recent)
  proxy::HistogramSnapshot fire_lag;  // how late each fire ran past its due time (nominal + jitter)
};

class Scheduler {
 public:
  using TimePoint = std::chrono::system_clock::time_point;

  // Registers with the store's change notifications; the scheduler may be destroyed before the store.
  Scheduler(store::Store& store, SessionRuntime& runtime, SchedulerOptions options, Logger& log);
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Finishes the runs a crash left unfinished, then arms every active scheduled deployment. Once, before
  // run() or run_due().
  void start();

  // Re-arms the deployments that changed, then runs every fire due at clock(), in due order. Returns
  // when the next fire is due. What run() does on each wake-up; tests call it after moving their clock.
  std::optional<TimePoint> run_due();

  // The loop on the calling coroutine's executor: run_due, one fire at a time (yielding to the other
  // work of the io_context between fires), then sleep until the next due fire, a change, or stop().
  boost::asio::awaitable<void> run();
  void stop();

  // Observers, for tests and the log.
  std::optional<TimePoint> next_due() const;
  std::size_t armed() const noexcept { return pending_.size(); }
  SchedulerStats stats() const {
    SchedulerStats out = stats_;
    out.fire_lag = fire_lag_.snapshot();
    return out;
  }
  // A deployment's pending fire, if it is armed: its nominal instant, and when it is due (+ jitter).
  std::optional<std::chrono::sys_seconds> pending_fire(const std::string& deployment_id) const;
  std::optional<TimePoint> pending_due(const std::string& deployment_id) const;

 private:
  struct Pending;  // the parsed schedule and zone, the jitter, the nominal instant and when it is due
  // What the store's callback writes into; shared so that a callback after the scheduler is gone is a no-op.
  struct Inbox;

  void process_changes();
  void reload(const std::string& id);
  void disarm(const std::string& id);
  void arm(const store::Deployment& deployment, TimePoint now);
  void enqueue(const std::string& id, Pending pending);
  bool fire_next_due();
  void fire(const std::string& id, const Pending& pending);
  void recover_unfinished_runs();
  void crash_point(std::string_view name);

  store::Store& store_;
  SessionRuntime& runtime_;
  SchedulerOptions options_;
  Logger& log_;
  ZoneCache zones_;
  std::map<std::string, std::unique_ptr<Pending>> pending_;
  std::set<std::pair<TimePoint, std::string>> queue_;  // (due, deployment id): the earliest first
  std::shared_ptr<Inbox> inbox_;
  bool stopped_ = false;
  SchedulerStats stats_;
  proxy::LatencyHistogram fire_lag_;
};

// The test seams of `airlock serve`, off unless their environment variable is set, and then announced
// with a warning in the log:
//   AIRLOCK_CLOCK_OFFSET_SECONDS_FOR_TEST=N   the daemon's clock (store timestamps, schedules) runs N
//                                             seconds (may be negative) ahead of the system clock;
//   AIRLOCK_CRASH_AT_FOR_TEST=<point>         the daemon _exit(86)s when it reaches that crash point.
// Throws std::runtime_error naming the variable for a malformed value or an unknown point.
struct TestSeams {
  store::Clock clock;
  std::function<void(std::string_view point)> crash_point;
};
TestSeams test_seams_from_environment(Logger& log);

}  // namespace airlock::control
