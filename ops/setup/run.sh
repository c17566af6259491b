#!/usr/bin/env bash
# Runs a TypeScript entry point (or any node script) with Node 24 after making the machine ready.
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
ensure_node
ensure_deps
if [[ -z ${TEMPORAL_ADDRESS:-} ]]; then ensure_temporal_server; fi
cd "$ROOT"
exec node "$@"
