// What GET /v1/sessions/{id}/sandbox_env (API.md §10) tells a sandbox besides the session's own variables:
// where the proxy is and which CA bundle to trust. The composition root fills it from the configuration
// (proxy.advertise_url, or http:// + the bound proxy address) and the CA files; a default-constructed one
// means "not configured", and the endpoint then answers 503.
#pragma once

#include <functional>
#include <string>

namespace airlock::control {

struct SandboxEnvSettings {
  std::string proxy_advertise_url;            // e.g. "http://127.0.0.1:8421"
  std::string ca_bundle_path;                 // DATA_DIR/ca-bundle.pem
  std::function<std::string()> ca_bundle_pem;  // its text, read when asked (the bundle may be rewritten)
};

}  // namespace airlock::control
