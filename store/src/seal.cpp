// XChaCha20-Poly1305 sealing of secret values under the master key (see seal.hpp for the format).
#include "seal.hpp"

#include <array>

#include <system_error>

#include <sodium.h>

#include "airlock/store/store.hpp"
#include "errors.hpp"

namespace airlock::store {

namespace {

constexpr std::size_t kNonceBytes = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
constexpr std::size_t kTagBytes = crypto_aead_xchacha20poly1305_ietf_ABYTES;
static_assert(crypto_aead_xchacha20poly1305_ietf_KEYBYTES == kMasterKeyBytes);

const unsigned char* aad_bytes(std::string_view associated_data) {
  return reinterpret_cast<const unsigned char*>(associated_data.data());
}

}  // namespace

void require_sodium() {
  static const bool ready = sodium_init() >= 0;  // idempotent and thread-safe; this only caches the answer
  if (!ready) throw StoreError(Errc::io, "libsodium failed to initialise (sodium_init)");
}

std::vector<unsigned char> seal(const SecretValue& key, std::span<const unsigned char> plaintext,
                                std::string_view associated_data) {
  require_sodium();
  if (key.size() != kMasterKeyBytes) throw StoreError(Errc::wrong_master_key, "the master key must be 32 bytes");
  std::vector<unsigned char> sealed(kNonceBytes + plaintext.size() + kTagBytes);
  randombytes_buf(sealed.data(), kNonceBytes);
  unsigned long long written = 0;
  crypto_aead_xchacha20poly1305_ietf_encrypt(sealed.data() + kNonceBytes, &written, plaintext.data(), plaintext.size(),
                                             aad_bytes(associated_data), associated_data.size(), nullptr, sealed.data(),
                                             key.bytes().data());
  sealed.resize(kNonceBytes + written);
  return sealed;
}

std::optional<SecretValue> unseal(const SecretValue& key, std::span<const unsigned char> sealed,
                                  std::string_view associated_data) {
  require_sodium();
  if (key.size() != kMasterKeyBytes || sealed.size() < kNonceBytes + kTagBytes) return std::nullopt;
  const std::size_t size = sealed.size() - kNonceBytes - kTagBytes;
  // An empty secret still needs somewhere to point the output.
  unsigned char none[1];
  auto plain = SecretValue::with_size(size);
  unsigned char* out = size == 0 ? none : plain.data();
  unsigned long long written = 0;
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(out, &written, nullptr, sealed.data() + kNonceBytes,
                                                 sealed.size() - kNonceBytes, aad_bytes(associated_data),
                                                 associated_data.size(), sealed.data(), key.bytes().data()) != 0) {
    return std::nullopt;
  }
  return plain;
}

std::string keyed_hex_digest(const SecretValue& master_key, std::uint64_t subkey_id, const char* context,
                             std::string_view data) {
  require_sodium();
  auto subkey = SecretValue::with_size(crypto_generichash_KEYBYTES);
  static_assert(crypto_generichash_KEYBYTES >= crypto_kdf_BYTES_MIN && crypto_generichash_KEYBYTES <= crypto_kdf_BYTES_MAX);
  crypto_kdf_derive_from_key(subkey.data(), subkey.size(), subkey_id, context, master_key.bytes().data());
  std::array<unsigned char, 32> digest{};
  crypto_generichash(digest.data(), digest.size(), reinterpret_cast<const unsigned char*>(data.data()), data.size(),
                     subkey.data(), subkey.size());
  std::string hex(2 * digest.size() + 1, '\0');
  sodium_bin2hex(hex.data(), hex.size(), digest.data(), digest.size());  // lowercase, NUL-terminated
  hex.pop_back();
  sodium_memzero(digest.data(), digest.size());
  return hex;
}

std::string_view primary_field(std::string_view auth_type) {
  if (auth_type == "environment_variable") return "secret_value";
  if (auth_type == "static_bearer") return "token";
  if (auth_type == "mcp_oauth") return "access_token";
  return {};
}

std::string field_associated_data(std::string_view credential_id, std::string_view auth_type, std::string_view field) {
  std::string aad{credential_id};
  if (field != primary_field(auth_type)) {
    aad += '/';
    aad += field;
  }
  return aad;
}

}  // namespace airlock::store
