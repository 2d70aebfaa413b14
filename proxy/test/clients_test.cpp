// Other real clients through the proxy, configured only by the environment a sandbox gets from
// sandbox_env (HTTPS_PROXY with the session's credentials, a CA bundle variable): Python's requests
// (when installed) and Python's own urllib. A client that is not installed is reported, not failed.
#include <doctest/doctest.h>

#include "airlock/testing/skip.hpp"
#include "test_support.hpp"

namespace airlock::proxy::test {

namespace {

void use_session(Fixture& f) {
  f.slot.store(snapshot_of({session_entry(std::string(kSession), std::string(kToken),
                                          {env_credential("vcrd_1", "METRICS_API_TOKEN", std::string(kPlaceholder),
                                                          kSecret, {"localhost"})})}));
}

std::string sandbox_env(const Fixture& f) {
  const std::string proxy = fmt::format("http://{}:{}@127.0.0.1:{}", kSession, kToken, f.proxy_port());
  return fmt::format("env -u NO_PROXY -u no_proxy HTTPS_PROXY='{}' https_proxy='{}' REQUESTS_CA_BUNDLE='{}' "
                     "SSL_CERT_FILE='{}' METRICS_API_TOKEN='{}'",
                     proxy, proxy, f.airlock_ca_file.string(), f.airlock_ca_file.string(), kPlaceholder);
}

bool python_has(const std::string& module) {
  return run_command(fmt::format("/usr/bin/python3 -c 'import {}'", module)).first == 0;
}

}  // namespace

TEST_CASE("Python requests through HTTPS_PROXY") {
  AIRLOCK_SKIP_UNLESS(python_has("requests"), "Debian's python3 with requests is not installed (scripts/setup installs python3-requests)");
  Fixture f;
  use_session(f);
  f.start();
  const std::string script = fmt::format(
      "import os, requests; "
      "r = requests.post('https://localhost:{}/echo', headers={{'Authorization': 'Bearer ' + os.environ['METRICS_API_TOKEN']}}, "
      "json={{'key': os.environ['METRICS_API_TOKEN']}}); print(r.status_code); print(r.text)",
      f.origin.port());
  const auto [status, out] = run_command(fmt::format("{} /usr/bin/python3 -c \"{}\"", sandbox_env(f), script));
  CHECK(status == 0);
  CHECK(out.rfind("200\n", 0) == 0);
  CHECK_FALSE(contains(out, kSecret));
  const auto captured = f.origin.last();
  REQUIRE(captured);
  CHECK(*captured->head.headers.find("Authorization") == fmt::format("Bearer {}", kSecret));
  CHECK(captured->body == fmt::format("{{\"key\": \"{}\"}}", kSecret));
}

TEST_CASE("Python urllib through HTTPS_PROXY") {
  Fixture f;
  use_session(f);
  f.start();
  const std::string script = fmt::format(
      "import os, urllib.request; "
      "req = urllib.request.Request('https://localhost:{}/echo?via=urllib', "
      "headers={{'X-Api-Key': os.environ['METRICS_API_TOKEN']}}); "
      "print(urllib.request.urlopen(req).read().decode())",
      f.origin.port());
  const auto [status, out] = run_command(fmt::format("{} /usr/bin/python3 -c \"{}\"", sandbox_env(f), script));
  CHECK(status == 0);
  CHECK(contains(out, "GET /echo?via=urllib HTTP/1.1"));
  CHECK(contains(out, fmt::format("X-Api-Key: {}", kPlaceholder)));
  CHECK_FALSE(contains(out, kSecret));
  const auto captured = f.origin.last();
  REQUIRE(captured);
  CHECK(*captured->head.headers.find("X-Api-Key") == kSecret);
}

}  // namespace airlock::proxy::test
