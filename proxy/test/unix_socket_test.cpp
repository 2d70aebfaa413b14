// The proxy's Unix-socket listener (ProxyOptions::unix_socket): the same connection code as TCP
// (identification, interception, substitution, audit) through a real Unix socket, the socket file's life
// (stale file replaced, other files refused and left alone, 0600 or 0660 with a group, removed by stop()) and
// draining.
#include <doctest/doctest.h>

#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "test_support.hpp"

namespace airlock::proxy::test {

namespace {

int connect_unix(const std::filesystem::path& path) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    throw std::runtime_error("unix connect failed");
  }
  set_timeouts(fd, 20);
  return fd;
}

// A socket file nobody listens on: what a crashed run leaves behind.
void make_stale_socket(const std::filesystem::path& path) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  ::close(fd);
}

bool is_socket_file(const std::filesystem::path& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode);
}

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void use_metrics(Fixture& f) {
  f.slot.store(snapshot_of({session_entry(
      std::string(kSession), std::string(kToken),
      {env_credential("vcrd_1", "METRICS_API_TOKEN", std::string(kPlaceholder), kSecret, {"localhost"})})}));
}

ProxyOptions with_socket(const Fixture& f, const std::filesystem::path& path) {
  ProxyOptions options = f.options();
  options.unix_socket = path;
  return options;
}

// CONNECT over the Unix socket; the response head (and TLS set up when it is a 200).
std::string unix_tunnel(Fixture& f, Stream& stream, std::string_view host, std::uint16_t port,
                        const std::string& auth) {
  std::string request = fmt::format("CONNECT {}:{} HTTP/1.1\r\nHost: {}:{}\r\n", host, port, host, port);
  if (!auth.empty()) request += "Proxy-Authorization: " + auth + "\r\n";
  request += "\r\n";
  REQUIRE(stream.send(request));
  std::string leftover;
  const Response response = read_response(stream, leftover, "CONNECT");
  if (response.status != 200) return response.head_text + response.body;
  if (!stream.start_tls(f.airlock_ca->certificate_pem(), std::string(host), std::string(host))) return "TLS FAILED";
  return response.head_text;
}

}  // namespace

TEST_CASE("unix socket: CONNECT with Proxy-Authorization gets the placeholder substituted") {
  Fixture f;
  use_metrics(f);
  const auto path = f.dir.path() / "proxy.sock";
  f.start(with_socket(f, path));
  Stream stream(connect_unix(path));
  const std::string head = unix_tunnel(f, stream, "localhost", f.origin.port(), proxy_auth());
  REQUIRE(head == "HTTP/1.1 200 Connection Established\r\n\r\n");
  const std::string body = fmt::format("{{\"token\":\"{}\"}}", kPlaceholder);
  REQUIRE(stream.send(fmt::format("POST /echo HTTP/1.1\r\nHost: localhost:{}\r\nAuthorization: Bearer {}\r\n"
                                  "Content-Length: {}\r\n\r\n{}",
                                  f.origin.port(), kPlaceholder, body.size(), body)));
  std::string leftover;
  const Response response = read_response(stream, leftover, "POST");
  CHECK(response.status == 200);
  CHECK_FALSE(contains(response.body, kSecret));
  CHECK(contains(response.body, fmt::format("Authorization: Bearer {}", kPlaceholder)));
  const auto captured = f.origin.last();
  REQUIRE(captured);
  CHECK(*captured->head.headers.find("Authorization") == fmt::format("Bearer {}", kSecret));
  CHECK(captured->body == fmt::format("{{\"token\":\"{}\"}}", kSecret));
  CHECK(captured->head.target == "/echo");
  CHECK(captured->sni == "localhost");
  const auto record = f.sink.wait_for(1);
  REQUIRE(record);
  CHECK(record->decision == "allowed");
  CHECK(record->session_id == kSession);
  CHECK(record->host == "localhost");
  CHECK(record->port == f.origin.port());
  CHECK(record->path == "/echo");
  CHECK(record->status == 200);
  REQUIRE(record->credentials.size() == 2);
  CHECK(record->credentials[0].location == "header");
  CHECK(record->credentials[1].location == "body");
  CHECK(f.proxy->stats().requests_substituted == 1);
  CHECK(f.proxy->stats().connections_accepted == 1);
}

TEST_CASE("unix socket: plain http absolute-form keep-alive requests are served") {
  Origin::Options plain;
  plain.tls = false;
  Fixture f(plain);
  use_metrics(f);
  const auto path = f.dir.path() / "proxy.sock";
  f.start(with_socket(f, path));
  Stream stream(connect_unix(path));
  std::string leftover;
  for (int i = 0; i < 3; ++i) {
    REQUIRE(stream.send(fmt::format("GET http://localhost:{}/echo?n={} HTTP/1.1\r\nHost: localhost:{}\r\n"
                                    "Proxy-Authorization: {}\r\n\r\n",
                                    f.origin.port(), i, f.origin.port(), proxy_auth())));
    const Response response = read_response(stream, leftover);
    CHECK(response.status == 200);
    CHECK(response.keep_alive);
  }
  const auto requests = f.origin.requests();
  REQUIRE(requests.size() == 3);
  CHECK(requests[2].head.target == "/echo?n=2");
  CHECK(requests[2].head.headers.find("Proxy-Authorization") == nullptr);
  CHECK(f.proxy->stats().connections_accepted == 1);
}

TEST_CASE("unix socket: no Proxy-Authorization is answered 407") {
  Fixture f;
  use_metrics(f);
  const auto path = f.dir.path() / "proxy.sock";
  f.start(with_socket(f, path));
  Stream stream(connect_unix(path));
  const std::string head = unix_tunnel(f, stream, "localhost", f.origin.port(), "");
  CHECK(head.rfind("HTTP/1.1 407 ", 0) == 0);
  CHECK(contains(head, "proxy_auth_required: "));
  const auto record = f.sink.wait_for(1);
  REQUIRE(record);
  CHECK(record->status == 407);
  CHECK(record->decision == "denied");
  CHECK(record->reason == "proxy_auth_required");
  CHECK(record->session_id == "");
  CHECK(f.origin.connections() == 0);
}

TEST_CASE("unix socket: the file is 0600 and stop() removes it") {
  Fixture f;
  const auto path = f.dir.path() / "proxy.sock";
  f.start(with_socket(f, path));
  REQUIRE(is_socket_file(path));
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0600);
  f.proxy->stop();
  CHECK_FALSE(std::filesystem::exists(std::filesystem::symlink_status(path)));
  f.proxy->stop();  // idempotent
}

TEST_CASE("unix socket: with unix_socket_group the file has that group and is 0660") {
  Fixture f;
  const auto path = f.dir.path() / "proxy.sock";
  ProxyOptions options = with_socket(f, path);
  options.unix_socket_group = ::getegid();  // a group of ours: any user may give its files that one
  f.start(options);
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0660);
  CHECK(st.st_gid == ::getegid());
}

TEST_CASE("unix socket: a proxy never started removes its socket file too") {
  Fixture f;
  const auto path = f.dir.path() / "proxy.sock";
  {
    Proxy proxy(with_socket(f, path), f.airlock_ca, f.slot, f.sink);
    CHECK(is_socket_file(path));
  }
  CHECK_FALSE(std::filesystem::exists(std::filesystem::symlink_status(path)));
}

TEST_CASE("unix socket: a stale socket file is replaced") {
  Fixture f;
  use_metrics(f);
  const auto path = f.dir.path() / "proxy.sock";
  make_stale_socket(path);
  REQUIRE(is_socket_file(path));
  CHECK_THROWS(connect_unix(path));  // nobody listens on it
  f.start(with_socket(f, path));
  Stream stream(connect_unix(path));
  const std::string head = unix_tunnel(f, stream, "localhost", f.origin.port(), proxy_auth());
  CHECK(head == "HTTP/1.1 200 Connection Established\r\n\r\n");
}

TEST_CASE("unix socket: a file that is not a socket is refused and left alone") {
  Fixture f;
  const auto path = f.dir.path() / "proxy.sock";
  write_file(path, "keep me\n");
  const std::string expected =
      fmt::format("proxy: cannot listen on the Unix socket {}: the path exists and is not a socket", path.string());
  CHECK_THROWS_WITH_AS(Proxy(with_socket(f, path), f.airlock_ca, f.slot, f.sink), doctest::Contains(expected.c_str()),
                       std::system_error);
  CHECK(read_file(path) == "keep me\n");

  const auto directory = f.dir.path() / "a-directory";
  std::filesystem::create_directory(directory);
  CHECK_THROWS_AS(Proxy(with_socket(f, directory), f.airlock_ca, f.slot, f.sink), std::system_error);
  CHECK(std::filesystem::is_directory(directory));

  const std::string too_long = (f.dir.path() / std::string(120, 'x')).string();
  const std::string long_expected = fmt::format("proxy: cannot listen on the Unix socket {}", too_long);
  CHECK_THROWS_WITH_AS(Proxy(with_socket(f, too_long), f.airlock_ca, f.slot, f.sink),
                       doctest::Contains(long_expected.c_str()), std::system_error);

  const std::string missing_dir = (f.dir.path() / "missing" / "proxy.sock").string();
  const std::string missing_expected = fmt::format("proxy: cannot listen on the Unix socket {}", missing_dir);
  CHECK_THROWS_WITH_AS(Proxy(with_socket(f, missing_dir), f.airlock_ca, f.slot, f.sink),
                       doctest::Contains(missing_expected.c_str()), std::system_error);
}

TEST_CASE("unix socket: stop() closes idle connections and drains") {
  Fixture f;
  use_metrics(f);
  const auto path = f.dir.path() / "proxy.sock";
  f.start(with_socket(f, path));
  Stream tunnel(connect_unix(path));
  REQUIRE(unix_tunnel(f, tunnel, "localhost", f.origin.port(), proxy_auth()) ==
          "HTTP/1.1 200 Connection Established\r\n\r\n");
  std::string leftover;
  REQUIRE(tunnel.send(fmt::format("GET /echo HTTP/1.1\r\nHost: localhost:{}\r\n\r\n", f.origin.port())));
  CHECK(read_response(tunnel, leftover).status == 200);
  Stream idle(connect_unix(path));
  for (int i = 0; i < 2000 && f.proxy->stats().connections_open < 2; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  CHECK(f.proxy->stats().connections_open == 2);
  f.proxy->stop();
  CHECK(f.proxy->stats().connections_open == 0);
  char byte = 0;
  CHECK(tunnel.recv(&byte, 1) == 0);
  CHECK(idle.recv(&byte, 1) == 0);
  CHECK_THROWS(connect_unix(path));
}

}  // namespace airlock::proxy::test
