// The relay's parts (see airlock/proxy/relay.hpp): the Relay itself (a TCP listener whose connections are
// spliced to a Unix socket, one coroutine per connection), the command line, and the child process.
//
// Each relayed connection is one coroutine that owns both sockets: it connects to the Unix socket (bounded
// by connect_timeout), then copies bytes both ways over one fixed buffer per direction (back-pressure by
// construction). EOF one way is passed on as shutdown(send) the other way; the connection closes when both
// directions are done, on any error, or when no byte moved either way for idle_timeout (a per-connection
// watchdog timer that wakes once per timeout period, not once per read).
//
// Threading: a Relay runs on the thread that calls run(), on its own io_context; stop() may be called from
// any thread. Every descriptor the relay opens is close-on-exec, so the command it starts inherits none.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <functional>
#include <list>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

namespace airlock::proxy {

struct RelayOptions {
  boost::asio::ip::tcp::endpoint listen;               // port 0: the kernel picks (local_endpoint())
  std::filesystem::path socket;                        // the proxy's Unix socket
  std::chrono::milliseconds idle_timeout{300'000};     // no byte moved either way: the connection is closed
  std::chrono::milliseconds connect_timeout{10'000};   // connecting to the Unix socket
};

class Relay {
 public:
  // Binds and listens now (SO_REUSEADDR). Throws std::system_error naming the address.
  explicit Relay(RelayOptions options);
  ~Relay();
  Relay(const Relay&) = delete;
  Relay& operator=(const Relay&) = delete;

  boost::asio::ip::tcp::endpoint local_endpoint() const noexcept { return endpoint_; }
  // The io_context run() runs (the command line puts its signal handling there).
  boost::asio::io_context& io() noexcept { return io_; }
  // Accepts and relays on the calling thread until stop() and every connection has ended (and nothing
  // else runs on io()). Call once.
  void run();
  // Stops accepting and closes every connection. Any thread; idempotent.
  void stop();

 private:
  struct Link;
  boost::asio::awaitable<void> accept_loop();
  boost::asio::awaitable<void> serve(boost::asio::ip::tcp::socket client);

  const RelayOptions options_;
  std::list<Link*> links_;  // open connections, for stop(); touched on io_'s thread only
  // After links_: destroying io_ destroys the frames of unfinished connections, which unregister.
  boost::asio::io_context io_;
  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::ip::tcp::endpoint endpoint_;
  bool stopped_ = false;  // io_'s thread
};

// The command line, parsed. `error` (a usage error, said in one line) or `help`, else `options` + `command`.
struct RelayArgs {
  RelayOptions options;
  std::vector<std::string> command;  // after "--"; empty: no command
  bool help = false;
  std::string error;
};
RelayArgs parse_relay_args(std::span<const std::string_view> args);

// The exit code that reports a child's wait status: its exit status, or 128+N when signal N killed it.
int exit_code_of(int wait_status) noexcept;

// Starts `command` (looked up in PATH) with the relay's stdin, stdout, stderr, environment and working
// directory, an empty signal mask and SIGINT, SIGTERM and SIGPIPE at their defaults. The pid, or the
// errno of the failure (exec included: ENOENT for a command that does not exist).
struct Spawned {
  pid_t pid = -1;
  int error = 0;
};
Spawned spawn_command(std::span<const std::string> command);

// The relay's life after parsing: bind, start the command, relay until the command exits (its code) or,
// without a command, until SIGTERM/SIGINT (0). `on_listening` is called once the listener is bound and the
// signal handlers are in place, before the command starts (tests learn the port from it).
using ListeningCallback = std::function<void(const boost::asio::ip::tcp::endpoint&)>;
int run_relay(const RelayArgs& args, const ListeningCallback& on_listening = {});

}  // namespace airlock::proxy
