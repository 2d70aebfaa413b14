// RootCa: generate, serialise and load Airlock's CA; build the sandbox trust bundle (see root_ca.hpp).
#include "airlock/certs/root_ca.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <climits>
#include <ctime>
#include <fstream>
#include <iterator>
#include <sstream>
#include <system_error>
#include <utility>

#include <fmt/format.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "airlock/certs/leaf.hpp"
#include "openssl_error.hpp"
#include "x509_build.hpp"

namespace airlock::certs {

namespace {

constexpr long kCaValidityDays = 3650;
// A sandbox's clock may run behind ours; a CA that is "not yet valid" there would break every request.
constexpr std::time_t kCaBackdateSeconds = 3600;
constexpr std::string_view kPemBegin = "-----BEGIN";

Result<std::string> to_pem(X509* certificate) {
  BioPtr bio{BIO_new(BIO_s_mem())};
  if (!bio || PEM_write_bio_X509(bio.get(), certificate) != 1) return openssl_error("encode the CA certificate as PEM");
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(size));
}

// Refuses to prompt on the terminal for an encrypted key: Airlock's keys are sealed, not encrypted PEM.
int no_password(char*, int, int, void*) { return -1; }

Result<EvpPkeyPtr> parse_private_key(std::span<const unsigned char> bytes) {
  if (bytes.size() > static_cast<std::size_t>(INT_MAX)) return Error{Errc::bad_key, "CA private key: too large"};
  const std::string_view text{reinterpret_cast<const char*>(bytes.data()), bytes.size()};
  EvpPkeyPtr key;
  if (text.find(kPemBegin) != std::string_view::npos) {
    BioPtr bio{BIO_new_mem_buf(bytes.data(), static_cast<int>(bytes.size()))};
    if (bio) key.reset(PEM_read_bio_PrivateKey(bio.get(), nullptr, no_password, nullptr));
  } else {
    const unsigned char* cursor = bytes.data();
    key.reset(d2i_AutoPrivateKey(nullptr, &cursor, static_cast<long>(bytes.size())));
  }
  if (!key) return openssl_error("CA private key: not an unencrypted PKCS#8 DER or PEM private key", Errc::bad_key);
  return key;
}

}  // namespace

RootCa::RootCa(X509Ptr certificate, EvpPkeyPtr key, std::string pem)
    : certificate_(std::move(certificate)), key_(std::move(key)), certificate_pem_(std::move(pem)) {}

Result<RootCa> RootCa::generate() {
  ClearErrorsOnReturn clear;
  auto key = generate_p256_key();
  if (!key) return std::move(key).error();

  std::array<unsigned char, 4> suffix{};
  if (RAND_bytes(suffix.data(), static_cast<int>(suffix.size())) != 1) return openssl_error("CA name suffix");
  const std::string common_name =
      fmt::format("Airlock Root CA {:02x}{:02x}{:02x}{:02x}", suffix[0], suffix[1], suffix[2], suffix[3]);

  X509Ptr certificate{X509_new()};
  if (!certificate) return openssl_error("create the CA certificate");
  X509* cert = certificate.get();
  X509_NAME* name = X509_get_subject_name(cert);  // get0: owned by cert
  const std::time_t now = std::time(nullptr);
  const bool built = X509_set_version(cert, X509_VERSION_3) == 1 && set_random_serial(cert) &&
                     set_validity(cert, now - kCaBackdateSeconds, now + kCaValidityDays * 24 * 3600) &&
                     add_name_entry(name, "O", "Airlock") && add_name_entry(name, "CN", common_name) &&
                     X509_set_issuer_name(cert, name) == 1 && X509_set_pubkey(cert, key->get()) == 1 &&
                     // pathlen:1: leaves, and sidecars' intermediates (pathlen:0) that sign leaves only.
                     add_extension(cert, cert, NID_basic_constraints, "critical,CA:TRUE,pathlen:1") &&
                     add_extension(cert, cert, NID_key_usage, "critical,keyCertSign,cRLSign") &&
                     add_extension(cert, cert, NID_subject_key_identifier, "hash") &&
                     X509_sign(cert, key->get(), EVP_sha256()) > 0;
  if (!built) return openssl_error("build the CA certificate");

  auto pem = to_pem(cert);
  if (!pem) return std::move(pem).error();
  return RootCa{std::move(certificate), std::move(*key), std::move(*pem)};
}

Result<RootCa> RootCa::load(std::string_view certificate_pem, std::span<const unsigned char> private_key) {
  ClearErrorsOnReturn clear;
  if (certificate_pem.size() > static_cast<std::size_t>(INT_MAX)) {
    return Error{Errc::bad_certificate, "CA certificate: too large"};
  }
  BioPtr bio{BIO_new_mem_buf(certificate_pem.data(), static_cast<int>(certificate_pem.size()))};
  if (!bio) return openssl_error("CA certificate");
  X509Ptr certificate{PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)};
  if (!certificate) return openssl_error("CA certificate: not a PEM X.509 certificate", Errc::bad_certificate);
  if (X509_check_ca(certificate.get()) < 1) {
    return Error{Errc::bad_certificate, "CA certificate: not a CA (basicConstraints CA:TRUE is missing)"};
  }

  auto key = parse_private_key(private_key);
  if (!key) return std::move(key).error();
  if (X509_check_private_key(certificate.get(), key->get()) != 1) {
    ERR_clear_error();
    return Error{Errc::key_mismatch,
                 "CA private key does not belong to the CA certificate: restore the certificate and key that were "
                 "created together, or remove both so that a new CA is generated"};
  }

  auto pem = to_pem(certificate.get());
  if (!pem) return std::move(pem).error();
  return RootCa{std::move(certificate), std::move(*key), std::move(*pem)};
}

std::chrono::system_clock::time_point RootCa::not_after() const {
  std::tm tm{};
  if (ASN1_TIME_to_tm(X509_get0_notAfter(certificate_.get()), &tm) != 1) return {};
  return std::chrono::system_clock::from_time_t(timegm(&tm));
}

bool RootCa::signs_intermediates() const {
  // X509_get_pathlen: -1 when no limit is set.
  const long pathlen = X509_get_pathlen(certificate_.get());
  return pathlen < 0 || pathlen >= 1;
}

Result<std::string> RootCa::issue_intermediate(EVP_PKEY* public_key, std::string_view label,
                                               std::chrono::system_clock::time_point now,
                                               std::chrono::seconds lifetime) const {
  ClearErrorsOnReturn clear;
  if (!signs_intermediates()) {
    return Error{Errc::bad_certificate,
                 fmt::format("the CA {} may not sign intermediates (its basicConstraints say pathlen:0: it was made "
                             "before sidecars existed); replace it as docs/sidecar.md says under \"Root CA\"",
                             common_name())};
  }
  const std::time_t t = std::chrono::system_clock::to_time_t(now);
  const std::time_t limit = std::chrono::system_clock::to_time_t(not_after());
  const std::time_t not_after_time =
      std::min(limit, t + std::chrono::seconds(std::min<std::chrono::seconds>(lifetime, std::chrono::hours(24))).count());
  X509Ptr certificate{X509_new()};
  if (!certificate) return openssl_error("create an intermediate certificate");
  X509* cert = certificate.get();
  X509_NAME* name = X509_get_subject_name(cert);  // get0: owned by cert
  const bool built =
      X509_set_version(cert, X509_VERSION_3) == 1 && set_random_serial(cert) &&
      set_validity(cert, t - std::chrono::seconds(kLeafBackdate).count(), not_after_time) &&
      add_name_entry(name, "O", "Airlock") && add_name_entry(name, "CN", fmt::format("Airlock Sidecar CA {}", label)) &&
      X509_set_issuer_name(cert, X509_get_subject_name(certificate_.get())) == 1 && X509_set_pubkey(cert, public_key) == 1 &&
      add_extension(cert, certificate_.get(), NID_basic_constraints, "critical,CA:TRUE,pathlen:0") &&
      add_extension(cert, certificate_.get(), NID_key_usage, "critical,keyCertSign,cRLSign") &&
      add_extension(cert, certificate_.get(), NID_subject_key_identifier, "hash") &&
      add_extension(cert, certificate_.get(), NID_authority_key_identifier, "keyid:always") &&
      X509_sign(cert, key_.get(), EVP_sha256()) > 0;
  if (!built) return openssl_error("build an intermediate certificate");
  return to_pem(cert);
}

Result<SecretBytes> RootCa::private_key_der() const { return certs::private_key_der(key_.get()); }

Result<SecretBytes> private_key_der(EVP_PKEY* key) {
  ClearErrorsOnReturn clear;
  // PKCS#8 names the algorithm, so the bytes load back without knowing the key type. The info structure
  // is cleansed by OpenSSL when freed; the only other copy is the SecretBytes we return.
  Pkcs8Ptr info{EVP_PKEY2PKCS8(key)};
  if (!info) return openssl_error("encode the CA private key");
  const int size = i2d_PKCS8_PRIV_KEY_INFO(info.get(), nullptr);
  if (size <= 0) return openssl_error("encode the CA private key");
  SecretBytes bytes{static_cast<std::size_t>(size)};
  unsigned char* cursor = bytes.data();
  if (i2d_PKCS8_PRIV_KEY_INFO(info.get(), &cursor) != size) return openssl_error("encode the CA private key");
  return bytes;
}

std::string RootCa::common_name() const {
  X509_NAME* subject = X509_get_subject_name(certificate_.get());
  const int index = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
  if (index < 0) return {};
  const ASN1_STRING* value = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, index));
  return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(value)),
                     static_cast<std::size_t>(ASN1_STRING_length(value)));
}

Result<std::string> trust_bundle(const RootCa& ca, const std::filesystem::path& system_bundle) {
  std::ifstream in(system_bundle, std::ios::binary);
  if (!in) {
    return Error{Errc::io, fmt::format("cannot read the system trust bundle {}: {}; install ca-certificates or "
                                       "give the path of the system's PEM bundle",
                                       system_bundle.string(), std::generic_category().message(errno))};
  }
  std::ostringstream content;
  content << in.rdbuf();
  if (in.bad())
    return Error{Errc::io, fmt::format("error while reading the system trust bundle {}", system_bundle.string())};
  std::string bundle = std::move(content).str();
  if (!bundle.empty() && bundle.back() != '\n') bundle += '\n';
  bundle += ca.certificate_pem();
  return bundle;
}

}  // namespace airlock::certs
