#!/usr/bin/env bash
# Builds bp-ferretdb (FerretDB v1.24.2 behind main.go, see there) into the cache as
# bp-ferretdb-<hash of go.mod, go.sum and main.go> and prints its path. A binary built from the same sources is
# reused. Needs only a Go toolchain and the Go module proxy; the first build on a machine takes a few minutes.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE="${BACKUP_PLATFORM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/backup-platform}"

hash="$(cd "$HERE" && cat go.mod go.sum main.go | sha256sum | cut -c1-12)"
bin="$CACHE/bin/bp-ferretdb-$hash"

if [[ ! -x $bin ]]; then
  if ! command -v go >/dev/null 2>&1 && [[ -x /usr/local/go/bin/go ]]; then PATH="/usr/local/go/bin:$PATH"; fi
  command -v go >/dev/null 2>&1 || { echo "build.sh: no Go toolchain on PATH to build bp-ferretdb" >&2; exit 1; }
  mkdir -p "$CACHE/bin"
  tmp="$(mktemp "$CACHE/bin/.bp-ferretdb-build.XXXXXX")"
  trap 'rm -f "$tmp"' EXIT
  echo "build.sh: building bp-ferretdb ($hash, FerretDB v1.24.2)" >&2
  # Same flags as ops/temporal-server/build.sh: go.sum is the lock, no VCS stamp, no symbol tables.
  (cd "$HERE" && GOFLAGS="-mod=mod -buildvcs=false" go build -ldflags="-s -w" -o "$tmp" .)
  mv -f "$tmp" "$bin" # atomic: a concurrent run sees no binary or a whole one
  ls -t "$CACHE/bin"/bp-ferretdb-* 2>/dev/null | tail -n +4 | xargs -r rm -f --
fi
echo "$bin"
