#!/usr/bin/env bash
# ctest registers each doctest case by name (doctest_discover_tests), and a name is a CMake list: a ";" in
# it splits the case into pieces that each match no test, so the case would silently never run. This
# check fails on any such name.
#
# Usage: test_names.sh SOURCE_ROOT
set -euo pipefail
root="$1"
found="$(grep -rnE --include='*.cpp' 'TEST_CASE\("[^"]*;' "$root"/{certs,control,policies,proxy,store,tests} 2> /dev/null || true)"
if [[ -n "$found" ]]; then
  echo "test names with ';' (ctest would split them and never run them; use ',' instead):"
  echo "$found"
  exit 1
fi
echo "test names: no ';' in any TEST_CASE name"
