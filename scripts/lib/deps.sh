#!/usr/bin/env bash
# Sourced by the set-up scripts: installs the npm dependencies when they are missing or stale.
smith_ensure_deps() {
  local stamp=node_modules/.smith-deps-stamp
  if [ -f "$stamp" ] && [ "$stamp" -nt package-lock.json ] && [ "$stamp" -nt package.json ]; then
    return 0
  fi
  echo "smith: installing npm dependencies" >&2
  # `npm install` follows package-lock.json. (`npm ci` refuses this lockfile: npm 11 records
  # turbo's optional per-platform packages without versions and then calls the lock out of sync.)
  npm install --no-audit --no-fund --loglevel=error
  touch "$stamp"
}
