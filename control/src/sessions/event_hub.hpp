// EventHub: wakes the open event streams (GET /v1/sessions/{id}/events/stream, event_stream.hpp) when a
// session's events may have changed.
//
// Whoever appends events to a session, or deletes it, calls notify(session_id) AFTER the commit; a caller
// that does not know which sessions changed calls notify_all() (ControlApi's on_committed does, after
// every committed POST or DELETE). A notification carries no data: a woken stream reads the store itself
// (every event after the last one it sent, or "session gone"), so a spurious or repeated notification
// costs one query and a missed one is caught up at the stream's next ping.
//
// Single-threaded: the hub, its subscriptions and notify() live on the control io_context's thread (the
// store's thread). Code running elsewhere posts the notify to that io_context.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <boost/asio.hpp>

namespace airlock::control {

class EventHub {
 public:
  // One stream's registration, for as long as the stream runs. The stream waits on timer() (set to its
  // next ping); notify cancels the timer, and take_notified() tells a notification from the ping time.
  class Subscription {
   public:
    Subscription(EventHub& hub, std::string session_id, const boost::asio::any_io_executor& executor);
    ~Subscription();
    Subscription(const Subscription&) = delete;
    Subscription& operator=(const Subscription&) = delete;

    const std::string& session_id() const noexcept { return session_id_; }
    boost::asio::steady_timer& timer() noexcept { return timer_; }
    // True if a notification arrived since the last call (then clears it). Checked before every wait, so
    // a notification that arrives while the stream is writing is not lost.
    bool take_notified() noexcept;

   private:
    friend class EventHub;
    void wake();

    EventHub& hub_;
    std::string session_id_;
    boost::asio::steady_timer timer_;
    bool notified_ = false;
  };

  EventHub() = default;
  EventHub(const EventHub&) = delete;
  EventHub& operator=(const EventHub&) = delete;

  // The session's events changed (appended, or the session was deleted or archived): wake its streams.
  void notify(std::string_view session_id);
  // Anything may have changed: wake every stream.
  void notify_all();
  // Open streams (subscriptions), for tests and diagnostics.
  std::size_t subscribers() const noexcept { return subscribers_.size(); }

 private:
  std::vector<Subscription*> subscribers_;  // few (one per open stream): a scan beats an index
};

}  // namespace airlock::control
