// RootCa: the generated CA's properties, persistence round trip, and the sandbox trust bundle.
#include <chrono>
#include <regex>
#include <string>

#include <doctest/doctest.h>
#include <openssl/pem.h>

#include "airlock/certs/leaf.hpp"
#include "airlock/testing/skip.hpp"
#include "airlock/certs/root_ca.hpp"
#include "test_support.hpp"
#include "x509_build.hpp"

namespace airlock::certs {
namespace {

RootCa generate_ca() {
  auto ca = RootCa::generate();
  REQUIRE_MESSAGE(ca, (ca ? "" : ca.error().message));
  return std::move(*ca);
}

TEST_CASE("a generated CA has the properties K1 requires") {
  const RootCa ca = generate_ca();
  X509Ptr cert = test::parse_pem(ca.certificate_pem());  // parse back what is written to ca.pem
  REQUIRE(cert);
  CHECK(X509_cmp(cert.get(), ca.certificate()) == 0);
  CHECK(X509_get_version(cert.get()) == X509_VERSION_3);

  auto* constraints =
      static_cast<BASIC_CONSTRAINTS*>(X509_get_ext_d2i(cert.get(), NID_basic_constraints, nullptr, nullptr));
  REQUIRE(constraints != nullptr);
  CHECK(constraints->ca != 0);
  REQUIRE(constraints->pathlen != nullptr);
  CHECK(ASN1_INTEGER_get(constraints->pathlen) == 1);  // leaves, and sidecars' intermediates
  BASIC_CONSTRAINTS_free(constraints);
  CHECK(test::extension_critical(cert.get(), NID_basic_constraints));
  CHECK(X509_check_ca(cert.get()) == 1);

  CHECK(X509_get_key_usage(cert.get()) == (KU_KEY_CERT_SIGN | KU_CRL_SIGN));
  CHECK(test::extension_critical(cert.get(), NID_key_usage));
  CHECK(X509_get0_subject_key_id(cert.get()) != nullptr);

  // 10 years from an hour ago.
  CHECK(test::validity_seconds(cert.get()) == 3650L * 86400 + 3600);
  const long now = static_cast<long>(std::time(nullptr));
  const long not_before = test::asn1_to_time_t(X509_get0_notBefore(cert.get()));
  CHECK(not_before <= now - 3600);
  CHECK(not_before >= now - 3600 - 60);

  EVP_PKEY* key = X509_get0_pubkey(cert.get());
  CHECK(EVP_PKEY_get_base_id(key) == EVP_PKEY_EC);
  CHECK(test::curve_name(key) == "prime256v1");
  CHECK(X509_get_signature_nid(cert.get()) == NID_ecdsa_with_SHA256);
  CHECK(X509_verify(cert.get(), key) == 1);  // self-signed

  const int bits = test::serial_bits(cert.get());
  CHECK(bits > 64);  // fails with probability 2^-64
  CHECK(bits <= 128);

  const std::string cn = test::name_entry(X509_get_subject_name(cert.get()), NID_commonName);
  CHECK(std::regex_match(cn, std::regex("Airlock Root CA [0-9a-f]{8}")));
  CHECK(ca.common_name() == cn);
  CHECK(test::name_entry(X509_get_subject_name(cert.get()), NID_organizationName) == "Airlock");
  CHECK(X509_NAME_cmp(X509_get_subject_name(cert.get()), X509_get_issuer_name(cert.get())) == 0);
}

TEST_CASE("two installations get different CAs") {
  const RootCa a = generate_ca();
  const RootCa b = generate_ca();
  CHECK(a.common_name() != b.common_name());
  CHECK(ASN1_INTEGER_cmp(X509_get0_serialNumber(a.certificate()), X509_get0_serialNumber(b.certificate())) != 0);
  CHECK(EVP_PKEY_eq(a.key(), b.key()) != 1);
}

TEST_CASE("the CA round-trips through (certificate PEM, key bytes)") {
  const RootCa ca = generate_ca();
  auto der = ca.private_key_der();
  REQUIRE(der);
  CHECK(der->size() > 100);
  CHECK(der->bytes()[0] == 0x30);  // a DER SEQUENCE (PKCS#8 PrivateKeyInfo)

  auto loaded = RootCa::load(ca.certificate_pem(), der->bytes());
  REQUIRE_MESSAGE(loaded, (loaded ? "" : loaded.error().message));
  CHECK(loaded->certificate_pem() == ca.certificate_pem());
  CHECK(X509_cmp(loaded->certificate(), ca.certificate()) == 0);
  CHECK(EVP_PKEY_eq(loaded->key(), ca.key()) == 1);
  CHECK(loaded->common_name() == ca.common_name());

  SUBCASE("and the key may be PEM") {
    BioPtr bio{BIO_new(BIO_s_mem())};
    REQUIRE(PEM_write_bio_PrivateKey(bio.get(), ca.key(), nullptr, nullptr, 0, nullptr, nullptr) == 1);
    char* data = nullptr;
    const long size = BIO_get_mem_data(bio.get(), &data);
    SecretBytes pem{
        std::span<const unsigned char>(reinterpret_cast<const unsigned char*>(data), static_cast<std::size_t>(size))};
    auto from_pem = RootCa::load(ca.certificate_pem(), pem.bytes());
    REQUIRE(from_pem);
    CHECK(EVP_PKEY_eq(from_pem->key(), ca.key()) == 1);
  }
}

TEST_CASE("loading refuses a key that is not the certificate's") {
  const RootCa a = generate_ca();
  const RootCa b = generate_ca();
  auto b_key = b.private_key_der();
  REQUIRE(b_key);
  auto mixed = RootCa::load(a.certificate_pem(), b_key->bytes());
  REQUIRE_FALSE(mixed);
  CHECK(mixed.error().code == Errc::key_mismatch);
  CHECK(mixed.error().message ==
        "CA private key does not belong to the CA certificate: restore the certificate and key that were created "
        "together, or remove both so that a new CA is generated");
}

TEST_CASE("loading refuses malformed inputs") {
  const RootCa ca = generate_ca();
  auto key = ca.private_key_der();
  REQUIRE(key);

  auto no_cert = RootCa::load("not a certificate", key->bytes());
  REQUIRE_FALSE(no_cert);
  CHECK(no_cert.error().code == Errc::bad_certificate);
  CHECK(no_cert.error().message.rfind("CA certificate: not a PEM X.509 certificate: ", 0) == 0);

  const unsigned char junk[] = {0x30, 0x03, 0x02, 0x01, 0x00};
  auto no_key = RootCa::load(ca.certificate_pem(), junk);
  REQUIRE_FALSE(no_key);
  CHECK(no_key.error().code == Errc::bad_key);
  CHECK(no_key.error().message.rfind("CA private key: not an unencrypted PKCS#8 DER or PEM private key", 0) == 0);

  auto empty_key = RootCa::load(ca.certificate_pem(), {});
  REQUIRE_FALSE(empty_key);
  CHECK(empty_key.error().code == Errc::bad_key);
}

TEST_CASE("a leaf certificate is not accepted as the CA") {
  const RootCa ca = generate_ca();
  auto key = generate_p256_key();
  REQUIRE(key);
  auto leaf = mint_leaf(ca, *validate_host("example.com"), key->get(), std::chrono::system_clock::now());
  REQUIRE(leaf);
  BioPtr bio{BIO_new(BIO_s_mem())};
  REQUIRE(PEM_write_bio_X509(bio.get(), leaf->certificate.get()) == 1);
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio.get(), &data);
  const std::string leaf_pem(data, static_cast<std::size_t>(size));
  unsigned char* der = nullptr;
  const int der_size = i2d_PrivateKey(key->get(), &der);
  REQUIRE(der_size > 0);
  SecretBytes key_bytes{std::span<const unsigned char>(der, static_cast<std::size_t>(der_size))};
  OPENSSL_clear_free(der, static_cast<std::size_t>(der_size));

  auto refused = RootCa::load(leaf_pem, key_bytes.bytes());
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code == Errc::bad_certificate);
  CHECK(refused.error().message == "CA certificate: not a CA (basicConstraints CA:TRUE is missing)");
}

TEST_CASE("the trust bundle is the system roots followed by the CA") {
  const RootCa ca = generate_ca();
  test::TempDir dir;
  const auto system = dir.path() / "system.pem";

  test::write_file(system, "SYSTEM ROOTS\n");
  auto bundle = trust_bundle(ca, system);
  REQUIRE(bundle);
  CHECK(*bundle == "SYSTEM ROOTS\n" + ca.certificate_pem());

  test::write_file(system, "NO TRAILING NEWLINE");
  bundle = trust_bundle(ca, system);
  REQUIRE(bundle);
  CHECK(*bundle == "NO TRAILING NEWLINE\n" + ca.certificate_pem());

  const auto missing = dir.path() / "missing.pem";
  auto refused = trust_bundle(ca, missing);
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code == Errc::io);
  CHECK(refused.error().message == "cannot read the system trust bundle " + missing.string() +
                                       ": No such file or directory; install ca-certificates or give the path of "
                                       "the system's PEM bundle");
}

TEST_CASE("the default trust bundle holds the system roots and parses as PEM") {
  AIRLOCK_SKIP_UNLESS(std::filesystem::exists(kSystemBundlePath), "no system trust bundle: install ca-certificates");
  const RootCa ca = generate_ca();
  auto bundle = trust_bundle(ca);
  REQUIRE(bundle);
  BioPtr bio{BIO_new_mem_buf(bundle->data(), static_cast<int>(bundle->size()))};
  int count = 0;
  X509Ptr last;
  while (X509Ptr cert{PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)}) {
    ++count;
    last = std::move(cert);
  }
  ERR_clear_error();
  CHECK(count > 1);
  REQUIRE(last);
  CHECK(X509_cmp(last.get(), ca.certificate()) == 0);
}

TEST_CASE("SecretBytes moves its bytes and leaves the source empty") {
  const unsigned char raw[] = {1, 2, 3};
  SecretBytes a{std::span<const unsigned char>(raw)};
  CHECK(a.size() == 3);
  SecretBytes b{std::move(a)};
  CHECK(a.empty());  // NOLINT(bugprone-use-after-move): the moved-from state is the contract
  CHECK(b.size() == 3);
  CHECK(b.bytes()[2] == 3);
  SecretBytes c{2};
  c = std::move(b);
  CHECK(c.size() == 3);
  CHECK(b.empty());  // NOLINT(bugprone-use-after-move)
}

// A root as Airlock made them before sidecars existed: pathlen:0.
RootCa pathlen_zero_root() {
  auto key = generate_p256_key();
  REQUIRE(key);
  X509Ptr certificate{X509_new()};
  X509* cert = certificate.get();
  const std::time_t now = std::time(nullptr);
  REQUIRE((X509_set_version(cert, X509_VERSION_3) == 1 && set_random_serial(cert) && set_validity(cert, now - 60, now + 86400 * 30) &&
           add_name_entry(X509_get_subject_name(cert), "CN", "Airlock Root CA 00000000") &&
           X509_set_issuer_name(cert, X509_get_subject_name(cert)) == 1 && X509_set_pubkey(cert, key->get()) == 1 &&
           add_extension(cert, cert, NID_basic_constraints, "critical,CA:TRUE,pathlen:0") &&
           add_extension(cert, cert, NID_key_usage, "critical,keyCertSign,cRLSign") &&
           add_extension(cert, cert, NID_subject_key_identifier, "hash") && X509_sign(cert, key->get(), EVP_sha256()) > 0));
  BioPtr bio{BIO_new(BIO_s_mem())};
  REQUIRE(PEM_write_bio_X509(bio.get(), cert) == 1);
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio.get(), &data);
  auto root = RootCa::load(std::string(data, static_cast<std::size_t>(size)), private_key_der(key->get())->bytes());
  REQUIRE(root);
  return std::move(*root);
}

TEST_CASE("a root made before sidecars (pathlen:0) signs leaves as before and refuses intermediates, saying why") {
  const RootCa old = pathlen_zero_root();
  CHECK_FALSE(old.signs_intermediates());
  auto key = generate_p256_key();
  REQUIRE(key);
  const auto refused = old.issue_intermediate(key->get(), "sesn_01abc", std::chrono::system_clock::now(), std::chrono::hours(1));
  REQUIRE_FALSE(refused);
  CHECK(refused.error().message ==
        "the CA Airlock Root CA 00000000 may not sign intermediates (its basicConstraints say pathlen:0: it was made "
        "before sidecars existed); replace it as docs/sidecar.md says under \"Root CA\"");
  CHECK(mint_leaf(old, *validate_host("a.test"), key->get(), std::chrono::system_clock::now()));
}

TEST_CASE("an intermediate: pathlen:0 under the root, 24 hours at most, and its leaves verify up to the root") {
  const RootCa root = generate_ca();
  CHECK(root.signs_intermediates());
  auto sidecar_key = generate_p256_key();
  REQUIRE(sidecar_key);
  const auto now = std::chrono::system_clock::now();
  auto pem = root.issue_intermediate(sidecar_key->get(), "sesn_01abc", now, std::chrono::hours(48));
  REQUIRE_MESSAGE(pem, (pem ? "" : pem.error().message));
  X509Ptr cert = test::parse_pem(*pem);
  REQUIRE(cert);
  CHECK(X509_check_ca(cert.get()) == 1);
  CHECK(X509_get_pathlen(cert.get()) == 0);
  CHECK(X509_get_key_usage(cert.get()) == (KU_KEY_CERT_SIGN | KU_CRL_SIGN));
  CHECK(test::name_entry(X509_get_subject_name(cert.get()), NID_commonName) == "Airlock Sidecar CA sesn_01abc");
  CHECK(X509_verify(cert.get(), X509_get0_pubkey(root.certificate())) == 1);
  CHECK(test::validity_seconds(cert.get()) == 24 * 3600 + 5 * 60);  // asked for 48 h: 24 h, backdated 5 min

  // Where the sidecar runs: the intermediate with its own key. It signs leaves; it may not sign a CA.
  auto intermediate = RootCa::load(*pem, private_key_der(sidecar_key->get())->bytes());
  REQUIRE_MESSAGE(intermediate, (intermediate ? "" : intermediate.error().message));
  CHECK_FALSE(intermediate->signs_intermediates());
  auto other_key = generate_p256_key();
  REQUIRE(other_key);
  const auto refused = intermediate->issue_intermediate(other_key->get(), "x", now, std::chrono::hours(1));
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code == Errc::bad_certificate);

  auto leaf_key = generate_p256_key();
  REQUIRE(leaf_key);
  auto leaf = mint_leaf(*intermediate, *validate_host("api.example.test"), leaf_key->get(), now);
  REQUIRE(leaf);
  CHECK(leaf->not_after <= intermediate->not_after());  // a leaf never outlives its CA
  X509StorePtr store{X509_STORE_new()};
  X509_STORE_add_cert(store.get(), root.certificate());
  std::unique_ptr<STACK_OF(X509), decltype([](STACK_OF(X509)* s) { sk_X509_free(s); })> chain{sk_X509_new_null()};
  sk_X509_push(chain.get(), intermediate->certificate());
  std::unique_ptr<X509_STORE_CTX, decltype(&X509_STORE_CTX_free)> verify{X509_STORE_CTX_new(), &X509_STORE_CTX_free};
  REQUIRE(X509_STORE_CTX_init(verify.get(), store.get(), leaf->certificate.get(), chain.get()) == 1);
  X509_VERIFY_PARAM_set1_host(X509_STORE_CTX_get0_param(verify.get()), "api.example.test", 0);
  CHECK(X509_verify_cert(verify.get()) == 1);
}

}  // namespace
}  // namespace airlock::certs
