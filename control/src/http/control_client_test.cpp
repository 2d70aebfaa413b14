// ControlUrl::parse: the control plane URLs `airlock proxy --control-url` takes, and the ones it refuses.
#include <doctest/doctest.h>

#include "http/control_client.hpp"

namespace airlock::control {

TEST_CASE("control url: http and https, ports, IPv6, a path prefix, refusals") {
  const auto plain = ControlUrl::parse("http://airlock-serve.airlock.svc:8420");
  REQUIRE(plain);
  CHECK_FALSE(plain->tls);
  CHECK(plain->host == "airlock-serve.airlock.svc");
  CHECK(plain->port == 8420);
  CHECK(plain->path_prefix.empty());
  const auto tls = ControlUrl::parse("https://airlock.example.com/api/");
  REQUIRE(tls);
  CHECK(tls->tls);
  CHECK(tls->port == 443);
  CHECK(tls->path_prefix == "/api");
  const auto v6 = ControlUrl::parse("http://[fd00::1]:18420");
  REQUIRE(v6);
  CHECK(v6->host == "fd00::1");
  CHECK(v6->port == 18420);
  CHECK(ControlUrl::parse("http://[fd00::1]")->port == 80);
  for (const char* bad : {"airlock:8420", "ftp://a", "http://", "http://:80", "http://a:", "http://a:0", "http://a:65536",
                          "http://a:x", "http://[fd00::1", "http://[fd00::1]x", "http://[fd00::1]:"}) {
    CAPTURE(bad);
    CHECK_FALSE(ControlUrl::parse(bad));
  }
}

}  // namespace airlock::control
