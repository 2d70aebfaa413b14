// Helpers for the certs unit tests only (included by *_test.cpp, never by the library): temp dirs,
// certificate inspection, client-style verification of a leaf, and a real TLS handshake over 127.0.0.1.
#pragma once

#include "airlock/testing/temp_dir.hpp"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "airlock/certs/host.hpp"
#include "airlock/certs/openssl.hpp"
#include "airlock/certs/upstream.hpp"

namespace airlock::certs::test {

using TempDir = airlock::testing::TempDir;

inline void write_file(const std::filesystem::path& path, std::string_view content) {
  std::ofstream out(path, std::ios::binary);
  out << content;
}

inline X509Ptr parse_pem(std::string_view pem) {
  BioPtr bio{BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()))};
  return X509Ptr{PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)};
}

inline std::string name_entry(const X509_NAME* name, int nid) {
  const int index = X509_NAME_get_index_by_NID(name, nid, -1);
  if (index < 0) return {};
  const ASN1_STRING* value = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, index));
  return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(value)),
                     static_cast<std::size_t>(ASN1_STRING_length(value)));
}

inline bool extension_critical(X509* certificate, int nid) {
  const int index = X509_get_ext_by_NID(certificate, nid, -1);
  return index >= 0 && X509_EXTENSION_get_critical(X509_get_ext(certificate, index)) == 1;
}

inline std::string curve_name(EVP_PKEY* key) {
  char name[64] = {};
  std::size_t length = 0;
  if (EVP_PKEY_get_group_name(key, name, sizeof name, &length) != 1) return {};
  return std::string(name, length);
}

inline int serial_bits(X509* certificate) {
  BignumPtr serial{ASN1_INTEGER_to_BN(X509_get0_serialNumber(certificate), nullptr)};
  return BN_is_negative(serial.get()) ? -1 : BN_num_bits(serial.get());
}

// Seconds from notBefore to notAfter.
inline long validity_seconds(X509* certificate) {
  int days = 0, seconds = 0;
  ASN1_TIME_diff(&days, &seconds, X509_get0_notBefore(certificate), X509_get0_notAfter(certificate));
  return days * 86400L + seconds;
}

inline long asn1_to_time_t(const ASN1_TIME* time) {
  struct tm parts {};
  ASN1_TIME_to_tm(time, &parts);
  return static_cast<long>(timegm(&parts));
}

// The subjectAltName entries as "DNS:name" / "IP:a.b.c.d" (IPv4 only, enough for these tests).
inline std::vector<std::string> alt_names(X509* certificate) {
  std::vector<std::string> out;
  auto* names = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(certificate, NID_subject_alt_name, nullptr, nullptr));
  for (int i = 0; names != nullptr && i < sk_GENERAL_NAME_num(names); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names, i);
    if (name->type == GEN_DNS) {
      out.push_back("DNS:" + std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(name->d.dNSName)),
                                         static_cast<std::size_t>(ASN1_STRING_length(name->d.dNSName))));
    } else if (name->type == GEN_IPADD) {
      const unsigned char* bytes = ASN1_STRING_get0_data(name->d.iPAddress);
      const int length = ASN1_STRING_length(name->d.iPAddress);
      char text[INET6_ADDRSTRLEN] = {};
      inet_ntop(length == 4 ? AF_INET : AF_INET6, bytes, text, sizeof text);
      out.push_back(std::string("IP:") + text);
    } else {
      out.push_back("other");
    }
  }
  GENERAL_NAMES_free(names);
  return out;
}

// Verifies `leaf` the way a TLS client would: `anchor` as the only trusted root, purpose sslserver, and
// the name (or IP when `ip` is set) checked against the SANs. `at` overrides the verification time.
inline long verify_leaf(X509* leaf, X509* anchor, const std::string& name, bool ip,
                        std::optional<std::time_t> at = std::nullopt) {
  X509StorePtr store{X509_STORE_new()};
  X509_STORE_add_cert(store.get(), anchor);
  X509StoreCtxPtr context{X509_STORE_CTX_new()};
  X509_STORE_CTX_init(context.get(), store.get(), leaf, nullptr);
  X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(context.get());
  X509_STORE_CTX_set_purpose(context.get(), X509_PURPOSE_SSL_SERVER);
  if (ip) {
    X509_VERIFY_PARAM_set1_ip_asc(param, name.c_str());
  } else {
    X509_VERIFY_PARAM_set1_host(param, name.c_str(), name.size());
  }
  if (at) X509_VERIFY_PARAM_set_time(param, *at);
  const int ok = X509_verify_cert(context.get());
  const long error = X509_STORE_CTX_get_error(context.get());
  ERR_clear_error();
  return ok == 1 ? X509_V_OK : (error == X509_V_OK ? -1 : error);
}

class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(Fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  Fd& operator=(Fd&&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

// A guard against a hung test, not a timing assertion.
inline void set_receive_timeout(int fd) {
  timeval timeout{10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
}

struct ServerSide {
  bool ok = false;
  std::string sni;  // the SNI the server received, "" when none
};

struct ClientSide {
  bool ok = false;
  std::string alpn;                          // as negotiated
  std::optional<std::string> verify_reason;  // verify_failure_reason after the handshake
  bool resumed = false;
  std::string received;  // what the server sent after the handshake
};

// A TLS server on 127.0.0.1 (port chosen by the kernel) that accepts `connections` connections one after
// another with SSL objects from `context`. After each handshake it sends "ok" (the client reading it
// also processes TLS 1.3 session tickets), then reads until the client closes.
class TlsServer {
 public:
  TlsServer(SSL_CTX* context, int connections) : listener_(::socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(listener_.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
        ::listen(listener_.get(), connections) != 0) {
      throw std::runtime_error("cannot listen on 127.0.0.1");
    }
    socklen_t length = sizeof address;
    ::getsockname(listener_.get(), reinterpret_cast<sockaddr*>(&address), &length);
    port_ = ntohs(address.sin_port);
    set_receive_timeout(listener_.get());  // accept() gives up too
    thread_ = std::thread([this, context, connections] {
      for (int i = 0; i < connections; ++i) sides_.push_back(serve_one(context));
    });
  }
  ~TlsServer() { join(); }
  TlsServer(const TlsServer&) = delete;
  TlsServer& operator=(const TlsServer&) = delete;

  std::uint16_t port() const { return port_; }
  // Waits for the server to finish, then returns what each connection saw.
  const std::vector<ServerSide>& sides() {
    join();
    return sides_;
  }

 private:
  void join() {
    if (thread_.joinable()) thread_.join();
  }
  ServerSide serve_one(SSL_CTX* context) {
    ServerSide side;
    Fd connection{::accept(listener_.get(), nullptr, nullptr)};
    if (connection.get() < 0) return side;
    set_receive_timeout(connection.get());
    SslPtr ssl{SSL_new(context)};
    SSL_set_fd(ssl.get(), connection.get());
    if (SSL_accept(ssl.get()) == 1) {
      side.ok = true;
      const char* sni = SSL_get_servername(ssl.get(), TLSEXT_NAMETYPE_host_name);
      side.sni = sni != nullptr ? sni : "";
      SSL_write(ssl.get(), "ok", 2);
      char sink[16];
      while (SSL_read(ssl.get(), sink, sizeof sink) > 0) {
      }
      SSL_shutdown(ssl.get());
    }
    ERR_clear_error();
    return side;
  }

  Fd listener_;
  std::uint16_t port_ = 0;
  std::vector<ServerSide> sides_;
  std::thread thread_;
};

// One client connection to 127.0.0.1:port with an SSL from `context`, set up by configure_upstream for
// (host, port); `tweak` may change the SSL before the handshake.
inline ClientSide connect_client(SSL_CTX* context, const ValidatedHost& host, std::uint16_t port,
                                 const std::function<void(SSL*)>& tweak = {}) {
  ClientSide side;
  Fd connection{::socket(AF_INET, SOCK_STREAM, 0)};
  set_receive_timeout(connection.get());
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(port);
  if (::connect(connection.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) return side;
  SslPtr ssl{SSL_new(context)};
  const auto configured = configure_upstream(ssl.get(), host, port);
  if (tweak) tweak(ssl.get());
  SSL_set_fd(ssl.get(), connection.get());
  if (configured && SSL_connect(ssl.get()) == 1) {
    side.ok = true;
    const unsigned char* alpn = nullptr;
    unsigned int alpn_length = 0;
    SSL_get0_alpn_selected(ssl.get(), &alpn, &alpn_length);
    side.alpn.assign(reinterpret_cast<const char*>(alpn), alpn_length);
    side.resumed = SSL_session_reused(ssl.get()) == 1;
    char buffer[16];
    const int n = SSL_read(ssl.get(), buffer, sizeof buffer);
    if (n > 0) side.received.assign(buffer, static_cast<std::size_t>(n));
    SSL_shutdown(ssl.get());
  }
  side.verify_reason = verify_failure_reason(ssl.get());
  ERR_clear_error();
  return side;  // the socket closes here, so the server's read ends
}

struct Handshake {
  ServerSide server;
  ClientSide client;
};

// One real TLS connection over 127.0.0.1 between `server_context` and `client_context`.
inline Handshake handshake(SSL_CTX* server_context, SSL_CTX* client_context, const ValidatedHost& host,
                           const std::function<void(SSL*)>& tweak_client = {}) {
  TlsServer server{server_context, 1};
  Handshake result;
  result.client = connect_client(client_context, host, server.port(), tweak_client);
  result.server = server.sides().at(0);
  return result;
}

}  // namespace airlock::certs::test
