// Response redaction (see redact.hpp).
#include "redact.hpp"

#include <vector>

namespace airlock::proxy {

BodyFilter BodyFilter::for_redaction(const SessionEntry& session) {
  BodyFilter filter;
  std::vector<StreamReplacer::Rule> rules;
  for (const auto& credential : session.credentials) {
    const std::string_view value = secret_view(*credential);
    if (value.empty()) continue;
    const std::string_view replacement =
        credential->kind == CredentialRule::Kind::environment_variable ? std::string_view(credential->placeholder)
                                                                       : kRedactedToken;
    rules.push_back({value, replacement});
    filter.credentials_.push_back(credential.get());
  }
  if (rules.empty()) return filter;
  filter.substitutions_ = rules.size();
  filter.replacer_ = std::make_unique<StreamReplacer>(std::move(rules));
  return filter;
}

std::size_t redact_headers(BodyFilter& redactor, http1::Headers& headers) {
  std::size_t made = 0;
  if (!redactor.active()) return 0;
  for (auto& field : headers.fields) made += redactor.redact_value(field.value);
  return made;
}

}  // namespace airlock::proxy
