// The Java truststore: parsed back with OpenSSL, entry by entry (Java itself reads it in
// tests/clients/http-clients.test.mjs).
#include <memory>
#include <string>

#include <doctest/doctest.h>
#include <openssl/pkcs12.h>

#include "airlock/certs/root_ca.hpp"
#include "airlock/certs/trust_store.hpp"
#include "test_support.hpp"

namespace airlock::certs {
namespace {

struct FreeBags {
  void operator()(STACK_OF(PKCS12_SAFEBAG) * bags) const noexcept { sk_PKCS12_SAFEBAG_pop_free(bags, PKCS12_SAFEBAG_free); }
};
struct FreeSafes {
  void operator()(STACK_OF(PKCS7) * safes) const noexcept { sk_PKCS7_pop_free(safes, PKCS7_free); }
};

std::string pem_of(const RootCa& ca) { return ca.certificate_pem(); }

// The first value of the bag's attribute `oid` (by OID text: the Oracle attribute has no NID in OpenSSL 3.0).
const ASN1_TYPE* attribute(const PKCS12_SAFEBAG* bag, const char* oid) {
  const STACK_OF(X509_ATTRIBUTE)* attributes = PKCS12_SAFEBAG_get0_attrs(bag);
  std::unique_ptr<ASN1_OBJECT, CFree<ASN1_OBJECT_free>> wanted{OBJ_txt2obj(oid, 1)};
  for (int i = 0; i < sk_X509_ATTRIBUTE_num(attributes); ++i) {
    X509_ATTRIBUTE* entry = sk_X509_ATTRIBUTE_value(attributes, i);
    if (OBJ_cmp(X509_ATTRIBUTE_get0_object(entry), wanted.get()) == 0) return X509_ATTRIBUTE_get0_type(entry, 0);
  }
  return nullptr;
}

std::string text_of(const ASN1_TYPE* value) {
  REQUIRE(value != nullptr);
  if (value->type == V_ASN1_OBJECT) {
    char buffer[80];
    OBJ_obj2txt(buffer, sizeof buffer, value->value.object, 1);
    return buffer;
  }
  REQUIRE(value->type == V_ASN1_BMPSTRING);
  char* utf8 = OPENSSL_uni2utf8(value->value.bmpstring->data, value->value.bmpstring->length);
  std::string text = utf8;
  OPENSSL_free(utf8);
  return text;
}

TEST_CASE("the Java truststore holds every certificate of the bundle as a trusted entry under a MAC") {
  auto first = RootCa::generate();
  auto second = RootCa::generate();
  REQUIRE(first);
  REQUIRE(second);
  const std::string bundle = "# a comment line, as system bundles have\n" + pem_of(*first) + pem_of(*second);

  auto der = trust_store_pkcs12(bundle);
  REQUIRE_MESSAGE(der, (der ? "" : der.error().message));
  const auto* cursor = reinterpret_cast<const unsigned char*>(der->data());
  std::unique_ptr<PKCS12, CFree<PKCS12_free>> store{d2i_PKCS12(nullptr, &cursor, static_cast<long>(der->size()))};
  REQUIRE(store);
  CHECK(PKCS12_verify_mac(store.get(), "changeit", -1) == 1);
  CHECK(PKCS12_verify_mac(store.get(), "wrong", -1) == 0);

  std::unique_ptr<STACK_OF(PKCS7), FreeSafes> safes{PKCS12_unpack_authsafes(store.get())};
  REQUIRE(safes);
  REQUIRE(sk_PKCS7_num(safes.get()) == 1);
  PKCS7* safe = sk_PKCS7_value(safes.get(), 0);
  CHECK(OBJ_obj2nid(safe->type) == NID_pkcs7_data);  // not encrypted: certificates are public
  std::unique_ptr<STACK_OF(PKCS12_SAFEBAG), FreeBags> bags{PKCS12_unpack_p7data(safe)};
  REQUIRE(bags);
  REQUIRE(sk_PKCS12_SAFEBAG_num(bags.get()) == 2);

  const X509* expected[] = {first->certificate(), second->certificate()};
  for (int i = 0; i < 2; ++i) {
    const PKCS12_SAFEBAG* bag = sk_PKCS12_SAFEBAG_value(bags.get(), i);
    CHECK(PKCS12_SAFEBAG_get_nid(bag) == NID_certBag);
    X509Ptr certificate{PKCS12_SAFEBAG_get1_cert(bag)};
    REQUIRE(certificate);
    CHECK(X509_cmp(certificate.get(), expected[i]) == 0);
    CHECK(text_of(attribute(bag, "1.2.840.113549.1.9.20")) == "airlock-trust-" + std::to_string(i + 1));
    CHECK(text_of(attribute(bag, "2.16.840.1.113894.746875.1.1")) == "2.5.29.37.0");
  }
}

TEST_CASE("a bundle without a certificate makes no truststore") {
  auto refused = trust_store_pkcs12("not a certificate\n");
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code == Errc::bad_certificate);
  CHECK(refused.error().message == "the trust bundle holds no PEM certificate");
}

}  // namespace
}  // namespace airlock::certs
