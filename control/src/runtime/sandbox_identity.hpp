// Who a local sandbox is on the host (SECURITY.md N6).
//
// Inside its sandbox a harness is uid 65534, and bubblewrap maps that to the uid bubblewrap itself runs
// as. Started by a root Airlock, bubblewrap would map it to root: with no capabilities, the harness would
// still own every root-owned file for permission checks. So when Airlock runs as root, bubblewrap is
// started as an unprivileged identity of a dedicated range, runtime.sandbox_uid_base (B):
//
//   gid B              the sandboxes' group: it may traverse the data dir (root:B 0710) and
//                      DATA_DIR/sessions (root:B 0710), and connect to DATA_DIR/proxy.sock (root:B 0660);
//                      every other file there stays the owner's alone (0600), or is public (the CA bundle)
//   uid/gid B+1+slot   the sandbox in slot 0 .. max_concurrent_sessions-1, with B as its only
//                      supplementary group. A slot is free again once its sandbox has ended; distinct
//                      uids keep one sandbox's per-user kernel limits and files away from another's
//
// When Airlock is not root, a sandbox is Airlock's own uid, which is already unprivileged.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/child_process.hpp"

namespace airlock::control {

// The sandboxes' base id when they must not run as Airlock's own uid (Airlock is root); nullopt otherwise.
std::optional<std::uint32_t> sandbox_uid_base_for(uid_t airlock_euid, std::uint32_t configured_base);

// The sandboxes' group: the group of the data dir, DATA_DIR/sessions and the proxy socket.
constexpr gid_t sandbox_group(std::uint32_t uid_base) { return uid_base; }

// The identity bubblewrap starts with for the sandbox in `slot` (0-based).
RunAs sandbox_identity(std::uint32_t uid_base, int slot);

// What on this machine already uses an id of [first, last]: users and groups (NSS), and ranges of
// /etc/subuid and /etc/subgid (rootless containers run as those). One description each; empty: none.
std::vector<std::string> sandbox_id_conflicts(std::uint32_t first, std::uint32_t last);

// The lines of a subordinate id file ("name:start:count") whose range overlaps [first, last].
std::vector<std::string> overlapping_subordinate_ranges(std::string_view file_text, std::uint32_t first,
                                                        std::uint32_t last);

}  // namespace airlock::control
