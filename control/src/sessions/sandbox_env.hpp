// What GET /v1/sessions/{id}/sandbox_env (API.md §10) tells a sandbox besides the session's own variables:
// where the proxy is and which CA bundle to trust. The composition root fills it from the configuration
// (proxy.advertise_url, or http:// + the bound proxy address) and the CA files; a default-constructed one
// means "not configured", and the endpoint then answers 503.
//
// The variable names are one table in sandbox_env.cpp, documented in docs/proxy.md ("What sandboxes
// trust"); a name goes in only when the tool's own documentation says it reads it.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <string_view>

#include "airlock/store/store.hpp"

namespace airlock::control {

// Where a sandbox finds Airlock's CA, as paths it can open.
struct SandboxTrust {
  std::string ca_bundle;    // DATA_DIR/ca-bundle.pem: system roots + Airlock's CA, PEM
  std::string trust_store;  // DATA_DIR/ca-truststore.p12: the same for Java (password certs::kTrustStorePassword)
};

struct SandboxEnvSettings {
  std::string proxy_advertise_url;             // e.g. "http://127.0.0.1:8421"
  SandboxTrust trust;
  std::function<std::string()> ca_bundle_pem;  // its text, read when asked (the bundle may be rewritten)
};

// The variables a sandbox of `session` starts with: each exposed credential's placeholder under its
// secret_name, the proxy URL (from `proxy_url_base`, e.g. "http://127.0.0.1:3128") with the session's
// credentials under every proxy variable, NO_PROXY for loopback, the bundle under every CA variable
// common tools read, and JAVA_TOOL_OPTIONS naming the truststore. Airlock's own variables win over a
// credential named like one of them. Throws the 409 of exposed_variables when two vaults define one
// secret_name.
std::map<std::string, std::string> sandbox_variables(store::Store& store, const store::Session& session,
                                                     std::string_view proxy_url_base, const SandboxTrust& trust);

}  // namespace airlock::control
