// Buffers of a worker: InputBuffer (the bytes read from one leg and not yet parsed) and the BufferPool
// they come from.
//
// Bound: every buffer is kBufferSize bytes. That fixed capacity is what gives back-pressure: nothing more
// is read until what was read has been written on. A buffer is taken from the worker's pool when a leg
// starts reading and given back as soon as it is empty at an idle point, so an idle keep-alive connection
// holds none; the pool keeps at most kPooledBuffers spare ones per worker, so a burst does not turn into
// malloc/free churn (and madvise calls) on every request.
//
// Threading: a pool belongs to one worker and is used only on its thread.
#pragma once

#include <cstddef>
#include <cstring>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

namespace airlock::proxy {

inline constexpr std::size_t kBufferSize = 64 * 1024;
inline constexpr std::size_t kPooledBuffers = 64;

class BufferPool {
 public:
  std::unique_ptr<char[]> take() {
    if (free_.empty()) return std::make_unique_for_overwrite<char[]>(kBufferSize);
    std::unique_ptr<char[]> buffer = std::move(free_.back());
    free_.pop_back();
    return buffer;
  }
  void give(std::unique_ptr<char[]> buffer) {
    if (buffer && free_.size() < kPooledBuffers) free_.push_back(std::move(buffer));
  }

 private:
  std::vector<std::unique_ptr<char[]>> free_;
};

class InputBuffer {
 public:
  explicit InputBuffer(BufferPool* pool = nullptr) : pool_(pool) {}
  ~InputBuffer() { release(); }
  InputBuffer(const InputBuffer&) = delete;
  InputBuffer& operator=(const InputBuffer&) = delete;

  std::string_view data() const noexcept { return {storage_.get() + begin_, end_ - begin_}; }
  bool empty() const noexcept { return begin_ == end_; }
  void consume(std::size_t n) noexcept {
    begin_ += n;
    if (begin_ == end_) begin_ = end_ = 0;
  }
  // Free space to read into (unparsed bytes moved to the front first). Empty only when full.
  std::span<char> space() {
    if (!storage_) storage_ = pool_ != nullptr ? pool_->take() : std::make_unique_for_overwrite<char[]>(kBufferSize);
    if (begin_ > 0) {
      std::memmove(storage_.get(), storage_.get() + begin_, end_ - begin_);
      end_ -= begin_;
      begin_ = 0;
    }
    return {storage_.get() + end_, kBufferSize - end_};
  }
  void commit(std::size_t n) noexcept { end_ += n; }
  void append(std::string_view bytes) {
    auto room = space();
    const std::size_t n = bytes.size() < room.size() ? bytes.size() : room.size();
    std::memcpy(room.data(), bytes.data(), n);
    commit(n);
  }
  // Gives the memory back when nothing is pending.
  void release_if_empty() noexcept {
    if (empty()) release();
  }
  void clear() noexcept {
    begin_ = end_ = 0;
    release();
  }

 private:
  void release() noexcept {
    if (!storage_) return;
    if (pool_ != nullptr) {
      try {
        pool_->give(std::move(storage_));
      } catch (...) {
      }
    }
    storage_.reset();
  }

  BufferPool* pool_;
  std::unique_ptr<char[]> storage_;
  std::size_t begin_ = 0;
  std::size_t end_ = 0;
};

}  // namespace airlock::proxy
