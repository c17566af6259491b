#!/usr/bin/env bash
# End-to-end proof: builds bp-temporal (cached), then runs e2e.cjs with the project's @temporalio packages.
# node_modules: BP_NODE_MODULES, else the node_modules of this checkout's root (npm install there first).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../../.." && pwd)"
CACHE="${BACKUP_PLATFORM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/backup-platform}"

BP_NODE_MODULES="${BP_NODE_MODULES:-$ROOT/node_modules}"
if [[ ! -d $BP_NODE_MODULES/@temporalio/worker ]]; then
  echo "e2e: no @temporalio/worker in $BP_NODE_MODULES: run npm install at the repository root or set BP_NODE_MODULES" >&2
  exit 1
fi
# Node 24, as ops/env.sh installs it, when the system Node is older.
if [[ -x $CACHE/node24/node_modules/.bin/node ]]; then export PATH="$CACHE/node24/node_modules/.bin:$PATH"; fi

BP_TEMPORAL_BIN="$("$HERE/../build.sh")"
export BP_TEMPORAL_BIN BP_NODE_MODULES
# NODE_PATH lets these CommonJS scripts, which live outside any node_modules tree, require the packages.
NODE_PATH="$BP_NODE_MODULES" exec node "$HERE/e2e.cjs"
