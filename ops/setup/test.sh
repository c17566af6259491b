#!/usr/bin/env bash
# `npm test`: prepares the machine (Node 24, dependencies, the platform's Temporal server), type-checks, then runs every test
# against the real services: PostgreSQL and MariaDB on this machine, the platform's Temporal server per test file.
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
ensure_node
ensure_deps
ensure_temporal_server
ensure_seaweedfs
ensure_ferretdb
ensure_sshd
ensure_chromium
ensure_ansible
cd "$ROOT"
echo "[test] type-check" >&2
node node_modules/typescript/bin/tsc -p .
# Formatting and lint (sizes, import cycles, workflow determinism) fail the run like a type error does. A run of
# chosen test files skips them unless LINT=1; LINT=0 skips them always.
if [[ ${LINT:-} == 1 || ( $# -eq 0 && ${LINT:-} != 0 ) ]]; then
  echo "[test] prettier --check, eslint" >&2
  node node_modules/prettier/bin/prettier.cjs --check --log-level warn .
  node node_modules/eslint/bin/eslint.js .
  echo "[test] ansible-lint ops/ansible" >&2
  (cd ops/ansible && ansible-lint --offline --nocolor -q)
fi
echo "[test] bundle workflows" >&2
export WORKFLOW_BUNDLE="$ROOT/.build/workflows.js"
node ops/setup/bundle-workflows.ts "$WORKFLOW_BUNDLE" >&2
export LOG_LEVEL="${LOG_LEVEL:-info}"
if (($# == 0)); then set -- "test/**/*.test.ts"; fi
# --test-force-exit: a file whose tests are over ends even if something it started was left running, so one leak
# cannot hold the whole run until CI gives up.
exec node --test --test-concurrency="${TEST_CONCURRENCY:-2}" --test-timeout=300000 --test-force-exit "$@"
