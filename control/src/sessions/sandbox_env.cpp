// GET /v1/sessions/{id}/sandbox_env (API.md §10): everything a sandbox must be started with, and nothing
// secret. The env holds each exposed credential's placeholder under its secret_name, the proxy URL with
// the session's credentials (username = session id, password = the token derived from the master key,
// SECURITY.md K3), NO_PROXY for loopback, and the CA bundle path under every variable common tools read,
// with the Java truststore in JAVA_TOOL_OPTIONS (K6). Airlock's own variables are written last, so a credential named like one of them cannot point a
// sandbox around the proxy.
//
// Unknown or deleted sessions are 404; an archived session is 400, since its token no longer opens the
// proxy. Two vaults exposing one secret_name are a 409 (they are refused at creation, but a credential
// may have been added to a vault since).
#include <fmt/format.h>

#include "airlock/certs/trust_store.hpp"
#include "api/resources.hpp"
#include "sessions/session_factory.hpp"

namespace airlock::control {
namespace {

constexpr std::string_view kNoProxy = "localhost,127.0.0.1,::1";
constexpr const char* kProxyVariables[] = {"HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy"};
// Each names a PEM bundle for the tools of its comment (docs/proxy.md has the table). The tool-specific
// ones matter where a tool's own configuration would otherwise win over SSL_CERT_FILE: npm ignores
// NODE_EXTRA_CA_CERTS once a cafile is configured; pip and Hex carry their own roots.
constexpr const char* kCaVariables[] = {
    "SSL_CERT_FILE",                      // OpenSSL's default paths: curl, git, Python ssl, Go, Ruby, uv, Rust
    "NODE_EXTRA_CA_CERTS",                // Node.js, Bun
    "REQUESTS_CA_BUNDLE",                 // Python requests
    "CURL_CA_BUNDLE",                     // curl
    "GIT_SSL_CAINFO",                     // git
    "AWS_CA_BUNDLE",                      // AWS CLI and SDKs
    "DENO_CERT",                          // Deno
    "CARGO_HTTP_CAINFO",                  // cargo
    "NPM_CONFIG_CAFILE",                  // npm, pnpm (npm's cafile setting)
    "YARN_CAFILE",                        // Yarn 1 (cafile)
    "YARN_HTTPS_CA_FILE_PATH",            // Yarn 2+ (httpsCaFilePath)
    "PIP_CERT",                           // pip (--cert)
    "BUNDLE_SSL_CA_CERT",                 // Bundler (ssl_ca_cert)
    "HEX_CACERTS_PATH",                   // Hex / mix (cacerts_path)
    "COMPOSER_CAFILE",                    // Composer (cafile)
    "CLOUDSDK_CORE_CUSTOM_CA_CERTS_FILE", // gcloud (core/custom_ca_certs_file)
    "GRPC_DEFAULT_SSL_ROOTS_FILE_PATH",   // gRPC (C core: Python, Ruby, PHP, C++)
    "HTTPLIB2_CA_CERTS",                  // Python httplib2 (older Google API clients)
};

// Java reads no PEM variable: the truststore, through the variable every JVM reads at start.
std::string java_tool_options(std::string_view trust_store) {
  return fmt::format("-Djavax.net.ssl.trustStore={} -Djavax.net.ssl.trustStorePassword={} -Djavax.net.ssl.trustStoreType=PKCS12",
                     trust_store, certs::kTrustStorePassword);
}

// scheme://<session id>:<token>@<host:port of the advertise URL>; any path or user info of the advertise
// URL is dropped. A URL without a scheme is taken as http.
std::string proxy_url(std::string_view advertise, std::string_view session_id, std::string_view token) {
  std::string_view scheme = "http";
  if (auto mark = advertise.find("://"); mark != std::string_view::npos) {
    scheme = advertise.substr(0, mark);
    advertise.remove_prefix(mark + 3);
  }
  std::string_view authority = advertise.substr(0, advertise.find_first_of("/?#"));
  if (auto at = authority.rfind('@'); at != std::string_view::npos) authority.remove_prefix(at + 1);
  return fmt::format("{}://{}:{}@{}", scheme, session_id, token, authority);
}

Reply sandbox_env(store::Store& store, const SandboxEnvSettings& settings, ApiRequest& request) {
  const std::string& id = request.param("session_id");
  store::Session session = take(store.get_session(id), "session", id);
  if (session.archived_at) {
    bad_request(fmt::format("session {} is archived; its proxy credentials are no longer valid, so a sandbox cannot be "
                            "started for it",
                            id));
  }
  if (settings.proxy_advertise_url.empty() || settings.trust.ca_bundle.empty()) {
    throw ApiError(503, "api_error", "sandbox_env is not available: this daemon has no proxy address or CA bundle configured");
  }
  json env = sandbox_variables(store, session, settings.proxy_advertise_url, settings.trust);
  return Reply{200,
               {{"type", "sandbox_env"},
                {"session_id", session.id},
                {"env", std::move(env)},
                {"ca_bundle_pem", settings.ca_bundle_pem ? settings.ca_bundle_pem() : std::string()}},
               {}};
}

}  // namespace

std::map<std::string, std::string> sandbox_variables(store::Store& store, const store::Session& session,
                                                     std::string_view proxy_url_base, const SandboxTrust& trust) {
  std::map<std::string, std::string> env;
  for (const ExposedVariable& variable : exposed_variables(store, session.vault_ids)) {
    env[variable.secret_name] = variable.placeholder;
  }
  const std::string proxy = proxy_url(proxy_url_base, session.id, store.session_proxy_token(session.id));
  for (const char* name : kProxyVariables) env[name] = proxy;
  env["NO_PROXY"] = kNoProxy;
  env["no_proxy"] = kNoProxy;
  env["NODE_USE_ENV_PROXY"] = "1";  // Node.js 24+ (and 22.21+): fetch and https follow HTTPS_PROXY
  for (const char* name : kCaVariables) env[name] = trust.ca_bundle;
  env["JAVA_TOOL_OPTIONS"] = java_tool_options(trust.trust_store);
  return env;
}

void add_sandbox_env_routes(Router& router, store::Store& store, const SandboxEnvSettings& settings) {
  router.add("GET", "/v1/sessions/{session_id}/sandbox_env",
             [&store, settings](ApiRequest& r) { return sandbox_env(store, settings, r); });
}

}  // namespace airlock::control
