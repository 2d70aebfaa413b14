// SidecarApi: the routes a sidecar proxy (`airlock proxy`, docs/sidecar.md) uses to run one session's
// proxy next to its sandbox, on another machine than `airlock serve`:
//
//   POST /v1/sessions/{id}/sidecar/certificate  {"public_key_pem"}  -> an intermediate CA for that key
//   GET  /v1/sessions/{id}/sidecar/snapshot?public_key=B64URL      -> the session, sealed to that key
//   POST /v1/sessions/{id}/sidecar/egress       {"records": [...]}  -> audit rows, stored
//
// They are authorized by the session's proxy token (`Authorization: Bearer <token>`), not by an API key
// (SECURITY.md K3): the token authorizes exactly that session, and only while it is active. A session
// that is archived, deleted or unknown, and a token that is not its own, get the same 401, so the routes
// cannot be used to learn which session ids exist; a sidecar drops what it holds on a 401.
//
// Lives on the control thread; reads the proxy's current snapshot (so it agrees with the proxy of
// `airlock serve` about which sessions are active) and the policy set in force.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>

#include "airlock/certs/root_ca.hpp"
#include "airlock/policies/policy.hpp"
#include "airlock/proxy/snapshot.hpp"
#include "airlock/store/store.hpp"
#include "api/common/api.hpp"
#include "daemon/log.hpp"

namespace airlock::control {

class SidecarApi {
 public:
  using PolicySource = std::function<std::shared_ptr<const policies::PolicySet>()>;

  SidecarApi(store::Store& store, const proxy::SnapshotSlot& snapshots, PolicySource policies,
             std::shared_ptr<const certs::RootCa> ca, Logger& log);

  // The reply when `request` is for one of the routes above (ApiError refuses it); nullopt otherwise.
  std::optional<Reply> handle(ApiRequest& request);

  static constexpr std::chrono::hours kCertificateLifetime{24};

 private:
  Reply certificate(const proxy::SessionEntry& session, const ApiRequest& request);
  Reply snapshot(const proxy::SessionEntry& session, const ApiRequest& request);
  Reply egress(const proxy::SessionEntry& session, const ApiRequest& request);

  store::Store& store_;
  const proxy::SnapshotSlot& snapshots_;
  PolicySource policies_;
  std::shared_ptr<const certs::RootCa> ca_;
  Logger& log_;
};

}  // namespace airlock::control
