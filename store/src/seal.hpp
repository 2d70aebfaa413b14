// Sealing secrets at rest: XChaCha20-Poly1305 (libsodium's crypto_aead_xchacha20poly1305_ietf) under the
// 32-byte master key. A sealed value is nonce (24 random bytes) || ciphertext || tag (16 bytes); the
// random nonce is safe to pick at random because XChaCha's nonce is 192 bits.
//
// Associated data binds a sealed value to where it is stored, so a row copied to another credential or
// field does not open:
//   - a credential's primary secret (secret_value, token or access_token, by auth type): the credential id;
//   - any other field of the same credential (refresh_token, client_secret, ...): "<credential id>/<field>";
//   - the master-key check value in the meta table: "meta/master_key_check".
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "airlock/store/secret.hpp"

namespace airlock::store {

inline constexpr std::size_t kMasterKeyBytes = 32;

// sodium_init, once; throws std::system_error(Errc::io) if libsodium cannot start.
void require_sodium();

std::vector<unsigned char> seal(const SecretValue& key, std::span<const unsigned char> plaintext,
                                std::string_view associated_data);
// nullopt when the value does not authenticate (another key, other associated data, or tampering).
std::optional<SecretValue> unseal(const SecretValue& key, std::span<const unsigned char> sealed,
                                  std::string_view associated_data);

// Lowercase hex of a 32-byte BLAKE2b (crypto_generichash) over `data`, keyed with the subkey
// (`subkey_id`, `context`: 8 characters) that crypto_kdf derives from the master key. Different contexts
// give unrelated digests, so one purpose's values say nothing about another's.
std::string keyed_hex_digest(const SecretValue& master_key, std::uint64_t subkey_id, const char* context,
                             std::string_view data);

// The field whose value the proxy substitutes: "secret_value", "token" or "access_token"; "" otherwise.
std::string_view primary_field(std::string_view auth_type);
// The associated data for `field` of a credential (see the rules above).
std::string field_associated_data(std::string_view credential_id, std::string_view auth_type, std::string_view field);

}  // namespace airlock::store
