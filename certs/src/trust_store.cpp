// The Java truststore: the PEM bundle re-encoded as PKCS#12 (see trust_store.hpp).
#include "airlock/certs/trust_store.hpp"

#include <climits>
#include <memory>

#include <fmt/format.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>

#include "airlock/certs/openssl.hpp"
#include "openssl_error.hpp"

namespace airlock::certs {
namespace {

// What OpenSSL 3.2 writes for `openssl pkcs12 -jdktrust anyExtendedKeyUsage` (3.0 has no name for it): Java
// loads a keyless certificate entry as trusted only when it carries this attribute.
constexpr const char* kOracleTrustedKeyUsage = "2.16.840.1.113894.746875.1.1";
constexpr int kMacIterations = 2048;

struct FreeBags {
  void operator()(STACK_OF(PKCS12_SAFEBAG) * bags) const noexcept { sk_PKCS12_SAFEBAG_pop_free(bags, PKCS12_SAFEBAG_free); }
};
struct FreeSafes {
  void operator()(STACK_OF(PKCS7) * safes) const noexcept { sk_PKCS7_pop_free(safes, PKCS7_free); }
};
using BagsPtr = std::unique_ptr<STACK_OF(PKCS12_SAFEBAG), FreeBags>;
using SafesPtr = std::unique_ptr<STACK_OF(PKCS7), FreeSafes>;
using Pkcs12Ptr = std::unique_ptr<PKCS12, CFree<PKCS12_free>>;

}  // namespace

Result<std::string> trust_store_pkcs12(std::string_view bundle_pem, std::string_view password) {
  ClearErrorsOnReturn clear;
  if (bundle_pem.size() > INT_MAX || password.size() > INT_MAX) return Error{Errc::bad_certificate, "the trust bundle is too large"};
  BioPtr in{BIO_new_mem_buf(bundle_pem.data(), static_cast<int>(bundle_pem.size()))};
  BagsPtr bags{sk_PKCS12_SAFEBAG_new_null()};
  if (!in || !bags) return openssl_error("build the Java truststore");

  int count = 0;
  while (X509Ptr certificate{PEM_read_bio_X509(in.get(), nullptr, nullptr, nullptr)}) {
    STACK_OF(PKCS12_SAFEBAG)* raw = bags.get();
    PKCS12_SAFEBAG* bag = PKCS12_add_cert(&raw, certificate.get());  // owned by `bags`
    const std::string alias = fmt::format("airlock-trust-{}", ++count);
    if (bag == nullptr || PKCS12_add_friendlyname_asc(bag, alias.c_str(), -1) != 1 ||
        PKCS12_add1_attr_by_txt(bag, kOracleTrustedKeyUsage, V_ASN1_OBJECT,
                                reinterpret_cast<const unsigned char*>(OBJ_nid2obj(NID_anyExtendedKeyUsage)), -1) != 1) {
      return openssl_error("add a certificate to the Java truststore");
    }
  }
  if (count == 0) return Error{Errc::bad_certificate, "the trust bundle holds no PEM certificate"};
  ERR_clear_error();  // the loop ends on PEM_read_bio_X509's "no start line"

  STACK_OF(PKCS7)* raw_safes = nullptr;
  // nid_safe -1: the certificates are not encrypted (they are public; Java reads them without the password).
  if (PKCS12_add_safe(&raw_safes, bags.get(), -1, 0, nullptr) != 1) {
    sk_PKCS7_pop_free(raw_safes, PKCS7_free);
    return openssl_error("build the Java truststore");
  }
  SafesPtr safes{raw_safes};
  Pkcs12Ptr store{PKCS12_add_safes(safes.get(), 0)};
  if (!store || PKCS12_set_mac(store.get(), password.data(), static_cast<int>(password.size()), nullptr, 0,
                               kMacIterations, EVP_sha256()) != 1) {
    return openssl_error("build the Java truststore");
  }
  const int size = i2d_PKCS12(store.get(), nullptr);
  if (size <= 0) return openssl_error("encode the Java truststore");
  std::string der(static_cast<std::size_t>(size), '\0');
  auto* cursor = reinterpret_cast<unsigned char*>(der.data());
  if (i2d_PKCS12(store.get(), &cursor) != size) return openssl_error("encode the Java truststore");
  return der;
}

}  // namespace airlock::certs
