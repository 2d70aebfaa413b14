// identify(): Proxy-Authorization → session (see identify.hpp).
#include "identify.hpp"

#include <string>

#include <openssl/crypto.h>

#include "target.hpp"

namespace airlock::proxy {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

Caller identify(const http1::Headers& headers, std::shared_ptr<const CredentialSnapshot> snapshot) {
  const std::string* value = headers.find("Proxy-Authorization");
  if (value == nullptr) return {};
  const std::string_view text = trim(*value);
  const auto space = text.find(' ');
  if (space == std::string_view::npos || !iequals(text.substr(0, space), "basic")) return {};
  const auto decoded = base64_decode(trim(text.substr(space + 1)));
  if (!decoded) return {};
  const auto colon = decoded->find(':');
  if (colon == std::string::npos) return {};
  const std::string_view user = std::string_view(*decoded).substr(0, colon);
  const std::string_view password = std::string_view(*decoded).substr(colon + 1);

  Caller caller = find_session(user, std::move(snapshot));
  if (caller.session == nullptr) return {};
  const std::string& token = caller.session->proxy_token;
  // K3: the length of a token is public (fixed-size hex); its bytes are compared in constant time.
  if (token.empty() || password.size() != token.size() ||
      CRYPTO_memcmp(password.data(), token.data(), token.size()) != 0) {
    return {};
  }
  return caller;
}

Caller identify_source(std::string_view bound_session, const boost::asio::ip::address& source,
                       std::shared_ptr<const CredentialSnapshot> snapshot) {
  if (!bound_session.empty()) return find_session(bound_session, std::move(snapshot));
  if (!snapshot) return {};
  // An IPv4 client on a dual-stack listener arrives as ::ffff:a.b.c.d; the map speaks of a.b.c.d.
  boost::asio::ip::address address = source;
  if (address.is_v6() && address.to_v6().is_v4_mapped()) {
    address = boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, address.to_v6());
  }
  const SourceRoute* best = nullptr;
  for (const SourceRoute& route : snapshot->transparent_sources) {
    if (route.source.contains(address) && (best == nullptr || route.source.prefix() > best->source.prefix())) {
      best = &route;
    }
  }
  if (best == nullptr) return {};
  return find_session(best->session_id, std::move(snapshot));
}

Caller find_session(std::string_view session_id, std::shared_ptr<const CredentialSnapshot> snapshot) {
  if (!snapshot) return {};
  const auto found = snapshot->sessions.find(std::string(session_id));
  if (found == snapshot->sessions.end()) return {};
  Caller caller;
  caller.session = &found->second;
  caller.snapshot = std::move(snapshot);
  return caller;
}

}  // namespace airlock::proxy
