// What the control plane tells a sidecar proxy about its one session (docs/sidecar.md, "What crosses the
// wire"): the session's proxy entry (proxy token, credentials with their values, environment networking,
// network policy) as JSON, sealed to the sidecar's X25519 public key with libsodium's crypto_box_seal, so
// the secrets stay confidential even over a plain-HTTP control connection. Only the holder of the
// sidecar's secret key, which never leaves the sidecar's memory, can open it. Nothing of any other
// session is in it.
//
// Pure apart from libsodium: seal on the control side, open on the sidecar's. The plaintext buffers are
// wiped (sodium_memzero) once sealed or parsed; the JSON library's own temporaries are not, which is the
// same exposure the process's snapshot already has.
#pragma once

#include <array>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>

#include <sodium.h>

#include "airlock/certs/secret_bytes.hpp"
#include "airlock/policies/policy.hpp"
#include "airlock/proxy/snapshot.hpp"

namespace airlock::control {

using BoxPublicKey = std::array<unsigned char, crypto_box_PUBLICKEYBYTES>;

// The sidecar's key pair, made at its start and kept only in its memory.
struct BoxKeyPair {
  BoxPublicKey public_key{};
  certs::SecretBytes secret_key;

  static BoxKeyPair generate();
};

// Base64 (URL-safe, no padding) of a public key, as it travels in a query string; and back.
std::string encode_public_key(const BoxPublicKey& key);
std::optional<BoxPublicKey> decode_public_key(std::string_view text);

// The session's entry, with its policy (by name, and the text of the policy file it is in, which the
// sidecar parses again), sealed to `recipient`, in base64 (as it travels in JSON). `policies`: the set
// `session.policy` came from (may be null when the session has none).
std::string seal_session(const proxy::SessionEntry& session, const policies::PolicySet* policies,
                         const BoxPublicKey& recipient);

class SealedSessionError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Opens and parses what seal_session() made. Throws SealedSessionError when it is not base64, does not
// open with `keys` or does not parse (the message never quotes the plaintext).
proxy::SessionEntry open_session(std::string_view sealed_base64, const BoxKeyPair& keys);

}  // namespace airlock::control
