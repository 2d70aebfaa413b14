// Inbox (see inbox.hpp).
#include "agent/inbox.hpp"

namespace airlock::control::agent {

void Inbox::push(nlohmann::json event) {
  std::vector<std::function<void()>> hooks;
  {
    std::lock_guard lock(mutex_);
    if (event.value("type", "") == "user.interrupt") {
      interrupted_ = true;
      hooks = hooks_;
    }
    queue_.push_back(std::move(event));
  }
  changed_.notify_all();
  for (const auto& hook : hooks) hook();
}

void Inbox::close() {
  {
    std::lock_guard lock(mutex_);
    closed_ = true;
  }
  changed_.notify_all();
}

std::optional<nlohmann::json> Inbox::next() {
  std::unique_lock lock(mutex_);
  changed_.wait(lock, [this] { return !queue_.empty() || closed_; });
  if (queue_.empty()) return std::nullopt;
  nlohmann::json event = std::move(queue_.front());
  queue_.pop_front();
  return event;
}

std::optional<nlohmann::json> Inbox::take_queued_message() {
  std::lock_guard lock(mutex_);
  if (queue_.empty() || queue_.front().value("type", "") != "user.message") return std::nullopt;
  nlohmann::json event = std::move(queue_.front());
  queue_.pop_front();
  return event;
}

void Inbox::on_interrupt(std::function<void()> hook) {
  std::lock_guard lock(mutex_);
  hooks_.push_back(std::move(hook));
}

bool Inbox::interrupted() const {
  std::lock_guard lock(mutex_);
  return interrupted_;
}

void Inbox::clear_interrupt() {
  std::lock_guard lock(mutex_);
  interrupted_ = false;
}

bool Inbox::sleep_unless_interrupted(std::chrono::milliseconds delay) {
  std::unique_lock lock(mutex_);
  return changed_.wait_for(lock, delay, [this] { return interrupted_; });
}

}  // namespace airlock::control::agent
