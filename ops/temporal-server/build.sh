#!/usr/bin/env bash
# Builds bp-temporal into the cache as bp-temporal-<hash of go.mod, go.sum and the non-test .go files> and
# prints its path. A binary already built from the same sources is reused, so later runs take milliseconds.
# Needs only a Go toolchain (>= the go line of go.mod) and the Go module proxy.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE="${BACKUP_PLATFORM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/backup-platform}"

# Tests do not change the binary, so they are left out of the hash; file names are in it (a rename counts).
hash="$(
  cd "$HERE"
  { cat go.mod go.sum
    find . -name '*.go' ! -name '*_test.go' ! -path './e2e/*' | LC_ALL=C sort | while read -r f; do
      printf '%s\n' "$f"; cat "$f"
    done
  } | sha256sum | cut -c1-12
)"
bin="$CACHE/bin/bp-temporal-$hash"

if [[ ! -x $bin ]]; then
  # Go is needed only to build; the usual install place is tried when PATH lacks it (a CI shell, a service).
  if ! command -v go >/dev/null 2>&1 && [[ -x /usr/local/go/bin/go ]]; then PATH="/usr/local/go/bin:$PATH"; fi
  command -v go >/dev/null 2>&1 || { echo "build.sh: no Go toolchain on PATH to build bp-temporal" >&2; exit 1; }
  mkdir -p "$CACHE/bin"
  tmp="$(mktemp "$CACHE/bin/.bp-temporal-build.XXXXXX")"
  trap 'rm -f "$tmp"' EXIT
  echo "build.sh: building bp-temporal ($hash); the first build on a machine takes several minutes" >&2
  # -mod=mod: go.sum is the lock; -buildvcs=false: the binary does not depend on the git state;
  # -s -w: no symbol tables or DWARF (a quarter of the size; panics still print stack traces).
  (cd "$HERE" && GOFLAGS="-mod=mod -buildvcs=false" go build -ldflags="-s -w" -o "$tmp" .)
  mv -f "$tmp" "$bin" # atomic: a concurrent run sees no binary or a whole one
  # Each is ~200 MB: keep the three newest (other worktrees may be on other sources), drop the rest.
  ls -t "$CACHE/bin"/bp-temporal-* 2>/dev/null | tail -n +4 | xargs -r rm -f --
fi
echo "$bin"
