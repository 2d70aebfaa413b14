// The byte streams of a proxied connection: a Leg is one stream connection (TCP to an upstream; TCP or a
// Unix socket from the sandbox), plain or TLS, and a Watchdog enforces the deadline of whatever a
// connection is waiting for. A leg's socket is a generic stream socket, so one code path serves both
// listeners: a tcp::socket and a local::stream_protocol::socket both move-convert into it.
//
// TLS is driven directly with OpenSSL, not with asio::ssl::stream (which keeps two 17 KiB buffers and a
// BIO pair for a connection's whole life). OpenSSL talks to a BIO of ours: its reads are served from the
// leg's input buffer, which Asio fills with speculative non-blocking reads (one recv for as many records
// as have arrived, no epoll_ctl per wait); its writes go straight to send(MSG_NOSIGNAL) (no SIGPIPE). The
// input buffer comes from the worker's BufferPool and goes back whenever it is empty; with
// SSL_MODE_RELEASE_BUFFERS OpenSSL frees its record buffers when idle too, so an idle connection holds
// neither (the 40 KiB-per-idle-connection target).
//
// Deadlines (STYLE.md §2): before each operation the caller names its bound with expires_after(); the
// connection's Watchdog sleeps until the earliest deadline of the legs it watches and cancels the socket
// operations of a leg whose deadline has passed, which then report asio::error::timed_out. One-shot
// operations (connect, handshakes, write_all, peek_byte, wait_readable) clear the deadline when they
// complete; read_some does not, because one bound may cover several reads (a whole request head), so a
// reading phase ends with expires_never(). A leg waiting for nothing must never hold a deadline: the
// watchdog would cut it while the connection waits on the other leg. The timer is
// re-armed only when a deadline moves earlier than the armed one, so a busy connection costs a timer
// wake-up per timeout period, not a timer operation per read.
//
// Threading: a Leg and its Watchdog belong to one connection coroutine on one io_context thread. Two
// coroutines of that connection may use one Leg at once, one reading and one writing (the WebSocket and
// passthrough splice); OpenSSL allows that on one thread because no call ever blocks.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <utility>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/system/error_code.hpp>

#include "airlock/certs/openssl.hpp"
#include "buffer.hpp"

namespace airlock::proxy {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using Socket = asio::generic::stream_protocol::socket;  // a leg's socket: TCP or Unix
using boost::system::error_code;
using Clock = std::chrono::steady_clock;

// Errors of our own beyond Asio's (timed_out, eof, ...), mapped onto existing codes.
enum class StreamErrc {
  truncated = 1,  // the peer closed without TLS close_notify in the middle of a TLS stream
  tls_failed,     // a TLS protocol error (handshake or record); details were in the OpenSSL queue, cleared
  closed,         // the leg was closed by us (drain deadline passed, or the other side failed)
  certificate_rejected,  // the peer's alert said it rejected our certificate (unknown_ca, bad_certificate, ...)
};
error_code make_error(StreamErrc e) noexcept;

// True for the ways a peer ends a connection between messages: EOF, reset, truncation.
bool is_peer_close(const error_code& ec) noexcept;

class Watchdog;

class Leg {
 public:
  Leg(Socket socket, BufferPool& buffers);
  ~Leg();
  Leg(const Leg&) = delete;
  Leg& operator=(const Leg&) = delete;

  Socket& socket() noexcept { return socket_; }
  bool is_tls() const noexcept { return ssl_ != nullptr; }
  SSL* ssl() const noexcept { return ssl_.get(); }

  // The deadline for the operations that follow, until the next call.
  void expires_after(Clock::duration timeout);
  void expires_never() noexcept { deadline_ = Clock::time_point::max(); }
  Clock::time_point deadline() const noexcept { return deadline_; }

  // Opens the socket and connects it to `endpoint` (the socket is closed again on failure, so the next
  // address can be tried). A non-zero `mark` is set as SO_MARK first, so redirect rules can tell the
  // proxy's own connections apart (docs/sidecar.md).
  asio::awaitable<error_code> connect(const tcp::endpoint& endpoint, std::uint32_t mark = 0);

  // TLS handshakes. Server side: an SSL from `context` (a leaf's context); client side: `ssl` was made
  // from the upstream context and configured (SNI, host pinning) by the caller.
  asio::awaitable<error_code> accept_tls(SSL_CTX* context);
  asio::awaitable<error_code> connect_tls(certs::SslPtr ssl);

  // Reads at least one byte (as many as are ready, up to the span's size). eof when the peer closed.
  asio::awaitable<std::pair<error_code, std::size_t>> read_some(std::span<char> into);
  // Waits until the peer sends something, holding no pooled buffer (keep-alive idle): a speculative
  // read into a small inline buffer, so no epoll_ctl per request. The bytes go to the next read.
  asio::awaitable<error_code> wait_readable();
  // Writes all of `data`.
  asio::awaitable<error_code> write_all(std::string_view data);
  // Reads the first bytes the peer sends and returns the first one (a TLS ClientHello starts with 0x16).
  // The bytes stay in the leg: a TLS handshake consumes them; for plain HTTP take them with
  // take_pending().
  asio::awaitable<std::pair<error_code, unsigned char>> peek_byte();
  // The bytes peek_byte() and peek_more() have read, not yet consumed (a transparent connection's
  // ClientHello, scanned before the handshake that consumes them).
  std::string_view peeked() const noexcept {
    return in_ ? std::string_view(in_.get() + in_begin_, in_end_ - in_begin_) : std::string_view();
  }
  // Reads more onto peeked(): at least one byte, or eof. Keeps the deadline (one bound may cover several
  // calls); fails when the input buffer (kBufferSize) is full.
  asio::awaitable<error_code> peek_more();
  // Bytes read from the socket before TLS starts (sent by the client right after CONNECT): handed to the
  // TLS handshake first.
  void preload(std::string_view bytes);
  // Moves bytes read but not consumed by TLS into `into` (a plain connection after peek_byte()).
  void take_pending(InputBuffer& into);
  // Reads, without waiting, whatever the socket holds into the TLS input (an idle pooled connection
  // checked for a session ticket, an alert or EOF). False on EOF or error.
  bool absorb_ready_input() noexcept;

  // Ends our sending direction: close_notify for TLS, FIN for plain TCP. Best effort, never waits long:
  // bounded by the current deadline.
  asio::awaitable<void> shutdown_send();
  // Sends close_notify when TLS is healthy (bounded by `tls_timeout`), then closes the socket.
  asio::awaitable<void> close(Clock::duration tls_timeout);
  // Closes at once, without close_notify (pooled connections being dropped, connections being aborted).
  void close_now() noexcept;
  // Counts this leg in `open` (the open upstream connections gauge) from now until its socket is closed
  // or the leg is destroyed, whichever comes first. `open` must outlive the leg.
  void count_while_open(std::atomic<std::uint64_t>& open) noexcept;
  // Closes with a TCP reset and no close_notify: the peer sees an error, never a clean end.
  void reset_now() noexcept;

  // Called by the Watchdog when the deadline passed, and by the drain: cancels pending operations, which
  // report timed_out (or closed); every later operation fails the same way.
  void expire() noexcept;
  void abort() noexcept;
  // After a read timed out (a request head that never completed): the socket is intact, so the leg may
  // still write the 408. Only for that case.
  void reopen_after_read_timeout() noexcept;
  bool failed() const noexcept { return state_ != State::open; }

  // Set by Watchdog::watch; the leg pokes it when its deadline moves earlier than the armed one.
  void set_watchdog(Watchdog* watchdog) noexcept { watchdog_ = watchdog; }

  // The BIO's side (io.cpp); not for other callers.
  int bio_read(BIO* bio, char* out, std::size_t size, std::size_t* read) noexcept;
  int bio_write(BIO* bio, const char* data, std::size_t size, std::size_t* written) noexcept;
  std::size_t bio_pending() const noexcept { return in_end_ - in_begin_; }
  bool bio_eof() const noexcept { return in_eof_ && in_begin_ == in_end_; }

 private:
  enum class State { open, timed_out, aborted };
  template <class Op>
  asio::awaitable<std::pair<error_code, std::size_t>> tls_op(Op op);
  asio::awaitable<error_code> wait(asio::socket_base::wait_type type);
  asio::awaitable<error_code> fill();  // one socket read into the input buffer
  error_code attach(SSL* ssl) noexcept;
  void release_input_if_empty() noexcept;
  void stop_counting() noexcept;
  error_code cancelled_error() const noexcept;
  error_code map(const error_code& ec) const noexcept;
  error_code tls_error(int ssl_error) noexcept;

  Socket socket_;
  BufferPool& buffers_;
  std::unique_ptr<char[]> in_;  // TLS input: read from the socket, not yet taken by OpenSSL
  std::size_t in_begin_ = 0;
  std::size_t in_end_ = 0;
  bool in_eof_ = false;
  bool filling_ = false;  // a read into in_ is in flight: in_ must stay where it is
  std::array<char, 256> idle_bytes_;  // wait_readable() reads here while no buffer is held
  certs::SslPtr ssl_;
  bool tls_broken_ = false;  // after a fatal TLS error: no close_notify (OpenSSL forbids SSL_shutdown)
  State state_ = State::open;
  Clock::time_point deadline_ = Clock::time_point::max();
  Watchdog* watchdog_ = nullptr;
  std::atomic<std::uint64_t>* open_gauge_ = nullptr;  // see count_while_open()
};

// One per connection: bounds the waits of its (at most two) legs. run() never returns on its own; it
// ends when cancelled, which is how the connection coroutine stops it (`co_await (main || watchdog)`).
class Watchdog {
 public:
  explicit Watchdog(const asio::any_io_executor& executor);
  ~Watchdog();
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

  // NOLINTBEGIN(bugprone-exception-escape): the timer's expires_at() throws only if cancelling the pending
  // wait fails, which asio's timer queues never do.
  void watch(Leg& leg) noexcept;    // precondition: fewer than two legs watched
  void unwatch(Leg& leg) noexcept;  // before the leg is destroyed or handed to the pool
  void deadline_set(Clock::time_point deadline) noexcept;
  // NOLINTEND(bugprone-exception-escape)
  asio::awaitable<void> run();

 private:
  asio::steady_timer timer_;
  std::array<Leg*, 2> legs_{};
  Clock::time_point armed_ = Clock::time_point::max();
};

// Socket options every leg gets: TCP_NODELAY when `family` is AF_INET or AF_INET6 (request heads and
// small responses must not wait for Nagle; a Unix socket has no such option), non-blocking mode (OpenSSL
// reads and writes the descriptor directly). The caller names the family it accepted or connected with,
// which costs no system call.
void prepare_socket(Socket& socket, int family);

}  // namespace airlock::proxy
