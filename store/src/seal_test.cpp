// Sealing: the format, the round trip, and that another key, other associated data or a flipped bit
// does not open a sealed value.
#include <doctest/doctest.h>

#include "seal.hpp"
#include "test_support.hpp"

namespace airlock::store {

namespace {

std::span<const unsigned char> bytes_of(std::string_view text) {
  return {reinterpret_cast<const unsigned char*>(text.data()), text.size()};
}

}  // namespace

TEST_CASE("seal and unseal round-trip - the sealed form is nonce + ciphertext + tag") {
  const auto key = testing::key_of(7);
  const auto sealed = seal(key, bytes_of("hunter2"), "vcrd_01abc");
  CHECK(sealed.size() == 24 + 7 + 16);
  const auto opened = unseal(key, sealed, "vcrd_01abc");
  REQUIRE(opened.has_value());
  CHECK(opened->view() == "hunter2");
  // A fresh random nonce each time: the same plaintext never seals to the same bytes.
  CHECK(seal(key, bytes_of("hunter2"), "vcrd_01abc") != sealed);
}

TEST_CASE("an empty secret seals and unseals") {
  const auto key = testing::key_of(7);
  const auto sealed = seal(key, {}, "x");
  CHECK(sealed.size() == 40);
  const auto opened = unseal(key, sealed, "x");
  REQUIRE(opened.has_value());
  CHECK(opened->empty());
}

TEST_CASE("unseal refuses another key, other associated data, and any change to the bytes") {
  const auto key = testing::key_of(7);
  auto sealed = seal(key, bytes_of("hunter2"), "vcrd_01abc");
  CHECK_FALSE(unseal(testing::key_of(8), sealed, "vcrd_01abc").has_value());
  CHECK_FALSE(unseal(key, sealed, "vcrd_01abd").has_value());
  CHECK_FALSE(unseal(key, sealed, "vcrd_01abc/token").has_value());
  for (const std::size_t at : {std::size_t{0}, std::size_t{24}, sealed.size() - 1}) {
    auto changed = sealed;
    changed[at] ^= 0x01;
    CHECK_FALSE(unseal(key, changed, "vcrd_01abc").has_value());
  }
  sealed.resize(39);
  CHECK_FALSE(unseal(key, sealed, "vcrd_01abc").has_value());
}

TEST_CASE("a key that is not 32 bytes neither seals nor unseals") {
  const auto key = testing::key_of(7);
  const auto sealed = seal(key, bytes_of("hunter2"), "vcrd_01abc");
  for (const std::size_t size : {std::size_t{33}, std::size_t{64}, std::size_t{31}, std::size_t{16}, std::size_t{0}}) {
    CAPTURE(size);
    auto other = SecretValue::with_size(size);
    for (std::size_t i = 0; i < size; ++i) other.data()[i] = static_cast<unsigned char>(7 + i);  // key_of(7)'s bytes
    const auto error = testing::thrown_by([&] { (void)seal(other, bytes_of("hunter2"), "vcrd_01abc"); });
    CHECK(error.code == make_error_code(Errc::wrong_master_key));
    CHECK(error.message == "the master key must be 32 bytes");
    CHECK_FALSE(unseal(other, sealed, "vcrd_01abc").has_value());
  }
}

TEST_CASE("associated data: the credential id for the primary field, id/field for the others") {
  CHECK(primary_field("environment_variable") == "secret_value");
  CHECK(primary_field("static_bearer") == "token");
  CHECK(primary_field("mcp_oauth") == "access_token");
  CHECK(primary_field("other") == "");
  CHECK(field_associated_data("vcrd_1", "environment_variable", "secret_value") == "vcrd_1");
  CHECK(field_associated_data("vcrd_1", "static_bearer", "token") == "vcrd_1");
  CHECK(field_associated_data("vcrd_1", "mcp_oauth", "access_token") == "vcrd_1");
  CHECK(field_associated_data("vcrd_1", "mcp_oauth", "refresh_token") == "vcrd_1/refresh_token");
  CHECK(field_associated_data("vcrd_1", "mcp_oauth", "client_secret") == "vcrd_1/client_secret");
  CHECK(field_associated_data("vcrd_1", "environment_variable", "token") == "vcrd_1/token");
}

}  // namespace airlock::store
