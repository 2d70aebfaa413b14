// The secret strength rule; see secret_strength.hpp.
#include "api/secret_strength.hpp"

#include <bitset>
#include <cmath>

namespace airlock::control {

double estimated_secret_bits(std::string_view value) {
  std::bitset<256> seen;
  for (char c : value) seen.set(static_cast<unsigned char>(c));
  if (seen.count() < 2) return 0;
  return static_cast<double>(value.size()) * std::log2(static_cast<double>(seen.count()));
}

bool strong_enough_secret(std::string_view value) {
  return value.size() >= kSecretMinBytes && estimated_secret_bits(value) >= kSecretMinEstimatedBits;
}

}  // namespace airlock::control
