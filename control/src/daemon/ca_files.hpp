// The root CA's files in the data dir: ca.pem (certificate), ca.key.sealed (private key sealed with the
// master key, K1), ca-bundle.pem (system roots + ca.pem, what sandboxes trust, K6) and ca-truststore.p12
// (the same bundle for Java). Generated on the first start, loaded afterwards; the key is never written
// in clear.
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include "airlock/certs/root_ca.hpp"
#include "airlock/store/store.hpp"

namespace airlock::control {

struct CaFiles {
  std::shared_ptr<const certs::RootCa> ca;
  std::filesystem::path certificate_path;  // DATA_DIR/ca.pem
  std::filesystem::path bundle_path;       // DATA_DIR/ca-bundle.pem
  std::filesystem::path trust_store_path;  // DATA_DIR/ca-truststore.p12
  std::string bundle_pem;
  bool created = false;
};

// Throws std::runtime_error with a message that says what to do (a missing half of the pair, a key that
// does not open under this master key, a certificate that does not match its key).
CaFiles load_or_create_ca(const std::filesystem::path& data_dir, const store::Store& store);

}  // namespace airlock::control
