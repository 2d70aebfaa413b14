// The deployment scheduler; see scheduler.hpp for the model (one timer over an ordered set of pending
// fires, re-armed from the store's change notifications) and the fire sequence.
#include "deployments/scheduler.hpp"

#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <stdexcept>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <fmt/format.h>

#include "airlock/cron/cron.hpp"
#include "api/resources.hpp"

namespace airlock::control {

namespace asio = boost::asio;

namespace {

using namespace std::chrono_literals;

// The loop re-checks the head of its queue at least this often, so a wall clock that jumps (a suspended
// machine, an NTP step) delays a fire by at most this much. One wake-up a minute is all it costs.
constexpr std::chrono::seconds kMaxSleep{60};
// Missed fires older than the catch-up window are counted for the log up to this many (each count is a
// next_fire call, about 2 us: a long outage must not make the start slow).
constexpr std::size_t kMaxCountedSkips = 1000;

Scheduler::TimePoint to_time_point(date::sys_seconds t) {
  return std::chrono::time_point_cast<Scheduler::TimePoint::duration>(t);
}

cron::Instant to_instant(Scheduler::TimePoint t) { return std::chrono::floor<std::chrono::microseconds>(t); }

std::optional<cron::Instant> parse_stored_time(const std::string& text) { return cron::parse_rfc3339(text); }

std::string describe(const store::DeploymentRun& run) {
  if (run.session_id) return fmt::format("session {}", *run.session_id);
  return fmt::format("error {}", run.error_type.value_or("?"));
}

}  // namespace

struct Scheduler::Pending {
  store::CronSpec spec;
  cron::Schedule schedule;
  const cron::Zone* zone;  // owned by zones_, which outlives every Pending
  std::chrono::seconds jitter;
  date::sys_seconds nominal;
  TimePoint due;
};

struct Scheduler::Inbox {
  std::set<std::string> changed;         // deployments to re-read
  asio::steady_timer* timer = nullptr;   // the loop's timer while run() is active
};

Scheduler::Scheduler(store::Store& store, SessionRuntime& runtime, SchedulerOptions options, Logger& log)
    : store_(store), runtime_(runtime), options_(std::move(options)), log_(log), inbox_(std::make_shared<Inbox>()) {
  if (!options_.clock) options_.clock = [] { return std::chrono::system_clock::now(); };
  std::weak_ptr<Inbox> inbox = inbox_;
  store_.on_deployment_changed([inbox](const std::string& id) {
    if (auto open = inbox.lock()) {
      open->changed.insert(id);
      if (open->timer != nullptr) open->timer->cancel();  // wake the loop; it re-reads after this request
    }
  });
}

Scheduler::~Scheduler() = default;

void Scheduler::start() {
  recover_unfinished_runs();
  auto deployments = store_.scheduled_deployments();
  if (!deployments) {
    log_.error("scheduler: cannot read the scheduled deployments: {}", store_.last_error());
    return;
  }
  const TimePoint now = options_.clock();
  for (const store::Deployment& deployment : deployments.value()) arm(deployment, now);
  inbox_->changed.clear();  // everything was just read
  log_.info("scheduler: {} scheduled deployment{} armed", pending_.size(), pending_.size() == 1 ? "" : "s");
}

std::optional<Scheduler::TimePoint> Scheduler::run_due() {
  while (fire_next_due()) {
  }
  process_changes();
  return next_due();
}

asio::awaitable<void> Scheduler::run() {
  auto executor = co_await asio::this_coro::executor;
  asio::steady_timer timer(executor);
  // The inbox outlives this frame's locals even if the frame is destroyed after the scheduler.
  struct Detach {
    std::shared_ptr<Inbox> inbox;
    ~Detach() { inbox->timer = nullptr; }
  } detach{inbox_};
  inbox_->timer = &timer;
  while (!stopped_) {
    if (fire_next_due()) {
      co_await asio::post(executor, asio::use_awaitable);  // let requests in between two fires
      continue;
    }
    process_changes();
    if (stopped_) break;
    std::chrono::steady_clock::duration wait = kMaxSleep;
    if (auto next = next_due()) wait = std::clamp<std::chrono::steady_clock::duration>(*next - options_.clock(), 0s, kMaxSleep);
    timer.expires_after(wait);
    (void)co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));  // cancelled by a change or stop()
  }
}

void Scheduler::stop() {
  stopped_ = true;
  if (inbox_->timer != nullptr) inbox_->timer->cancel();
}

std::optional<Scheduler::TimePoint> Scheduler::next_due() const {
  if (queue_.empty()) return std::nullopt;
  return queue_.begin()->first;
}

std::optional<std::chrono::sys_seconds> Scheduler::pending_fire(const std::string& deployment_id) const {
  auto it = pending_.find(deployment_id);
  if (it == pending_.end()) return std::nullopt;
  return it->second->nominal;
}

std::optional<Scheduler::TimePoint> Scheduler::pending_due(const std::string& deployment_id) const {
  auto it = pending_.find(deployment_id);
  if (it == pending_.end()) return std::nullopt;
  return it->second->due;
}

void Scheduler::process_changes() {
  while (!inbox_->changed.empty()) {
    std::string id = std::move(inbox_->changed.extract(inbox_->changed.begin()).value());
    reload(id);
  }
}

void Scheduler::reload(const std::string& id) {
  disarm(id);
  auto deployment = store_.get_deployment(id);
  if (!deployment) {
    if (deployment.error() != store::Errc::not_found) {
      log_.error("scheduler: cannot read deployment {}: {}", id, store_.last_error());
    }
    return;
  }
  arm(deployment.value(), options_.clock());
}

void Scheduler::disarm(const std::string& id) {
  auto it = pending_.find(id);
  if (it == pending_.end()) return;
  queue_.erase({it->second->due, id});
  pending_.erase(it);
}

void Scheduler::enqueue(const std::string& id, Pending pending) {
  disarm(id);
  queue_.emplace(pending.due, id);
  pending_.insert_or_assign(id, std::make_unique<Pending>(std::move(pending)));
}

void Scheduler::arm(const store::Deployment& deployment, TimePoint now) {
  if (deployment.archived_at || deployment.status != "active" || !deployment.schedule) return;
  const store::CronSpec& spec = *deployment.schedule;
  auto schedule = cron::parse(spec.expression);
  const cron::Zone* zone = zones_.find(spec.timezone);
  if (!schedule || zone == nullptr) {
    // Both were valid when stored; only a tz database update can get here.
    log_.error("scheduler: deployment {} cannot fire: {}", deployment.id,
               schedule ? fmt::format("unknown time zone \"{}\"", spec.timezone) : schedule.error());
    return;
  }
  const std::chrono::seconds jitter = cron::jitter_for(deployment.id, options_.max_jitter);
  const cron::Instant cursor = parse_stored_time(deployment.fire_after).value_or(to_instant(now));
  auto due_of = [&](date::sys_seconds nominal) { return to_time_point(nominal) + jitter; };
  auto next_after = [&](cron::Instant from) { return cron::next_fire(*schedule, *zone, from); };
  auto pending = [&](date::sys_seconds nominal) { return Pending{spec, *schedule, zone, jitter, nominal, due_of(nominal)}; };

  const auto first = next_after(cursor);
  if (!first) {
    log_.warn("scheduler: deployment {} ({} in {}) has no fire in the next {} days", deployment.id, spec.expression,
              spec.timezone, cron::kSearchHorizon.count());
    return;
  }
  if (due_of(*first) > now) {
    enqueue(deployment.id, pending(*first));
    return;
  }

  // Overdue: these fires fell due while the daemon was not running. Only the most recent one runs, and
  // only if its nominal instant is within the catch-up window.
  const TimePoint window_start = now - options_.catch_up_window;
  std::optional<date::sys_seconds> latest;
  std::size_t in_window = 0;
  for (auto candidate = next_after(std::max(cursor, to_instant(window_start) - 1us));
       candidate && due_of(*candidate) <= now; candidate = next_after(cron::Instant(*candidate))) {
    latest = candidate;
    ++in_window;
  }
  std::size_t older = 0;
  std::optional<date::sys_seconds> last_older;
  for (auto candidate = first; candidate && to_time_point(*candidate) < window_start && older < kMaxCountedSkips;
       candidate = next_after(cron::Instant(*candidate))) {
    last_older = candidate;
    ++older;
  }
  stats_.skipped += older + (in_window > 1 ? in_window - 1 : 0);
  if (older > 0) {
    log_.warn("scheduler: deployment {} skips {}{} missed fire{} from {} to {}: older than the catch-up window of {} s",
              deployment.id, older == kMaxCountedSkips ? "at least " : "", older, older == 1 ? "" : "s",
              cron::format_rfc3339(*first), cron::format_rfc3339(*last_older), options_.catch_up_window.count());
  }
  if (in_window > 1) {
    log_.warn("scheduler: deployment {} skips {} missed fire{} within the catch-up window; only the most recent runs",
              deployment.id, in_window - 1, in_window == 2 ? "" : "s");
  }
  if (latest) {
    ++stats_.catch_ups;
    log_.info("scheduler: deployment {} catches up its missed fire of {}", deployment.id, cron::format_rfc3339(*latest));
    enqueue(deployment.id, pending(*latest));
    return;
  }
  // Nothing to catch up: the next fire that is not overdue (fire + jitter > now).
  if (auto next = next_after(std::max(cursor, to_instant(now - jitter)))) enqueue(deployment.id, pending(*next));
}

bool Scheduler::fire_next_due() {
  process_changes();
  if (stopped_ || queue_.empty() || queue_.begin()->first > options_.clock()) return false;
  const std::string id = queue_.begin()->second;
  const Pending pending = *pending_.at(id);
  disarm(id);
  fire(id, pending);
  inbox_->changed.erase(id);  // reloaded just now
  return true;
}

void Scheduler::fire(const std::string& id, const Pending& pending) {
  const std::string nominal = cron::format_rfc3339(pending.nominal);
  auto current = store_.get_deployment(id);
  if (!current) {
    if (current.error() != store::Errc::not_found) log_.error("scheduler: cannot read deployment {}: {}", id, store_.last_error());
    return;
  }
  const store::Deployment& deployment = current.value();
  if (deployment.archived_at || deployment.status != "active" || deployment.schedule != pending.spec) {
    reload(id);  // it changed after it was armed
    return;
  }

  // Step 1, committed on its own: the run row claims this nominal fire for good.
  auto begun = store_.begin_run(new_run(deployment, store::format_time(to_time_point(pending.nominal))));
  if (!begun) {
    if (begun.error() == store::Errc::conflict) {
      log_.info("scheduler: deployment {} already has a run for {}", id, nominal);
      reload(id);
      return;
    }
    log_.error("scheduler: deployment {} could not record its run for {}: {}", id, nominal, store_.last_error());
    // Go on with the next fire that is not due yet, rather than retrying this one in a tight loop.
    const TimePoint now = options_.clock();
    if (auto next = cron::next_fire(pending.schedule, *pending.zone,
                                    std::max(cron::Instant(pending.nominal), to_instant(now - pending.jitter)))) {
      enqueue(id, Pending{pending.spec, pending.schedule, pending.zone, pending.jitter, *next,
                          to_time_point(*next) + pending.jitter});
    }
    return;
  }
  const store::DeploymentRun& run = begun.value();
  ++stats_.fires;
  fire_lag_.observe(std::max(TimePoint::duration::zero(), options_.clock() - pending.due));
  crash_point(kCrashAfterRunRow);

  // Step 2, one transaction: the session and the run's outcome (and an auto-pause).
  try {
    store::DeploymentRun finished = finish_run(store_, run, deployment, runtime_, log_);
    log_.info("scheduler: deployment {} fired for {}: run {}, {}", id, nominal, run.id, describe(finished));
  } catch (const std::exception& e) {
    log_.error("scheduler: deployment {} run {} for {} could not be finished: {}", id, run.id, nominal, e.what());
    // The run must not stay unfinished until the next start: record the failure on its own.
    if (store_.finish_run_with_error(run.id, kRunErrorUnknown,
                                     fmt::format("internal error while starting the run; the daemon's log has the "
                                                 "cause under run {}",
                                                 run.id))) {
      (void)store_.pause_deployment(id, kRunErrorUnknown);
    }
  }
  crash_point(kCrashAfterRunFinished);
  reload(id);
}

void Scheduler::recover_unfinished_runs() {
  auto runs = store_.unfinished_runs();
  if (!runs) {
    log_.error("scheduler: cannot read unfinished deployment runs: {}", store_.last_error());
    return;
  }
  const TimePoint now = options_.clock();
  for (const store::DeploymentRun& run : runs.value()) {
    auto deployment = store_.get_deployment(run.deployment_id);
    if (!deployment) {
      log_.error("scheduler: cannot read deployment {} of unfinished run {}: {}", run.deployment_id, run.id,
                 store_.last_error());
      continue;
    }
    const store::Deployment& d = deployment.value();
    std::optional<cron::Instant> nominal = run.scheduled_at ? parse_stored_time(*run.scheduled_at) : std::nullopt;
    std::string why_not;
    if (!nominal) {
      why_not = "manual runs are not retried";
    } else if (d.archived_at || d.status != "active") {
      why_not = "the deployment is no longer active";
    } else if (now - *nominal > options_.catch_up_window) {
      why_not = fmt::format("its fire is older than the catch-up window of {} s", options_.catch_up_window.count());
    }
    if (why_not.empty()) {
      log_.warn("scheduler: finishing run {} of deployment {}, left without a session when the daemon stopped", run.id,
                d.id);
      try {
        store::DeploymentRun finished = finish_run(store_, run, d, runtime_, log_);
        log_.info("scheduler: run {} of deployment {} finished: {}", run.id, d.id, describe(finished));
        continue;
      } catch (const std::exception& e) {
        log_.error("scheduler: run {} of deployment {} could not be finished: {}", run.id, d.id, e.what());
        why_not = "finishing it failed";
      }
    }
    // Not the deployment's fault, so no auto-pause: the daemon stopped, not the fire.
    auto marked = store_.finish_run_with_error(
        run.id, kRunErrorUnknown,
        fmt::format("Airlock stopped after recording this run and before creating its session; it was not retried: {}",
                    why_not));
    if (marked) {
      log_.warn("scheduler: run {} of deployment {} marked unknown_error: {}", run.id, d.id, why_not);
    } else {
      log_.error("scheduler: cannot mark run {} of deployment {}: {}", run.id, d.id, store_.last_error());
    }
  }
}

void Scheduler::crash_point(std::string_view name) {
  if (options_.crash_point_for_test) options_.crash_point_for_test(name);
}

TestSeams test_seams_from_environment(Logger& log) {
  TestSeams seams;
  seams.clock = [] { return std::chrono::system_clock::now(); };
  if (const char* text = std::getenv("AIRLOCK_CLOCK_OFFSET_SECONDS_FOR_TEST"); text != nullptr && *text != '\0') {
    long long seconds = 0;
    const std::string_view value(text);
    auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), seconds);
    if (ec != std::errc{} || end != value.data() + value.size()) {
      throw std::runtime_error(fmt::format(
          "AIRLOCK_CLOCK_OFFSET_SECONDS_FOR_TEST: expected a whole number of seconds, got \"{}\"; unset it outside tests",
          value));
    }
    const std::chrono::seconds offset{seconds};
    seams.clock = [offset] { return std::chrono::system_clock::now() + offset; };
    log.warn("TEST SEAM: AIRLOCK_CLOCK_OFFSET_SECONDS_FOR_TEST={} is set: this daemon's clock runs {} s off the "
             "system clock (timestamps and schedules). Never set it outside tests",
             seconds, seconds);
  }
  if (const char* text = std::getenv("AIRLOCK_CRASH_AT_FOR_TEST"); text != nullptr && *text != '\0') {
    const std::string point(text);
    if (point != kCrashAfterRunRow && point != kCrashAfterRunFinished) {
      throw std::runtime_error(fmt::format("AIRLOCK_CRASH_AT_FOR_TEST: unknown crash point \"{}\"; known: {}, {}",
                                           point, kCrashAfterRunRow, kCrashAfterRunFinished));
    }
    log.warn("TEST SEAM: AIRLOCK_CRASH_AT_FOR_TEST={} is set: this daemon exits with status 86 when it gets there. "
             "Never set it outside tests",
             point);
    seams.crash_point = [point, &log](std::string_view name) {
      if (name != point) return;
      log.error("AIRLOCK_CRASH_AT_FOR_TEST: exiting with status 86 at {}", name);
      ::_exit(86);
    };
  }
  return seams;
}

}  // namespace airlock::control
