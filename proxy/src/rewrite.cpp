// The upstream request head and the streaming body filter (see rewrite.hpp).
#include "rewrite.hpp"

#include <algorithm>

#include <fmt/format.h>
#include <openssl/crypto.h>

#include "target.hpp"

namespace airlock::proxy {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::vector<StreamReplacer::Rule> substitution_rules(const std::vector<const CredentialRule*>& credentials) {
  std::vector<StreamReplacer::Rule> rules;
  rules.reserve(credentials.size());
  for (const CredentialRule* credential : credentials) rules.push_back({credential->placeholder, secret_view(*credential)});
  return rules;
}

// Applies `rules` (rule i: credentials[i]'s placeholder) to one header value, including inside
// Authorization: Basic. Marks used rules; records the Basic value it re-encodes in `written`.
void substitute_value(const http1::Header& field, std::string& value, std::span<const StreamReplacer::Rule> rules,
                      std::span<const CredentialRule* const> credentials, std::vector<bool>& used,
                      std::vector<WrittenEncoding>& written) {
  std::vector<bool> matched;
  std::string replaced = replace_all(value, rules, &matched);
  for (std::size_t i = 0; i < matched.size(); ++i) used[i] = used[i] || matched[i];
  if (iequals(field.name, "Authorization")) {
    const std::string_view text = trim(replaced);
    const auto space = text.find(' ');
    if (space != std::string_view::npos && iequals(text.substr(0, space), "basic")) {
      if (auto decoded = base64_decode(trim(text.substr(space + 1)))) {
        std::string inner = replace_all(*decoded, rules, &matched);
        if (std::find(matched.begin(), matched.end(), true) != matched.end()) {
          for (std::size_t i = 0; i < matched.size(); ++i) used[i] = used[i] || matched[i];
          std::string encoded_inner = base64_encode(inner);
          std::string encoded = std::string(text.substr(0, space)) + ' ' + encoded_inner;
          std::vector<const CredentialRule*> carried;
          for (std::size_t i = 0; i < matched.size(); ++i) {
            if (matched[i]) carried.push_back(credentials[i]);
          }
          written.emplace_back(std::move(encoded_inner), std::string(trim(text.substr(space + 1))), std::move(carried));
          wipe(inner);
          wipe(replaced);
          replaced = std::move(encoded);
        }
        wipe(*decoded);
      }
    }
  }
  value = std::move(replaced);
}

}  // namespace

std::string_view secret_view(const CredentialRule& credential) noexcept {
  const auto bytes = credential.value.bytes();
  return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

void wipe(std::string& buffer) noexcept {
  if (!buffer.empty()) OPENSSL_cleanse(buffer.data(), buffer.size());
  buffer.clear();
}

WrittenEncoding::~WrittenEncoding() {
  wipe(written);
  wipe(sent);
}

UpstreamRequest::~UpstreamRequest() {
  if (uses.empty()) return;
  wipe(head.target);
  for (auto& field : head.headers.fields) wipe(field.value);
}

void strip_hop_by_hop(http1::Headers& headers, bool keep_upgrade) {
  // Fields named by Connection are hop-by-hop too (RFC 9110 §7.6.1).
  std::vector<std::string> named;
  for (const auto& field : headers.fields) {
    if (!iequals(field.name, "Connection")) continue;
    std::string_view list = field.value;
    while (!list.empty()) {
      const auto comma = list.find(',');
      const std::string_view token = trim(list.substr(0, comma));
      if (!token.empty() && !(keep_upgrade && iequals(token, "upgrade"))) named.emplace_back(token);
      list = comma == std::string_view::npos ? std::string_view{} : list.substr(comma + 1);
    }
  }
  for (const auto& name : named) {
    if (!(keep_upgrade && iequals(name, "Upgrade"))) headers.erase(name);
  }
  for (std::string_view name : {"Connection", "Keep-Alive", "Proxy-Authorization", "Proxy-Connection",
                                "Proxy-Authenticate", "TE", "Content-Length", "Transfer-Encoding"}) {
    headers.erase(name);
  }
  if (keep_upgrade) {
    headers.set("Connection", "Upgrade");
  } else {
    headers.erase("Upgrade");
  }
}

void set_framing(http1::Headers& headers, Framing framing, std::uint64_t length) {
  headers.erase("Content-Length");
  headers.erase("Transfer-Encoding");
  if (framing == Framing::length) headers.set("Content-Length", std::to_string(length));
  if (framing == Framing::chunked) headers.set("Transfer-Encoding", "chunked");
}

UpstreamRequest rewrite_head(const http1::RequestHead& client, std::string_view origin_form,
                             std::string_view host_header, const Plan& plan) {
  UpstreamRequest out;
  http1::RequestHead& head = out.head;
  head.method = client.method;
  head.version_major = 1;
  head.version_minor = 1;
  head.headers = client.headers;
  head.upgrade = client.upgrade && client.method != "CONNECT";
  strip_hop_by_hop(head.headers, head.upgrade);
  head.headers.erase("Expect");  // the proxy answered 100 Continue itself
  if (head.headers.find("Host") == nullptr && !host_header.empty()) head.headers.set("Host", host_header);

  // url: the placeholder in the path or query (API.md §9 `url` extension).
  if (plan.url.empty()) {
    head.target = std::string(origin_form);
  } else {
    const auto rules = substitution_rules(plan.url);
    std::vector<bool> matched;
    head.target = replace_all(origin_form, rules, &matched);
    for (std::size_t i = 0; i < rules.size(); ++i) {
      if (matched[i]) out.uses.push_back({plan.url[i]->credential_id, plan.url[i]->secret_name, "url"});
    }
  }

  if (!plan.header.empty()) {
    const auto rules = substitution_rules(plan.header);
    std::vector<bool> used(rules.size(), false);
    for (auto& field : head.headers.fields) substitute_value(field, field.value, rules, plan.header, used, out.written);
    for (std::size_t i = 0; i < rules.size(); ++i) {
      if (used[i]) out.uses.push_back({plan.header[i]->credential_id, plan.header[i]->secret_name, "header"});
    }
  }

  if (plan.bearer != nullptr) {
    if (plan.bearer->bearer_header == CredentialRule::BearerHeader::x_api_key) {
      head.headers.set("x-api-key", secret_view(*plan.bearer));  // the raw key, replacing any the client sent
    } else {
      std::string value = "Bearer ";
      value += secret_view(*plan.bearer);
      head.headers.set("Authorization", value);
      wipe(value);
    }
    out.uses.push_back({plan.bearer->credential_id, plan.bearer->secret_name, "header"});
  }

  // S7, S11: a host that receives credentials must answer in a form Airlock can scan, and whole: a secret
  // stored there and read back compressed, or in ranges, would pass the redactor.
  if (!plan.reflect.empty() || !out.uses.empty() || !plan.body.empty()) {
    head.headers.set("Accept-Encoding", "identity");
    head.headers.erase("Range");
    head.headers.erase("If-Range");
  }
  return out;
}

// ---- BodyFilter ----

BodyFilter BodyFilter::for_request(const Plan& plan) {
  BodyFilter filter;
  if (plan.body.empty() && plan.watch.empty()) return filter;
  std::vector<StreamReplacer::Rule> rules = substitution_rules(plan.body);
  filter.credentials_ = plan.body;
  filter.substitutions_ = rules.size();
  for (const BodyWatch& watch : plan.watch) {
    rules.push_back({watch.credential->placeholder, watch.credential->placeholder});  // detect only
    filter.watches_.push_back(watch);
  }
  filter.replacer_ = std::make_unique<StreamReplacer>(std::move(rules));
  return filter;
}

BodyFilter BodyFilter::for_redaction(std::vector<StreamReplacer::Rule> rules) {
  BodyFilter filter;
  if (rules.empty()) return filter;
  filter.substitutions_ = rules.size();
  filter.replacer_ = std::make_unique<StreamReplacer>(std::move(rules), StreamReplacer::Hold::fixed);
  return filter;
}

const BodyWatch* BodyFilter::violated() const noexcept {
  const auto& matched = replacer_->matched();
  for (std::size_t j = 0; j < watches_.size(); ++j) {
    if (matched[substitutions_ + j]) return &watches_[j];
  }
  return nullptr;
}

const BodyWatch* BodyFilter::feed(std::string_view in, std::string& out) {
  if (!replacer_) {
    out.append(in);
    return nullptr;
  }
  replacer_->feed(in, out);
  return watches_.empty() ? nullptr : violated();
}

const BodyWatch* BodyFilter::finish(std::string& out) {
  if (!replacer_) return nullptr;
  replacer_->flush(out);
  return watches_.empty() ? nullptr : violated();
}

std::size_t BodyFilter::replacements() const noexcept {
  if (!replacer_) return 0;
  // Watches replace a placeholder by itself; a watch that matched refuses the request, so every
  // replacement counted on a request that went through is a substitution or a redaction.
  return replacer_->replacements();
}

bool BodyFilter::matched(std::size_t rule) const noexcept {
  if (!replacer_) return false;
  const auto& matched = replacer_->matched();
  return rule < matched.size() && matched[rule];
}

std::vector<EgressRecord::Use> BodyFilter::uses() const {
  std::vector<EgressRecord::Use> uses;
  if (!replacer_) return uses;
  const auto& matched = replacer_->matched();
  for (std::size_t i = 0; i < substitutions_ && i < credentials_.size(); ++i) {
    if (matched[i]) uses.push_back({credentials_[i]->credential_id, credentials_[i]->secret_name, "body"});
  }
  return uses;
}

std::size_t BodyFilter::redact_value(std::string& value) {
  if (!replacer_) return 0;
  const std::size_t before = replacer_->replacements();
  std::string out;
  replacer_->replace_all(value, out);
  const std::size_t made = replacer_->replacements() - before;
  if (made > 0) {
    wipe(value);
    value = std::move(out);
  }
  return made;
}

// ---- BodyEncoder ----

void BodyEncoder::append(std::string& out, std::string_view data) const {
  if (data.empty()) return;
  if (framing_ == Framing::chunked) {
    fmt::format_to(std::back_inserter(out), "{:x}\r\n", data.size());
    out.append(data);
    out.append("\r\n");
    return;
  }
  out.append(data);
}

void BodyEncoder::finish(std::string& out, const http1::Headers* trailers) const {
  if (framing_ != Framing::chunked) return;
  out.append("0\r\n");
  if (trailers != nullptr) {
    for (const auto& field : trailers->fields) {
      out.append(field.name);
      out.append(": ");
      out.append(field.value);
      out.append("\r\n");
    }
  }
  out.append("\r\n");
}

}  // namespace airlock::proxy
