// Store::seal_blob / Store::unseal_blob: at-rest secrets other than credentials (the CA's private key), sealed under
// the master key with the caller's associated data; see seal.hpp for the format.
#include "seal.hpp"
#include "store_impl.hpp"

namespace airlock::store {

std::string Store::seal_blob(std::span<const unsigned char> plaintext, std::string_view associated_data) const {
  std::vector<unsigned char> sealed = store::seal(impl_->master_key_, plaintext, associated_data);
  return std::string(sealed.begin(), sealed.end());
}

Result<SecretValue> Store::unseal_blob(std::string_view sealed, std::string_view associated_data) const {
  std::span<const unsigned char> bytes(reinterpret_cast<const unsigned char*>(sealed.data()), sealed.size());
  std::optional<SecretValue> opened = store::unseal(impl_->master_key_, bytes, associated_data);
  if (!opened) return make_error_code(Errc::wrong_master_key);
  return std::move(*opened);
}

std::string Store::request_fingerprint(std::string_view request) const {
  // Keyed: the request may carry a secret value, and an unkeyed hash of it kept for 24 h would let whoever
  // reads the database test guesses of a low-entropy secret.
  return keyed_hex_digest(impl_->master_key_, 1, "airlkidm", request);
}

}  // namespace airlock::store
