#!/usr/bin/env bash
# Sourced by the set-up scripts: installs the npm dependencies when they are missing or stale.
smith_ensure_deps() {
  local stamp=node_modules/.smith-deps-stamp
  if [ -f "$stamp" ] && [ "$stamp" -nt package-lock.json ] && [ "$stamp" -nt package.json ]; then
    return 0
  fi
  echo "smith: installing npm dependencies" >&2
  # `npm ci`: exactly the committed lockfile, never a rewrite of it (CI tests what is committed).
  npm ci --no-audit --no-fund --loglevel=error
  touch "$stamp"
}
