#!/usr/bin/env bash
# Sourced by the set-up scripts: makes sure an `etcd` server binary is on PATH.
# Debian's `etcd-server` package provides it; as root we install it, otherwise we say exactly
# what to run.
smith_ensure_etcd() {
  if command -v etcd >/dev/null 2>&1; then
    return 0
  fi
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "smith: etcd is not on PATH; installing Debian's etcd-server" >&2
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null &&
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq etcd-server >/dev/null || {
        echo "smith: apt-get install etcd-server failed" >&2
        return 1
      }
    command -v etcd >/dev/null 2>&1 && return 0
  fi
  cat >&2 <<'MSG'
smith: the `etcd` server binary is required and is not on PATH.
Install it with:
    sudo apt-get update && sudo apt-get install -y etcd-server
(or put an etcd 3.4+ binary on PATH) and run this command again.
MSG
  return 1
}
