// SidecarApi (see sidecar_api.hpp).
#include "sidecar/sidecar_api.hpp"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <sodium.h>

#include <fmt/format.h>

#include "airlock/certs/openssl.hpp"
#include "api/common/fields.hpp"
#include "sidecar/egress_batch.hpp"
#include "sidecar/sealed_session.hpp"

namespace airlock::control {

namespace {

constexpr std::string_view kPrefix = "/v1/sessions/";
constexpr std::string_view kSidecar = "/sidecar/";
constexpr std::size_t kMaxPublicKeyPem = 4096;

[[noreturn]] void unauthorized(std::string_view session_id) {
  throw ApiError(401, "authentication_error",
                 fmt::format("session {} is not active, or the proxy token is not its own: send Authorization: Bearer "
                             "<the session's proxy token> (the password in its sandbox_env HTTPS_PROXY)",
                             session_id));
}

[[noreturn]] void method_not_allowed(std::string_view allowed) {
  ApiError error(405, "invalid_request_error", fmt::format("method not allowed here; allowed: {}", allowed));
  error.headers.push_back({"Allow", std::string(allowed)});
  throw error;  // NOLINT(cert-err61-cpp): named to set its headers first
}

// The Bearer credential of the Authorization header, or "".
std::string_view bearer(const ApiRequest& request) {
  const std::string* value = request.headers.find("Authorization");
  if (value == nullptr || value->size() < 8) return {};
  std::string_view text = *value;
  const std::string_view scheme = text.substr(0, 7);
  if (scheme != "Bearer " && scheme != "bearer ") return {};
  return text.substr(7);
}

// A P-256 public key in PEM (SubjectPublicKeyInfo).
certs::EvpPkeyPtr parse_public_key(const std::string& pem) {
  if (pem.size() > kMaxPublicKeyPem) throw ApiError(400, "invalid_request_error", "public_key_pem: too long");
  certs::BioPtr bio{BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()))};
  certs::EvpPkeyPtr key{bio ? PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr) : nullptr};
  ERR_clear_error();
  char curve[64] = {};
  std::size_t length = 0;
  if (!key || EVP_PKEY_get_base_id(key.get()) != EVP_PKEY_EC ||
      EVP_PKEY_get_utf8_string_param(key.get(), "group", curve, sizeof curve, &length) != 1 ||
      std::string_view(curve, length) != "prime256v1") {
    ERR_clear_error();
    throw ApiError(400, "invalid_request_error", "public_key_pem: expected a PEM P-256 public key (BEGIN PUBLIC KEY)");
  }
  return key;
}

}  // namespace

SidecarApi::SidecarApi(store::Store& store, const proxy::SnapshotSlot& snapshots, PolicySource policies,
                       std::shared_ptr<const certs::RootCa> ca, Logger& log)
    : store_(store), snapshots_(snapshots), policies_(std::move(policies)), ca_(std::move(ca)), log_(log) {}

std::optional<Reply> SidecarApi::handle(ApiRequest& request) {
  const std::string_view path = request.path;
  if (!path.starts_with(kPrefix)) return std::nullopt;
  const std::size_t marker = path.find(kSidecar, kPrefix.size());
  if (marker == std::string_view::npos) return std::nullopt;
  const std::string session_id(path.substr(kPrefix.size(), marker - kPrefix.size()));
  const std::string_view route = path.substr(marker + kSidecar.size());
  if (session_id.empty() || session_id.find('/') != std::string::npos) return std::nullopt;
  if (route != "certificate" && route != "snapshot" && route != "egress") return std::nullopt;

  const auto current = snapshots_.load();
  const auto found = current->sessions.find(session_id);
  const std::string_view token = bearer(request);
  if (found == current->sessions.end() || token.size() != found->second.proxy_token.size() || token.empty() ||
      CRYPTO_memcmp(token.data(), found->second.proxy_token.data(), token.size()) != 0) {
    unauthorized(session_id);
  }
  const proxy::SessionEntry& session = found->second;
  if (route == "snapshot") {
    if (request.method != "GET") method_not_allowed("GET");
    return snapshot(session, request);
  }
  if (request.method != "POST") method_not_allowed("POST");
  return route == "certificate" ? certificate(session, request) : egress(session, request);
}

Reply SidecarApi::certificate(const proxy::SessionEntry& session, const ApiRequest& request) {
  const json body = parse_body(request);
  if (!body.is_object() || !body.contains("public_key_pem") || !body["public_key_pem"].is_string()) {
    throw ApiError(400, "invalid_request_error", "public_key_pem: required, a PEM P-256 public key");
  }
  const certs::EvpPkeyPtr key = parse_public_key(body["public_key_pem"].get<std::string>());
  const auto now = std::chrono::system_clock::now();
  auto issued = ca_->issue_intermediate(key.get(), session.session_id, now, kCertificateLifetime);
  if (!issued) throw ApiError(409, "invalid_request_error", issued.error().message);
  const auto not_after = std::min(now + kCertificateLifetime, ca_->not_after());
  log_.info("issued a sidecar CA for session {}, valid until {}", session.session_id, store::format_time(not_after));
  return Reply{200,
               {{"type", "sidecar_certificate"},
                {"certificate_pem", std::move(issued).value()},
                {"root_pem", ca_->certificate_pem()},
                {"not_after", store::format_time(not_after)}},
               {}};
}

Reply SidecarApi::snapshot(const proxy::SessionEntry& session, const ApiRequest& request) {
  const auto text = request.query_value("public_key");
  const auto key = text ? decode_public_key(*text) : std::nullopt;
  if (!key) {
    throw ApiError(400, "invalid_request_error",
                   "public_key: required, the sidecar's X25519 public key in URL-safe base64 without padding");
  }
  const auto policies = policies_ ? policies_() : nullptr;
  return Reply{200,
               {{"type", "sidecar_snapshot"},
                {"session_id", session.session_id},
                {"sealed", seal_session(session, policies.get(), *key)}},
               {}};
}

Reply SidecarApi::egress(const proxy::SessionEntry& session, const ApiRequest& request) {
  const std::vector<store::EgressRow> rows = rows_of_batch(parse_body(request), session.session_id);
  if (auto stored = store_.record_egress(rows); !stored) throw std::system_error(stored.error());
  return Reply{200, {{"type", "sidecar_egress"}, {"recorded", rows.size()}}, {}};
}

}  // namespace airlock::control
