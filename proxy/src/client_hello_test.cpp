// Unit tests of scan_client_hello: real ClientHellos from OpenSSL (with and without SNI, TLS 1.2 and 1.3),
// split at every byte and re-fragmented into many records, and hand-made malformed ones.
#include <doctest/doctest.h>

#include <openssl/bio.h>
#include <openssl/ssl.h>

#include <memory>
#include <string>

#include "client_hello.hpp"

namespace airlock::proxy {

namespace {

// The first flight of an OpenSSL client: its ClientHello record(s), as they would reach the proxy.
std::string client_hello_of(const char* server_name, int max_version = TLS1_3_VERSION) {
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> context(SSL_CTX_new(TLS_client_method()), &SSL_CTX_free);
  SSL_CTX_set_max_proto_version(context.get(), max_version);
  std::unique_ptr<SSL, decltype(&SSL_free)> ssl(SSL_new(context.get()), &SSL_free);
  BIO* in = BIO_new(BIO_s_mem());
  BIO* out = BIO_new(BIO_s_mem());
  SSL_set_bio(ssl.get(), in, out);  // ssl owns both
  if (server_name != nullptr) SSL_set_tlsext_host_name(ssl.get(), server_name);
  SSL_set_connect_state(ssl.get());
  SSL_do_handshake(ssl.get());  // wants to read the server's answer: the ClientHello is in `out`
  char* data = nullptr;
  const long size = BIO_get_mem_data(out, &data);
  return std::string(data, static_cast<std::size_t>(size));
}

// The same handshake message cut into records of `size` bytes each.
std::string refragment(const std::string& records, std::size_t size) {
  std::string message;
  for (std::size_t at = 0; at < records.size();) {
    const std::size_t length = (static_cast<unsigned char>(records[at + 3]) << 8) | static_cast<unsigned char>(records[at + 4]);
    message += records.substr(at + 5, length);
    at += 5 + length;
  }
  std::string out;
  for (std::size_t at = 0; at < message.size(); at += size) {
    const std::string piece = message.substr(at, size);
    out += std::string{'\x16', '\x03', '\x01', static_cast<char>(piece.size() >> 8), static_cast<char>(piece.size() & 0xff)};
    out += piece;
  }
  return out;
}

// A ClientHello record around `extensions` (already with their type and length prefixes).
std::string hello_with_extensions(const std::string& extensions) {
  std::string body;
  body += std::string{'\x03', '\x03'};
  body += std::string(32, 'r');
  body += '\0';                                   // session id
  body += std::string{'\x00', '\x02', '\x13', '\x01'};  // one cipher suite
  body += std::string{'\x01', '\x00'};             // null compression
  body += static_cast<char>(extensions.size() >> 8);
  body += static_cast<char>(extensions.size() & 0xff);
  body += extensions;
  std::string message{'\x01', '\0', static_cast<char>(body.size() >> 8), static_cast<char>(body.size() & 0xff)};
  message += body;
  return std::string{'\x16', '\x03', '\x01', static_cast<char>(message.size() >> 8),
                     static_cast<char>(message.size() & 0xff)} +
         message;
}

std::string server_name_extension(const std::string& names) {  // names: the ServerNameList's entries
  std::string list{static_cast<char>(names.size() >> 8), static_cast<char>(names.size() & 0xff)};
  list += names;
  return std::string{'\0', '\0', static_cast<char>(list.size() >> 8), static_cast<char>(list.size() & 0xff)} + list;
}

std::string host_name_entry(const std::string& host) {
  return std::string{'\0', static_cast<char>(host.size() >> 8), static_cast<char>(host.size() & 0xff)} + host;
}

}  // namespace

TEST_CASE("scan_client_hello: OpenSSL's ClientHello, whole and cut at every byte") {
  for (const int version : {TLS1_2_VERSION, TLS1_3_VERSION}) {
    CAPTURE(version);
    const std::string hello = client_hello_of("api.example.test", version);
    REQUIRE(hello.size() > 100);
    for (std::size_t cut = 0; cut < hello.size(); ++cut) {
      CAPTURE(cut);
      REQUIRE(scan_client_hello(std::string_view(hello).substr(0, cut)).state == ClientHelloScan::State::need_more);
    }
    const ClientHelloScan whole = scan_client_hello(hello);
    REQUIRE(whole.state == ClientHelloScan::State::complete);
    CHECK(whole.server_name == "api.example.test");
  }
}

TEST_CASE("scan_client_hello: a ClientHello spread over many records") {
  const std::string hello = client_hello_of("split.example.test");
  for (const std::size_t size : {1u, 2u, 3u, 7u, 100u}) {
    CAPTURE(size);
    const std::string records = refragment(hello, size);
    const ClientHelloScan scan = scan_client_hello(records);
    REQUIRE(scan.state == ClientHelloScan::State::complete);
    CHECK(scan.server_name == "split.example.test");
    CHECK(scan_client_hello(std::string_view(records).substr(0, records.size() - 1)).state ==
          ClientHelloScan::State::need_more);
  }
}

TEST_CASE("scan_client_hello: no SNI is complete without a name, not TLS, more bytes after it") {
  const ClientHelloScan none = scan_client_hello(client_hello_of(nullptr));
  CHECK(none.state == ClientHelloScan::State::complete);
  CHECK_FALSE(none.server_name);
  CHECK(scan_client_hello("GET / HTTP/1.1\r\n").state == ClientHelloScan::State::not_tls);
  CHECK(scan_client_hello("").state == ClientHelloScan::State::need_more);
  const ClientHelloScan followed = scan_client_hello(client_hello_of("a.test") + "\x14\x03\x03\x00\x01\x01");
  CHECK(followed.state == ClientHelloScan::State::complete);
  CHECK(followed.server_name == "a.test");
  // A hand-made one: another name type is skipped, the host_name taken.
  const ClientHelloScan other = scan_client_hello(hello_with_extensions(
      server_name_extension(std::string{'\x05', '\0', '\x01', 'x'} + host_name_entry("named.test"))));
  CHECK(other.state == ClientHelloScan::State::complete);
  CHECK(other.server_name == "named.test");
}

TEST_CASE("scan_client_hello: malformed ClientHellos") {
  const auto state_of = [](const std::string& bytes) { return scan_client_hello(bytes).state; };
  constexpr auto malformed = ClientHelloScan::State::malformed;
  // Two host names, two server_name extensions, an empty name.
  CHECK(state_of(hello_with_extensions(server_name_extension(host_name_entry("a.test") + host_name_entry("b.test")))) ==
        malformed);
  CHECK(state_of(hello_with_extensions(server_name_extension(host_name_entry("a.test")) +
                                       server_name_extension(host_name_entry("a.test")))) == malformed);
  CHECK(state_of(hello_with_extensions(server_name_extension(host_name_entry("")))) == malformed);
  // An extension that claims more bytes than there are.
  CHECK(state_of(hello_with_extensions(std::string{'\0', '\x10', '\x00', '\x09', 'x'})) == malformed);
  // A record that is not a handshake, a zero-length record, an oversized one, a version that is not 3.x.
  std::string hello = client_hello_of("a.test");
  CHECK(state_of(std::string{'\x16', '\x03', '\x01', '\0', '\0'}) == malformed);
  CHECK(state_of(std::string{'\x16', '\x03', '\x01', '\x40', '\x01'}) == malformed);
  CHECK(state_of(std::string{'\x16', '\x02', '\x01', '\0', '\x05'}) == malformed);
  const std::string split = refragment(hello, 10);
  std::string foreign = split.substr(0, 15) + std::string{'\x17', '\x03', '\x03', '\0', '\x01', 'x'};
  CHECK(state_of(foreign) == malformed);
  // Another handshake message first (a ServerHello), and a ClientHello over 32 KiB.
  hello[5] = 2;
  CHECK(state_of(hello) == malformed);
  CHECK(state_of(std::string{'\x16', '\x03', '\x01', '\0', '\x04', '\x01', '\x01', '\0', '\0'}) == malformed);
}

}  // namespace airlock::proxy
