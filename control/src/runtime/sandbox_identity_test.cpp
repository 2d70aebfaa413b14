// Who a sandbox is on the host: Airlock's own uid unless Airlock is root, then base+1+slot with the
// sandboxes' group; and the conflicts of that range with this machine's ids.
#include <doctest/doctest.h>

#include "runtime/sandbox_identity.hpp"

namespace airlock::control {

TEST_CASE("sandbox identity: a root Airlock runs sandboxes from the configured base, any other as itself") {
  CHECK(sandbox_uid_base_for(0, 2000000000) == std::optional<std::uint32_t>(2000000000));
  CHECK(sandbox_uid_base_for(0, 70000) == std::optional<std::uint32_t>(70000));
  CHECK(sandbox_uid_base_for(1000, 2000000000) == std::nullopt);
  CHECK(sandbox_uid_base_for(65534, 2000000000) == std::nullopt);
}

TEST_CASE("sandbox identity: slot N is uid and gid base+1+N, with the base as its only supplementary group") {
  RunAs first = sandbox_identity(2000000000, 0);
  CHECK(first.uid == 2000000001u);
  CHECK(first.gid == 2000000001u);
  CHECK(first.groups == std::vector<gid_t>{2000000000u});
  RunAs last = sandbox_identity(2000000000, 4095);
  CHECK(last.uid == 2000004096u);
  CHECK(last.gid == 2000004096u);
  CHECK(last.groups == std::vector<gid_t>{2000000000u});
  CHECK(sandbox_group(2000000000) == 2000000000u);
}

TEST_CASE("sandbox identity: subordinate ranges that overlap the sandboxes' ids") {
  const std::string subuid =
      "alice:100000:65536\n"
      "# a comment\n"
      "bob:1999999000:1001\n"      // ends at 2000000000: overlaps the group id
      "carol:2000000005:10\n"      // past the last id
      "dave:2000000004:1\n"        // the last id exactly
      "eve:1999998000:1000\n"      // ends at 1999998999: before the range
      "broken line\n"
      "mallory:x:5\n"
      "last:2000000002:1";         // no newline at the end
  CHECK(overlapping_subordinate_ranges(subuid, 2000000000, 2000000004) ==
        std::vector<std::string>{"bob:1999999000:1001", "dave:2000000004:1", "last:2000000002:1"});
  CHECK(overlapping_subordinate_ranges("", 2000000000, 2000000004).empty());
}

TEST_CASE("sandbox identity: the default range is free on this machine") {
  // Also what `airlock serve` checks at start when it runs as root; a machine that fails here needs another
  // runtime.sandbox_uid_base.
  CHECK(sandbox_id_conflicts(2000000000, 2000000004) == std::vector<std::string>{});
  // root is uid and gid 0 everywhere
  CHECK(sandbox_id_conflicts(0, 0) == std::vector<std::string>{"uid 0 is user root", "gid 0 is group root"});
}

}  // namespace airlock::control
