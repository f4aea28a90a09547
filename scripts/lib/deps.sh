#!/usr/bin/env bash
# Sourced by the set-up scripts: installs the npm dependencies when they are missing or stale.
smith_ensure_deps() {
  local stamp=node_modules/.smith-deps-stamp
  if [ -f "$stamp" ] && [ "$stamp" -nt package-lock.json ] && [ "$stamp" -nt package.json ]; then
    return 0
  fi
  echo "smith: installing npm dependencies" >&2
  if [ -f package-lock.json ]; then
    npm ci --no-audit --no-fund --loglevel=error
  else
    npm install --no-audit --no-fund --loglevel=error
  fi
  touch "$stamp"
}
