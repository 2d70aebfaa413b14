#!/usr/bin/env bash
# Every repository path the Markdown docs name in backticks (`proxy/src/forward.cpp`, `control/src/api/*`)
# must exist, so that a file move cannot leave the docs pointing at nothing. Globs are allowed.
set -uo pipefail
root="${1:?usage: doc_paths.sh REPO_ROOT}"
cd "$root"
failed=0
checked=0
while IFS=: read -r file line path; do
  checked=$((checked + 1))
  # shellcheck disable=SC2086  # a glob in the path is meant to expand
  if ! compgen -G "$path" >/dev/null && [ ! -e "$path" ]; then
    echo "doc_paths: $file:$line names $path, which does not exist"
    failed=1
  fi
done < <(grep -rnoE --include='*.md' '`(control|proxy|store|certs|policies|tests|examples|bench|scripts|docs)/[A-Za-z0-9_./*{},-]*`' \
           docs README.md control proxy store certs policies tests examples bench 2>/dev/null |
         grep -v node_modules | sed -E 's/`//g' | sed -E 's/\{[^}]*\}/*/g')
if [ "$failed" = 0 ]; then echo "doc_paths: $checked paths named in the docs exist"; fi
exit $failed
