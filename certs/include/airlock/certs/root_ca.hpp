// RootCa: Airlock's per-installation certificate authority (SECURITY.md K1) and the trust bundle built
// from it for sandboxes (K6).
//
// The CA is ECDSA P-256, valid for 10 years, subject "CN=Airlock Root CA <8 hex>, O=Airlock",
// basicConstraints critical CA:TRUE pathlen:1 (it signs leaves, and the short-lived intermediates of
// sidecar proxies, which sign leaves only), keyUsage critical keyCertSign + cRLSign, a
// subjectKeyIdentifier, and a 128-bit random serial. Roots made before sidecars existed have pathlen:0:
// they sign leaves as before and refuse to issue intermediates (docs/sidecar.md, "Root CA").
//
// A RootCa may also hold an intermediate (issue_intermediate() here, then load() with its key where the
// sidecar runs): it signs leaves the same way, and the leaves' chain carries it to the root.
//
// Persistence is the caller's job, and the key never touches the disk in clear: control writes
// certificate_pem() to DATA_DIR/ca.pem, seals private_key_der() with the master key into
// DATA_DIR/ca.key.sealed, and on the next start unseals it and calls load().
//
// Thread safety: a RootCa is immutable after creation; its const members may be used from any thread
// (leaves for different hosts are signed concurrently).
#pragma once

#include <chrono>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>

#include "airlock/certs/openssl.hpp"
#include "airlock/certs/result.hpp"
#include "airlock/certs/secret_bytes.hpp"

namespace airlock::certs {

// Debian's bundle of system roots (package ca-certificates).
inline constexpr std::string_view kSystemBundlePath = "/etc/ssl/certs/ca-certificates.crt";

class RootCa {
 public:
  // A fresh CA. Errc::openssl if key generation or signing fails.
  static Result<RootCa> generate();

  // The CA from its certificate PEM and its private key, as PKCS#8 DER (what private_key_der() returns)
  // or PEM. Errc::bad_certificate if the PEM is not a CA certificate, Errc::bad_key if the key does not
  // parse, Errc::key_mismatch if the key is not the certificate's.
  static Result<RootCa> load(std::string_view certificate_pem, std::span<const unsigned char> private_key);

  RootCa(RootCa&&) noexcept = default;
  RootCa& operator=(RootCa&&) noexcept = default;
  RootCa(const RootCa&) = delete;
  RootCa& operator=(const RootCa&) = delete;
  ~RootCa() = default;

  // Public: safe to write anywhere and to hand to sandboxes.
  const std::string& certificate_pem() const noexcept { return certificate_pem_; }
  // The private key as unencrypted PKCS#8 DER, for the caller to seal at once. Errc::openssl if the
  // encoding fails.
  Result<SecretBytes> private_key_der() const;

  // Borrowed handles (get0 semantics), valid while this RootCa lives. Not to be modified.
  X509* certificate() const noexcept { return certificate_.get(); }
  EVP_PKEY* key() const noexcept { return key_.get(); }
  // The subject's common name, e.g. "Airlock Root CA 3f9a0c1d", for logs.
  std::string common_name() const;
  // When the certificate expires (leaves never outlive it).
  std::chrono::system_clock::time_point not_after() const;

  // False for a CA whose basicConstraints say pathlen:0 (an intermediate, or a root made before sidecars).
  bool signs_intermediates() const;
  // An intermediate CA certificate (PEM) for `public_key`, signed by this CA: CA:TRUE pathlen:0 (leaves
  // only), keyUsage keyCertSign, "CN=Airlock Sidecar CA <label>, O=Airlock", valid from now - 5 min to
  // now + `lifetime` (at most 24 h, and never past this CA). Errc::bad_certificate when this CA may not
  // sign intermediates (the message says how to replace it); Errc::openssl on failure.
  Result<std::string> issue_intermediate(EVP_PKEY* public_key, std::string_view label,
                                         std::chrono::system_clock::time_point now, std::chrono::seconds lifetime) const;

 private:
  RootCa(X509Ptr certificate, EvpPkeyPtr key, std::string pem);

  X509Ptr certificate_;
  EvpPkeyPtr key_;
  std::string certificate_pem_;
};

// `key` as unencrypted PKCS#8 DER (what RootCa::load takes), in memory that is wiped when released.
// Errc::openssl if the encoding fails.
Result<SecretBytes> private_key_der(EVP_PKEY* key);

// What sandboxes trust (DATA_DIR/ca-bundle.pem): the system roots read from `system_bundle`, then the
// CA's certificate. Errc::io, naming the path, if the system bundle cannot be read.
Result<std::string> trust_bundle(const RootCa& ca,
                                 const std::filesystem::path& system_bundle = std::filesystem::path(kSystemBundlePath));

}  // namespace airlock::certs
