// Response redaction (see redact.hpp).
#include "redact.hpp"

#include <algorithm>

namespace airlock::proxy {

namespace {

constexpr std::string_view kStandard = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr std::string_view kUrlSafe = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

// The base64 characters of `secret` placed `offset` bytes into a longer text, keeping only those whose six
// bits all come from the secret: character j covers bits [6j, 6j + 6) of the text, the secret bits
// [8 * offset, 8 * (offset + size)).
std::string aligned_form(std::string_view secret, std::size_t offset, std::string_view alphabet) {
  const std::size_t first_bit = 8 * offset;
  const std::size_t end_bit = 8 * (offset + secret.size());
  const auto bit = [&](std::size_t i) -> unsigned {
    if (i < first_bit || i >= end_bit) return 0;
    const std::size_t b = i - first_bit;
    return (static_cast<unsigned char>(secret[b / 8]) >> (7 - b % 8)) & 1u;
  };
  std::string out;
  for (std::size_t j = (first_bit + 5) / 6; 6 * j + 6 <= end_bit; ++j) {
    unsigned value = 0;
    for (std::size_t k = 0; k < 6; ++k) value = value << 1 | bit(6 * j + k);
    out.push_back(alphabet[value]);
  }
  return out;
}

}  // namespace

std::vector<std::string> base64_forms(std::string_view secret) {
  std::vector<std::string> forms;
  for (std::string_view alphabet : {kStandard, kUrlSafe}) {
    for (std::size_t offset = 0; offset < 3; ++offset) {
      std::string form = aligned_form(secret, offset, alphabet);
      if (form.size() < kMinEncodedNeedle || std::find(forms.begin(), forms.end(), form) != forms.end()) {
        wipe(form);
        continue;
      }
      forms.push_back(std::move(form));
    }
  }
  return forms;
}

Redaction::Redaction(std::span<const CredentialRule* const> credentials, std::span<const WrittenEncoding> written) {
  std::vector<StreamReplacer::Rule> rules;
  // Reserve the derived strings once: the rules keep views into them, so they must never reallocate.
  derived_.reserve(credentials.size() * 6 + written.size() * 2);
  for (const CredentialRule* credential : credentials) {
    const std::string_view value = secret_view(*credential);
    if (value.empty()) continue;
    const bool placeholder = credential->kind == CredentialRule::Kind::environment_variable;
    owners_.push_back({rules.size(), credential});
    rules.push_back({value, placeholder ? std::string_view(credential->placeholder) : kRedactedToken});
    for (std::string& form : base64_forms(value)) {
      derived_.push_back(std::move(form));
      owners_.push_back({rules.size(), credential});
      rules.push_back({derived_.back(), kRedactedEncoded});
    }
  }
  for (const WrittenEncoding& encoding : written) {
    for (const CredentialRule* credential : encoding.credentials) owners_.push_back({rules.size(), credential});
    rules.push_back({encoding.written, encoding.sent});  // `written` outlives this exchange's Redaction
  }
  body_ = BodyFilter::for_redaction(std::move(rules));
}

Redaction::~Redaction() {
  for (std::string& form : derived_) wipe(form);
}

std::size_t Redaction::headers(http1::Headers& headers) {
  std::size_t made = 0;
  if (!body_.active()) return 0;
  for (auto& field : headers.fields) {
    made += body_.redact_value(field.name);
    made += body_.redact_value(field.value);
  }
  return made;
}

std::size_t Redaction::whole(std::string& bytes) { return body_.active() ? body_.redact_value(bytes) : 0; }

std::vector<const CredentialRule*> Redaction::redacted() const {
  std::vector<const CredentialRule*> out;
  if (body_.replacements() == 0) return out;  // the common case: no allocation
  for (const RuleOwner& owner : owners_) {
    if (body_.matched(owner.rule) && std::find(out.begin(), out.end(), owner.credential) == out.end()) {
      out.push_back(owner.credential);
    }
  }
  return out;
}

}  // namespace airlock::proxy
