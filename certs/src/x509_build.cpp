// Certificate-building helpers shared by root_ca.cpp and leaf.cpp (see x509_build.hpp), and P-256 keys.
#include "x509_build.hpp"

#include <array>
#include <climits>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "airlock/certs/leaf.hpp"
#include "airlock/certs/openssl.hpp"
#include "openssl_error.hpp"

namespace airlock::certs {

bool set_random_serial(X509* certificate) {
  std::array<unsigned char, 16> bytes{};
  BignumPtr serial;
  do {
    if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1) return false;
    serial.reset(BN_bin2bn(bytes.data(), static_cast<int>(bytes.size()), nullptr));
    if (!serial) return false;
  } while (BN_is_zero(serial.get()));
  // BN values from bytes are non-negative; the DER INTEGER gains a leading zero octet when the top bit
  // is set (17 octets at most).
  return BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(certificate)) != nullptr;
}

bool set_validity(X509* certificate, std::time_t not_before, std::time_t not_after) {
  // ASN1_TIME_set picks UTCTime before 2050 and GeneralizedTime after, as RFC 5280 §4.1.2.5 requires.
  return ASN1_TIME_set(X509_getm_notBefore(certificate), not_before) != nullptr &&
         ASN1_TIME_set(X509_getm_notAfter(certificate), not_after) != nullptr;
}

bool add_extension(X509* certificate, X509* issuer, int nid, const char* value) {
  X509V3_CTX context;
  X509V3_set_ctx(&context, issuer, certificate, nullptr, nullptr, 0);
  X509ExtensionPtr extension{X509V3_EXT_nconf_nid(nullptr, &context, nid, value)};
  return extension && X509_add_ext(certificate, extension.get(), -1) == 1;
}

bool add_name_entry(X509_NAME* name, const char* field, std::string_view value) {
  if (value.size() > static_cast<std::size_t>(INT_MAX)) return false;
  return X509_NAME_add_entry_by_txt(name, field, MBSTRING_UTF8, reinterpret_cast<const unsigned char*>(value.data()),
                                    static_cast<int>(value.size()), -1, 0) == 1;
}

Result<EvpPkeyPtr> generate_p256_key() {
  ClearErrorsOnReturn clear;
  EvpPkeyPtr key{EVP_EC_gen("P-256")};
  if (!key) return openssl_error("generate a P-256 key");
  return key;
}

}  // namespace airlock::certs
