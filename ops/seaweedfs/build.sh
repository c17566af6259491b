#!/usr/bin/env bash
# Builds SeaweedFS's `weed` (the S3-compatible server the S3 tests run against) into the cache as
# weed-<version> and prints its path. A binary already built for the version is reused.
# Needs only a Go toolchain and the Go module proxy. `go install …/weed@<version>` is refused (SeaweedFS's go.mod
# has replace directives), so the module is downloaded, copied out of the read-only module cache and built there
# as the main module.
set -euo pipefail

# A pseudo-version of github.com/seaweedfs/seaweedfs (its master of 2026-11-09); raise it here to upgrade.
VERSION="${SEAWEEDFS_VERSION:-v0.0.0-20261109003541-7506e5f91cd6}"
CACHE="${BACKUP_PLATFORM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/backup-platform}"
bin="$CACHE/bin/weed-$VERSION"

if [[ ! -x $bin ]]; then
  if ! command -v go >/dev/null 2>&1 && [[ -x /usr/local/go/bin/go ]]; then PATH="/usr/local/go/bin:$PATH"; fi
  command -v go >/dev/null 2>&1 || { echo "build.sh: no Go toolchain on PATH to build SeaweedFS" >&2; exit 1; }
  mkdir -p "$CACHE/bin"
  work="$(mktemp -d "$CACHE/bin/.weed-build.XXXXXX")"
  trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT
  echo "build.sh: building SeaweedFS $VERSION; the first build on a machine takes several minutes" >&2
  # GOFLAGS=-mod=mod: the download itself must not need a go.mod of ours.
  src="$(cd "$work" && GOFLAGS=-mod=mod go mod download -json "github.com/seaweedfs/seaweedfs@$VERSION" |
    sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
  [[ -d $src ]] || { echo "build.sh: the Go module proxy gave no source for seaweedfs@$VERSION" >&2; exit 1; }
  cp -r "$src" "$work/src"
  chmod -R u+w "$work/src"
  (cd "$work/src" && GOFLAGS="-mod=mod -buildvcs=false" go build -ldflags="-s -w" -o "$work/weed" ./weed)
  mv -f "$work/weed" "$bin" # atomic: a concurrent run sees no binary or a whole one
  ls -t "$CACHE/bin"/weed-* 2>/dev/null | tail -n +3 | xargs -r rm -f --
fi
echo "$bin"
