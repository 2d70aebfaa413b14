// Pieces shared by the CA and the leaf builders: serials, validity, v3 extensions, names.
#pragma once

#include <ctime>
#include <string_view>

#include <openssl/x509.h>

namespace airlock::certs {

// A 128-bit random serial (RFC 5280 §4.1.2.2 allows up to 20 octets; random serials make certificates
// unpredictable). Never zero. False on failure, with the error queued.
bool set_random_serial(X509* certificate);

// False on failure, with the error queued.
bool set_validity(X509* certificate, std::time_t not_before, std::time_t not_after);

// Adds the extension written in OpenSSL's config syntax (e.g. "critical,CA:TRUE,pathlen:0"). `issuer` is
// the signing certificate (the certificate itself for a root), read for authorityKeyIdentifier.
// `value` must come from Airlock, never from input: the config syntax gives meaning to commas and colons.
bool add_extension(X509* certificate, X509* issuer, int nid, const char* value);

bool add_name_entry(X509_NAME* name, const char* field, std::string_view value);

}  // namespace airlock::certs
