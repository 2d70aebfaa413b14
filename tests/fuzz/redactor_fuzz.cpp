// Fuzz target redactor: response redaction (proxy/src/redact.hpp, SECURITY.md S7, S10, S11) of a body
// that arrives in any chunking, for any secrets.
//
// Input: one line per secret up to the first empty line, then the response body. A line is
// "b<TAB>token" (a static_bearer token), "w<TAB>written<TAB>sent" (an encoding Airlock wrote into the
// request), or an environment_variable secret (optionally "e<TAB>" before it). The body is fed in chunks
// drawn from the input.
//
// Checks (a violation aborts):
//   - every base64 form base64_forms() derives is at least kMinEncodedNeedle long, appears once, and is a
//     piece of the secret's own base64 (standard or URL-safe) at one of the three alignments;
//   - the body filter over the chunks gives the same bytes as whole() on the body, and both give what the
//     plain reference replacement gives for the rules a redaction is made of (raw secret -> placeholder or
//     kRedactedToken, base64 forms -> kRedactedEncoded, written -> sent);
//   - S10: until the first replacement, what has come out after each chunk is the input minus a fixed
//     hold-back (the longest needle less one byte): its length depends on lengths only;
//   - no raw secret is left in the output, whenever no secret shares a byte with a replacement (otherwise
//     a replacement next to ordinary bytes can spell a secret the sandbox could have sent itself);
//   - headers() redacts a field's name and value as whole() redacts the same text.
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "fuzz_support.hpp"
#include "redact.hpp"
#include "replace_reference.hpp"

namespace airlock::fuzz {
namespace {

using proxy::CredentialRule;

constexpr std::size_t kMaxSecrets = 6;
constexpr std::size_t kMaxWritten = 2;
constexpr std::size_t kMaxSecretBytes = 128;

// A base64 encoder of its own (RFC 4648, padded), to judge base64_forms() by.
std::string base64(std::string_view bytes, std::string_view alphabet) {
  std::string out;
  for (std::size_t i = 0; i < bytes.size(); i += 3) {
    const std::size_t n = std::min<std::size_t>(3, bytes.size() - i);
    std::uint32_t group = 0;
    for (std::size_t k = 0; k < 3; ++k) group = group << 8 | (k < n ? static_cast<unsigned char>(bytes[i + k]) : 0u);
    for (std::size_t k = 0; k < 4; ++k) out.push_back(k <= n ? alphabet[(group >> (18 - 6 * k)) & 63] : '=');
  }
  return out;
}

constexpr std::string_view kStandard = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr std::string_view kUrlSafe = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

void check_base64_forms(std::string_view secret, const std::vector<std::string>& forms) {
  for (std::size_t i = 0; i < forms.size(); ++i) {
    AIRLOCK_FUZZ_CHECK(forms[i].size() >= proxy::kMinEncodedNeedle);
    for (std::size_t j = 0; j < i; ++j) AIRLOCK_FUZZ_CHECK(forms[i] != forms[j]);
    bool found = false;
    for (std::size_t offset = 0; offset < 3 && !found; ++offset) {
      const std::string aligned = std::string(offset, '\0') + std::string(secret);
      found = base64(aligned, kStandard).find(forms[i]) != std::string::npos ||
              base64(aligned, kUrlSafe).find(forms[i]) != std::string::npos;
    }
    AIRLOCK_FUZZ_CHECK(found);
  }
}

struct Secrets {
  std::vector<std::shared_ptr<CredentialRule>> credentials;
  std::vector<proxy::WrittenEncoding> written;
  std::string_view body;
};

Secrets secrets_of(std::string_view input) {
  Secrets secrets;
  auto [lines, body] = split_once(input, "\n\n");
  secrets.body = body;
  while (!lines.empty()) {
    auto [line, rest] = split_once(lines, "\n");
    lines = rest;
    if (line.starts_with("w\t")) {
      if (secrets.written.size() == kMaxWritten) continue;
      const auto [written, sent] = split_once(line.substr(2), "\t");
      secrets.written.emplace_back(std::string(written.substr(0, kMaxSecretBytes)), std::string(sent.substr(0, kMaxSecretBytes)));
      continue;
    }
    if (secrets.credentials.size() == kMaxSecrets) continue;
    auto rule = std::make_shared<CredentialRule>();
    std::string_view value = line;
    if (line.starts_with("b\t")) {
      rule->kind = CredentialRule::Kind::static_bearer;
      value = line.substr(2);
    } else {
      rule->kind = CredentialRule::Kind::environment_variable;
      if (line.starts_with("e\t")) value = line.substr(2);
      rule->placeholder = "airlock_ph_FUZZ" + std::string(35, '0') + std::to_string(secrets.credentials.size());
    }
    value = value.substr(0, kMaxSecretBytes);
    rule->value = certs::SecretBytes(std::span(reinterpret_cast<const unsigned char*>(value.data()), value.size()));
    secrets.credentials.push_back(std::move(rule));
  }
  return secrets;
}

}  // namespace
}  // namespace airlock::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace airlock;
  using namespace airlock::fuzz;
  const std::string_view input = as_text(data, size);
  const Secrets secrets = secrets_of(input);
  std::vector<const CredentialRule*> reflect;
  for (const auto& rule : secrets.credentials) reflect.push_back(rule.get());

  // The rules a redaction is made of, built here from the parts, for the reference.
  std::vector<std::string> forms_kept;
  forms_kept.reserve(reflect.size() * 6);
  std::vector<proxy::StreamReplacer::Rule> rules;
  std::vector<std::string_view> raw_secrets;
  std::vector<std::string_view> replacements;
  for (const CredentialRule* credential : reflect) {
    const std::string_view secret = proxy::secret_view(*credential);
    if (secret.empty()) continue;
    raw_secrets.push_back(secret);
    const std::string_view replacement = credential->kind == CredentialRule::Kind::environment_variable
                                             ? std::string_view(credential->placeholder)
                                             : proxy::kRedactedToken;
    rules.push_back({secret, replacement});
    replacements.push_back(replacement);
    const std::vector<std::string> forms = proxy::base64_forms(secret);
    check_base64_forms(secret, forms);
    for (const std::string& form : forms) {
      forms_kept.push_back(form);
      rules.push_back({forms_kept.back(), proxy::kRedactedEncoded});
    }
  }
  replacements.push_back(proxy::kRedactedEncoded);
  for (const proxy::WrittenEncoding& encoding : secrets.written) {
    rules.push_back({encoding.written, encoding.sent});
    replacements.push_back(encoding.sent);
  }
  const Reference ref = reference_replace(secrets.body, rules);
  std::size_t longest = 0;
  for (const auto& rule : rules) longest = std::max(longest, rule.needle.size());
  const std::size_t hold_back = longest == 0 ? 0 : longest - 1;

  proxy::Redaction redaction(reflect, secrets.written);
  std::string streamed;
  std::size_t fed = 0;
  for (const std::string_view chunk : random_chunks(secrets.body, hash_of(input))) {
    redaction.body().feed(chunk, streamed);
    fed += chunk.size();
    if (redaction.body().replacements() == 0) AIRLOCK_FUZZ_CHECK(streamed.size() == (fed > hold_back ? fed - hold_back : 0));
  }
  redaction.body().finish(streamed);
  AIRLOCK_FUZZ_CHECK(streamed == ref.output);

  proxy::Redaction at_once(reflect, secrets.written);
  std::string whole(secrets.body);
  at_once.whole(whole);
  AIRLOCK_FUZZ_CHECK(whole == ref.output);

  bool shares_a_byte = false;
  for (const std::string_view secret : raw_secrets) {
    for (const std::string_view replacement : replacements) {
      shares_a_byte = shares_a_byte || secret.find_first_of(replacement) != std::string_view::npos;
    }
  }
  if (!shares_a_byte) {
    for (const std::string_view secret : raw_secrets) AIRLOCK_FUZZ_CHECK(whole.find(secret) == std::string::npos);
  }

  const std::string_view line = split_once(secrets.body, "\n").first.substr(0, 512);
  http1::Headers headers;
  headers.fields = {{"X-Echo", std::string(line)}, {std::string(line), "v"}};
  proxy::Redaction for_headers(reflect, secrets.written);
  for_headers.headers(headers);
  std::string expected(line);
  for_headers.whole(expected);
  AIRLOCK_FUZZ_CHECK(headers.fields[0].value == expected && headers.fields[1].name == expected);
  return 0;
}
