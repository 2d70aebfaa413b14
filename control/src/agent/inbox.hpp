// The client events a harness reads on stdin (docs/runtime.md, "Turns"), handed from the thread that
// reads them to the thread that runs the turns. A user.interrupt is queued like any event, and also acts
// at once: it raises the interrupted flag and runs the hooks that stop what is in flight (the model
// request, the running tool).
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <vector>

#include <nlohmann/json.hpp>

namespace airlock::control::agent {

class Inbox {
 public:
  void push(nlohmann::json event);
  void close();  // end of input: next() returns nullopt once the queue is empty

  // The next event, waiting for one; nullopt at the end of input.
  std::optional<nlohmann::json> next();
  // The next queued user.message without waiting, taking it off the queue; nullopt when the next event is
  // something else or nothing is queued.
  std::optional<nlohmann::json> take_queued_message();

  // Hooks run (on the pushing thread) when a user.interrupt arrives.
  void on_interrupt(std::function<void()> hook);
  bool interrupted() const;
  void clear_interrupt();
  // Waits `delay` unless an interrupt comes first; true when interrupted.
  bool sleep_unless_interrupted(std::chrono::milliseconds delay);

 private:
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<nlohmann::json> queue_;
  std::vector<std::function<void()>> hooks_;
  bool closed_ = false;
  bool interrupted_ = false;
};

}  // namespace airlock::control::agent
