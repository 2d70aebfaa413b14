// Caller identity (SECURITY.md K3): Proxy-Authorization: Basic with username = session id and password =
// that session's proxy token, on CONNECT and on every absolute-form request. Pure: takes the header
// fields and a loaded snapshot.
#pragma once

#include <memory>
#include <string_view>

#include <boost/asio/ip/address.hpp>

#include "airlock/http1/parser.hpp"
#include "airlock/proxy/snapshot.hpp"

namespace airlock::proxy {

// The identified session. Holds the snapshot it was found in, so `session` stays valid.
struct Caller {
  std::shared_ptr<const CredentialSnapshot> snapshot;
  const SessionEntry* session = nullptr;
};

// The caller, or nullptr session when the header is missing or malformed, the session is unknown, or the
// token does not match (all answered 407; the body does not say which, so it cannot be used to probe for
// session ids). The token is compared in constant time.
Caller identify(const http1::Headers& headers, std::shared_ptr<const CredentialSnapshot> snapshot);

// A transparent connection's session (no Proxy-Authorization there): `bound_session` when set (the
// `airlock proxy --session` sidecar), else the one the most specific of the snapshot's transparent_sources
// containing `source` names. nullptr session when none, or when that session is not active.
Caller identify_source(std::string_view bound_session, const boost::asio::ip::address& source,
                       std::shared_ptr<const CredentialSnapshot> snapshot);

// Finds the session by id in a freshly loaded snapshot (requests inside a tunnel re-check that their
// session is still active); nullptr session when it is gone.
Caller find_session(std::string_view session_id, std::shared_ptr<const CredentialSnapshot> snapshot);

}  // namespace airlock::proxy
