// The relay (see relay.hpp and airlock/proxy/relay.hpp): the TCP-to-Unix splice, the command line, and
// the command run as a child process.
#include "relay.hpp"

#include "airlock/proxy/relay.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <exception>
#include <iostream>
#include <system_error>
#include <utility>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <fmt/format.h>


namespace airlock::proxy {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using unix_stream = asio::local::stream_protocol;
using boost::system::error_code;
using Clock = std::chrono::steady_clock;

namespace {

constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t kRelayBuffer = 64 * 1024;  // per direction per connection
constexpr auto kAcceptBackoff = std::chrono::milliseconds(50);
constexpr unsigned kMaxIdleSeconds = 7 * 24 * 3600;

constexpr std::string_view kUsage =
    "usage: airlock relay --listen HOST:PORT --socket PATH [--idle-timeout SECONDS] [-- COMMAND [ARGS...]]\n"
    "  Listens on HOST:PORT (an IP address; port 0: any) and relays every TCP connection, byte for byte,\n"
    "  to the Unix socket PATH (Airlock's proxy socket). A connection idle both ways for --idle-timeout\n"
    "  seconds (default 300) is closed.\n"
    "  With COMMAND: runs it once the listener is bound, forwards SIGTERM/SIGINT to it and exits with its\n"
    "  status (128+N if signal N killed it, 127 if it could not be run). Without: runs until SIGTERM/SIGINT.\n"
    "  Exit status: 1 when the relay fails, 2 for a usage error.\n";

void set_cloexec(int fd) noexcept { ::fcntl(fd, F_SETFD, FD_CLOEXEC); }

std::string tcp_text(const tcp::endpoint& endpoint) {
  const auto address = endpoint.address();
  return address.is_v6() ? fmt::format("[{}]:{}", address.to_string(), endpoint.port())
                         : fmt::format("{}:{}", address.to_string(), endpoint.port());
}

}  // namespace

// ---- one relayed connection ----

struct Relay::Link {
  Link(Relay& relay, tcp::socket accepted)
      : owner(relay),
        client(std::move(accepted)),
        server(client.get_executor()),
        watchdog(client.get_executor()),
        deadline(Clock::now() + relay.options_.connect_timeout) {
    registration = owner.links_.insert(owner.links_.end(), this);
  }
  ~Link() { owner.links_.erase(registration); }
  Link(const Link&) = delete;
  Link& operator=(const Link&) = delete;

  // Closes both sockets (pending operations end with operation_aborted) and ends the watchdog.
  // NOLINTNEXTLINE(bugprone-exception-escape): a timer's cancel() throws only if it fails, which it never does
  void close() noexcept {
    closed = true;
    error_code ignored;
    client.close(ignored);
    server.close(ignored);
    watchdog.cancel();
  }
  // A byte moved: the idle deadline starts again. It only moves later, so the watchdog is not woken: it
  // notices when it wakes at the old deadline (one wake-up per idle period, not a timer operation per read).
  void touch() noexcept { deadline = Clock::now() + owner.options_.idle_timeout; }

  asio::awaitable<void> run() {
    error_code ec;
    server.open(unix_stream(), ec);
    if (ec) co_return;  // the frame closes the client: nothing else to say on a raw byte relay
    set_cloexec(server.native_handle());
    auto [connected] = co_await server.async_connect(unix_stream::endpoint(owner.options_.socket.native()), kNoThrow);
    if (connected) co_return;
    touch();
    watchdog.cancel();  // the idle deadline may come before the connect deadline: watch() re-arms
    using namespace asio::experimental::awaitable_operators;
    co_await (pump(client, server) && pump(server, client));
  }

  // One direction: read, write, repeat, over one buffer. EOF is passed on as a half-close; any error
  // ends the whole connection.
  template <class From, class To>
  asio::awaitable<void> pump(From& from, To& to) {
    std::vector<char> buffer(kRelayBuffer);
    for (;;) {
      auto [read_error, n] = co_await from.async_read_some(asio::buffer(buffer), kNoThrow);
      if (read_error == asio::error::eof) {
        error_code ignored;
        to.shutdown(asio::socket_base::shutdown_send, ignored);
        co_return;
      }
      if (read_error) {
        close();
        co_return;
      }
      touch();
      auto [write_error, written] = co_await asio::async_write(to, asio::buffer(buffer.data(), n), kNoThrow);
      if (write_error) {
        close();
        co_return;
      }
      touch();
    }
  }

  // Ends (and with it the connection, through `||`) when the deadline has passed or the link was closed.
  // A plain timer cancel() only makes it look at the deadline again.
  asio::awaitable<void> watch() {
    for (;;) {
      watchdog.expires_at(deadline);
      co_await watchdog.async_wait(kNoThrow);
      // (Its own statement: GCC 12 miscompiles a co_await inside a short-circuit operand.)
      const auto state = co_await asio::this_coro::cancellation_state;
      if (closed || state.cancelled() != asio::cancellation_type::none) co_return;
      if (Clock::now() >= deadline) co_return;
    }
  }

  Relay& owner;
  tcp::socket client;
  unix_stream::socket server;
  asio::steady_timer watchdog;
  Clock::time_point deadline;
  bool closed = false;
  std::list<Link*>::iterator registration;
};

// ---- Relay ----

Relay::Relay(RelayOptions options) : options_(std::move(options)), io_(1), acceptor_(io_) {
  const std::string failure = fmt::format("cannot listen on {}", tcp_text(options_.listen));
  error_code ec;
  acceptor_.open(options_.listen.protocol(), ec);
  if (!ec) {
    set_cloexec(acceptor_.native_handle());
    acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
  }
  if (!ec) acceptor_.bind(options_.listen, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) throw std::system_error(ec, failure);
  endpoint_ = acceptor_.local_endpoint();
}

Relay::~Relay() = default;

void Relay::run() {
  asio::co_spawn(io_, accept_loop(), [](const std::exception_ptr&) {});
  io_.run();
}

void Relay::stop() {
  asio::post(io_, [this] {
    if (stopped_) return;
    stopped_ = true;
    error_code ignored;
    acceptor_.close(ignored);
    for (Link* link : links_) link->close();
  });
}

asio::awaitable<void> Relay::accept_loop() {
  asio::steady_timer backoff(io_);
  for (;;) {
    auto [ec, socket] = co_await acceptor_.async_accept(kNoThrow);
    if (ec) {
      if (ec == asio::error::operation_aborted || !acceptor_.is_open() || stopped_) co_return;
      // Out of descriptors: wait a little instead of spinning; connections will close.
      backoff.expires_after(kAcceptBackoff);
      co_await backoff.async_wait(kNoThrow);
      continue;
    }
    if (stopped_) co_return;
    set_cloexec(socket.native_handle());
    error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);  // relayed request heads must not wait for Nagle
    asio::co_spawn(io_, serve(std::move(socket)), [](const std::exception_ptr&) {});
  }
}

asio::awaitable<void> Relay::serve(tcp::socket client) {
  using namespace asio::experimental::awaitable_operators;
  Link link(*this, std::move(client));
  co_await (link.run() || link.watch());
}

// ---- the command line ----

namespace {

RelayArgs usage_error(std::string message) {
  RelayArgs out;
  out.error = std::move(message);
  return out;
}

// HOST:PORT with an IP address HOST ([...] around an IPv6 one).
std::optional<tcp::endpoint> parse_listen(std::string_view text) {
  std::string_view host;
  std::string_view port;
  if (text.starts_with('[')) {
    const std::size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') return std::nullopt;
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    const std::size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) return std::nullopt;
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) return std::nullopt;  // IPv6 needs its brackets
  }
  error_code ec;
  const auto address = asio::ip::make_address(std::string(host), ec);
  if (ec) return std::nullopt;
  std::uint16_t number = 0;
  const auto [end, parse_error] = std::from_chars(port.data(), port.data() + port.size(), number);
  if (port.empty() || parse_error != std::errc{} || end != port.data() + port.size()) return std::nullopt;
  return tcp::endpoint(address, number);
}

// posix_spawnattr_t, destroyed on every path.
struct SpawnAttributes {
  SpawnAttributes() { ok = ::posix_spawnattr_init(&attributes) == 0; }
  ~SpawnAttributes() {
    if (ok) ::posix_spawnattr_destroy(&attributes);
  }
  SpawnAttributes(const SpawnAttributes&) = delete;
  SpawnAttributes& operator=(const SpawnAttributes&) = delete;
  posix_spawnattr_t attributes;
  bool ok = false;
};

}  // namespace

RelayArgs parse_relay_args(std::span<const std::string_view> args) {
  std::optional<std::string_view> listen, socket, idle;
  std::vector<std::string> command;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string_view arg = args[i];
    if (arg == "--") {
      if (i + 1 == args.size()) return usage_error("-- must be followed by a COMMAND");
      command.assign(args.begin() + static_cast<std::ptrdiff_t>(i) + 1, args.end());
      break;
    }
    if (arg == "--help" || arg == "-h") {
      RelayArgs out;
      out.help = true;
      return out;
    }
    std::string_view flag = arg;
    std::optional<std::string_view> value;
    if (const std::size_t equals = arg.find('='); arg.starts_with("--") && equals != std::string_view::npos) {
      flag = arg.substr(0, equals);  // --flag=VALUE
      value = arg.substr(equals + 1);
    }
    std::optional<std::string_view>* slot = flag == "--listen"         ? &listen
                                            : flag == "--socket"       ? &socket
                                            : flag == "--idle-timeout" ? &idle
                                                                       : nullptr;
    if (slot == nullptr) return usage_error(fmt::format("unknown argument \"{}\"", arg));
    if (slot->has_value()) return usage_error(fmt::format("{} given twice", flag));
    if (!value) {
      if (i + 1 == args.size()) return usage_error(fmt::format("{} needs a value", flag));
      value = args[++i];
    }
    *slot = *value;
  }
  if (!listen) return usage_error("--listen is required");
  if (!socket) return usage_error("--socket is required");

  RelayArgs out;
  const auto endpoint = parse_listen(*listen);
  if (!endpoint) {
    return usage_error(fmt::format("--listen \"{}\" is not HOST:PORT with an IP address HOST; use e.g. 127.0.0.1:8421",
                                   *listen));
  }
  out.options.listen = *endpoint;
  if (socket->empty() || socket->size() >= sizeof(sockaddr_un::sun_path)) {
    return usage_error(fmt::format("--socket PATH must be 1 to {} bytes long", sizeof(sockaddr_un::sun_path) - 1));
  }
  out.options.socket = std::string(*socket);
  if (idle) {
    unsigned seconds = 0;
    const auto [end, ec] = std::from_chars(idle->data(), idle->data() + idle->size(), seconds);
    if (idle->empty() || ec != std::errc{} || end != idle->data() + idle->size() || seconds < 1 ||
        seconds > kMaxIdleSeconds) {
      return usage_error(fmt::format("--idle-timeout \"{}\" must be a whole number of seconds from 1 to {}", *idle,
                                     kMaxIdleSeconds));
    }
    out.options.idle_timeout = std::chrono::seconds(seconds);
  }
  out.command = std::move(command);
  return out;
}

int exit_code_of(int wait_status) noexcept {
  if (WIFEXITED(wait_status)) return WEXITSTATUS(wait_status);
  if (WIFSIGNALED(wait_status)) return 128 + WTERMSIG(wait_status);
  return 1;
}

Spawned spawn_command(std::span<const std::string> command) {
  Spawned out;
  if (command.empty()) {
    out.error = EINVAL;
    return out;
  }
  std::vector<char*> argv;
  argv.reserve(command.size() + 1);
  for (const std::string& arg : command) argv.push_back(const_cast<char*>(arg.c_str()));  // execvp's signature
  argv.push_back(nullptr);
  SpawnAttributes spawn;
  if (!spawn.ok) {
    out.error = ENOMEM;
    return out;
  }
  // The child starts clean: nothing blocked, and the signals the relay forwards (and SIGPIPE, which a
  // pipeline in the command relies on) at their default action even if the relay's caller ignored them.
  sigset_t none;
  sigemptyset(&none);
  sigset_t defaults;
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGINT);
  sigaddset(&defaults, SIGTERM);
  sigaddset(&defaults, SIGPIPE);
  ::posix_spawnattr_setsigmask(&spawn.attributes, &none);
  ::posix_spawnattr_setsigdefault(&spawn.attributes, &defaults);
  ::posix_spawnattr_setflags(&spawn.attributes, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  pid_t pid = -1;
  // glibc reports a failed exec here (ENOENT, EACCES, ...) and reaps that child itself.
  const int result = ::posix_spawnp(&pid, argv.front(), nullptr, &spawn.attributes, argv.data(), environ);
  if (result != 0) {
    out.error = result;
    return out;
  }
  out.pid = pid;
  return out;
}

int run_relay(const RelayArgs& args, const ListeningCallback& on_listening) {
  try {
    Relay relay(args.options);
    // Handlers in place before the command exists, so neither its SIGCHLD nor a SIGTERM aimed at the
    // relay right away is lost.
    asio::signal_set stop_signals(relay.io(), SIGINT, SIGTERM);
    std::optional<asio::signal_set> child_signals;
    if (!args.command.empty()) child_signals.emplace(relay.io(), SIGCHLD);
    if (on_listening) on_listening(relay.local_endpoint());

    pid_t child = -1;
    int exit_code = 0;
    if (!args.command.empty()) {
      const Spawned spawned = spawn_command(args.command);
      if (spawned.pid < 0) {
        std::cerr << fmt::format("airlock relay: cannot run {}: {}\n", args.command.front(),
                                 std::generic_category().message(spawned.error));
        return 127;
      }
      child = spawned.pid;
    }

    std::function<void(const error_code&, int)> on_stop_signal;
    on_stop_signal = [&](const error_code& ec, int signal_number) {
      if (ec) return;
      if (child > 0) {
        ::kill(child, signal_number);  // the command decides; its exit ends the relay
        stop_signals.async_wait(on_stop_signal);
        return;
      }
      if (child_signals) child_signals->cancel();
      relay.stop();
    };
    std::function<void(const error_code&, int)> on_child_signal;
    on_child_signal = [&](const error_code& ec, int) {
      if (ec) return;
      int status = 0;
      pid_t reaped = 0;
      do {
        reaped = ::waitpid(child, &status, WNOHANG);
      } while (reaped < 0 && errno == EINTR);
      if (reaped == 0) {  // stopped or continued, not ended
        child_signals->async_wait(on_child_signal);
        return;
      }
      exit_code = reaped == child ? exit_code_of(status) : 1;
      child = -1;
      stop_signals.cancel();
      relay.stop();
    };
    stop_signals.async_wait(on_stop_signal);
    if (child_signals) child_signals->async_wait(on_child_signal);
    relay.run();
    return exit_code;
  } catch (const std::exception& e) {
    std::cerr << "airlock relay: " << e.what() << "\n";
    return 1;
  }
}

int relay_command(std::span<const std::string_view> args) {
  const RelayArgs parsed = parse_relay_args(args);
  if (parsed.help) {
    std::cerr << kUsage;  // stderr even here: stdout belongs to the command
    return 0;
  }
  if (!parsed.error.empty()) {
    std::cerr << "airlock relay: " << parsed.error << "\n" << kUsage;
    return 2;
  }
  return run_relay(parsed);
}

}  // namespace airlock::proxy
