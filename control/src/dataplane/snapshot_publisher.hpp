// SnapshotPublisher: builds the proxy's CredentialSnapshot from the store and publishes it into the
// SnapshotSlot, the data plane's only shared mutable state (ARCHITECTURE.md: the hot path never touches
// SQLite).
//
// What goes in: every session that is not archived, with its proxy token (derived, K3), its environment's
// network policy, and the active environment_variable and static_bearer credentials of its active vaults,
// each unsealed once per build into certs::SecretBytes and shared between sessions.
//
// When: request_rebuild() marks the snapshot stale and posts one rebuild onto the control thread (changes
// made together coalesce); flush() rebuilds at once if stale. The REST API calls flush() after every
// committed change and before it answers, so a client that has just created a session or archived a
// credential finds the proxy already agreeing. A build that fails publishes an empty snapshot (fail
// closed: every proxy request is refused) and logs why.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "airlock/policies/policy.hpp"
#include "airlock/proxy/histogram.hpp"
#include "airlock/proxy/snapshot.hpp"
#include "airlock/store/store.hpp"
#include "daemon/log.hpp"

namespace airlock::control {

// The metadata key of an environment that picks its network policy by name (docs/policy.md).
inline constexpr std::string_view kPolicyMetadataKey = "airlock.policy";

// The credential rules of the last build, by credential id, with what each was made from (its sealed
// secret included): a rebuild unseals only the credentials that changed since.
struct CredentialRuleCache {
  struct Entry {
    std::string made_from;  // fingerprint of the ActiveCredential, value aside
    std::shared_ptr<const proxy::CredentialRule> rule;  // null for a credential the proxy does not inject
  };
  std::unordered_map<std::string, Entry> by_id;
};

// The header a static_bearer credential's token goes in, from its mcp_server_url: x_api_key when the URL's
// host is api.anthropic.com (any case, port or path), the header Anthropic's API takes its key in; that
// credential is a model-provider credential. Authorization ("Bearer <token>") for every other URL.
proxy::CredentialRule::BearerHeader bearer_header_for(std::string_view mcp_server_url);

// Pure composition, exposed for tests: the snapshot for the store's current state. A session's policy is
// the one its environment names (metadata airlock.policy), else the file's default_policy, else none.
// `transparent_sources` (proxy.transparent_sessions) go in as they are. With a `cache`, unchanged
// credentials keep the rules (and unsealed values) of the previous build, and the cache is updated.
std::shared_ptr<const proxy::CredentialSnapshot> build_snapshot(store::Store& store,
                                                                const std::shared_ptr<const policies::PolicySet>& policies = {},
                                                                std::vector<proxy::SourceRoute> transparent_sources = {},
                                                                CredentialRuleCache* cache = nullptr);

// What the publisher has done since the start (GET /metrics).
struct SnapshotStats {
  std::uint64_t builds = 0;    // snapshots built and published
  std::uint64_t failures = 0;  // builds that failed: an empty snapshot was published instead
  proxy::HistogramSnapshot build_duration;
};

class SnapshotPublisher {
 public:
  SnapshotPublisher(boost::asio::io_context& control, store::Store& store, proxy::SnapshotSlot& slot, Logger& log);

  void request_rebuild();
  void flush();
  // Replaces the network policies (at start, and on reload) and rebuilds at once.
  void set_policies(std::shared_ptr<const policies::PolicySet> policies);
  // Replaces the transparent listeners' source map (at start, and on SIGHUP) and rebuilds at once.
  void set_transparent_sources(std::vector<proxy::SourceRoute> sources);
  SnapshotStats stats() const {
    SnapshotStats out = stats_;
    out.build_duration = build_duration_.snapshot();
    return out;
  }

 private:
  boost::asio::io_context& control_;
  store::Store& store_;
  proxy::SnapshotSlot& slot_;
  Logger& log_;
  std::shared_ptr<const policies::PolicySet> policies_;
  std::vector<proxy::SourceRoute> transparent_sources_;
  CredentialRuleCache rules_;
  SnapshotStats stats_;
  proxy::LatencyHistogram build_duration_;
  bool stale_ = true;
  bool posted_ = false;
};

}  // namespace airlock::control
