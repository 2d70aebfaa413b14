// Loading or creating the root CA's files; see ca_files.hpp.
#include "daemon/ca_files.hpp"

#include <stdexcept>

#include <fmt/format.h>

#include "airlock/certs/trust_store.hpp"
#include "daemon/files.hpp"

namespace airlock::control {
namespace {

namespace fs = std::filesystem;
constexpr std::string_view kKeyAssociatedData = "airlock/ca.key";

}  // namespace

CaFiles load_or_create_ca(const fs::path& data_dir, const store::Store& store) {
  CaFiles files;
  files.certificate_path = data_dir / "ca.pem";
  files.bundle_path = data_dir / "ca-bundle.pem";
  files.trust_store_path = data_dir / "ca-truststore.p12";
  fs::path key_path = data_dir / "ca.key.sealed";

  bool have_certificate = fs::exists(files.certificate_path);
  bool have_key = fs::exists(key_path);
  if (have_certificate != have_key) {
    throw std::runtime_error(fmt::format(
        "{} exists without {}: restore the missing file, or delete both to create a new CA (sandboxes must then "
        "trust the new one)",
        (have_certificate ? files.certificate_path : key_path).string(), (have_certificate ? key_path : files.certificate_path).string()));
  }

  if (have_certificate) {
    std::string pem = read_file(files.certificate_path);
    auto key = store.unseal_blob(read_file(key_path), kKeyAssociatedData);
    if (!key) {
      throw std::runtime_error(fmt::format("{} does not open with this master key: restore the master key it was sealed "
                                           "with, or delete ca.pem and ca.key.sealed to create a new CA",
                                           key_path.string()));
    }
    auto ca = certs::RootCa::load(pem, key.value().bytes());
    if (!ca) throw std::runtime_error(fmt::format("{}: {}", files.certificate_path.string(), ca.error().message));
    files.ca = std::make_shared<const certs::RootCa>(std::move(ca).value());
  } else {
    auto ca = certs::RootCa::generate();
    if (!ca) throw std::runtime_error(fmt::format("cannot create the root CA: {}", ca.error().message));
    auto key = ca->private_key_der();
    if (!key) throw std::runtime_error(fmt::format("cannot export the root CA key: {}", key.error().message));
    write_file(key_path, store.seal_blob(key->bytes(), kKeyAssociatedData), 0600);  // the key first: a cert alone is useless
    write_file(files.certificate_path, ca->certificate_pem(), 0644);
    files.ca = std::make_shared<const certs::RootCa>(std::move(ca).value());
    files.created = true;
  }

  auto bundle = certs::trust_bundle(*files.ca);
  if (!bundle) throw std::runtime_error(fmt::format("cannot build {}: {}", files.bundle_path.string(), bundle.error().message));
  files.bundle_pem = std::move(bundle).value();
  write_file(files.bundle_path, files.bundle_pem, 0644);
  auto trust_store = certs::trust_store_pkcs12(files.bundle_pem);
  if (!trust_store) {
    throw std::runtime_error(fmt::format("cannot build {}: {}", files.trust_store_path.string(), trust_store.error().message));
  }
  write_file(files.trust_store_path, *trust_store, 0644);
  return files;
}

}  // namespace airlock::control
