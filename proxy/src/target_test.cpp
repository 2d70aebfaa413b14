// Unit tests of destination parsing and base64 (target.cpp).
#include <doctest/doctest.h>

#include "target.hpp"

namespace airlock::proxy {

TEST_CASE("parse_connect_target") {
  const auto name = parse_connect_target("API.Example.com:443");
  REQUIRE(name);
  CHECK(name->host.text() == "api.example.com");
  CHECK(name->port == 443);
  const auto v4 = parse_connect_target("192.0.2.1:8443");
  REQUIRE(v4);
  CHECK(v4->host.kind() == certs::ValidatedHost::Kind::ipv4);
  const auto v6 = parse_connect_target("[2001:db8::1]:443");
  REQUIRE(v6);
  CHECK(v6->host.text() == "2001:db8::1");
  for (const char* bad : {"api.example.com", "api.example.com:", "api.example.com:0", "api.example.com:65536",
                          "api.example.com:44a", ":443", "a_b.example.com:443", "2001:db8::1:443", "[2001:db8::1]",
                          "[::1]x:443", "http://a.example:443", "a.example:443/x", "*.example.com:443"}) {
    CAPTURE(bad);
    CHECK_FALSE(parse_connect_target(bad));
  }
}

TEST_CASE("parse_host_header") {
  const auto bare = parse_host_header("API.Example.test.", 8080);
  REQUIRE(bare);
  CHECK(bare->host.text() == "api.example.test");
  CHECK(bare->port == 8080);
  const auto with_port = parse_host_header("[::1]:8443", 80);
  REQUIRE(with_port);
  CHECK(with_port->host.text() == "::1");
  CHECK(with_port->port == 8443);
  for (const char* bad : {"", ":80", "a.test:", "a.test:0", "a.test:x", "a_b.test", "::1", "[::1", "a.test/x"}) {
    CAPTURE(bad);
    CHECK_FALSE(parse_host_header(bad, 80));
  }
}

TEST_CASE("parse_absolute_url") {
  const auto plain = parse_absolute_url("http://Example.com/a/b?c=d");
  REQUIRE(plain);
  CHECK(plain->scheme == "http");
  CHECK(plain->authority.host.text() == "example.com");
  CHECK(plain->authority.port == 80);
  CHECK(plain->origin_form == "/a/b?c=d");
  const auto secure = parse_absolute_url("HTTPS://example.com:8443");
  REQUIRE(secure);
  CHECK(secure->scheme == "https");
  CHECK(secure->authority.port == 8443);
  CHECK(secure->origin_form == "/");
  const auto query = parse_absolute_url("http://example.com?x=1");
  REQUIRE(query);
  CHECK(query->origin_form == "/?x=1");
  for (const char* bad : {"/a/b", "ftp://example.com/", "http://user:pw@example.com/", "http:///x", "http://exa mple.com/",
                          "http://example.com/#frag", "http://example.com:0/", "http://[::1/"}) {
    CAPTURE(bad);
    CHECK_FALSE(parse_absolute_url(bad));
  }
}

TEST_CASE("host_header_matches") {
  const auto host = *certs::validate_host("api.example.com");
  CHECK(host_header_matches("api.example.com", host, 443));
  CHECK(host_header_matches("API.example.COM:443", host, 443));
  CHECK(host_header_matches("api.example.com.", host, 443));
  CHECK(host_header_matches("api.example.com:8443", host, 8443));
  CHECK_FALSE(host_header_matches("api.example.com:444", host, 443));
  CHECK_FALSE(host_header_matches("evil.example.com", host, 443));
  CHECK_FALSE(host_header_matches("api.example.com.evil", host, 443));
  CHECK_FALSE(host_header_matches("", host, 443));
  const auto v6 = *certs::validate_host("::1");
  CHECK(host_header_matches("[0:0::1]:443", v6, 443));
  CHECK_FALSE(host_header_matches("[::2]:443", v6, 443));
}

TEST_CASE("path_of drops the query (S8)") {
  CHECK(path_of("/v1/x?key=secret") == "/v1/x");
  CHECK(path_of("/v1/x") == "/v1/x");
  CHECK(path_of("http://h/p?q") == "/p");
  CHECK(path_of("http://h") == "/");
  CHECK(path_of("*") == "*");
}

TEST_CASE("base64: strict decode, round trip") {
  CHECK(base64_decode("YWxpY2U6c2VjcmV0") == std::optional<std::string>("alice:secret"));
  CHECK(base64_decode("YQ==") == std::optional<std::string>("a"));
  CHECK(base64_decode("YWI=") == std::optional<std::string>("ab"));
  CHECK(base64_decode("") == std::optional<std::string>(""));
  for (const char* bad : {"YQ", "YQ=", "Y===", "YQ==YQ==", "Y Q==", "YQ=a", "!!!!"}) {
    CAPTURE(bad);
    CHECK_FALSE(base64_decode(bad));
  }
  std::string all;
  for (int i = 0; i < 256; ++i) all += static_cast<char>(i);
  for (std::size_t n = 0; n <= all.size(); n += 17) {
    CHECK(base64_decode(base64_encode(all.substr(0, n))) == std::optional<std::string>(all.substr(0, n)));
  }
  CHECK(base64_encode("alice:secret") == "YWxpY2U6c2VjcmV0");
}

}  // namespace airlock::proxy
