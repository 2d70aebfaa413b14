// Socket operations with a deadline: every await in a connection coroutine is bounded, so a silent peer
// costs a timer, not a connection held forever. A timed-out operation is cancelled and reports
// asio::error::timed_out.
#pragma once

#include <chrono>
#include <cstddef>
#include <utility>

#include <boost/asio.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>

namespace airlock::control {

namespace asio = boost::asio;
using boost::system::error_code;

template <class Stream, class Buffers>
asio::awaitable<std::pair<error_code, std::size_t>> read_some_for(Stream& stream, const Buffers& buffers,
                                                                  std::chrono::steady_clock::duration timeout) {
  using namespace asio::experimental::awaitable_operators;
  asio::steady_timer timer(co_await asio::this_coro::executor, timeout);
  auto result = co_await (stream.async_read_some(buffers, asio::as_tuple(asio::use_awaitable)) ||
                          timer.async_wait(asio::as_tuple(asio::use_awaitable)));
  if (result.index() == 1) co_return std::pair{error_code(asio::error::timed_out), std::size_t{0}};
  auto [ec, n] = std::get<0>(result);
  co_return std::pair{ec, n};
}

template <class Stream, class Buffers>
asio::awaitable<std::pair<error_code, std::size_t>> write_for(Stream& stream, const Buffers& buffers,
                                                              std::chrono::steady_clock::duration timeout) {
  using namespace asio::experimental::awaitable_operators;
  asio::steady_timer timer(co_await asio::this_coro::executor, timeout);
  auto result = co_await (asio::async_write(stream, buffers, asio::as_tuple(asio::use_awaitable)) ||
                          timer.async_wait(asio::as_tuple(asio::use_awaitable)));
  if (result.index() == 1) co_return std::pair{error_code(asio::error::timed_out), std::size_t{0}};
  auto [ec, n] = std::get<0>(result);
  co_return std::pair{ec, n};
}

}  // namespace airlock::control
