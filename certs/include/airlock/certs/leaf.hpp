// Leaf certificates for intercepted hosts (SECURITY.md K1) and the server-side TLS contexts that
// present them to the sandbox.
//
// A leaf is ECDSA P-256 with a 128-bit random serial, valid from now - 5 min (clock skew in sandboxes)
// to now + 24 h, subjectAltName exactly the host (dNSName for a name, iPAddress for an IP literal),
// subject CN = host when it fits the 64-character limit of a CN (omitted otherwise; clients match the
// SAN anyway), extendedKeyUsage serverAuth, authorityKeyIdentifier of the CA, signed SHA-256 by the CA.
#pragma once

#include <chrono>
#include <memory>

#include "airlock/certs/host.hpp"
#include "airlock/certs/openssl.hpp"
#include "airlock/certs/result.hpp"
#include "airlock/certs/root_ca.hpp"

namespace airlock::certs {

inline constexpr std::chrono::minutes kLeafBackdate{5};
inline constexpr std::chrono::hours kLeafLifetime{24};

// A fresh ECDSA P-256 key pair. Errc::openssl on failure.
Result<EvpPkeyPtr> generate_p256_key();

struct Leaf {
  X509Ptr certificate;
  std::chrono::system_clock::time_point not_after;  // whole seconds, as written in the certificate
};

// Mints the leaf for `host` carrying the public half of `leaf_key`, signed by `ca`. Thread-safe.
Result<Leaf> mint_leaf(const RootCa& ca, const ValidatedHost& host, EVP_PKEY* leaf_key,
                       std::chrono::system_clock::time_point now);

// A server-side TLS context presenting `leaf` with the chain (leaf, CA) and `leaf_key`: TLS 1.2 at
// least, ALPN "http/1.1" selected when the client offers it (a client offering only other protocols
// gets the no_application_protocol alert), SSL_MODE_RELEASE_BUFFERS, server session cache and session
// tickets on, renegotiation off. Takes its own references to the certificates and the key.
Result<std::shared_ptr<SSL_CTX>> make_server_context(const RootCa& ca, X509* leaf, EVP_PKEY* leaf_key);

}  // namespace airlock::certs
