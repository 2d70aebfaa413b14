// Whether a credential's secret value is strong enough to store (docs/security.md, "Secret strength").
//
// The proxy redacts a secret that an allowed host echoes back by replacing it with its placeholder. So a
// sandbox that posts every candidate of a weak secret (all 10,000 four-digit PINs) to an echoing allowed
// host sees which one comes back as the placeholder. A value is strong enough when no such list can be
// posted: at least 16 bytes, and length × log2(number of distinct byte values) ≥ 64. The second term
// estimates its strength as if each byte were drawn at random from the bytes it uses: 64 bits for 16
// different hex digits, 53 for a 16-digit number, 32 for "abcdabcdabcdabcd". Pure, for a unit-test table.
#pragma once

#include <cstddef>
#include <string_view>

namespace airlock::control {

inline constexpr std::size_t kSecretMinBytes = 16;
inline constexpr double kSecretMinEstimatedBits = 64;

// length × log2(number of distinct byte values); 0 for an empty value or a single repeated byte.
double estimated_secret_bits(std::string_view value);

bool strong_enough_secret(std::string_view value);

}  // namespace airlock::control
