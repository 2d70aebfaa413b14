#!/usr/bin/env bash
# Checks that every citation of the design notes resolves: a comment or doc that says `SECURITY.md S7`,
# `API.md §7.4`, `API.md C1 and C3`, `STYLE.md section 6` or `CRON.md "Time zone"` must find a heading in
# docs/design/<NAME>.md that carries that mark (or, for a quoted name, contains that text). NAME is one of
# API, SECURITY, CRON, ARCHITECTURE, STYLE; `SECURITY S10` (without .md) counts too. A bare `NAME.md`
# must name a file in docs/design/. The bare shorthand `S6`, `K3`, `N1` used in code comments refers to
# SECURITY.md, so each such mark must be a heading there as well. Ranges (`S1-S11`, `D1–D8`, `§1-§4`)
# are checked mark by mark.
#
# Usage: design_refs.sh REPO_ROOT     check the tree; list every citation that does not resolve, as file:line
#        design_refs.sh --self-test   check that the check fails on wrong marks and passes on right ones
set -uo pipefail
export LC_ALL=C   # byte semantics: § and – are matched as the byte sequences they are in UTF-8

names='API|SECURITY|CRON|ARCHITECTURE|STYLE'
mark='(§[0-9]+(\.[0-9]+)*|[A-Z][0-9]+|section [0-9]+(\.[0-9]+)*|"[^"]+")'
short_mark='(§[0-9]+(\.[0-9]+)*|[A-Z][0-9]+)'
separator='( ?(-|–|/) ?|, | and | )'
# `NAME.md` with or without marks after it; `NAME` without .md only when a mark follows.
cited="(^|[^A-Za-z0-9_])(($names)\\.md( $mark($separator$mark)*)?|($names) $short_mark($separator$short_mark)*)"
bare='(^|[^A-Za-z0-9_.§])[SKN][0-9]{1,3}([^A-Za-z0-9_]|$)'

check() {
  local root="$1"
  cd "$root" || return 2
  local files marks
  files=$(find . \( -path ./.git -o -path './build' -o -path './build-*' -o -name node_modules \) -prune -o -type f \
            \( -name '*.cpp' -o -name '*.hpp' -o -name '*.h' -o -name '*.mjs' -o -name '*.js' -o -name '*.sh' \
               -o -name '*.md' -o -name '*.yaml' -o -name '*.yml' -o -name '*.txt' \) -print | sort)
  # Every heading of every design note, as "NAME<TAB>heading text".
  marks=$(for doc in docs/design/*.md; do
            [ -f "$doc" ] || continue
            name=$(basename "$doc" .md)
            grep -E '^#{1,6} ' "$doc" | sed -E "s/^#+ +/$name\t/"
          done)

  {
    printf '%s\n' "$marks" | sed 's/^/H\t/'
    # Citations: "C<TAB>file:line<TAB>text". grep -o prints each match of a line on its own.
    printf '%s\n' "$files" | xargs -r -d '\n' grep -HnoE "$cited" 2>/dev/null | sed -E 's/^([^:]*:[0-9]+):[^A-Z]?/C\t\1\t/'
    # Bare shorthand outside the testdata tables (their rows are data, not prose) and API.md (whose own
    # endpoint marks S1-S9 are sessions, not threats).
    printf '%s\n' "$files" | grep -vE '/testdata/|^\./docs/design/API\.md$' | grep -E '\.(cpp|hpp|h|mjs|js|sh|md|yaml|yml)$|/CMakeLists\.txt$' |
      xargs -r -d '\n' grep -HnoE "$bare" 2>/dev/null | sed -E 's/^([^:]*:[0-9]+):[^SKN]?/B\t\1\t/'
    true  # a grep that finds nothing is no failure; awk alone decides
  } | awk -F '\t' -v names="$names" '
    function mark_of(token) {        # "section 6" is another spelling of "§6"
      if (token ~ /^section /) return "§" substr(token, 9)
      return token
    }
    function heading_has(name, token,    key, i, text, lower) {
      if (token ~ /^"/) {          # a quoted section name: some heading of that note contains it
        lower = tolower(substr(token, 2, length(token) - 2))
        for (i = 1; i <= nheadings[name]; i++) if (index(tolower(heading[name, i]), lower) > 0) return 1
        return 0
      }
      return ((name SUBSEP token) in marks)
    }
    function report(where, name, token, why) {
      if (token == "") printf "%s: %s.md: %s\n", where, name, why
      else printf "%s: %s.md %s: %s\n", where, name, token, why
      failures++
    }
    function expand_range(where, name, from, to,    prefix, a, b, n) {  # S1-S11: S2 .. S10 as well
      prefix = substr(from, 1, 1)
      if (prefix == "\302") prefix = "§"     # the two bytes of §
      if (substr(to, 1, length(prefix)) != prefix) return
      a = substr(from, length(prefix) + 1); b = substr(to, length(prefix) + 1)
      if (a !~ /^[0-9]+$/ || b !~ /^[0-9]+$/) return
      for (n = a + 1; n < b + 0; n++) if (!heading_has(name, prefix n)) report(where, name, prefix n, "no heading in docs/design/" name ".md carries this mark (inside the range " from "-" to ")")
    }
    $1 == "H" {
      nheadings[$2]++
      heading[$2, nheadings[$2]] = $3
      text = $3
      # Marks in a heading: § numbers and a capital letter with digits, each standing alone.
      while (match(text, /(§[0-9]+(\.[0-9]+)*|(^|[^A-Za-z0-9])[A-Z][0-9]+)/)) {
        token = substr(text, RSTART, RLENGTH)
        if (token !~ /^(§|[A-Z])/) token = substr(token, 2)
        rest = substr(text, RSTART + RLENGTH)
        if (rest !~ /^[A-Za-z0-9]/ && rest !~ /^\.[0-9]/) marks[$2, token] = 1
        text = rest
      }
      have[$2] = 1
      next
    }
    $1 == "C" {
      where = $2; text = $3
      cited_files++
      name = text; sub(/[ .].*$/, "", name)
      rest = substr(text, length(name) + 1)
      sub(/^\.md/, "", rest)
      if (!(name in have)) { report(where, name, "", "docs/design/" name ".md does not exist"); next }
      previous = ""; dash = 0
      while (rest != "") {
        if (match(rest, /^( ?(-|–|\/) ?|, | and | )/)) {
          separator = substr(rest, 1, RLENGTH); rest = substr(rest, RLENGTH + 1)
          dash = (separator ~ /-|–/)
        }
        if (!match(rest, /^(§[0-9]+(\.[0-9]+)*|[A-Z][0-9]+|section [0-9]+(\.[0-9]+)*|"[^"]+")/)) break
        token = mark_of(substr(rest, 1, RLENGTH)); rest = substr(rest, RLENGTH + 1)
        checked++
        if (!heading_has(name, token)) report(where, name, token, "no heading in docs/design/" name ".md carries this mark")
        else if (dash && previous != "") expand_range(where, name, previous, token)
        previous = token; dash = 0
      }
      next
    }
    $1 == "B" {
      where = $2; token = $3
      gsub(/[^A-Z0-9]/, "", token)
      checked++
      if (!("SECURITY" in have)) { report(where, "SECURITY", token, "docs/design/SECURITY.md does not exist"); next }
      if (!(("SECURITY" SUBSEP token) in marks)) report(where, "SECURITY", token, "shorthand for SECURITY.md, where no heading carries this mark")
      next
    }
    END {
      if (failures) { printf "design_refs: %d citation(s) do not resolve (docs/design/ holds the notes; fix the mark or add the heading)\n", failures; exit 1 }
      printf "design_refs: every citation resolves (%d naming a note, %d marks checked)\n", cited_files, checked
    }'
}

self_test() {
  local tmp status=0 out
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' RETURN
  mkdir -p "$tmp/docs/design" "$tmp/src"
  printf '# Notes\n## §7 Rules\n### §7.4 Errors\n### C1 create, C3 update\n' >"$tmp/docs/design/API.md"
  printf '# Model\n### S1 One\n### S2 Two\n### S3 Three\n### K3 Tokens\n' >"$tmp/docs/design/SECURITY.md"
  printf '# Cron\n## Time zone\n' >"$tmp/docs/design/CRON.md"
  # Right marks, in every accepted spelling.
  printf '// %s.md §7.4, %s.md §7 and %s.md C1 and C3\n// %s.md S1-S3, K3 (S2); %s S3\n' API API API SECURITY SECURITY >"$tmp/src/a.cpp"
  printf '# %s.md "Time zone"; %s.md section 7; see %s.md\n' CRON API API >"$tmp/src/b.sh"
  if ! out=$(check "$tmp"); then echo "self-test: right marks were refused:"; echo "$out"; status=1; fi
  # Nothing but a full citation (no bare shorthand anywhere): still a pass.
  mkdir -p "$tmp/only/docs/design" && cp "$tmp/docs/design/API.md" "$tmp/only/docs/design/"
  printf '// %s.md §7\n' API >"$tmp/only/a.cpp"
  if ! out=$(check "$tmp/only"); then echo "self-test: a tree without shorthand was refused:"; echo "$out"; status=1; fi
  rm -rf "$tmp/only"
  # Wrong marks: each must be listed with its file and line.
  printf '// %s.md §7.5\n// %s.md S1-S4\n// %s.md "DST"\n// (S9)\n// see %s.md\n' API SECURITY CRON STYLE >"$tmp/src/c.cpp"
  if out=$(check "$tmp"); then
    echo "self-test: wrong marks were accepted"; status=1
  else
    local a=API s=SECURITY c=CRON y=STYLE   # spelled apart, so that this file cites nothing itself
    for expected in "./src/c.cpp:1: $a.md §7.5" "./src/c.cpp:2: $s.md S4" "./src/c.cpp:3: $c.md \"DST\"" \
                    "./src/c.cpp:4: $s.md S9" "./src/c.cpp:5: $y.md"; do
      if ! grep -qF -- "$expected" <<<"$out"; then echo "self-test: not reported: $expected"; echo "$out"; status=1; fi
    done
  fi
  [ "$status" = 0 ] && echo "design_refs self-test: the check passes right marks and fails wrong ones"
  return $status
}

case "${1:-}" in
  --self-test) self_test ;;
  "") echo "usage: design_refs.sh REPO_ROOT | --self-test" >&2; exit 2 ;;
  *) check "$1" ;;
esac
