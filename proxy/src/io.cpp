// Leg and Watchdog (see io.hpp): TLS over our own BIO, and per-connection deadlines.
//
// Every OpenSSL call here starts with ERR_clear_error(): a stale error left by another connection on this
// thread must not be read as ours (STYLE.md §3). Errors never carry a byte of the stream.
#include "io.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

namespace airlock::proxy {

namespace {

constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);
// The watchdog's "no deadline": far enough to never fire, near enough for any timer arithmetic.
constexpr Clock::duration kFarAway = std::chrono::hours(24);

// The BIO OpenSSL reads and writes through (C callbacks: nothing may be thrown through them).
int leg_read(BIO* bio, char* out, std::size_t size, std::size_t* read) {
  return static_cast<Leg*>(BIO_get_data(bio))->bio_read(bio, out, size, read);
}
int leg_write(BIO* bio, const char* data, std::size_t size, std::size_t* written) {
  return static_cast<Leg*>(BIO_get_data(bio))->bio_write(bio, data, size, written);
}
long leg_ctrl(BIO* bio, int command, long, void*) {
  const auto* leg = static_cast<const Leg*>(BIO_get_data(bio));
  switch (command) {
    case BIO_CTRL_FLUSH: return 1;
    case BIO_CTRL_PENDING: return leg != nullptr ? static_cast<long>(leg->bio_pending()) : 0;
    case BIO_CTRL_WPENDING: return 0;
    case BIO_CTRL_EOF: return leg != nullptr && leg->bio_eof() ? 1 : 0;
    default: return 0;
  }
}

// Created once, immutable afterwards, shared by every leg of the process.
const BIO_METHOD* leg_bio_method() {
  static BIO_METHOD* const method = [] {
    BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "airlock leg");
    if (m != nullptr) {
      BIO_meth_set_read_ex(m, leg_read);
      BIO_meth_set_write_ex(m, leg_write);
      BIO_meth_set_ctrl(m, leg_ctrl);
    }
    return m;
  }();
  return method;
}

}  // namespace

error_code make_error(StreamErrc e) noexcept {
  switch (e) {
    case StreamErrc::truncated: return asio::ssl::error::stream_truncated;
    case StreamErrc::tls_failed: return boost::system::errc::make_error_code(boost::system::errc::protocol_error);
    case StreamErrc::closed: break;
    case StreamErrc::certificate_rejected:
      return boost::system::errc::make_error_code(boost::system::errc::permission_denied);
  }
  return asio::error::operation_aborted;
}

bool is_peer_close(const error_code& ec) noexcept {
  return ec == asio::error::eof || ec == asio::error::connection_reset || ec == asio::error::broken_pipe ||
         ec == make_error(StreamErrc::truncated);
}

void prepare_socket(Socket& socket, int family) {
  error_code ignored;
  if (family == AF_INET || family == AF_INET6) socket.set_option(tcp::no_delay(true), ignored);
  socket.non_blocking(true, ignored);
}

// ---- Leg ----

Leg::Leg(Socket socket, BufferPool& buffers) : socket_(std::move(socket)), buffers_(buffers) {}

Leg::~Leg() {
  stop_counting();
  if (watchdog_ != nullptr) watchdog_->unwatch(*this);
  ssl_.reset();  // before the input buffer it reads from
  buffers_.give(std::move(in_));
}

void Leg::expires_after(Clock::duration timeout) {
  deadline_ = Clock::now() + timeout;
  if (watchdog_ != nullptr) watchdog_->deadline_set(deadline_);
}

void Leg::expire() noexcept {
  if (state_ == State::open) state_ = State::timed_out;
  deadline_ = Clock::time_point::max();
  error_code ignored;
  socket_.cancel(ignored);
}

void Leg::abort() noexcept {
  if (state_ == State::open) state_ = State::aborted;
  error_code ignored;
  socket_.cancel(ignored);
}

void Leg::reopen_after_read_timeout() noexcept {
  if (state_ == State::timed_out) state_ = State::open;
}

error_code Leg::cancelled_error() const noexcept {
  return state_ == State::timed_out ? error_code(asio::error::timed_out) : make_error(StreamErrc::closed);
}

error_code Leg::map(const error_code& ec) const noexcept {
  if (state_ != State::open && (!ec || ec == asio::error::operation_aborted)) return cancelled_error();
  return ec;
}

asio::awaitable<error_code> Leg::wait(asio::socket_base::wait_type type) {
  if (state_ != State::open) co_return cancelled_error();
  auto [ec] = co_await socket_.async_wait(type, kNoThrow);
  co_return map(ec);
}

// ---- the BIO ----

int Leg::bio_read(BIO* bio, char* out, std::size_t size, std::size_t* read) noexcept {
  BIO_clear_retry_flags(bio);
  *read = 0;
  const std::size_t available = in_end_ - in_begin_;
  if (available == 0) {
    if (in_eof_) return 0;  // the peer closed: OpenSSL decides whether that was clean
    BIO_set_retry_read(bio);
    return 0;
  }
  const std::size_t n = available < size ? available : size;
  std::memcpy(out, in_.get() + in_begin_, n);
  in_begin_ += n;
  if (in_begin_ == in_end_ && !filling_) in_begin_ = in_end_ = 0;  // a read in flight appends at in_end_
  *read = n;
  return 1;
}

int Leg::bio_write(BIO* bio, const char* data, std::size_t size, std::size_t* written) noexcept {
  BIO_clear_retry_flags(bio);
  *written = 0;
  const ssize_t sent = ::send(socket_.native_handle(), data, size, MSG_NOSIGNAL);
  if (sent >= 0) {
    *written = static_cast<std::size_t>(sent);
    return 1;
  }
  if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) BIO_set_retry_write(bio);
  return 0;  // otherwise errno says why (SSL_ERROR_SYSCALL)
}

asio::awaitable<error_code> Leg::fill() {
  if (state_ != State::open) co_return cancelled_error();
  if (filling_) {
    // The other direction of a splice is already reading (OpenSSL wanted a read inside a write, as in
    // a TLS 1.2 renegotiation): wait for readability, then let OpenSSL look at what that read brought.
    co_return co_await wait(asio::socket_base::wait_read);
  }
  if (!in_) in_ = buffers_.take();
  if (in_begin_ > 0) {
    std::memmove(in_.get(), in_.get() + in_begin_, in_end_ - in_begin_);
    in_end_ -= in_begin_;
    in_begin_ = 0;
  }
  if (in_end_ == kBufferSize) co_return make_error(StreamErrc::tls_failed);  // no record is that long
  // Speculative: Asio tries the recv at once and only waits for readiness when nothing is there.
  filling_ = true;
  auto [ec, n] = co_await socket_.async_read_some(asio::buffer(in_.get() + in_end_, kBufferSize - in_end_), kNoThrow);
  filling_ = false;
  if (ec == asio::error::eof) {
    in_eof_ = true;
    co_return error_code{};
  }
  if (ec) co_return map(ec);
  in_end_ += n;
  co_return error_code{};
}

void Leg::release_input_if_empty() noexcept {
  if (in_ && in_begin_ == in_end_ && !filling_) {
    in_begin_ = in_end_ = 0;
    try {
      buffers_.give(std::move(in_));
    } catch (...) {
    }
    in_.reset();
  }
}

error_code Leg::attach(SSL* ssl) noexcept {
  const BIO_METHOD* method = leg_bio_method();
  BIO* bio = method != nullptr ? BIO_new(method) : nullptr;
  if (bio == nullptr) {
    ERR_clear_error();
    tls_broken_ = true;
    return make_error(StreamErrc::tls_failed);
  }
  BIO_set_data(bio, this);
  BIO_set_init(bio, 1);
  SSL_set_bio(ssl, bio, bio);  // the SSL owns the BIO now
  return {};
}

error_code Leg::tls_error(int ssl_error) noexcept {
  error_code ec;
  if (ssl_error == SSL_ERROR_ZERO_RETURN) {
    ec = asio::error::eof;  // close_notify: a clean end
  } else if (ssl_error == SSL_ERROR_SYSCALL) {
    tls_broken_ = true;
    ec = errno != 0 ? error_code(errno, boost::system::system_category()) : make_error(StreamErrc::truncated);
  } else {
    tls_broken_ = true;
    const unsigned long queued = ERR_peek_error();
    const int reason = ERR_GET_LIB(queued) == ERR_LIB_SSL ? ERR_GET_REASON(queued) : 0;
    if (reason == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
      ec = make_error(StreamErrc::truncated);
    } else if (reason == SSL_R_TLSV1_ALERT_UNKNOWN_CA || reason == SSL_R_SSLV3_ALERT_BAD_CERTIFICATE ||
               reason == SSL_R_SSLV3_ALERT_CERTIFICATE_UNKNOWN || reason == SSL_R_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE) {
      ec = make_error(StreamErrc::certificate_rejected);  // the peer's alert: it does not accept our certificate
    } else {
      ec = make_error(StreamErrc::tls_failed);
    }
  }
  ERR_clear_error();
  return ec;
}

// Runs one OpenSSL operation to completion: `op(size_t* done)` returns the OpenSSL result (> 0 success);
// WANT_READ reads more from the socket, WANT_WRITE waits until it is writable, and the same call is
// retried with the same arguments.
template <class Op>
asio::awaitable<std::pair<error_code, std::size_t>> Leg::tls_op(Op op) {
  for (;;) {
    if (state_ != State::open) co_return std::pair{cancelled_error(), std::size_t{0}};
    ERR_clear_error();
    errno = 0;
    std::size_t done = 0;
    const int result = op(&done);
    if (result > 0) {
      release_input_if_empty();
      co_return std::pair{error_code{}, done};
    }
    const int ssl_error = SSL_get_error(ssl_.get(), result);
    if (ssl_error == SSL_ERROR_WANT_READ) {
      ERR_clear_error();
      if (error_code ec = co_await fill()) co_return std::pair{ec, std::size_t{0}};
      continue;
    }
    if (ssl_error == SSL_ERROR_WANT_WRITE) {
      ERR_clear_error();
      if (error_code ec = co_await wait(asio::socket_base::wait_write)) co_return std::pair{ec, std::size_t{0}};
      continue;
    }
    co_return std::pair{tls_error(ssl_error), std::size_t{0}};
  }
}

asio::awaitable<error_code> Leg::connect(const tcp::endpoint& endpoint, std::uint32_t mark) {
  if (state_ != State::open) co_return cancelled_error();
  error_code ignored;
  socket_.close(ignored);
  const asio::generic::stream_protocol::endpoint target(endpoint);
  if (mark != 0) {
    error_code ec;
    socket_.open(target.protocol(), ec);
    if (ec) co_return ec;
    // Best effort: the Proxy checked at start that this process may set marks (CAP_NET_ADMIN).
    ::setsockopt(socket_.native_handle(), SOL_SOCKET, SO_MARK, &mark, sizeof mark);
  }
  auto [ec] = co_await socket_.async_connect(target, kNoThrow);
  if (ec || state_ != State::open) {
    socket_.close(ignored);
    co_return map(ec);
  }
  prepare_socket(socket_, endpoint.protocol().family());
  co_return error_code{};  // the caller's deadline also covers the TLS handshake that follows
}

asio::awaitable<error_code> Leg::accept_tls(SSL_CTX* context) {
  ERR_clear_error();
  ssl_.reset(SSL_new(context));
  if (!ssl_) {
    ERR_clear_error();
    tls_broken_ = true;
    co_return make_error(StreamErrc::tls_failed);
  }
  if (error_code ec = attach(ssl_.get())) co_return ec;
  auto [ec, done] = co_await tls_op([this](std::size_t*) { return SSL_accept(ssl_.get()); });
  expires_never();
  co_return ec;
}

asio::awaitable<error_code> Leg::connect_tls(certs::SslPtr ssl) {
  ssl_ = std::move(ssl);
  if (error_code ec = attach(ssl_.get())) co_return ec;
  // The caller reads SSL_get_verify_result after a failure, so the queue may be cleared here.
  auto [ec, done] = co_await tls_op([this](std::size_t*) { return SSL_connect(ssl_.get()); });
  expires_never();
  co_return ec;
}

asio::awaitable<std::pair<error_code, std::size_t>> Leg::read_some(std::span<char> into) {
  if (!ssl_) {
    if (state_ != State::open) co_return std::pair{cancelled_error(), std::size_t{0}};
    if (in_begin_ != in_end_) {  // bytes wait_readable() read
      const std::size_t n = std::min(into.size(), in_end_ - in_begin_);
      std::memcpy(into.data(), in_.get() + in_begin_, n);
      in_begin_ += n;
      release_input_if_empty();
      co_return std::pair{error_code{}, n};
    }
    auto [ec, n] = co_await socket_.async_read_some(asio::buffer(into.data(), into.size()), kNoThrow);
    co_return std::pair{map(ec), n};
  }
  auto [ec, n] = co_await tls_op([&](std::size_t* done) { return SSL_read_ex(ssl_.get(), into.data(), into.size(), done); });
  if (ec) co_return std::pair{ec, n};
  // Decrypt whatever further records are already here (no syscall): fewer, larger writes downstream.
  std::size_t total = n;
  while (total < into.size() && (SSL_pending(ssl_.get()) > 0 || in_begin_ != in_end_)) {
    ERR_clear_error();
    std::size_t more = 0;
    if (SSL_read_ex(ssl_.get(), into.data() + total, into.size() - total, &more) != 1) {
      ERR_clear_error();  // an incomplete record, or an end the next call reports again
      break;
    }
    total += more;
  }
  release_input_if_empty();
  co_return std::pair{error_code{}, total};
}

asio::awaitable<error_code> Leg::wait_readable() {
  if (in_begin_ != in_end_ || (ssl_ && SSL_pending(ssl_.get()) > 0)) {
    expires_never();
    co_return error_code{};
  }
  release_input_if_empty();
  if (state_ != State::open) co_return cancelled_error();
  auto [ec, n] = co_await socket_.async_read_some(asio::buffer(idle_bytes_), kNoThrow);
  expires_never();
  if (ec == asio::error::eof) in_eof_ = true;
  if (ec) co_return map(ec);
  // The bytes came: a deadline that fired while this completion waited in a busy worker's queue lost the
  // race. Left timed out, the leg would fail the read of the request that is already here, and the
  // connection would close without an answer.
  if (state_ == State::timed_out) state_ = State::open;
  in_ = buffers_.take();
  std::memcpy(in_.get(), idle_bytes_.data(), n);
  in_begin_ = 0;
  in_end_ = n;
  co_return error_code{};
}

asio::awaitable<error_code> Leg::write_all(std::string_view data) {
  if (data.empty()) {
    expires_never();
    co_return error_code{};
  }
  if (!ssl_) {
    if (state_ != State::open) co_return cancelled_error();
    auto [ec, n] = co_await asio::async_write(socket_, asio::buffer(data.data(), data.size()), kNoThrow);
    expires_never();
    co_return map(ec);
  }
  auto [ec, n] = co_await tls_op([&](std::size_t* done) { return SSL_write_ex(ssl_.get(), data.data(), data.size(), done); });
  expires_never();
  co_return ec;
}

asio::awaitable<std::pair<error_code, unsigned char>> Leg::peek_byte() {
  while (in_begin_ == in_end_) {
    if (in_eof_) co_return std::pair{error_code(asio::error::eof), static_cast<unsigned char>(0)};
    if (error_code ec = co_await fill()) co_return std::pair{ec, static_cast<unsigned char>(0)};
  }
  expires_never();
  co_return std::pair{error_code{}, static_cast<unsigned char>(in_[in_begin_])};
}

asio::awaitable<error_code> Leg::peek_more() {
  if (in_eof_) co_return error_code(asio::error::eof);
  const std::size_t before = in_end_ - in_begin_;
  if (error_code ec = co_await fill()) co_return ec;
  if (in_end_ - in_begin_ == before) co_return error_code(asio::error::eof);
  co_return error_code{};
}

void Leg::preload(std::string_view bytes) {
  if (bytes.empty()) return;
  if (!in_) in_ = buffers_.take();
  if (in_begin_ > 0) {
    std::memmove(in_.get(), in_.get() + in_begin_, in_end_ - in_begin_);
    in_end_ -= in_begin_;
    in_begin_ = 0;
  }
  const std::size_t n = std::min(bytes.size(), kBufferSize - in_end_);
  std::memcpy(in_.get() + in_end_, bytes.data(), n);
  in_end_ += n;
}

bool Leg::absorb_ready_input() noexcept {
  if (filling_) return true;
  if (!in_) in_ = buffers_.take();
  if (in_end_ == kBufferSize) return true;
  const ssize_t got = ::recv(socket_.native_handle(), in_.get() + in_end_, kBufferSize - in_end_, MSG_DONTWAIT);
  if (got > 0) {
    in_end_ += static_cast<std::size_t>(got);
    return true;
  }
  release_input_if_empty();
  return got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

void Leg::take_pending(InputBuffer& into) {
  if (in_begin_ != in_end_) into.append(std::string_view(in_.get() + in_begin_, in_end_ - in_begin_));
  in_begin_ = in_end_ = 0;
  release_input_if_empty();
}

asio::awaitable<void> Leg::shutdown_send() {
  if (ssl_) {
    if (!tls_broken_) {
      co_await tls_op([this](std::size_t*) { return SSL_shutdown(ssl_.get()) >= 0 ? 1 : -1; });
    }
  } else {
    error_code ignored;
    socket_.shutdown(Socket::shutdown_send, ignored);
  }
  expires_never();
}

asio::awaitable<void> Leg::close(Clock::duration tls_timeout) {
  if (ssl_ && !tls_broken_ && state_ == State::open && socket_.is_open()) {
    // One close_notify; the peer's answer is not awaited (STYLE.md §2: bound TLS shutdown, then close).
    expires_after(tls_timeout);
    co_await tls_op([this](std::size_t*) { return SSL_shutdown(ssl_.get()) >= 0 ? 1 : -1; });
  }
  expires_never();
  error_code ignored;
  socket_.close(ignored);
  stop_counting();
}

void Leg::close_now() noexcept {
  if (ssl_ && !tls_broken_ && socket_.is_open()) {
    ERR_clear_error();
    SSL_shutdown(ssl_.get());  // a close_notify if the socket takes it right away; never waits
    ERR_clear_error();
    tls_broken_ = true;
  }
  expires_never();
  error_code ignored;
  socket_.close(ignored);
  stop_counting();
}

void Leg::count_while_open(std::atomic<std::uint64_t>& open) noexcept {
  if (open_gauge_ != nullptr) return;
  open_gauge_ = &open;
  open.fetch_add(1, std::memory_order_relaxed);
}

void Leg::stop_counting() noexcept {
  if (open_gauge_ == nullptr) return;
  open_gauge_->fetch_sub(1, std::memory_order_relaxed);
  open_gauge_ = nullptr;
}

void Leg::reset_now() noexcept {
  tls_broken_ = true;  // no close_notify
  error_code ignored;
  if (socket_.is_open()) socket_.set_option(asio::socket_base::linger(true, 0), ignored);  // close() sends RST
  close_now();
}

// ---- Watchdog ----

Watchdog::Watchdog(const asio::any_io_executor& executor) : timer_(executor) {}

Watchdog::~Watchdog() {
  for (Leg* leg : legs_) {
    if (leg != nullptr) leg->set_watchdog(nullptr);
  }
}

void Watchdog::watch(Leg& leg) noexcept {  // NOLINT(bugprone-exception-escape): see io.hpp
  for (Leg*& slot : legs_) {
    if (slot == nullptr || slot == &leg) {
      slot = &leg;
      leg.set_watchdog(this);
      deadline_set(leg.deadline());
      return;
    }
  }
}

void Watchdog::unwatch(Leg& leg) noexcept {
  for (Leg*& slot : legs_) {
    if (slot == &leg) slot = nullptr;
  }
  leg.set_watchdog(nullptr);
}

void Watchdog::deadline_set(Clock::time_point deadline) noexcept {  // NOLINT(bugprone-exception-escape): see io.hpp
  if (deadline < armed_) {
    armed_ = deadline;
    timer_.expires_at(deadline);  // cancels the pending wait: run() wakes and re-arms
  }
}

asio::awaitable<void> Watchdog::run() {
  for (;;) {
    const auto now = Clock::now();
    Clock::time_point next = now + kFarAway;
    for (Leg* leg : legs_) {
      if (leg != nullptr && leg->deadline() < next) next = leg->deadline();
    }
    armed_ = next;
    timer_.expires_at(next);
    co_await timer_.async_wait(kNoThrow);  // woken early when a deadline moved earlier
    if ((co_await asio::this_coro::cancellation_state).cancelled() != asio::cancellation_type::none) co_return;
    const auto woke = Clock::now();
    for (Leg* leg : legs_) {
      if (leg != nullptr && leg->deadline() <= woke) leg->expire();
    }
  }
}

}  // namespace airlock::proxy
