// Owning handles for the OpenSSL objects Airlock uses: one unique_ptr alias per type, each calling the
// library's own free function. Wrap a *_new / get1 result on the line that creates it; never wrap a get0
// result (it is borrowed); make every up-ref explicit (X509_up_ref, EVP_PKEY_up_ref) before wrapping.
#pragma once

#include <memory>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

namespace airlock::certs {

template <auto Free>
struct CFree {
  template <class T>
  void operator()(T* p) const noexcept {
    Free(p);
  }
};

using BioPtr = std::unique_ptr<BIO, CFree<BIO_free_all>>;
using BignumPtr = std::unique_ptr<BIGNUM, CFree<BN_free>>;
using EvpPkeyPtr = std::unique_ptr<EVP_PKEY, CFree<EVP_PKEY_free>>;
using EvpPkeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, CFree<EVP_PKEY_CTX_free>>;
using Pkcs8Ptr = std::unique_ptr<PKCS8_PRIV_KEY_INFO, CFree<PKCS8_PRIV_KEY_INFO_free>>;
using SslCtxPtr = std::unique_ptr<SSL_CTX, CFree<SSL_CTX_free>>;
using SslPtr = std::unique_ptr<SSL, CFree<SSL_free>>;
using SslSessionPtr = std::unique_ptr<SSL_SESSION, CFree<SSL_SESSION_free>>;
using X509Ptr = std::unique_ptr<X509, CFree<X509_free>>;
using X509ExtensionPtr = std::unique_ptr<X509_EXTENSION, CFree<X509_EXTENSION_free>>;
using X509NamePtr = std::unique_ptr<X509_NAME, CFree<X509_NAME_free>>;
using X509StorePtr = std::unique_ptr<X509_STORE, CFree<X509_STORE_free>>;
using X509StoreCtxPtr = std::unique_ptr<X509_STORE_CTX, CFree<X509_STORE_CTX_free>>;

}  // namespace airlock::certs
