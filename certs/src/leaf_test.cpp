// mint_leaf and make_server_context: what a leaf contains, and that clients accept it for exactly its host.
#include <chrono>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "airlock/certs/leaf.hpp"
#include "test_support.hpp"

namespace airlock::certs {
namespace {

using std::chrono::system_clock;

struct Fixture {
  Fixture() {
    auto generated = RootCa::generate();
    REQUIRE(generated);
    ca.emplace(std::move(*generated));
    auto generated_key = generate_p256_key();
    REQUIRE(generated_key);
    key = std::move(*generated_key);
  }
  Leaf mint(std::string_view host, system_clock::time_point at) const {
    auto validated = validate_host(host);
    REQUIRE(validated);
    auto leaf = mint_leaf(*ca, *validated, key.get(), at);
    REQUIRE_MESSAGE(leaf, (leaf ? "" : leaf.error().message));
    return std::move(*leaf);
  }

  std::optional<RootCa> ca;
  EvpPkeyPtr key;
};

// A fixed instant (whole seconds), so validity bounds can be asserted exactly.
const system_clock::time_point kNow = system_clock::from_time_t(std::time(nullptr));

TEST_CASE("a leaf for a DNS name") {
  const Fixture f;
  const Leaf leaf = f.mint("api.example.com", kNow);
  X509* cert = leaf.certificate.get();

  CHECK(test::alt_names(cert) == std::vector<std::string>{"DNS:api.example.com"});
  CHECK_FALSE(test::extension_critical(cert, NID_subject_alt_name));
  CHECK(test::name_entry(X509_get_subject_name(cert), NID_commonName) == "api.example.com");
  CHECK(X509_NAME_cmp(X509_get_issuer_name(cert), X509_get_subject_name(f.ca->certificate())) == 0);

  CHECK(X509_check_ca(cert) == 0);
  CHECK(test::extension_critical(cert, NID_basic_constraints));
  CHECK(X509_get_key_usage(cert) == KU_DIGITAL_SIGNATURE);
  CHECK(X509_get_extended_key_usage(cert) == XKU_SSL_SERVER);
  REQUIRE(X509_get0_authority_key_id(cert) != nullptr);
  CHECK(ASN1_OCTET_STRING_cmp(X509_get0_authority_key_id(cert), X509_get0_subject_key_id(f.ca->certificate())) == 0);

  CHECK(X509_get_signature_nid(cert) == NID_ecdsa_with_SHA256);
  CHECK(test::curve_name(X509_get0_pubkey(cert)) == "prime256v1");
  CHECK(EVP_PKEY_eq(X509_get0_pubkey(cert), f.key.get()) == 1);
  const int bits = test::serial_bits(cert);
  CHECK(bits > 64);
  CHECK(bits <= 128);

  const long now = static_cast<long>(system_clock::to_time_t(kNow));
  CHECK(test::asn1_to_time_t(X509_get0_notBefore(cert)) == now - 300);
  CHECK(test::asn1_to_time_t(X509_get0_notAfter(cert)) == now + 86400);
  CHECK(leaf.not_after == kNow + std::chrono::hours(24));

  CHECK(test::verify_leaf(cert, f.ca->certificate(), "api.example.com", false) == X509_V_OK);
  CHECK(test::verify_leaf(cert, f.ca->certificate(), "API.EXAMPLE.COM", false) == X509_V_OK);
  CHECK(test::verify_leaf(cert, f.ca->certificate(), "other.example.com", false) == X509_V_ERR_HOSTNAME_MISMATCH);
  CHECK(test::verify_leaf(cert, f.ca->certificate(), "example.com", false) == X509_V_ERR_HOSTNAME_MISMATCH);
}

TEST_CASE("a leaf is valid from 5 minutes before minting to 24 hours after") {
  const Fixture f;
  const Leaf leaf = f.mint("api.example.com", kNow);
  const std::time_t now = system_clock::to_time_t(kNow);
  X509* cert = leaf.certificate.get();
  CHECK(test::verify_leaf(cert, f.ca->certificate(), "api.example.com", false, now - 299) == X509_V_OK);
  CHECK(test::verify_leaf(cert, f.ca->certificate(), "api.example.com", false, now - 301) ==
        X509_V_ERR_CERT_NOT_YET_VALID);
  CHECK(test::verify_leaf(cert, f.ca->certificate(), "api.example.com", false, now + 86399) == X509_V_OK);
  CHECK(test::verify_leaf(cert, f.ca->certificate(), "api.example.com", false, now + 86401) ==
        X509_V_ERR_CERT_HAS_EXPIRED);
}

TEST_CASE("a leaf for 127.0.0.1 has an IP SAN and verifies for that address only") {
  const Fixture f;
  const Leaf leaf = f.mint("127.0.0.1", kNow);
  X509* cert = leaf.certificate.get();
  CHECK(test::alt_names(cert) == std::vector<std::string>{"IP:127.0.0.1"});
  CHECK(test::name_entry(X509_get_subject_name(cert), NID_commonName) == "127.0.0.1");
  CHECK(test::verify_leaf(cert, f.ca->certificate(), "127.0.0.1", true) == X509_V_OK);
  CHECK(test::verify_leaf(cert, f.ca->certificate(), "127.0.0.2", true) == X509_V_ERR_IP_ADDRESS_MISMATCH);
  CHECK(test::verify_leaf(cert, f.ca->certificate(), "localhost", false) == X509_V_ERR_HOSTNAME_MISMATCH);
}

TEST_CASE("a leaf for an IPv6 literal") {
  const Fixture f;
  const Leaf leaf = f.mint("2001:DB8::1", kNow);
  CHECK(test::alt_names(leaf.certificate.get()) == std::vector<std::string>{"IP:2001:db8::1"});
  CHECK(test::verify_leaf(leaf.certificate.get(), f.ca->certificate(), "2001:db8::1", true) == X509_V_OK);
  CHECK(test::verify_leaf(leaf.certificate.get(), f.ca->certificate(), "2001:db8::2", true) ==
        X509_V_ERR_IP_ADDRESS_MISMATCH);
}

TEST_CASE("a host longer than a CN allows gets no CN and a critical SAN") {
  const Fixture f;
  const std::string at_limit = std::string(60, 'a') + ".com";  // 64 characters: still a CN
  const Leaf short_leaf = f.mint(at_limit, kNow);
  CHECK(test::name_entry(X509_get_subject_name(short_leaf.certificate.get()), NID_commonName) == at_limit);

  const std::string over = std::string(61, 'a') + ".com";  // 65
  const Leaf leaf = f.mint(over, kNow);
  X509* cert = leaf.certificate.get();
  CHECK(X509_NAME_entry_count(X509_get_subject_name(cert)) == 0);
  CHECK(test::extension_critical(cert, NID_subject_alt_name));
  CHECK(test::alt_names(cert) == std::vector<std::string>{"DNS:" + over});
  CHECK(test::verify_leaf(cert, f.ca->certificate(), over, false) == X509_V_OK);
}

TEST_CASE("a leaf does not verify against another CA") {
  const Fixture f;
  const Fixture other;
  const Leaf leaf = f.mint("api.example.com", kNow);
  CHECK(test::verify_leaf(leaf.certificate.get(), other.ca->certificate(), "api.example.com", false) ==
        X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
}

TEST_CASE("every leaf gets its own serial") {
  const Fixture f;
  const Leaf a = f.mint("api.example.com", kNow);
  const Leaf b = f.mint("api.example.com", kNow);
  CHECK(ASN1_INTEGER_cmp(X509_get0_serialNumber(a.certificate.get()), X509_get0_serialNumber(b.certificate.get())) !=
        0);
}

TEST_CASE("the server context presents the leaf and the CA") {
  const Fixture f;
  const Leaf leaf = f.mint("api.example.com", kNow);
  auto context = make_server_context(*f.ca, leaf.certificate.get(), f.key.get());
  REQUIRE_MESSAGE(context, (context ? "" : context.error().message));
  SSL_CTX* ctx = context->get();
  CHECK(X509_cmp(SSL_CTX_get0_certificate(ctx), leaf.certificate.get()) == 0);
  CHECK(EVP_PKEY_eq(SSL_CTX_get0_privatekey(ctx), f.key.get()) == 1);
  STACK_OF(X509)* chain = nullptr;
  REQUIRE(SSL_CTX_get0_chain_certs(ctx, &chain) == 1);
  REQUIRE(sk_X509_num(chain) == 1);
  CHECK(X509_cmp(sk_X509_value(chain, 0), f.ca->certificate()) == 0);
  CHECK(SSL_CTX_get_min_proto_version(ctx) == TLS1_2_VERSION);
  CHECK((SSL_CTX_get_mode(ctx) & SSL_MODE_RELEASE_BUFFERS) != 0);
  CHECK(SSL_CTX_get_session_cache_mode(ctx) == SSL_SESS_CACHE_SERVER);
  CHECK((SSL_CTX_get_options(ctx) & SSL_OP_NO_TICKET) == 0);
  CHECK((SSL_CTX_get_options(ctx) & SSL_OP_NO_RENEGOTIATION) != 0);
}

TEST_CASE("a server context refuses a key that is not the leaf's") {
  const Fixture f;
  const Leaf leaf = f.mint("api.example.com", kNow);
  auto other_key = generate_p256_key();
  REQUIRE(other_key);
  auto context = make_server_context(*f.ca, leaf.certificate.get(), other_key->get());
  REQUIRE_FALSE(context);
  CHECK(context.error().code == Errc::openssl);
  CHECK(context.error().message.rfind("configure a server TLS context: error:", 0) == 0);
  CHECK(ERR_peek_error() == 0);  // the queue is left clean for the caller
}

}  // namespace
}  // namespace airlock::certs
