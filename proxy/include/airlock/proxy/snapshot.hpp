// airlock::proxy credential snapshot — everything the data plane knows about sessions and their
// credentials, as one immutable value (ARCHITECTURE.md: "the hot path never touches SQLite").
//
// Ownership: control builds a CredentialSnapshot from the store (active sessions, the active credentials
// of their vaults, unsealed values in certs::SecretBytes) and publishes it with SnapshotSlot::store(). The
// proxy loads the current snapshot once per request (and once per CONNECT) and holds the shared_ptr until
// that request is finished, so a request never sees half of an update and a value it is substituting
// stays alive while it is in use. A snapshot is never modified after it is published: build a new one.
//
// Threading: SnapshotSlot::load() and store() may be called from any thread, concurrently. The objects
// reached through a loaded snapshot are const and safe to read from every thread.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "airlock/certs/secret_bytes.hpp"
#include "airlock/policies/address.hpp"
#include "airlock/policies/policy.hpp"

namespace airlock::proxy {

// One credential as the proxy applies it.
struct CredentialRule {
  enum class Kind { environment_variable, static_bearer };
  Kind kind = Kind::environment_variable;
  std::string credential_id;                 // "vcrd_..."
  std::string secret_name;                   // environment_variable: for audit rows and deny bodies; "" for static_bearer
  std::string placeholder;                   // environment_variable: what the sandbox holds (>= 32 chars of [A-Za-z0-9._~-])
  bool unrestricted = false;                 // networking.type == "unrestricted"
  std::vector<std::string> allowed_hosts;    // networking.allowed_hosts when limited, normalised (policies::normalize_host_pattern)
  bool in_header = false;                    // injection_location.header
  bool in_body = false;                      // injection_location.body
  bool in_url = false;                       // injection_location.url (Airlock extension, API.md §9)
  std::string mcp_server_url;                // static_bearer: requests to this scheme + host + port + path prefix get
                                             // the token in `bearer_header`, replacing what the client sent there
  // static_bearer: the header the token goes in. Most servers take "Authorization: Bearer <value>"; a model
  // provider's API may want the raw key in its own header instead (Anthropic's: x-api-key). Control decides
  // it from the URL, so the proxy knows no provider.
  enum class BearerHeader { authorization, x_api_key };
  BearerHeader bearer_header = BearerHeader::authorization;
  certs::SecretBytes value;                  // the real secret (environment_variable value, or the bearer token)
};

struct SessionEntry {
  std::string session_id;                    // "sesn_..."; the Proxy-Authorization username
  std::string proxy_token;                   // lowercase hex; compared in constant time with the password
  std::vector<std::shared_ptr<const CredentialRule>> credentials;  // active credentials of the session's vaults
  bool network_limited = false;              // the environment's config.networking.type == "limited"
  std::vector<std::string> allowed_hosts;    // the environment's allowed_hosts when limited, normalised
  // The network policy of the session's environment (SECURITY.md N4, docs/policy.md); null: none applies.
  std::shared_ptr<const policies::Policy> policy;
  // The name of a policy the environment asks for and the policy file lacks: every connection of the
  // session is refused (policy_not_found) until the file defines it. Empty otherwise.
  std::string unknown_policy;
};

// proxy.transparent_sessions: connections to a transparent listener from `source` belong to `session_id`.
struct SourceRoute {
  policies::Cidr source;
  std::string session_id;
};

struct CredentialSnapshot {
  std::unordered_map<std::string, SessionEntry> sessions;  // by session id; archived/deleted sessions absent
  // For a shared transparent proxy: the most specific range that contains a connection's source address
  // names its session (which must be in `sessions`). Unused when ProxyOptions::transparent_session is set.
  std::vector<SourceRoute> transparent_sources;
  // Set: this proxy may not serve anyone now, and this says why (a sidecar that has lost its control
  // plane for longer than its grace period). Every connection and request is refused with 503
  // `proxy_offline` naming it.
  std::string unavailable;
};

// The only shared mutable state of the data plane: an atomically swapped pointer to an immutable snapshot.
// Starts empty (a snapshot with no sessions: every proxy request is answered 407).
class SnapshotSlot {
 public:
  SnapshotSlot();
  explicit SnapshotSlot(std::shared_ptr<const CredentialSnapshot> initial);
  SnapshotSlot(const SnapshotSlot&) = delete;
  SnapshotSlot& operator=(const SnapshotSlot&) = delete;

  // Never null.
  std::shared_ptr<const CredentialSnapshot> load() const;
  // Publishes `next` (null publishes an empty snapshot). Requests already running keep the one they loaded.
  void store(std::shared_ptr<const CredentialSnapshot> next);

 private:
  std::atomic<std::shared_ptr<const CredentialSnapshot>> current_;
};

}  // namespace airlock::proxy
