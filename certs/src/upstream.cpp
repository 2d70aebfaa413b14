// Client-side TLS toward upstreams: the context, per-connection host pinning, session resumption, and
// readable verification failures (see upstream.hpp).
#include "airlock/certs/upstream.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <list>
#include <mutex>
#include <string>
#include <system_error>
#include <unordered_map>
#include <utility>

#include <fmt/format.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include "openssl_error.hpp"

namespace airlock::certs {

namespace {

constexpr unsigned char kAlpnHttp11[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};

// The sessions of verified upstream connections, by "host:port", least recently stored dropped first.
class SessionStore {
 public:
  explicit SessionStore(std::size_t capacity) : capacity_(std::max<std::size_t>(capacity, 1)) {}

  void put(const std::string& key, SslSessionPtr session) {
    std::lock_guard lock(mutex_);
    if (auto found = index_.find(key); found != index_.end()) {
      found->second->second = std::move(session);
      lru_.splice(lru_.begin(), lru_, found->second);
      return;
    }
    lru_.emplace_front(key, std::move(session));
    index_.emplace(key, lru_.begin());
    while (lru_.size() > capacity_) {
      index_.erase(lru_.back().first);
      lru_.pop_back();
    }
  }

  // A session to offer for `key`, or null. A TLS 1.3 session leaves the store: its ticket is meant to be
  // used once (RFC 8446 C.4), and the server sends fresh ones on the resumed connection.
  SslSessionPtr take(const std::string& key) {
    std::lock_guard lock(mutex_);
    auto found = index_.find(key);
    if (found == index_.end()) return nullptr;
    SSL_SESSION* session = found->second->second.get();
    if (SSL_SESSION_is_resumable(session) != 1 || SSL_SESSION_get_protocol_version(session) >= TLS1_3_VERSION) {
      SslSessionPtr taken = std::move(found->second->second);
      lru_.erase(found->second);
      index_.erase(found);
      return SSL_SESSION_is_resumable(taken.get()) == 1 ? std::move(taken) : nullptr;
    }
    SSL_SESSION_up_ref(session);
    return SslSessionPtr{session};
  }

 private:
  using Lru = std::list<std::pair<std::string, SslSessionPtr>>;
  const std::size_t capacity_;
  std::mutex mutex_;
  Lru lru_;
  std::unordered_map<std::string, Lru::iterator> index_;
};

// ex_data slots: the context owns its SessionStore, a connection owns its "host:port" key. OpenSSL calls
// these when the context or connection is freed, so neither can outlive what it belongs to.
void free_store(void*, void* ptr, CRYPTO_EX_DATA*, int, long, void*) {
  std::unique_ptr<SessionStore>{static_cast<SessionStore*>(ptr)};
}
void free_key(void*, void* ptr, CRYPTO_EX_DATA*, int, long, void*) {
  std::unique_ptr<std::string>{static_cast<std::string*>(ptr)};
}
int store_index() {
  static const int index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, free_store);
  return index;
}
int key_index() {
  static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, free_key);
  return index;
}

// OpenSSL's new-session callback (C: nothing may be thrown through it). We take our own reference and
// return 0, so OpenSSL keeps managing the one it passed in whatever happens here.
int keep_session(SSL* ssl, SSL_SESSION* session) {
  try {
    auto* store = static_cast<SessionStore*>(SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), store_index()));
    const auto* key = static_cast<const std::string*>(SSL_get_ex_data(ssl, key_index()));
    // S3: a session skips certificate checks when resumed, so only a verified one may be kept.
    if (store == nullptr || key == nullptr || SSL_get_verify_result(ssl) != X509_V_OK ||
        SSL_get0_peer_certificate(ssl) == nullptr) {
      return 0;
    }
    SSL_SESSION_up_ref(session);
    store->put(*key, SslSessionPtr{session});
  } catch (...) {
  }
  return 0;
}

Status load_extra_ca(SSL_CTX* ctx, const std::filesystem::path& file) {
  if (std::ifstream probe(file, std::ios::binary); !probe) {
    return Error{Errc::io, fmt::format("cannot read upstream CA file {}: {}; give a readable PEM file of CA "
                                       "certificates",
                                       file.string(), std::generic_category().message(errno))};
  }
  if (SSL_CTX_load_verify_file(ctx, file.c_str()) != 1) {
    return openssl_error(fmt::format("upstream CA file {}: expected PEM CA certificates", file.string()), Errc::io);
  }
  return {};
}

// The system trust store, read into memory once: the bundle file (SSL_CERT_FILE when set, else OpenSSL's
// default, on Debian /etc/ssl/certs/ca-certificates.crt). Not the hashed directory OpenSSL would search
// on every verification (file lookups per new upstream connection); a directory named in SSL_CERT_DIR is
// still searched, because the operator asked for it. Without a bundle file, OpenSSL's defaults.
Status load_system_trust(SSL_CTX* ctx) {
  const char* file_env = std::getenv(X509_get_default_cert_file_env());
  const std::string file = file_env != nullptr && *file_env != '\0' ? file_env : X509_get_default_cert_file();
  bool loaded = false;
  if (std::ifstream probe(file, std::ios::binary); probe) {
    if (SSL_CTX_load_verify_file(ctx, file.c_str()) != 1) {
      return openssl_error(fmt::format("load the system trust bundle {}", file));
    }
    loaded = true;
  }
  if (const char* dir = std::getenv(X509_get_default_cert_dir_env()); dir != nullptr && *dir != '\0') {
    if (SSL_CTX_load_verify_dir(ctx, dir) != 1) return openssl_error(fmt::format("use the trust directory {}", dir));
    loaded = true;
  }
  if (!loaded && SSL_CTX_set_default_verify_paths(ctx) != 1) return openssl_error("load the system trust store");
  return {};
}

}  // namespace

Result<ClientContext> make_upstream_context(const UpstreamTlsOptions& options) {
  ClearErrorsOnReturn clear;
  SslCtxPtr context{SSL_CTX_new(TLS_client_method())};
  if (!context) return openssl_error("create the upstream TLS context");
  SSL_CTX* ctx = context.get();
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);  // S3: no verification, no request
  if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
      SSL_CTX_set_alpn_protos(ctx, kAlpnHttp11, sizeof kAlpnHttp11) != 0) {  // 0 is success here
    return openssl_error("configure the upstream TLS context");
  }
  if (auto trusted = load_system_trust(ctx); !trusted) return std::move(trusted).error();
  for (const auto& file : options.extra_ca_files) {
    if (auto loaded = load_extra_ca(ctx, file); !loaded) return std::move(loaded).error();
  }

  // The internal cache is server-style (looked up by session id); clients resume by offering a session
  // themselves, so sessions go to our store, by host and port, and configure_upstream() offers them.
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
  auto store = std::make_unique<SessionStore>(options.session_cache_capacity);
  if (store_index() < 0 || SSL_CTX_set_ex_data(ctx, store_index(), store.get()) != 1) {
    return openssl_error("attach the upstream session store");
  }
  (void)store.release();  // owned by the context now; free_store deletes it with the context
  SSL_CTX_sess_set_new_cb(ctx, keep_session);
  return std::shared_ptr<SSL_CTX>(std::move(context));
}

Status configure_upstream(SSL* ssl, const ValidatedHost& host, std::uint16_t port) {
  ClearErrorsOnReturn clear;
  const std::string& name = host.text();
  if (host.is_ip()) {
    // RFC 6066 §3: no IP literal in SNI. The certificate must carry the address as an iPAddress SAN.
    if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name.c_str()) != 1) {
      return openssl_error(fmt::format("verify upstream certificates against the address {}", name));
    }
  } else {
    SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    if (SSL_set_tlsext_host_name(ssl, name.c_str()) != 1 || SSL_set1_host(ssl, name.c_str()) != 1) {
      return openssl_error(fmt::format("verify upstream certificates against the name {}", name));
    }
  }

  auto* store = static_cast<SessionStore*>(SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), store_index()));
  if (store == nullptr) return {};  // a context not made by make_upstream_context: no resumption
  auto key = std::make_unique<std::string>(host.kind() == ValidatedHost::Kind::ipv6 ? fmt::format("[{}]:{}", name, port)
                                                                                    : fmt::format("{}:{}", name, port));
  // Resumption is an optimisation: if OpenSSL will not take the session, the handshake is simply full.
  if (SslSessionPtr session = store->take(*key)) SSL_set_session(ssl, session.get());
  auto* previous = static_cast<std::string*>(SSL_get_ex_data(ssl, key_index()));  // configured twice
  if (SSL_set_ex_data(ssl, key_index(), key.get()) != 1) return openssl_error("attach the upstream session key");
  (void)key.release();  // owned by the connection now; free_key deletes it with the SSL
  delete previous;
  return {};
}

std::string verify_error_reason(long verify_result) {
  return fmt::format("{} (X509 error {})", X509_verify_cert_error_string(verify_result), verify_result);
}

std::optional<std::string> verify_failure_reason(const SSL* ssl) {
  const long result = SSL_get_verify_result(ssl);
  if (result == X509_V_OK) return std::nullopt;
  return verify_error_reason(result);
}

}  // namespace airlock::certs
