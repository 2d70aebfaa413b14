// `airlock relay`: the Relay (real TCP clients on 127.0.0.1, a real Unix-socket server), the command line,
// and the command it runs (real child processes: exit status, signals, what the child inherits).
#include <doctest/doctest.h>

#include <fcntl.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <cstring>
#include <functional>
#include <iostream>
#include <random>

#include "airlock/proxy/relay.hpp"
#include "relay.hpp"
#include "test_support.hpp"

namespace airlock::proxy::test {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

using namespace std::chrono_literals;

bool send_all(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

sockaddr_un unix_address(const std::filesystem::path& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
  return addr;
}

// A Unix-socket server: one thread per connection runs `handler(fd)`, then closes the connection.
class UnixServer {
 public:
  using Handler = std::function<void(int)>;

  UnixServer(std::filesystem::path path, Handler handler) : path_(std::move(path)), handler_(std::move(handler)) {
    listen_fd_ = ::socket(AF_UNIX, SOCK_STREAM, 0);
    const sockaddr_un addr = unix_address(path_);
    if (::bind(listen_fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(listen_fd_, 64) != 0) {
      throw std::runtime_error("unix server listen");
    }
    acceptor_ = std::thread([this] { accept_loop(); });
  }
  ~UnixServer() {
    stopping_ = true;
    // Wake accept() with a connection of our own.
    const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    const sockaddr_un addr = unix_address(path_);
    ::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
    acceptor_.join();
    ::close(fd);
    ::close(listen_fd_);
    for (auto& worker : workers_) worker.join();
    ::unlink(path_.c_str());
  }
  UnixServer(const UnixServer&) = delete;
  UnixServer& operator=(const UnixServer&) = delete;

  std::size_t connections() const { return connections_.load(); }

 private:
  void accept_loop() {
    for (;;) {
      const int fd = ::accept(listen_fd_, nullptr, nullptr);
      if (fd < 0 || stopping_) {
        if (fd >= 0) ::close(fd);
        return;
      }
      connections_.fetch_add(1);
      set_timeouts(fd, 20);
      workers_.emplace_back([this, fd] {
        handler_(fd);
        ::close(fd);
      });
    }
  }

  std::filesystem::path path_;
  Handler handler_;
  int listen_fd_ = -1;
  std::atomic<bool> stopping_{false};
  std::atomic<std::size_t> connections_{0};
  std::thread acceptor_;
  std::vector<std::thread> workers_;
};

// Echoes every byte until EOF, then closes.
void echo(int fd) {
  std::vector<char> buffer(65536);
  for (;;) {
    const ssize_t n = ::recv(fd, buffer.data(), buffer.size(), 0);
    if (n <= 0) return;
    if (!send_all(fd, std::string_view(buffer.data(), static_cast<std::size_t>(n)))) return;
  }
}

// Reads until EOF, then answers "got N bytes" and closes.
void count_then_reply(int fd) {
  char buffer[4096];
  std::size_t total = 0;
  for (;;) {
    const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
    if (n <= 0) break;
    total += static_cast<std::size_t>(n);
  }
  send_all(fd, fmt::format("got {} bytes", total));
}

// A Relay running on its own thread.
struct RunningRelay {
  explicit RunningRelay(RelayOptions options) : relay(std::move(options)), thread([this] { relay.run(); }) {}
  ~RunningRelay() { stop(); }
  void stop() {
    relay.stop();
    if (thread.joinable()) thread.join();
  }
  std::uint16_t port() const { return relay.local_endpoint().port(); }

  Relay relay;
  std::thread thread;
};

RelayOptions relay_options(const std::filesystem::path& socket) {
  RelayOptions options;
  options.listen = tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0);
  options.socket = socket;
  return options;
}

// Redirects a descriptor (1 or 2) into a file for a while; finish() restores it and returns what was written.
class Capture {
 public:
  Capture(int fd, std::filesystem::path file) : fd_(fd), file_(std::move(file)) {
    std::cout.flush();
    std::cerr.flush();
    std::fflush(nullptr);
    saved_ = ::dup(fd_);
    const int out = ::open(file_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    ::dup2(out, fd_);
    ::close(out);
  }
  ~Capture() { finish(); }
  Capture(const Capture&) = delete;
  Capture& operator=(const Capture&) = delete;

  std::string finish() {
    if (saved_ >= 0) {
      std::cout.flush();
      std::cerr.flush();
      std::fflush(nullptr);
      ::dup2(saved_, fd_);
      ::close(saved_);
      saved_ = -1;
    }
    std::ifstream in(file_, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }

 private:
  int fd_;
  std::filesystem::path file_;
  int saved_ = -1;
};

RelayArgs args_for(const std::filesystem::path& socket, std::vector<std::string> command) {
  RelayArgs args;
  args.options = relay_options(socket);
  args.command = std::move(command);
  return args;
}

int relay_cli(std::vector<std::string_view> args) { return relay_command(std::span<const std::string_view>(args)); }

}  // namespace

// ---- relaying ----

TEST_CASE("relay: bytes go to the Unix socket and back exactly") {
  TempDir dir;
  const auto socket = dir.path() / "proxy.sock";
  UnixServer server(socket, echo);
  RunningRelay relay(relay_options(socket));
  Stream client(connect_tcp(relay.port()));
  const std::string message = "CONNECT api.example.test:443 HTTP/1.1\r\n\r\n\x00\x01\xff";
  REQUIRE(client.send(message));
  std::string back;
  char buffer[256];
  while (back.size() < message.size()) {
    const std::size_t n = client.recv(buffer, sizeof buffer);
    if (n == 0) break;
    back.append(buffer, n);
  }
  CHECK(back == message);
  client.shutdown_write();
  CHECK(client.recv(buffer, sizeof buffer) == 0);  // the server saw EOF and closed: so does the client
  CHECK(server.connections() == 1);
}

TEST_CASE("relay: a 1 MiB payload comes back byte for byte") {
  TempDir dir;
  const auto socket = dir.path() / "proxy.sock";
  UnixServer server(socket, echo);
  RunningRelay relay(relay_options(socket));
  std::string payload(std::size_t(1) << 20, '\0');
  std::mt19937 random(20240601);
  for (char& c : payload) c = static_cast<char>(random() & 0xff);
  Stream client(connect_tcp(relay.port()));
  std::thread writer([&] {
    client.send(payload);
    client.shutdown_write();
  });
  const std::string back = read_all(client);
  writer.join();
  CHECK(back.size() == payload.size());
  CHECK(back == payload);
}

TEST_CASE("relay: half-close is passed on both ways") {
  TempDir dir;
  const auto socket = dir.path() / "proxy.sock";
  UnixServer server(socket, count_then_reply);
  RunningRelay relay(relay_options(socket));
  Stream client(connect_tcp(relay.port()));
  REQUIRE(client.send("hello relay"));
  client.shutdown_write();  // the server replies only once it sees EOF
  CHECK(read_all(client) == "got 11 bytes");
}

TEST_CASE("relay: many connections at once each get their own bytes") {
  TempDir dir;
  const auto socket = dir.path() / "proxy.sock";
  UnixServer server(socket, echo);
  RunningRelay relay(relay_options(socket));
  std::vector<Stream> clients;
  for (int i = 0; i < 8; ++i) clients.emplace_back(connect_tcp(relay.port()));
  for (int i = 0; i < 8; ++i) REQUIRE(clients[i].send(fmt::format("client {} says hi", i)));
  for (int i = 0; i < 8; ++i) {
    clients[i].shutdown_write();
    CHECK(read_all(clients[i]) == fmt::format("client {} says hi", i));
  }
  CHECK(server.connections() == 8);
}

TEST_CASE("relay: no Unix socket means the client connection is closed") {
  TempDir dir;
  RunningRelay relay(relay_options(dir.path() / "missing.sock"));
  Stream client(connect_tcp(relay.port()));
  char byte = 0;
  CHECK(client.recv(&byte, 1) == 0);
  Stream writer(connect_tcp(relay.port()));
  writer.send("CONNECT x:443 HTTP/1.1\r\n\r\n");
  CHECK(writer.recv(&byte, 1) == 0);
}

TEST_CASE("relay: an idle connection is closed after the idle timeout") {
  TempDir dir;
  const auto socket = dir.path() / "proxy.sock";
  UnixServer server(socket, echo);
  RelayOptions options = relay_options(socket);
  options.idle_timeout = 200ms;
  options.connect_timeout = 60s;  // longer than the client's 20 s receive timeout: only the idle bound can end it
  RunningRelay relay(options);
  Stream client(connect_tcp(relay.port()));
  REQUIRE(client.send("ping"));
  char buffer[16];
  REQUIRE(client.recv(buffer, sizeof buffer) == 4);
  const ssize_t end = ::recv(client.fd(), buffer, sizeof buffer, 0);
  const int error = end < 0 ? errno : 0;
  CHECK(end == 0);  // EOF: the relay closed it (not EAGAIN, the client's own timeout)
  CHECK(error == 0);
}

TEST_CASE("relay: stop() closes open connections and run() returns") {
  TempDir dir;
  const auto socket = dir.path() / "proxy.sock";
  UnixServer server(socket, echo);
  RunningRelay relay(relay_options(socket));
  Stream client(connect_tcp(relay.port()));
  REQUIRE(client.send("ping"));
  char buffer[16];
  REQUIRE(client.recv(buffer, sizeof buffer) == 4);
  relay.stop();
  CHECK(client.recv(buffer, sizeof buffer) == 0);
  CHECK_THROWS(connect_tcp(relay.port()));
}

TEST_CASE("relay: a taken port is reported with the address") {
  TempDir dir;
  RunningRelay first(relay_options(dir.path() / "proxy.sock"));
  RelayOptions options = relay_options(dir.path() / "proxy.sock");
  options.listen.port(first.port());
  const std::string expected = fmt::format("cannot listen on 127.0.0.1:{}", first.port());
  CHECK_THROWS_WITH_AS(Relay{options}, doctest::Contains(expected.c_str()), std::system_error);
}

TEST_CASE("relay and proxy: a CONNECT through the relay gets the placeholder substituted") {
  Fixture f;
  f.slot.store(snapshot_of({session_entry(
      std::string(kSession), std::string(kToken),
      {env_credential("vcrd_1", "METRICS_API_TOKEN", std::string(kPlaceholder), kSecret, {"localhost"})})}));
  ProxyOptions options = f.options();
  options.unix_socket = f.dir.path() / "proxy.sock";
  f.start(options);
  RunningRelay relay(relay_options(options.unix_socket));
  Stream stream(connect_tcp(relay.port()));
  REQUIRE(stream.send(fmt::format(
      "CONNECT localhost:{} HTTP/1.1\r\nHost: localhost:{}\r\nProxy-Authorization: {}\r\n\r\n", f.origin.port(),
      f.origin.port(), proxy_auth())));
  std::string leftover;
  REQUIRE(read_response(stream, leftover, "CONNECT").status == 200);
  REQUIRE(stream.start_tls(f.airlock_ca->certificate_pem(), "localhost", "localhost"));
  REQUIRE(stream.send(fmt::format("GET /echo HTTP/1.1\r\nHost: localhost:{}\r\nAuthorization: Bearer {}\r\n\r\n",
                                  f.origin.port(), kPlaceholder)));
  const Response response = read_response(stream, leftover);
  CHECK(response.status == 200);
  CHECK_FALSE(contains(response.body, kSecret));
  const auto captured = f.origin.last();
  REQUIRE(captured);
  CHECK(*captured->head.headers.find("Authorization") == fmt::format("Bearer {}", kSecret));
  const auto record = f.sink.wait_for(1);
  REQUIRE(record);
  CHECK(record->session_id == kSession);
  CHECK(record->decision == "allowed");
}

// ---- the command line ----

TEST_CASE("relay args: a full command line") {
  const std::vector<std::string_view> args{"--listen", "127.0.0.1:8421", "--socket", "/run/airlock/proxy.sock",
                                           "--idle-timeout=60", "--", "claude", "-p", "--", "hi"};
  const RelayArgs parsed = parse_relay_args(args);
  CHECK(parsed.error == "");
  CHECK_FALSE(parsed.help);
  CHECK(parsed.options.listen == tcp::endpoint(asio::ip::make_address("127.0.0.1"), 8421));
  CHECK(parsed.options.socket == "/run/airlock/proxy.sock");
  CHECK(parsed.options.idle_timeout == 60s);
  CHECK(parsed.options.connect_timeout == 10s);
  CHECK(parsed.command == std::vector<std::string>{"claude", "-p", "--", "hi"});

  const std::vector<std::string_view> v6{"--socket=/s", "--listen=[::1]:9"};
  const RelayArgs parsed_v6 = parse_relay_args(v6);
  CHECK(parsed_v6.error == "");
  CHECK(parsed_v6.options.listen == tcp::endpoint(asio::ip::make_address("::1"), 9));
  CHECK(parsed_v6.options.idle_timeout == 300s);
  CHECK(parsed_v6.command.empty());
}

TEST_CASE("relay args: usage errors say what is wrong") {
  const std::string long_path(200, 'p');
  const std::vector<std::pair<std::vector<std::string_view>, std::string>> cases{
      {{}, "--listen is required"},
      {{"--listen", "127.0.0.1:1"}, "--socket is required"},
      {{"--socket", "/s"}, "--listen is required"},
      {{"--listen", "localhost:80", "--socket", "/s"},
       "--listen \"localhost:80\" is not HOST:PORT with an IP address HOST; use e.g. 127.0.0.1:8421"},
      {{"--listen", "127.0.0.1", "--socket", "/s"},
       "--listen \"127.0.0.1\" is not HOST:PORT with an IP address HOST; use e.g. 127.0.0.1:8421"},
      {{"--listen", "127.0.0.1:70000", "--socket", "/s"},
       "--listen \"127.0.0.1:70000\" is not HOST:PORT with an IP address HOST; use e.g. 127.0.0.1:8421"},
      {{"--listen", "::1:80", "--socket", "/s"},
       "--listen \"::1:80\" is not HOST:PORT with an IP address HOST; use e.g. 127.0.0.1:8421"},
      {{"--listen", "127.0.0.1:1", "--socket", long_path}, "--socket PATH must be 1 to 107 bytes long"},
      {{"--listen", "127.0.0.1:1", "--socket", ""}, "--socket PATH must be 1 to 107 bytes long"},
      {{"--listen", "127.0.0.1:1", "--socket", "/s", "--idle-timeout", "0"},
       "--idle-timeout \"0\" must be a whole number of seconds from 1 to 604800"},
      {{"--listen", "127.0.0.1:1", "--socket", "/s", "--idle-timeout", "5s"},
       "--idle-timeout \"5s\" must be a whole number of seconds from 1 to 604800"},
      {{"--listen", "127.0.0.1:1", "--socket", "/s", "--"}, "-- must be followed by a COMMAND"},
      {{"--listen", "127.0.0.1:1", "--socket", "/s", "claude"}, "unknown argument \"claude\""},
      {{"--listen", "127.0.0.1:1", "--listen", "127.0.0.1:2", "--socket", "/s"}, "--listen given twice"},
      {{"--listen", "127.0.0.1:1", "--socket"}, "--socket needs a value"},
  };
  for (const auto& [args, error] : cases) {
    CAPTURE(error);
    const RelayArgs parsed = parse_relay_args(args);
    CHECK(parsed.error == error);
  }
  const std::vector<std::string_view> help{"--listen", "127.0.0.1:1", "--help"};
  CHECK(parse_relay_args(help).help);
}

TEST_CASE("relay command: usage errors exit 2 with the usage on stderr and nothing on stdout") {
  TempDir dir;
  std::string err;
  std::string out;
  int unknown = 0, missing = 0, no_command = 0, help = 0;
  {
    Capture capture_out(1, dir.path() / "out");
    {
      Capture capture_err(2, dir.path() / "err");
      unknown = relay_cli({"--listen", "127.0.0.1:0", "--socket", "/s", "--bogus"});
      missing = relay_cli({});
      no_command = relay_cli({"--listen", "127.0.0.1:0", "--socket", "/s", "--"});
      help = relay_cli({"--help"});
      err = capture_err.finish();
    }
    out = capture_out.finish();
  }
  CHECK(unknown == 2);
  CHECK(missing == 2);
  CHECK(no_command == 2);
  CHECK(help == 0);
  CHECK(out == "");
  CHECK(err.rfind("airlock relay: unknown argument \"--bogus\"\nusage: airlock relay --listen HOST:PORT", 0) == 0);
  CHECK(contains(err, "airlock relay: --listen is required\nusage: airlock relay"));
  CHECK(contains(err, "airlock relay: -- must be followed by a COMMAND\nusage: airlock relay"));
}

TEST_CASE("relay command: a listener that cannot be bound exits 1 naming the address") {
  TempDir dir;
  RunningRelay first(relay_options(dir.path() / "proxy.sock"));
  const std::string listen = fmt::format("127.0.0.1:{}", first.port());
  std::string err;
  int status = 0;
  {
    Capture capture_err(2, dir.path() / "err");
    status = relay_cli({"--listen", listen, "--socket", "/s", "--", "true"});
    err = capture_err.finish();
  }
  CHECK(status == 1);
  CHECK(err.rfind(fmt::format("airlock relay: cannot listen on {}: ", listen), 0) == 0);
}

// ---- the command ----

TEST_CASE("relay command: exit status of the command, 128+N for a signal, 127 when it cannot run") {
  TempDir dir;
  const auto socket = dir.path() / "proxy.sock";
  CHECK(run_relay(args_for(socket, {"sh", "-c", "exit 3"})) == 3);
  CHECK(run_relay(args_for(socket, {"true"})) == 0);
  CHECK(run_relay(args_for(socket, {"sh", "-c", "kill -9 $$"})) == 137);
  std::string err;
  int missing = 0;
  {
    Capture capture_err(2, dir.path() / "err");
    missing = run_relay(args_for(socket, {"airlock-no-such-command", "x"}));
    err = capture_err.finish();
  }
  CHECK(missing == 127);
  CHECK(err == "airlock relay: cannot run airlock-no-such-command: No such file or directory\n");
}

TEST_CASE("relay command: exit_code_of maps wait statuses") {
  const auto status_of = [](const char* script) {
    const pid_t pid = ::fork();
    if (pid == 0) {
      ::execl("/bin/sh", "sh", "-c", script, static_cast<char*>(nullptr));
      ::_exit(126);
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    return status;
  };
  CHECK(exit_code_of(status_of("exit 0")) == 0);
  CHECK(exit_code_of(status_of("exit 3")) == 3);
  CHECK(exit_code_of(status_of("exit 255")) == 255);
  CHECK(exit_code_of(status_of("kill -9 $$")) == 137);
  CHECK(exit_code_of(status_of("kill -15 $$")) == 143);
}

TEST_CASE("relay command: the command inherits stdout, the environment and the directory, and no socket") {
  TempDir dir;
  const auto socket = dir.path() / "proxy.sock";
  ::setenv("AIRLOCK_RELAY_TEST_VALUE", "inherited value", 1);
  const std::string script =
      "echo \"$AIRLOCK_RELAY_TEST_VALUE\"; pwd; "
      "for f in /proc/$$/fd/*; do case \"${f##*/}\" in 0|1|2) ;; *) readlink \"$f\";; esac; done; exit 5";
  std::string out;
  int status = 0;
  {
    Capture capture_out(1, dir.path() / "out");
    status = run_relay(args_for(socket, {"sh", "-c", script}));
    out = capture_out.finish();
  }
  ::unsetenv("AIRLOCK_RELAY_TEST_VALUE");
  CHECK(status == 5);
  const std::string expected_start = "inherited value\n" + std::filesystem::current_path().string() + "\n";
  CHECK(out.rfind(expected_start, 0) == 0);
  CHECK_FALSE(contains(out, "socket:"));  // the relay's listener is close-on-exec
}

TEST_CASE("relay command: SIGTERM to the relay is forwarded to the command") {
  TempDir dir;
  const auto ready = dir.path() / "ready";
  std::thread signaller([&] {
    for (int i = 0; i < 10000 && !std::filesystem::exists(ready); ++i) std::this_thread::sleep_for(1ms);
    // The command runs, so the relay's handler is in place (it is installed before the command starts).
    if (std::filesystem::exists(ready)) ::kill(::getpid(), SIGTERM);
  });
  // Without the forwarding the command would sleep 30 s and exit 0.
  const int status = run_relay(args_for(dir.path() / "proxy.sock", {"sh", "-c", "touch \"$0\"; exec sleep 30",
                                                                     ready.string()}));
  signaller.join();
  CHECK(status == 128 + SIGTERM);
}

TEST_CASE("relay command: without a command it relays until SIGTERM, then exits 0") {
  TempDir dir;
  const auto socket = dir.path() / "proxy.sock";
  UnixServer server(socket, count_then_reply);
  std::string reply;
  std::thread client;
  std::string out;
  int status = -1;
  {
    Capture capture_out(1, dir.path() / "out");
    status = run_relay(args_for(socket, {}), [&](const tcp::endpoint& endpoint) {
      const std::uint16_t port = endpoint.port();
      client = std::thread([&reply, port] {
        try {
          Stream stream(connect_tcp(port));
          stream.send("12345");
          stream.shutdown_write();
          reply = read_all(stream);
        } catch (const std::exception&) {
        }
        ::kill(::getpid(), SIGTERM);  // the handlers are in place: on_listening is called after them
      });
    });
    out = capture_out.finish();
  }
  client.join();
  CHECK(status == 0);
  CHECK(reply == "got 5 bytes");
  CHECK(out == "");
}

}  // namespace airlock::proxy::test
