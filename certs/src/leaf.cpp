// Leaf minting and the server-side TLS context that presents a leaf (see leaf.hpp).
#include "airlock/certs/leaf.hpp"

#include <algorithm>
#include <ctime>
#include <string>

#include <fmt/format.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "openssl_error.hpp"
#include "x509_build.hpp"

namespace airlock::certs {

namespace {

constexpr std::size_t kMaxCommonNameLength = 64;  // ub-common-name, RFC 5280 Appendix A
// Per context, so 1024 cached leaves cannot hold 20480 sessions each (OpenSSL's default). Resumption
// mostly uses stateless tickets anyway.
constexpr long kServerSessionCacheSize = 256;
constexpr std::string_view kSessionIdContext = "airlock";
constexpr unsigned char kAlpnHttp11[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};

// Airlock speaks HTTP/1.1 to the sandbox. A client that offers ALPN without it could not talk to us, so
// it gets no_application_protocol (RFC 7301 §3.2) rather than a connection that fails later.
int select_http11(SSL*, const unsigned char** out, unsigned char* out_length, const unsigned char* offered,
                  unsigned int offered_length, void*) {
  unsigned char* selected = nullptr;
  if (SSL_select_next_proto(&selected, out_length, kAlpnHttp11, sizeof kAlpnHttp11, offered, offered_length) !=
      OPENSSL_NPN_NEGOTIATED) {
    return SSL_TLSEXT_ERR_ALERT_FATAL;
  }
  *out = selected;
  return SSL_TLSEXT_ERR_OK;
}

}  // namespace

Result<Leaf> mint_leaf(const RootCa& ca, const ValidatedHost& host, EVP_PKEY* leaf_key,
                       std::chrono::system_clock::time_point now) {
  ClearErrorsOnReturn clear;
  X509Ptr certificate{X509_new()};
  if (!certificate) return openssl_error(fmt::format("mint a certificate for {}", host.text()));
  X509* cert = certificate.get();

  const std::time_t t = std::chrono::system_clock::to_time_t(now);
  const std::time_t not_before = t - std::chrono::seconds(kLeafBackdate).count();
  // Never past the CA's own end (a sidecar's intermediate lives 24 hours at most).
  const std::time_t not_after =
      std::min(t + std::chrono::seconds(kLeafLifetime).count(), std::chrono::system_clock::to_time_t(ca.not_after()));

  // A subject without a CN is empty, and RFC 5280 §4.2.1.6 then requires the SAN to be critical.
  const bool with_common_name = host.text().size() <= kMaxCommonNameLength;
  // The host is LDH or an IP literal (ValidatedHost), so it cannot inject into the config syntax.
  const std::string san =
      fmt::format("{}{}:{}", with_common_name ? "" : "critical,", host.is_ip() ? "IP" : "DNS", host.text());

  const bool built = X509_set_version(cert, X509_VERSION_3) == 1 && set_random_serial(cert) &&
                     set_validity(cert, not_before, not_after) &&
                     (!with_common_name || add_name_entry(X509_get_subject_name(cert), "CN", host.text())) &&
                     X509_set_issuer_name(cert, X509_get_subject_name(ca.certificate())) == 1 &&
                     X509_set_pubkey(cert, leaf_key) == 1 &&
                     add_extension(cert, ca.certificate(), NID_basic_constraints, "critical,CA:FALSE") &&
                     add_extension(cert, ca.certificate(), NID_key_usage, "critical,digitalSignature") &&
                     add_extension(cert, ca.certificate(), NID_ext_key_usage, "serverAuth") &&
                     add_extension(cert, ca.certificate(), NID_subject_alt_name, san.c_str()) &&
                     add_extension(cert, ca.certificate(), NID_subject_key_identifier, "hash") &&
                     add_extension(cert, ca.certificate(), NID_authority_key_identifier, "keyid:always") &&
                     X509_sign(cert, ca.key(), EVP_sha256()) > 0;
  if (!built) return openssl_error(fmt::format("mint a certificate for {}", host.text()));
  return Leaf{std::move(certificate), std::chrono::system_clock::from_time_t(not_after)};
}

Result<std::shared_ptr<SSL_CTX>> make_server_context(const RootCa& ca, X509* leaf, EVP_PKEY* leaf_key) {
  ClearErrorsOnReturn clear;
  SslCtxPtr context{SSL_CTX_new(TLS_server_method())};
  if (!context) return openssl_error("create a server TLS context");
  SSL_CTX* ctx = context.get();
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);  // ~34 KB less per idle connection
  // Client-initiated renegotiation costs us a handshake per request from the sandbox, for nothing.
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);
  SSL_CTX_set_alpn_select_cb(ctx, select_http11, nullptr);
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
  SSL_CTX_sess_set_cache_size(ctx, kServerSessionCacheSize);
  const bool configured =
      SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) == 1 &&
      SSL_CTX_set_session_id_context(ctx, reinterpret_cast<const unsigned char*>(kSessionIdContext.data()),
                                     static_cast<unsigned int>(kSessionIdContext.size())) == 1 &&
      SSL_CTX_use_certificate(ctx, leaf) == 1 &&              // up-refs the leaf
      SSL_CTX_use_PrivateKey(ctx, leaf_key) == 1 &&           // up-refs the key
      SSL_CTX_add1_chain_cert(ctx, ca.certificate()) == 1 &&  // up-refs the CA certificate
      SSL_CTX_check_private_key(ctx) == 1;
  if (!configured) return openssl_error("configure a server TLS context");
  return std::shared_ptr<SSL_CTX>(std::move(context));
}

}  // namespace airlock::certs
