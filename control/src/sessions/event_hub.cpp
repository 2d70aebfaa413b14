// Stream subscriptions and their wake-ups; see event_hub.hpp.
#include "sessions/event_hub.hpp"

#include <algorithm>
#include <utility>

namespace airlock::control {

EventHub::Subscription::Subscription(EventHub& hub, std::string session_id, const boost::asio::any_io_executor& executor)
    : hub_(hub), session_id_(std::move(session_id)), timer_(executor) {
  hub_.subscribers_.push_back(this);
}

EventHub::Subscription::~Subscription() { std::erase(hub_.subscribers_, this); }

bool EventHub::Subscription::take_notified() noexcept { return std::exchange(notified_, false); }

void EventHub::Subscription::wake() {
  notified_ = true;
  timer_.cancel();  // ends a pending wait at once; with none pending, the flag carries the news
}

void EventHub::notify(std::string_view session_id) {
  for (Subscription* subscription : subscribers_) {
    if (subscription->session_id_ == session_id) subscription->wake();
  }
}

void EventHub::notify_all() {
  for (Subscription* subscription : subscribers_) subscription->wake();
}

}  // namespace airlock::control
