#!/usr/bin/env bash
# The run command: works on a fresh machine. Provisions Node.js >= 22, the npm dependencies and
# etcd (Debian's etcd-server), then starts the local stack (etcd, API, scheduler) and a demo loop.
# Extra arguments go to `smith up` (e.g. --state-dir DIR, --api-port N).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/setup.sh
smith_setup
exec node apps/cli/src/smith.ts up --demo "$@"
