# Sourced by ops/setup/run.sh and ops/setup/test.sh: makes a fresh machine ready, and is quick once it is.
# - Node 24 LTS: the system Node when it is new enough, else the npm registry's node@24 package, cached.
# - node_modules: installed from package-lock.json whenever it changed since the last install.
# - FerretDB for the MongoDB tests (ensure_ferretdb), built the same way from ops/ferretdb.
# - the platform's Temporal server (only when asked): BP_TEMPORAL, else ops/temporal-server built from the Go module
#   proxy once and cached by the hash of its sources.
# - SeaweedFS for the S3 tests: SEAWEEDFS, else built from the Go module proxy once and cached by version.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CACHE="${BACKUP_PLATFORM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/backup-platform}"
export npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false

say() { printf '[setup] %s\n' "$*" >&2; }

node_major() { "$1" -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }

ensure_node() {
  local sys; sys="$(command -v node || true)"
  if [[ -n $sys && $(node_major "$sys") -ge 24 ]]; then return; fi
  local rt="$CACHE/node24"
  if [[ ! -x $rt/node_modules/.bin/node || $(node_major "$rt/node_modules/.bin/node") -lt 24 ]]; then
    say "system Node is $([[ -n $sys ]] && node --version || echo missing); installing Node 24 from the npm registry into $rt"
    mkdir -p "$rt"
    cp "$ROOT/ops/setup/node-runtime/package.json" "$rt/package.json"
    (cd "$rt" && npm install --no-package-lock --loglevel=error >&2)
  fi
  export PATH="$rt/node_modules/.bin:$PATH"
  [[ $(node_major node) -ge 24 ]] || { say "could not install Node 24"; exit 1; }
}

ensure_deps() {
  local want have=""
  want="$(sha256sum "$ROOT/package-lock.json" | cut -d' ' -f1)-$(node -p process.version)"
  [[ -f $ROOT/node_modules/.installed ]] && have="$(cat "$ROOT/node_modules/.installed")"
  if [[ $want != "$have" ]]; then
    # Not `npm ci`: this registry lacks some of @swc/core's optional platform packages, so the lock cannot list
    # them and ci's strict check fails; install follows the lock for everything else.
    say "installing npm dependencies"
    (cd "$ROOT" && npm install --no-save --loglevel=error >&2)
    echo "$want" > "$ROOT/node_modules/.installed"
  fi
}

ensure_temporal_server() {
  if [[ -n ${BP_TEMPORAL:-} ]]; then return; fi
  BP_TEMPORAL="$(bash "$ROOT/ops/temporal-server/build.sh")"
  export BP_TEMPORAL
}

# SeaweedFS, the S3-compatible server of the S3 tests: SEAWEEDFS, else built from the Go module proxy once and cached
# by version (ops/seaweedfs/build.sh).
ensure_seaweedfs() {
  if [[ -n ${SEAWEEDFS:-} ]]; then return; fi
  SEAWEEDFS="$(bash "$ROOT/ops/seaweedfs/build.sh")"
  export SEAWEEDFS
}

# FerretDB v1.24.2 for the MongoDB tests and bench: ops/ferretdb built from the Go module proxy once, cached by the hash
# of its sources (FERRETDB names another binary).
ensure_ferretdb() {
  if [[ -n ${FERRETDB:-} ]]; then return; fi
  FERRETDB="$(bash "$ROOT/ops/ferretdb/build.sh")"
  export FERRETDB
}

# OpenSSH server for the SFTP tests (Debian's openssh-server). The tests start their own sshd on a loopback port;
# the package's own service is kept from starting while it installs (policy-rc.d), so nothing listens on port 22.
ensure_sshd() {
  [[ -x /usr/sbin/sshd ]] && return
  if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null; then say "no /usr/sbin/sshd: install Debian's openssh-server"; exit 1; fi
  say "installing openssh-server from Debian (for the SFTP tests)"
  local policy=/usr/sbin/policy-rc.d had_policy=0
  [[ -e $policy ]] && had_policy=1
  [[ $had_policy -eq 1 ]] || { printf '#!/bin/sh\nexit 101\n' > "$policy"; chmod +x "$policy"; }
  apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends openssh-server >&2
  local rc=$?
  [[ $had_policy -eq 1 ]] || rm -f "$policy"
  return $rc
}

# Chromium for the console's browser tests (Debian's package, driven by playwright-core with executablePath): nothing
# is downloaded from a browser vendor. CHROMIUM names another binary.
ensure_chromium() {
  [[ -x ${CHROMIUM:-/usr/bin/chromium} ]] && return
  if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null; then say "no /usr/bin/chromium: install Debian's chromium"; exit 1; fi
  say "installing chromium from Debian (for the console's browser tests)"
  apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >&2
}

# Ansible for the deployment test (Debian's ansible and ansible-lint: ansible-core 2.14 with the community
# collections on bookworm, ansible-lint 6.13). ops/ansible's playbooks are written for that version.
ensure_ansible() {
  command -v ansible-playbook >/dev/null && command -v ansible-lint >/dev/null && return
  if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null; then say "no ansible-playbook: install Debian's ansible and ansible-lint"; exit 1; fi
  say "installing ansible and ansible-lint from Debian (for the deployment test)"
  apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends ansible ansible-lint >&2
}
