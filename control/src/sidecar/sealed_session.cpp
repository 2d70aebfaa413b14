// The sealed session (see sealed_session.hpp).
#include "sidecar/sealed_session.hpp"

#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace airlock::control {

namespace {

using json = nlohmann::json;

// Wipes a buffer that held plaintext, whatever happens to the code that used it.
struct WipeOnExit {
  std::string& text;
  ~WipeOnExit() { sodium_memzero(text.data(), text.size()); }
};

std::string base64(std::span<const unsigned char> bytes) {
  std::string out(sodium_base64_encoded_len(bytes.size(), sodium_base64_VARIANT_ORIGINAL), '\0');
  sodium_bin2base64(out.data(), out.size(), bytes.data(), bytes.size(), sodium_base64_VARIANT_ORIGINAL);
  out.resize(out.size() - 1);  // the terminating NUL
  return out;
}

certs::SecretBytes secret_from_base64(const std::string& text) {
  certs::SecretBytes out(text.size());  // decoded is never longer
  std::size_t size = 0;
  if (sodium_base642bin(out.data(), out.size(), text.data(), text.size(), nullptr, &size, nullptr,
                        sodium_base64_VARIANT_ORIGINAL) != 0) {
    throw SealedSessionError("a credential value is not base64");
  }
  return certs::SecretBytes(out.bytes().first(size));
}

json credential_json(const proxy::CredentialRule& rule) {
  return {{"kind", rule.kind == proxy::CredentialRule::Kind::static_bearer ? "static_bearer" : "environment_variable"},
          {"credential_id", rule.credential_id},
          {"secret_name", rule.secret_name},
          {"placeholder", rule.placeholder},
          {"unrestricted", rule.unrestricted},
          {"allowed_hosts", rule.allowed_hosts},
          {"in_header", rule.in_header},
          {"in_body", rule.in_body},
          {"in_url", rule.in_url},
          {"mcp_server_url", rule.mcp_server_url},
          {"bearer_header", rule.bearer_header == proxy::CredentialRule::BearerHeader::x_api_key ? "x-api-key" : "authorization"},
          {"value", base64(rule.value.bytes())}};
}

std::shared_ptr<const proxy::CredentialRule> credential_of(const json& item) {
  auto rule = std::make_shared<proxy::CredentialRule>();
  const std::string kind = item.at("kind").get<std::string>();
  if (kind != "static_bearer" && kind != "environment_variable") throw SealedSessionError("unknown credential kind");
  rule->kind = kind == "static_bearer" ? proxy::CredentialRule::Kind::static_bearer
                                       : proxy::CredentialRule::Kind::environment_variable;
  rule->credential_id = item.at("credential_id").get<std::string>();
  rule->secret_name = item.at("secret_name").get<std::string>();
  rule->placeholder = item.at("placeholder").get<std::string>();
  rule->unrestricted = item.at("unrestricted").get<bool>();
  rule->allowed_hosts = item.at("allowed_hosts").get<std::vector<std::string>>();
  rule->in_header = item.at("in_header").get<bool>();
  rule->in_body = item.at("in_body").get<bool>();
  rule->in_url = item.at("in_url").get<bool>();
  rule->mcp_server_url = item.at("mcp_server_url").get<std::string>();
  // Absent from a control plane older than model-provider credentials: all its bearers were Authorization.
  const std::string bearer_header = item.value("bearer_header", "authorization");
  if (bearer_header != "authorization" && bearer_header != "x-api-key") throw SealedSessionError("unknown bearer header");
  rule->bearer_header = bearer_header == "x-api-key" ? proxy::CredentialRule::BearerHeader::x_api_key
                                                     : proxy::CredentialRule::BearerHeader::authorization;
  rule->value = secret_from_base64(item.at("value").get_ref<const std::string&>());
  return rule;
}

}  // namespace

BoxKeyPair BoxKeyPair::generate() {
  BoxKeyPair keys;
  keys.secret_key = certs::SecretBytes(crypto_box_SECRETKEYBYTES);
  crypto_box_keypair(keys.public_key.data(), keys.secret_key.data());
  return keys;
}

std::string encode_public_key(const BoxPublicKey& key) {
  std::string out(sodium_base64_encoded_len(key.size(), sodium_base64_VARIANT_URLSAFE_NO_PADDING), '\0');
  sodium_bin2base64(out.data(), out.size(), key.data(), key.size(), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  out.resize(out.size() - 1);
  return out;
}

std::optional<BoxPublicKey> decode_public_key(std::string_view text) {
  BoxPublicKey key{};
  std::size_t size = 0;
  const char* end = nullptr;
  if (sodium_base642bin(key.data(), key.size(), text.data(), text.size(), nullptr, &size, &end,
                        sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
      size != key.size() || end != text.data() + text.size()) {
    return std::nullopt;
  }
  return key;
}

std::string seal_session(const proxy::SessionEntry& session, const policies::PolicySet* policies,
                         const BoxPublicKey& recipient) {
  json credentials = json::array();
  for (const auto& rule : session.credentials) credentials.push_back(credential_json(*rule));
  json policy = nullptr;
  if (session.policy && policies != nullptr) {
    policy = {{"name", session.policy->name}, {"source", policies->source}, {"text", policies->text}};
  }
  json document = {{"session_id", session.session_id},
                   {"proxy_token", session.proxy_token},
                   {"network_limited", session.network_limited},
                   {"allowed_hosts", session.allowed_hosts},
                   {"policy", std::move(policy)},
                   {"unknown_policy", session.unknown_policy},
                   {"credentials", std::move(credentials)}};
  std::string plaintext = document.dump();
  const WipeOnExit wipe{plaintext};
  document.clear();
  std::vector<unsigned char> sealed(plaintext.size() + crypto_box_SEALBYTES);
  crypto_box_seal(sealed.data(), reinterpret_cast<const unsigned char*>(plaintext.data()), plaintext.size(),
                  recipient.data());
  return base64(sealed);
}

proxy::SessionEntry open_session(std::string_view sealed_base64, const BoxKeyPair& keys) {
  std::string sealed(sealed_base64.size(), '\0');  // decoded is never longer
  std::size_t size = 0;
  if (sodium_base642bin(reinterpret_cast<unsigned char*>(sealed.data()), sealed.size(), sealed_base64.data(),
                        sealed_base64.size(), nullptr, &size, nullptr, sodium_base64_VARIANT_ORIGINAL) != 0) {
    throw SealedSessionError("the sealed session is not base64");
  }
  sealed.resize(size);
  if (sealed.size() < crypto_box_SEALBYTES) throw SealedSessionError("the sealed session is too short");
  std::string plaintext(sealed.size() - crypto_box_SEALBYTES, '\0');
  const WipeOnExit wipe{plaintext};
  if (crypto_box_seal_open(reinterpret_cast<unsigned char*>(plaintext.data()),
                           reinterpret_cast<const unsigned char*>(sealed.data()), sealed.size(), keys.public_key.data(),
                           keys.secret_key.bytes().data()) != 0) {
    throw SealedSessionError("the sealed session does not open with this sidecar's key");
  }
  json document = json::parse(plaintext, nullptr, /*allow_exceptions=*/false);
  if (!document.is_object()) throw SealedSessionError("the sealed session is not a JSON object");
  try {
    proxy::SessionEntry entry;
    entry.session_id = document.at("session_id").get<std::string>();
    entry.proxy_token = document.at("proxy_token").get<std::string>();
    entry.network_limited = document.at("network_limited").get<bool>();
    entry.allowed_hosts = document.at("allowed_hosts").get<std::vector<std::string>>();
    entry.unknown_policy = document.at("unknown_policy").get<std::string>();
    for (const json& item : document.at("credentials")) entry.credentials.push_back(credential_of(item));
    if (const json& policy = document.at("policy"); !policy.is_null()) {
      auto parsed = policies::parse_policies(policy.at("text").get<std::string>(), policy.at("source").get<std::string>());
      if (!parsed) throw SealedSessionError(fmt::format("its network policies do not parse here: {}", parsed.error()));
      auto set = std::make_shared<const policies::PolicySet>(std::move(parsed).value());
      const std::string name = policy.at("name").get<std::string>();
      const policies::Policy* found = set->find(name);
      if (found == nullptr) throw SealedSessionError(fmt::format("its network policy {:?} is not in its policy file", name));
      entry.policy = std::shared_ptr<const policies::Policy>(set, found);  // shares the set's lifetime
    }
    document.clear();
    return entry;
  } catch (const json::exception&) {
    throw SealedSessionError("the sealed session lacks a field or has one of the wrong type");
  }
}

}  // namespace airlock::control
