// The sandbox trust bundle as a Java truststore (DATA_DIR/ca-truststore.p12, K6). Java reads neither PEM
// bundles nor SSL_CERT_FILE; JAVA_TOOL_OPTIONS in sandbox_env points it at this file instead.
#pragma once

#include <string>
#include <string_view>

#include "airlock/certs/result.hpp"

namespace airlock::certs {

// Java's conventional truststore password. The store holds certificates only, so the password guards
// nothing secret; it exists because Java's PKCS#12 reader wants one to check the MAC.
inline constexpr std::string_view kTrustStorePassword = "changeit";

// Every certificate of `bundle_pem`, in order, as a PKCS#12 trusted-certificate entry: unencrypted
// certificate bags, each with a friendlyName (Java's alias: "airlock-trust-1", ...) and the Oracle
// trusted-key-usage attribute (anyExtendedKeyUsage) without which Java ignores a certificate that has no
// key; a SHA-256 MAC under `password`. Returns the DER bytes. Errc::bad_certificate if the bundle holds
// no certificate, Errc::openssl if encoding fails.
Result<std::string> trust_store_pkcs12(std::string_view bundle_pem, std::string_view password = kTrustStorePassword);

}  // namespace airlock::certs
